"""Retention policies archive or delete ended instances, whole, once, and nothing else."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from redis import Redis
from rq import Queue
from sqlalchemy import Connection, func, select, text, update
from sqlalchemy.engine import Engine

from engine.jobs import timers
from engine.jobs.worker import apply_retention, periodic
from engine.service.archive import dependent_tables
from engine.service.casework import Casework
from engine.service.commands import Commands
from engine.service.errors import InvalidInput, NotAllowed, NotFound
from engine.service.people import ensure_user
from engine.service.retention import Applied, Retention
from engine.store.database import Database
from engine.store.instances import Instance, Task
from engine.store.search import SEARCH_TABLE
from tests.integration.conftest import INCIDENT, Clock
from tests.integration.workers import worker_process


def finished_incident(commands: Commands, database: Database, **changes: Any) -> str:
    """An incident reported, worked, confirmed and closed, with a comment on the way."""
    number = str(
        commands.start("it-incident", {**INCIDENT, **changes}, requester="alice")["number"]
    )
    commands.comment(number, "Looking at it", actor="bob")
    for outcome, data in (("resolved", {"resolution": "Cleared"}), ("approved", {})):
        with database.reading() as session:
            task = session.scalars(
                select(Task)
                .join(Instance, Instance.id == Task.instance_id)
                .where(Instance.number == number, Task.status == "open")
            ).one()
        commands.complete(task.id, outcome, data, actor=task.assignee or "bob")
    return number


def numbers(database: Database) -> set[str]:
    with database.reading() as session:
        return set(session.scalars(select(Instance.number)))


def tables_holding(connection: Connection) -> set[str]:
    """The tables hanging off instances that hold any row."""
    return {
        table.name
        for table, _ in dependent_tables()
        if connection.execute(select(func.count()).select_from(table)).scalar_one()
    }


def orphans(connection: Connection) -> dict[str, int]:
    """Rows of every table hanging off an instance whose parent row is gone."""
    found = {}
    for table, column in dependent_tables():
        target = next(iter(column.foreign_keys)).column
        lost = connection.execute(
            select(func.count())
            .select_from(table)
            .where(column.is_not(None), ~select(target).where(target == column).exists())
        ).scalar_one()
        if lost:
            found[table.name] = lost
    key = "instance_id" if connection.dialect.name == "postgresql" else "rowid"
    lost_text = connection.execute(
        text(f"SELECT count(*) FROM {SEARCH_TABLE} WHERE {key} NOT IN (SELECT id FROM instances)")
    ).scalar_one()
    if lost_text:
        found[SEARCH_TABLE] = lost_text
    return found


def test_instances_are_kept_forever_without_a_policy(
    commands: Commands, database: Database, clock: Clock
) -> None:
    number = finished_incident(commands, database)
    clock.advance(days=3650)
    assert Retention(commands).apply() == Applied([], [])
    assert number in numbers(database)
    assert Retention(commands).policy("it-incident").action == "keep"


def test_delete_removes_old_ended_instances_and_every_row_hanging_off_them(
    commands: Commands, database: Database, clock: Clock
) -> None:
    old = finished_incident(commands, database)
    other = finished_incident(commands, database)
    Casework(commands).link(old, other, actor="bob")
    commands.comment(old, "A keyed note", actor="bob", public=False, key="note-1")
    running = str(commands.start("it-incident", INCIDENT, requester="alice")["number"])
    clock.advance(days=20)
    recent = finished_incident(commands, database)
    retention = Retention(commands)
    retention.set_policy("it-incident", "delete", 10, actor=None)
    clock.advance(days=5)
    with database.engine.connect() as connection:
        hanging = tables_holding(connection)
    # The orphan check below looks at tables that held rows of the deleted instances.
    assert {"events", "tasks", "timers", "comments", "notifications"} <= hanging
    assert {"step_runs", "instance_links", "commands"} <= hanging

    assert sorted(retention.apply().deleted) == sorted([old, other])
    assert numbers(database) == {running, recent}
    with database.engine.connect() as connection:
        assert orphans(connection) == {}
    # Found by no search either, and the next number is new, never one that was deleted.
    assert retention.apply() == Applied([], [])
    assert commands.start("it-incident", INCIDENT)["number"] == "INC-000005"


def test_archive_keeps_the_whole_record_findable_by_number(
    commands: Commands, database: Database, clock: Clock
) -> None:
    number = finished_incident(commands, database)
    retention = Retention(commands)
    retention.set_policy("it-incident", "archive", 30, actor=None)
    clock.advance(days=31)

    assert retention.apply().archived == [number]
    assert number not in numbers(database)
    record = retention.archived(number.lower())
    assert record["number"] == number
    assert record["instance"]["status"] == "closed"
    kinds = [event["kind"] for event in record["rows"]["events"]]
    assert kinds[0] == "started"
    assert kinds[-1] == "ended"
    assert [c["body"] for c in record["rows"]["comments"]] == ["Looking at it"]
    assert {t["outcome"] for t in record["rows"]["tasks"]} == {"resolved", "approved"}
    assert retention.archived_numbers("it-incident") == [number]
    with database.engine.connect() as connection:
        assert orphans(connection) == {}
    with pytest.raises(NotFound, match="INC-000099"):
        retention.archived("INC-000099")
    with pytest.raises(NotAllowed, match="only an admin may read the archive"):
        retention.archived(number, actor="bob")  # internal notes are in it


def test_a_parent_waits_for_its_running_child(
    commands: Commands, database: Database, clock: Clock
) -> None:
    parent = finished_incident(commands, database)
    child = str(commands.start("it-incident", INCIDENT, requester="alice")["number"])
    with database.engine.begin() as connection:
        connection.execute(
            update(Instance)
            .where(Instance.number == child)
            .values(
                parent_id=select(Instance.id).where(Instance.number == parent).scalar_subquery()
            )
        )
    retention = Retention(commands)
    retention.set_policy("it-incident", "delete", 1, actor=None)
    clock.advance(days=2)
    assert retention.apply().deleted == []
    assert numbers(database) == {parent, child}


def test_a_bad_policy_says_where_and_changes_nothing(commands: Commands) -> None:
    retention = Retention(commands)
    for action, days, where in (
        ("shred", 3, "/action"),
        ("delete", 0, "/after_days"),
        ("archive", None, "/after_days"),
        ("delete", 36_501, "/after_days"),
    ):
        with pytest.raises(InvalidInput) as refused:
            retention.set_policy("it-incident", action, days, actor=None)
        assert refused.value.problems[0].pointer == where
    assert retention.policies() == []


def test_only_admins_set_policies_and_only_for_workflows_that_exist(
    commands: Commands, database: Database, clock: Clock
) -> None:
    retention = Retention(commands)
    with pytest.raises(NotAllowed, match="retention"):
        retention.set_policy("it-incident", "delete", 30, actor="bob")
    with pytest.raises(NotFound, match="no-such-flow"):
        retention.set_policy("no-such-flow", "delete", 30, actor=None)
    with database.writer_session() as session, session.begin():
        ensure_user(session, "root", clock(), roles=["admin"])
    assert retention.set_policy("it-incident", "delete", 30, actor="root").updated_by == "root"
    retention.set_policy("it-incident", "keep", None, actor="root")
    assert retention.policies() == []


def test_two_workers_applying_at_once_archive_each_instance_once(
    commands: Commands, database: Database, database_url: str, clock: Clock
) -> None:
    made = {finished_incident(commands, database) for _ in range(12)}
    Retention(commands).set_policy("it-incident", "archive", 1, actor=None)
    clock.advance(days=2)
    results: list[Applied] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def worker() -> None:
        own = Database(database_url)
        try:
            barrier.wait()
            results.append(Retention(Commands(own, clock=clock)).apply(batch=3))
        except BaseException as error:
            errors.append(error)
        finally:
            own.dispose()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    archived = [n for result in results for n in result.archived]
    assert sorted(archived) == sorted(made)
    assert numbers(database) == set()
    _assert_archive_count(database.engine, len(made))


def _assert_archive_count(engine: Engine, expected: int) -> None:
    with engine.connect() as connection:
        count: Callable[[], int] = lambda: connection.execute(  # noqa: E731
            text("SELECT count(*) FROM archived_instances")
        ).scalar_one()
        assert count() == expected


def test_the_worker_applies_the_policies_in_its_periodic_job(
    commands: Commands, database: Database, database_url: str, redis: Redis, redis_url: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    # The fake clock is weeks behind the worker's real one: these ended long ago for it.
    number = finished_incident(commands, database)
    Retention(commands).set_policy("it-incident", "archive", 1, actor=None)
    assert any(job.func is apply_retention for job in periodic(redis).get_jobs())
    Queue(timers.QUEUE, connection=redis).enqueue(apply_retention)

    with worker_process(database_url, redis_url, tmp_path / "worker.log", "--burst") as worker:
        assert worker.process.wait(timeout=60) == 0, worker.output()[-4000:]

    assert numbers(database) == set()
    assert Retention(commands).archived(number)["number"] == number


def test_an_instance_a_command_holds_is_passed_over_until_the_next_run(
    commands: Commands, database: Database, clock: Clock
) -> None:
    if database.is_sqlite:
        pytest.skip("SQLite's writers take turns: the job waits for the command")
    held, free = (finished_incident(commands, database) for _ in range(2))
    retention = Retention(commands)
    retention.set_policy("it-incident", "delete", 1, actor=None)
    clock.advance(days=2)
    with database.engine.connect() as connection, connection.begin():
        # What a command on `held` does while it runs: hold the instance's row lock.
        connection.execute(select(Instance.id).where(Instance.number == held).with_for_update())
        assert retention.apply().deleted == [free]  # not waiting for the command
    assert retention.apply().deleted == [held]
