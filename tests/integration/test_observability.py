"""A request's id reaches the worker's log lines about the work it caused; the worker's timer
lateness reaches `/metrics`.

Real parts throughout: the web app (Flask's test client), a worker process started as
production starts it (`python -m engine.jobs`, JSON logs), Redis, the database, and an
SMTP server on loopback for the confirmation mail.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from prometheus_client.parser import text_string_to_metric_families
from redis import Redis
from sqlalchemy import update

from engine.observability import fresh_metrics_folder
from engine.service.commands import Commands
from engine.store.database import Database
from engine.store.instances import Timer
from tests.infrastructure import MailServer
from tests.integration.workers import WorkerProcess, worker_process
from tests.web.conftest import hidden_fields
from tests.web.test_portal import REPORT
from web.app import create_app


@pytest.fixture
def mail() -> Iterator[MailServer]:
    server = MailServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def app(
    database_url: str, redis: Redis, redis_url: str, commands: Commands, tmp_path: Path
) -> Iterator[Flask]:
    """The web app over the test database, reading the metrics files in `tmp_path/metrics`."""
    stale = tmp_path / "metrics" / "histogram_1.db"  # left by an earlier run of the deployment
    stale.parent.mkdir()
    stale.write_bytes(b"")
    assert fresh_metrics_folder(stale.parent) == {"PROMETHEUS_MULTIPROC_DIR": str(stale.parent)}
    assert not stale.exists()
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "SECRET_KEY": "test-secret",
            "UPLOAD_FOLDER": str(tmp_path / "files"),
            "METRICS_DIR": str(tmp_path / "metrics"),
        }
    )
    yield app
    app.extensions["flowdesk"].close()


def log_lines(worker: WorkerProcess) -> list[dict[str, Any]]:
    """The worker's JSON log lines so far (other output, if any, left out)."""
    lines = []
    for line in worker.output().splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


def wait_for(worker: WorkerProcess, wanted: Any, seconds: float = 30) -> list[dict[str, Any]]:
    """Wait until the worker has logged lines for which `wanted(lines)` holds; return them."""
    deadline = time.monotonic() + seconds
    while True:
        lines = log_lines(worker)
        if wanted(lines):
            return lines
        assert worker.running(), worker.output()[-4000:]
        assert time.monotonic() < deadline, worker.output()[-4000:]
        time.sleep(0.2)


def test_a_request_id_reaches_the_worker_log_lines_of_the_mail_and_timers_it_caused(
    app: Flask, database: Database, database_url: str, redis_url: str, mail: MailServer,
    tmp_path: Path,
) -> None:  # fmt: skip
    client = app.test_client()
    form = hidden_fields(client.get("/new/it-incident").text)
    response = client.post(
        "/new/it-incident", data={**form, **REPORT}, headers={"X-Request-Id": "abc"}
    )
    assert response.status_code == 303
    with database.writer_session() as session, session.begin():
        # Time passes: the incident's escalation timers fall due now.
        session.execute(update(Timer).values(due_at=datetime.now(UTC)))

    env = {
        "FLOWDESK_LOG_FORMAT": "json",
        "FLOWDESK_LOG_LEVEL": "INFO",
        "FLOWDESK_SMTP_HOST": "127.0.0.1",
        "FLOWDESK_SMTP_PORT": str(mail.port),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }
    with worker_process(database_url, redis_url, tmp_path / "worker.log", env=env) as worker:

        def mail_and_timer(lines: list[dict[str, Any]]) -> bool:
            said = [line["message"] for line in lines if line["request_id"] == "abc"]
            sent = any(m.startswith("outbox ") and ": sent" in m for m in said)
            return sent and any(m.startswith("timer ") and " fired" in m for m in said)

        wait_for(worker, mail_and_timer)
        assert worker.stop() == 0
    lines = log_lines(worker)  # all of them, to the last

    ours = [line for line in lines if line["request_id"] == "abc"]
    assert {line["logger"] for line in ours} >= {"engine.jobs.outbox", "engine.jobs.timers"}
    assert all(line["time"].endswith("+00:00") for line in ours)
    assert len(mail.inbox.received) == 1  # the confirmation, sent once
    # Lines about no request say so: the periodic jobs' own lines carry none.
    assert all(line["request_id"] in ("abc", None) for line in lines)

    # The worker's lateness figures, written to the metrics folder, are on the web's /metrics.
    samples = {
        sample.name: sample.value
        for family in text_string_to_metric_families(client.get("/metrics").text)
        for sample in family.samples
        if not sample.labels or (set(sample.labels) == {"le"} and sample.labels["le"] == "+Inf")
    }
    fired = sum(1 for line in ours if line["message"].startswith("timer "))
    assert samples["flowdesk_timer_lateness_seconds_count"] == fired
