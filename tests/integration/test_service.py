"""The service layer carries an incident from report to closure, durably and safely."""

from __future__ import annotations

import json
import shutil
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from engine.core.calendars import Calendar
from engine.service.commands import Commands, Limits
from engine.service.definitions import load_folder
from engine.service.errors import Conflict, InvalidInput, NotAllowed, NotFound, TooLarge
from engine.service.queries import instance_view, open_tasks
from engine.store.database import Database
from engine.store.definitions import DefinitionVersion
from engine.store.instances import Event, Instance, Outbox, Task, Timer
from tests.integration.conftest import INCIDENT, MAJOR, PACK, Clock


def only_open_task(database: Database, number: str) -> Task:
    with database.reading() as session:
        tasks = instance_view(session, number).tasks
    assert len(tasks) == 1, tasks
    return tasks[0]


def incident(commands: Commands, **changes: Any) -> str:
    return str(commands.start("it-incident", {**INCIDENT, **changes}, requester="alice")["number"])


def test_an_incident_goes_from_report_to_closure(commands: Commands, database: Database) -> None:
    number = incident(commands)
    assert number == "INC-000001"
    work = only_open_task(database, number)
    assert (work.step, work.candidate_group, work.assignee) == ("work", "desktop-support", "bob")
    commands.complete(work.id, "resolved", {"resolution": "Cleared the jam"}, actor="bob")
    confirm = only_open_task(database, number)
    assert (confirm.step, confirm.assignee) == ("confirm", "alice")
    result = commands.complete(confirm.id, "approved", {"feedback": "Thanks"}, actor="alice")
    assert result["status"] == "closed"
    assert result["ended"]
    with database.reading() as session:
        view = instance_view(session, number)
        kinds = [event.kind for event in view.events]
        assert view.instance.status == "closed"
        assert view.instance.priority == "P2"
        assert view.data["resolution"] == "Cleared the jam"
        assert kinds[0] == "started"
        assert kinds[-1] == "ended"
        assert [e.seq for e in view.events] == list(range(1, len(view.events) + 1))
        routed = [e.why for e in view.events if e.kind == "routed"]
        assert "otherwise: no condition matched" in routed
        assert (
            session.scalar(select(func.count()).select_from(Timer).where(Timer.status == "pending"))
            == 0
        )


def test_numbers_count_up_per_prefix(commands: Commands) -> None:
    assert [incident(commands) for _ in range(3)] == ["INC-000001", "INC-000002", "INC-000003"]
    assert commands.start("major-incident", MAJOR, requester="ivy")["number"] == "MAJ-000001"


def test_a_failed_start_takes_no_number(commands: Commands) -> None:
    incident(commands)
    with pytest.raises(TooLarge):
        commands.start("it-incident", {**INCIDENT, "description": "x" * 300_000})
    assert incident(commands) == "INC-000002"


def test_round_robin_spreads_a_groups_work(commands: Commands, database: Database) -> None:
    assignees = []
    for _ in range(4):
        number = incident(commands)
        assignees.append(only_open_task(database, number).assignee)
    assert assignees == ["bob", "dan", "bob", "dan"]


def test_someone_else_cannot_complete_a_task_and_nothing_changes(
    commands: Commands, database: Database
) -> None:
    number = incident(commands)
    work = only_open_task(database, number)
    with pytest.raises(NotAllowed, match="assigned to bob, not erin"):
        commands.complete(work.id, "resolved", actor="erin")
    assert only_open_task(database, number).id == work.id


def test_completing_twice_says_who_completed_it(commands: Commands, database: Database) -> None:
    work = only_open_task(database, incident(commands))
    commands.complete(work.id, "resolved", {"resolution": "done"}, actor="bob")
    with pytest.raises(Conflict, match="already completed by bob"):
        commands.complete(work.id, "resolved", actor="bob")


def test_an_outcome_the_step_lacks_is_refused(commands: Commands, database: Database) -> None:
    work = only_open_task(database, incident(commands))
    with pytest.raises(InvalidInput, match="choose one of: resolved, needs_info"):
        commands.complete(work.id, "fixed", actor="bob")


def test_data_over_the_limit_is_refused_and_stores_nothing(
    database: Database, clock: Clock
) -> None:
    with database.writer_session() as session, session.begin():
        load_folder(session, PACK, clock(), None)
    small = Commands(database, clock=clock, limits=Limits(max_data_bytes=2048))
    with pytest.raises(TooLarge, match="the limit is 2 KB"):
        small.start("it-incident", {**INCIDENT, "description": "x" * 3000})
    with database.reading() as session:
        assert session.scalar(select(func.count()).select_from(Instance)) == 0


