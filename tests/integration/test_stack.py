"""`flowdesk up` starts the whole embedded stack, runs timed steps, and stops cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
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


def health(port: int) -> dict[str, str] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as answer:
            body: dict[str, str] = json.load(answer)
            return body
    except OSError:
        return None


@pytest.fixture
def stack_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLOWDESK_", "REDIS_URL"))}
    env["FLOWDESK_INSTANCE_PATH"] = str(tmp_path / "instance")
    return env


def test_up_serves_health_and_fires_a_timed_step(stack_env: dict[str, str], tmp_path: Path) -> None:
    port = free_port()
    up = subprocess.Popen(
        [sys.executable, "-m", "web", "up", "--pack", str(PACK), "--port", str(port)],
        env=stack_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        began = time.monotonic()
        while health(port) is None:
            assert up.poll() is None, up.stdout.read() if up.stdout else ""
            assert time.monotonic() - began < 30, "no health answer within 30 seconds"
            time.sleep(0.25)
        assert health(port) == {"status": "ok", "database": "ok", "redis": "ok"}

        extra = tmp_path / "extra"
        extra.mkdir()
        (extra / "quick.json").write_text(json.dumps(QUICK))
        flowdesk(stack_env, "load", str(extra))
        number = flowdesk(stack_env, "start", "quick-escalation", "--as", "alice").strip()
        started = time.monotonic()
        while "escalated" not in (shown := flowdesk(stack_env, "show", number)):
            assert time.monotonic() - started < 10, f"no escalation within 10 seconds:\n{shown}"
            time.sleep(0.5)
        assert "no answer after 5 s (escalation 1)" in shown
    finally:
        up.send_signal(signal.SIGINT)
        output, _ = up.communicate(timeout=30)
    assert up.returncode == 0, output
    assert "First admin account: admin / " in output
    assert output.rstrip().endswith("Flowdesk stopped.")
    # Seconds of running queued the periodic jobs many times; saying so each time would
    # bury what the log is for.
    assert "Enqueued job" not in output
