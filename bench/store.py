"""Throughput of the durable engine: every user action a committed transaction with its events.

Drives N `it-incident` and `major-incident` instances to the end through the
service layer on each database (SQLite in WAL mode, the full history kept), and
measures how the cost of a command changes when an instance already has 10,000
events. On SQLite it also measures the database bytes each finished instance takes
with its history (pages used, from SQLite's `dbstat`, after the run less before it),
and which tables and indexes they go to. Each round is a fresh database with its
own seed; the clock is wall time. Prints one JSON line per database, with the git
commit, the parameters and the medians of the rounds.

    python bench/store.py [--instances 400] [--rounds 3]
    FLOWDESK_TEST_DATABASE_URL=postgresql://... python bench/store.py   # PostgreSQL too
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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, select, text  # noqa: E402

from engine.service.commands import Commands  # noqa: E402
from engine.service.definitions import load_folder  # noqa: E402
from engine.service.people import ensure_user  # noqa: E402
from engine.store.database import Database  # noqa: E402
from engine.store.instances import Instance, Task  # noqa: E402

INCIDENT = {
    "name": "Ada Lovelace", "email": "ada@example.org", "summary": "Printer jammed",
    "description": "It blinks red.", "category": "hardware", "impact": "medium", "urgency": "high",
}  # fmt: skip
MAJOR = {
    "summary": "Payments are down", "services": ["payments"], "customer_impact": "No payments.",
    "started_at": "2026-11-23T07:55:00+00:00", "service_owner": "sam",
}  # fmt: skip
TEAM = {"bob": ["desktop-support"], "ivy": ["incident-commanders"], "cole": ["communications"],
        "ike": ["incident-commanders"], "sam": [], "ada": []}  # fmt: skip
#: The requester's answer when asked for more (the form's only field is required).
REPLY = {"reply": "floor 3"}
ANSWERS: dict[str, Callable[[random.Random], tuple[str, dict[str, Any]]]] = {
    "work": lambda r: ("needs_info", {}) if r.random() < 0.2 else ("resolved", {"resolution": "x"}),
    "ask_requester": lambda r: ("done", REPLY),
    "confirm": lambda r: (
        ("rejected", {"feedback": "still broken"}) if r.random() < 0.1 else ("approved", {})
    ),
    "plan": lambda r: ("done", {"plan": "fail over", "rollback": "fail back", "eta_minutes": 30}),
    "review_plan": lambda r: (
        ("rejected", {"comment": "no rollback"}) if r.random() < 0.15 else ("approved", {})
    ),
    "execute_plan": lambda r: ("done", {"restored_at": "2026-11-23T10:00:00Z",
                                        "recovery_notes": "ok", "needs_problem_record": False}),
    "status_update": lambda r: ("done", {}),
}  # fmt: skip


@contextmanager
def fresh_database(kind: str) -> Iterator[Database]:
    """An empty, migrated database: a SQLite file, or a new PostgreSQL schema."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            database = Database(f"sqlite:///{folder}/bench.sqlite3")
            database.migrate()
            yield database
            database.dispose()
        return
    base = os.environ["FLOWDESK_TEST_DATABASE_URL"]
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(Database(base).url)
    with admin.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    separator = "&" if "?" in base else "?"
    database = Database(f"{base}{separator}options=-csearch_path%3D{schema}")
    try:
        database.migrate()
        yield database
    finally:
        database.dispose()
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def prepare(database: Database) -> Commands:
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    with database.writer_session() as session, session.begin():
        load_folder(session, ROOT / "workflows", now, "bench")
        for username, groups in TEAM.items():
            ensure_user(session, username, now, groups=groups)
    return Commands(database)


def actor_for(task: dict[str, Any]) -> str:
    """Who answers a task: its assignee, else one of its group. Separation of duties keeps
    whoever wrote the recovery plan out of its review: another commander reviews it."""
    if task["assignee"]:
        return str(task["assignee"])
    if task["step"] == "review_plan" and task["group"] == "incident-commanders":
        return "ike"
    return {"incident-commanders": "ivy", "communications": "cole"}.get(task["group"] or "", "ada")


class Timed:
    """Runs commands and keeps each one's duration."""

    def __init__(self) -> None:
        self.durations: list[float] = []

    def __call__(self, command: Callable[[], Any]) -> Any:
        began = time.perf_counter()
        result = command()
        self.durations.append(time.perf_counter() - began)
        return result


def drive(commands: Commands, timed: Timed, rng: random.Random, major: bool) -> None:
    """Run one instance to its end, answering each task as the people of TEAM would.

    Like a client, it learns which tasks are open from the commands' answers (opened and
    withdrawn tasks), not from extra queries.
    """
    if major:
        # Declared by the service desk: its reviewers (ivy, cole) are kept apart from it.
        answer = timed(lambda: commands.start("major-incident", MAJOR, requester="sid"))
    else:
        answer = timed(lambda: commands.start("it-incident", INCIDENT, requester="ada"))
    open_tasks: dict[int, dict[str, Any]] = {}
    while True:
        open_tasks.update((task["id"], task) for task in answer["opened_tasks"])
        for task_id in answer["withdrawn_tasks"]:
            open_tasks.pop(task_id, None)
        if answer["ended"]:
            return
        task = open_tasks.pop(min(open_tasks))
        outcome, data = ANSWERS[task["step"]](rng)
        answer = timed(
            lambda t=task, o=outcome, d=data: commands.complete(t["id"], o, d, actor=actor_for(t))
        )


