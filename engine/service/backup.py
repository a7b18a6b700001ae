"""Backups of the whole database, and restoring one: each database with its own tools.

- SQLite: the online backup API (`sqlite3.Connection.backup`) copies a consistent
  snapshot while the app and workers keep writing (in WAL mode a reader blocks no
  writer). A backup is itself a SQLite file.
- PostgreSQL: `pg_dump --format=custom` and `pg_restore`, found on PATH (the client tools
  of the server's major version or newer). A backup is pg_dump's custom archive.

A backup is written beside its target under a temporary name and renamed when complete,
so a file at PATH is always a whole backup. Restoring refuses a database that holds data
unless forced, then brings the schema up to date: a backup made by an older Flowdesk is
migrated as it is restored. Redis is not backed up: it holds work, never state (timers
lost with it are handed over again by the worker's sweep).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, inspect, text
from sqlalchemy.engine import URL

from engine.service.errors import Conflict, InvalidInput, Unavailable
from engine.store.database import Database

#: The first bytes of each kind of backup.
SQLITE_MAGIC = b"SQLite format 3\x00"
PG_MAGIC = b"PGDMP"
#: Tables whose rows make a database "not empty" (restoring over them needs `force`).
DATA_TABLES = ("instances", "definitions", "users")
#: How long pg_dump or pg_restore may take, in seconds, before it is given up on.
TOOL_TIMEOUT_S = 3600


@dataclass(frozen=True, slots=True)
class BackupMade:
    """A backup written: where, its size, and the schema revision it holds."""

    path: Path
    size: int
    kind: str  # "sqlite" or "postgresql"


@dataclass(frozen=True, slots=True)
class Restored:
    """A backup restored: the schema revision it held, and the one it was migrated to."""

    kind: str
    revision_before: str | None
    revision_after: str | None


def backup(database: Database, path: Path) -> BackupMade:
    """Write a backup of `database` to `path` (a new file); the app may keep running."""
    path = Path(path)
    new_file(path, "a backup")
    partial = private_file(path.with_name(f".{path.name}.partial"))
    try:
        if database.is_sqlite:
            _sqlite_backup(_sqlite_file(database), partial)
            kind = "sqlite"
        else:
            _run(
                "pg_dump",
                ["--format=custom", "--no-owner", "--no-privileges", f"--file={partial}"]
                + [f"--schema={schema}" for schema in _schemas(database.url)]
                + [f"--dbname={_libpq(database.url)}"],
                password=database.url.password,
            )
            kind = "postgresql"
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return BackupMade(path, path.stat().st_size, kind)


def private_file(path: Path) -> Path:
    """Make `path` an empty file only its owner reads (0600), to be written into: a backup
    or an export holds password digests and integrations' secrets, which a file made with
    the usual umask (0644) lets every account on the machine read."""
    path.unlink(missing_ok=True)  # a partial file a crash left
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    return path


def new_file(path: Path, what: str) -> None:
    """Refuse `path` when a file is there already, or its folder is not: `what` (a backup,
    an export) is written to a new file, never over one."""
    if path.exists():
        raise InvalidInput(f"{path} exists already: {what} is written to a new file")
    if not path.parent.is_dir():
        raise InvalidInput(f"{path.parent} is not a folder")


def restore(database: Database, path: Path, *, force: bool = False) -> Restored:
    """Restore the backup at `path` into `database`, then migrate it to the newest schema.

    Refuses (changing nothing) a backup of the other kind of database, a file that is
    no backup, and a database holding instances, definitions or users unless `force`.
    """
    path = Path(path)
    if not path.is_file():
        raise InvalidInput(f"{path} is not a file")
    with open(path, "rb") as file:
        head = file.read(len(SQLITE_MAGIC))
    kind = "sqlite" if head.startswith(SQLITE_MAGIC) else "postgresql"
    if not head.startswith(SQLITE_MAGIC) and not head.startswith(PG_MAGIC):
        raise InvalidInput(f"{path} is not a Flowdesk backup (neither SQLite nor pg_dump's)")
    if (kind == "sqlite") != database.is_sqlite:
        target = "SQLite" if database.is_sqlite else "PostgreSQL"
        raise InvalidInput(
            f"{path} is a {kind} backup and the database is {target}: restore it into the "
            "same kind of database, or move the data across with export and import"
        )
    before = _backup_revision(path) if kind == "sqlite" else None
    if not force and _holds_data(database.engine):
        raise Conflict(
            f"the database {database.url.render_as_string(hide_password=True)} is not empty "
            "(it holds instances, definitions or users): "
            "restore into an empty database, or force it to replace everything"
        )
    if kind == "sqlite":
        _sqlite_restore(path, _sqlite_file(database))
    else:
        has_tables = bool(inspect(database.engine).get_table_names())
        _run(
            "pg_restore",
            ["--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction"]
            + (["--clean", "--if-exists"] if has_tables else [])
            + [f"--dbname={_libpq(database.url)}", str(path)],
            password=database.url.password,
        )
        before = _revision(database.engine)
    database.dispose()  # connections opened before the restore see the old file's pages
    database.migrate()
    return Restored(kind, before, _revision(database.engine))


# SQLite ------------------------------------------------------------------------------------


def _sqlite_file(database: Database) -> Path:
    name = database.url.database
    if not name or name == ":memory:":
        raise InvalidInput("an in-memory database has nothing to back up or restore into")
    return Path(name)


def _sqlite_backup(source_file: Path, target: Path) -> None:
    source = sqlite3.connect(source_file)
    copy = sqlite3.connect(target)
    try:
        # All pages in one step: a snapshot under one read transaction, which in WAL mode
        # blocks no writer (stepping page by page would restart on every write).
        source.backup(copy)
        copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
    finally:
        copy.close()
        source.close()


def _sqlite_restore(backup_file: Path, target: Path) -> None:
    source = sqlite3.connect(f"file:{backup_file}?mode=ro", uri=True)
    try:
        checked = source.execute("PRAGMA quick_check").fetchone()
        if checked is None or checked[0] != "ok":
            raise InvalidInput(f"{backup_file} is damaged: {checked[0] if checked else '?'}")
        target.parent.mkdir(parents=True, exist_ok=True)
        copy = sqlite3.connect(target, timeout=30)
        try:
            source.backup(copy)
            copy.execute("PRAGMA journal_mode=WAL")
        finally:
            copy.close()
    finally:
        source.close()


def _backup_revision(backup_file: Path) -> str | None:
    source = sqlite3.connect(f"file:{backup_file}?mode=ro", uri=True)
    try:
        rows = source.execute("SELECT version_num FROM alembic_version").fetchall()
    except sqlite3.DatabaseError:
        raise InvalidInput(
            f"{backup_file} is not a Flowdesk backup: it has no schema revision"
        ) from None
    finally:
        source.close()
    return ",".join(sorted(str(row[0]) for row in rows)) or None


# PostgreSQL --------------------------------------------------------------------------------


def _libpq(url: URL) -> str:
    """The URL as libpq reads it (`postgresql://`, no driver name), without its password.

    The password goes in the tool's environment (PGPASSWORD), not on its command line,
    which every user of the machine can read.
    """
    return url.set(drivername="postgresql", password=None).render_as_string(hide_password=False)


def _schemas(url: URL) -> list[str]:
    """The schema a URL's `options=-csearch_path=...` names (the tests' one per test)."""
    options = url.query.get("options")
    values = [options] if isinstance(options, str) else list(options or ())
    found = []
    for value in values:
        for part in value.split():
            if part.startswith("-csearch_path="):
                found += [s.strip() for s in part.split("=", 1)[1].split(",") if s.strip()]
    return found


def _run(tool: str, arguments: Sequence[str], *, password: str | None = None) -> None:
    found = shutil.which(tool)
    if found is None:
        raise Unavailable(
            f"{tool} was not found on PATH: install PostgreSQL's client tools (of the "
            "server's major version or newer), e.g. `apt install postgresql-client`"
        )
    environment = dict(os.environ)
    if password is not None:
        environment["PGPASSWORD"] = password
    try:
        done = subprocess.run(
            [found, *arguments],
            capture_output=True,
            text=True,
            timeout=TOOL_TIMEOUT_S,
            env=environment,
        )
    except subprocess.TimeoutExpired:
        raise Unavailable(f"{tool} took longer than {TOOL_TIMEOUT_S} s and was stopped") from None
    if done.returncode != 0:
        said = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise Unavailable(f"{tool} failed (exit {done.returncode}): " + " / ".join(said))


# Both --------------------------------------------------------------------------------------


def _holds_data(engine: Engine) -> bool:
    tables = set(inspect(engine).get_table_names())
    with engine.connect() as connection:
        for table in DATA_TABLES:
            if table in tables:
                found = connection.execute(text(f"SELECT 1 FROM {table} LIMIT 1")).first()
                if found is not None:
                    return True
    return False


def _revision(engine: Engine) -> str | None:
    if "alembic_version" not in inspect(engine).get_table_names():
        return None
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT version_num FROM alembic_version")).scalars()
        return ",".join(sorted(str(row) for row in rows)) or None
