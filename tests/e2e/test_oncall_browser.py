"""On call in a real browser: an admin builds a schedule and takes a shift for someone; an
agent sees who is on call and the next two weeks. The pages are driven by what a person
sees (labels, button names), and scanned with axe."""

from __future__ import annotations

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
    sign_in(page, "root")
    page.goto("/admin/oncall")
    page.get_by_role("link", name="Add a schedule").click()
    page.get_by_label("Key").fill("network")
    page.get_by_label(re.compile(r"^Name")).fill("Network")
    page.get_by_label("Time zone").select_option("Europe/Amsterdam")
    layer = page.get_by_role("group", name="Layer 1")
    layer.get_by_label("Layer name").fill("Primary")
    layer.get_by_label("Members").fill("eriin")
    layer.get_by_label("Rotation").select_option("Daily")
    layer.get_by_label("Hand-off time").fill("09:00")
    layer.get_by_label("Start date").fill(yesterday)
    page.get_by_role("button", name="Add a layer").click()
    second = page.get_by_role("group", name="Layer 2")
    expect(second).to_be_visible()
    expect(layer.get_by_label("Members")).to_have_value("eriin")  # what was typed is kept
    found = blocking_violations(page, "a new schedule with two layers")
    second.get_by_role("button", name="Remove this layer").click()
    expect(page.get_by_role("group", name="Layer 2")).to_have_count(0)
    page.get_by_role("button", name="Save the schedule").click()
    expect(page.get_by_role("alert")).to_contain_text("Layer 1: There is no active user 'eriin'")
    members = page.get_by_role("group", name="Layer 1").get_by_label("Members")
    expect(members).to_have_attribute("aria-invalid", "true")
    found += blocking_violations(page, "a new schedule with a mistake")
    members.fill("erin")
    # Enter in a field saves (not "Remove this layer", the first button in the form).
    page.get_by_role("group", name="Layer 1").get_by_label("Layer name").press("Enter")
    expect(page.get_by_text("Schedule network saved.")).to_be_visible()
    expect(page.get_by_text(re.compile(r"On call now: erin \(Primary\)"))).to_be_visible()
    expect(page.get_by_role("group", name="Layer 1").get_by_label("Members")).to_have_value("erin")
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
