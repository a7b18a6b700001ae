"""`flowdesk worker`: an RQ worker over the engine's jobs, with the periodic ones, without Flask.

One process runs RQ's non-forking worker (jobs are short; forking per job would
cap a worker at a few dozen timers a second), a thread that moves `enqueue_at`
timer jobs onto the queue at their exact due time, and RQ's `CronScheduler` jobs that
hand new timers to RQ every second, sweep for timers Redis lost, and relay
the outbox (mail and webhooks) every second.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, SimpleWorker, get_current_job
from rq.cron import CronScheduler

from engine.jobs import context, timers
from engine.jobs.outbox import relay_outbox
from engine.jobs.settings import relay_settings

log = logging.getLogger(__name__)

#: Seconds between two hand-overs of new timers to RQ.
DISPATCH_EVERY_S = 1
#: Seconds between two sweeps for timers that Redis lost.
SWEEP_EVERY_S = 10
#: Seconds between two runs of the outbox relay.
RELAY_EVERY_S = 1
#: How often the periodic-job thread asks RQ's cron scheduler what is due.
CRON_TICK = timedelta(milliseconds=250)
#: How long the periodic thread waits before trying an unreachable Redis again.
REDIS_RETRY = timedelta(seconds=1)
#: How often a worker moves due timer jobs onto the queue.
PUMP_TICK = timedelta(milliseconds=50)
#: The Redis lock that lets one worker per tick move timers, and how long it lasts.
PUMP_LOCK = "flowdesk:timer-pump"
PUMP_LOCK_MS = 40


def dispatch_timers() -> int:
    """Periodic job: hand new timers to RQ."""
    queue = Queue(timers.QUEUE, connection=_connection())
    return timers.dispatch(context.commands().database, queue)


def sweep_timers() -> int:
    """Periodic job: hand over again the due timers Redis lost."""
    queue = Queue(timers.QUEUE, connection=_connection())
    return timers.sweep(context.commands().database, queue)


def relay() -> dict[str, list[int]]:
    """Periodic job: deliver the notifications and webhooks waiting in the outbox."""
    database = context.commands().database
    return relay_outbox(database, settings=relay_settings(), now=timers.utcnow()).to_dict()


def _connection() -> Redis:
    job = get_current_job()
    if job is None:
        raise RuntimeError("periodic jobs run inside RQ jobs")
    return job.connection


def periodic(connection: Redis) -> CronScheduler:
    """RQ's cron scheduler with Flowdesk's periodic jobs registered.

    At INFO it logs each job it queues, twice a second for good: it logs warnings only.
    """
    cron = CronScheduler(
        connection=connection, name="flowdesk-periodic", logging_level=logging.WARNING
    )
    cron.register(dispatch_timers, timers.QUEUE, interval=DISPATCH_EVERY_S, result_ttl=0)
    cron.register(sweep_timers, timers.QUEUE, interval=SWEEP_EVERY_S, result_ttl=0)
    cron.register(relay, timers.QUEUE, interval=RELAY_EVERY_S, result_ttl=0)
    return cron


class PeriodicThread(threading.Thread):
    """Move due timer jobs onto the queue, and ask the cron scheduler for periodic jobs.

    `CronScheduler.start` installs signal handlers, which only the main thread may do,
    and the main thread belongs to the worker; so this thread drives it tick by tick.
    One worker at a time moves timers (a short Redis lock per tick).
    """

    def __init__(self, queue: Queue, cron: CronScheduler) -> None:
        super().__init__(name="flowdesk-periodic", daemon=True)
        self.queue = queue
        self.cron = cron
        self.stopping = threading.Event()

    def run(self) -> None:
        ticks_per_cron = max(1, round(CRON_TICK / PUMP_TICK))
        tick = 0
        while not self.stopping.wait(PUMP_TICK.total_seconds()):
            try:
                lock = self.queue.connection.set(PUMP_LOCK, "1", nx=True, px=PUMP_LOCK_MS)
                if lock:
                    timers.move_due(self.queue)
                tick += 1
                if tick % ticks_per_cron == 0:
                    self.cron.enqueue_jobs()
            except RedisError:
                # Redis is away (restarting, network): keep ticking; nothing is lost,
                # the timers and the outbox are in the database.
                log.warning("Redis is unreachable; the periodic jobs wait for it", exc_info=True)
                self.stopping.wait(REDIS_RETRY.total_seconds())


def run(database_url: str, redis_url: str, *, burst: bool = False) -> None:
    """Run a worker until stopped (or, with `burst`, until its queue is empty)."""
    context.configure(database_url)
    connection = Redis.from_url(redis_url)
    queue = Queue(timers.QUEUE, connection=connection)
    worker = SimpleWorker([queue], connection=connection)
    ticker = PeriodicThread(queue, periodic(connection))
    if burst:
        timers.move_due(queue)
    else:
        ticker.start()
    try:
        # RQ's own scheduler would move timer jobs up to a second early (see `move_due`).
        # Every second brings a periodic job: logging each one at INFO would drown the rest.
        worker.work(burst=burst, with_scheduler=False, logging_level="WARNING")
    finally:
        ticker.stopping.set()
        context.close()
