"""The outbox relay against a real SMTP server and a real HTTP endpoint on loopback.

The endpoint listens on 127.0.0.1, which webhooks may reach only because these tests'
settings allow it, as an admin would (`FLOWDESK_WEBHOOK_ALLOWED_NETWORKS`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_network
from pathlib import Path
from typing import Any

import pytest
from redis import Redis
from rq import Queue
from rq.job import Job
from sqlalchemy import func, select, update

from engine.core.effects import Notify
from engine.jobs import mail, timers
from engine.jobs.outbox import (
    CLAIM_BATCH,
    RelayReport,
    claim,
    claim_next,
    give_back,
    relay_outbox,
)
from engine.jobs.worker import DUTIES, relay
from engine.service.commands import Commands
from engine.service.definitions import publish_document
from engine.service.people import ensure_user
from engine.settings import (
    DEFAULT_BATCH,
    DEFAULT_SMTP_PORT,
    RelaySettings,
    SettingsError,
    relay_settings,
)
from engine.store.database import Database
from engine.store.instances import Event, Instance, Outbox, Task, Timer
from engine.store.notifications import SentMail
from engine.store.people import User
from tests.infrastructure import MailServer
from tests.integration.conftest import INCIDENT, PACK, Clock
from tests.integration.workers import worker_process
from web.cli.stack import free_port

SECRET = "webhook-test-secret"
SENDER = "flowdesk@desk.example"
#: What an admin would allow so that webhooks reach the test endpoint on this machine.
LOOPBACK = (ip_network("127.0.0.1/32"),)


@pytest.fixture
def smtp() -> Iterator[MailServer]:
    server = MailServer()
    server.start()
    yield server
    server.stop()


@dataclass
class Receiver:
    """The outside webhook endpoint: records each POST, answers with the queued statuses."""

    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    url: str = ""
    #: Seconds it takes to answer.
    delay: float = 0.0


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            receiver.requests.append((dict(self.headers.items()), body))
            time.sleep(receiver.delay)
            status = receiver.statuses.pop(0) if receiver.statuses else 200
            answer = b'{"ok": true}' if status < 400 else b"nope"
            self.send_response(status)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/flowdesk"
    yield receiver
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def settings(smtp: MailServer) -> RelaySettings:
    return RelaySettings(
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        smtp_from=SENDER,
        smtp_timeout_s=5,
        webhook_secret=SECRET,
        webhook_timeout_s=5,
        webhook_allowed_networks=LOOPBACK,
        max_attempts=4,
        backoff_base_s=60,
        backoff_max_s=3600,
    )


def password_incident(commands: Commands, requester: str | None = "alice") -> str:
    data = {**INCIDENT, "category": "password"}
    return str(commands.start("it-incident", data, requester=requester)["number"])


def outbox_rows(database: Database) -> list[Outbox]:
    with database.reading() as session:
        return list(session.scalars(select(Outbox).order_by(Outbox.id)))


def only_row(database: Database) -> Outbox:
    rows = outbox_rows(database)
    assert len(rows) == 1
    return rows[0]


def add_message(database: Database, number: str, at: datetime, **notify: Any) -> int:
    """Write an outbox row the way `engine.service.apply` writes a `notify` effect."""
    with database.reading() as session:
        instance_id = session.scalars(select(Instance.id).where(Instance.number == number)).one()
    payload = {**Notify(**notify).to_dict(), "instance": instance_id, "number": number}
    return add_payload(database, number, at, payload)


def add_payload(database: Database, number: str, at: datetime, payload: Any) -> int:
    """Write an outbox row holding `payload` as it is, readable or not."""
    with database.writer_session() as session, session.begin():
        instance = session.scalars(select(Instance).where(Instance.number == number)).one()
        row = Outbox(
            instance_id=instance.id,
            kind="notify",
            payload=payload,
            status="pending",
            attempts=0,
            created_at=at,
        )
        session.add(row)
        session.flush()
        return row.id


def timeline(database: Database, number: str) -> list[Event]:
    """The instance's events, in order."""
    with database.reading() as session:
        return list(
            session.scalars(
                select(Event).join(Instance).where(Instance.number == number).order_by(Event.seq)
            )
        )


def dead_letters(database: Database, number: str) -> list[Event]:
    """The `delivery_failed` events on the instance's timeline."""
    return [event for event in timeline(database, number) if event.kind == "delivery_failed"]


def last_event(database: Database, number: str) -> int:
    with database.reading() as session:
        found = session.scalar(select(Instance.last_event).where(Instance.number == number))
    return int(found or 0)


def clear_outbox(database: Database) -> None:
    with database.writer_session() as session, session.begin():
        for row in session.scalars(select(Outbox)):
            session.delete(row)


# Mail -------------------------------------------------------------------------------------


def test_password_reset_mail_reaches_the_requester_once(
    commands: Commands, database: Database, clock: Clock, smtp: MailServer, settings: RelaySettings
) -> None:
    with database.writer_session() as session, session.begin():
        ensure_user(session, "alice", clock(), email="alice@corp.example")
    number = password_incident(commands)
    row = only_row(database)

    report = relay_outbox(database, settings=settings, now=clock())

    assert report.sent == [row.id]
    [(recipients, message)] = smtp.inbox.received
    assert recipients == ["alice@corp.example"]
    assert message["Subject"] == f"{number}: reset your password yourself"
    assert message["From"] == SENDER
    assert message["Message-ID"] == f"<flowdesk-outbox-{row.id}@desk.example>"
    body = message.get_body(("plain",)).get_content()
    assert body.startswith("Hello Alice Example,")
    assert 'we received your incident INC-000001: "The printer on floor 3 is jammed".' in body
    assert "Reset your password yourself at the self-service page" in body
    sent = only_row(database)
    assert (sent.status, sent.sent_at, sent.attempts, sent.error) == ("sent", clock(), 1, None)

    again = relay_outbox(database, settings=settings, now=clock.advance(hours=1))

    assert again == RelayReport()
    assert len(smtp.inbox.received) == 1


