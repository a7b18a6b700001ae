"""Child processes of the integration tests: command runners, and real worker processes.

A concurrency test's child (`run`) is a separate OS process with its own `Database` and
`Commands`, as a web or RQ worker process would be. Its calls come in rounds: every
child waits at a barrier, then all make their calls of the round at the same moment.
Every answer is written to a JSON file for the test to judge.

`worker_process` runs `python -m engine.jobs` as production does, and always reaps it:
asked to stop, it must be gone within `STOP_GRACE_S`; whatever happens in the test, it
is killed and waited for, so no process outlives its test.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from threading import Barrier
from typing import Any

from sqlalchemy import text

from engine.service.commands import Commands
from engine.service.errors import ServiceError
from engine.store.database import Database

#: How long a child waits for the others at a barrier, in seconds.
BARRIER_TIMEOUT = 120

#: A call to make: {"command": "complete" | "start", "workflow", "key", and the arguments}.
Call = dict[str, Any]

#: The repository's root: where a worker process runs.
ROOT = Path(__file__).resolve().parents[2]
#: How long a worker may take to stop after SIGTERM. It finishes the job it is in first:
#: jobs are short, and a relay run starts no delivery after a second (`RELAY_BUDGET`).
STOP_GRACE_S = 15


def run(url: str, at: str, rounds: list[list[Call]], barrier: Barrier, out: str) -> None:
    """Make the calls against the database at `url`, each round at once with the other children.

    Every child must be given the same number of rounds (the barrier counts them all).
    """
    answers: list[dict[str, Any]] = []
    try:
        database = Database(url)
        moment = datetime.fromisoformat(at)
        commands = Commands(database, clock=lambda: moment)
        _warm_up(commands)
        for calls in rounds:
            barrier.wait(BARRIER_TIMEOUT)
            for call in calls:
                began = time.time()
                answer = _answer(commands, call)
                answers.append({**call, **answer, "began": began, "ended": time.time()})
        database.dispose()
    except BaseException:  # the test shows whatever stopped the child
        answers.append({"command": "child", "crash": traceback.format_exc()})
        barrier.abort()
    Path(out).write_text(json.dumps(answers))


def _warm_up(commands: Commands) -> None:
    # Connect before the start line, so the children collide on the commands themselves.
    with commands.database.reading() as session:
        session.execute(text("SELECT 1"))


def _answer(commands: Commands, call: Call) -> dict[str, Any]:
    """Return `{"ok": result}`, `{"error": code, "message": ...}` or `{"crash": traceback}`."""
    try:
        return {"ok": _make(commands, call)}
    except ServiceError as error:
        return {"error": error.code, "kind": type(error).__name__, "message": error.message}
    except Exception:
        return {"crash": traceback.format_exc()}


def _make(commands: Commands, call: Call) -> dict[str, Any]:
    if call["command"] == "complete":
        return commands.complete(
            call["task"], call["outcome"], call["data"], actor=call["actor"], key=call["key"]
        )
    if call["command"] == "start":
        return commands.start(
            call["workflow"], call["data"], requester=call["requester"], key=call["key"]
        )
    raise ValueError(f"unknown command {call['command']!r}")


@dataclass
class WorkerProcess:
    """A running `python -m engine.jobs`, its log in a file."""

    process: subprocess.Popen[bytes]
    log: Path

    def running(self) -> bool:
        return self.process.poll() is None

    def output(self) -> str:
        """The worker's log so far (its stderr), for a failing test to show."""
        return self.log.read_text(errors="replace")

    def stop(self, grace: float = STOP_GRACE_S) -> int:
        """SIGTERM the worker and return its exit status; fail if it outlives `grace`."""
        if self.running():
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(
                f"the worker was still running {grace} s after SIGTERM; its log:\n"
                + self.output()[-4000:]
            ) from None

    def kill(self) -> None:
        """SIGKILL the worker (if it still runs) and reap it."""
        if self.running():
            self.process.kill()
        self.process.wait()


@contextmanager
def worker_process(
    database_url: str,
    redis_url: str | None,
    log: Path,
    *args: str,
    env: Mapping[str, str] | None = None,
    python: Sequence[str] = (),
) -> Iterator[WorkerProcess]:
    """Run a worker process for the `with` block; it is always reaped when the block ends.

    A test that wants to judge how the worker stops calls `stop()` itself; otherwise the
    worker is stopped with SIGTERM at the end, and killed if that does not do. A
    `redis_url` of None runs it with no REDIS_URL at all.
    """
    environment = {
        **{k: v for k, v in os.environ.items() if k != "REDIS_URL"},
        **(env or {}),
        "FLOWDESK_DATABASE_URL": database_url,
    }
    if redis_url is not None:
        environment["REDIS_URL"] = redis_url
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, *python, "-m", "engine.jobs", *args],
            env=environment,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=output,
        )
    worker = WorkerProcess(process, log)
    try:
        yield worker
    finally:
        if worker.running():
            process.send_signal(signal.SIGTERM)
            with suppress(subprocess.TimeoutExpired):
                process.wait(timeout=STOP_GRACE_S)
        worker.kill()