def test_claim_and_unclaim_a_queued_task(commands: Commands, database: Database) -> None:
    number = commands.start("major-incident", MAJOR, requester="ivy")["number"]
    plan = only_open_task(database, number)
    assert (plan.assignee, plan.candidate_group) == (None, "incident-commanders")
    with pytest.raises(NotAllowed, match="not in the group"):
        commands.claim(plan.id, actor="bob")
    commands.claim(plan.id, actor="ivy")
    with database.reading() as session:
        assert [t.id for t in open_tasks(session, "ivy")] == [plan.id]
    commands.unclaim(plan.id, actor="ivy")
    assert only_open_task(database, number).assignee is None


def test_reassign_and_delegate(commands: Commands, database: Database) -> None:
    work = only_open_task(database, incident(commands))
    commands.delegate(work.id, actor="bob", to="lee")
    commands.reassign(work.id, actor="bob", user="dan", reason="Dan knows printers")
    with pytest.raises(NotAllowed):
        commands.complete(work.id, "resolved", actor="lee")
    commands.complete(work.id, "resolved", {"resolution": "ok"}, actor="dan")


def test_comments_and_cancel_are_recorded(commands: Commands, database: Database) -> None:
    number = incident(commands)
    commands.comment(number, "  Any news?  ", actor="alice")
    with pytest.raises(InvalidInput):
        commands.comment(number, "   ", actor="alice")
    commands.cancel(number, "reported twice", actor="bob")
    with pytest.raises(Conflict, match="already ended"):
        commands.cancel(number, "again", actor="bob")
    with database.reading() as session:
        view = instance_view(session, number)
        assert [c.body for c in view.comments] == ["Any news?"]
        assert view.instance.status == "cancelled"
        assert view.tasks == []
        cancelled = session.scalar(select(Task.status).where(Task.instance_id == view.instance.id))
        assert cancelled == "cancelled"
        assert "reported twice" in [e.why for e in view.events]


def test_firing_a_timer_escalates_once(
    commands: Commands, database: Database, clock: Clock
) -> None:
    number = incident(commands)
    with database.reading() as session:
        timers = instance_view(session, number).timers
    first = timers[0]
    clock.now = first.due_at
    assert commands.fire_timer(first.id)["fired"] is True
    assert commands.fire_timer(first.id)["fired"] is False
    with database.reading() as session:
        view = instance_view(session, number)
        assert [e.kind for e in view.events].count("escalated") == 1
        reminders = session.scalars(select(Outbox).where(Outbox.kind == "notify")).all()
        assert [r.payload["template"] for r in reminders] == ["reminder"]


def test_effects_wait_in_the_outbox(commands: Commands, database: Database) -> None:
    incident(commands, category="password")
    with database.reading() as session:
        rows = session.scalars(select(Outbox).order_by(Outbox.id)).all()
        notify = [r.payload for r in rows if r.kind == "notify"]
        assert notify[0]["template"] == "password-reset"
        assert notify[0]["to"] == "requester"
        assert {r.kind for r in rows} == {"notify"}
        undispatched = select(func.count()).select_from(Timer).where(Timer.dispatched_at.is_(None))
        assert session.scalar(undispatched) == 1  # the confirmation's 3-day timer


def test_loading_the_pack_twice_creates_no_new_version(database: Database, clock: Clock) -> None:
    with database.writer_session() as session, session.begin():
        first = load_folder(session, PACK, clock(), None)
    with database.writer_session() as session, session.begin():
        second = load_folder(session, PACK, clock(), None)
    assert all(p.created for p in first)
    assert not any(p.created for p in second)
    published = [p for p in first if p.kind != "group"]  # and the groups it names, made once
    assert {p.kind for p in first} - {p.kind for p in published} <= {"group"}
    assert not [p for p in second if p.kind == "group"]
    with database.reading() as session:
        assert session.scalar(select(func.count()).select_from(DefinitionVersion)) == len(published)


def test_an_instance_stays_on_the_version_it_started_on(
    commands: Commands, database: Database, clock: Clock, tmp_path: Any
) -> None:
    number = incident(commands)
    pack = tmp_path / "pack"
    shutil.copytree(PACK, pack)
    flow = json.loads((pack / "it-incident.json").read_text())
    flow["steps"]["work"]["label"] = "Fix it"
    flow["steps"]["work"]["title"] = "FIX {{ summary }}"
    (pack / "it-incident.json").write_text(json.dumps(flow))
    with database.writer_session() as session, session.begin():
        published = {p.key: p for p in load_folder(session, pack, clock(), None)}
    assert published["it-incident"].version == 2
    assert published["it-incident"].created
    newer = incident(commands)
    assert only_open_task(database, number).title.startswith("INC-000001 P2")
    assert only_open_task(database, newer).title.startswith("FIX ")
    with database.reading() as session:
        versions = dict(
            session.execute(select(Instance.number, Instance.workflow_version_id)).all()
        )
    assert versions[number] != versions[newer]


