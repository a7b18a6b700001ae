"""The headless command line carries an incident from report to closure, as the README shows."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from tests.integration.conftest import INCIDENT, PACK
from web.cli import main


@pytest.fixture
def flowdesk(database_url: str, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("FLOWDESK_DATABASE_URL", database_url)
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(main, list(args))
        assert result.exit_code == code, result.output
        return result.output

    return run


def test_an_incident_from_report_to_closure_from_the_shell(flowdesk) -> None:  # type: ignore[no-untyped-def]
    loaded = flowdesk("load", str(PACK))
    assert "workflow it-incident v1 published" in loaded
    again = flowdesk("load", str(PACK))
    assert "published" not in again
    assert "workflow it-incident v1 unchanged" in again
    flowdesk("user", "bob", "--name", "Bob", "--group", "desktop-support")
    flowdesk("user", "alice", "--role", "requester")

    number = flowdesk("start", "it-incident", "--as", "alice", "--data", json.dumps(INCIDENT))
    assert number.strip() == "INC-000001"
    queue = flowdesk("tasks", "--user", "bob")
    work = re.search(r"^\s*(\d+)\s+INC-000001\s+INC-000001 P2: .*\[bob\]", queue, re.M)
    assert work, queue

    refused = flowdesk("complete", work[1], "--outcome", "resolved", "--as", "alice", code=1)
    assert f"task {work[1]} is assigned to bob, not alice" in refused
    resolved = flowdesk(
        "complete",
        work[1],
        "--outcome",
        "resolved",
        "--as",
        "bob",
        "--data",
        '{"resolution": "Cleared the jam"}',
    )
    assert resolved.startswith("INC-000001: resolved")

    confirm = re.search(
        r"^\s*(\d+)\s+INC-000001\s+Is your problem solved",
        flowdesk("tasks", "--user", "alice"),
        re.M,
    )
    assert confirm
    assert flowdesk("complete", confirm[1], "--outcome", "approved", "--as", "alice").startswith(
        "INC-000001: closed"
    )

    shown = flowdesk("show", "INC-000001")
    assert "status: closed" in shown
    assert "open tasks: none" in shown
    assert "[route] -> work: otherwise: no condition matched" in shown
    assert "impact=medium, urgency=high -> P2 (row 3)" in shown
    assert "(alice) [confirm] -> closed: 'approved' chosen" in shown


def test_bad_input_gets_a_clear_message(flowdesk) -> None:  # type: ignore[no-untyped-def]
    flowdesk("load", str(PACK))
    assert "is not JSON" in flowdesk("start", "it-incident", "--data", "{oops", code=2)
    assert "there is no published workflow 'nope'" in flowdesk("start", "nope", code=1)
    assert "there is no instance INC-000404" in flowdesk("show", "INC-000404", code=1)
    assert "there is no task 404" in flowdesk(
        "complete", "404", "--outcome", "resolved", "--as", "bob", code=1
    )
