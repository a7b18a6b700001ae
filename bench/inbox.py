"""The agents' inbox under load, on PostgreSQL: 32 agents going through their own lists.

Seeds a PostgreSQL schema with 100,000 `it-incident` instances, 20,000 of them open
with one open task each, spread over `--agents` agents in 10 groups (half held by an
agent, half waiting in a group's queue), the 80,000 others closed with their
completed tasks and events: the rows the service writes, inserted in bulk. The
schema is named after the parameters and kept, with a marker row naming them and
the migration heads, so a rerun with the same parameters starts in seconds
(`--fresh` seeds again).

Then runs what a user runs: the app under gunicorn (2 x cores + 1 synchronous
workers, docs/adr/0024), a real Redis and an RQ worker with its periodic jobs, and
has `--clients` concurrent clients (a closed loop; or, with `--rate R`, requests
arriving at random at R a second, each timed from its arrival) make requests in turn
for every agent, rotating over each agent's lists and pages: the inbox page
(`/inbox?mine=P&queue=P`, signed in by session) and the task API's `mine` and
`queue` views (`offset` for page P, with the agent's API token). Each round makes
`--requests` requests; the figures are the medians over `--rounds` rounds of each
round's wall-clock p50 and p95, per door and for the whole mix. Target: p95 at most 150 ms.

    python bench/inbox.py [--instances 100000] [--open 20000] [--agents 32] [--pages 4]
                          [--clients 16] [--rate R] [--requests 960] [--rounds 3]
                          [--workers 2*cores+1] [--fresh]
    FLOWDESK_TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test (default)
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
from datetime import UTC, datetime, timedelta
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from alembic.script import ScriptDirectory  # noqa: E402
from sqlalchemy import create_engine, insert, select, text  # noqa: E402

from bench.topology import Stack, stop  # noqa: E402
from engine.service.accounts import set_password  # noqa: E402
from engine.service.apply import sort_key  # noqa: E402
from engine.service.definitions import load_folder  # noqa: E402
from engine.service.people import ensure_user  # noqa: E402
from engine.service.tokens import issue_token  # noqa: E402
from engine.store.database import Database, alembic_config  # noqa: E402
from engine.store.definitions import Definition, DefinitionVersion  # noqa: E402
from engine.store.instances import Counter, Event, Instance, Task  # noqa: E402
from web.cli.stack import embedded_redis  # noqa: E402

DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
GROUPS = 10
PASSWORD = "bench-password-123"
PRIORITIES = ("P1", "P2", "P3", "P4")
BATCH = 5_000
STATUSES_OPEN = ("in_progress", "waiting_on_requester", "resolved")
#: What the app's lists show per page (engine.settings.PAGE_SIZE).
PAGE = 25
#: The doors a client goes through, in turn.
DOORS = ("inbox", "api_mine", "api_queue")


def git_commit() -> str:
    found = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    )
    dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True)
    return found.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def agent(n: int) -> str:
    return f"agent{n:02d}"


def group(n: int) -> str:
    return f"team{n}"


def seed(database: Database, instances: int, open_count: int, agents: int) -> list[str]:
    """Fill the database as the service would have; return each agent's API token."""
    now = datetime.now(UTC)
    rng = random.Random(7)
    with database.writer_session() as session, session.begin():
        load_folder(session, ROOT / "workflows", now, "bench")
        tokens = []
        for n in range(agents):
            ensure_user(session, agent(n), now, name=f"Agent {n}", groups=[group(n % GROUPS)])
            set_password(session, agent(n), PASSWORD)
            tokens.append(issue_token(session, agent(n), "bench", now)[1])
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
                holder = rng.randrange(agents)
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
    return tokens


def migration_heads() -> list[str]:
    return sorted(ScriptDirectory.from_config(alembic_config()).get_heads())


