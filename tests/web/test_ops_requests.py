"""Every request has an id: taken from a sane `X-Request-Id`, else made; answered, logged, kept.

The id goes out in the answer's header, on the request's JSON log lines, and onto the
outbox messages and timers its command writes, where the worker finds it again.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from engine.logs import LoggingError, configure
from engine.service.commands import Commands
from engine.store.database import Database
from engine.store.instances import Outbox, Timer
from tests.infrastructure import INCIDENT
from tests.web.conftest import hidden_fields
from tests.web.test_portal import REPORT, submit, tracking_path
from web.app import create_app


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """Put the root logger back as the test runner had it: a test app may configure it."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_a_sane_request_id_is_answered_as_it_came(client: FlaskClient) -> None:
    response = client.get("/health", headers={"X-Request-Id": "lb-7f3a.91:edge"})
    assert response.headers["X-Request-Id"] == "lb-7f3a.91:edge"


#: What a client may send that cannot serve as a request id as it is.
INSANE = ["has space", "tab\there", "x" * 65, "<script>", "-starts-with-a-dash", "naïve"]


def test_a_missing_or_insane_request_id_is_replaced_by_a_new_one(client: FlaskClient) -> None:
    made = [client.get("/health").headers["X-Request-Id"]]
    for given in INSANE:
        made.append(client.get("/health", headers={"X-Request-Id": given}).headers["X-Request-Id"])
    for found in made:
        assert re.fullmatch("[0-9a-f]{32}", found)  # 128 random bits
    assert len(set(made)) == len(made)


def test_the_request_id_is_written_on_the_outbox_messages_and_timers_of_its_command(
    client: FlaskClient, database: Database
) -> None:
    hidden = client.get("/new/it-incident").text
    response = client.post(
        "/new/it-incident",
        data={**hidden_fields(hidden), **REPORT},
        headers={"X-Request-Id": "submit-abc"},
    )
    tracking_path(response)
    assert response.headers["X-Request-Id"] == "submit-abc"
    with database.reading() as session:
        messages = session.scalars(select(Outbox.request_id)).all()
        timers = session.scalars(select(Timer.request_id)).all()
    assert messages == ["submit-abc"] * len(messages) != []  # the requester's confirmation
    assert timers == ["submit-abc"] * len(timers) != []  # the triage task's escalations


def test_work_done_outside_a_request_carries_no_request_id(
    client: FlaskClient, database: Database, commands: Commands
) -> None:
    response_id = submit(client, REPORT).headers["X-Request-Id"]  # in a request, then...
    commands.start("it-incident", INCIDENT, requester="alice")  # ...outside one
    with database.reading() as session:
        ids = session.scalars(select(Timer.request_id).order_by(Timer.id)).all()
    assert ids[0] == response_id
    assert ids[-1] is None


def test_json_logs_carry_the_request_id_on_every_line_of_the_request(
    database_url: str,
    redis_url: str,
    commands: Commands,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    restored_logging: None,
) -> None:
    app: Flask = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "SECRET_KEY": "test-secret",
            "UPLOAD_FOLDER": str(tmp_path / "files"),
            "LOG_FORMAT": "json",
            "LOG_LEVEL": "INFO",
        }
    )

    @app.get("/test-logs")
    def logs_something() -> str:
        logging.getLogger("flowdesk.test").warning("something to say", extra={"answer": 42})
        return "ok"

    try:
        capsys.readouterr()
        app.test_client().get("/test-logs", headers={"X-Request-Id": "req-42"})
        app.test_client().get("/track/a-secret-token")
    finally:
        app.extensions["flowdesk"].close()
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    ours = [line for line in lines if line["request_id"] == "req-42"]
    said = next(line for line in ours if line["logger"] == "flowdesk.test")
    assert (said["message"], said["answer"], said["level"]) == ("something to say", 42, "WARNING")
    assert said["time"].endswith("+00:00")
    access = next(line for line in ours if line["logger"] == "flowdesk.access")
    assert (access["route"], access["status"]) == ("/test-logs", 200)
    # A path's secret stays out of the log: the access line names the route.
    assert "a-secret-token" not in json.dumps(lines)
    assert any(line.get("route") == "/track/<token>" for line in lines)


def test_an_unknown_log_format_or_level_is_refused_in_words(restored_logging: None) -> None:
    with pytest.raises(LoggingError, match="FLOWDESK_LOG_FORMAT='yaml': use one of text, json"):
        configure("yaml")
    with pytest.raises(LoggingError, match="FLOWDESK_LOG_LEVEL='LOUD': use DEBUG, INFO"):
        configure("json", "LOUD")
