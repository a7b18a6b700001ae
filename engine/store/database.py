"""The database: one engine per URL, SQLite tuned for concurrent writers, Alembic migrations."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import orjson
from sqlalchemy import Connection, Engine, create_engine, event, exc, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from engine.settings import CHECKPOINT_INTERVAL_S, SQLITE_BUSY_TIMEOUT_MS

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")


#: The key of the PostgreSQL advisory lock migrations take ("flowdesk" read as a number).
MIGRATE_LOCK = 0x666C6F776465736B
#: The SQLite database of an instance folder.
DATABASE_FILE = "flowdesk.sqlite3"


def default_url(instance_path: str | os.PathLike[str] | None = None) -> str:
    """Return `FLOWDESK_DATABASE_URL`, or a SQLite file in the instance folder."""
    url = os.environ.get("FLOWDESK_DATABASE_URL")
    if url:
        return url
    folder = Path(instance_path or os.environ.get("FLOWDESK_INSTANCE_PATH", "instance"))
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder.resolve() / DATABASE_FILE}"


def _normalise(url: str) -> str:
    # psycopg 3 is the driver we install; plain postgresql:// URLs mean it too.
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


class Database:
    """A database URL with its engine and sessions; `writing()` sessions lock for writes."""

    def __init__(
        self, url: str, *, busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS, **engine_options: Any
    ) -> None:
        self.url = make_url(_normalise(url))
        if self.url.get_backend_name() not in ("sqlite", "postgresql"):
            raise exc.ArgumentError(
                f"Flowdesk keeps its data in SQLite or PostgreSQL, not "
                f"{self.url.get_backend_name()}"
            )
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        if self.is_sqlite:
            engine_options.setdefault("connect_args", {"timeout": busy_timeout_ms / 1000})
            # Each thread keeps a writer connection for good (see `writer_connection`), so a
            # server with more threads than a bounded pool holds would starve its readers.
            # SQLite connections are cheap: let the pool grow with the threads.
            engine_options.setdefault("max_overflow", -1)
        # orjson: the state document is written on every command, so its speed shows.
        engine_options.setdefault("json_serializer", _dump_json)
        engine_options.setdefault("json_deserializer", orjson.loads)
        self.engine: Engine = create_engine(self.url, **engine_options)
        if self.is_sqlite:
            _tune_sqlite(self.engine, busy_timeout_ms)
        # Writes on SQLite begin with BEGIN IMMEDIATE, so two writers queue instead of
        # deadlocking on a lock upgrade; reads keep SQLite's deferred BEGIN.
        self.writer: Engine = self.engine.execution_options(flowdesk_write=True)
        self._local = threading.local()
        # Every thread's writer connection, so `dispose` closes them all, not only its own.
        self._writers: list[Connection] = []
        self._writers_lock = threading.Lock()
        self._checkpointer: Checkpointer | None = None
        file = self.url.database if self.is_sqlite else None
        self.writer_turn = WriterTurn(
            Path(f"{file}.writer-lock") if file and file != ":memory:" else None
        )
        reader = self.engine
        if not self.is_sqlite:
            # A read needs no transaction of its own: at READ COMMITTED a statement sees
            # what was committed when it began, in a transaction or not. Autocommit
            # spares every reading session its BEGIN and ROLLBACK round trips.
            reader = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self._reader = sessionmaker(reader, expire_on_commit=False)
        self._writer = sessionmaker(self.writer, expire_on_commit=False)

    def __repr__(self) -> str:
        return f"<Database {self.url.render_as_string(hide_password=True)}>"

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A session for reads; rolled back at the end."""
        with self._reader() as session:
            yield session

    def writer_connection(self) -> Connection:
        """This thread's connection for units of work, kept open between them.

        Checking a connection out of the pool and back for every command cost about
        as much as the command's own SQL, so each thread keeps one.
        """
        connection: Connection | None = getattr(self._local, "writer", None)
        if connection is None or connection.closed:
            connection = self._local.writer = self.writer.connect()
            with self._writers_lock:
                self._writers = [c for c in self._writers if not c.closed] + [connection]
            if self.is_sqlite:
                self._hand_checkpoints_to_a_thread(connection)
        return connection

    def _hand_checkpoints_to_a_thread(self, connection: Connection) -> None:
        # Copying the WAL back into the database file (a checkpoint) ran inside some
        # unlucky command's commit, about a third of the commit time on average. Unit-of-
        # work connections leave it to a background thread, which does it every second
        # without blocking writers (PASSIVE).
        connection.connection.dbapi_connection.execute(  # type: ignore[union-attr]
            "PRAGMA wal_autocheckpoint=0"
        )
        if self._checkpointer is None:
            self._checkpointer = Checkpointer(self.engine)
            self._checkpointer.start()

    def drop_writer_connection(self) -> None:
        """Close this thread's unit-of-work connection (after an error); the next opens anew."""
        connection: Connection | None = getattr(self._local, "writer", None)
        self._local.writer = None
        if connection is not None:
            connection.close()

    def writer_session(self) -> Session:
        """A new session whose transactions take the write lock at once (see `UnitOfWork`)."""
        return self._writer()

    def migrate(self) -> tuple[str | None, str | None]:
        """Bring the schema up to the newest Alembic revision; raise `SchemaAhead` when the
        database is at a migration this code does not know (a newer release migrated it).
        Return the migration it was at (None: a new database) and the one it is at now."""
        from alembic import command  # see `alembic_config`
        from alembic.script import ScriptDirectory

        config = alembic_config()
        with self.migrating() as connection:
            scripts = ScriptDirectory.from_config(config)
            known = {revision.revision for revision in scripts.walk_revisions()}
            at = revisions(connection)
            if at - known:
                raise SchemaAhead(
                    f"the database is at migration {', '.join(sorted(at - known))}, which "
                    f"this Flowdesk does not know (it knows up to {scripts.get_current_head()}): "
                    "a newer release migrated it. Run that release, or restore a backup this "
                    "one made; nothing was changed"
                )
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
            return (max(at) if at else None), scripts.get_current_head()

    @contextmanager
    def migrating(self) -> Iterator[Connection]:
        """A connection in the transaction a migration runs in (Alembic's `connection`).

        On PostgreSQL it holds an advisory lock: processes starting together (a web process
        and workers) migrate one after the other, the next finding the schema at its head.
        On SQLite a migration that rebuilds a table drops it and copies it back: foreign
        keys are off meanwhile (SQLite reads that pragma outside a transaction only) and
        checked whole before the commit.
        """
        with self.engine.connect() as connection:
            sqlite = connection.dialect.name == "sqlite"
            driver = connection.connection.dbapi_connection
            if sqlite and driver is not None:
                driver.execute("PRAGMA foreign_keys=OFF")
            try:
                with connection.begin():
                    if not sqlite:
                        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATE_LOCK})")
                    yield connection
                    if sqlite:
                        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                        if broken:
                            raise RuntimeError(f"a migration broke foreign keys: {broken[:5]}")
            finally:
                if sqlite and driver is not None:
                    driver.execute("PRAGMA foreign_keys=ON")

    def dispose(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
            self._checkpointer = None
        self.drop_writer_connection()
        with self._writers_lock:
            writers, self._writers = self._writers, []
        for connection in writers:
            if not connection.closed:
                connection.close()
        self.writer_turn.close()
        self.engine.dispose()


class WriterTurn:
    """Writers of one SQLite file take turns through an OS file lock (no-op elsewhere).

    SQLite's own wait for a busy database sleeps in growing steps (up to 100 ms), so
    writers in several processes (web, workers) lose time and fairness under load;
    `flock` wakes the next writer the moment the lock is free. Each thread opens its
    own descriptor, so threads of one process take turns too.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._local = threading.local()
        self._handles: list[IO[bytes]] = []  # every thread's, so `close` closes them all
        self._handles_lock = threading.Lock()

    def acquire(self) -> None:
        if self.path is None:
            return
        handle = getattr(self._local, "handle", None)
        if handle is None:
            handle = self._local.handle = open(self.path, "a+b")  # noqa: SIM115 (kept open)
            with self._handles_lock:
                self._handles.append(handle)
        fcntl.flock(handle, fcntl.LOCK_EX)

    def release(self) -> None:
        handle = getattr(self._local, "handle", None)
        if self.path is not None and handle is not None:
            fcntl.flock(handle, fcntl.LOCK_UN)

    def close(self) -> None:
        """Close every thread's lock file (when the database is disposed of)."""
        self._local.handle = None
        with self._handles_lock:
            handles, self._handles = self._handles, []
        for handle in handles:
            handle.close()


class Checkpointer(threading.Thread):
    """Checkpoint a SQLite database's WAL every `CHECKPOINT_INTERVAL_S`, until stopped."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(name="flowdesk-sqlite-checkpoint", daemon=True)
        self.engine = engine
        self._stopping = threading.Event()

    def run(self) -> None:
        while not self._stopping.wait(CHECKPOINT_INTERVAL_S):
            self.checkpoint()
        self.checkpoint()

    def checkpoint(self) -> None:
        with self.engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")

    def stop(self) -> None:
        self._stopping.set()
        self.join()


def _dump_json(value: Any) -> str:
    return orjson.dumps(value).decode()


class SchemaAhead(RuntimeError):
    """The database is at a migration this code does not know: a newer release migrated it."""


def revisions(connection: Connection) -> set[str]:
    """The migrations the database says it is at (none: a new, empty database)."""
    if not inspect(connection).has_table("alembic_version"):
        return set()
    return {
        str(row)
        for row in connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalars()
    }


def alembic_config() -> Config:
    """Return the Alembic configuration of Flowdesk's migrations.

    Alembic (with Mako and Pygments) is imported here, when migrating, not with the
    module: it was an eighth of a worker's resident memory, for a step done at start-up.
    """
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def _tune_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def begin(connection: Any) -> None:
        immediate = connection.get_execution_options().get("flowdesk_write")
        statement = "BEGIN IMMEDIATE" if immediate else "BEGIN"
        # Straight to the driver: this runs before every transaction. Its errors come back
        # wrapped the way SQLAlchemy wraps them, so a lock timeout here ("database is
        # locked") is retried and then said as busy, like one anywhere else.
        try:
            connection.connection.dbapi_connection.execute(statement)
        except sqlite3.Error as error:
            raise exc.DBAPIError.instance(statement, None, error, sqlite3.Error) from None
