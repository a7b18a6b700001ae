"""Finding an incident in a real browser: by a word of a comment, saved as a view, exported.

The agent only uses what a person sees: labels, roles, link and button names. The
incidents and the comment are made through the service layer beforehand.
"""

from __future__ import annotations

import csv
import io
import re

import pytest
from playwright.sync_api import Page, expect

from engine.service.commands import Commands
from engine.store.database import Database
from tests.e2e.conftest import Problems, blocking_violations
from tests.infrastructure import INCIDENT, give_password

PASSWORD = "correct horse battery"
#: The list answers 400 to a filter it cannot read; Chromium logs that as a console error.
BAD_FILTER = "the server responded with a status of 400"


@pytest.fixture
def incidents(commands: Commands, database: Database) -> tuple[str, str]:
    """Two incidents; the second has a comment naming the word the agent looks for."""
    with database.writer_session() as session, session.begin():
        give_password(session, "bob", PASSWORD)
    first = commands.start("it-incident", dict(INCIDENT), requester="alice")["number"]
    second = commands.start(
        "it-incident", {**INCIDENT, "summary": "Monitor flickers"}, requester="sam"
    )["number"]
    commands.comment(second, "Replaced the DisplayPort cable twice", actor="bob", public=False)
    return str(first), str(second)


def sign_in(page: Page) -> None:
    page.goto("/instances")
    page.get_by_label("Username").fill("bob")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile("^Find instances"))


def test_an_agent_finds_an_incident_by_a_comment_saves_the_view_and_exports_it(
    page: Page, problems: Problems, incidents: tuple[str, str]
) -> None:
    first, second = incidents
    sign_in(page)
    results = page.get_by_role("table")
    expect(results.get_by_role("row").filter(has_text=first)).to_have_count(1)
    page.get_by_role("searchbox", name="Search").fill("displayport")
    page.get_by_role("button", name="Find").click()
    expect(results.get_by_role("row").filter(has_text=second)).to_have_count(1)
    expect(results.get_by_role("row").filter(has_text=first)).to_have_count(0)

    page.get_by_label("Name of this view").fill("Cable trouble")
    page.get_by_label("Share with").select_option("desktop-support")
    page.get_by_role("button", name="Save this view").click()
    expect(page.get_by_role("status")).to_contain_text("The view 'Cable trouble' was saved")
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile("^Cable trouble"))
    expect(page.get_by_role("link", name="Cable trouble")).to_have_attribute("aria-current", "page")

    with page.expect_download() as downloading:
        page.get_by_role("link", name="Export this list as CSV").click()
    download = downloading.value
    assert download.suggested_filename.endswith(".csv")
    path = download.path()
    assert path is not None
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
    assert rows[0][0] == "Number"
    assert [row[0] for row in rows[1:]] == [second]
    assert problems.all() == []


def test_the_list_page_has_no_serious_accessibility_problems(
    page: Page, problems: Problems, incidents: tuple[str, str]
) -> None:
    problems.expect(BAD_FILTER)
    sign_in(page)
    found = blocking_violations(page, "instance list")
    page.goto("/instances?sort=-updated&sla=breached,ok")
    found += blocking_violations(page, "instance list, filtered and sorted")
    page.goto("/instances?created=last+week")
    expect(page.get_by_role("alert")).to_contain_text("created")
    found += blocking_violations(page, "instance list, a bad filter")
    assert found == []
    assert problems.all() == []
