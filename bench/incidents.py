"""What the benches that seed many `it-incident` instances in bulk share.

A database to seed (a SQLite file, or a PostgreSQL schema of its own, dropped at the end),
the shipped pack with an agent, the words reports are made of (a few very common, most
rare, as people name things), the search index's insert, and the figures' helpers.
`bench/recurring.py` and `bench/similar.py` use it.
"""

from __future__ import annotations

import random
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import TextClause, create_engine, select, text  # noqa: E402

from engine.service.definitions import load_folder  # noqa: E402
from engine.service.people import ensure_user  # noqa: E402
from engine.store.database import Database  # noqa: E402
from engine.store.definitions import Definition, DefinitionVersion  # noqa: E402

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
PLACES = _words("floor room office home building site hall lab warehouse shop")
FILLER = _words(
    "since this morning after update again every hour when starting cannot work since "
    "yesterday whole team customers waiting urgent sometimes randomly restart did not help"
)
#: Instances written per statement.
BATCH = 5_000


def git_commit() -> str:
    """The commit the figures are of, `+dirty` when the tree has changes."""
    found = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    )
    dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True)
    return found.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def zipf(rng: random.Random, words: list[str]) -> str:
    """A word, the first ones much more often than the last (as reports name things)."""
    return words[min(int(rng.paretovariate(1.2)) - 1, len(words) - 1)]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


@contextmanager
def scratch_database(url: str | None, name: str) -> Iterator[str]:
    """The URL of an empty database: a schema of its own in the PostgreSQL at `url`
    (dropped at the end), else a SQLite file in a new folder."""
    if not url:
        yield f"sqlite:///{tempfile.mkdtemp(prefix=f'flowdesk-{name}-')}/flowdesk.sqlite3"
        return
    schema = f"bench_{name}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(Database(url).url)
    with admin.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def prepared(database: Database, now: datetime) -> int:
    """Migrate, load the shipped pack and an agent (`agent-1`); the id of the published
    `it-incident` version, which the seeded instances run on."""
    database.migrate()
    with database.writer_session() as session, session.begin():
        load_folder(session, ROOT / "workflows", now, "bench")
        ensure_user(session, "agent-1", now, name="Agent One", roles=["agent"])
        version = session.scalar(
            select(DefinitionVersion.id)
            .join(Definition, Definition.id == DefinitionVersion.definition_id)
            .where(Definition.kind == "workflow", Definition.key == "it-incident")
        )
    assert version is not None, "the shipped pack has no it-incident workflow"
    return int(version)


def search_insert(database: Database) -> TextClause:
    """The statement that indexes instances as the service does (`index_rows` gives its rows)."""
    key = "instance_id" if database.engine.dialect.name == "postgresql" else "rowid"
    return text(
        f"INSERT INTO instance_search ({key}, title, body, notes) "
        "VALUES (:instance, :title, :body, '')"
    )