def test_an_anonymous_requester_is_mailed_at_the_address_on_the_form(
    commands: Commands, database: Database, clock: Clock, smtp: MailServer, settings: RelaySettings
) -> None:
    password_incident(commands, requester=None)

    relay_outbox(database, settings=settings, now=clock())

    [(recipients, _)] = smtp.inbox.received
    assert recipients == [INCIDENT["email"]]


def test_a_group_notification_goes_to_every_active_member(
    commands: Commands, database: Database, clock: Clock, smtp: MailServer, settings: RelaySettings
) -> None:
    number = password_incident(commands)
    clear_outbox(database)
    with database.writer_session() as session, session.begin():
        ensure_user(session, "bob", clock(), email="bob@desk.example")
        ensure_user(session, "dan", clock(), email="dan@desk.example")
    add_message(
        database, number, clock(), step="reopen", to={"group": "desktop-support"},
        template="incident-reopened",
    )  # fmt: skip

    relay_outbox(database, settings=settings, now=clock())

    [(recipients, message)] = smtp.inbox.received
    assert recipients == ["bob@desk.example", "dan@desk.example"]
    assert message["Subject"] == f"{number} reopened: The printer on floor 3 is jammed"


#: An approval waiting in the desktop-support queue, whose members bob and dan are.
QUEUED_APPROVAL: dict[str, Any] = {
    "kind": "workflow", "format": 1, "key": "desk-approval", "title": "Desk approval",
    "first": "approve",
    "steps": {
        "approve": {"type": "approval", "assign": {"group": "desktop-support"},
                    "on": {"approved": "done", "rejected": "done"}},
        "done": {"type": "end"},
    },
}  # fmt: skip


def test_a_reminder_to_a_queues_candidates_leaves_out_whom_the_task_keeps_apart(
    commands: Commands, database: Database, clock: Clock, smtp: MailServer, settings: RelaySettings
) -> None:
    """bob asked for it: the approval is not in his queue, and a reminder to its candidates
    does not ask him to approve his own request."""
    with database.writer_session() as session, session.begin():
        publish_document(session, "workflow", QUEUED_APPROVAL, clock(), "t")
        ensure_user(session, "bob", clock(), email="bob@desk.example")
        ensure_user(session, "dan", clock(), email="dan@desk.example")
    number = commands.start("desk-approval", {}, requester="bob")["number"]
    with database.reading() as session:
        key = session.scalars(select(Task.key).where(Task.step == "approve")).one()
    clear_outbox(database)
    add_message(
        database, number, clock(), step="approve", to="candidates", template="reminder",
        tasks=[key],
    )  # fmt: skip

    relay_outbox(database, settings=settings, now=clock())

    [(recipients, _message)] = smtp.inbox.received
    assert recipients == ["dan@desk.example"]


def test_a_recipient_without_an_address_is_a_dead_letter_shown_on_the_instance(
    commands: Commands, database: Database, clock: Clock, smtp: MailServer, settings: RelaySettings
) -> None:
    number = password_incident(commands)
    clear_outbox(database)
    row_id = add_message(
        database, number, clock(), step="work", to={"user": "bob"}, template="reminder"
    )

    report = relay_outbox(database, settings=settings, now=clock())

    assert report.dead == [row_id]
    row = only_row(database)
    assert (row.status, row.attempts, row.next_attempt_at) == ("failed", 1, None)
    assert row.error == "no email address for the user bob"
    [event] = dead_letters(database, number)
    assert (event.step, event.at, event.actor) == ("work", clock(), None)
    assert event.why == "no email address for the user bob"
    assert event.detail == {
        "outbox": row_id, "channel": "email", "recipient": "the user bob", "attempts": 1,
    }  # fmt: skip
    assert event.seq == last_event(database, number) == timeline(database, number)[-1].seq
    assert smtp.inbox.received == []


def test_a_dead_letter_is_never_tried_again(
    commands: Commands, database: Database, clock: Clock, smtp: MailServer, settings: RelaySettings
) -> None:
    number = password_incident(commands)
    clear_outbox(database)
    add_message(database, number, clock(), step="work", to="requester", template="no-such-mail")

    relay_outbox(database, settings=settings, now=clock())
    for days in (1, 30, 365):
        assert relay_outbox(database, settings=settings, now=clock.advance(days=days)) == (
            RelayReport()
        )

    row = only_row(database)
    assert (row.status, row.attempts) == ("failed", 1)
    assert "there is no mail template 'no-such-mail'" in (row.error or "")
    [event] = dead_letters(database, number)
    assert (event.why or "").startswith("there is no mail template 'no-such-mail'")
    assert smtp.inbox.received == []


