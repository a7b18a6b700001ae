"""Timed steps on RQ: dispatch pending timers with `enqueue_at`, sweep for lost ones, fire them.

The `timers` table is the truth; Redis only holds work. After commit a timer
row has no `dispatched_at`; `dispatch` hands it to RQ to run at its due time
(job id `timer-<id>`, so handing it over twice keeps one job) and stamps it.
RQ's scheduler works in whole seconds; `move_due`, run by every worker ten times
a second, moves each timer's job onto the queue at its exact due time instead.
`sweep` finds pending timers that are due but whose job no longer waits in RQ's
schedule (Redis flushed or restarted, a worker killed) and hands them over again.
`fire` is the job: it fires the timer through the service, which re-checks under
the instance lock that it is still pending, so a timer delivered twice acts once.
A job that still finds itself early puts itself back rather than act.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

from redis import Redis
from rq import Queue
from rq.job import Job
from rq.registry import ScheduledJobRegistry
from sqlalchemy import select, update

from engine import observability
from engine.jobs import context
from engine.logs import current_request_id, request_scope
from engine.service.errors import NotFound
from engine.settings import FIRE_BATCH, MAX_EARLY_WAIT_S, SWEEP_GRACE, TIMER_BATCH
from engine.store.database import Database
from engine.store.instances import Timer

log = logging.getLogger(__name__)

#: The queue timed steps run on.
QUEUE = "flowdesk-timers"


def job_id(timer_id: int) -> str:
    """The RQ job id of a timer: deterministic, so a second hand-over replaces the first."""
    return f"timer-{timer_id}"


def utcnow() -> datetime:
    return datetime.now(UTC)


def _hand_over(queue: Queue, timer_id: int, due: datetime, request_id: str | None) -> None:
    # RQ keeps scheduled times in whole seconds, cut down; `move_due` reads the exact due
    # time from the job itself, so the timer leaves the registry neither early nor late.
    # The request that set the timer rides in the job's meta, for the worker's log lines.
    queue.enqueue_at(
        due,
        fire,
        timer_id,
        due.isoformat(),
        job_id=job_id(timer_id),
        result_ttl=60,
        failure_ttl=7 * 24 * 3600,
        meta={"request_id": request_id} if request_id else None,
    )


def dispatch(database: Database, queue: Queue, limit: int = TIMER_BATCH) -> int:
    """Hand every pending, not yet dispatched timer to RQ; return how many were handed over."""
    with database.reading() as session:
        rows = session.execute(
            select(Timer.id, Timer.due_at, Timer.request_id)
            .where(Timer.status == "pending", Timer.dispatched_at.is_(None))
            .order_by(Timer.due_at)
            .limit(limit)
        ).all()
    for timer_id, due, request_id in rows:
        _hand_over(queue, timer_id, due, request_id)
    if rows:
        # Stamped after the hand-over: a crash in between dispatches again, which the
        # deterministic job id and the idempotent firing make harmless.
        with database.writer_session() as session, session.begin():
            session.execute(
                update(Timer)
                .where(Timer.id.in_([row.id for row in rows]))
                .values(dispatched_at=utcnow())
            )
    return len(rows)


def sweep(database: Database, queue: Queue, now: datetime | None = None) -> int:
    """Hand over again every due, pending timer whose job no longer waits in RQ's schedule.

    A job that waits nowhere is lost whether Redis dropped it (flushed, restarted) or
    kept it out of the schedule (a process killed halfway through moving it).
    """
    now = now or utcnow()
    with database.reading() as session:
        rows = session.execute(
            select(Timer.id, Timer.due_at, Timer.request_id)
            .where(Timer.status == "pending", Timer.due_at <= now - SWEEP_GRACE)
            .order_by(Timer.due_at)
            .limit(TIMER_BATCH)
        ).all()
    scheduled = ScheduledJobRegistry(queue=queue).key
    with queue.connection.pipeline(transaction=False) as pipe:
        for row in rows:
            pipe.zscore(scheduled, job_id(row.id))
        scores = pipe.execute() if rows else []
    lost = [row for row, score in zip(rows, scores, strict=True) if score is None]
    for timer_id, due, request_id in lost:
        _hand_over(queue, timer_id, due, request_id)
    return len(lost)


def move_due(queue: Queue, now: datetime | None = None) -> int:
    """Move the scheduled jobs of `queue` that are due *now* onto it; return how many.

    RQ's own scheduler does this once a second with times cut to whole seconds, so it
    moves a job due at 10.7 s at 10 s, early. This reads each candidate's exact due
    time (the `due` argument of `fire`) and is cheap enough to run ten times a second.
    """
    now = now or utcnow()
    registry = ScheduledJobRegistry(queue=queue)
    ids = registry.get_jobs_to_schedule(int(now.timestamp()))
    due: list[Job] = []
    for job_id, job in zip(ids, Job.fetch_many(ids, connection=queue.connection), strict=True):
        if job is None:
            registry.remove(job_id)
        elif job.func_name != FIRE:
            with queue.connection.pipeline() as pipe:  # queued and unscheduled at once
                queue.enqueue_job(job, pipeline=pipe)
                registry.remove(job, pipeline=pipe)
                pipe.execute()
        elif datetime.fromisoformat(job.args[1]) <= now:
            due.append(job)  # else: due later in this second
    # Timers due together are fired by a few jobs rather than one job each: RQ's own
    # bookkeeping per job costs more than firing a timer. The batch job is queued and the
    # single jobs deleted in one transaction, so a process killed here leaves each timer
    # either still scheduled or in the batch.
    for start in range(0, len(due), FIRE_BATCH):
        chunk = due[start : start + FIRE_BATCH]
        with queue.connection.pipeline() as pipe:
            requests = {str(j.args[0]): j.meta.get("request_id") for j in chunk if j.meta}
            queue.enqueue(
                fire_many,
                [(job.args[0], job.args[1]) for job in chunk],
                result_ttl=60,
                pipeline=pipe,
                meta={"request_ids": requests} if requests else None,
            )
            for job in chunk:
                registry.remove(job, pipeline=pipe)
                # By key: `Job.delete` reads the job's status first, outside the
                # transaction, and raises when Redis lost the job meanwhile (flushed).
                pipe.delete(job.key)
            pipe.execute()
    return len(due)


def fire(timer_id: int, due: str) -> dict[str, object]:
    """The RQ job of a timer: never act before the due time, then fire it once."""
    wait = (datetime.fromisoformat(due) - utcnow()).total_seconds()
    if wait > MAX_EARLY_WAIT_S:
        # Early (clocks of machines differ, or a copy was queued by hand): come back later.
        queue = Queue(QUEUE, connection=_current_connection())
        _hand_over(queue, timer_id, datetime.fromisoformat(due), current_request_id())
        return {"timer": timer_id, "fired": False, "requeued": True}
    if wait > 0:
        time.sleep(wait)
    try:
        answer = context.commands().fire_timer(timer_id)
    except NotFound:
        # Its instance was deleted (retention), or the database restored to before it.
        log.info("timer %s no longer exists: nothing to fire", timer_id)
        return {"timer": timer_id, "fired": False, "gone": True}
    if answer.get("not_due"):  # moved later since this job was queued: come back then
        queue = Queue(QUEUE, connection=_current_connection())
        later = datetime.fromisoformat(str(answer["not_due"]))
        _hand_over(queue, timer_id, later, current_request_id())
        return {**answer, "requeued": True}
    if answer.get("fired"):
        late = observability.observe_timer_lateness(datetime.fromisoformat(due), utcnow())
        log.info("timer %s fired, %.3f s after its due time", timer_id, late)
    return answer


def fire_many(timers: list[tuple[int, str]]) -> dict[str, list[int]]:
    """The RQ job of several due timers: fire each (one transaction each), in order."""
    fired: list[int] = []
    skipped: list[int] = []
    failed: list[int] = []
    requests = _request_ids()
    for timer_id, due in timers:
        try:
            with request_scope(requests.get(str(timer_id))):
                answer = fire(timer_id, due)
        except Exception:  # one broken timer must not hold back the others
            log.exception(
                "timer %s could not be fired; the sweep will hand it over again", timer_id
            )
            failed.append(timer_id)
            continue
        (fired if answer.get("fired") else skipped).append(timer_id)
    if failed:
        raise RuntimeError(f"timers {failed} could not be fired")
    return {"fired": fired, "skipped": skipped}


def _request_ids() -> dict[str, str]:
    """The request ids of the timers of the current `fire_many` job, by timer id."""
    from rq import get_current_job

    job = get_current_job()
    found = job.meta.get("request_ids") if job is not None else None
    return found if isinstance(found, dict) else {}


def _current_connection() -> Redis:
    from rq import get_current_job

    job = get_current_job()
    if job is None:
        raise RuntimeError("fire() re-queues only from inside an RQ job")
    return job.connection


#: How RQ names `fire` in a job, to tell timer jobs from others.
FIRE = f"{fire.__module__}.{fire.__qualname__}"
