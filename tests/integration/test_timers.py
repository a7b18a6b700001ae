"""Timed steps on RQ: timers reach a real worker through a real Redis, fire once, never early."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from redis import Redis
from rq import Queue
from sqlalchemy import func, select

from engine.jobs import timers
from engine.jobs.worker import run
from engine.service.commands import Commands
from engine.store.database import Database
from engine.store.instances import Event, Timer
from tests.integration.conftest import INCIDENT


def start_incident(commands: Commands) -> int:
    """An incident whose two escalation timers are already due (the fake clock is in the past)."""
    return int(commands.start("it-incident", INCIDENT, requester="alice")["instance_id"])


def fired(database: Database, instance_id: int) -> int:
    """How many times a timer of the instance acted (its `timer_fired` events)."""
    with database.reading() as session:
        count = session.scalar(
            select(func.count())
            .select_from(Event)
            .where(Event.instance_id == instance_id, Event.kind == "timer_fired")
        )
    return int(count or 0)


def timer_rows(database: Database, instance_id: int) -> list[Timer]:
    with database.reading() as session:
        return list(session.scalars(select(Timer).where(Timer.instance_id == instance_id)))


def work_off(database: Database, redis_url: str) -> None:
    """Run a real RQ worker (with its scheduler) until the queue is empty."""
    run(database.url.render_as_string(hide_password=False), redis_url, burst=True)


def test_a_dispatched_timer_fires_once_in_a_real_worker(
    commands: Commands, database: Database, redis: Redis, redis_url: str
) -> None:
    instance = start_incident(commands)
    due = len(timer_rows(database, instance))
    queue = Queue(timers.QUEUE, connection=redis)
    assert timers.dispatch(database, queue) == due
    assert timers.dispatch(database, queue) == 0  # handed over once
    assert all(row.dispatched_at is not None for row in timer_rows(database, instance))

    handed_over = {row.id for row in timer_rows(database, instance)}
    work_off(database, redis_url)
    rows = {row.id: row for row in timer_rows(database, instance)}
    # Each timer handed over acted once, unless an earlier one withdrew it (a step left).
    assert {rows[i].status for i in handed_over} <= {"fired", "cancelled"}
    assert fired(database, instance) == sum(row.status == "fired" for row in rows.values()) > 0

    work_off(database, redis_url)  # nothing left to do, nothing done twice
    assert fired(database, instance) == sum(row.status == "fired" for row in rows.values())


def test_timers_lost_by_redis_are_swept_back_and_fire_once(
    commands: Commands, database: Database, redis: Redis, redis_url: str
) -> None:
    instances = [start_incident(commands) for _ in range(3)]
    due = [len(timer_rows(database, i)) for i in instances]  # all due: the clock is in the past
    queue = Queue(timers.QUEUE, connection=redis)
    assert timers.dispatch(database, queue) == sum(due)
    redis.flushdb()  # Redis loses every job; the database still knows every timer

    later = datetime.now(UTC) + timedelta(minutes=1)
    assert timers.sweep(database, queue, now=later) == sum(due)
    assert timers.sweep(database, queue, now=later) == 0  # their jobs exist again
    work_off(database, redis_url)
    for instance in instances:
        rows = timer_rows(database, instance)
        assert fired(database, instance) == sum(row.status == "fired" for row in rows) > 0


def test_the_same_timer_delivered_twice_acts_once(
    commands: Commands, database: Database, redis: Redis, redis_url: str
) -> None:
    instance = start_incident(commands)
    first = min(timer_rows(database, instance), key=lambda row: row.due_at)
    queue = Queue(timers.QUEUE, connection=redis)
    due = first.due_at.isoformat()
    queue.enqueue(timers.fire, first.id, due, job_id="copy-1")
    queue.enqueue(timers.fire, first.id, due, job_id="copy-2")
    work_off(database, redis_url)
    assert fired(database, instance) == 1


def test_a_timer_never_acts_before_it_is_due(
    commands: Commands, database: Database, redis: Redis, redis_url: str
) -> None:
    instance = start_incident(commands)
    first = min(timer_rows(database, instance), key=lambda row: row.due_at)
    due = datetime.now(UTC) + timedelta(seconds=1.5)
    queue = Queue(timers.QUEUE, connection=redis)
    queue.enqueue(timers.fire, first.id, due.isoformat(), job_id="early-copy")
    work_off(database, redis_url)  # runs the early job: it puts itself back, acting on nothing
    assert fired(database, instance) == 0
    time.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds()) + 1.1)
    work_off(database, redis_url)
    assert fired(database, instance) == 1
    with database.reading() as session:
        fired_at = session.scalar(select(Timer.fired_at).where(Timer.id == first.id))
    assert fired_at is not None
    assert fired_at >= due