@pytest.mark.parametrize(
    ("to", "why"),
    [
        ({"email": "ann@example.org\r\nBcc: all@example.org"},
         "the address 'ann@example.org\\r\\nBcc: all@example.org' holds a line break"),
        ({"email": "ann@example.org\nSubject: hi"}, "holds a line break"),
        ({"email": "ann@example.org, bob@example.org"},
         "holds several addresses where one is expected"),
        ({"email": "ann@example.org;bob@example.org"}, "holds several addresses"),
        ({"email": "Ann <ann@example.org>"}, "is not a plain address"),
        ({"email": "ann smith@example.org"}, "holds a space"),
        ({"email": "<ann@example.org>"}, "is not a plain address"),
        ({"email": "ann@"}, "is not an email address"),
        ({"email": "ann\x07@example.org"}, "holds a control character"),
        # A template such as {{ instance.requester.email }} that wrote nothing.
        ({"email": ""}, "the recipient's email came out empty: what the workflow wrote"),
    ],
)  # fmt: skip
def test_an_address_with_a_line_break_or_several_addresses_is_a_dead_letter(
    commands: Commands, database: Database, clock: Clock, smtp: MailServer,
    settings: RelaySettings, to: dict[str, str], why: str,
) -> None:  # fmt: skip
    number = password_incident(commands)
    clear_outbox(database)
    row_id = add_message(database, number, clock(), step="work", to=to, template="reminder")

    assert relay_outbox(database, settings=settings, now=clock()).dead == [row_id]

    [event] = dead_letters(database, number)
    assert why in (event.why or "")
    assert smtp.inbox.received == []


def test_a_user_whose_stored_address_holds_two_is_named_in_the_dead_letter(
    commands: Commands, database: Database, clock: Clock, smtp: MailServer, settings: RelaySettings
) -> None:
    number = password_incident(commands)
    clear_outbox(database)
    # Accounts refuse such an address now; a row stored before they did may still hold one.
    with database.writer_session() as session, session.begin():
        session.execute(
            update(User)
            .where(User.username == "bob")
            .values(email="bob@desk.example,eve@evil.example")
        )
    add_message(database, number, clock(), step="work", to={"user": "bob"}, template="reminder")

    relay_outbox(database, settings=settings, now=clock())

    [event] = dead_letters(database, number)
    assert event.why == (
        "the address 'bob@desk.example,eve@evil.example' of the user bob holds several "
        "addresses where one is expected"
    )
    assert smtp.inbox.received == []


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        (["not", "an", "object"], "the message cannot be read: it is a list, not an object"),
        ("mail bob", "the message cannot be read: it is text, not an object"),
        ({"step": "work", "to": "requester"}, "it is a mail without a template"),
        ({"step": "work", "to": "requester", "template": 7}, "its 'template' is 7, not text"),
        ({"step": "work", "to": 42, "template": "reminder"}, "its recipient is 42"),
        ({"step": "work", "webhook": ["http://a"]}, "its 'webhook' is ['http://a'], not text"),
        ({"step": "work", "to": "assignee", "template": "reminder", "tasks": "t1"},
         "its 'tasks' is 't1', not a list of task keys"),
        ({"step": "work", "to": "requester", "template": "requester-task", "told": "question"},
         "its 'told' is 'question', not a list of field names"),
    ],
)  # fmt: skip
def test_a_payload_the_relay_cannot_read_is_a_dead_letter_at_once(
    commands: Commands, database: Database, clock: Clock, smtp: MailServer,
    settings: RelaySettings, payload: Any, why: str,
) -> None:  # fmt: skip
    number = password_incident(commands)
    clear_outbox(database)
    row_id = add_payload(database, number, clock(), payload)
    later = add_message(database, number, clock(), step="work", to="requester",
                        template="password-reset")  # fmt: skip

    report = relay_outbox(database, settings=settings, now=clock())

    assert (report.dead, report.sent) == ([row_id], [later])  # the next message still goes
    [event] = dead_letters(database, number)
    assert why in (event.why or "")
    assert event.detail is not None
    assert (event.detail["outbox"], event.detail["attempts"]) == (row_id, 1)
    assert len(smtp.inbox.received) == 1


def test_a_message_that_keeps_failing_is_a_dead_letter_after_the_last_attempt(
    commands: Commands, database: Database, clock: Clock, smtp: MailServer, settings: RelaySettings
) -> None:
    smtp.stop()
    number = password_incident(commands)
    settings = replace(settings, max_attempts=3)
    waits = []

    for _ in range(3):
        relay_outbox(database, settings=settings, now=clock())
        row = only_row(database)
        if row.next_attempt_at is not None:
            waits.append(row.next_attempt_at - clock())
            clock.now = row.next_attempt_at

    assert (row.status, row.attempts) == ("failed", 3)
    assert (row.error or "").startswith("gave up after 3 attempts: cannot reach the mail server")
    # The wait doubles, half of it random: 30-60 s after the first failure, 60-120 s next.
    assert timedelta(seconds=30) <= waits[0] <= timedelta(seconds=60) <= waits[1]
    assert waits[1] <= timedelta(seconds=120)
    [event] = dead_letters(database, number)  # retries leave the timeline alone
    assert event.why == row.error
    assert event.detail is not None
    assert (event.detail["recipient"], event.detail["attempts"]) == ("the requester", 3)
    smtp.start()
    assert relay_outbox(database, settings=settings, now=clock.advance(days=1)) == RelayReport()
    assert smtp.inbox.received == []


def test_a_poison_message_that_crashes_the_relay_is_a_dead_letter_after_its_attempts(
    commands: Commands, database: Database, clock: Clock, smtp: MailServer, settings: RelaySettings
) -> None:
    number = password_incident(commands)
    # Data that is no longer an object (damaged by hand, say) crashes every rendering.
    with database.writer_session() as session, session.begin():
        instance = session.scalars(select(Instance).where(Instance.number == number)).one()
        instance.state = {**instance.state, "data": ["damaged"]}
    settings = replace(settings, max_attempts=3, backoff_base_s=1, backoff_max_s=1)

    reports = []
    for _ in range(5):
        reports.append(relay_outbox(database, settings=settings, now=clock.advance(seconds=2)))

    row = only_row(database)
    assert [len(r.retried) for r in reports] == [1, 1, 0, 0, 0]
    assert reports[2].dead == [row.id]
    assert (row.status, row.attempts) == ("failed", 3)
    assert (row.error or "").startswith("gave up after 3 attempts: delivery crashed: ")
    assert len(dead_letters(database, number)) == 1
    assert smtp.inbox.received == []


