"""The agents' inbox under load: one agent's inbox page and task list among 100,000 instances.

Seeds a database (PostgreSQL at FLOWDESK_TEST_DATABASE_URL, else a SQLite file) with
100,000 `it-incident` instances, 20,000 of them open with one open task each, spread
over 50 agents and 10 groups (half held by an agent, half waiting in a group's
queue), the 80,000 others closed with their completed tasks and events. Then runs
the app in its own processes under gunicorn with 2 x cores + 1 synchronous workers
(gunicorn's own advice; threads in a worker lengthened the tail on this 2-core
machine: p95 264 ms with 4 workers of 4 threads against 120-137 ms with 2 to 5
workers of one), and has 16 concurrent clients ask for one agent's inbox page
(signed in by session) and for `GET /api/v1/tasks` (with an API token), taking
turns over `--rounds` rounds. Prints one JSON line with the median over the rounds
of the `p50_ms` and `p95_ms` of each. Target: p95 at most 150 ms.

    python bench/inbox.py [--instances 100000] [--open 20000] [--clients 16] [--requests 800]
                          [--rounds 3] [--workers 2*cores+1] [--threads 1]
    FLOWDESK_TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1/test python bench/inbox.py
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, insert, select, text  # noqa: E402

from engine.service.accounts import set_password  # noqa: E402
from engine.service.apply import sort_key  # noqa: E402
from engine.service.definitions import load_folder  # noqa: E402
from engine.service.people import ensure_user  # noqa: E402
from engine.service.tokens import issue_token  # noqa: E402
from engine.store.database import Database  # noqa: E402
from engine.store.definitions import Definition, DefinitionVersion  # noqa: E402
from engine.store.instances import Counter, Event, Instance, Task  # noqa: E402
from web.cli.stack import free_port  # noqa: E402

AGENTS = 50
GROUPS = 10
PASSWORD = "bench-password-123"
PRIORITIES = ("P1", "P2", "P3", "P4")
BATCH = 5_000
STATUSES_OPEN = ("in_progress", "waiting_on_requester", "resolved")


def agent(n: int) -> str:
    return f"agent{n:02d}"


def group(n: int) -> str:
    return f"team{n}"


def seed(database: Database, instances: int, open_count: int) -> str:
    """Fill the database; return an API token of agent00."""
    now = datetime.now(UTC)
    rng = random.Random(7)
    with database.writer_session() as session, session.begin():
        load_folder(session, ROOT / "workflows", now, "bench")
        for n in range(AGENTS):
            ensure_user(session, agent(n), now, name=f"Agent {n}", groups=[group(n % GROUPS)])
        set_password(session, agent(0), PASSWORD)
        _, token = issue_token(session, agent(0), "bench", now)
        version = session.scalar(
            select(DefinitionVersion.id)
            .join(Definition, Definition.id == DefinitionVersion.definition_id)
            .where(Definition.kind == "workflow", Definition.key == "it-incident")
        )
    state_template = {"format": 1, "workflow": "it-incident", "runs": [], "timers": []}
    with database.engine.begin() as connection:
        for start in range(0, instances, BATCH):
            rows, tasks, events = [], [], []
            for seq in range(start + 1, min(instances, start + BATCH) + 1):
                is_open = seq > instances - open_count
                started = now - timedelta(minutes=rng.randint(5, 60 * 24 * 60))
                priority = rng.choice(PRIORITIES)
                due = now + timedelta(minutes=rng.randint(-120, 60 * 24 * 3))
                sla = {
                    "response_due_at": None,
                    "resolution_due_at": due if is_open else None,
                    "response_breached": False,
                    "resolution_breached": is_open and due < now,
                }
                rows.append(
                    {
                        **sla,
                        "id": seq,
                        "number": f"INC-{seq:06d}",
                        "prefix": "INC",
                        "seq": seq,
                        "workflow_key": "it-incident",
                        "workflow_version_id": version,
                        "title": f"Incident {seq}: printer on floor {seq % 9}",
                        "status": rng.choice(STATUSES_OPEN) if is_open else "closed",
                        "priority": priority,
                        "requester": None,
                        "state": {**state_template, "data": {"summary": f"Incident {seq}"}},
                        "version": 3,
                        "last_event": 2,
                        "started_at": started,
                        "updated_at": started,
                        "ended_at": None if is_open else started + timedelta(hours=3),
                    }
                )
                holder = rng.randrange(AGENTS)
                queued = is_open and rng.random() < 0.5
                tasks.append(
                    {
                        "instance_id": seq,
                        "key": "t1",
                        "step": "work",
                        "title": f"INC-{seq:06d} {priority}: Incident {seq}",
                        "form": "incident-resolution",
                        "role": None,
                        "outcomes": ["resolved", "needs_info"],
                        "assignment": {"group": group(holder % GROUPS)},
                        "assignee": None if queued else agent(holder),
                        "candidate_group": group(holder % GROUPS),
                        "delegated_by": None,
                        "status": "open" if is_open else "completed",
                        "outcome": None if is_open else "resolved",
                        "due_at": due,
                        "created_at": started,
                        "completed_at": None if is_open else started + timedelta(hours=2),
                        "completed_by": None if is_open else agent(holder),
                        "data": None,
                        **sort_key(sla, due, started),
                    }
                )
                for event_seq, kind in ((1, "started"), (2, "task_opened")):
                    events.append(
                        {
                            "instance_id": seq,
                            "seq": event_seq,
                            "kind": kind,
                            "step": None,
                            "at": started,
                            "actor": None,
                            "why": "seeded",
                            "detail": None,
                            "command": None,
                        }
                    )
            connection.execute(insert(Instance), rows)
            connection.execute(insert(Task), tasks)
            connection.execute(insert(Event), events)
        connection.execute(insert(Counter), [{"prefix": "INC", "last": instances}])
        if connection.dialect.name == "postgresql":
            connection.execute(
                text("SELECT setval(pg_get_serial_sequence('instances', 'id'), :n)"),
                {"n": instances},
            )
    # As autovacuum leaves a database after bulk writes: statistics fresh and, on
    # PostgreSQL, the visibility map set, so counting a queue reads only its index.
    vacuum = "VACUUM ANALYZE" if database.engine.dialect.name == "postgresql" else "ANALYZE"
    with database.engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT").execute(text(vacuum))
    return token


@contextmanager
def web_server(folder: Path, database_url: str, threads: int, workers: int) -> Iterator[int]:
    """Run the app in its own processes, so clients do not share its GIL.

    One worker: waitress (what `flowdesk up` runs). More: gunicorn with that many
    worker processes of `threads` threads each (what a production machine runs).
    """
    port = free_port()
    env = {
        **os.environ,
        "FLOWDESK_DATABASE_URL": database_url,
        "FLOWDESK_INSTANCE_PATH": str(folder),
        "FLOWDESK_SECRET_KEY": "bench",
        "FLOWDESK_SIGN_IN_RATE_LIMIT": "100000 per minute",
    }
    env.pop("REDIS_URL", None)  # limits counted in memory: this bench measures the database
    if workers > 1:
        command = [
            sys.executable, "-m", "gunicorn", f"--bind=127.0.0.1:{port}",
            f"--workers={workers}", f"--threads={threads}", "web.app:create_app()",
        ]  # fmt: skip
    else:
        command = [
            sys.executable, "-m", "waitress", "--host", "127.0.0.1", f"--port={port}",
            f"--threads={threads}", "--call", "web.app:create_app",
        ]  # fmt: skip
    log = (folder / "waitress.log").open("w")
    server = subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                connection.request("GET", "/health")
                if connection.getresponse().status in (200, 503):
                    break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError((folder / "waitress.log").read_text())
        yield port
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()


def session_cookie(port: int) -> str:
    """Sign agent00 in; return the session cookie header."""
    connection = http.client.HTTPConnection("127.0.0.1", port)
    connection.request("GET", "/sign-in")
    response = connection.getresponse()
    page = response.read().decode()
    cookie = SimpleCookie(response.headers.get("Set-Cookie", ""))
    jar = "; ".join(f"{k}={v.value}" for k, v in cookie.items())
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None, page[:500]
    body = urlencode({"csrf_token": token.group(1), "username": agent(0), "password": PASSWORD})
    connection.request(
        "POST", "/sign-in", body=body,
        headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": jar},
    )  # fmt: skip
    response = connection.getresponse()
    response.read()
    if response.status != 302:
        raise RuntimeError(f"sign-in answered {response.status}")
    cookie = SimpleCookie(response.headers.get("Set-Cookie", ""))
    return "; ".join(f"{k}={v.value}" for k, v in cookie.items())


def measure(port: int, path: str, headers: dict[str, str], clients: int, total: int) -> list[float]:
    """Have `clients` threads ask for `path` `total` times in all; return each answer's ms."""
    timings: list[float] = []
    lock = threading.Lock()
    remaining = [total]
    failures: list[str] = []

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while True:
            with lock:
                if remaining[0] <= 0:
                    return
                remaining[0] -= 1
            began = time.perf_counter()
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            response.read()
            elapsed = (time.perf_counter() - began) * 1000
            with lock:
                timings.append(elapsed)
                if response.status != 200:
                    failures.append(f"{path}: {response.status}")

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(f"{len(failures)} failed answers, e.g. {failures[0]}")
    return timings


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _medians(rounds: list[list[float]]) -> dict[str, Any]:
    """The median over the rounds of each round's p50 and p95, and every round's p95."""
    return {
        "p50_ms": round(statistics.median(statistics.median(r) for r in rounds), 1),
        "p95_ms": round(statistics.median(percentile(r, 0.95) for r in rounds), 1),
        "p95_each_round_ms": [round(percentile(r, 0.95), 1) for r in rounds],
        "requests": sum(len(r) for r in rounds),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--instances", type=int, default=100_000)
    parser.add_argument("--open", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument(
        "--requests", type=int, default=800, help="Requests per endpoint and round."
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="Threads per server process.")
    parser.add_argument(
        "--workers",
        type=int,
        default=2 * (os.cpu_count() or 1) + 1,
        help="Server processes (1: waitress, more: gunicorn); gunicorn's advice by default.",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="flowdesk-inbox-") as tmp:
        folder = Path(tmp)
        url, cleanup = _database_url(folder)
        try:
            database = Database(url)
            database.migrate()
            began = time.perf_counter()
            token = seed(database, args.instances, args.open)
            seeded_s = time.perf_counter() - began
            database.dispose()
            with web_server(folder, url, args.threads, args.workers) as port:
                cookie = session_cookie(port)
                pages = {
                    "inbox": ("/inbox", {"Cookie": cookie}),
                    "api_tasks": ("/api/v1/tasks?view=mine", {"Authorization": f"Bearer {token}"}),
                }
                for path, headers in pages.values():
                    measure(port, path, headers, args.clients, args.clients * 2)  # warm up
                rounds: dict[str, list[list[float]]] = {name: [] for name in pages}
                for _ in range(args.rounds):  # the endpoints take turns, round after round
                    for name, (path, headers) in pages.items():
                        rounds[name].append(
                            measure(port, path, headers, args.clients, args.requests)
                        )
                figures = {name: _medians(timings) for name, timings in rounds.items()}
        finally:
            cleanup()
    print(
        json.dumps(
            {
                "database": url.split(":")[0].split("+")[0],
                "instances": args.instances,
                "open_tasks": args.open,
                "agents": AGENTS,
                "groups": GROUPS,
                "clients": args.clients,
                "server": "waitress" if args.workers == 1 else "gunicorn",
                "server_workers": args.workers,
                "server_threads": args.threads,
                "seed_s": round(seeded_s, 1),
                "rounds": args.rounds,
                "statistic": "median over rounds",
                **figures,
            }
        )
    )


def _database_url(folder: Path) -> tuple[str, Any]:
    """Return a database URL to seed (a fresh PostgreSQL schema, or a SQLite file)."""
    base = os.environ.get("FLOWDESK_TEST_DATABASE_URL")
    if not base:
        return f"sqlite:///{folder / 'inbox.sqlite3'}", lambda: None
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(Database(base).url)
    with admin.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    separator = "&" if "?" in base else "?"

    def drop() -> None:
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()

    return f"{base}{separator}options=-csearch_path%3D{schema}", drop


if __name__ == "__main__":
    main()
