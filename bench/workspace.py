"""The instance list under load: 32 agents list, filter, search and page deep among 100,000.

Seeds a database (PostgreSQL at FLOWDESK_TEST_DATABASE_URL, in a schema of its own, else a
SQLite file) with `--instances` `it-incident` instances (20% open, each with one task, over
50 agents in 10 groups) and ten history rows each (eight events, two comments: one public,
one internal note), 1,000,000 at the default size, with bulk inserts rather than commands;
the full-text index is filled the same way. Each of 32 agents keeps four saved views:

- list: everything, most recently updated first;
- filter: their groups' open work, breached or due soon, P1 or P2 (`group=mine`, `sla`,
  `priority`, `status`);
- search: a word of the comments (one in a hundred instances has it);
- deep: everything, newest first, from a cursor half-way down the list.

The app runs under gunicorn (2 x cores + 1 synchronous workers, as `bench/inbox.py`
explains), and 32 client threads, one per agent, ask `GET /api/v1/instances?view=...` with
their own API token, rotating over their views, for `--requests` requests per round and
`--rounds` rounds. An agent reads each answer before asking again: `--think-s` seconds on
average (2 by default, drawn at random, so 32 agents ask about 16 times a second); with
`--think-s 0` they ask again at once, a saturation test whose latency is mostly the queue.
Prints one JSON line: the git commit, the parameters, the rate of requests answered, and per
kind of view the median over the rounds of p50 and p95, wall-clock. Goal: p95 at most 150 ms.

    python bench/workspace.py [--instances 100000] [--requests 800] [--rounds 3] [--think-s 2]
    FLOWDESK_TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1/test \\
        python bench/workspace.py --instances 5000
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, select, text  # noqa: E402

from bench.inbox import _database_url, percentile, web_server  # noqa: E402
from engine.service.apply import sort_key  # noqa: E402
from engine.service.definitions import load_folder  # noqa: E402
from engine.service.filters import cursor_after  # noqa: E402
from engine.service.people import ensure_user  # noqa: E402
from engine.service.tokens import issue_token  # noqa: E402
from engine.store.database import Database  # noqa: E402
from engine.store.definitions import Definition, DefinitionVersion  # noqa: E402
from engine.store.instances import Comment, Counter, Event, Instance, Task  # noqa: E402
from engine.store.search import SavedView, number_words, text_of  # noqa: E402

AGENTS = 50
CLIENTS = 32
GROUPS = 10
PRIORITIES = ("P1", "P2", "P3", "P4")
STATUSES_OPEN = ("in_progress", "waiting_on_requester", "resolved")
STEPS = ("triage", "work", "confirm")
BATCH = 2_000
EVENTS_PER_INSTANCE = 8
#: Plain words of the comments, and the rarer ones the agents search for.
COMMON = (
    "printer", "laptop", "network", "password", "screen", "mail", "vpn", "restart", "user",
    "cable", "update", "server", "slow", "error", "login", "office", "please", "again",
)  # fmt: skip
RARE = tuple(f"zeta{n:03d}" for n in range(CLIENTS))
KINDS = ("list", "filter", "search", "deep")


def agent(n: int) -> str:
    return f"agent{n:02d}"


def group(n: int) -> str:
    return f"team{n}"


def sentence(rng: random.Random, seq: int) -> str:
    words = rng.choices(COMMON, k=8)
    if seq % 100 == 0:  # one in a hundred has a rare word
        words.append(RARE[(seq // 100) % len(RARE)])
    return " ".join(words)


def seed(database: Database, instances: int) -> tuple[dict[str, str], dict[str, dict[str, int]]]:
    """Fill the database; return each agent's API token and the ids of their views."""
    now = datetime.now(UTC)
    rng = random.Random(11)
    tokens: dict[str, str] = {}
    with database.writer_session() as session, session.begin():
        load_folder(session, ROOT / "workflows", now, "bench")
        for n in range(AGENTS):
            ensure_user(session, agent(n), now, name=f"Agent {n}", groups=[group(n % GROUPS)])
        for n in range(CLIENTS):
            tokens[agent(n)] = issue_token(session, agent(n), "bench", now)[1]
        version = session.scalar(
            select(DefinitionVersion.id)
            .join(Definition, Definition.id == DefinitionVersion.definition_id)
            .where(Definition.kind == "workflow", Definition.key == "it-incident")
        )
    open_from = instances - instances // 5
    with database.engine.begin() as connection:
        for start in range(0, instances, BATCH):
            _seed_batch(
                connection,
                rng,
                now,
                version,
                range(start + 1, min(instances, start + BATCH) + 1),
                open_from,
            )
        connection.execute(insert(Counter), [{"prefix": "INC", "last": instances}])
        if connection.dialect.name == "postgresql":
            for table in ("instances", "comments"):
                connection.execute(
                    text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                         f"(SELECT max(id) FROM {table}))")
                )  # fmt: skip
        views = _seed_views(connection, now, instances)
    vacuum = "VACUUM ANALYZE" if database.engine.dialect.name == "postgresql" else "ANALYZE"
    with database.engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT").execute(text(vacuum))
    return tokens, views