def test_a_message_whose_every_attempt_kills_the_relay_is_buried_not_looped(
    commands: Commands, database: Database, clock: Clock, smtp: MailServer, settings: RelaySettings
) -> None:
    number = password_incident(commands)
    settings = replace(settings, max_attempts=3, claim_lease_s=60)
    for _ in range(3):
        # A relay takes the message and dies before it can say how the attempt went.
        assert claim_next(database, clock.advance(seconds=61), settings) is not None

    report = relay_outbox(database, settings=settings, now=clock.advance(seconds=61))

    row = only_row(database)
    assert report.dead == [row.id]
    assert (row.status, row.attempts) == ("failed", 3)
    [event] = dead_letters(database, number)
    assert event.why == (
        "gave up after 3 attempts: the last one never finished (the relay stopped while "
        "delivering it)"
    )
    assert smtp.inbox.received == []  # buried, not tried a fourth time


def test_dead_letters_and_commands_at_once_keep_the_timeline_numbered_without_gaps(
    commands: Commands, database: Database, clock: Clock, settings: RelaySettings
) -> None:
    number = password_incident(commands)
    clear_outbox(database)
    ids = [add_payload(database, number, clock(), ["unreadable", n]) for n in range(12)]
    start = threading.Barrier(3)
    reports: list[RelayReport] = []

    def relay() -> None:
        start.wait()
        reports.append(relay_outbox(database, settings=settings, now=clock()))

    def comment() -> None:
        start.wait()
        for n in range(12):
            commands.comment(number, f"note {n}", actor="bob")

    threads = [threading.Thread(target=relay) for _ in range(2)]
    threads.append(threading.Thread(target=comment))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(i for report in reports for i in report.dead) == ids
    events = timeline(database, number)
    assert [event.seq for event in events] == list(range(1, len(events) + 1))
    assert events[-1].seq == last_event(database, number)
    buried = sorted(e.detail["outbox"] for e in events if e.kind == "delivery_failed" and e.detail)
    assert buried == ids  # each dead letter told once
    assert sum(event.kind == "commented" for event in events) == 12


def test_mail_waits_while_the_server_is_down_and_goes_once_it_is_back(
    commands: Commands, database: Database, clock: Clock, smtp: MailServer, settings: RelaySettings
) -> None:
    smtp.stop()
    password_incident(commands)
    start = clock()

    report = relay_outbox(database, settings=settings, now=start)

    row = only_row(database)
    assert report.retried == [row.id]
    assert (row.status, row.attempts) == ("pending", 1)
    assert "cannot reach the mail server at 127.0.0.1" in (row.error or "")
    assert row.next_attempt_at is not None
    # First backoff: between half and all of the base wait.
    assert start + timedelta(seconds=30) <= row.next_attempt_at <= start + timedelta(seconds=60)
    assert relay_outbox(database, settings=settings, now=start + timedelta(seconds=29)) == (
        RelayReport()
    )

    smtp.start()
    report = relay_outbox(database, settings=settings, now=row.next_attempt_at)

    assert report.sent == [row.id]
    assert len(smtp.inbox.received) == 1
    sent = only_row(database)
    assert (sent.status, sent.attempts, sent.error) == ("sent", 2, None)


def test_a_mail_is_kept_as_rendered_whether_it_went_failed_or_died(
    commands: Commands, database: Database, clock: Clock, smtp: MailServer, settings: RelaySettings
) -> None:
    # Admins read on the outbox page what each message said, the ones that did not go too.
    smtp.stop()
    number = password_incident(commands)
    row_id = only_row(database).id

    assert relay_outbox(database, settings=settings, now=clock()).retried == [row_id]
    with database.reading() as session:
        failed = session.get(SentMail, row_id)
        assert failed is not None
        assert number in failed.subject
        assert failed.recipients == ["alice@example.org"]

    smtp.start()
    sent = relay_outbox(database, settings=settings, now=clock.advance(hours=1)).sent
    assert sent == [row_id]
    with database.reading() as session:  # the attempt that went replaced the one before
        kept = session.scalars(select(SentMail).where(SentMail.outbox_id == row_id)).all()
        assert [m.message_id for m in kept] == [mail.message_id(row_id, SENDER)]

    smtp.inbox.refused.add("alice@example.org")
    password_incident(commands)
    dead = relay_outbox(database, settings=settings, now=clock()).dead
    assert len(dead) == 1
    with database.reading() as session:
        refused = session.get(SentMail, dead[0])
        assert refused is not None
        assert refused.recipients == ["alice@example.org"]


def test_a_relay_run_sends_its_mails_over_one_connection(
    commands: Commands, database: Database, clock: Clock, smtp: MailServer, settings: RelaySettings
) -> None:
    """A connection for each mail cost a handshake, the greeting, EHLO and QUIT (and with
    most providers STARTTLS and a login) for every message."""
    for _ in range(3):
        password_incident(commands, requester=None)

    report = relay_outbox(database, settings=settings, now=clock())

    assert len(report.sent) == len(smtp.inbox.received) == 3
    assert len(set(smtp.inbox.peers)) == 1
    relay_outbox(database, settings=settings, now=clock())  # the run's connection was let go
    password_incident(commands, requester=None)
    relay_outbox(database, settings=settings, now=clock())
    assert len(set(smtp.inbox.peers)) == 2


