"""The worker: an RQ worker over the engine's jobs, with the periodic ones, without Flask.

One process runs RQ's non-forking worker (jobs are short; forking per job would
cap a worker at a few dozen timers a second), a thread that moves `enqueue_at`
timer jobs onto the queue at their exact due time, and RQ's `CronScheduler` jobs: every
second one that hands new timers to RQ, relays the outbox (mail and webhooks), starts,
finishes and cancels child instances and pages the next levels of escalation policies
(`every_second`); every ten seconds a sweep for timers Redis lost; every minute a read of
the dashboards' figures of changed incidents; and the IMAP mailbox's poll when one is
configured. Due timers have a queue of their own (`timers.QUEUE`), which the worker reads
before the one of everything else (`DUTIES`).
`python -m engine.jobs` starts it.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, SimpleWorker, get_current_job
from rq.cron import CronScheduler
from rq.job import Job

from engine.heap import freeze_heap
from engine.jobs import context, imap, timers
from engine.jobs.outbox import RelayReport, relay_outbox
from engine.logs import request_scope
from engine.observability import WORKER_REPORT_EVERY, report_alive, report_gone
from engine.service import notifications, sessions
from engine.service.figures import bring_up_to_date
from engine.service.paging import Paging
from engine.service.retention import Retention
from engine.service.subflows import Subflows
from engine.settings import (
    COMMAND_POLL,
    CRON_TICK,
    EVERY_SECOND_S,
    FIGURES_EVERY_S,
    FIGURES_PER_RUN,
    IMAP_EVERY_S,
    PERIODIC_LEASE,
    PERIODIC_LEASE_MS,
    PERIODIC_STOP_WAIT,
    PRUNE_EVERY_S,
    PUMP_LOCK,
    PUMP_LOCK_MS,
    PUMP_TICK,
    REDIS_RETRY,
    RELAY_BUDGET,
    RELAY_WAITING,
    RELAY_WAITING_S,
    SWEEP_EVERY_S,
    relay_settings,
)

log = logging.getLogger(__name__)

#: The queue of the periodic duties, the relay's runs and the other background work. A
#: worker listens on `timers.QUEUE` first: a timer due waits for no mail, no sweep, no
#: figures, only for the job a worker is in (and a relay run makes way for it, see `relay`).
DUTIES = "flowdesk-duties"


def dispatch_timers() -> int:
    """Periodic job: hand new timers to RQ."""
    queue = Queue(timers.QUEUE, connection=_connection())
    return timers.dispatch(context.commands().database, queue)


def sweep_timers() -> int:
    """Periodic job: hand over again the due timers Redis lost."""
    queue = Queue(timers.QUEUE, connection=_connection())
    return timers.sweep(context.commands().database, queue)


def relay(follow_up: bool = False) -> dict[str, list[int]]:
    """Deliver the notifications and webhooks waiting in the outbox (periodic job).

    A run takes at most `DEFAULT_BATCH` messages, and starts none after `RELAY_BUDGET`. One
    that stopped so, with messages still due, queues another run at once (`follow_up`),
    for the next free worker: a backlog drains at the pace of every worker (runs claim
    different rows), not at one run a tick of the one worker that queues the periodic
    jobs. One such run waits at a time (`RELAY_WAITING`), and the relay of the duties of
    every second does nothing while one waits: otherwise each second would start another
    chain of runs, and the duties queued behind them (handing timers to RQ, paging) would
    wait longer and longer.

    A run also makes way, after the message it is delivering, for due timers waiting on
    their queue: the worker fires them before the next run goes on with the outbox.
    """
    connection = _connection()
    if follow_up:
        connection.delete(RELAY_WAITING)  # the run that waited is this one
    elif connection.exists(RELAY_WAITING):
        return RelayReport().to_dict()  # a run waits for a worker: the outbox is its
    database = context.commands().database
    timers_queue = Queue(timers.QUEUE, connection=connection)

    def timers_waiting() -> bool:
        try:
            return timers_queue.count > 0
        except RedisError:
            return False  # Redis is away: no timer can be waiting; the mail goes on

    report = relay_outbox(
        database,
        settings=relay_settings(),
        now=timers.utcnow(),
        budget_s=RELAY_BUDGET.total_seconds(),
        yield_to=timers_waiting,
    )
    if report.more and connection.set(RELAY_WAITING, "1", nx=True, ex=RELAY_WAITING_S):
        try:
            Queue(DUTIES, connection=connection).enqueue(relay, True, result_ttl=0)
        except BaseException:
            connection.delete(RELAY_WAITING)
            raise
    return report.to_dict()


def subflows() -> list[int]:
    """Periodic job: start, finish and cancel the child instances the outbox asks for."""
    return Subflows(context.commands()).carry_out_pending()


def paging() -> list[int]:
    """Periodic job: page the next level of the escalation policies whose time has come."""
    commands = context.commands()
    return Paging(commands, commands.registry).carry_out_due()


class DutiesFailed(RuntimeError):
    """One or more of the duties of a second failed (each logged with its traceback)."""


def every_second() -> dict[str, Any]:
    """Periodic job: the duties of every second, one after another, in one job.

    Hand new timers to RQ, relay the outbox, carry out the subflows, page the next levels.
    With nothing to do each is one short read (1-2 ms), while RQ's own handling of a job
    (taking it, its registries, its heartbeat, deleting it) costs 4-5 ms of a worker's
    CPU: as four jobs a second they kept an idle worker busy about 3 % of a core, in bursts
    that an agent's page shared the CPU with. One that fails does not keep the others from
    running; the job then fails, naming it, and is in RQ's failed jobs.
    """
    done: dict[str, Any] = {}
    failed: list[str] = []
    for duty in (dispatch_timers, relay, subflows, paging):
        try:
            done[duty.__name__] = duty()
        except Exception:
            log.exception("the periodic duty %s failed", duty.__name__)
            failed.append(duty.__name__)
    if failed:
        raise DutiesFailed(f"failed: {', '.join(failed)} (their tracebacks are in the log)")
    return done


def prune_sessions() -> int:
    """Periodic job: delete the sign-in sessions that have long been over."""
    return context.commands().write("prune sessions", sessions.prune_sessions)


def prune_notifications() -> int:
    """Periodic job: delete the notifications read long ago, and any very old."""
    return context.commands().write("prune notifications", notifications.prune_notifications)


def apply_retention() -> dict[str, list[str]]:
    """Periodic job: archive or delete the ended instances the retention policies say."""
    return Retention(context.commands()).apply().to_dict()


def refresh_figures() -> int:
    """Read the figures of the incidents whose timelines grew since (periodic job).

    The dashboards read what is left before they answer (`engine.service.figures`), so a
    view after a busy minute would pay for it. A run reads at most `FIGURES_PER_RUN`; one
    that stopped so, with more left, queues the next at once (after an upgrade: every
    incident, a few minutes per 100,000).
    """
    done = bring_up_to_date(context.commands(), FIGURES_PER_RUN)
    if done >= FIGURES_PER_RUN:
        Queue(DUTIES, connection=_connection()).enqueue(refresh_figures, result_ttl=0)
    return done


def poll_mailbox() -> int:
    """Periodic job: take the unread mail of the IMAP mailbox (`FLOWDESK_IMAP_HOST`)."""
    settings = imap.imap_settings()
    if settings is None:
        return 0
    return len(imap.poll(imap.intake(context.commands()), settings))


def _connection() -> Redis:
    job = get_current_job()
    if job is None:
        raise RuntimeError("periodic jobs run inside RQ jobs")
    return job.connection


def periodic(connection: Redis) -> CronScheduler:
    """RQ's cron scheduler with Flowdesk's periodic jobs registered.

    At INFO it logs each job it queues, every second for good: it logs warnings only.
    """
    cron = CronScheduler(
        connection=connection, name="flowdesk-periodic", logging_level=logging.WARNING
    )
    # RQ sets that level only on a logger no handler would catch; the worker's own handler
    # (`engine.logs`, on the root logger) does, so with FLOWDESK_LOG_LEVEL=INFO its lines
    # came through: "Registered ...", then "Enqueued job every_second ..." every second.
    logging.getLogger("rq.cron").setLevel(logging.WARNING)
    cron.register(every_second, DUTIES, interval=EVERY_SECOND_S, result_ttl=0)
    cron.register(sweep_timers, DUTIES, interval=SWEEP_EVERY_S, result_ttl=0)
    cron.register(prune_sessions, DUTIES, interval=PRUNE_EVERY_S, result_ttl=0)
    cron.register(prune_notifications, DUTIES, interval=PRUNE_EVERY_S, result_ttl=0)
    cron.register(apply_retention, DUTIES, interval=PRUNE_EVERY_S, result_ttl=0)
    cron.register(refresh_figures, DUTIES, interval=FIGURES_EVERY_S, result_ttl=0)
    if imap.imap_settings() is not None:
        cron.register(poll_mailbox, DUTIES, interval=IMAP_EVERY_S, result_ttl=0)
    return cron


class Worker(SimpleWorker):
    """RQ's non-forking worker, made to leave promptly when asked to stop.

    RQ listens for its worker commands on a pub/sub channel, with a thread whose every
    poll waits up to 60 s, and a stopping worker waits for that thread with no limit.
    When the thread has already read the reply to the worker's farewell UNSUBSCRIBE, it
    sits out a whole poll before it looks at the stop flag: one SIGTERM in five kept a
    worker alive for up to a minute. Here the thread polls every `COMMAND_POLL`.
    """

    #: Set when the worker is asked to stop (a signal, or RQ's shutdown command).
    stop_asked = False

    def request_stop(self, signum: int, frame: Any) -> None:
        self.stop_asked = True
        super().request_stop(signum, frame)  # type: ignore[no-untyped-call]

    def subscribe(self) -> None:
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        # RQ declares the attribute as always None; it holds the thread it starts here.
        self.pubsub_thread = self.pubsub.run_in_thread(  # type: ignore[assignment]
            sleep_time=COMMAND_POLL.total_seconds(),
            daemon=True,
            exception_handler=self._pubsub_exception_handler,
        )

    def execute_job(self, job: Job, queue: Queue) -> None:
        # The web request that caused the job (its `meta`) on every log line of it, RQ's too.
        with request_scope(job.meta.get("request_id")):
            super().execute_job(job, queue)


#: Renew the lease when this worker holds it, else take it when no one does (1: held).
CLAIM_LEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('pexpire', KEYS[1], ARGV[2])
end
if redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return 0
"""
#: Give the lease up, if this worker still holds it.
RELEASE_LEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


