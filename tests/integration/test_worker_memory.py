"""The worker's resident memory: what it imports stays what it needs to work.

`bench/worker_memory.py` measures the memory; this proves the part of it a change most
easily loses: Alembic (with Mako and Pygments, about 11 MB) is used only to migrate at
start-up, which runs in a child process, so the worker itself never imports it.
"""

from __future__ import annotations

from pathlib import Path

from redis import Redis
from rq import Queue

from engine.jobs import timers
from engine.service.commands import Commands
from engine.store.database import Database
from tests.integration.conftest import INCIDENT
from tests.integration.workers import worker_process

#: What only migrating needs.
MIGRATION_ONLY = ("alembic", "mako", "pygments")


def imported(log: str) -> set[str]:
    """The modules a `python -X importtime` run imported, read from its stderr."""
    return {
        line.rsplit("|", 1)[1].strip()
        for line in log.splitlines()
        if line.startswith("import time:") and line.count("|") == 2
    }


def test_a_worker_migrates_and_fires_timers_without_importing_alembic(
    commands: Commands, database: Database, database_url: str, redis: Redis, redis_url: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    commands.start("it-incident", INCIDENT, requester="alice")
    assert timers.dispatch(database, Queue(timers.QUEUE, connection=redis)) > 0

    with worker_process(
        database_url, redis_url, tmp_path / "worker.log", "--burst", python=("-X", "importtime")
    ) as worker:
        assert worker.process.wait(timeout=60) == 0, worker.output()[-4000:]

    modules = imported(worker.output())
    assert "engine.jobs.worker" in modules  # the log is what we think it is
    heavy = sorted(m for m in modules if m.split(".")[0] in MIGRATION_ONLY)
    assert heavy == [], f"the worker imported {heavy[:5]}"