def test_publishing_a_broken_workflow_publishes_nothing(
    database: Database, clock: Clock, tmp_path: Any
) -> None:
    pack = tmp_path / "pack"
    shutil.copytree(PACK, pack)
    flow = json.loads((pack / "it-incident.json").read_text())
    flow["steps"]["work"]["on"]["resolved"] = "nowhere"
    (pack / "it-incident.json").write_text(json.dumps(flow))
    expected = "/steps/work/on/resolved: there is no step 'nowhere'"
    with (
        pytest.raises(InvalidInput, match=expected),
        database.writer_session() as session,
        session.begin(),
    ):
        load_folder(session, pack, clock(), None)
    with database.reading() as session:
        assert session.scalar(select(func.count()).select_from(DefinitionVersion)) == 0


def test_unknown_things_are_not_found(commands: Commands) -> None:
    with pytest.raises(NotFound, match="no published workflow 'nope'"):
        commands.start("nope", {})
    with pytest.raises(NotFound, match="no task 999"):
        commands.complete(999, "resolved", actor="bob")
    with pytest.raises(NotFound, match="no instance INC-999999"):
        commands.cancel("INC-999999", "x", actor="bob")


def test_events_say_who_did_what(commands: Commands, database: Database) -> None:
    work = only_open_task(database, incident(commands))
    commands.complete(work.id, "resolved", {"resolution": "ok"}, actor="bob", key="k-1")
    with database.reading() as session:
        rows = session.scalars(select(Event).where(Event.command == "k-1")).all()
    assert rows
    assert {row.actor for row in rows} == {"bob"}
    assert rows[0].kind == "task_completed"


def test_sla_due_times_and_breaches_are_columns_of_the_instance(
    commands: Commands, database: Database, clock: Clock
) -> None:
    number = incident(commands)  # P2: resolution in 8 business hours of the office calendar

    def row() -> Instance:
        with database.reading() as session:
            found = session.scalars(select(Instance).where(Instance.number == number)).one()
            return found

    started = row()
    assert started.resolution_due_at is not None
    assert started.resolution_due_at > clock()
    assert started.resolution_breached is False
    work = only_open_task(database, number)
    clock.advance(minutes=10)
    commands.complete(work.id, "needs_info", {"question": "Which floor?"}, actor="bob")
    assert row().resolution_due_at is None  # paused while waiting on the requester
    clock.advance(hours=1)
    reply = only_open_task(database, number)
    commands.complete(reply.id, "done", {"reply": "Third"}, actor="alice")
    resumed = row().resolution_due_at
    assert resumed is not None
    office = Calendar.from_document(json.loads((PACK / "calendars" / "office.json").read_text()))
    # Moved out by the paused hour, counted in office hours (so past the evening).
    assert office.between(started.resolution_due_at, resumed) == timedelta(hours=1)


def test_an_on_call_task_goes_to_whoever_is_on_call_now(
    commands: Commands, database: Database, clock: Clock, tmp_path: Any
) -> None:
    from engine.service.people import add_shift

    flow = {
        "kind": "workflow",
        "format": 1,
        "key": "page",
        "title": "Page the on-call engineer",
        "first": "respond",
        "steps": {
            "respond": {"type": "task", "assign": {"on_call": "network-on-call"}, "next": "done"},
            "done": {"type": "end"},
        },
    }
    (tmp_path / "page.json").write_text(json.dumps(flow))
    with database.writer_session() as session, session.begin():
        load_folder(session, tmp_path, clock(), None)
        add_shift(
            session,
            "network-on-call",
            "erin",
            clock() - timedelta(hours=1),
            clock() + timedelta(hours=7),
        )
        add_shift(
            session,
            "network-on-call",
            "lee",
            clock() + timedelta(hours=7),
            clock() + timedelta(hours=15),
        )
    now = commands.start("page", {})["opened_tasks"][0]
    assert (now["assignee"], now["group"]) == ("erin", "network-on-call")
    clock.advance(hours=8)
    later = commands.start("page", {})["opened_tasks"][0]
    assert later["assignee"] == "lee"
    clock.advance(hours=10)
    nobody = commands.start("page", {})["opened_tasks"][0]
    assert (nobody["assignee"], nobody["group"]) == (None, "network-on-call")
