"""Notifications in the app: who is told what, in the transaction of what caused it, and by mail.

Real database (SQLite, and PostgreSQL when given), the real command path, and a real
SMTP server (aiosmtpd) on loopback for the mails people ask for.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from engine.jobs.outbox import relay_outbox
from engine.service.commands import Commands
from engine.service.errors import InvalidInput, NotFound
from engine.service.notifications import Notifications, prune_notifications
from engine.service.people import ensure_user
from engine.service.submissions import InvalidData
from engine.settings import RelaySettings
from engine.store.database import Database
from engine.store.instances import Outbox, Task, Timer
from engine.store.notifications import Notification, SentMail
from tests.infrastructure import MailServer
from tests.integration.conftest import INCIDENT, Clock

BASE_URL = "http://desk.example"


@pytest.fixture
def smtp() -> Iterator[MailServer]:
    server = MailServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def settings(smtp: MailServer) -> RelaySettings:
    return RelaySettings(
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        smtp_from="flowdesk@desk.example",
        smtp_timeout_s=5,
        base_url=BASE_URL,
    )


@pytest.fixture(autouse=True)
def requester(commands: Commands, database: Database, clock: Clock) -> None:
    """alice asks for things; she is no agent."""
    with database.writer_session() as session, session.begin():
        ensure_user(session, "alice", clock(), roles=["requester"])


def told(database: Database, who: str | None = None) -> list[tuple[str, str, str]]:
    """(recipient, kind, number) of every notification, oldest first."""
    with database.reading() as session:
        query = select(Notification.recipient, Notification.kind, Notification.number)
        if who is not None:
            query = query.where(Notification.recipient == who)
        return [tuple(row) for row in session.execute(query.order_by(Notification.id))]


def work_task(database: Database, number: str) -> Task:
    with database.reading() as session:
        return session.scalars(
            select(Task).where(Task.step == "work", Task.status == "open").order_by(Task.id.desc())
        ).first()


def start(commands: Commands) -> str:
    return str(commands.start("it-incident", INCIDENT, requester="alice")["number"])


def test_the_person_a_task_is_given_to_is_told_and_not_the_requester_who_started_it(
    commands: Commands, database: Database
) -> None:
    number = start(commands)
    task = work_task(database, number)
    assert task.assignee in ("bob", "dan")
    assert told(database) == [(task.assignee, "assigned", number)]
    notes = Notifications(commands)
    assert notes.unread(task.assignee)[0] == 1
    items, total = notes.items(task.assignee)
    assert total == 1
    assert items[0].link == f"/tasks/{task.id}"
    assert items[0].title == "The printer on floor 3 is jammed"
    assert items[0].actor is None  # the workflow routed it; alice only asked


def test_a_task_opened_by_a_colleagues_action_is_not_said_to_be_given_by_them(
    commands: Commands, database: Database
) -> None:
    number = start(commands)
    task = work_task(database, number)
    commands.complete(task.id, "needs_info", {"question": "Which floor?"}, actor=task.assignee)
    told_alice = Notifications(commands).items("alice")[0]
    assert sorted((item.kind, item.actor or "") for item in told_alice) == [
        ("assigned", ""),  # her answer to give: the workflow asked, not bob
        ("request_changed", task.assignee),  # bob moved her request on
    ]


def test_a_task_sent_to_a_queue_tells_the_group_but_not_who_sent_it(
    commands: Commands, database: Database
) -> None:
    number = start(commands)
    task = work_task(database, number)
    commands.reassign(task.id, actor=task.assignee, group="desktop-support")
    other = "dan" if task.assignee == "bob" else "bob"
    assert (other, "queue", number) in told(database)
    assert (task.assignee, "queue", number) not in told(database)
    commands.claim(task.id, actor=other)  # claiming tells nobody
    commands.reassign(task.id, actor=other, user=task.assignee, reason="yours again")
    assert told(database, task.assignee)[-1] == (task.assignee, "assigned", number)
    given = Notifications(commands).items(task.assignee)[0][0]
    assert (given.kind, given.actor) == ("assigned", other)  # a person gave it back
    assert given.summary.endswith(f"to {task.assignee}: yours again")  # and said why


def test_a_task_given_back_to_its_queue_tells_the_group_as_new_work(
    commands: Commands, database: Database
) -> None:
    number = start(commands)
    task = work_task(database, number)
    commands.reassign(task.id, actor=task.assignee, group="desktop-support")
    other = "dan" if task.assignee == "bob" else "bob"
    commands.claim(task.id, actor=other)
    before, theirs = told(database, task.assignee), told(database, other)

    commands.unclaim(task.id, actor=other)

    assert told(database, task.assignee) == [*before, (task.assignee, "queue", number)]
    assert told(database, other) == theirs  # not who gave it back


def test_the_requester_is_told_when_their_request_ends_by_someone_else(
    commands: Commands, database: Database
) -> None:
    """An end sets its status in the `ended` event, not a `status_changed`: a requester was
    told of every change of their request but its last one."""
    number = start(commands)
    task = work_task(database, number)

    commands.cancel(number, "Reported twice; handled under INC-000009", actor=str(task.assignee))

    items, _ = Notifications(commands).items("alice")
    assert [item.summary for item in items if item.kind == "request_changed"] == ["Now cancelled"]


def test_whoever_holds_the_work_hears_when_its_requester_writes(
    commands: Commands, database: Database
) -> None:
    """A requester's comment (on the tracking page, or a reply by mail) told nobody: the
    agent holding the incident saw it only by opening it."""
    number = start(commands)
    task = work_task(database, number)

    commands.comment(number, "It now shows error 0x80070005 too", actor="alice", public=True)

    assert told(database, task.assignee)[-1] == (task.assignee, "requester_replied", number)
    note = Notifications(commands).items(str(task.assignee))[0][0]
    assert "error 0x80070005" in note.summary
    assert ("alice", "requester_replied", number) not in told(database)


def test_an_sla_warning_tells_whoever_holds_the_work(
    commands: Commands, database: Database, clock: Clock
) -> None:
    number = start(commands)
    task = work_task(database, number)
    clock.advance(minutes=50)  # P2: response within one office hour, warned at 75%
    with database.reading() as session:
        due = session.scalars(
            select(Timer.id).where(Timer.status == "pending", Timer.due_at <= clock())
        ).all()
    for timer_id in due:
        commands.fire_timer(timer_id)
    kinds = [kind for _, kind, _ in told(database, task.assignee)]
    assert "sla_warning" in kinds
    items, _ = Notifications(commands).items(task.assignee)
    warning = next(item for item in items if item.kind == "sla_warning")
    assert "response 75% used" in warning.summary


def test_mentions_reach_the_service_desk_and_an_internal_note_never_the_requester(
    commands: Commands, database: Database
) -> None:
    number = start(commands)
    commands.comment(number, "@dan and @alice, see this; @nobody too", actor="bob", public=False)
    assert told(database, "dan")[-1] == ("dan", "mentioned", number)
    assert told(database, "alice") == []
    commands.comment(number, "We are on it, @alice", actor="bob", public=True)
    assert [kind for _, kind, _ in told(database, "alice")] == ["mentioned", "request_changed"]
    commands.comment(number, "Thanks! @bob", actor="alice", public=True)
    assert told(database, "bob")[-1] == ("bob", "mentioned", number)
    assert len(told(database, "alice")) == 2  # not told of her own comment


def test_the_requester_is_told_when_the_status_of_their_request_changes(
    commands: Commands, database: Database
) -> None:
    number = start(commands)
    task = work_task(database, number)
    commands.complete(
        task.id, "resolved", {"resolution": "Cleared the jam"}, actor=str(task.assignee)
    )
    items, _ = Notifications(commands).items("alice")
    by_kind = {item.kind: item for item in items}
    assert sorted(by_kind) == ["assigned", "request_changed"]  # and "Is it solved?" is hers
    assert by_kind["request_changed"].summary == "Now resolved"
    assert by_kind["request_changed"].link == f"/instances/{number}"


def test_a_refused_command_tells_nobody(commands: Commands, database: Database) -> None:
    number = start(commands)
    task = work_task(database, number)
    before = told(database)
    with pytest.raises(InvalidData):
        commands.complete(task.id, "resolved", {"resolution": 42}, actor=str(task.assignee))
    assert told(database) == before


def test_a_person_reads_and_marks_only_their_own(commands: Commands, database: Database) -> None:
    number = start(commands)
    holder = str(work_task(database, number).assignee)
    notes = Notifications(commands)
    (item,), _ = notes.items(holder)
    with pytest.raises(NotFound):
        notes.mark_read("alice", item.id)
    assert notes.unread(holder)[0] == 1
    notes.mark_read(holder, item.id)
    assert notes.unread(holder) == (0, item.id)
    assert notes.items(holder, unread_only=True) == ([], 0)
    start(commands)
    start(commands)
    assert notes.unread(holder)[0] >= 1
    assert notes.mark_all_read(holder) >= 1
    assert notes.unread(holder)[0] == 0


def test_unknown_kinds_of_mail_are_refused_and_change_nothing(commands: Commands) -> None:
    notes = Notifications(commands)
    notes.set_mail_kinds("dan", ["assigned"])
    with pytest.raises(InvalidInput) as refused:
        notes.set_mail_kinds("dan", ["queue", "everything"])
    assert refused.value.problems[0].pointer == "/mail"
    assert "everything" in refused.value.message
    assert notes.mail_kinds("dan") == ["assigned"]


def test_a_person_who_asked_for_mail_gets_it_in_text_and_html_with_a_link_back(
    commands: Commands,
    database: Database,
    clock: Clock,
    smtp: MailServer,
    settings: RelaySettings,
) -> None:
    with database.writer_session() as session, session.begin():
        for name in ("bob", "dan"):
            ensure_user(session, name, clock(), email=f"{name}@desk.example")
    notes = Notifications(commands)
    for name in ("bob", "dan"):
        notes.set_mail_kinds(name, ["assigned"])
    number = start(commands)
    task = work_task(database, number)
    report = relay_outbox(database, settings=settings, now=clock())
    assert len(report.sent) == 1
    ((to, message),) = smtp.inbox.received
    assert to == [f"{task.assignee}@desk.example"]
    assert message["Subject"] == f"Assigned to you: {number} The printer on floor 3 is jammed"
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",)).get_content()
    page = message.get_body(("html",)).get_content()
    assert f"Open it: {BASE_URL}/tasks/{task.id}" in text
    assert f'<a href="{BASE_URL}/tasks/{task.id}">' in page
    with database.reading() as session:
        kept = session.get(SentMail, report.sent[0])
        assert kept is not None
        assert kept.recipients == [f"{task.assignee}@desk.example"]
        assert kept.text_body == text.replace("\r\n", "\n")
        pending = session.scalar(
            select(func.count()).select_from(Outbox).where(Outbox.status == "pending")
        )
    assert pending == 0


def test_notifications_read_long_ago_and_very_old_ones_are_pruned(
    commands: Commands, database: Database, clock: Clock
) -> None:
    notes = Notifications(commands)
    first = start(commands)
    for recipient in {who for who, _, _ in told(database)}:
        notes.mark_all_read(recipient)
    clock.advance(days=100)
    second = start(commands)
    numbers = lambda: {number for _, _, number in told(database)}  # noqa: E731
    assert numbers() == {first, second}

    clock.advance(days=100)  # the first's are read and 200 days old; the second's unread, 100
    assert commands.write("prune notifications", prune_notifications) >= 1
    assert numbers() == {second}

    clock.advance(days=300)  # unread, but 400 days old
    assert commands.write("prune notifications", prune_notifications) >= 1
    assert told(database) == []


def test_an_unread_word_of_a_task_handed_on_is_taken_back_from_its_earlier_holder(
    commands: Commands, database: Database
) -> None:
    """Round robin gave the task to one person and an on-call page (or a colleague) gave it
    to another a moment later: the first was still told "A task is given to you"."""
    number = start(commands)
    task = work_task(database, number)
    first = str(task.assignee)
    other = "dan" if first == "bob" else "bob"
    assert (first, "assigned", number) in told(database, first)
    commands.reassign(task.id, actor=first, user=other, reason="yours")
    assert told(database, first) == []  # unread, so taken back
    assert told(database, other) == [(other, "assigned", number)]
    Notifications(commands).mark_all_read(other)
    commands.reassign(task.id, actor=other, user=first, reason="back to you")
    assert told(database, other) == [(other, "assigned", number)]  # read: it stays
