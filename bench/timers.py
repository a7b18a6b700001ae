"""Timed steps under load: 10,000 timers due over 60 seconds, run by two real RQ workers.

Starts instances of a one-step workflow that waits until a time in its data,
spread over a 60-second window, then runs two `flowdesk worker` processes
against a real Redis until every timer has fired, and reads from the database
how late each one fired. Prints one JSON line with `lateness_p50_s`,
`lateness_p95_s`, `lateness_max_s`, `early`, `lost` and `duplicated`.

    python bench/timers.py [--timers 10000] [--window 60]
    REDIS_URL=redis://127.0.0.1:6379/14 python bench/timers.py   # an existing Redis
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
from engine.service.definitions import publish_all  # noqa: E402
from engine.store.database import Database  # noqa: E402
from engine.store.instances import Event, Timer  # noqa: E402
from web.cli.stack import embedded_redis  # noqa: E402

WAITER = {
    "kind": "workflow",
    "format": 1,
    "key": "bench-waiter",
    "title": "Wait, then end",
    "first": "wait",
    "steps": {"wait": {"type": "wait", "until": "when", "next": "done"}, "done": {"type": "end"}},
}


@contextmanager
def redis_server(folder: Path) -> Iterator[str]:
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    with embedded_redis(folder) as url:
        yield url


def seed(
    commands: Commands, count: int, begin: datetime, window: float, rng: random.Random
) -> None:
    for _ in range(count):
        when = begin + timedelta(seconds=rng.uniform(0, window))
        commands.start("bench-waiter", {"when": when.isoformat()})


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timers", type=int, default=10_000)
    parser.add_argument("--window", type=float, default=60.0)
    parser.add_argument("--lead", type=float, default=15.0, help="Seconds before the first is due.")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, redis_server(Path(folder)) as redis_url:
        url = f"sqlite:///{folder}/bench.sqlite3"
        database = Database(url)
        database.migrate()
        with database.writer_session() as session, session.begin():
            publish_all(
                session, [Document(Path("waiter.json"), WAITER)], datetime.now(UTC), "bench"
            )
        commands = Commands(database)
        begin = datetime.now(UTC) + timedelta(seconds=args.lead)
        seed(commands, args.timers, begin, args.window, random.Random(7))
        Redis.from_url(redis_url).flushdb()
        env = {**os.environ, "FLOWDESK_DATABASE_URL": url, "REDIS_URL": redis_url}
        workers = [
            subprocess.Popen(
                [sys.executable, "-m", "web", "worker"],
                env=env,
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for _ in range(args.workers)
        ]
        try:
            deadline = begin + timedelta(seconds=args.window + 60)
            while datetime.now(UTC) < deadline and pending(database) > 0:
                time.sleep(1)
        finally:
            for worker in workers:
                worker.terminate()
            for worker in workers:
                worker.wait(timeout=30)
        print(json.dumps(figures(database, args.timers)))
        database.dispose()


def pending(database: Database) -> int:
    with database.reading() as session:
        return int(
            session.scalar(select(func.count()).select_from(Timer).where(Timer.status == "pending"))
            or 0
        )


def figures(database: Database, count: int) -> dict[str, Any]:
    with database.reading() as session:
        rows = session.execute(select(Timer.due_at, Timer.fired_at, Timer.status)).all()
        fired_events = dict(
            session.execute(
                select(Event.instance_id, func.count())
                .where(Event.kind == "timer_fired")
                .group_by(Event.instance_id)
            ).all()
        )
    lateness = [(fired - due).total_seconds() for due, fired, status in rows if status == "fired"]
    return {
        "timers": count,
        "lateness_p50_s": round(statistics.median(lateness), 3) if lateness else None,
        "lateness_p95_s": round(percentile(lateness, 0.95), 3) if lateness else None,
        "lateness_max_s": round(max(lateness), 3) if lateness else None,
        "early": sum(1 for late in lateness if late < 0),
        "lost": sum(1 for _due, _fired, status in rows if status == "pending"),
        "duplicated": sum(n - 1 for n in fired_events.values() if n > 1),
    }


if __name__ == "__main__":
    main()
