"""The schema: Alembic owns it, in one line of history, matching the models exactly.

And publishing definitions: checked outside the write, frozen by content hash.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import select, text

from engine.catalog import Document
from engine.service.commands import Commands
from engine.service.definitions import (
    CatalogChanged,
    check_documents,
    publish_all,
    publish_document,
    write_documents,
)
from engine.store.database import Database, alembic_config
from engine.store.definitions import Definition, DefinitionVersion
from engine.store.models import Base
from engine.store.search import outside_the_models
from tests.infrastructure import PACK, Clock


def test_migrations_have_exactly_one_head() -> None:
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    assert len(heads) == 1, f"two Alembic heads, merge them: {heads}"


def test_migrated_schema_matches_the_models(database: Database) -> None:
    with database.engine.connect() as connection:
        opts = {"compare_type": True, "include_name": outside_the_models}
        context = MigrationContext.configure(connection, opts=opts)
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


# Publishing: checks before the write, and content equal to any version -------------------


def _revised(title: str) -> Document:
    flow = json.loads((PACK / "it-incident.json").read_text())
    return Document(Path(f"<{title}>"), {**flow, "title": title})


def test_publishing_content_equal_to_an_older_version_is_that_version(
    database: Database, commands: Commands, clock: Clock
) -> None:
    original = json.loads((PACK / "it-incident.json").read_text())
    with database.writer_session() as session, session.begin():
        (second,) = publish_all(session, [_revised("IT incident v2")], clock(), "test")
        again = publish_document(session, "workflow", original, clock(), "test")
    assert (second.version, second.created) == (2, True)
    assert (again.version, again.created, again.latest) == (1, False, 2)
    assert again.in_words() == (
        "The workflow it-incident is identical to version 1; the latest stays version 2. "
        "Nothing was published."
    )
    with database.reading() as session:
        latest = session.scalar(
            select(Definition.latest_version).where(Definition.key == "it-incident")
        )
    assert latest == 2


def test_documents_checked_before_something_else_was_published_are_checked_again(
    database: Database, commands: Commands, clock: Clock
) -> None:
    with database.reading() as session:
        checked = check_documents(session, [_revised("Checked first")])
    with database.writer_session() as session, session.begin():
        publish_all(session, [_revised("Published meanwhile")], clock(), "test")
    with pytest.raises(CatalogChanged), database.writer_session() as session, session.begin():
        write_documents(session, checked, clock(), "test")
    with database.reading() as session:
        titles = session.scalars(select(DefinitionVersion.content["title"].as_string())).all()
    assert "Checked first" not in titles
