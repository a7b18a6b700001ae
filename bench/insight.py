"""The dashboards over 100,000 incidents: each panel's wall-clock time over HTTP.

Seeds a database (a SQLite file, or a PostgreSQL schema with `--database-url`) with
`--incidents` `it-incident` instances spread over a year, 10 services, 5 teams, 6
categories and 4 priorities, each with the timeline the service writes for it (started,
status changes, a claim or an acknowledgement, SLA clocks started, paused, stopped or
breached, a resolution, the end; some reopened, some waiting on the requester, some
still open), inserted in bulk. Then reads every incident's figures once (`first_read_s`,
what the first dashboard after an upgrade pays), lets PostgreSQL settle as autovacuum
would a minute later (statistics and the visibility map), and serves the app over HTTP in a
process of its own, and asks the API for each panel in turn (`GET /api/v1/insight?panel=`)
with varied filters: ranges of 7, 30, 90 or 365 days, and none or one of service, team,
priority or category. Each round makes `--requests` requests per panel; the figures are
the medians over `--rounds` rounds of each round's p50 and p95, per panel, in ms.
Goal: p95 under 300 ms on SQLite and on PostgreSQL.

    python bench/insight.py [--incidents 100000] [--requests 30] [--rounds 3]
                            [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, insert, select, text  # noqa: E402

from engine.service.commands import Commands  # noqa: E402
from engine.service.definitions import load_folder  # noqa: E402
from engine.service.figures import bring_up_to_date  # noqa: E402
from engine.service.insight import PANELS  # noqa: E402
from engine.service.people import ensure_user  # noqa: E402
from engine.service.tokens import issue_token  # noqa: E402
from engine.store.database import Database  # noqa: E402
from engine.store.definitions import Definition, DefinitionVersion  # noqa: E402
from engine.store.instances import Counter, Event, Instance  # noqa: E402

SERVICES = tuple(f"service-{n}" for n in range(10))
TEAMS = ("service-desk", "desktop-support", "network", "applications", "database")
CATEGORIES = ("hardware", "software", "network", "access", "database", "other")
PRIORITIES = ("P1", "P2", "P3", "P4")
BATCH = 5_000
RANGES = (7, 30, 90, 365)


def git_commit() -> str:
    found = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    )
    dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True)
    return found.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def history(rng: random.Random, started: datetime, now: datetime) -> tuple[list[Any], str]:
    """Return the timeline entries (kind, at, actor, detail) of one incident, and its status."""
    at = started
    entries: list[Any] = [("started", at, "alice", None)]
    entries.append(("status_changed", at, "alice", {"status": "in_progress"}))
    for clock in ("response", "resolution"):
        entries.append(("sla_started", at, "alice", {"clock": clock, "level": "P3"}))

    def later(minutes: int) -> datetime:
        nonlocal at
        at = min(at + timedelta(minutes=rng.randint(1, minutes)), now)
        return at

    if at >= now - timedelta(hours=6) and rng.random() < 0.7:
        return entries, "in_progress"  # new: nobody has it yet
    kind = "acknowledged" if rng.random() < 0.3 else "task_claimed"
    entries.append((kind, later(240), "agent-1", {"task": "t1"}))
    met = rng.random() < 0.85
    entries.append(("sla_stopped", at, "agent-1", {"clock": "response", "met": met}))
    if rng.random() < 0.25:
        entries.append(
            ("status_changed", later(600), "agent-1", {"status": "waiting_on_requester"})
        )
        entries.append(("sla_paused", at, None, {"clock": "resolution"}))
        entries.append(("status_changed", later(2000), "alice", {"status": "in_progress"}))
    if rng.random() < 0.06:
        return entries, "in_progress"  # still being worked on
    entries.append(("status_changed", later(3000), "agent-1", {"status": "resolved"}))
    if rng.random() < 0.1:
        entries.append(("sla_breached", at, None, {"clock": "resolution"}))
    if rng.random() < 0.15:  # the requester says it is not solved: back to work
        entries.append(("status_changed", later(600), "alice", {"status": "in_progress"}))
        entries.append(("status_changed", later(600), "agent-1", {"status": "resolved"}))
    entries.append(("ended", later(3000), "alice", {"status": "closed", "outcome": "closed"}))
    entries.append(("sla_stopped", at, None, {"clock": "resolution", "met": rng.random() < 0.9}))
    if rng.random() < 0.05:
        entries.append(("reopened", later(3000), "agent-2", {"to": "work"}))
        return entries, "open"
    return entries, "closed"


def seed(url: str, incidents: int) -> str:
    """Fill the database as the service would have; return an agent's API token."""
    now = datetime.now(UTC)
    rng = random.Random(20)
    database = Database(url)
    database.migrate()
    with database.writer_session() as session, session.begin():
        load_folder(session, ROOT / "workflows", now, "bench")
        ensure_user(session, "agent-1", now, name="Agent One", roles=["agent"])
        token = issue_token(session, "agent-1", "bench", now)[1]
        version = session.scalar(
            select(DefinitionVersion.id)
            .join(Definition, Definition.id == DefinitionVersion.definition_id)
            .where(Definition.kind == "workflow", Definition.key == "it-incident")
        )
    with database.engine.begin() as connection:
        for start in range(0, incidents, BATCH):
            rows, events = [], []
            for seq in range(start + 1, min(incidents, start + BATCH) + 1):
                started = now - timedelta(minutes=rng.randint(5, 365 * 24 * 60))
                entries, status = history(rng, started, now)
                ended = next((e[1] for e in entries if e[0] == "ended"), None)
                data = {
                    "summary": f"Incident {seq}",
                    "team": rng.choice(TEAMS),
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
                        "title": f"Incident {seq}",
                        "status": status,
                        "priority": rng.choice(PRIORITIES),
                        "requester": "alice",
                        "state": {"format": 3, "workflow": "it-incident", "data": data},
                        "version": len(entries),
                        "last_event": len(entries),
                        "started_at": started,
                        "updated_at": entries[-1][1],
                        "ended_at": ended if status == "closed" else None,
                        "service_key": rng.choice(SERVICES),
                    }
                )
                for number, (kind, at, actor, detail) in enumerate(entries, start=1):
                    events.append(
                        {
                            "instance_id": seq,
                            "seq": number,
                            "kind": kind,
                            "step": None,
                            "at": at,
                            "actor": actor,
                            "why": None,
                            "detail": detail,
                            "command": None,
                        }
                    )
            connection.execute(insert(Instance), rows)
            connection.execute(insert(Event), events)
        connection.execute(insert(Counter), [{"prefix": "INC", "last": incidents}])
    database.dispose()
    return token


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


