"""The bell, the notifications list and settings, their API, and the admins' outbox page.

Each door (page, API) reaches the same service rule: a person sees and marks only
their own notifications, an unknown kind of mail is refused and changes nothing, and
only admins read the outbox.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from engine.jobs.outbox import relay_outbox
from engine.service.commands import Commands
from engine.service.notifications import Notifications
from engine.service.people import ensure_user
from engine.service.tokens import issue_token
from engine.settings import RelaySettings
from engine.store.database import Database
from engine.store.instances import Instance
from engine.store.notifications import Notification
from tests.infrastructure import INCIDENT, Clock, MailServer
from tests.web.test_inbox import make_team, open_task, post, signed_in


@pytest.fixture
def team(app: Flask, database: Database, commands: Commands, clock: Clock) -> Commands:
    return make_team(app, database, commands, clock)


@pytest.fixture
def incident(team: Commands) -> str:
    return str(team.start("it-incident", INCIDENT, requester="rita")["number"])


@pytest.fixture
def holder(database: Database, incident: str) -> str:
    assignee = open_task(database, incident).assignee
    assert assignee is not None
    return assignee


def ids(database: Database, who: str) -> list[int]:
    with database.reading() as session:
        return list(
            session.scalars(
                select(Notification.id)
                .where(Notification.recipient == who)
                .order_by(Notification.id)
            )
        )


def unread_of(database: Database, who: str) -> int:
    with database.reading() as session:
        rows = session.scalars(
            select(Notification.id).where(
                Notification.recipient == who, Notification.read_at.is_(None)
            )
        ).all()
        return len(rows)


def token_of(database: Database, clock: Clock, username: str) -> dict[str, str]:
    with database.writer_session() as session, session.begin():
        _, token = issue_token(session, username, "test", clock())
    return {"Authorization": f"Bearer {token}"}


def test_the_bell_shows_the_unread_count_on_every_page_of_a_signed_in_person(
    app: Flask, client: FlaskClient, database: Database, incident: str, holder: str
) -> None:
    page = signed_in(app, holder).get("/inbox").text
    bell = re.search(r'<a href="/notifications" class="bell" id="bell"[^>]*>(.*?)</a>', page)
    assert bell is not None
    assert '<span class="bell__count" id="bell-count">1</span>' in bell.group(1)
    assert "bell.js" in page
    assert 'id="bell"' not in client.get("/").text  # nobody signed in: no bell
    answer = signed_in(app, holder).get("/notifications/unread")
    assert answer.json == {"unread": 1, "newest": ids(database, holder)[-1]}
    assert answer.headers["Cache-Control"] == "no-store"


def test_the_list_links_to_the_task_and_marks_read_one_or_all(
    app: Flask, database: Database, team: Commands, incident: str, holder: str
) -> None:
    task = open_task(database, incident)
    browser = signed_in(app, holder)
    page = browser.get("/notifications").text
    assert "A task is given to you" in page
    assert f'href="/tasks/{task.id}"' in page
    assert incident in page
    (first,) = ids(database, holder)
    assert post(browser, f"/notifications/{first}/read").status_code == 303
    assert unread_of(database, holder) == 0
    assert "Nothing unread." in browser.get("/notifications?unread=1").text
    team.comment(incident, f"@{holder} look", actor="ada", public=False)
    team.comment(incident, f"@{holder} again", actor="ada", public=False)
    assert unread_of(database, holder) == 2  # one per comment
    answer = post(browser, "/notifications/read")
    assert answer.status_code == 303
    assert unread_of(database, holder) == 0


def test_the_list_says_who_acted_in_words_not_as_stored(
    app: Flask, database: Database, team: Commands, incident: str, holder: str
) -> None:
    """A requester's mention read "by ~requester", an escalation policy's page "by
    policy:desk-urgent"."""
    with database.writer_session() as session, session.begin():
        instance = session.scalars(select(Instance.id).where(Instance.number == incident)).one()
        for n, actor in enumerate(("~requester", "policy:desk-urgent")):
            session.add(Notification(
                recipient=holder, kind="mentioned", instance_id=instance, number=incident,
                summary=f"note {n}", actor=actor, created_at=team.clock(),
            ))  # fmt: skip
    page = signed_in(app, holder).get("/notifications").text
    assert "by the requester" in page
    assert "by the escalation policy desk-urgent" in page
    assert "~requester" not in page
    assert "policy:desk-urgent" not in page


