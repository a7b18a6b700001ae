"""A major incident's postmortem in a real browser: drafted, edited, assigned, exported.

The incident is worked to its resolution through the service layer beforehand
(`tests.major_incidents`); the incident commander then does the rest as a person does:
by labels, roles, link and button names. Each action item is then found in the inbox of
whom it was given to, in their own browser.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, timedelta

import pytest
from playwright.sync_api import Page, expect

from engine.service.commands import Commands
from engine.store.database import Database
from tests.e2e.conftest import Problems, Window, blocking_violations
from tests.infrastructure import give_password
from tests.major_incidents import declare, resolve

PASSWORD = "correct horse battery"


@pytest.fixture
def resolved(commands: Commands, database: Database) -> str:
    """A resolved major incident; ivy, sam and erin have a password."""
    with database.writer_session() as session, session.begin():
        for username in ("ivy", "sam", "erin"):
            give_password(session, username, PASSWORD)
    number = declare(commands)
    resolve(commands, database, number, lambda minutes: None)
    return number


def sign_in(page: Page, username: str, to: str) -> None:
    page.goto(to)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def give(page: Page, what: str, *, due: date, person: str = "", team: str = "") -> None:
    page.get_by_label("What is to be done").fill(what)
    page.get_by_label("Who does it (a username)").fill(person)
    page.get_by_label("Or which team's queue (a group)").fill(team)
    page.get_by_label("Due by").fill(due.isoformat())
    page.get_by_role("button", name="Assign the action item").click()


def test_a_major_incidents_postmortem_is_drafted_edited_assigned_and_exported(
    page: Page,
    problems: Problems,
    resolved: str,
    open_window: Callable[[], Window],
) -> None:
    sign_in(page, "ivy", f"/instances/{resolved}")
    page.get_by_role("button", name="Draft postmortem").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Postmortem of {resolved}")
    expect(page.get_by_role("status")).to_contain_text("drafted from its timeline")
    editor = page.get_by_label("Postmortem, in Markdown")
    expect(editor).to_have_value(re.compile(r"^# Postmortem: MAJ-000001 MAJOR: Payments are down"))
    preview = page.locator("#postmortem-preview")
    expect(preview.get_by_role("heading", name="Timeline")).to_be_visible()

    expect(page.locator("form[data-postmortem-editor][data-ready=true]")).to_have_count(1)
    editor.fill("# Postmortem\n\n## Root cause\n\nThe primary's **disk filled up**.\n")
    expect(preview.locator("strong", has_text="disk filled up")).to_have_count(1)
    expect(preview.get_by_role("heading", name="Timeline")).to_have_count(0)
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text(f"The postmortem of {resolved} was saved")
    expect(page.get_by_text("Revision 2, saved by ivy")).to_be_visible()

    due = date.today() + timedelta(days=7)
    give(page, "Alert on disk usage at 80%", due=due, person="sam")
    expect(page.get_by_role("status")).to_contain_text("ACT-000001 was given to sam")
    give(page, "Rehearse the fail-over", due=due, team="network")
    actions = page.get_by_role("region", name="Action items")
    expect(actions.get_by_role("row").filter(has_text="ACT-000001")).to_contain_text(
        "open, with sam"
    )
    expect(actions.get_by_role("row").filter(has_text="ACT-000002")).to_contain_text(
        "open, in the queue"
    )
    assert blocking_violations(page, "postmortem page") == []

    with page.expect_download() as downloading:
        page.get_by_role("link", name="Download as Markdown").click()
    path = downloading.value.path()
    assert path is not None
    markdown = path.read_text(encoding="utf-8")
    assert markdown.startswith("# Postmortem\n\n## Root cause\n")
    assert f"| ACT-000001 | Alert on disk usage at 80% | sam | {due} | open, with sam |" in markdown
    page.get_by_role("link", name="Printable page (print it to PDF)").click()
    expect(page.get_by_role("heading", name="Action items")).to_be_visible()
    expect(page.get_by_role("cell", name="the network queue")).to_be_visible()
    assert blocking_violations(page, "printable postmortem") == []

    for username, listing, number, title in (
        ("sam", "My tasks", "ACT-000001", "Alert on disk usage at 80%"),
        ("erin", "My groups", "ACT-000002", "Rehearse the fail-over"),
    ):
        window = open_window()
        sign_in(window.page, username, "/inbox")
        inbox = window.page.get_by_role("region", name=re.compile(f"^{listing}"))
        row = inbox.get_by_role("row").filter(has_text=number)
        expect(row.get_by_role("link", name=f"{number} {title}")).to_be_visible()
        expect(row).to_contain_text("Do the action item")
        assert window.problems.all() == []
    assert problems.all() == []
