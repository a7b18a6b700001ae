"""Timed steps on RQ: timers reach a real worker through a real Redis, fire once, never early."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from redis import Redis
from rq import Queue
from sqlalchemy import func, select

from engine.jobs import context, timers
from engine.jobs.worker import run
from engine.service.commands import Commands
from engine.store.database import Database
from engine.store.instances import Event, Timer
from tests.integration.conftest import INCIDENT


def start_incident(commands: Commands) -> int:
    """An incident whose two escalation timers are already due (the fake clock is in the past)."""
    return int(commands.start("it-incident", INCIDENT, requester="alice")["instance_id"])


def escalations(database: Database, instance_id: int) -> int:
    with database.reading() as session:
        count = session.scalar(
            select(func.count())
            .select_from(Event)
            .where(Event.instance_id == instance_id, Event.kind == "escalated")
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
    queue = Queue(timers.QUEUE, connection=redis)
    assert timers.dispatch(database, queue) == 2
    assert timers.dispatch(database, queue) == 0  # handed over once
    assert all(row.dispatched_at is not None for row in timer_rows(database, instance))

    work_off(database, redis_url)
    assert escalations(database, instance) == 2
    assert {row.status for row in timer_rows(database, instance)} >= {"fired"}

    work_off(database, redis_url)  # nothing left to do, nothing done twice
    assert escalations(database, instance) == 2


def test_timers_lost_by_redis_are_swept_back_and_fire_once(
    commands: Commands, database: Database, redis: Redis, redis_url: str
) -> None:
    instances = [start_incident(commands) for _ in range(3)]
    queue = Queue(timers.QUEUE, connection=redis)
    assert timers.dispatch(database, queue) == 6
    redis.flushdb()  # Redis loses every job; the database still knows every timer

    later = datetime.now(UTC) + timedelta(minutes=1)
    assert timers.sweep(database, queue, now=later) == 6
    assert timers.sweep(database, queue, now=later) == 0  # their jobs exist again
    work_off(database, redis_url)
    assert [escalations(database, i) for i in instances] == [2, 2, 2]


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
    assert escalations(database, instance) == 1


def test_a_timer_never_acts_before_it_is_due(commands: Commands, database: Database) -> None:
    instance = start_incident(commands)
    first = min(timer_rows(database, instance), key=lambda row: row.due_at)
    due = datetime.now(UTC) + timedelta(seconds=1.2)
    context.configure(database.url.render_as_string(hide_password=False))
    try:
        answer = timers.fire(first.id, due.isoformat())
    finally:
        context.close()
    assert answer["fired"] is True
    with database.reading() as session:
        fired_at = session.scalar(select(Timer.fired_at).where(Timer.id == first.id))
    assert fired_at is not None
    assert fired_at >= due
