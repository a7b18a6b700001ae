"""Subflows: a parent starts its child through the outbox, waits for it, takes its result."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from engine.catalog import Document
from engine.service.commands import Commands
from engine.service.definitions import publish_all
from engine.service.errors import NotAllowed
from engine.service.subflows import Subflows
from engine.store.database import Database
from engine.store.instances import Event, Instance, Outbox, Task
from tests.integration.conftest import Clock

PROBLEM_FORM = {
    "kind": "form",
    "format": 1,
    "key": "problem-report",
    "title": "A problem",
    "fields": [
        {"key": "summary", "type": "text", "label": "Summary", "required": True},
        {"key": "incident", "type": "text", "label": "Incident", "required": True},
    ],
}
ANALYSIS_FORM = {
    "kind": "form",
    "format": 1,
    "key": "problem-analysis",
    "title": "Analysis",
    "fields": [{"key": "cause", "type": "text", "label": "Root cause", "required": True}],
}
CHILD = {
    "kind": "workflow",
    "format": 1,
    "key": "problem",
    "title": "Problem",
    "start": {"form": "problem-report", "number_prefix": "PRB"},
    "first": "analyse",
    "steps": {
        "analyse": {
            "type": "task",
            "assign": {"group": "service-desk"},
            "form": "problem-analysis",
            "on": {"known_error": "known", "solved": "solved"},
        },
        "known": {"type": "end", "status": "known_error", "outcome": "known_error"},
        "solved": {"type": "end", "status": "solved", "outcome": "solved"},
    },
}


def parent(*, wait: bool = True, data: dict[str, str] | None = None) -> dict[str, Any]:
    doc = _parent(data)
    if not wait:  # nothing comes back: no result, no routes by outcome
        doc["steps"]["problem"] = {**doc["steps"]["problem"], "wait": False}
        for name in ("result", "on"):
            del doc["steps"]["problem"][name]
        del doc["steps"]["workaround"]
    return doc


def _parent(data: dict[str, str] | None) -> dict[str, Any]:
    return {
        "kind": "workflow",
        "format": 1,
        "key": "outage",
        "title": "Outage",
        "first": "number",
        "steps": {
            "number": {
                "type": "action",
                "set": {"incident": {"expr": "instance.number"}},
                "next": "problem",
            },
            "problem": {
                "type": "subflow",
                "workflow": "problem",
                "data": data or {"summary": "summary", "incident": "incident"},
                "wait": True,
                "result": {"root_cause": "cause"},
                "on": {"known_error": "workaround"},
                "next": "close",
            },
            "workaround": {"type": "task", "assign": {"group": "service-desk"}, "next": "done"},
            "close": {"type": "task", "assign": {"group": "service-desk"}, "next": "done"},
            "done": {"type": "end"},
        },
    }


@pytest.fixture
def subflows(commands: Commands, database: Database, clock: Clock) -> Subflows:
    publish(database, clock, parent())
    return Subflows(commands)


def publish(database: Database, clock: Clock, *documents: dict[str, Any]) -> None:
    docs = [PROBLEM_FORM, ANALYSIS_FORM, CHILD, *documents]
    with database.writer_session() as session, session.begin():
        publish_all(session, [Document(Path(f"{d['key']}.json"), d) for d in docs], clock(), "t")


def instance(database: Database, number: str) -> Instance:
    with database.reading() as session:
        found = session.scalars(select(Instance).where(Instance.number == number)).one()
        session.expunge(found)
        return found


def kinds(database: Database, number: str) -> list[str]:
    with database.reading() as session:
        return list(
            session.scalars(
                select(Event.kind)
                .join(Instance, Instance.id == Event.instance_id)
                .where(Instance.number == number)
                .order_by(Event.seq)
            )
        )


def outbox(database: Database, kind: str) -> list[tuple[str, str | None]]:
    with database.reading() as session:
        rows = session.execute(
            select(Outbox.status, Outbox.error).where(Outbox.kind == kind).order_by(Outbox.id)
        )
        return [(status, error) for status, error in rows]


def child_of(database: Database, number: str) -> Instance:
    with database.reading() as session:
        (found,) = session.scalars(
            select(Instance).where(Instance.parent_id == instance(database, number).id)
        ).all()
        session.expunge(found)
        return found


def test_the_child_starts_once_with_the_parents_data_and_the_parent_takes_its_result(
    commands: Commands, database: Database, subflows: Subflows
) -> None:
    number = commands.start("outage", {"summary": "Mail is slow"})["number"]
    assert outbox(database, "start_subflow") == [("pending", None)]

    assert len(subflows.carry_out_pending()) == 1
    assert subflows.carry_out_pending() == []  # done once, never twice

    child = child_of(database, number)
    assert child.number == "PRB-000001"
    assert child.state["data"] == {"summary": "Mail is slow", "incident": number}
    assert "subflow_started" in kinds(database, number)
    assert instance(database, number).status == "open"  # still waiting

    commands.complete(
        open_task(database, child.number), "known_error", {"cause": "Disk full"}, actor="bob"
    )
    assert instance(database, child.number).status == "known_error"
    assert outbox(database, "subflow_finished") == [("pending", None)]

    assert len(subflows.carry_out_pending()) == 1

    back = instance(database, number)
    assert back.state["data"]["root_cause"] == "Disk full"
    assert [run["step"] for run in back.state["runs"]] == ["workaround"]  # routed by outcome
    assert subflows.carry_out_pending() == []


def open_task(database: Database, number: str) -> int:
    with database.reading() as session:
        (task,) = session.scalars(
            select(Task.id)
            .join(Instance, Instance.id == Task.instance_id)
            .where(Instance.number == number, Task.status == "open")
        ).all()
        return int(task)


def test_a_child_whose_data_does_not_fill_its_start_form_stops_the_parent_on_an_incident(
    commands: Commands, database: Database, clock: Clock
) -> None:
    publish(database, clock, parent())
    subflows = Subflows(commands)
    number = commands.start("outage", {})["number"]  # no summary: the child's form needs one

    subflows.carry_out_pending()

    with database.reading() as session:
        assert session.scalars(select(Instance).where(Instance.parent_id.is_not(None))).all() == []
    ((status, error),) = outbox(database, "start_subflow")
    assert status == "failed"
    assert error is not None
    assert "summary" in error
    (run,) = instance(database, number).state["runs"]
    assert run["step"] == "problem"
    assert "could not start" in run["incident"]
    assert "incident" in kinds(database, number)

    with pytest.raises(NotAllowed):
        commands.retry(number, actor="bob")  # only admins retry
    ensure_admin(database, clock)
    commands.retry(number, actor="ada")  # the same data: it fails the same way again
    subflows.carry_out_pending()
    assert [status for status, _error in outbox(database, "start_subflow")] == ["failed"] * 2
    assert "could not start" in instance(database, number).state["runs"][0]["incident"]


def ensure_admin(database: Database, clock: Clock) -> None:
    from engine.service.people import ensure_user

    with database.writer_session() as session, session.begin():
        ensure_user(session, "ada", clock(), roles=["admin"])


def test_cancelling_the_parent_cancels_the_child_it_waits_for(
    commands: Commands, database: Database, subflows: Subflows
) -> None:
    number = commands.start("outage", {"summary": "Mail is slow"})["number"]
    subflows.carry_out_pending()
    child = child_of(database, number)

    commands.cancel(number, "a duplicate of INC-000001", actor="bob")
    subflows.carry_out_pending()

    cancelled = instance(database, child.number)
    assert cancelled.status == "cancelled"
    assert cancelled.ended_at is not None
    assert outbox(database, "cancel_subflow") == [("sent", None)]
    subflows.carry_out_pending()  # the child's end reaches a parent that no longer waits
    assert outbox(database, "subflow_finished") == [("sent", "its parent no longer waits for it")]
    assert instance(database, number).status == "cancelled"


def test_a_child_started_without_waiting_starts_even_when_its_parent_ended_in_the_same_move(
    commands: Commands, database: Database, clock: Clock
) -> None:
    doc = parent(wait=False)
    doc["steps"]["problem"]["next"] = "done"  # the parent ends as it starts the child
    del doc["steps"]["close"]
    publish(database, clock, doc)
    number = commands.start("outage", {"summary": "Mail is slow"})["number"]
    assert instance(database, number).ended_at is not None

    Subflows(commands).carry_out_pending()

    child = child_of(database, number)
    assert child.parent_run is None
    assert child.ended_at is None
    assert "subflow_started" in kinds(database, number)
    assert outbox(database, "start_subflow") == [("sent", None)]


def test_a_child_started_without_waiting_runs_on_its_own(
    commands: Commands, database: Database, clock: Clock
) -> None:
    publish(database, clock, parent(wait=False))
    subflows = Subflows(commands)
    number = commands.start("outage", {"summary": "Mail is slow"})["number"]
    assert [run["step"] for run in instance(database, number).state["runs"]] == ["close"]

    subflows.carry_out_pending()
    child = child_of(database, number)
    assert child.parent_run is None
    commands.complete(open_task(database, child.number), "solved", {"cause": "x"}, actor="bob")

    assert outbox(database, "subflow_finished") == []
    assert [run["step"] for run in instance(database, number).state["runs"]] == ["close"]
