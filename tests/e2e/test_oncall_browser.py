"""On call in a real browser: an admin builds a schedule and takes a shift for someone; an
agent sees who is on call and the next two weeks. The pages are driven by what a person
sees (labels, button names), and scanned with axe."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Page, expect

from engine.service.commands import Commands
from engine.service.people import ensure_user
from engine.store.database import Database
from tests.e2e.conftest import Problems, blocking_violations
from tests.infrastructure import give_password

PASSWORD = "correct horse battery"
FORM_WITH_ERRORS = "the server responded with a status of 422"


@pytest.fixture
def team(commands: Commands, database: Database) -> Commands:
    with database.writer_session() as session, session.begin():
        ensure_user(session, "root", commands.clock(), roles=["admin"])
        for username in ("root", "erin"):
            give_password(session, username, PASSWORD)
    return commands


def sign_in(page: Page, username: str) -> None:
    page.goto("/sign-in")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_an_admin_builds_a_schedule_and_an_agent_sees_who_is_on_call(
    page: Page, problems: Problems, team: Commands
) -> None:
    problems.expect(FORM_WITH_ERRORS)
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    layers = [
        {"name": "Primary", "members": ["erin"], "rotation": "daily", "handoff": "09:00",
         "start": yesterday},
    ]  # fmt: skip
    sign_in(page, "root")
    page.goto("/admin/oncall")
    page.get_by_role("link", name="Add a schedule").click()
    page.get_by_label("Key").fill("network")
    page.get_by_label("Name").fill("Network")
    page.get_by_label("Time zone").fill("Europe/Amsterdam")
    page.get_by_label("Layers").fill(json.dumps([{**layers[0], "handoff": "9am"}]))
    page.get_by_role("button", name="Save the schedule").click()
    expect(page.get_by_role("alert")).to_contain_text("/layers/0/handoff")
    found = blocking_violations(page, "a new schedule with a mistake")
    page.get_by_label("Layers").fill(json.dumps(layers))
    page.get_by_role("button", name="Save the schedule").click()
    expect(page.get_by_text("Schedule network saved.")).to_be_visible()
    expect(page.get_by_text(re.compile(r"On call now: erin \(Primary\)"))).to_be_visible()
    found += blocking_violations(page, "a schedule")

    page.get_by_role("navigation", name="Admin").get_by_role("link", name="On call").click()
    expect(page.get_by_role("row").filter(has_text="Network")).to_contain_text("erin")
    found += blocking_violations(page, "every schedule")

    context_page = page.context.new_page()
    context_page.context.clear_cookies()
    sign_in(context_page, "erin")
    context_page.goto("/oncall/")
    expect(context_page.get_by_text(re.compile(r"On call now: erin"))).to_be_visible()
    context_page.get_by_role("button", name="Make a calendar link of my shifts").click()
    expect(context_page.get_by_text(re.compile(r"/oncall/users/erin\.ics\?token="))).to_be_visible()
    found += blocking_violations(context_page, "the agents' on-call page")
    assert found == []
    assert problems.all() == []
