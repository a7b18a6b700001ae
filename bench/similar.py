"""Similar incidents and self-help over 100,000 incidents: each answer's time, in process.

Seeds a database (a SQLite file, or a PostgreSQL schema with `--database-url`) with
`--incidents` `it-incident` instances over a year, three in four resolved, their titles
and descriptions drawn from a vocabulary of IT trouble (a few words very common, most
rare, as in a real desk), each indexed as the service indexes it (`instance_search`),
on 10 services and 6 categories; and `--known-errors` problems in status `known_error`,
most with a published workaround (on PostgreSQL, `ANALYZE`d, as autovacuum would have
them). Then asks `Similar.of` for `--requests` open incidents
picked at random, and `SelfHelp.answers` for as many report texts, through the service
layer as the doors do, and prints the p50 and p95 of each, in ms. Goal: p95 under 100 ms.

    python bench/similar.py [--incidents 100000] [--requests 200]
                            [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert, text

from bench.incidents import (
    BATCH,
    CATEGORIES,
    FILLER,
    PLACES,
    SERVICES,
    SYMPTOMS,
    THINGS,
    git_commit,
    percentile,
    prepared,
    scratch_database,
    search_insert,
    zipf,
)
from engine.service.commands import Commands
from engine.service.finder import Finder
from engine.service.self_help import SelfHelp
from engine.service.similar import Similar
from engine.store.database import Database
from engine.store.instances import Counter, Instance
from engine.store.search import index_rows


def report(rng: random.Random) -> tuple[str, str]:
    thing, symptom = zipf(rng, THINGS), zipf(rng, SYMPTOMS)
    title = f"{thing} {symptom} on {rng.choice(PLACES)} {rng.randint(1, 40)}"
    words = [zipf(rng, THINGS), symptom, *rng.sample(FILLER, 8), f"code{rng.randint(1, 5000)}"]
    return title, " ".join(words)


def seed(url: str, incidents: int, known_errors: int) -> list[str]:
    """Fill the database; return the numbers of the open incidents."""
    now = datetime.now(UTC)
    rng = random.Random(58)
    database = Database(url)
    version = prepared(database, now)
    postgresql = database.engine.dialect.name == "postgresql"
    index = search_insert(database)
    opened: list[str] = []
    total = incidents + known_errors
    with database.engine.begin() as connection:
        for start in range(0, total, BATCH):
            rows: list[dict[str, Any]] = []
            for seq in range(start + 1, min(total, start + BATCH) + 1):
                started = now - timedelta(minutes=rng.randint(5, 365 * 24 * 60))
                title, description = report(rng)
                problem = seq > incidents
                closed = not problem and rng.random() < 0.75
                data: dict[str, Any] = {
                    "summary": title,
                    "description": description,
                    "category": rng.choice(CATEGORIES),
                }
                if closed:
                    data["resolution"] = f"Replaced the {zipf(rng, THINGS)} and restarted it."
                if problem:
                    data = {
                        "title": title,
                        "description": description,
                        "workaround": f"Use another {title.split()[0]} meanwhile.",
                        "publish_workaround": rng.random() < 0.8,
                    }
                number = f"PRB-{seq:06d}" if problem else f"INC-{seq:06d}"
                rows.append(
                    {
                        "id": seq,
                        "number": number,
                        "prefix": number[:3],
                        "seq": seq,
                        "workflow_key": "problem" if problem else "it-incident",
                        "workflow_version_id": version,
                        "title": title,
                        "status": "known_error" if problem else "closed" if closed else "open",
                        "priority": "P3",
                        "requester": "alice",
                        "state": {"format": 3, "data": data, "outcome": "resolved"},
                        "started_at": started,
                        "updated_at": started,
                        "ended_at": started + timedelta(hours=3) if closed else None,
                        "service_key": rng.choice(SERVICES),
                    }
                )
                if not closed and not problem:
                    opened.append(number)
            connection.execute(insert(Instance), rows)
            found = [(r["id"], r["number"], r["title"], r["state"]["data"]) for r in rows]
            connection.execute(index, index_rows(found))
        connection.execute(insert(Counter), [{"prefix": "INC", "last": incidents}])
    if postgresql:
        # The statistics autovacuum keeps on a live database: without them the planner
        # guesses that few rows match a search, and reads every match to sort them.
        with database.engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
    database.dispose()
    return opened


def timed(calls: list[Any]) -> dict[str, float]:
    took = []
    for call in calls:
        began = time.perf_counter()
        call()
        took.append((time.perf_counter() - began) * 1000)
    return {
        "p50_ms": round(statistics.median(took), 1),
        "p95_ms": round(percentile(took, 0.95), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--known-errors", type=int, default=300)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    args = parser.parse_args()
    with scratch_database(args.database_url, "similar") as url:
        began = time.perf_counter()
        opened = seed(url, args.incidents, args.known_errors)
        seeded_s = time.perf_counter() - began
        database = Database(url)
        commands = Commands(database)
        agent = Finder(commands).person("agent-1")
        rng = random.Random(5)
        subjects = [rng.choice(opened) for _ in range(args.requests)]
        texts = [" ".join(report(rng)) for _ in range(args.requests)]
        similar = Similar(commands)
        shown = [len(similar.of(agent, number).items) for number in subjects[:20]]
        helper = SelfHelp(commands)
        answered = [len(helper.answers(typed)) for typed in texts[:20]]
        print(
            json.dumps(
                {
                    "bench": "similar",
                    "commit": git_commit(),
                    "database": database.engine.dialect.name,
                    "incidents": args.incidents,
                    "known_errors": args.known_errors,
                    "seeded_s": round(seeded_s, 1),
                    "similar": timed([lambda n=n: similar.of(agent, n) for n in subjects]),
                    "similar_shown_mean": round(statistics.mean(shown), 1),
                    "self_help": timed([lambda t=t: helper.answers(t) for t in texts]),
                    "self_help_answered_mean": round(statistics.mean(answered), 1),
                    "load": os.getloadavg()[0],
                }
            )
        )
        database.dispose()


if __name__ == "__main__":
    main()
