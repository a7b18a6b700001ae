"""`python -m engine.jobs`: a worker needing a database and Redis, never Flask; it stops when told.

The worker runs as a real process, started the way production starts it.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from pathlib import Path

import pytest
from redis import Redis
from rq import Queue
from rq import Worker as RQWorker
from rq.exceptions import InvalidJobOperation, StopRequested
from sqlalchemy import func, select

from engine.jobs import timers
from engine.jobs.worker import PeriodicThread, Worker, WorkerStopped, run
from engine.service.commands import Commands
from engine.settings import COMMAND_POLL, DEFAULT_REDIS_URL
from engine.store.database import Database
from engine.store.instances import Event, Timer
from tests.integration.conftest import INCIDENT
from tests.integration.workers import worker_process
from web.cli.stack import free_port, start_redis

#: Packages a worker must not import: the web app and what only the web app needs.
WEB_ONLY = ("flask", "werkzeug", "web", "designer")


def imported(log: str) -> set[str]:
    """The modules a `python -X importtime` run imported, read from its stderr."""
    found = set()
    for line in log.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            name = line.rsplit("|", 1)[1].strip()
            if name != "imported package":
                found.add(name)
    return found


def fired(database: Database) -> int:
    with database.reading() as session:
        count = session.scalar(select(func.count()).where(Event.kind == "timer_fired"))
    return int(count or 0)


def test_a_burst_worker_fires_a_due_timer_without_importing_flask(
    commands: Commands, database: Database, database_url: str, redis: Redis, redis_url: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    # An incident whose escalation timers are due already (the fake clock is in the past).
    commands.start("it-incident", INCIDENT, requester="alice")
    assert timers.dispatch(database, Queue(timers.QUEUE, connection=redis)) > 0

    with worker_process(
        database_url, redis_url, tmp_path / "worker.log", "--burst", python=("-X", "importtime")
    ) as worker:
        assert worker.process.wait(timeout=60) == 0, worker.output()[-4000:]

    assert fired(database) > 0
    modules = imported(worker.output())
    assert "engine.jobs.worker" in modules  # the log is what we think it is
    web = sorted(m for m in modules if m.split(".")[0] in WEB_ONLY)
    assert web == [], f"the worker imported {web}"


def test_a_worker_fires_timers_as_they_fall_due_and_stops_cleanly_on_sigterm(
    commands: Commands, database: Database, database_url: str, redis: Redis, redis_url: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    commands.start("it-incident", INCIDENT, requester="alice")

    with worker_process(database_url, redis_url, tmp_path / "worker.log") as worker:
        deadline = time.monotonic() + 30
        while not fired(database):
            assert worker.running(), worker.output()[-4000:]
            assert time.monotonic() < deadline, "no timer fired in 30 s"
            time.sleep(0.1)
        assert worker.stop() == 0  # within the grace, after a warm shutdown

    assert RQWorker.all(connection=redis) == []  # it signed out of Redis as it left
    with database.reading() as session:
        assert session.scalar(select(func.count()).where(Timer.status == "fired")) == fired(
            database
        )


def test_at_info_a_worker_logs_its_own_lines_not_rqs_cron_scheduler_every_second(
    commands: Commands, database: Database, database_url: str, redis: Redis, redis_url: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    """With FLOWDESK_LOG_LEVEL=INFO the worker's log took a line of RQ's cron scheduler
    every second ("Enqueued job every_second to queue flowdesk-duties"), and one per
    periodic job as it started: RQ quiets that logger only when no handler is set up."""
    commands.start("it-incident", INCIDENT, requester="alice")
    env = {"FLOWDESK_LOG_LEVEL": "INFO"}
    with worker_process(database_url, redis_url, tmp_path / "worker.log", env=env) as worker:
        started = time.monotonic()
        while not fired(database) or time.monotonic() - started < 3:  # and 3 s of duties
            assert worker.running(), worker.output()[-4000:]
            assert time.monotonic() - started < 30, "no timer fired in 30 s"
            time.sleep(0.1)
        assert worker.stop() == 0
    said = worker.output()
    assert " INFO engine.jobs.timers [" in said  # INFO it is: the worker's own lines are there
    assert "rq.cron" not in said, said[-4000:]


def test_a_worker_with_a_setting_it_cannot_use_stops_at_once_naming_it(
    database_url: str, redis_url: str, tmp_path: Path
) -> None:
    env = {"FLOWDESK_WEBHOOK_ALLOWED_NETWORKS": "intranet"}
    with worker_process(database_url, redis_url, tmp_path / "worker.log", env=env) as worker:
        assert worker.process.wait(timeout=60) == 2
    assert "FLOWDESK_WEBHOOK_ALLOWED_NETWORKS: 'intranet' is not a network" in worker.output()


def test_a_worker_told_of_no_redis_says_once_as_it_starts_that_it_takes_the_default(
    database_url: str, redis_url: str, tmp_path: Path
) -> None:
    """With no REDIS_URL a worker took its jobs from redis://127.0.0.1:6379/0 and said
    nothing: beside a web app on another Redis it waited for jobs that never came. (Each
    worker here stops on a setting before it reaches a Redis: the default one is not ours.)"""
    said = (
        f"REDIS_URL is not set: this worker takes its jobs from the default Redis, "
        f"{DEFAULT_REDIS_URL}; set REDIS_URL to the Redis the web app uses"
    )
    env = {"FLOWDESK_WEBHOOK_ALLOWED_NETWORKS": "intranet"}
    for given, times in ((None, 1), (redis_url, 0)):
        log = tmp_path / f"worker-{times}.log"
        with worker_process(database_url, given, log, env=env) as worker:
            assert worker.process.wait(timeout=60) == 2
        assert worker.output().count(said) == times, worker.output()


def test_a_stopping_worker_does_not_sit_out_a_quiet_command_poll(redis: Redis) -> None:
    # RQ's worker listens for commands on a pub/sub channel and, stopping, waits for the
    # listening thread without a limit. If that thread reads the reply to the worker's
    # UNSUBSCRIBE before it is told to stop, it sits out a whole poll: 60 s with RQ's own
    # setting, which kept SIGTERMed workers alive for up to a minute, one stop in five.
    worker = Worker([Queue(timers.QUEUE, connection=redis)], connection=redis)
    worker.subscribe()
    assert worker.pubsub is not None
    _wait_for(lambda: worker.pubsub.subscribed)  # type: ignore[union-attr]
    worker.pubsub.unsubscribe()  # the reply reaches the thread first: the unlucky order
    _wait_for(lambda: not worker.pubsub.subscribed)  # type: ignore[union-attr]

    leaving = threading.Thread(target=worker.unsubscribe, daemon=True)
    leaving.start()
    leaving.join(timeout=10 * COMMAND_POLL.total_seconds())

    assert not leaving.is_alive(), "the worker is still waiting for its command thread"


class FlakyCron:
    """A cron scheduler whose first tick fails the way RQ's did after Redis was flushed."""

    def __init__(self) -> None:
        self.ticks = 0

    def enqueue_jobs(self) -> list[object]:
        self.ticks += 1
        if self.ticks == 1:
            raise InvalidJobOperation("Failed to retrieve status for job: timer-49")
        return []