def test_a_kept_connection_the_server_let_go_is_opened_again_for_the_same_mail(
    smtp: MailServer, settings: RelaySettings
) -> None:
    def letter(number: int) -> EmailMessage:
        message = EmailMessage()
        message["From"], message["To"] = SENDER, f"r{number}@corp.example"
        message["Subject"] = f"Letter {number}"
        message.set_content("Hello.")
        return message

    with mail.MailServer(settings) as server:
        mail.send(letter(1), server)
        smtp.stop()  # the server restarts: the connection the relay keeps is gone
        smtp.start()
        mail.send(letter(2), server)
        mail.send(letter(3), server)

    assert [m["Subject"] for _, m in smtp.inbox.received] == ["Letter 1", "Letter 2", "Letter 3"]
    first, second, third = smtp.inbox.peers
    assert first != second == third


def test_a_mail_the_server_refuses_does_not_keep_the_next_one_from_going(
    smtp: MailServer, settings: RelaySettings
) -> None:
    refused = EmailMessage()
    smtp.inbox.refused.add("gone@corp.example")
    refused["From"], refused["To"], refused["Subject"] = SENDER, "gone@corp.example", "To nobody"
    refused.set_content("Hello.")
    fine = EmailMessage()
    fine["From"], fine["To"], fine["Subject"] = SENDER, "r@corp.example", "To someone"
    fine.set_content("Hello.")

    with mail.MailServer(settings) as server:
        with pytest.raises(mail.PermanentFailure, match="refused every recipient"):
            mail.send(refused, server)
        mail.send(fine, server)

    assert [m["Subject"] for _, m in smtp.inbox.received] == ["To someone"]
    assert len(smtp.inbox.peers) == 1


# Webhooks ---------------------------------------------------------------------------------


def test_a_webhook_is_a_signed_json_post_with_the_outbox_id_as_idempotency_key(
    commands: Commands, database: Database, clock: Clock, receiver: Receiver,
    settings: RelaySettings,
) -> None:  # fmt: skip
    number = password_incident(commands)
    clear_outbox(database)
    row_id = add_message(database, number, clock(), step="work", webhook=receiver.url)

    report = relay_outbox(database, settings=settings, now=clock())

    assert report.sent == [row_id]
    [(headers, body)] = receiver.requests
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Flowdesk-Signature"], expected)
    assert headers["Content-Type"] == "application/json"
    assert headers["Idempotency-Key"] == str(row_id)
    document = json.loads(body)
    assert document["delivery"] == row_id
    assert document["step"] == "work"
    assert document["instance"]["number"] == number
    assert document["data"]["summary"] == INCIDENT["summary"]
    assert only_row(database).status == "sent"


def test_a_webhook_answering_500_is_retried_with_backoff_then_delivered(
    commands: Commands, database: Database, clock: Clock, receiver: Receiver,
    settings: RelaySettings,
) -> None:  # fmt: skip
    number = password_incident(commands)
    clear_outbox(database)
    row_id = add_message(database, number, clock(), step="work", webhook=receiver.url)
    receiver.statuses = [500, 503]
    start = clock()

    assert relay_outbox(database, settings=settings, now=start).retried == [row_id]
    first = only_row(database)
    assert (first.status, first.attempts) == ("pending", 1)
    assert "answered 500" in (first.error or "")
    assert first.next_attempt_at is not None
    assert first.next_attempt_at > start

    assert relay_outbox(database, settings=settings, now=start) == RelayReport()
    assert relay_outbox(database, settings=settings, now=first.next_attempt_at).retried == [row_id]
    second = only_row(database)
    assert second.next_attempt_at is not None
    assert second.next_attempt_at - first.next_attempt_at >= timedelta(seconds=60)

    assert relay_outbox(database, settings=settings, now=second.next_attempt_at).sent == [row_id]
    done = only_row(database)
    assert (done.status, done.attempts, done.error) == ("sent", 3, None)
    keys = [headers["Idempotency-Key"] for headers, _ in receiver.requests]
    assert keys == [str(row_id)] * 3


def test_a_webhook_answering_400_is_a_dead_letter_naming_only_its_host(
    commands: Commands, database: Database, clock: Clock, receiver: Receiver,
    settings: RelaySettings,
) -> None:  # fmt: skip
    number = password_incident(commands)
    clear_outbox(database)
    url = receiver.url + "?token=s3cret-in-the-query"
    row_id = add_message(database, number, clock(), step="work", webhook=url)
    receiver.statuses = [400]

    assert relay_outbox(database, settings=settings, now=clock()).dead == [row_id]
    assert relay_outbox(database, settings=settings, now=clock.advance(days=1)) == RelayReport()

    row = only_row(database)
    assert (row.status, row.attempts) == ("failed", 1)
    origin = receiver.url.split("/hooks")[0]
    assert row.error == f"{origin} answered 400 Bad Request: nope"
    [event] = dead_letters(database, number)
    assert event.why == row.error
    assert event.detail == {"outbox": row_id, "channel": "webhook", "recipient": origin,
                            "attempts": 1}  # fmt: skip
    assert "s3cret" not in str(event.why) + str(event.detail)  # paths and queries hold tokens
    assert len(receiver.requests) == 1


def test_a_webhook_answering_a_redirect_is_a_dead_letter(
    commands: Commands, database: Database, clock: Clock, receiver: Receiver,
    settings: RelaySettings,
) -> None:  # fmt: skip
    number = password_incident(commands)
    clear_outbox(database)
    row_id = add_message(database, number, clock(), step="work", webhook=receiver.url)
    receiver.statuses = [307]

    assert relay_outbox(database, settings=settings, now=clock()).dead == [row_id]
    assert "answered 307" in (dead_letters(database, number)[0].why or "")
    assert len(receiver.requests) == 1