def used_bytes(database: Database) -> dict[str, int]:
    """Bytes of database pages in use, by table and index (SQLite: its `dbstat` table)."""
    with database.engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        rows = connection.exec_driver_sql(
            "SELECT name, SUM(pgsize - unused) FROM dbstat GROUP BY name"
        ).all()
    return {str(name): int(size) for name, size in rows}


def git_commit() -> str:
    """The commit measured, with `+` when the engine's working tree differs from it."""

    def git(*words: str) -> str:
        return subprocess.run(["git", *words], cwd=ROOT, capture_output=True, text=True).stdout

    changed = "+" if git("status", "--porcelain", "engine").strip() else ""
    return git("rev-parse", "--short", "HEAD").strip() + changed


def throughput(commands: Commands, instances: int, seed: int) -> dict[str, float]:
    rng, timed = random.Random(seed), Timed()
    began, cpu = time.perf_counter(), time.process_time()
    for index in range(instances):
        drive(commands, timed, rng, major=index % 4 == 3)
    elapsed = time.perf_counter() - began
    cpu = time.process_time() - cpu
    durations = sorted(timed.durations)
    return {
        "instances_per_s": instances / elapsed,
        # Beside the wall clock, for a machine shared with other work: what the process
        # itself spent (SQLite runs in it; a PostgreSQL server's own work is not counted).
        "cpu_instances_per_s": instances / cpu,
        "ms_per_transition": 1000 * statistics.fmean(durations),
        "p95_ms_per_command": 1000 * durations[int(0.95 * (len(durations) - 1))],
        "commands": len(durations),
    }


def loop_rate(commands: Commands, number: str, cycles: int) -> float:
    """Commands per second of the needs-info loop (work, ask the requester, work...)."""
    with commands.database.reading() as session:
        task = session.scalars(
            select(Task)
            .join(Instance, Instance.id == Task.instance_id)
            .where(Instance.number == number, Task.status == "open")
        ).one()
    current = {
        "id": task.id,
        "step": task.step,
        "assignee": task.assignee,
        "group": task.candidate_group,
    }
    began = time.perf_counter()
    for _ in range(cycles):
        outcome, data = ("needs_info", {}) if current["step"] == "work" else ("done", REPLY)
        answer = commands.complete(current["id"], outcome, data, actor=actor_for(current))
        (current,) = answer["opened_tasks"]
    return cycles / (time.perf_counter() - began)


def history_ratio(
    database: Database, commands: Commands, prior_events: int, cycles: int = 100, samples: int = 9
) -> float:
    """Command rate on an instance with `prior_events` events over that on a fresh one."""
    from sqlalchemy import func

    from engine.store.instances import Event

    old = commands.start("it-incident", INCIDENT, requester="ada")["number"]
    with database.reading() as session:
        old_id = session.scalar(select(Instance.id).where(Instance.number == old))

    def events() -> int:
        with database.reading() as session:
            return int(session.scalar(select(func.count()).select_from(Event)
                                      .where(Event.instance_id == old_id)) or 0)  # fmt: skip

    while events() < prior_events:
        loop_rate(commands, old, 200)
    # Interleaved, so that whatever else the machine does weighs on both sides alike.
    aged, fresh = [], []
    for _ in range(samples):
        aged.append(loop_rate(commands, old, cycles))
        number = commands.start("it-incident", INCIDENT, requester="ada")["number"]
        fresh.append(loop_rate(commands, number, cycles))
        commands.cancel(number, "bench", actor="ada")
    return statistics.median(aged) / statistics.median(fresh)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--history", type=int, default=10_000)
    args = parser.parse_args()
    kinds = ["sqlite"] + (["postgresql"] if os.environ.get("FLOWDESK_TEST_DATABASE_URL") else [])
    for kind in kinds:
        rounds, tables = [], {}
        for round_index in range(args.rounds):
            with fresh_database(kind) as database:
                commands = prepare(database)
                before = used_bytes(database) if kind == "sqlite" else {}
                rounds.append(throughput(commands, args.instances, seed=round_index))
                if kind == "sqlite":
                    after = used_bytes(database)
                    tables = {
                        name: round((size - before.get(name, 0)) / args.instances)
                        for name, size in sorted(after.items(), key=lambda item: -item[1])
                        if size > before.get(name, 0)
                    }
                    rounds[-1]["bytes_per_instance"] = sum(tables.values())
        with fresh_database(kind) as database:
            commands = prepare(database)
            ratio = history_ratio(database, commands, args.history)
        figures = {key: round(statistics.median(r[key] for r in rounds), 2) for key in rounds[0]}
        print(json.dumps({"commit": git_commit(), "database": kind, **figures,
                          "history_ratio": round(ratio, 3), "instances": args.instances,
                          "rounds": args.rounds, "statistic": "median",
                          "load_1m": round(os.getloadavg()[0], 2),
                          **({"bytes_by_table": tables} if tables else {})}))  # fmt: skip


if __name__ == "__main__":
    main()
