"""What the child processes of the concurrency tests run: many commands, each answer written down.

Each child is a separate OS process with its own `Database` and `Commands`, as a
web or RQ worker process would be. Its calls come in rounds: every child waits at
a barrier, then all make their calls of the round at the same moment. Every
answer is written to a JSON file for the test to judge.
"""

from __future__ import annotations

import json
import time
import traceback
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