def test_a_relay_run_starts_no_delivery_once_its_budget_is_spent(
    commands: Commands, database: Database, clock: Clock, receiver: Receiver,
    settings: RelaySettings,
) -> None:  # fmt: skip
    # A worker asked to stop finishes its job first: a run that went on through a long
    # outbox of slow endpoints kept a stopping worker alive for minutes.
    number = password_incident(commands)
    clear_outbox(database)
    ids = [add_message(database, number, clock(), step="work", webhook=receiver.url)
           for _ in range(3)]  # fmt: skip
    receiver.delay = 1.0

    report = relay_outbox(database, settings=settings, now=clock(), budget_s=0.5)

    assert report.sent == ids[:1]
    assert [(row.status, row.attempts) for row in outbox_rows(database)] == [
        ("sent", 1), ("pending", 0), ("pending", 0),
    ]  # fmt: skip
    receiver.delay = 0.0
    assert relay_outbox(database, settings=settings, now=clock()).sent == ids[1:]


def test_claims_a_run_did_not_get_to_are_given_back_before_half_their_lease_is_gone(
    commands: Commands, database: Database, clock: Clock, receiver: Receiver,
    settings: RelaySettings,
) -> None:  # fmt: skip
    # A run claims a few messages at once. Past half their lease, another relay could take
    # the rest and send them too: they are given back, due at once, their attempt uncounted.
    number = password_incident(commands)
    clear_outbox(database)
    ids = [add_message(database, number, clock(), step="work", webhook=receiver.url)
           for _ in range(3)]  # fmt: skip
    receiver.delay = 0.6
    settings = replace(settings, claim_lease_s=1.0)

    report = relay_outbox(database, settings=settings, now=clock())

    assert (report.sent, report.more) == (ids[:1], True)
    rows = outbox_rows(database)
    assert [(row.status, row.attempts) for row in rows] == [
        ("sent", 1), ("pending", 0), ("pending", 0),
    ]  # fmt: skip
    assert all(row.next_attempt_at == clock() for row in rows[1:])
    receiver.delay = 0.0
    assert relay_outbox(database, settings=settings, now=clock()).sent == ids[1:]
    assert len(receiver.requests) == 3


def test_a_run_makes_way_after_the_message_it_is_sending_when_other_work_waits(
    commands: Commands, database: Database, clock: Clock, smtp: MailServer, settings: RelaySettings
) -> None:
    for _ in range(3):
        password_incident(commands, requester=None)
    ids = [row.id for row in outbox_rows(database)]
    answers = iter([False, True])  # nothing waits when the run starts; then timers do
    asked: list[int] = []

    def timers_waiting() -> bool:
        asked.append(len(smtp.inbox.received))
        return next(answers)

    report = relay_outbox(database, settings=settings, now=clock(), yield_to=timers_waiting)

    assert (report.sent, report.more, asked) == (ids[:1], True, [0, 1])
    assert [(row.status, row.attempts, row.next_attempt_at) for row in outbox_rows(database)] == [
        ("sent", 1, None), ("pending", 0, clock()), ("pending", 0, clock()),
    ]  # fmt: skip
    assert relay_outbox(database, settings=settings, now=clock()).sent == ids[1:]


def test_a_run_that_starts_while_timers_wait_takes_one_message(
    commands: Commands, database: Database, clock: Clock, smtp: MailServer, settings: RelaySettings
) -> None:
    # One message, so that mail still moves while timers keep coming; no more claimed
    # than that, to be given back at once.
    for _ in range(3):
        password_incident(commands, requester=None)
    ids = [row.id for row in outbox_rows(database)]

    report = relay_outbox(database, settings=settings, now=clock(), yield_to=lambda: True)

    assert (report.sent, report.more) == (ids[:1], True)
    assert [(row.status, row.attempts, row.next_attempt_at) for row in outbox_rows(database)] == [
        ("sent", 1, None), ("pending", 0, None), ("pending", 0, None),
    ]  # fmt: skip


def test_messages_a_dead_relay_had_claimed_go_once_their_lease_runs_out(
    commands: Commands, database: Database, clock: Clock, smtp: MailServer, settings: RelaySettings
) -> None:
    for _ in range(3):
        password_incident(commands, requester=None)
    ids = [row.id for row in outbox_rows(database)]
    settings = replace(settings, claim_lease_s=60)
    # A relay claims them all and is killed while it delivers the first.
    assert [c.id for c in claim(database, clock(), settings, CLAIM_BATCH)] == ids
    assert [row.attempts for row in outbox_rows(database)] == [1, 0, 0]

    assert relay_outbox(database, settings=settings, now=clock.advance(seconds=59)) == (
        RelayReport()
    )
    report = relay_outbox(database, settings=settings, now=clock.advance(seconds=2))

    assert report.sent == ids
    assert len(smtp.inbox.received) == 3
    assert [(row.status, row.attempts) for row in outbox_rows(database)] == [
        ("sent", 2), ("sent", 1), ("sent", 1),
    ]  # fmt: skip


def test_a_message_that_kills_the_relay_again_and_again_spends_no_attempt_of_the_others(
    commands: Commands, database: Database, clock: Clock, smtp: MailServer, settings: RelaySettings
) -> None:
    # The messages after it in each claim were never tried: they must not be buried with it.
    for _ in range(3):
        password_incident(commands, requester=None)
    poison, *others = [row.id for row in outbox_rows(database)]
    settings = replace(settings, claim_lease_s=60, max_attempts=3)
    for _ in range(3):  # each time, the relay dies delivering the first of its claim
        claimed = claim(database, clock.advance(seconds=61), settings, CLAIM_BATCH)
        assert [c.id for c in claimed] == [poison, *others]

    report = relay_outbox(database, settings=settings, now=clock.advance(seconds=61))

    assert (report.dead, report.sent) == ([poison], others)
    assert [(row.status, row.attempts) for row in outbox_rows(database)] == [
        ("failed", 3), ("sent", 1), ("sent", 1),
    ]  # fmt: skip