def test_the_periodic_thread_outlives_a_tick_that_fails(redis: Redis) -> None:
    # Its death left a worker that looked alive but moved no timer and ran no periodic
    # job (no sweep, no relay): a flushed Redis then lost every timer for good.
    cron = FlakyCron()
    thread = PeriodicThread(Queue(timers.QUEUE, connection=redis), cron)  # type: ignore[arg-type]
    thread.start()
    try:
        _wait_for(lambda: cron.ticks >= 3)
        assert thread.is_alive()
    finally:
        thread.stop()
    assert not thread.is_alive()


def _wait_for(condition: object, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_a_worker_whose_loop_ends_unasked_fails_so_that_it_is_started_again(
    database_url: str, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # RQ's loop returns, rather than raising, when Redis times out under it: a worker
    # process that then exited 0 looked stopped on purpose, and no supervisor restarted it.
    monkeypatch.setattr(Worker, "work", lambda self, **options: False)
    with pytest.raises(WorkerStopped, match="without being asked"):
        run(database_url, redis_url)


def test_a_worker_whose_loop_ends_as_redis_goes_away_works_again_once_it_is_back(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # RQ retries only its wait for a job: Redis dying under another of its calls ended the
    # loop, and the worker with it, though the outage was all that was wrong.
    port = free_port()
    server = start_redis(port)
    done = threading.Event()

    def back_a_second_later() -> None:
        # Started and stopped by a thread that lives until the end: redis-server dies with
        # the thread that started it.
        time.sleep(1.0)
        again = start_redis(port)
        done.wait(30)
        again.terminate()
        again.wait(timeout=10)

    loops: list[str] = []

    def work(self: Worker, **options: object) -> bool:
        loops.append(self.name)
        if len(loops) == 1:  # Redis goes away mid-loop
            server.terminate()
            server.wait(timeout=10)
            threading.Thread(target=back_a_second_later).start()
            return False
        with contextlib.suppress(StopRequested):  # back at work; then asked to stop
            self.request_stop(signal.SIGTERM, None)
        return False

    monkeypatch.setattr(Worker, "work", work)
    try:
        run(database_url, f"redis://127.0.0.1:{port}/0")  # no WorkerStopped
    finally:
        done.set()
    assert len(loops) == 2
    assert loops[0] != loops[1]  # a fresh worker, registered anew


def test_a_worker_asked_to_stop_ends_without_failing(
    database_url: str, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def asked_then_returns(self: Worker, **options: object) -> bool:
        with contextlib.suppress(StopRequested):
            self.request_stop(signal.SIGTERM, None)
        return False

    monkeypatch.setattr(Worker, "work", asked_then_returns)
    run(database_url, redis_url)  # no WorkerStopped
