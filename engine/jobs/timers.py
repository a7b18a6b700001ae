"""Timed steps on RQ: dispatch pending timers with `enqueue_at`, sweep for lost ones, fire them.

The `timers` table is the truth; Redis only holds work. After commit a timer
row has no `dispatched_at`; `dispatch` hands it to RQ to run at its due time
(job id `timer-<id>`, so handing it over twice keeps one job) and stamps it.
RQ's scheduler works in whole seconds, so a timer is handed over for the next
whole second: it may run up to a second late, never early.
`sweep` finds pending timers that are due but whose job Redis no longer has
(flushed, restarted, lost) and hands them over again. `fire` is the job: it
fires the timer through the service, which re-checks under the instance lock
that it is still pending, so a timer delivered twice acts once. A job that still
finds itself early puts itself back rather than act.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from redis import Redis
from rq import Queue
from rq.job import Job
from sqlalchemy import select, update

from engine.jobs import context
from engine.store.database import Database
from engine.store.instances import Timer

#: The queue timed steps run on.
QUEUE = "flowdesk-timers"

#: How many timers one dispatch or sweep hands over at most.
BATCH = 1000

#: A due timer whose job is missing after this long is treated as lost by Redis.
SWEEP_GRACE = timedelta(seconds=5)

#: Longest a job waits in-process for its timer's due time before re-queueing itself;
#: more would hold up the worker's other jobs.
MAX_EARLY_WAIT_S = 0.05


def job_id(timer_id: int) -> str:
    """The RQ job id of a timer: deterministic, so a second hand-over replaces the first."""
    return f"timer-{timer_id}"


def utcnow() -> datetime:
    return datetime.now(UTC)


def _hand_over(queue: Queue, timer_id: int, due: datetime) -> None:
    # RQ's scheduler keeps times in whole seconds, cut down: a job due at 10.7 s would be
    # moved to the queue at 10 s. Handing it over at the next whole second never is early.
    whole = due.replace(microsecond=0) + (timedelta(seconds=1) if due.microsecond else timedelta())
    queue.enqueue_at(
        whole,
        fire,
        timer_id,
        due.isoformat(),
        job_id=job_id(timer_id),
        result_ttl=60,
        failure_ttl=7 * 24 * 3600,
    )


def dispatch(database: Database, queue: Queue, limit: int = BATCH) -> int:
    """Hand every pending, not yet dispatched timer to RQ; return how many were handed over."""
    with database.reading() as session:
        rows = session.execute(
            select(Timer.id, Timer.due_at)
            .where(Timer.status == "pending", Timer.dispatched_at.is_(None))
            .order_by(Timer.due_at)
            .limit(limit)
        ).all()
    for timer_id, due in rows:
        _hand_over(queue, timer_id, due)
    if rows:
        # Stamped after the hand-over: a crash in between dispatches again, which the
        # deterministic job id and the idempotent firing make harmless.
        with database.writer_session() as session, session.begin():
            session.execute(
                update(Timer)
                .where(Timer.id.in_([timer_id for timer_id, _due in rows]))
                .values(dispatched_at=utcnow())
            )
    return len(rows)


def sweep(database: Database, queue: Queue, now: datetime | None = None) -> int:
    """Hand over again every due, pending timer whose job Redis no longer has."""
    now = now or utcnow()
    with database.reading() as session:
        rows = session.execute(
            select(Timer.id, Timer.due_at)
            .where(Timer.status == "pending", Timer.due_at <= now - SWEEP_GRACE)
            .order_by(Timer.due_at)
            .limit(BATCH)
        ).all()
    lost = [(t, due) for t, due in rows if not Job.exists(job_id(t), connection=queue.connection)]
    for timer_id, due in lost:
        _hand_over(queue, timer_id, due)
    return len(lost)


def fire(timer_id: int, due: str) -> dict[str, object]:
    """The RQ job of a timer: never act before the due time, then fire it once."""
    wait = (datetime.fromisoformat(due) - utcnow()).total_seconds()
    if wait > MAX_EARLY_WAIT_S:
        # Early (clocks of machines differ, or a copy was queued by hand): come back later.
        queue = Queue(QUEUE, connection=_current_connection())
        _hand_over(queue, timer_id, datetime.fromisoformat(due))
        return {"timer": timer_id, "fired": False, "requeued": True}
    if wait > 0:
        time.sleep(wait)
    return context.commands().fire_timer(timer_id)


def _current_connection() -> Redis:
    from rq import get_current_job

    job = get_current_job()
    if job is None:
        raise RuntimeError("fire() re-queues only from inside an RQ job")
    return job.connection