def test_a_spent_message_given_back_keeps_its_count_and_is_buried_by_the_next_run(
    commands: Commands, database: Database, clock: Clock, smtp: MailServer, settings: RelaySettings
) -> None:
    for _ in range(2):
        password_incident(commands, requester=None)
    first, spent = [row.id for row in outbox_rows(database)]
    settings = replace(settings, max_attempts=3)
    with database.writer_session() as session, session.begin():  # its relays all died
        session.execute(update(Outbox).where(Outbox.id == spent).values(attempts=3))

    # The second's attempt is counted (spent: it stays 3) as the first is recorded sent,
    # then the run makes way for timers and gives it back.
    report = relay_outbox(
        database, settings=settings, now=clock(), yield_to=iter([False, True]).__next__
    )

    assert report.sent == [first]
    row = outbox_rows(database)[1]
    assert (row.status, row.attempts, row.next_attempt_at) == ("pending", 3, clock())
    assert relay_outbox(database, settings=settings, now=clock()).dead == [spent]


def test_a_claim_given_back_leaves_alone_a_row_another_relay_holds_since(
    commands: Commands, database: Database, clock: Clock, smtp: MailServer, settings: RelaySettings
) -> None:
    password_incident(commands, requester=None)
    settings = replace(settings, claim_lease_s=60)
    [ours] = claim(database, clock(), settings, CLAIM_BATCH)
    # Our lease ran out; another relay leased the row since, with the same attempt count.
    [theirs] = claim(database, clock.advance(seconds=61), settings, CLAIM_BATCH)
    assert ours.id == theirs.id

    give_back(database, [ours], clock())

    row = only_row(database)
    assert (row.attempts, row.next_attempt_at) == (2, theirs.lease_until)


def test_a_run_whose_database_goes_away_leaves_its_claims_to_their_lease(
    commands: Commands, database: Database, clock: Clock, smtp: MailServer, settings: RelaySettings
) -> None:
    for _ in range(2):
        password_incident(commands, requester=None)
    settings = replace(settings, claim_lease_s=60)
    claimed = claim(database, clock(), settings, CLAIM_BATCH)
    broken = Database("sqlite:////nonexistent-folder/flowdesk.db")

    give_back(broken, claimed, clock())  # logged, not raised

    assert [(row.attempts, row.next_attempt_at) for row in outbox_rows(database)] == [
        (1, claimed[0].lease_until), (0, claimed[0].lease_until),
    ]  # fmt: skip
    report = relay_outbox(database, settings=settings, now=clock.advance(seconds=61))
    assert len(report.sent) == 2


def test_an_unreachable_webhook_is_retried(
    commands: Commands, database: Database, clock: Clock, settings: RelaySettings
) -> None:
    number = password_incident(commands)
    clear_outbox(database)
    url = f"http://127.0.0.1:{free_port()}/nobody-listens"
    row_id = add_message(database, number, clock(), step="work", webhook=url)

    assert relay_outbox(database, settings=settings, now=clock()).retried == [row_id]
    assert "cannot reach" in (only_row(database).error or "")


# Concurrency ------------------------------------------------------------------------------