class PeriodicThread(threading.Thread):
    """Move due timer jobs onto the queue, and ask the cron scheduler for periodic jobs.

    `CronScheduler.start` installs signal handlers, which only the main thread may do,
    and the main thread belongs to the worker; so this thread drives it tick by tick.
    One worker at a time moves timers (a short Redis lock per tick). RQ's cron scheduler
    takes no lock of its own, and each worker keeps its own schedule: with N workers
    every periodic job would run N times. So one worker, the holder of a lease in Redis
    (`PERIODIC_LEASE`), queues them; the others take over when it stops renewing.
    """

    def __init__(self, queue: Queue, cron: CronScheduler) -> None:
        super().__init__(name="flowdesk-periodic", daemon=True)
        self.queue = queue
        self.cron = cron
        self.stopping = threading.Event()
        self.token = uuid.uuid4().hex
        self._claim = queue.connection.register_script(CLAIM_LEASE)

    def run(self) -> None:
        ticks_per_cron = max(1, round(CRON_TICK / PUMP_TICK))
        ticks_per_report = max(1, round(WORKER_REPORT_EVERY / PUMP_TICK))
        tick = 0
        while not self.stopping.wait(PUMP_TICK.total_seconds()):
            try:
                if tick % ticks_per_report == 0:  # /ready and /metrics count the workers so
                    report_alive(self.queue.connection, self.token, datetime.now(UTC))
                lock = self.queue.connection.set(PUMP_LOCK, "1", nx=True, px=PUMP_LOCK_MS)
                if lock:
                    timers.move_due(self.queue)
                tick += 1
                if tick % ticks_per_cron == 0 and self.leads():
                    self.cron.enqueue_jobs()
            except RedisError:
                # Redis is away (restarting, network): keep ticking; nothing is lost,
                # the timers and the outbox are in the database.
                log.warning("Redis is unreachable; the periodic jobs wait for it", exc_info=True)
                self.stopping.wait(REDIS_RETRY.total_seconds())
            except Exception:
                # Anything else (RQ finding a job gone that it had just read, after a
                # flush) must not end the thread: without it no timer moves and no
                # periodic job runs, while the worker looks alive.
                log.exception("the periodic thread's tick failed; it goes on")
                self.stopping.wait(REDIS_RETRY.total_seconds())

    def leads(self) -> bool:
        """Take or renew the lease on the periodic jobs; say whether this worker holds it."""
        return bool(self._claim(keys=[PERIODIC_LEASE], args=[self.token, PERIODIC_LEASE_MS]))

    def stop(self) -> None:
        """Ask the thread to stop, wait (a while) for the tick it is in, give up the lease."""
        self.stopping.set()
        if self.is_alive():
            self.join(PERIODIC_STOP_WAIT.total_seconds())
        # Another worker takes over at its next tick, not when the lease runs out (as it
        # does on its own if Redis is away now).
        with contextlib.suppress(RedisError):
            release = self.queue.connection.register_script(RELEASE_LEASE)
            release(keys=[PERIODIC_LEASE], args=[self.token])
            report_gone(self.queue.connection, self.token)