SERVER = """
import sys
from werkzeug.serving import make_server
from engine.heap import freeze_heap
from web.app import create_app
app = create_app({"DATABASE_URL": sys.argv[1], "SECRET_KEY": "bench-" * 8, "REDIS_URL": "",
                  "UPLOAD_FOLDER": sys.argv[3], "TESTING": False})
freeze_heap()  # as waitress and gunicorn serve it (web.app.serve_app)
make_server("127.0.0.1", int(sys.argv[2]), app, threaded=False).serve_forever()
"""


def serve(url: str, port: int, folder: str) -> subprocess.Popen[bytes]:
    # Its log goes to a file: a pipe nobody reads fills up and stops the server.
    log = Path(folder) / "server.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-c", SERVER, url, str(port), folder],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=out,
        )
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return server
        except OSError as error:
            if server.poll() is not None:
                raise RuntimeError(log.read_text()[-2000:]) from error
            time.sleep(0.1)
    raise RuntimeError("the app did not start")


def query(rng: random.Random, panel: str, today: date) -> str:
    """A varied filter: a range of days, and none or one value filter."""
    days = rng.choice(RANGES)
    args: dict[str, str] = {
        "panel": panel,
        "from": (today - timedelta(days=days - 1)).isoformat(),
        "to": today.isoformat(),
        "bucket": "week" if days > 90 else "day",
    }
    name, values = rng.choice(
        (
            ("", ()),
            ("service", SERVICES),
            ("team", TEAMS),
            ("priority", PRIORITIES),
            ("category", CATEGORIES),
        )
    )
    if name:
        args[name] = rng.choice(values)
    return "/api/v1/insight?" + urlencode(args)


def measure(port: int, token: str, requests: int, seed_: int) -> dict[str, list[float]]:
    rng = random.Random(seed_)
    today = datetime.now(UTC).date()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    headers = {"Authorization": f"Bearer {token}"}
    timings: dict[str, list[float]] = {}
    for panel in (*PANELS, "all"):
        timings[panel] = []
        for _ in range(requests):
            path = query(rng, panel, today)
            if panel == "all":
                path = path.replace("panel=all&", "")
            began = time.perf_counter()
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            body = response.read()
            timings[panel].append((time.perf_counter() - began) * 1000)
            if response.status != 200:
                raise RuntimeError(f"{path}: {response.status} {body[:300]!r}")
    return timings


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def settle(database: Database) -> None:
    """On PostgreSQL, what autovacuum does within a minute or two of a bulk load: table
    statistics for the planner (without them it guessed 75 rows for 100,000, and sorted on
    disk where it would hash), and the visibility map that lets an index answer alone."""
    if database.engine.dialect.name != "postgresql":
        return
    with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM (ANALYZE)"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="flowdesk-insight-")
    url, schema = args.database_url, None
    admin = None
    if url:
        schema = f"bench_insight_{uuid.uuid4().hex[:8]}"
        admin = create_engine(Database(url).url)
        with admin.begin() as connection:
            connection.execute(text(f"CREATE SCHEMA {schema}"))
        url = f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"
    else:
        url = f"sqlite:///{folder}/flowdesk.sqlite3"
    server = None
    try:
        began = time.perf_counter()
        token = seed(url, args.incidents)
        seeded_s = time.perf_counter() - began
        database = Database(url)
        began = time.perf_counter()
        read = bring_up_to_date(Commands(database))
        first_read_s = time.perf_counter() - began
        settle(database)
        database.dispose()
        port = free_port()
        server = serve(url, port, folder)
        rounds = [measure(port, token, args.requests, n) for n in range(args.rounds)]
        panels = {
            panel: {
                "p50_ms": round(statistics.median(percentile(r[panel], 0.5) for r in rounds), 1),
                "p95_ms": round(statistics.median(percentile(r[panel], 0.95) for r in rounds), 1),
            }
            for panel in rounds[0]
        }
        print(
            json.dumps(
                {
                    "bench": "insight",
                    "commit": git_commit(),
                    "database": Database(url).engine.dialect.name,
                    "incidents": args.incidents,
                    "figures_read": read,
                    "requests_per_panel": args.requests,
                    "rounds": args.rounds,
                    "seeded_s": round(seeded_s, 1),
                    "first_read_s": round(first_read_s, 1),
                    "panels": panels,
                    "worst_p95_ms": max(p["p95_ms"] for p in panels.values()),
                    "load": os.getloadavg()[0],
                }
            )
        )
    finally:
        if server is not None:
            server.terminate()
            server.wait()
        if admin is not None and schema is not None:
            with admin.begin() as connection:
                connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
            admin.dispose()
        shutil.rmtree(folder, ignore_errors=True)  # a year of incidents: about 190 MB


if __name__ == "__main__":
    main()