def test_two_relays_at_once_deliver_each_message_once(
    commands: Commands, database: Database, clock: Clock, smtp: MailServer, settings: RelaySettings
) -> None:
    for _ in range(12):
        password_incident(commands, requester=None)
    ids = [row.id for row in outbox_rows(database)]
    start = threading.Barrier(2)
    reports: list[RelayReport] = []

    def relay() -> None:
        start.wait()
        reports.append(relay_outbox(database, settings=settings, now=clock()))

    threads = [threading.Thread(target=relay) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    sent = [row_id for report in reports for row_id in report.sent]
    assert sorted(sent) == ids
    message_ids = [message["Message-ID"] for _, message in smtp.inbox.received]
    assert sorted(message_ids) == sorted(mail.message_id(i, SENDER) for i in ids)
    assert {row.status for row in outbox_rows(database)} == {"sent"}


# Settings ---------------------------------------------------------------------------------


def test_settings_come_from_the_environment() -> None:
    settings = relay_settings(
        {
            "FLOWDESK_SMTP_HOST": "mail.example",
            "FLOWDESK_SMTP_PORT": "2525",
            "FLOWDESK_SMTP_FROM": "desk@example.org",
            "FLOWDESK_SMTP_STARTTLS": "true",
            "FLOWDESK_WEBHOOK_SECRET": "s3cret",
        }
    )
    assert (settings.smtp_host, settings.smtp_port, settings.smtp_starttls) == (
        "mail.example", 2525, True,
    )  # fmt: skip
    assert settings.webhook_secret == "s3cret"
    assert "s3cret" not in repr(settings)
    assert relay_settings({}).smtp_port == DEFAULT_SMTP_PORT


@pytest.mark.parametrize(
    ("name", "value"),
    [("FLOWDESK_SMTP_PORT", "twenty-five"), ("FLOWDESK_SMTP_STARTTLS", "maybe"),
     ("FLOWDESK_OUTBOX_MAX_ATTEMPTS", "0")],
)  # fmt: skip
def test_a_bad_setting_is_refused_by_name(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        relay_settings({name: value})


# Templates --------------------------------------------------------------------------------


def template_keys(document: Any) -> set[str]:
    """Every mail template a workflow document names, however deep."""
    if isinstance(document, dict):
        found = {document["template"]} if isinstance(document.get("template"), str) else set()
        return found.union(*(template_keys(value) for value in document.values()))
    if isinstance(document, list):
        return set().union(*(template_keys(value) for value in document))
    return set()


def test_every_template_the_shipped_workflows_use_ships_and_renders() -> None:
    keys = {"reminder"}  # what a `remind` escalation sends
    for path in PACK.glob("*.json"):
        keys |= template_keys(json.loads(path.read_text()))
    context = {
        "instance": {
            "number": "INC-000007",
            "title": "A case",
            "priority": "P2",
            "requester": "alice",
        },
        "data": {},
        "tasks": [{"title": "Look at it", "status": "open", "assignee": "bob", "due_at": None}],
        "summary": "Something broke",
        "base_url": "https://desk.example",
    }
    assert len(keys) >= 7
    for key in sorted(keys):
        subject, body = mail.render(key, context)
        assert "INC-000007" in subject, key
        assert "\n" not in subject, key
        assert "https://desk.example/instances/INC-000007" in body, key


@pytest.mark.long
def test_a_backlog_larger_than_one_run_drains_without_waiting_for_the_next_tick(
    commands: Commands, database: Database, database_url: str, redis: Redis, redis_url: str,
    clock: Clock, smtp: MailServer, tmp_path: Path,
) -> None:  # fmt: skip
    # A run takes one batch at most, within a time budget; one that stops with mail still
    # due queues the next at once, for any free worker. Before, the rest waited a tick of
    # the one worker queueing periodic jobs, so mail went no faster with more workers. A
    # burst worker, which never ticks, shows it.
    backlog = DEFAULT_BATCH + 30
    reminders_to_bob(commands, database, clock, backlog)
    Queue(timers.QUEUE, connection=redis).enqueue(relay, result_ttl=0)

    env = {"FLOWDESK_SMTP_HOST": "127.0.0.1", "FLOWDESK_SMTP_PORT": str(smtp.port)}
    log = tmp_path / "worker.log"
    with worker_process(database_url, redis_url, log, "--burst", env=env) as worker:
        assert worker.process.wait(timeout=120) == 0, worker.output()[-4000:]

    assert len(smtp.inbox.received) == backlog
    assert {row.status for row in outbox_rows(database)} == {"sent"}


@pytest.mark.long
def test_a_due_timer_does_not_wait_for_a_slow_outbox_backlog(
    commands: Commands, database: Database, database_url: str, redis: Redis, redis_url: str,
    clock: Clock, smtp: MailServer, tmp_path: Path,
) -> None:  # fmt: skip
    # Timers have a queue of their own, which a worker reads first, and a relay run makes
    # way for them after the mail it is sending. Before, a due timer waited behind relay
    # runs of five seconds each. And one relay run waits at a time: each second of a
    # backlog queued one more run in front of the duties (paging the next level, subflows).
    reminders_to_bob(commands, database, clock, 100)
    smtp.inbox.delay_s = 0.2  # a slow provider: 20 s for the backlog

    env = {"FLOWDESK_SMTP_HOST": "127.0.0.1", "FLOWDESK_SMTP_PORT": str(smtp.port)}
    duties = Queue(DUTIES, connection=redis)
    waiting: list[list[str]] = []  # the functions of the jobs on the duties queue, sampled

    def six_seconds_in() -> bool:  # long enough for relay runs to pile up, if they do
        if len(smtp.inbox.received) >= 10:  # past the periodic jobs all queued at the start
            jobs = Job.fetch_many(duties.get_job_ids(), connection=redis)
            waiting.append([job.func_name.rpartition(".")[2] for job in jobs if job])
        return len(smtp.inbox.received) >= 30

    with worker_process(database_url, redis_url, tmp_path / "worker.log", env=env) as worker:
        wait_for(six_seconds_in, worker.output)
        sent_before = len(smtp.inbox.received)
        # An incident whose escalation timers are due at once (the test clock is in the past).
        started = str(commands.start("it-incident", INCIDENT, requester="alice")["number"])
        wait_for(lambda: fired_timers(database, started) > 0, worker.output)
        sent_meanwhile = len(smtp.inbox.received) - sent_before

    assert sent_meanwhile < 15, f"the timer waited for {sent_meanwhile} mails of 0.2 s"
    assert any(row.status == "pending" for row in outbox_rows(database))  # still draining
    # One relay run waits at a time. The second's duties and the sweep of every ten
    # seconds may wait beside it; a pile-up grew by one run a second.
    assert max(jobs.count("relay") for jobs in waiting) <= 1, waiting
    assert max(len(jobs) for jobs in waiting) <= 3, f"jobs on the duties queue: {waiting}"


def reminders_to_bob(commands: Commands, database: Database, clock: Clock, count: int) -> None:
    """An outbox of `count` reminders to bob, and nothing else."""
    number = password_incident(commands)
    clear_outbox(database)
    with database.writer_session() as session, session.begin():
        ensure_user(session, "bob", clock(), email="bob@desk.example")
    for _ in range(count):
        add_message(database, number, clock(), step="work", to={"user": "bob"}, template="reminder")


def wait_for(condition: Callable[[], bool], output: Callable[[], str], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, output()[-4000:]
        time.sleep(0.05)


def fired_timers(database: Database, number: str) -> int:
    with database.reading() as session:
        found = session.scalar(
            select(func.count())
            .select_from(Timer)
            .join(Instance, Instance.id == Timer.instance_id)
            .where(Instance.number == number, Timer.status == "fired")
        )
    return int(found or 0)