def seeded_database(base: str, args: argparse.Namespace) -> tuple[str, list[str], float]:
    """Return the URL of a schema seeded for these parameters, its agents' tokens, seed time.

    A schema named after the parameters is kept between runs; its `bench_seed` marker
    row names them and the migration heads, and is written last, so a seed cut short
    is never taken for a whole one.
    """
    schema = f"bench_inbox_{args.instances}_{args.open}_{args.agents}"
    marker = json.dumps(
        {"instances": args.instances, "open": args.open, "agents": args.agents,
         "heads": migration_heads()}, sort_keys=True,
    )  # fmt: skip
    separator = "&" if "?" in base else "?"
    url = f"{base}{separator}options=-csearch_path%3D{schema}"
    admin = create_engine(Database(base).url)
    try:
        with admin.begin() as connection:
            found = connection.execute(
                text("SELECT 1 FROM pg_namespace WHERE nspname = :s"), {"s": schema}
            ).first()
            if found and not args.fresh:
                kept = connection.execute(
                    text(f"SELECT tokens FROM {schema}.bench_seed WHERE marker = :m"),
                    {"m": marker},
                ).first() if connection.execute(
                    text("SELECT to_regclass(:t)"), {"t": f"{schema}.bench_seed"}
                ).scalar() else None  # fmt: skip
                if kept:
                    return url, list(json.loads(kept[0])), 0.0
            connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
            connection.execute(text(f"CREATE SCHEMA {schema}"))
    finally:
        admin.dispose()
    database = Database(url)
    try:
        database.migrate()
        began = time.perf_counter()
        tokens = seed(database, args.instances, args.open, args.agents)
        seeded_s = time.perf_counter() - began
        with database.engine.begin() as connection:
            connection.execute(text("CREATE TABLE bench_seed (marker text, tokens text)"))
            connection.execute(
                text("INSERT INTO bench_seed VALUES (:m, :t)"),
                {"m": marker, "t": json.dumps(tokens)},
            )
    finally:
        database.dispose()
    return url, tokens, seeded_s


def session_cookie(port: int, username: str) -> str:
    """Sign an agent in; return the session cookie header."""
    connection = http.client.HTTPConnection("127.0.0.1", port)
    connection.request("GET", "/sign-in")
    response = connection.getresponse()
    page = response.read().decode()
    cookie = SimpleCookie(response.headers.get("Set-Cookie", ""))
    jar = "; ".join(f"{k}={v.value}" for k, v in cookie.items())
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None, page[:500]
    body = urlencode({"csrf_token": token.group(1), "username": username, "password": PASSWORD})
    connection.request(
        "POST", "/sign-in", body=body,
        headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": jar},
    )  # fmt: skip
    response = connection.getresponse()
    response.read()
    if response.status != 302:
        raise RuntimeError(f"sign-in of {username} answered {response.status}")
    cookie = SimpleCookie(response.headers.get("Set-Cookie", ""))
    return "; ".join(f"{k}={v.value}" for k, v in cookie.items())


def request_for(n: int, agents: int, pages: int) -> tuple[str, int]:
    """The `n`-th request of the rotation: which door, for which agent (which page: below).

    Agents take turns request by request; each agent's next request goes through the
    next door; after all three doors, to the next page.
    """
    turn = n // agents
    return DOORS[turn % len(DOORS)], n % agents


def path_of(door: str, page: int) -> str:
    if door == "inbox":
        return f"/inbox?mine={page}&queue={page}"
    view = "mine" if door == "api_mine" else "queue"
    return f"/api/v1/tasks?view={view}&limit={PAGE}&offset={(page - 1) * PAGE}"


