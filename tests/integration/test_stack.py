"""`flowdesk up` starts the whole embedded stack, runs timed steps, and stops cleanly.

The tests that only use a started stack share one (`started`): it fires a timed step,
hands the reminder to its mail catcher, and keeps answering while many connections sit
idle. Another starts over a database where the pack is already published, even if newer
versions were published since.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner
from redis import Redis
from redis.exceptions import RedisError

from engine.settings import CATCHER_HOST, CATCHER_MAILDIR
from tests.integration.conftest import PACK
from tests.integration.test_mail_catcher import kept
from web.cli import main
from web.cli.readiness import READY_TIMEOUT_S, Topology
from web.cli.stack import free_port, web_command

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


def clean_env(instance: Path) -> dict[str, str]:
    """This process's environment without Flowdesk's settings, for an instance in `instance`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLOWDESK_", "REDIS_URL"))}
    env["FLOWDESK_INSTANCE_PATH"] = str(instance)
    return env


@pytest.fixture
def stack_env(tmp_path: Path) -> dict[str, str]:
    return clean_env(tmp_path / "instance")


@dataclass
class Stack:
    """A running `flowdesk up`, what it prints read line by line as it comes."""

    port: int
    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))


@contextmanager
def launched(
    env: dict[str, str],
    pack: Path = PACK,
    *,
    interrupts_ignored: bool = False,
    terminal: bool = False,
) -> Iterator[Stack]:
    """Start `flowdesk up`, its output read line by line; killed at the end if still running.

    `interrupts_ignored`: started as a shell starts a command in the background (`&`),
    SIGINT ignored from the start. `terminal`: started as a shell starts a command in the
    foreground, in a process group of its own, which a Ctrl-C at the terminal signals whole.
    """
    port = free_port()
    ignore = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if interrupts_ignored else None
    process = subprocess.Popen(
        [sys.executable, "-m", "web", "up", "--pack", str(pack), "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=ignore,
        process_group=0 if terminal else None,
    )
    stack = Stack(port, process)
    reader = threading.Thread(target=stack.read, name="flowdesk-up-output", daemon=True)
    reader.start()
    try:
        yield stack
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)  # reaped here, not left to a later test's garbage
        reader.join(timeout=5)
        if process.stdout is not None:
            process.stdout.close()