def _seed_batch(
    connection: Any, rng: random.Random, now: datetime, version: int, seqs: range, open_from: int
) -> None:
    rows, tasks, events, comments, index = [], [], [], [], []
    state = {"format": 1, "workflow": "it-incident", "runs": [], "timers": []}
    for seq in seqs:
        is_open = seq > open_from
        started = now - timedelta(minutes=(open_from + 20_000 - seq) * 3 + rng.randint(0, 2))
        updated = started + timedelta(minutes=rng.randint(1, 600))
        priority = rng.choice(PRIORITIES)
        due = now + timedelta(minutes=rng.randint(-240, 60 * 24 * 3))
        sla = {
            "response_due_at": None,
            "resolution_due_at": due if is_open else None,
            "response_breached": False,
            "resolution_breached": is_open and due < now,
        }
        number = f"INC-{seq:06d}"
        data = {"summary": f"Incident {seq}", "description": sentence(rng, seq + 1)}
        title = f"Incident {seq}: {rng.choice(COMMON)} on floor {seq % 9}"
        rows.append(
            {
                **sla, "id": seq, "number": number, "prefix": "INC", "seq": seq,
                "workflow_key": "it-incident", "workflow_version_id": version, "title": title,
                "status": rng.choice(STATUSES_OPEN) if is_open else "closed",
                "priority": priority, "requester": None, "state": {**state, "data": data},
                "version": 3, "last_event": EVENTS_PER_INSTANCE, "started_at": started,
                "updated_at": updated, "ended_at": None if is_open else updated,
            }
        )  # fmt: skip
        holder = rng.randrange(AGENTS)
        queued = is_open and rng.random() < 0.5
        tasks.append(
            {
                "instance_id": seq, "key": "t1", "step": rng.choice(STEPS), "title": title,
                "form": "incident-resolution", "role": None, "outcomes": ["resolved"],
                "assignment": {"group": group(holder % GROUPS)},
                "assignee": None if queued else agent(holder),
                "candidate_group": group(holder % GROUPS), "delegated_by": None,
                "status": "open" if is_open else "completed",
                "outcome": None if is_open else "resolved", "due_at": due,
                "created_at": started, "completed_at": None if is_open else updated,
                "completed_by": None if is_open else agent(holder), "data": None,
                **sort_key(sla, due, started),
            }
        )  # fmt: skip
        for event_seq in range(1, EVENTS_PER_INSTANCE + 1):
            events.append(
                {
                    "instance_id": seq, "seq": event_seq, "kind": "commented",
                    "step": None, "at": started, "actor": None, "why": None, "detail": None,
                    "command": None,
                }
            )  # fmt: skip
        said = sentence(rng, seq)
        note = sentence(rng, seq + 50)
        comments += [
            {"instance_id": seq, "author": agent(holder), "body": said, "public": True,
             "created_at": updated},
            {"instance_id": seq, "author": agent(holder), "body": note, "public": False,
             "created_at": updated},
        ]  # fmt: skip
        body = f"{number_words(number)}\n{text_of(data)}\n{said}"
        index.append({"id": seq, "title": title, "body": body, "notes": note})
    connection.execute(insert(Instance), rows)
    connection.execute(insert(Task), tasks)
    connection.execute(insert(Event), events)
    connection.execute(insert(Comment), comments)
    key = "instance_id" if connection.dialect.name == "postgresql" else "rowid"
    connection.execute(
        text(f"INSERT INTO instance_search ({key}, title, body, notes) "
             "VALUES (:id, :title, :body, :notes)"),
        index,
    )  # fmt: skip


def _seed_views(connection: Any, now: datetime, instances: int) -> dict[str, dict[str, int]]:
    """Four views per agent (see the module's docstring); return their ids by agent and kind."""
    filters = {
        "list": ({}, "-updated"),
        "filter": (
            {"group": "mine", "sla": "breached,at_risk", "priority": "P1,P2",
             "status": ",".join(STATUSES_OPEN)},
            "-updated",
        ),
        "deep": ({}, "-created"),
    }  # fmt: skip
    views: dict[str, dict[str, int]] = {}
    for n in range(CLIENTS):
        for kind in KINDS:
            given, sort = filters.get(kind, ({"text": RARE[n]}, "-created"))
            found = connection.execute(
                insert(SavedView).returning(SavedView.id),
                {
                    "owner": agent(n), "name": kind, "group_key": None, "filters": given,
                    "sort": sort, "created_at": now, "updated_at": now,
                },
            )  # fmt: skip
            views.setdefault(agent(n), {})[kind] = int(found.scalar_one())
    return views


