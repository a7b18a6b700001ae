"""A backup restored into an empty database carries on where the original was."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, func, select, text

from engine.readiness import code_heads
from engine.service.backup import backup, restore
from engine.service.commands import Commands
from engine.service.errors import Conflict, InvalidInput, Unavailable
from engine.service.filters import Query
from engine.service.finder import Finder
from engine.store.database import Database, alembic_config
from engine.store.instances import Event, Instance, Task
from tests.databases import postgres_schema_url
from tests.infrastructure import PG_URL
from tests.integration.conftest import INCIDENT, Clock
from tests.integration.test_retention import finished_incident


@pytest.fixture
def empty_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    """A database of the same backend with nothing in it, not even a schema."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'restored.sqlite3'}"
        return
    assert PG_URL is not None
    name = f"restore_{uuid.uuid4().hex[:12]}"
    admin = create_engine(Database(PG_URL).url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name}"))
    # The same search path as the source: its schema comes back under its own name.
    schema = database_url.rsplit("search_path%3D", 1)[1]
    base = Database(PG_URL).url.set(database=name).render_as_string(hide_password=False)
    try:
        yield postgres_schema_url(base, schema)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))
        admin.dispose()


def open_task(database: Database, number: str) -> Task:
    with database.reading() as session:
        return session.scalars(
            select(Task)
            .join(Instance, Instance.id == Task.instance_id)
            .where(Instance.number == number, Task.status == "open")
        ).one()


def test_a_restored_backup_carries_on_where_the_original_was(
    commands: Commands, database: Database, empty_url: str, clock: Clock, tmp_path: Path
) -> None:
    closed = finished_incident(commands, database)
    running = str(commands.start("it-incident", INCIDENT, requester="alice")["number"])
    commands.comment(running, "Toner everywhere", actor="bob")
    made = backup(database, tmp_path / "flowdesk.backup")
    assert made.size > 0

    restored = Database(empty_url)
    try:
        done = restore(restored, made.path)
        assert done.revision_after is not None
        assert done.revision_after == ",".join(sorted(code_heads()))  # migrated to this code's
        again = Commands(restored, clock=clock)
        work = open_task(restored, running)
        assert (work.step, work.assignee) == ("work", "dan")
        result = again.complete(work.id, "resolved", {"resolution": "New drum"}, actor="dan")
        assert not result["ended"]
        assert open_task(restored, running).step == "confirm"
        # Numbers go on from the backup's, and what was indexed is found.
        assert again.start("it-incident", INCIDENT, requester="alice")["number"] == "INC-000003"
        finder = Finder(again)
        found = finder.find(finder.person("bob"), Query(text="toner"))
        assert [row.number for row in found.items] == [running]
        with restored.reading() as session:
            assert session.scalar(select(Instance.status).where(Instance.number == closed)) == (
                "closed"
            )
    finally:
        restored.dispose()


def test_restore_refuses_a_database_with_data_unless_forced(
    commands: Commands, database: Database, database_url: str, tmp_path: Path
) -> None:
    made = backup(database, tmp_path / "empty-pack.backup")
    commands.start("it-incident", INCIDENT, requester="alice")
    with pytest.raises(Conflict, match="not empty"):
        restore(database, made.path)
    assert count_instances(database) == 1
    restore(database, made.path, force=True)
    assert count_instances(database) == 0


def test_a_file_that_is_no_backup_of_this_database_is_refused(
    database: Database, tmp_path: Path
) -> None:
    junk = tmp_path / "notes.txt"
    junk.write_text("hello")
    with pytest.raises(InvalidInput, match="not a Flowdesk backup"):
        restore(database, junk)
    other = tmp_path / "other.backup"
    other.write_bytes(b"PGDMP" if database.is_sqlite else b"SQLite format 3\x00")
    with pytest.raises(InvalidInput, match="same kind of database"):
        restore(database, other)
    with pytest.raises(InvalidInput, match="exists already"):
        backup(database, junk)


def test_postgresql_tools_missing_from_path_are_named(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if database.is_sqlite:
        pytest.skip("SQLite backs up through its own API")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(Unavailable, match="pg_dump was not found on PATH"):
        backup(database, tmp_path / "x.backup")
    assert not (tmp_path / "x.backup").exists()


def test_sqlite_backs_up_while_the_app_writes(
    commands: Commands, database: Database, tmp_path: Path
) -> None:
    if not database.is_sqlite:
        pytest.skip("pg_dump's snapshot is PostgreSQL's own business")
    stop = threading.Event()

    def write() -> None:
        while not stop.is_set():
            commands.start("it-incident", INCIDENT, requester="alice")

    writer = threading.Thread(target=write)
    writer.start()
    try:
        while count_instances(database) < 3:
            stop.wait(0.01)
        made = backup(database, tmp_path / "live.backup")
    finally:
        stop.set()
        writer.join(30)
    copy = Database(f"sqlite:///{made.path}")
    try:
        with copy.reading() as session:
            assert session.execute(text("PRAGMA integrity_check")).scalar() == "ok"
            instances = session.scalar(select(func.count()).select_from(Instance))
            started = session.scalar(select(func.count()).where(Event.kind == "started"))
        assert instances is not None
        assert instances >= 3
        assert started == instances  # a snapshot: no instance without its history
    finally:
        copy.dispose()


def old_database(path: Path, revision: str) -> Path:
    """A SQLite database at `path`, migrated only up to `revision` (an older release's)."""
    engine = create_engine(f"sqlite:///{path}")
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    engine.dispose()
    return path


def test_a_backup_from_an_older_schema_is_migrated_as_it_is_restored(tmp_path: Path) -> None:
    old = old_database(tmp_path / "old.sqlite3", "0019")
    restored = Database(f"sqlite:///{tmp_path / 'new.sqlite3'}")
    try:
        done = restore(restored, old)
        assert done.revision_before == "0019"
        assert done.revision_after is not None
        assert done.revision_after == ",".join(sorted(code_heads()))  # migrated to this code's
    finally:
        restored.dispose()


def count_instances(database: Database) -> int:
    with database.reading() as session:
        return int(session.scalar(select(func.count()).select_from(Instance)) or 0)
