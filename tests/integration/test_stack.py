"""`flowdesk up` starts the whole embedded stack, runs timed steps, and stops cleanly.

It starts over a database where the pack is already published, even if newer
versions were published since, and keeps answering while many connections sit idle.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.conftest import PACK
from web.cli.stack import free_port

QUICK = {
    "kind": "workflow",
    "format": 1,
    "key": "quick-escalation",
    "title": "Quick escalation",
    "first": "answer",
    "steps": {
        "answer": {
            "type": "task",
            "title": "Answer quickly",
            "assign": {"user": "bob"},
            "escalate": [{"after": "PT5S", "do": [{"remind": "assignee"}]}],
            "next": "done",
        },
        "done": {"type": "end"},
    },
}


def flowdesk(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "web", *args], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def health(port: int, timeout: float = 1) -> dict[str, str] | None:
    try:
        url = f"http://127.0.0.1:{port}/health"
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            body: dict[str, str] = json.load(answer)
            return body
    except OSError:
        return None


@pytest.fixture
def stack_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLOWDESK_", "REDIS_URL"))}
    env["FLOWDESK_INSTANCE_PATH"] = str(tmp_path / "instance")
    return env


@dataclass
class Stack:
    """A running `flowdesk up`; `output` is what it printed, once it has stopped."""

    port: int
    process: subprocess.Popen[str]
    output: str = ""


@contextmanager
def running(env: dict[str, str], pack: Path = PACK) -> Iterator[Stack]:
    """Run `flowdesk up` until it answers /health; stop it with Ctrl-C at the end."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "web", "up", "--pack", str(pack), "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    stack = Stack(port, process)
    try:
        began = time.monotonic()
        while health(port) is None:
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            assert time.monotonic() - began < 30, "no health answer within 30 seconds"
            time.sleep(0.25)
        yield stack
    finally:
        process.send_signal(signal.SIGINT)
        stack.output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, stack.output
    assert stack.output.rstrip().endswith("Flowdesk stopped.")


def test_up_serves_health_and_fires_a_timed_step(stack_env: dict[str, str], tmp_path: Path) -> None:
    with running(stack_env) as stack:
        assert health(stack.port) == {"status": "ok", "database": "ok", "redis": "ok"}

        extra = tmp_path / "extra"
        extra.mkdir()
        (extra / "quick.json").write_text(json.dumps(QUICK))
        flowdesk(stack_env, "user", "bob")  # the workflow names bob: he must exist first
        flowdesk(stack_env, "user", "alice")  # not public: only a user may start it
        flowdesk(stack_env, "load", str(extra))
        number = flowdesk(stack_env, "start", "quick-escalation", "--as", "alice").strip()
        started = time.monotonic()
        while "escalated" not in (shown := flowdesk(stack_env, "show", number)):
            assert time.monotonic() - started < 10, f"no escalation within 10 seconds:\n{shown}"
            time.sleep(0.5)
        assert "no answer after 5 s (escalation 1)" in shown
    assert "First admin account: admin / " in stack.output
    # Seconds of running queued the periodic jobs many times; saying so each time would
    # bury what the log is for.
    assert "Enqueued job" not in stack.output


def test_up_starts_when_the_pack_is_published_already_and_an_admin_published_newer(
    stack_env: dict[str, str], tmp_path: Path
) -> None:
    flowdesk(stack_env, "load", str(PACK))
    revised = tmp_path / "revised"
    revised.mkdir()
    flow = json.loads((PACK / "it-incident.json").read_text())
    (revised / "it-incident.json").write_text(json.dumps({**flow, "title": "IT incident v2"}))
    assert "workflow it-incident v2 published" in flowdesk(stack_env, "load", str(revised))
    with running(stack_env) as stack:
        assert health(stack.port) == {"status": "ok", "database": "ok", "redis": "ok"}
    assert "Workflows: 0 published, " in stack.output


#: More than waitress's default limit of 100 connections.
IDLE_CONNECTIONS = 150


def test_up_keeps_answering_while_many_connections_sit_idle(stack_env: dict[str, str]) -> None:
    with running(stack_env) as stack, ExitStack() as idle:
        for _ in range(IDLE_CONNECTIONS):
            idle.enter_context(socket.create_connection(("127.0.0.1", stack.port), timeout=5))
        # Each answer is awaited for a few seconds at most, far longer than one takes; the
        # server used to answer none until idle connections timed out, two minutes later.
        for _ in range(3):
            assert health(stack.port, timeout=5) == {
                "status": "ok",
                "database": "ok",
                "redis": "ok",
            }