def run_round(
    port: int,
    tokens: dict[str, str],
    views: dict[str, dict[str, int]],
    deep: str,
    requests: int,
    think_s: float = 0.0,
) -> dict[str, list[float]]:
    """Each agent's thread asks for its views in turn, reading each answer for a while
    (`think_s` on average, drawn at random; 0: at once); return the ms of each answer by kind."""
    timings: dict[str, list[float]] = {kind: [] for kind in KINDS}
    lock = threading.Lock()
    failures: list[str] = []
    each = max(1, requests // len(tokens))

    def client(offset: int, username: str) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        headers = {"Authorization": f"Bearer {tokens[username]}"}
        reading = random.Random(offset)
        if think_s:  # agents do not all start at the same instant
            time.sleep(reading.uniform(0, think_s))
        for n in range(each):
            if think_s and n:
                time.sleep(reading.expovariate(1 / think_s))
            kind = KINDS[(n + offset) % len(KINDS)]
            path = f"/api/v1/instances?view={views[username][kind]}"
            if kind == "deep":
                path += f"&cursor={deep}"
            began = time.perf_counter()
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            body = response.read()
            elapsed = (time.perf_counter() - began) * 1000
            with lock:
                timings[kind].append(elapsed)
                if response.status != 200:
                    failures.append(f"{path}: {response.status} {body[:200]!r}")

    threads = [
        threading.Thread(target=client, args=(n, username))
        for n, username in enumerate(sorted(tokens))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(f"{len(failures)} failed answers, e.g. {failures[0]}")
    return timings


def _figures(rounds: list[list[float]]) -> dict[str, Any]:
    return {
        "p50_ms": round(statistics.median(statistics.median(r) for r in rounds), 1),
        "p95_ms": round(statistics.median(percentile(r, 0.95) for r in rounds), 1),
        "p95_each_round_ms": [round(percentile(r, 0.95), 1) for r in rounds],
        "requests": sum(len(r) for r in rounds),
    }


def commit() -> str:
    found = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    )
    dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True)
    return found.stdout.strip() + ("+changes" if dirty.stdout.strip() else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--instances", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=800, help="Requests per round.")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1) + 1)
    parser.add_argument(
        "--think-s",
        type=float,
        default=2.0,
        help="Seconds an agent reads an answer before the next request, on average "
        "(exponentially distributed); 0 asks again at once, a saturation test.",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="flowdesk-workspace-") as tmp:
        folder = Path(tmp)
        url, cleanup = _database_url(folder)
        try:
            database = Database(url)
            database.migrate()
            began = time.perf_counter()
            tokens, views = seed(database, args.instances)
            seeded_s = time.perf_counter() - began
            database.dispose()
            deep = cursor_after("-created", None, args.instances // 2)
            with web_server(folder, url, 1, args.workers) as port:
                try:
                    run_round(port, tokens, views, deep, CLIENTS * len(KINDS))  # warm up
                    rounds: dict[str, list[list[float]]] = {kind: [] for kind in KINDS}
                    rates = []
                    for _ in range(args.rounds):
                        began = time.perf_counter()
                        found = run_round(port, tokens, views, deep, args.requests, args.think_s)
                        answered = sum(len(found[kind]) for kind in KINDS)
                        rates.append(answered / (time.perf_counter() - began))
                        for kind in KINDS:
                            rounds[kind].append(found[kind])
                except RuntimeError:  # say what the server said before its folder goes
                    print((folder / "waitress.log").read_text()[-4000:], file=sys.stderr)
                    raise
        finally:
            cleanup()
    print(
        json.dumps(
            {
                "bench": "workspace",
                "commit": commit(),
                "database": url.split(":")[0].split("+")[0],
                "instances": args.instances,
                "history_rows": args.instances * (EVENTS_PER_INSTANCE + 2),
                "agents": CLIENTS,
                "clients": CLIENTS,
                "server": "gunicorn",
                "server_workers": args.workers,
                "seed_s": round(seeded_s, 1),
                "rounds": args.rounds,
                "requests_per_round": args.requests,
                "think_s": args.think_s,
                "requests_per_s": round(statistics.median(rates), 1),
                "statistic": "median over rounds",
                **{kind: _figures(rounds[kind]) for kind in KINDS},
            }
        )
    )


if __name__ == "__main__":
    main()