def test_someone_elses_notification_is_not_found_and_stays_unread(
    app: Flask, database: Database, incident: str, holder: str
) -> None:
    (theirs,) = ids(database, holder)
    answer = post(signed_in(app, "zoe"), f"/notifications/{theirs}/read")
    assert answer.status_code == 404
    assert unread_of(database, holder) == 1


def test_mail_settings_are_saved_and_an_unknown_kind_changes_nothing(
    app: Flask, team: Commands
) -> None:
    browser = signed_in(app, "dan")
    page = browser.get("/notifications/settings").text
    assert 'name="mail" value="sla_breached"' in page
    assert post(browser, "/notifications/settings", mail=["assigned"]).status_code == 303
    assert Notifications(team).mail_kinds("dan") == ["assigned"]
    refused = post(browser, "/notifications/settings", mail=["assigned", "lottery"])
    assert refused.status_code == 422
    assert "no kind of notification &#39;lottery&#39;" in refused.text
    assert Notifications(team).mail_kinds("dan") == ["assigned"]


def test_the_api_lists_and_marks_my_notifications_only(
    app: Flask, database: Database, clock: Clock, incident: str, holder: str
) -> None:
    api = app.test_client()
    mine = token_of(database, clock, holder)
    answer = api.get("/api/v1/notifications", headers=mine)
    assert answer.status_code == 200
    assert answer.json["unread"] == 1
    (item,) = answer.json["items"]
    assert item["kind"] == "assigned"
    assert item["instance"] == incident
    assert item["link"] == f"/tasks/{item['task']}"
    other = token_of(database, clock, "zoe")
    assert api.post(f"/api/v1/notifications/{item['id']}/read", headers=other).status_code == 404
    assert unread_of(database, holder) == 1
    read = api.post(f"/api/v1/notifications/{item['id']}/read", headers=mine)
    assert read.json == {"unread": 0, "newest": item["id"]}
    listed = api.get("/api/v1/notifications?unread=true", headers=mine).json
    assert listed["items"] == []
    assert listed["total"] == 0
    assert api.get("/api/v1/notifications?unread=maybe", headers=mine).status_code == 400
    assert api.post("/api/v1/notifications/read", headers=mine).json["unread"] == 0
    assert api.get("/api/v1/notifications").status_code == 401


def test_the_api_sets_mail_kinds_and_refuses_an_unknown_one(
    app: Flask, database: Database, clock: Clock, team: Commands
) -> None:
    api = app.test_client()
    mine = token_of(database, clock, "dan")
    saved = api.put("/api/v1/notifications/settings", json={"mail": ["mentioned"]}, headers=mine)
    assert saved.json == {"mail": ["mentioned"]}
    refused = api.put("/api/v1/notifications/settings", json={"mail": ["spam"]}, headers=mine)
    assert refused.status_code == 422
    assert refused.json["errors"][0]["pointer"] == "/mail/0"
    assert api.get("/api/v1/notifications/settings", headers=mine).json == {"mail": ["mentioned"]}


@pytest.fixture
def smtp() -> Iterator[MailServer]:
    server = MailServer()
    server.start()
    yield server
    server.stop()


def test_admins_read_what_the_outbox_sent_and_others_may_not(
    app: Flask,
    database: Database,
    clock: Clock,
    team: Commands,
    smtp: MailServer,
) -> None:
    with database.writer_session() as session, session.begin():
        ensure_user(session, "bob", clock(), email="bob@desk.example")
        ensure_user(session, "dan", clock(), email="dan@desk.example")
    for name in ("bob", "dan"):
        Notifications(team).set_mail_kinds(name, ["assigned"])
    number = str(team.start("it-incident", INCIDENT, requester="rita")["number"])
    settings = RelaySettings(
        smtp_host="127.0.0.1", smtp_port=smtp.port, base_url="http://desk.example"
    )
    report = relay_outbox(database, settings=settings, now=clock())
    (sent,) = report.sent
    admin = signed_in(app, "ada")
    listing = admin.get("/admin/outbox").text
    assert f"Assigned to you: {number}" in listing
    assert "@desk.example" in listing
    assert "Sent" in listing
    detail = admin.get(f"/admin/outbox/{sent}").text
    assert "http://desk.example/tasks/" in detail
    assert "&lt;!doctype html&gt;" in detail  # the HTML part, as source
    assert admin.get("/admin/outbox?status=failed").text.count("data-outbox=") == 0
    assert admin.get("/admin/outbox/999999").status_code == 404
    assert signed_in(app, "bob").get("/admin/outbox").status_code == 403
    assert signed_in(app, "bob").get(f"/admin/outbox/{sent}").status_code == 403
