"""The bell and the admins' outbox in a real browser.

An agent's bell counts up without a reload when an SLA of their incident is about to
break, and its list says so and links to the task. An admin finds the mail the embedded
stack sent (the relay handing it to the stack's mail catcher) on the outbox page. The
new pages have no serious or critical axe violations.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from redis import Redis
from sqlalchemy import select, update

from engine.jobs.outbox import relay_outbox
from engine.service.commands import Commands, utcnow
from engine.service.notifications import Notifications
from engine.service.people import ensure_user
from engine.settings import CATCHER_HOST, RelaySettings
from engine.store.database import Database
from engine.store.instances import Instance, Task, Timer
from tests.e2e.conftest import Window, blocking_violations
from tests.infrastructure import INCIDENT, give_password
from web.app import create_app
from web.catcher import catcher
from web.cli.stack import free_port, serve_in_thread

PASSWORD = "correct horse battery"


@pytest.fixture
def portal(
    database_url: str, redis: Redis, redis_url: str, commands: Commands, tmp_path: Path
) -> Iterator[str]:
    """The app as `tests.e2e.conftest` serves it, its bell asking every second."""
    app = create_app(
        {
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "SECRET_KEY": "e2e-secret-" * 4,
            "UPLOAD_FOLDER": str(tmp_path / "files"),
            "PORTAL_RATE_LIMIT": "1000 per minute",
            "NOTIFICATIONS_POLL_S": 1,
        }
    )
    with serve_in_thread(app, threads=8) as url:
        yield url


@pytest.fixture
def team(commands: Commands, database: Database) -> Commands:
    with database.writer_session() as session, session.begin():
        ensure_user(session, "ada", utcnow(), roles=["admin"])
        for username in ("bob", "dan"):
            ensure_user(session, username, utcnow(), email=f"{username}@desk.example")
        for username in ("bob", "dan", "ada"):
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


def work_task(database: Database, number: str) -> Task:
    with database.reading() as session:
        task = session.scalars(
            select(Task)
            .join(Instance, Instance.id == Task.instance_id)
            .where(Instance.number == number, Task.status == "open")
        ).one()
        session.expunge_all()
    return task


def fire_sla_warnings(commands: Commands, database: Database, number: str) -> None:
    """Fire the instance's response SLA warning now, as the worker would when it is due."""
    with database.reading() as session:
        instance = session.scalars(select(Instance).where(Instance.number == number)).one()
        keys = [
            key
            for key, timer in instance.state["timers"].items()
            if timer.get("sla") == "response:warning"
        ]
        due = session.execute(
            select(Timer.id, Timer.due_at).where(
                Timer.instance_id == instance.id, Timer.key.in_(keys), Timer.status == "pending"
            )
        ).all()
    assert due, "the incident has no SLA warning pending"
    # The server reads the real clock: the warnings are made due now, as time would.
    now = commands.clock()
    with database.writer_session() as session, session.begin():
        ids = [timer_id for timer_id, _ in due]
        session.execute(update(Timer).where(Timer.id.in_(ids)).values(due_at=now))
    for timer_id in ids:
        commands.fire_timer(timer_id)


def no_blocking_violations(page: Page, where: str) -> None:
    found = blocking_violations(page, where)
    assert found == [], "\n".join(found)


def test_the_bell_counts_an_sla_warning_without_a_reload_and_leads_to_the_task(
    open_window: Callable[[], Window], team: Commands, database: Database
) -> None:
    number = str(team.start("it-incident", INCIDENT, requester="alice")["number"])
    task = work_task(database, number)
    window = signed_in(open_window, str(task.assignee))
    page = window.page
    bell = page.get_by_role("link", name=re.compile(r"^Notifications"))
    expect(bell).to_have_text(re.compile(r"Notifications\s*1\s*unread"))

    fire_sla_warnings(team, database, number)
    expect(bell).to_have_text(re.compile(r"Notifications\s*2\s*unread"))  # no reload

    bell.click()
    expect(page.get_by_role("heading", name=re.compile(r"^Notifications"))).to_be_visible()
    warning = page.get_by_role("listitem").filter(has_text="An SLA of your work is about to break")
    expect(warning).to_contain_text(number)
    expect(warning).to_contain_text("response 75% used")
    no_blocking_violations(page, "notifications")
    warning.get_by_role("link", name=re.compile(number)).click()
    expect(page).to_have_url(re.compile(rf"/tasks/{task.id}$"))

    page.goto("/notifications")
    page.get_by_role("button", name="Mark all read").click()
    expect(bell).to_have_text(re.compile(r"Notifications\s*0\s*unread"))
    page.get_by_role("link", name="Which ones also come by mail").click()
    no_blocking_violations(page, "notification settings")
    page.get_by_label("An SLA of your work broke").check()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("saved")
    expect(page.get_by_label("An SLA of your work broke")).to_be_checked()
    assert window.problems.all() == []


def test_mail_sent_by_the_embedded_stack_shows_on_the_outbox_page(
    open_window: Callable[[], Window], team: Commands, database: Database, tmp_path: Path
) -> None:
    for username in ("bob", "dan"):
        Notifications(team).set_mail_kinds(username, ["assigned"])
    number = str(team.start("it-incident", INCIDENT, requester="alice")["number"])
    holder = work_task(database, number).assignee
    port = free_port()
    caught = catcher(tmp_path / "mail", port)  # what `flowdesk up` runs without a mail server
    try:
        settings = RelaySettings(smtp_host=CATCHER_HOST, smtp_port=port)
        assert len(relay_outbox(database, settings=settings, now=utcnow()).sent) == 1
    finally:
        caught.stop()

    window = signed_in(open_window, "ada")
    page = window.page
    page.get_by_role("link", name="Admin").click()
    page.get_by_role("navigation", name="Admin").get_by_role("link", name="Outbox").click()
    row = page.get_by_role("row").filter(has_text=number)
    expect(row).to_contain_text(f"{holder}@desk.example")
    expect(row).to_contain_text("Sent")
    no_blocking_violations(page, "outbox")
    row.get_by_role("link", name=re.compile(f"Assigned to you: {number}")).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Assigned to you: {number}")
    text = page.get_by_role("region", name="The mail as plain text")
    expect(text).to_contain_text("is now yours")
    no_blocking_violations(page, "outbox message")
    assert window.problems.all() == []


def test_the_inbox_shows_work_given_to_me_without_a_reload(
    open_window: Callable[[], Window], team: Commands, database: Database
) -> None:
    first = str(team.start("it-incident", INCIDENT, requester="alice")["number"])
    me = str(work_task(database, first).assignee)
    window = signed_in(open_window, me)
    page = window.page
    page.goto("/inbox")
    expect(page.get_by_role("link", name=re.compile(first))).to_be_visible()
    second = str(team.start("it-incident", INCIDENT, requester="alice")["number"])
    task = work_task(database, second)
    if task.assignee != me:  # round robin gave it to the other agent: they pass it on
        team.reassign(task.id, actor=str(task.assignee), user=me, reason="yours")
    expect(page.get_by_role("link", name=re.compile(second))).to_be_visible()  # no reload
    expect(page.get_by_role("status").filter(has_text="the list was updated")).to_be_attached()
    assert window.problems.all() == []
