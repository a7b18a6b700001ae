"""From alert to acknowledgement in a real browser (issue 18's "Done when").

An admin builds a schedule, an escalation policy and a service with an Alertmanager
integration, all through the admin pages; an Alertmanager group arrives with the
integration's token; the engineer on call, signed in in their own browser, finds the
incident in their inbox and bell (paged by the policy, the task theirs), reads its alert
on the instance page and acknowledges it: the response clock shows stopped. Every page
visited is scanned with axe.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Page, expect

from engine.service.commands import Commands
from engine.service.people import ensure_user
from engine.store.database import Database
from tests import intake_payloads as payloads
from tests.e2e.conftest import Window, blocking_violations
from tests.infrastructure import give_password

PASSWORD = "correct horse battery"
START = {
    "name": "Monitoring",
    "email": "monitoring@example.org",
    "category": "hardware",
    "impact": "low",
    "urgency": "low",
}


@pytest.fixture
def team(commands: Commands, database: Database) -> Commands:
    with database.writer_session() as session, session.begin():
        ensure_user(session, "root", commands.clock(), roles=["admin"])
        for username in ("root", "erin"):
            give_password(session, username, PASSWORD)
    return commands


def signed_in(open_window: Callable[[], Window], username: str) -> Window:
    window = open_window()
    window.page.goto("/sign-in")
    window.page.get_by_label("Username").fill(username)
    window.page.get_by_label("Password").fill(PASSWORD)
    window.page.get_by_role("button", name="Sign in").click()
    expect(window.page.get_by_role("link", name=re.compile(r"^Notifications"))).to_be_visible()
    return window


def set_up_the_service(page: Page) -> tuple[str, list[str]]:
    """Through the admin pages: schedule, policy, service, integration; return its token."""
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    found: list[str] = []
    page.goto("/admin/oncall")
    page.get_by_role("link", name="Add a schedule").click()
    page.get_by_label("Key").fill("network")
    page.get_by_label(re.compile(r"^Name")).fill("Network")
    page.get_by_label("Time zone").select_option("UTC")
    layer = page.get_by_role("group", name="Layer 1")
    layer.get_by_label("Layer name").fill("Primary")
    layer.get_by_label("Members").fill("erin")
    layer.get_by_label("Rotation").select_option("Daily")
    layer.get_by_label("Hand-off time").fill("00:00")
    layer.get_by_label("Start date").fill(yesterday)
    page.get_by_role("button", name="Save the schedule").click()
    expect(page.get_by_text(re.compile(r"On call now: erin \(Primary\)"))).to_be_visible()

    page.goto("/admin/escalation-policies")
    page.get_by_label("Key").fill("network-urgent")
    page.get_by_label(re.compile(r"^Name")).fill("Network, urgent")
    first = page.get_by_role("group", name="Level 1")
    first.get_by_label("Notify").select_option("schedule")
    first.get_by_label("Which one").fill("network")
    first.get_by_label("Wait before the next level").fill("15")
    page.get_by_role("button", name="Add a level").click()
    second = page.get_by_role("group", name="Level 2")
    expect(first.get_by_label("Which one")).to_have_value("network")
    second.get_by_label("Notify").select_option("user")
    second.get_by_label("Which one").fill("root")
    second.get_by_label("Wait before the next level").fill("")
    found += blocking_violations(page, "an escalation policy being made")
    page.get_by_role("button", name="Save the policy").click()
    expect(page.get_by_text("Escalation policy network-urgent saved.")).to_be_visible()
    found += blocking_violations(page, "escalation policies")

    page.goto("/admin/services")
    page.get_by_label("Key").fill("payments")
    page.get_by_label("Name", exact=True).fill("Payments")
    page.get_by_label("On-call schedule").fill("network")
    page.get_by_label("Escalation policy").fill("network-urgent")
    page.get_by_label("Start data").fill(json.dumps(START))
    found += blocking_violations(page, "services")
    page.get_by_role("button", name="Add the service").click()
    expect(page.get_by_text("Service payments added.")).to_be_visible()
    page.get_by_label("Kind").select_option("alertmanager")
    page.get_by_label("Name", exact=True).first.fill("prometheus-prod")
    page.get_by_role("button", name="Make its token").click()
    token = page.locator("#integration-token").inner_text().strip()
    found += blocking_violations(page, "a service with its new token")
    return token, found


def test_an_alert_pages_the_engineer_on_call_who_acknowledges_it(
    open_window: Callable[[], Window], team: Commands
) -> None:
    admin = signed_in(open_window, "root")
    token, found = set_up_the_service(admin.page)
    assert re.fullmatch(r"[0-9a-f]{32}", token)

    alert = payloads.alertmanager()
    sent = admin.page.request.post(
        "/intake/alertmanager",
        data=json.dumps(alert),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    assert sent.status == 202, sent.text()
    number = sent.json()["incident"]
    summary = alert["commonAnnotations"]["summary"]

    engineer = signed_in(open_window, "erin")
    page = engineer.page
    bell = page.get_by_role("link", name=re.compile(r"^Notifications"))
    expect(bell).to_have_text(re.compile(r"Notifications\s*2\s*unread"))  # paged, and assigned
    page.goto("/inbox")
    # erin is in no group of the incident's: it is in her inbox because the policy gave it her.
    expect(page.get_by_role("main")).to_contain_text(number)
    found += blocking_violations(page, "the engineer's inbox")
    bell.click()
    page_note = page.get_by_role("listitem").filter(
        has_text="An escalation policy pages you for an incident"
    )
    expect(page_note).to_contain_text("level 1 of the escalation policy network-urgent")
    found += blocking_violations(page, "the engineer's notifications")

    page.goto(f"/instances/{number}")
    alerts = page.get_by_role("region", name="Alerts")
    expect(alerts).to_contain_text(summary)
    expect(page.get_by_role("main")).to_contain_text(
        "to erin: paged by the escalation policy network-urgent, level 1"
    )
    clocks = page.get_by_role("region", name="SLA clocks")
    response = clocks.get_by_role("row").filter(has_text="Response")
    expect(response).not_to_contain_text("stopped")
    found += blocking_violations(page, "the incident with its alert")
    alerts.get_by_role("button", name="Acknowledge").click()
    expect(page.get_by_text(f"{number} is acknowledged.")).to_be_visible()
    expect(response).to_contain_text("stopped")
    found += blocking_violations(page, "the acknowledged incident")
    assert found == [], "\n".join(found)
    assert admin.problems.all() == []
    assert engineer.problems.all() == []
