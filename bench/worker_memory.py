"""Resident memory of a real worker process while it works: timers firing, the outbox relayed.

Seeds a SQLite database with the shipped pack and `--timers` instances of a one-step
workflow that waits until a time spread over `--window` seconds (plus `--incidents`
IT incidents, whose notifications fill the outbox), then starts `python -m engine.jobs`
against a real Redis and samples its `VmRSS` in /proc every 50 ms from the moment the
first timer is due until every timer has fired. Each round is a fresh database and a
fresh process, with its own seed. Prints one JSON line: the median over rounds of each
round's peak and median RSS while working, and of its RSS once started and idle.

    python bench/worker_memory.py [--timers 2000] [--incidents 200] [--rounds 3]
    REDIS_URL=redis://127.0.0.1:6379/14 python bench/worker_memory.py   # an existing Redis
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from redis import Redis  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from engine.catalog import Document  # noqa: E402
from engine.service.commands import Commands  # noqa: E402
from engine.service.definitions import load_folder, publish_all  # noqa: E402
from engine.service.people import ensure_user  # noqa: E402
from engine.store.database import Database  # noqa: E402
from engine.store.instances import Timer  # noqa: E402

WAITER = {
    "kind": "workflow",
    "format": 1,
    "key": "bench-waiter",
    "title": "Wait, then end",
    "first": "wait",
    "steps": {"wait": {"type": "wait", "until": "when", "next": "done"}, "done": {"type": "end"}},
}
INCIDENT = {
    "name": "Ada Lovelace", "email": "ada@example.org", "summary": "Printer jammed",
    "description": "It blinks red.", "category": "hardware", "impact": "medium", "urgency": "high",
}  # fmt: skip
TEAM = {"bob": ["desktop-support"], "ada": []}


@contextmanager
def redis_server(folder: Path) -> Iterator[str]:
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    from web.cli.stack import embedded_redis  # only when no Redis is given

    with embedded_redis(folder) as url:
        yield url


def git_commit() -> str:
    return subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()


def rss_kb(pid: int) -> int | None:
    """The process's resident set size in KiB, or None once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return None


def seed(database: Database, timers: int, incidents: int, begin: datetime, window: float,
         rng: random.Random) -> None:  # fmt: skip
    now = datetime.now(UTC)
    with database.writer_session() as session, session.begin():
        load_folder(session, ROOT / "workflows", now, "bench")
        publish_all(session, [Document(Path("waiter.json"), WAITER)], now, "bench")
        for username, groups in TEAM.items():
            ensure_user(session, username, now, groups=groups)
    commands = Commands(database)
    for _ in range(incidents):
        commands.start("it-incident", INCIDENT, requester="ada")
    for _ in range(timers):
        when = begin + timedelta(seconds=rng.uniform(0, window))
        commands.start("bench-waiter", {"when": when.isoformat()})


def pending(database: Database) -> int:
    """The bench's timers not fired yet (the incidents' escalations are due days later)."""
    with database.reading() as session:
        query = (
            select(func.count())
            .select_from(Timer)
            .where(Timer.status == "pending", Timer.step == "wait")
        )
        return int(session.scalar(query) or 0)


def one_round(args: argparse.Namespace, seed_value: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder, redis_server(Path(folder)) as redis_url:
        url = f"sqlite:///{folder}/bench.sqlite3"
        database = Database(url)
        database.migrate()
        begin = datetime.now(UTC) + timedelta(seconds=args.lead + args.timers / 400)
        seed(database, args.timers, args.incidents, begin, args.window, random.Random(seed_value))
        Redis.from_url(redis_url).flushdb()
        env = {**os.environ, "FLOWDESK_DATABASE_URL": url, "REDIS_URL": redis_url}
        worker = subprocess.Popen(
            [sys.executable, "-m", "engine.jobs"],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        samples: list[int] = []
        idle: int | None = None
        try:
            while datetime.now(UTC) < begin:  # started, migrated, relaying the outbox
                idle = rss_kb(worker.pid)
                time.sleep(0.05)
            deadline = begin + timedelta(seconds=args.window + 60)
            checked = 0.0
            while datetime.now(UTC) < deadline:
                rss = rss_kb(worker.pid)
                if rss is None:
                    raise RuntimeError("the worker stopped before its work was done")
                samples.append(rss)
                if time.monotonic() - checked > 1:
                    checked = time.monotonic()
                    if pending(database) == 0:
                        break
                time.sleep(0.05)
            left = pending(database)
        finally:
            worker.terminate()
            worker.wait(timeout=30)
            database.dispose()
    return {
        "rss_peak_mb": max(samples) / 1024,
        "rss_median_mb": statistics.median(samples) / 1024,
        "rss_idle_mb": (idle or 0) / 1024,
        "timers_left": left,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timers", type=int, default=2000)
    parser.add_argument("--incidents", type=int, default=200)
    parser.add_argument("--window", type=float, default=20.0)
    parser.add_argument("--lead", type=float, default=8.0, help="Seconds to start and settle.")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rounds = [one_round(args, args.seed + index) for index in range(args.rounds)]
    figures = {key: round(statistics.median(r[key] for r in rounds), 1) for key in rounds[0]}
    print(json.dumps({
        "commit": git_commit(), **figures, "timers": args.timers, "incidents": args.incidents,
        "window_s": args.window, "rounds": args.rounds, "statistic": "median",
        "load_1m": round(os.getloadavg()[0], 2),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
