"""Database bytes per finished incident, with its whole history, on each database.

Seeds N `it-incident` instances through the real service layer (reported, a comment,
worked, sometimes sent back for more information, confirmed, closed: the history a
user would leave), then measures the database: on SQLite `page_count * page_size` after
VACUUM; on PostgreSQL `pg_total_relation_size` summed over every table of the schema
(indexes and TOAST included) after VACUUM FULL. Bytes per instance is (after - before)
/ N, where "before" is the same database with the pack and the team loaded. Each round
is a fresh database. Then the same instances are archived by a retention policy and the
database measured again: the bytes each takes in `archived_instances`. Prints one JSON
line per database with the git commit, the parameters, the medians of the rounds, and
the five biggest tables (bytes per instance) of the last round.

    python bench/footprint.py [--instances 300] [--rounds 3]
    FLOWDESK_TEST_DATABASE_URL=postgresql://... python bench/footprint.py   # PostgreSQL too
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402

from engine.service.commands import Commands  # noqa: E402
from engine.service.definitions import load_folder  # noqa: E402
from engine.service.people import ensure_user  # noqa: E402
from engine.service.retention import Retention  # noqa: E402
from engine.store.database import Database  # noqa: E402

INCIDENT = {
    "name": "Ada Lovelace", "email": "ada@example.org", "summary": "Printer jammed on floor 3",
    "description": "It blinks red.", "category": "hardware", "impact": "medium", "urgency": "high",
}  # fmt: skip
TEAM = {"bob": ["desktop-support"], "dan": ["desktop-support"], "ada": []}


@contextmanager
def fresh_database(kind: str) -> Iterator[Database]:
    """An empty, migrated database: a SQLite file, or a new PostgreSQL schema."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            database = Database(f"sqlite:///{folder}/footprint.sqlite3")
            database.migrate()
            yield database
            database.dispose()
        return
    base = os.environ["FLOWDESK_TEST_DATABASE_URL"]
    schema = f"footprint_{uuid.uuid4().hex[:10]}"
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


def seed(commands: Commands, instances: int, rng: random.Random) -> None:
    """Run `instances` incidents to closure, answering as the desk and the requester would."""
    for _ in range(instances):
        answer = commands.start("it-incident", INCIDENT, requester="ada")
        number = answer["number"]
        commands.comment(number, "Looking at it now.", actor="bob")
        while not answer["ended"]:
            task = answer["opened_tasks"][0]
            if task["step"] == "work":
                outcome, data = (
                    ("needs_info", {})
                    if rng.random() < 0.2
                    else ("resolved", {"resolution": "Cleared the jam"})
                )
            elif task["step"] == "ask_requester":
                outcome, data = "done", {"reply": "floor 3"}
            else:
                outcome, data = "approved", {}
            actor = task["assignee"] or "bob"
            answer = commands.complete(task["id"], outcome, data, actor=actor)


def measure(database: Database) -> tuple[int, dict[str, int]]:
    """Total bytes of the database, compacted, and the bytes of each table."""
    if database.is_sqlite:
        # Straight to the file: SQLAlchemy's connection would wrap VACUUM in a transaction.
        raw = sqlite3.connect(str(database.url.database), isolation_level=None)
        try:
            raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            raw.execute("VACUUM")
            pages = raw.execute("PRAGMA page_count").fetchone()[0]
            size = raw.execute("PRAGMA page_size").fetchone()[0]
            pieces = raw.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name").fetchall()
        finally:
            raw.close()
        return int(pages) * int(size), {str(n): int(s) for n, s in pieces}
    autocommit = database.engine.execution_options(isolation_level="AUTOCOMMIT")
    with autocommit.connect() as connection:
        connection.exec_driver_sql("VACUUM FULL")
        rows = connection.execute(
            text(
                "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.relkind = 'r' AND n.nspname = current_schema()"
            )
        ).all()
    tables = {str(name): int(size) for name, size in rows}
    return sum(tables.values()), tables


def git_commit() -> str:
    """The commit measured, with `+` when the engine's working tree differs from it."""

    def git(*words: str) -> str:
        return subprocess.run(["git", *words], cwd=ROOT, capture_output=True, text=True).stdout

    changed = "+" if git("status", "--porcelain", "engine").strip() else ""
    return git("rev-parse", "--short", "HEAD").strip() + changed


def one_round(kind: str, instances: int, seed_value: int) -> tuple[float, float, dict[str, float]]:
    with fresh_database(kind) as database:
        now = datetime.now(UTC)
        with database.writer_session() as session, session.begin():
            load_folder(session, ROOT / "workflows", now, "bench")
            for username, groups in TEAM.items():
                ensure_user(session, username, now, groups=groups)
        before, tables_before = measure(database)
        seed(Commands(database), instances, random.Random(seed_value))
        after, tables_after = measure(database)
        # The same instances archived (retention), as the archive keeps them.
        later = Commands(database, clock=lambda: datetime.now(UTC) + timedelta(days=2))
        Retention(later).set_policy("it-incident", "archive", 1, actor=None)
        Retention(later).apply(max_batches=instances)
        archived, _ = measure(database)
    grown = {
        name: (size - tables_before.get(name, 0)) / instances for name, size in tables_after.items()
    }
    return (after - before) / instances, (archived - before) / instances, grown


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    kinds = ["sqlite"] + (["postgresql"] if os.environ.get("FLOWDESK_TEST_DATABASE_URL") else [])
    for kind in kinds:
        figures, archived = [], []
        biggest: dict[str, float] = {}
        for number in range(options.rounds):
            hot, cold, biggest = one_round(kind, options.instances, seed_value=number)
            figures.append(hot)
            archived.append(cold)
        top = dict(sorted(biggest.items(), key=lambda item: -item[1])[:5])
        print(
            json.dumps(
                {
                    "bench": "footprint",
                    "commit": git_commit(),
                    "database": kind,
                    "instances": options.instances,
                    "rounds": options.rounds,
                    "bytes_per_instance_median": round(statistics.median(figures)),
                    "bytes_per_instance_rounds": [round(f) for f in figures],
                    "archived_bytes_per_instance_median": round(statistics.median(archived)),
                    "biggest_per_instance": {k: round(v) for k, v in top.items()},
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
