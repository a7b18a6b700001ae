"""Timed steps on RQ: timers reach a real worker through a real Redis, fire once, never early."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from redis import Redis
from rq import Queue
from rq.job import Job
from rq.registry import ScheduledJobRegistry
from sqlalchemy import func, select, update

from engine.jobs import timers
from engine.jobs.worker import (
    dispatch_timers,
    every_second,
    paging,
    periodic,
    relay,
    run,
    subflows,
)
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


def fired_once_when_due(
    database: Database, redis_url: str, instance: int, timer_id: int, due: datetime
) -> datetime:
    """Wait past `due`, run a worker, and return when the timer fired (it fired once)."""
    time.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds()) + 1.1)
    work_off(database, redis_url)
    assert fired(database, instance) == 1
    with database.reading() as session:
        fired_at = session.scalar(select(Timer.fired_at).where(Timer.id == timer_id))
    assert fired_at is not None
    return fired_at


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


def test_a_timer_whose_job_a_killed_worker_left_unscheduled_is_swept_back(
    commands: Commands, database: Database, redis: Redis, redis_url: str
) -> None:
    # A worker killed while moving a timer's job out of the schedule can leave the job in
    # Redis but waiting nowhere; a sweep that asked only whether the job exists kept
    # such a timer pending for good (seen once in 300 by the worker-kill fault test).
    instance = start_incident(commands)
    rows = timer_rows(database, instance)
    queue = Queue(timers.QUEUE, connection=redis)
    assert timers.dispatch(database, queue) == len(rows)
    stranded = min(rows, key=lambda row: row.due_at)
    ScheduledJobRegistry(queue=queue).remove(timers.job_id(stranded.id))
    assert Job.exists(timers.job_id(stranded.id), connection=redis)

    later = datetime.now(UTC) + timedelta(minutes=1)
    assert timers.sweep(database, queue, now=later) == 1
    assert timers.sweep(database, queue, now=later) == 0  # scheduled again
    work_off(database, redis_url)
    assert {row.id: row.status for row in timer_rows(database, instance)}[stranded.id] != (
        "pending"
    )


def test_moving_due_timers_leaves_each_one_scheduled_or_in_a_batch_job(
    commands: Commands, database: Database, redis: Redis
) -> None:
    instances = [start_incident(commands) for _ in range(2)]
    queue = Queue(timers.QUEUE, connection=redis)
    handed = timers.dispatch(database, queue)
    assert handed > 0
    assert timers.move_due(queue, now=datetime.now(UTC) + timedelta(minutes=1)) == handed
    batched = [timer for job in queue.get_jobs() for timer, _due in job.args[0]]
    mine = {row.id for i in instances for row in timer_rows(database, i)}
    assert sorted(batched) == sorted(mine)
    assert ScheduledJobRegistry(queue=queue).get_job_ids() == []
    assert not any(Job.exists(timers.job_id(t), connection=redis) for t in mine)


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
    # Due well after the first worker is done, even on a machine busy enough to take seconds
    # to start one (1.5 s was not always enough under a loaded CI).
    due = datetime.now(UTC) + timedelta(seconds=6)
    queue = Queue(timers.QUEUE, connection=redis)
    queue.enqueue(timers.fire, first.id, due.isoformat(), job_id="early-copy")
    work_off(database, redis_url)  # runs the early job: it puts itself back, acting on nothing
    assert datetime.now(UTC) < due, "the worker took too long to tell early from due"
    assert fired(database, instance) == 0
    assert fired_once_when_due(database, redis_url, instance, first.id, due) >= due


def test_a_stale_job_never_fires_a_timer_before_the_database_says_it_is_due(
    commands: Commands, database: Database, redis: Redis, redis_url: str
) -> None:
    """A job carries the due time it was queued with; the database's is the truth (a timer
    moved later, a database restored under a Redis that kept old jobs). A job for a timer
    that is gone does nothing and does not fail."""
    instance = start_incident(commands)
    first = min(timer_rows(database, instance), key=lambda row: row.due_at)
    told = first.due_at.isoformat()  # due already, says the job
    truth = datetime.now(UTC) + timedelta(seconds=6)
    with database.writer_session() as session, session.begin():
        session.execute(update(Timer).where(Timer.id == first.id).values(due_at=truth))
    queue = Queue(timers.QUEUE, connection=redis)
    queue.enqueue(timers.fire, first.id, told, job_id="stale-copy")
    queue.enqueue(timers.fire, 999_999, told, job_id="gone-copy")
    work_off(database, redis_url)  # the stale job puts itself back for the database's time
    assert datetime.now(UTC) < truth, "the worker took too long to tell early from due"
    assert fired(database, instance) == 0
    assert Job.fetch("gone-copy", connection=redis).get_status() == "finished"
    assert fired_once_when_due(database, redis_url, instance, first.id, truth) >= truth


def test_the_duties_of_every_second_run_as_one_periodic_job(
    commands: Commands, database: Database, redis: Redis, redis_url: str
) -> None:
    """Handing timers over, the relay, subflows and paging: one job a second, not four
    (RQ's own handling of a job costs more than most of these runs)."""
    registered = [job.func for job in periodic(redis).get_jobs()]
    assert registered.count(every_second) == 1
    assert not {dispatch_timers, relay, subflows, paging} & set(registered)

    instance = start_incident(commands)
    job = Queue(timers.QUEUE, connection=redis).enqueue(every_second)
    work_off(database, redis_url)
    job.refresh()
    done = job.return_value()
    assert list(done) == ["dispatch_timers", "relay", "subflows", "paging"]
    assert done["dispatch_timers"] == len(timer_rows(database, instance)) > 0
    assert all(row.dispatched_at is not None for row in timer_rows(database, instance))
    work_off(database, redis_url)  # the timers it handed over are due: they fire
    assert fired(database, instance) > 0