def _answers(connection: Redis) -> bool:
    try:
        return bool(connection.ping())
    except RedisError:
        return False


def _back(connection: Redis) -> bool:
    """Wait until Redis answers again (True), or until SIGTERM or SIGINT asks the worker to
    stop meanwhile (False): outside RQ's loop, its own signal handlers would not."""
    stopping = threading.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda _signal, _frame: stopping.set())
    while not stopping.wait(REDIS_RETRY.total_seconds()):
        if _answers(connection):
            return True
    return False


class WorkerStopped(RuntimeError):
    """RQ's worker loop ended though no one asked it to: the process must fail."""


def run(database_url: str, redis_url: str, *, burst: bool = False) -> None:
    """Run a worker until stopped (or, with `burst`, until its queue is empty).

    SIGTERM or SIGINT stop it once the job it is in has finished (RQ's warm shutdown);
    jobs are short and a relay run starts no delivery after `RELAY_BUDGET`.
    """
    relay_settings()  # a setting the relay cannot use stops the worker now, not each second
    imap.imap_settings()  # and so does a half-configured IMAP mailbox
    context.configure(database_url)
    freeze_heap()  # what the worker holds from its start lives as long as it
    connection = Redis.from_url(redis_url)
    queue = Queue(timers.QUEUE, connection=connection)
    duties = Queue(DUTIES, connection=connection)
    ticker = PeriodicThread(queue, periodic(connection))
    try:
        if burst:
            timers.move_due(queue)
        else:
            ticker.start()
        while True:
            worker = Worker([queue, duties], connection=connection)  # timers first
            # RQ's own scheduler would move timer jobs up to a second early (see
            # `move_due`). Every second brings a periodic job: logging each one at INFO
            # would drown the rest.
            worker.work(burst=burst, with_scheduler=False, logging_level="WARNING")
            if burst or worker.stop_asked:
                return
            # RQ's loop returns, rather than raising, when Redis goes away under one of its
            # own calls (its retry covers only the wait for a job) or its bookkeeping fails.
            if _answers(connection):
                # Not an outage: a worker that stops unasked has failed, and says so, so
                # that `flowdesk up` (or systemd) starts it again.
                raise WorkerStopped("the worker stopped without being asked to (see above)")
            log.warning("Redis went away under the worker: it works again once Redis is back")
            if not _back(connection):
                return  # asked to stop while it waited
    finally:
        ticker.stop()
        context.close()
        connection.close()
