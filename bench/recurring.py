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
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, insert, select, text  # noqa: E402

from engine.service.commands import Commands  # noqa: E402
from engine.service.definitions import load_folder  # noqa: E402
from engine.service.people import ensure_user  # noqa: E402
from engine.service.recurring import Recurring  # noqa: E402
from engine.store.database import Database  # noqa: E402
from engine.store.definitions import Definition, DefinitionVersion  # noqa: E402
from engine.store.instances import Counter, Instance  # noqa: E402
from engine.store.search import index_rows  # noqa: E402
from engine.store.services import Alert, Integration, Service  # noqa: E402

SERVICES = tuple(f"service-{n}" for n in range(10))
CATEGORIES = ("hardware", "software", "network", "access", "database", "other")


def _words(line: str) -> list[str]:
    return line.split()


THINGS = _words(
    "printer laptop vpn wifi mail outlook teams monitor keyboard phone badge scanner database "
    "server backup share folder password account license browser citrix sap jira wiki docker "
    "kubernetes certificate dns proxy firewall router switch headset webcam projector"
)
SYMPTOMS = _words(
    "slow down broken crashes freezes disconnects jams blinks missing locked expired fails "
    "errors timeout flickers overheats beeps hangs rejects refuses loses drops"
)
FILLER = _words(
    "since this morning after update again every hour when starting cannot work since "
    "yesterday whole team customers waiting urgent sometimes randomly restart did not help"
)
FINGERPRINTS = 500
BATCH = 5_000


def git_commit() -> str:
    found = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    )
    dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True)
    return found.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def zipf(rng: random.Random, words: list[str]) -> str:
    """A word, the first ones much more often than the last (as reports name things)."""
    return words[min(int(rng.paretovariate(1.2)) - 1, len(words) - 1)]


def seed(url: str, incidents: int) -> None:
    """Fill the database as the service would have, in bulk."""
    now = datetime.now(UTC)
    rng = random.Random(57)
    database = Database(url)
    database.migrate()
    with database.writer_session() as session, session.begin():
        load_folder(session, ROOT / "workflows", now, "bench")
        ensure_user(session, "agent-1", now, name="Agent One", roles=["agent"])
        version = session.scalar(
            select(DefinitionVersion.id)
            .join(Definition, Definition.id == DefinitionVersion.definition_id)
            .where(Definition.kind == "workflow", Definition.key == "it-incident")
        )
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
    key = "instance_id" if database.engine.dialect.name == "postgresql" else "rowid"
    index = text(
        f"INSERT INTO instance_search ({key}, title, body, notes) "
        "VALUES (:instance, :title, :body, '')"
    )
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


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=10)
    parser.add_argument("--days", type=int, nargs="+", default=[7, 30])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="flowdesk-recurring-")
    url, schema, admin = args.database_url, None, None
    if url:
        schema = f"bench_recurring_{uuid.uuid4().hex[:8]}"
        admin = create_engine(Database(url).url)
        with admin.begin() as connection:
            connection.execute(text(f"CREATE SCHEMA {schema}"))
        url = f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"
    else:
        url = f"sqlite:///{folder}/flowdesk.sqlite3"
    try:
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
    finally:
        if admin is not None and schema is not None:
            with admin.begin() as connection:
                connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
            admin.dispose()


if __name__ == "__main__":
    main()
