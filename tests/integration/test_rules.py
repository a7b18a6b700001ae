"""The commands' own rules, on a real database: whatever door a request came through.

The same rules are run through the web pages, the REST API and the command line in
`tests/web/test_rules_at_every_door.py`; here they are checked at the service itself,
with the cases a door cannot even express.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from engine.catalog import Document
from engine.service.commands import Commands
from engine.service.definitions import publish_all
from engine.service.errors import Busy, Conflict, InvalidInput, NotAllowed
from engine.service.people import ensure_user
from engine.service.shell import Limits
from engine.service.submissions import InvalidData
from engine.store.database import Database
from engine.store.instances import Comment, Event, Instance, Task
from engine.store.people import User
from engine.store.uow import UnitOfWork
from tests.integration.conftest import INCIDENT, Clock


def counts(database: Database) -> tuple[int, ...]:
    with database.reading() as session:
        return tuple(
            int(session.scalar(select(func.count()).select_from(model)) or 0)
            for model in (Instance, Task, Event, Comment)
        )


def started_incident(commands: Commands) -> tuple[str, int]:
    answer = commands.start("it-incident", INCIDENT, requester="alice")
    (task,) = answer["opened_tasks"]
    return str(answer["number"]), int(task["id"])


def test_the_start_data_is_checked_against_the_start_form_whoever_starts(
    commands: Commands, database: Database
) -> None:
    before = counts(database)
    with pytest.raises(InvalidData) as refused:
        commands.start("it-incident", {**INCIDENT, "summary": "", "surprise": 1})
    assert {error.field for error in refused.value.fields} == {"summary", "surprise"}
    assert counts(database) == before


def test_text_with_control_characters_or_nan_is_refused_before_anything_is_stored(
    commands: Commands, database: Database
) -> None:
    before = counts(database)
    with pytest.raises(InvalidInput, match="control character"):
        commands.start("it-incident", {**INCIDENT, "description": "bell \x07 here"})
    with pytest.raises(InvalidInput, match="not a number"):
        commands.start("it-incident", {**INCIDENT, "cost": float("nan")})
    deep: Any = "bottom"
    for _ in range(100):
        deep = [deep]
    with pytest.raises(InvalidInput, match="nested too deeply"):
        commands.start("it-incident", {**INCIDENT, "deep": deep})
    assert counts(database) == before


def test_a_task_without_a_form_takes_no_data(
    commands: Commands, database: Database, clock: Clock
) -> None:
    publish(
        database,
        clock,
        {
            "kind": "workflow",
            "format": 1,
            "key": "chore",
            "title": "A chore",
            "first": "do",
            "steps": {
                "do": {"type": "task", "assign": {"user": "bob"}, "next": "done"},
                "done": {"type": "end"},
            },
        },
    )
    (task,) = commands.start("chore", {})["opened_tasks"]
    before = counts(database)

    with pytest.raises(InvalidData, match="takes no data") as refused:
        commands.complete(task["id"], "done", {"priority": "P1"}, actor="bob")

    assert [error.field for error in refused.value.fields] == ["priority"]
    assert counts(database) == before


def publish(database: Database, clock: Clock, *documents: dict[str, Any]) -> None:
    with database.writer_session() as session, session.begin():
        publish_all(
            session, [Document(Path(f"{d['key']}.json"), d) for d in documents], clock(), "t"
        )


def test_reassigning_or_delegating_to_someone_who_cannot_act_is_refused(
    commands: Commands, database: Database
) -> None:
    _number, task = started_incident(commands)
    with database.writer_session() as session, session.begin():
        session.execute(update(User).where(User.username == "dan").values(active=False))
    before = counts(database)

    with pytest.raises(InvalidInput, match="no active user 'ghost'"):
        commands.reassign(task, actor="bob", user="ghost")
    with pytest.raises(InvalidInput, match="no active user 'dan'"):
        commands.delegate(task, actor="bob", to="dan")
    with pytest.raises(InvalidInput, match="no group 'nowhere'"):
        commands.reassign(task, actor="bob", group="nowhere")
    with pytest.raises(InvalidInput, match="already holds"):
        commands.delegate(task, actor="bob", to="bob")
    assert counts(database) == before


def test_only_the_service_desk_writes_internal_notes_and_cancels(
    commands: Commands, database: Database, clock: Clock
) -> None:
    with database.writer_session() as session, session.begin():
        ensure_user(session, "rita", clock(), roles=["requester"])
    number = commands.start("it-incident", INCIDENT, requester="rita")["number"]
    before = counts(database)

    with pytest.raises(NotAllowed, match="internal notes"):
        commands.comment(number, "psst", actor="rita", public=False)
    with pytest.raises(NotAllowed, match="may cancel"):
        commands.cancel(number, "changed my mind", actor="rita")
    with pytest.raises(InvalidInput, match="cannot be empty"):
        commands.cancel(number, "   ", actor="bob")
    assert counts(database) == before

    commands.comment(number, "Looking into it", actor="bob", public=False)
    commands.cancel(number, "a duplicate", actor="bob")


def test_a_rejection_with_its_reason_in_the_form_needs_no_separate_comment(
    commands: Commands, database: Database
) -> None:
    from tests.integration.conftest import MAJOR

    answer = commands.start("major-incident", MAJOR, requester="cole")
    (plan,) = answer["opened_tasks"]
    commands.claim(plan["id"], actor="ivy")
    planned = commands.complete(
        plan["id"], "done", {"plan": "Fail over", "rollback": "Back", "eta_minutes": 5}, actor="ivy"
    )
    (sams,) = [t for t in planned["opened_tasks"] if t["assignee"] == "sam"]

    with pytest.raises(InvalidData, match="Say why you reject"):
        commands.complete(sams["id"], "rejected", {}, actor="sam")
    done = commands.complete(sams["id"], "rejected", {"comment": "No rollback test"}, actor="sam")
    assert done["status"] == "plan_review"


def test_any_filled_reason_field_of_the_form_gives_a_rejection_its_reason_and_the_vote_shows_it(
    commands: Commands, database: Database, clock: Clock
) -> None:
    form = {
        "kind": "form",
        "format": 1,
        "key": "two-reasons",
        "title": "Your vote",
        "fields": [
            {"key": "approval_comment", "type": "textarea", "label": "For the requester"},
            {"key": "reviewer_comment", "type": "textarea", "label": "For the other reviewers"},
        ],
    }
    vote = {
        "type": "review",
        "reviewers": [{"assign": {"user": "ivy"}}, {"assign": {"user": "sam"}}],
        "form": "two-reasons",
        "quorum": "all",
        "on": {"approved": "done", "rejected": "done"},
    }
    steps = {"vote": vote, "done": {"type": "end"}}
    flow = {"kind": "workflow", "format": 1, "key": "vote", "title": "Vote", "first": "vote"}
    publish(database, clock, form, {**flow, "steps": steps})
    opened = commands.start("vote", {}, requester="alice")["opened_tasks"]
    (ivys,) = [task for task in opened if task["assignee"] == "ivy"]

    with pytest.raises(InvalidData, match="Say why you reject") as refused:
        commands.complete(ivys["id"], "rejected", {"approval_comment": " "}, actor="ivy")
    assert [error.field for error in refused.value.fields] == ["approval_comment"]
    commands.complete(ivys["id"], "rejected", {"reviewer_comment": "No rollback"}, actor="ivy")

    with database.reading() as session:
        (vote_event,) = session.scalars(select(Event).where(Event.kind == "voted")).all()
    assert (vote_event.actor, vote_event.why) == ("ivy", "No rollback")


# Retries: only what a retry can fix, a bounded number of times ------------------------------


def test_a_real_conflict_is_said_as_one_after_one_more_try_not_as_busy(
    database: Database, clock: Clock
) -> None:
    shell = Commands(database, clock=clock)
    tries: list[int] = []

    def duplicate(uow: UnitOfWork, at: datetime) -> dict[str, Any]:
        tries.append(1)
        for _ in range(2):  # the same key twice: a constraint no retry can satisfy
            uow.repository.add_command("same-key", "test", None, {}, at)
        return {}

    with pytest.raises(Conflict, match="conflicts with something saved"):
        shell.execute("test", None, duplicate)
    assert len(tries) == Limits().race_retries


def test_busy_is_said_only_after_a_real_lock_timeout(database: Database, clock: Clock) -> None:
    if not database.is_sqlite:
        pytest.skip("on PostgreSQL a command waits for its row lock; SQLite gives up on the file")
    holder = sqlite3.connect(str(database.url.database), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    waiting = Database(str(database.url), busy_timeout_ms=50)
    try:
        impatient = Commands(waiting, clock=clock, limits=Limits(retries=2))
        with pytest.raises(Busy, match="stayed busy"):
            impatient.execute("test", None, lambda uow, at: {})
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        waiting.dispose()
    assert Commands(database, clock=clock).execute("test", None, lambda uow, at: {"ok": 1}) == {
        "ok": 1
    }


def test_integrity_errors_are_races_the_first_time(database: Database) -> None:
    from engine.store.uow import Retry, retry_reason

    error = IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed"))
    assert retry_reason(error) is Retry.RACE
