"""`flowdesk up --web 2 --workers 2` runs the production topology on PostgreSQL and Redis.

It waits until every part answers, takes a public report that becomes an instance
whose mail a worker relays, stops with nothing left running, and its workers share
the periodic jobs out rather than each running them.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from http.client import HTTPConnection
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

import pytest
from redis import Redis
from rq import Queue
from sqlalchemy import create_engine, func, select, text

from engine.jobs import timers
from engine.jobs.worker import PeriodicThread
from engine.settings import PERIODIC_LEASE
from engine.store.database import Database
from engine.store.instances import Instance
from tests.databases import postgres_schema_url
from tests.infrastructure import PACK, PG_URL
from web.cli.stack import free_port

pytestmark = pytest.mark.skipif(PG_URL is None, reason="needs FLOWDESK_TEST_DATABASE_URL")

HIDDEN = re.compile(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"')
#: A password reset: the workflow mails the requester at once, through the outbox.
REPORT = {
    "name": "Ada Lovelace", "email": "ada@example.org", "summary": "I forgot my password",
    "description": "Locked out since this morning.", "category": "password",
    "impact": "low", "urgency": "low",
}  # fmt: skip


@pytest.fixture
def empty_postgres() -> Iterator[str]:
    """A URL of an empty PostgreSQL schema (`up` migrates it), dropped afterwards."""
    assert PG_URL is not None
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(Database(PG_URL).url)
    with admin.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield postgres_schema_url(PG_URL, schema)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


class Up:
    """A running `flowdesk up`, its console read line by line as it comes."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        command = [sys.executable, "-m", "web", "up", *args]
        self.process = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, words: str, seconds: float) -> str:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for line in self.lines:
                if words in line:
                    return line
            assert self.process.poll() is None, "\n".join(self.lines)
            time.sleep(0.1)
        raise AssertionError(f"no {words!r} within {seconds} s:\n" + "\n".join(self.lines))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)


def descendants(pid: int) -> set[int]:
    """Every process below `pid`, from /proc."""
    found: set[int] = set()
    wanted = [pid]
    while wanted:
        parent = wanted.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                children = (task / "children").read_text().split()
            except OSError:
                continue
            for child in map(int, children):
                if child not in found:
                    found.add(child)
                    wanted.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def submit_report(port: int) -> int:
    """Fill in the public incident form as a requester does; return the answer's status."""
    connection = HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", "/new/it-incident")
    answer = connection.getresponse()
    page = answer.read().decode()
    cookies = SimpleCookie(answer.headers.get("Set-Cookie", ""))
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Cookie": "; ".join(f"{k}={m.value}" for k, m in cookies.items()),
    }
    body = urlencode({**dict(HIDDEN.findall(page)), **REPORT})
    connection.request("POST", "/new/it-incident", body=body, headers=headers)
    status = connection.getresponse().status
    connection.close()
    return status


def count_instances(url: str) -> int:
    database = Database(url)
    try:
        with database.reading() as session:
            return int(session.scalar(select(func.count()).select_from(Instance)) or 0)
    finally:
        database.dispose()


@pytest.mark.long
def test_up_runs_two_web_processes_and_two_workers_and_stops_clean(
    empty_postgres: str, redis: Redis, redis_url: str, tmp_path: Path
) -> None:
    instance = tmp_path / "instance"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLOWDESK_", "REDIS_URL"))}
    env.update(
        FLOWDESK_INSTANCE_PATH=str(instance),
        FLOWDESK_DATABASE_URL=empty_postgres,
        REDIS_URL=redis_url,
    )
    port = free_port()
    up = Up(env, "--pack", str(PACK), "--port", str(port), "--web", "2", "--workers", "2")
    try:
        up.wait_for("Flowdesk is up", 90)
        assert re.search(r"Web: gunicorn \(sync\), 2 processes \(pids \d+, \d+\)", up.output)
        assert re.search(r"Workers: 2 \(pids \d+, \d+\) registered with Redis", up.output)
        running = descendants(up.process.pid)

        assert submit_report(port) == 303
        assert count_instances(empty_postgres) == 1
        mail = instance / "mail" / "new"  # the mail catcher `up` started
        deadline = time.monotonic() + 15
        while not (mail.is_dir() and any(mail.iterdir())):
            assert time.monotonic() < deadline, "no worker relayed the requester's mail"
            time.sleep(0.2)
        assert "ada@example.org" in next(mail.iterdir()).read_text()
    finally:
        up.process.send_signal(signal.SIGINT)
        up.process.wait(timeout=30)
        up.reader.join(timeout=5)
        if up.process.stdout is not None:
            up.process.stdout.close()
    assert up.process.returncode == 0, up.output
    assert up.output.endswith("Flowdesk stopped.")
    deadline = time.monotonic() + 5
    while left := [pid for pid in running if alive(pid)]:
        assert time.monotonic() < deadline, f"left running: {left}"
        time.sleep(0.1)


class CountingCron:
    """A cron scheduler that counts the ticks it is asked to queue the periodic jobs."""

    def __init__(self) -> None:
        self.ticks = 0

    def enqueue_jobs(self) -> list[object]:
        self.ticks += 1
        return []


def test_one_worker_of_many_queues_the_periodic_jobs_and_another_takes_over(
    redis: Redis,
) -> None:
    # RQ's cron scheduler takes no lock: two workers queued every periodic job twice.
    crons = [CountingCron(), CountingCron()]
    threads = [
        PeriodicThread(Queue(timers.QUEUE, connection=redis), cron)  # type: ignore[arg-type]
        for cron in crons
    ]
    for thread in threads:
        thread.start()
    try:
        _wait_for(lambda: sum(cron.ticks for cron in crons) >= 8)
        leader = 0 if crons[0].ticks else 1
        assert crons[1 - leader].ticks == 0
        threads[leader].stop()  # gives the lease up: the other takes over at once
        _wait_for(lambda: crons[1 - leader].ticks >= 2)
        assert redis.get(PERIODIC_LEASE) == threads[1 - leader].token.encode()
    finally:
        for thread in threads:
            thread.stop()
    assert redis.get(PERIODIC_LEASE) is None


def _wait_for(condition: object, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline
        time.sleep(0.01)
