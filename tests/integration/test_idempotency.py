"""Replaying a command with the same idempotency key leaves every row of every table as it was."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from engine.service.commands import Commands
from engine.service.errors import KeyReused
from engine.service.queries import instance_view
from engine.store.database import Database
from engine.store.models import Base
from tests.integration.conftest import INCIDENT, MAJOR


def snapshot(database: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in primary-key order."""
    tables = {}
    with database.reading() as session:
        for table in Base.metadata.sorted_tables:
            order = list(table.primary_key.columns)
            tables[table.name] = [
                tuple(row) for row in session.execute(select(table).order_by(*order))
            ]
    return tables


def open_task_id(database: Database, number: str, step: str | None = None) -> int:
    with database.reading() as session:
        tasks = instance_view(session, number).tasks
    return next(t.id for t in tasks if step is None or t.step == step)


Scenario = Callable[[Commands, Database], Callable[[], Any]]


def start(commands: Commands, database: Database) -> Callable[[], Any]:
    return lambda: commands.start("it-incident", INCIDENT, requester="alice", key="start-1")


def complete(commands: Commands, database: Database) -> Callable[[], Any]:
    number = commands.start("it-incident", INCIDENT, requester="alice")["number"]
    task = open_task_id(database, number)
    return lambda: commands.complete(task, "resolved", {"resolution": "ok"}, actor="bob", key="c-1")


def claim(commands: Commands, database: Database) -> Callable[[], Any]:
    number = commands.start("major-incident", MAJOR, requester="ivy")["number"]
    task = open_task_id(database, number)
    return lambda: commands.claim(task, actor="ivy", key="claim-1")


def unclaim(commands: Commands, database: Database) -> Callable[[], Any]:
    number = commands.start("major-incident", MAJOR, requester="ivy")["number"]
    task = open_task_id(database, number)
    commands.claim(task, actor="ivy")
    return lambda: commands.unclaim(task, actor="ivy", key="unclaim-1")


def reassign(commands: Commands, database: Database) -> Callable[[], Any]:
    number = commands.start("it-incident", INCIDENT, requester="alice")["number"]
    task = open_task_id(database, number)
    return lambda: commands.reassign(task, actor="bob", group="service-desk", key="r-1")


def delegate(commands: Commands, database: Database) -> Callable[[], Any]:
    number = commands.start("it-incident", INCIDENT, requester="alice")["number"]
    task = open_task_id(database, number)
    return lambda: commands.delegate(task, actor="bob", to="lee", key="d-1")


def comment(commands: Commands, database: Database) -> Callable[[], Any]:
    number = commands.start("it-incident", INCIDENT, requester="alice")["number"]
    return lambda: commands.comment(number, "Any news?", actor="alice", key="m-1")


def cancel(commands: Commands, database: Database) -> Callable[[], Any]:
    number = commands.start("it-incident", INCIDENT, requester="alice")["number"]
    return lambda: commands.cancel(number, "duplicate", actor="bob", key="x-1")


def fire_timer(commands: Commands, database: Database) -> Callable[[], Any]:
    number = commands.start("it-incident", INCIDENT, requester="alice")["number"]
    with database.reading() as session:
        timer = instance_view(session, number).timers[0].id
    return lambda: commands.fire_timer(timer, key="t-1")


@pytest.mark.parametrize(
    "scenario",
    [start, complete, claim, unclaim, reassign, delegate, comment, cancel, fire_timer],
    ids=lambda scenario: scenario.__name__,
)
def test_a_replayed_command_changes_nothing(
    scenario: Scenario, commands: Commands, database: Database
) -> None:
    command = scenario(commands, database)
    first = command()
    after_first = snapshot(database)
    assert command() == first
    assert snapshot(database) == after_first


def test_a_key_reused_for_another_command_is_refused(
    commands: Commands, database: Database
) -> None:
    number = commands.start("it-incident", INCIDENT, requester="alice", key="same")["number"]
    before = snapshot(database)
    with pytest.raises(KeyReused, match=r"used for a different request \(a start\)"):
        commands.cancel(number, "oops", actor="bob", key="same")
    assert snapshot(database) == before
