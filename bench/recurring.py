"""Recurring incidents over 100,000 incidents: how long the desk waits for the proposals.

Seeds a database (a SQLite file, or a PostgreSQL schema with `--database-url`) with
`--incidents` `it-incident` instances spread over a year (about 1,900 in any 7 days),
numbered in the order they came in, on 10 services and 6 categories, their titles and
descriptions drawn from a vocabulary of IT trouble (a few words very common, most rare),
each indexed as the service indexes it (`instance_search`), a tenth of them fed by one of
500 alert fingerprints. Then asks
`Recurring.proposals` `--requests` times for each window of `--days` (7 and 30 by default),
through the service layer as the doors do, and prints one JSON line: per window, the p50
and p95 in ms, and how many groups it proposed.

    python bench/recurring.py [--incidents 100000] [--requests 10] [--days 7 30]
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
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert, text

from bench.incidents import (
    BATCH,
    CATEGORIES,
    FILLER,
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
from engine.service.recurring import Recurring
from engine.store.database import Database
from engine.store.instances import Counter, Instance
from engine.store.search import index_rows
from engine.store.services import Alert, Integration, Service

FINGERPRINTS = 500


def seed(url: str, incidents: int) -> None:
    """Fill the database as the service would have, in bulk."""
    now = datetime.now(UTC)
    rng = random.Random(57)
    database = Database(url)
    version = prepared(database, now)
    with database.writer_session() as session, session.begin():
        service = Service(
            key="monitored", name="Monitored", workflow_key="it-incident", severity_rules={},
            start_data={}, created_at=now, updated_at=now,
        )  # fmt: skip
        session.add(service)
        session.flush()
        integration = Integration(
            service_id=service.id, kind="alertmanager", name="prom", token_hash="0" * 64,
            created_at=now,
        )  # fmt: skip
        session.add(integration)
        session.flush()
        integration_id = integration.id
    index = search_insert(database)
    # Numbers are given in the order incidents come in: a window's are one range of ids.
    starts = sorted(
        now - timedelta(minutes=rng.randint(5, 365 * 24 * 60)) for _ in range(incidents)
    )
    with database.engine.begin() as connection:
        for start in range(0, incidents, BATCH):
            rows: list[dict[str, Any]] = []
            alerts: list[dict[str, Any]] = []
            for seq in range(start + 1, min(incidents, start + BATCH) + 1):
                started = starts[seq - 1]
                thing, symptom = zipf(rng, THINGS), zipf(rng, SYMPTOMS)
                title = f"{thing} {symptom} on floor {rng.randint(1, 40)}"
                words = [zipf(rng, THINGS), symptom, *rng.sample(FILLER, 8)]
                closed = rng.random() < 0.75
                data = {
                    "summary": title,
                    "description": " ".join(words),
                    "category": rng.choice(CATEGORIES),
                }
                rows.append(
                    {
                        "id": seq,
                        "number": f"INC-{seq:06d}",
                        "prefix": "INC",
                        "seq": seq,
                        "workflow_key": "it-incident",
                        "workflow_version_id": version,
                        "title": title,
                        "status": "closed" if closed else "in_progress",
                        "priority": "P3",
                        "requester": "alice",
                        "state": {"format": 3, "data": data},
                        "started_at": started,
                        "updated_at": started,
                        "ended_at": started + timedelta(hours=3) if closed else None,
                        "service_key": rng.choice(SERVICES),
                    }
                )
                if rng.random() < 0.1:
                    alerts.append(
                        {
                            "instance_id": seq,
                            "integration_id": integration_id,
                            "kind": "alertmanager",
                            "dedup_key": f"group-{rng.randint(1, FINGERPRINTS)}",
                            "action": "trigger",
                            "summary": title,
                            "digest": uuid.uuid4().hex * 2,
                            "body": {},
                            "received_at": started,
                        }
                    )
            connection.execute(insert(Instance), rows)
            found = [(r["id"], r["number"], r["title"], r["state"]["data"]) for r in rows]
            connection.execute(index, index_rows(found))
            if alerts:
                connection.execute(insert(Alert), alerts)
        connection.execute(insert(Counter), [{"prefix": "INC", "last": incidents}])
    with database.engine.begin() as connection:
        connection.execute(text("ANALYZE"))  # as autovacuum would, a minute later
    database.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=10)
    parser.add_argument("--days", type=int, nargs="+", default=[7, 30])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    args = parser.parse_args()
    with scratch_database(args.database_url, "recurring") as url:
        began = time.perf_counter()
        seed(url, args.incidents)
        seeded_s = time.perf_counter() - began
        database = Database(url)
        recurring = Recurring(Commands(database))
        windows = {}
        for days in args.days:
            took, groups = [], 0
            for _ in range(args.requests):
                began = time.perf_counter()
                groups = len(recurring.proposals("agent-1", days=days))
                took.append((time.perf_counter() - began) * 1000)
            windows[f"{days}d"] = {
                "p50_ms": round(statistics.median(took), 1),
                "p95_ms": round(percentile(took, 0.95), 1),
                "proposals": groups,
            }
        print(
            json.dumps(
                {
                    "bench": "recurring",
                    "commit": git_commit(),
                    "database": database.engine.dialect.name,
                    "incidents": args.incidents,
                    "seeded_s": round(seeded_s, 1),
                    "windows": windows,
                    "load": os.getloadavg()[0],
                }
            )
        )
        database.dispose()


if __name__ == "__main__":
    main()
