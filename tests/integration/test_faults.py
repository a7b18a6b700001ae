"""Faults with real processes: a worker killed with SIGKILL loses no timer and doubles none.

Workers run as production runs them (`python -m engine.jobs`), through
`workers.worker_process`, which reaps them whatever happens in the test.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from redis import Redis
from rq import Worker
from sqlalchemy import func, select

from engine.catalog import Document
from engine.service.commands import Commands
from engine.service.definitions import publish_all
from engine.store.database import Database
from engine.store.instances import Event, Outbox, Timer
from tests.infrastructure import INCIDENT, MailServer
from tests.integration.workers import worker_process
from web.cli.stack import free_port, start_redis

WAITER = {
    "kind": "workflow",
    "format": 1,
    "key": "waiter",
    "title": "Wait, then end",
    "first": "wait",
    "steps": {"wait": {"type": "wait", "until": "when", "next": "done"}, "done": {"type": "end"}},
}


def counts(database: Database) -> tuple[int, int, int]:
    """(pending timers, fired timers, timer_fired events)."""
    with database.reading() as session:
        pending = session.scalar(select(func.count()).where(Timer.status == "pending"))
        fired = session.scalar(select(func.count()).where(Timer.status == "fired"))
        events = session.scalar(select(func.count()).where(Event.kind == "timer_fired"))
    return int(pending or 0), int(fired or 0), int(events or 0)


def start_waiters(database: Database, count: int, first_in: float, over: float) -> None:
    """Start `count` instances that wait until moments spread over `over` seconds."""
    with database.writer_session() as session, session.begin():
        publish_all(session, [Document(Path("waiter.json"), WAITER)], datetime.now(UTC), "test")
    commands = Commands(database)
    begin = datetime.now(UTC) + timedelta(seconds=first_in)
    for index in range(count):
        when = begin + timedelta(seconds=over * index / count)
        commands.start("waiter", {"when": when.isoformat()})


def wait_until_none_pending(database: Database, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while counts(database)[0] and time.monotonic() < deadline:
        time.sleep(0.25)


def wait_until_registered(redis_url: str, seconds: float = 30) -> None:
    """Wait until a worker has signed in to Redis."""
    connection = Redis.from_url(redis_url)
    deadline = time.monotonic() + seconds
    try:
        while not Worker.all(connection=connection):
            assert time.monotonic() < deadline, "no worker signed in to Redis"
            time.sleep(0.1)
    finally:
        connection.close()


@pytest.mark.long
def test_a_worker_killed_while_timers_are_due_loses_none_and_doubles_none(
    database: Database, database_url: str, redis: Redis, redis_url: str, tmp_path: Path
) -> None:
    total = 300
    start_waiters(database, total, first_in=2, over=4)

    with worker_process(database_url, redis_url, tmp_path / "first.log") as first:
        while counts(database)[1] < total // 4:  # let it fire some, then kill it mid-stream
            assert first.running(), first.output()
            time.sleep(0.05)
        first.kill()
    assert counts(database)[0] > 0, "the worker finished before it could be killed"

    with worker_process(database_url, redis_url, tmp_path / "second.log") as second:
        wait_until_none_pending(database, 45)  # the sweep hands lost ones over within ~15 s
        assert second.stop() == 0
    pending, fired, events = counts(database)
    assert (pending, fired) == (0, total), second.output()[-4000:]
    assert events == total  # each timer acted exactly once


@pytest.mark.long
def test_a_flushed_redis_loses_none_of_100_pending_timers(
    database: Database, database_url: str, redis: Redis, redis_url: str, tmp_path: Path
) -> None:
    total = 100
    start_waiters(database, total, first_in=4, over=2)

    with worker_process(database_url, redis_url, tmp_path / "worker.log") as worker:
        while _dispatched(database) < total:  # every timer handed to Redis
            assert worker.running(), worker.output()
            time.sleep(0.05)
        # Most are still waiting when Redis loses them (on a loaded machine, starting 100
        # instances and a worker took more than the first timer's 3 s, and one fired first).
        fired_before = counts(database)[1]
        assert fired_before < total // 2, f"{fired_before} timers fired before Redis lost them"
        redis.flushdb()  # Redis loses every job; the database still holds every timer
        wait_until_none_pending(database, 45)  # the sweep finds them again within ~15 s
        assert worker.stop() == 0
    assert counts(database) == (0, total, total), worker.output()[-4000:]


def _dispatched(database: Database) -> int:
    with database.reading() as session:
        found = session.scalar(select(func.count()).where(Timer.dispatched_at.is_not(None)))
    return int(found or 0)


def test_redis_down_users_keep_working_and_the_outbox_is_relayed_once_when_it_is_back(
    commands: Commands, database: Database, database_url: str, tmp_path: Path
) -> None:
    def unsent() -> int:
        with database.reading() as session:
            found = session.scalar(select(func.count()).where(Outbox.status != "sent"))
        return int(found or 0)

    mail = MailServer()
    mail.start()
    port = free_port()
    redis_url = f"redis://127.0.0.1:{port}/0"
    server = start_redis(port)
    env = {
        "FLOWDESK_SMTP_HOST": "127.0.0.1",
        "FLOWDESK_SMTP_PORT": str(mail.port),
        "FLOWDESK_SMTP_FROM": "desk@example.org",
    }
    try:
        with worker_process(database_url, redis_url, tmp_path / "worker.log", env=env) as worker:
            wait_until_registered(redis_url)  # a worker that never reached Redis gives up
            server.terminate()
            server.wait(timeout=10)
            # Redis is gone; people keep reporting incidents, their mails wait in the outbox.
            for index in range(5):
                data = {**INCIDENT, "category": "password", "email": f"user{index}@example.org"}
                commands.start("it-incident", data)
            time.sleep(2)
            assert unsent() == 5
            assert mail.inbox.received == []

            server = start_redis(port)  # Redis is back
            assert worker.running(), "the worker should ride out a Redis outage"
            deadline = time.monotonic() + 30
            while unsent() and time.monotonic() < deadline:
                time.sleep(0.25)
            assert unsent() == 0, worker.output()
            time.sleep(1.5)  # a second relay round must find nothing more to send
            assert worker.stop() == 0
    finally:
        server.terminate()
        server.wait(timeout=10)
        mail.stop()
    recipients = sorted(to for tos, _message in mail.inbox.received for to in tos)
    assert recipients == [f"user{index}@example.org" for index in range(5)]
