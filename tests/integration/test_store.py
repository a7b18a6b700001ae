"""The schema: Alembic owns it, in one line of history, matching the models exactly."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from engine.store.database import Database, alembic_config
from engine.store.models import Base


def test_migrations_have_exactly_one_head() -> None:
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    assert len(heads) == 1, f"two Alembic heads, merge them: {heads}"


def test_migrated_schema_matches_the_models(database: Database) -> None:
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_sqlite_runs_in_wal_with_foreign_keys(database: Database) -> None:
    if not database.is_sqlite:
        return
    with database.engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert connection.execute(text("PRAGMA busy_timeout")).scalar() == 30_000


def test_many_threads_each_keeping_a_writer_still_get_connections_to_read(tmp_path) -> None:
    """A web server with 24 threads: every one writes, then reads, at the same time."""
    import threading

    from sqlalchemy import text as sql

    from engine.store.database import Database
    from engine.store.uow import UnitOfWork

    database = Database(f"sqlite:///{tmp_path / 'threads.sqlite3'}", pool_timeout=2)
    database.migrate()
    failures: list[BaseException] = []
    barrier = threading.Barrier(24, timeout=10)

    def work() -> None:
        try:
            with UnitOfWork(database) as uow:
                uow.connection.execute(sql("SELECT 1"))
                uow.commit()
            barrier.wait()  # every thread now holds its writer connection
            with database.reading() as session:
                session.execute(sql("SELECT 1"))
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=work) for _ in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    database.dispose()
    assert failures == []
