"""`GET /ready`: 200 only when the database answers at the code's migrations, Redis answers
and a worker has reported in; otherwise 503, naming each part that is not ready and why.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from flask.testing import FlaskClient
from redis import Redis
from rq import Queue
from sqlalchemy import text

from engine.jobs import timers
from engine.jobs.worker import PeriodicThread
from engine.observability import ALIVE_KEY, WORKER_ALIVE, alive_workers
from engine.store.database import Database, alembic_config
from web.app import create_app
from web.cli.stack import free_port


class IdleCron:
    """A cron scheduler with nothing to queue: the periodic thread's other work is moot here."""

    def enqueue_jobs(self) -> list[object]:
        return []


@pytest.fixture
def worker(redis: Redis) -> Iterator[PeriodicThread]:
    """A worker's periodic thread, which says every few seconds that its worker is alive."""
    thread = PeriodicThread(Queue(timers.QUEUE, connection=redis), IdleCron())  # type: ignore[arg-type]
    thread.start()
    _wait_for(lambda: alive_workers(redis, datetime.now(UTC)) == 1)
    yield thread
    thread.stop()


def _wait_for(condition: Callable[[], bool], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "it did not happen in time"
        time.sleep(0.02)


def test_ready_when_database_migrations_redis_and_a_worker_are(
    client: FlaskClient, worker: PeriodicThread
) -> None:
    response = client.get("/ready")
    assert response.status_code == 200, response.json
    assert response.json == {
        "status": "ready",
        "database": "ok",
        "migrations": "ok",
        "redis": "ok",
        "workers": "ok",
    }


def test_not_ready_without_a_worker_and_says_what_waits(client: FlaskClient) -> None:
    response = client.get("/ready")
    assert response.status_code == 503
    body: dict[str, Any] = response.json or {}
    assert body["status"] == "not ready"
    assert body["workers"].startswith("no worker has reported in the last 30 s")
    assert body["problems"] == [f"workers: {body['workers']}"]


def test_a_worker_counts_again_soon_after_redis_is_flushed_and_no_more_once_it_stops(
    client: FlaskClient, redis: Redis, worker: PeriodicThread
) -> None:
    """RQ writes its set of workers once, as a worker starts: after a flush, /ready said "no
    worker" for as long as the workers ran, working; and a killed worker counted for 420 s."""
    redis.flushdb()
    assert client.get("/ready").status_code == 503
    _wait_for(lambda: client.get("/ready").status_code == 200)  # within WORKER_REPORT_EVERY
    worker.stop()
    assert client.get("/ready").status_code == 503
    redis.zadd(ALIVE_KEY, {"killed": (datetime.now(UTC) - WORKER_ALIVE).timestamp() - 1})
    assert client.get("/ready").status_code == 503  # said so longer ago than 30 s: gone


def test_not_ready_when_the_database_is_behind_the_code_migrations(
    client: FlaskClient, worker: PeriodicThread, database: Database
) -> None:
    config = alembic_config()
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.stamp(config, "0019", purge=True)  # as if the last migrations never ran
    body: dict[str, Any] = client.get("/ready").json or {}
    assert body["status"] == "not ready"
    assert body["database"] == "ok"
    assert body["migrations"].startswith("database migrations behind: at 0019, code wants 00")
    assert body["problems"] == [f"migrations: {body['migrations']}"]


@pytest.fixture
def no_redis(settings: dict[str, Any]) -> str:
    """The app's Redis at a port where none listens (ask for it before `client`)."""
    settings["REDIS_URL"] = f"redis://127.0.0.1:{free_port()}/0"
    return str(settings["REDIS_URL"])


def test_not_ready_when_redis_does_not_answer(no_redis: str, client: FlaskClient) -> None:
    response = client.get("/ready")
    assert response.status_code == 503
    body: dict[str, Any] = response.json or {}
    assert body["redis"] == "does not answer (ConnectionError)"
    assert body["workers"] == "unknown: Redis does not answer"
    assert body["database"] == "ok"


def test_not_ready_when_the_database_is_ahead_of_this_code(
    client: FlaskClient, worker: PeriodicThread, database: Database
) -> None:
    with database.engine.begin() as connection:  # a newer release migrated it
        connection.execute(text("DELETE FROM alembic_version"))
        connection.execute(text("INSERT INTO alembic_version VALUES ('0999')"))
    body: dict[str, Any] = client.get("/ready").json or {}
    assert body["migrations"].startswith("database migrations ahead of this code: at 0999")


def test_not_ready_when_the_database_does_not_answer(
    redis_url: str, redis: Redis, worker: PeriodicThread, tmp_path: Path
) -> None:
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": f"sqlite:///{tmp_path}/no/such/folder/flowdesk.sqlite3",
            "REDIS_URL": redis_url,
            "SECRET_KEY": "test-secret",
            "UPLOAD_FOLDER": str(tmp_path / "files"),
        }
    )
    try:
        response = app.test_client().get("/ready")
    finally:
        app.extensions["flowdesk"].close()
    assert response.status_code == 503
    assert response.json == {
        "status": "not ready",
        "database": "does not answer (OperationalError)",
        "migrations": "unknown: the database does not answer",
        "redis": "ok",
        "workers": "ok",
        "problems": [
            "database: does not answer (OperationalError)",
            "migrations: unknown: the database does not answer",
        ],
    }


def test_the_first_ready_of_a_web_process_logs_no_line_of_alembic_at_info(
    tmp_path: Path, database_url: str
) -> None:
    """The first `/ready` reads the code's migrations with Alembic, which logged its set-up
    at INFO ("setup plugin alembic.autogenerate.schemas", seven lines) into a log kept at
    INFO for its access lines. A fresh process, as a web process is: Alembic loads once."""
    script = (
        "from web.app import create_app; client = create_app().test_client(); "
        "print(client.get('/ready').status_code, client.get('/ready').status_code)"
    )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("FLOWDESK_", "REDIS_URL"))},
        "FLOWDESK_INSTANCE_PATH": str(tmp_path),
        "FLOWDESK_DATABASE_URL": database_url,
        "FLOWDESK_SECRET_KEY": "t" * 48,
        "FLOWDESK_LOG_LEVEL": "INFO",
    }
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["503", "503"]  # no Redis: not ready, but answered
    assert done.stderr.count(" INFO flowdesk.access ") == 2, done.stderr  # INFO it is
    assert "alembic" not in done.stderr, done.stderr
