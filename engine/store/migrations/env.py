"""Alembic environment: runs on the connection handed in by `Database.migrate`."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from engine.store.models import Base
from engine.store.search import outside_the_models

config = context.config
target_metadata = Base.metadata


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is None:  # `alembic` run by hand: use the URL from the config
        engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
        with engine.begin() as connection:
            _migrate(connection)
        return
    _migrate(connection)


def _migrate(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite can only alter tables by copying them
        compare_type=True,
        include_name=outside_the_models,  # the full-text index is no model
    )
    with context.begin_transaction():
        context.run_migrations()


run()