def measure(
    port: int, headers: list[dict[str, dict[str, str]]], args: argparse.Namespace, first: int
) -> dict[str, list[float]]:
    """Make `args.requests` requests of the rotation from `first` on; return ms by door."""
    timings: dict[str, list[float]] = {door: [] for door in DOORS}
    lock = threading.Lock()
    counter = [first]
    end = first + args.requests
    failures: list[str] = []
    # Open loop: the n-th request is due at arrivals[n - first]; its time runs from then.
    arrivals = poisson_arrivals(args.requests, args.rate, first) if args.rate else None
    start = time.perf_counter()

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while True:
            with lock:
                n = counter[0]
                if n >= end:
                    return
                counter[0] += 1
            door, who = request_for(n, args.agents, args.pages)
            page = (n // (args.agents * len(DOORS))) % args.pages + 1
            path = path_of(door, page)
            began = time.perf_counter()
            if arrivals is not None:
                began = start + arrivals[n - first]
                time.sleep(max(0.0, began - time.perf_counter()))
            connection.request("GET", path, headers=headers[who][door])
            response = connection.getresponse()
            response.read()
            elapsed = (time.perf_counter() - began) * 1000
            with lock:
                timings[door].append(elapsed)
                if response.status != 200:
                    failures.append(f"{path} as {agent(who)}: {response.status}")

    threads = [threading.Thread(target=client) for _ in range(args.clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(f"{len(failures)} failed answers, e.g. {failures[0]}")
    return timings


def poisson_arrivals(count: int, rate: float, seed: int) -> list[float]:
    """When `count` requests come, at `rate` a second on average, independently."""
    rng = random.Random(seed)
    moments, at = [], 0.0
    for _ in range(count):
        at += rng.expovariate(rate)
        moments.append(at)
    return moments


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
    parser.add_argument("--agents", type=int, default=32)
    parser.add_argument("--pages", type=int, default=4, help="Pages each agent goes through.")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument(
        "--rate",
        type=float,
        help="Open loop: requests arrive at this many a second (Poisson), each timed from "
        "its arrival; without it, every client asks again as soon as it is answered.",
    )
    parser.add_argument("--requests", type=int, default=960, help="Requests per round.")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--workers",
        type=int,
        default=2 * (os.cpu_count() or 1) + 1,
        help="gunicorn worker processes; gunicorn's advice by default.",
    )
    parser.add_argument("--fresh", action="store_true", help="Seed again even if kept.")
    args = parser.parse_args()
    base = os.environ.get("FLOWDESK_TEST_DATABASE_URL") or DEFAULT_DATABASE_URL
    if not base.startswith("postgresql"):
        parser.error("this bench measures PostgreSQL: FLOWDESK_TEST_DATABASE_URL must name one")
    url, tokens, seeded_s = seeded_database(base, args)

    with tempfile.TemporaryDirectory(prefix="flowdesk-inbox-") as tmp:
        folder = Path(tmp)
        with embedded_redis(folder) as redis_url:
            stack = Stack(folder, url, redis_url)
            children = [stack.start_worker(), stack.start_web(workers=args.workers)]
            try:
                stack.wait_for_web()
                headers = []
                for n in range(args.agents):
                    cookie = {"Cookie": session_cookie(stack.port, agent(n))}
                    bearer = {"Authorization": f"Bearer {tokens[n]}"}
                    headers.append({"inbox": cookie, "api_mine": bearer, "api_queue": bearer})
                # Warm up: every gunicorn worker connects and loads what it caches.
                warm = argparse.Namespace(
                    **{**vars(args), "requests": args.clients * 6, "rate": None}
                )
                measure(stack.port, headers, warm, 0)
                rounds: dict[str, list[list[float]]] = {door: [] for door in (*DOORS, "all")}
                for number in range(args.rounds):
                    # Each round starts where the rotation left off, so rounds see new pages.
                    timings = measure(stack.port, headers, args, number * args.requests)
                    for door, values in timings.items():
                        rounds[door].append(values)
                    rounds["all"].append([v for values in timings.values() for v in values])
                if any(child.poll() is not None for child in children):
                    raise RuntimeError(f"a process stopped during the bench; see {folder}")
            finally:
                stop(children)
        figures = {door: _medians(timings) for door, timings in rounds.items()}
    print(
        json.dumps(
            {
                "bench": "inbox",
                "commit": git_commit(),
                "database": "postgresql",
                "instances": args.instances,
                "open_tasks": args.open,
                "agents": args.agents,
                "groups": GROUPS,
                "pages": args.pages,
                "clients": args.clients,
                "load": f"open loop, {args.rate:g}/s" if args.rate else "closed loop",
                "server": "gunicorn",
                "server_workers": args.workers,
                "rq_workers": 1,
                "seed_s": round(seeded_s, 1),
                "seed_kept": seeded_s == 0.0,
                "rounds": args.rounds,
                "requests_per_round": args.requests,
                "statistic": "median over rounds",
                **figures,
            }
        )
    )


if __name__ == "__main__":
    main()