@contextmanager
def running(
    env: dict[str, str],
    pack: Path = PACK,
    *,
    interrupts_ignored: bool = False,
    terminal: bool = False,
) -> Iterator[Stack]:
    """Run `flowdesk up` until it answers /health; stop it with Ctrl-C at the end (see
    `launched` for the ways it is started)."""
    with launched(env, pack, interrupts_ignored=interrupts_ignored, terminal=terminal) as stack:
        process = stack.process
        try:
            began = time.monotonic()
            while health(stack.port) is None:
                assert process.poll() is None, stack.output
                # As long as `up` itself gives its parts: on a busy machine they take a while.
                waited = time.monotonic() - began
                assert waited < READY_TIMEOUT_S, f"no health answer:\n{stack.output}"
                time.sleep(0.25)
            yield stack
        finally:
            if terminal:
                os.killpg(process.pid, signal.SIGINT)
            else:
                process.send_signal(signal.SIGINT)
            try:  # as long as it may take to start: a busy machine slows both
                process.wait(timeout=READY_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                raise AssertionError(f"up did not stop on Ctrl-C:\n{stack.output}") from None
    assert process.returncode == 0, stack.output
    assert stack.output.rstrip().endswith("Flowdesk stopped.")


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
    assert re.search(
        r"Definitions \(1 calendar, \d+ forms, \d+ workflows\): 0 published, ", stack.output
    ), stack.output


@dataclass
class Started:
    """The shared stack, its environment, and the quick escalation alice started on it."""

    stack: Stack
    env: dict[str, str]
    number: str


@pytest.fixture(scope="module")
def started(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Started]:
    """One `flowdesk up` on a new instance, for the tests that only use it (starting one is
    the slow part): bob, who has an address, and alice exist, and alice has started a quick
    escalation, whose reminder to bob is due five seconds later."""
    folder = tmp_path_factory.mktemp("stack")
    env = clean_env(folder / "instance")
    extra = folder / "extra"
    extra.mkdir()
    (extra / "quick.json").write_text(json.dumps(QUICK))
    with running(env) as stack:
        # The workflow names bob: he must exist first.
        flowdesk(env, "user", "bob", "--email", "bob@desk.example")
        flowdesk(env, "user", "alice")  # not public: only a user may start it
        flowdesk(env, "load", str(extra))
        number = flowdesk(env, "start", "quick-escalation", "--as", "alice").strip()
        yield Started(stack, env, number)


def test_up_serves_health_and_fires_a_timed_step(started: Started) -> None:
    assert health(started.stack.port) == {"status": "ok", "database": "ok", "redis": "ok"}
    began = time.monotonic()
    while "Escalated" not in (shown := flowdesk(started.env, "show", started.number)):
        assert time.monotonic() - began < 10, f"no escalation within 10 seconds:\n{shown}"
        time.sleep(0.5)
    assert "no answer after 5 s (escalation 1)" in shown
    assert "First admin account: admin / " in started.stack.output
    # Seconds of running queued the periodic jobs many times; saying so each time would
    # bury what the log is for.
    assert "Enqueued job" not in started.stack.output


def test_up_catches_the_mail_of_the_embedded_stack(started: Started) -> None:
    maildir = Path(started.env["FLOWDESK_INSTANCE_PATH"]) / CATCHER_MAILDIR
    began = time.monotonic()
    while not (maildir / "new").is_dir() or not kept(maildir):
        assert time.monotonic() - began < 20, "no mail caught within 20 seconds"
        time.sleep(0.5)
    (message,) = kept(maildir)
    assert message["To"] == "bob@desk.example"
    assert message["Subject"].startswith(f"Reminder: {started.number} is waiting")
    plain = message.get_body(("plain",))
    assert plain is not None
    assert f"http://127.0.0.1:{started.stack.port}/tasks/" in plain.get_content()
    assert f"Mail: caught on {CATCHER_HOST}:" in started.stack.output


#: More than waitress's default limit of 100 connections.
IDLE_CONNECTIONS = 150


def test_up_keeps_answering_while_many_connections_sit_idle(started: Started) -> None:
    port = started.stack.port
    with ExitStack() as idle:
        for _ in range(IDLE_CONNECTIONS):
            idle.enter_context(socket.create_connection(("127.0.0.1", port), timeout=5))
        # Each answer is awaited for a few seconds at most, far longer than one takes; the
        # server used to answer none until idle connections timed out, two minutes later.
        for _ in range(3):
            assert health(port, timeout=5) == {"status": "ok", "database": "ok", "redis": "ok"}


@pytest.mark.long
def test_up_restarts_its_redis_when_it_dies_and_keeps_working(started: Started) -> None:
    found = re.search(r"Redis: redis://127\.0\.0\.1:(\d+)/", started.stack.output)
    assert found is not None, started.stack.output
    port = int(found.group(1))
    first = Redis(port=port).info("server")["process_id"]
    os.kill(first, signal.SIGKILL)
    began = time.monotonic()
    again = None
    while again is None:
        assert time.monotonic() - began < 20, f"Redis not back in 20 s:\n{started.stack.output}"
        time.sleep(0.25)
        with contextlib.suppress(RedisError):
            again = Redis(port=port).info("server")["process_id"]
    assert again != first
    assert f"redis (pid {first}) was killed by SIGKILL" in started.stack.output
    while health(started.stack.port) != {"status": "ok", "database": "ok", "redis": "ok"}:
        assert time.monotonic() - began < 30, started.stack.output
        time.sleep(0.25)


def test_up_started_in_the_background_still_stops_on_ctrl_c(stack_env: dict[str, str]) -> None:
    """A shell starts a background command (`flowdesk up &`) with SIGINT ignored; `up` stops
    on it all the same, as it says ("Ctrl-C stops everything"): left running, its worker took other
    stacks' jobs from a shared Redis. `running` checks that it stopped, and said so."""
    with running(stack_env, interrupts_ignored=True) as stack:
        assert health(stack.port) is not None


def test_a_ctrl_c_while_up_is_still_starting_stops_it_and_what_it_started(
    stack_env: dict[str, str],
) -> None:
    """Started with SIGINT ignored (`flowdesk up &`), `up` heard Ctrl-C only once its parts
    were running: one sent while it migrated or loaded the pack was lost, and it ran on with
    nobody to stop it. Sent as soon as it says its database, it stops, and nothing it
    started is left (no process holds its instance folder in its environment)."""
    with launched(stack_env, interrupts_ignored=True) as stack:
        began = time.monotonic()
        while "Database:" not in stack.output:
            assert stack.process.poll() is None, stack.output
            assert time.monotonic() - began < READY_TIMEOUT_S, stack.output
            time.sleep(0.01)
        stack.process.send_signal(signal.SIGINT)
        assert stack.process.wait(timeout=READY_TIMEOUT_S) == 0, stack.output
    assert "Flowdesk stopped" in stack.output
    assert "Flowdesk is up" not in stack.output
    assert _processes_of(stack_env["FLOWDESK_INSTANCE_PATH"]) == []


def _processes_of(instance: str) -> list[int]:
    """The processes whose environment names this instance folder (a stack's parts)."""
    found = []
    mine = f"FLOWDESK_INSTANCE_PATH={instance}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:  # gone, or not ours to read
            continue
        if mine in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def test_ctrl_c_at_a_terminal_stops_the_parts_in_order_and_quietly(
    stack_env: dict[str, str],
) -> None:
    """A terminal's Ctrl-C signals the whole foreground process group: the parts of the stack
    are in groups of their own, so only `up` hears it and stops them in order. Before, Redis
    died at once with the rest, and the worker printed a traceback saying it was unreachable."""
    with running(stack_env, terminal=True) as stack:
        began = time.monotonic()
        while "Flowdesk is up" not in stack.output:  # where a person presses Ctrl-C
            assert time.monotonic() - began < READY_TIMEOUT_S, stack.output
            time.sleep(0.1)
        found = re.search(r"Workers: 1 \(pids (\d+)\)", stack.output)
        assert found is not None, stack.output
        assert os.getpgid(int(found.group(1))) != os.getpgid(stack.process.pid)
        time.sleep(2)  # the worker at its periodic work, as it would be
    assert "Traceback" not in stack.output, stack.output
    assert "unreachable" not in stack.output, stack.output


def test_the_served_app_is_built_with_its_heap_out_of_the_collectors_sight(tmp_path: Path) -> None:
    """What a web process builds at start is frozen (`gc.freeze`): the collector's full passes
    walked it all, 70-110 ms during which a request waited (bench/workflow_designer.py)."""
    for web_processes in (None, 2):  # waitress, gunicorn
        command = web_command(Topology("127.0.0.1", free_port(), web_processes, 1, 1))
        factory = next(part for part in command if part.startswith("web.app:"))
        assert factory.removesuffix("()") == "web.app:serve_app"
    script = "import gc; from web.app import serve_app; serve_app(); "
    script += "print(gc.get_freeze_count(), sum(gc.get_count()))"
    env = {**os.environ, "FLOWDESK_INSTANCE_PATH": str(tmp_path), "FLOWDESK_SECRET_KEY": "t" * 48}
    built = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    frozen, left = map(int, built.stdout.split())
    assert frozen > 100_000  # the modules, mappings and templates of the whole app
    assert left < 1_000  # and nothing of it left for the collector to walk


def test_up_checks_its_settings_its_port_and_redis_once_before_starting_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A setting that is not one, a port taken or a Redis that does not answer made each
    part die five times over a minute, in tracebacks, before `up` gave up: now it says all
    of them at once, exit 1, and starts nothing."""
    for name, value in clean_env(tmp_path / "instance").items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("FLOWDESK_DATABASE_URL", raising=False)
    monkeypatch.setenv("FLOWDESK_OUTBOX_MAX_ATTEMPTS", "abc")
    monkeypatch.setenv("FLOWDESK_LOG_LEVEL", "LOUD")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:9/0")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(main, ["up", "--pack", str(PACK), "--port", str(port)])
    assert result.exit_code == 1, result.output
    for said in (
        "FLOWDESK_OUTBOX_MAX_ATTEMPTS='abc' is not a whole number",
        "FLOWDESK_LOG_LEVEL='LOUD': use DEBUG, INFO",
        f"127.0.0.1:{port} cannot be served",
        "REDIS_URL='redis://127.0.0.1:9/0' does not answer",
        "nothing was started",
    ):
        assert said in result.output, result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "instance" / "flowdesk.sqlite3").exists()
