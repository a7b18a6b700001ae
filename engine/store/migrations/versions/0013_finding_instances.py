"""find instances: a full-text index, saved views, and indexes for sorting and paging the list

The instance list sorts by a whitelisted column and pages by seek (keyset), so every sort
needs an index ending in the id: `(updated_at, id)`, `(priority, id)`, `(status, id)` (the
last takes the place of the index on `status` alone). The list's step filter reads an
index of the open tasks by step.

The full-text index is SQLite's FTS5 or PostgreSQL's tsvector under GIN (see
`engine.store.search`); existing instances are indexed here, with their number, title,
data's text and comments, as the code indexes them (said again here: a migration must
not change when the code does).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 18:00:00.000000
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = "status = 'open'"
PG_TEXT_LIMIT = 250_000
BATCH = 2000


def upgrade() -> None:
    Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    Document = sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), "postgresql")
    op.create_table(
        "saved_views",
        sa.Column("id", Id, nullable=False),
        sa.Column("owner", sa.String(length=80), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("group_key", sa.String(length=80), nullable=True),
        sa.Column("filters", Document, nullable=False),
        sa.Column("sort", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_key"],
            ["groups.key"],
            name=op.f("fk_saved_views_group_key_groups"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_saved_views")),
        sa.UniqueConstraint("owner", "name", name=op.f("uq_saved_views_owner_name")),
    )
    op.create_index("ix_saved_views_group_key", "saved_views", ["group_key"], unique=False)
    # Plain index statements, not a batch: a batch may copy `instances`, and on SQLite
    # dropping the old copy would cascade to every table that refers to it.
    op.drop_index("ix_instances_status", table_name="instances")
    op.create_index("ix_instances_status", "instances", ["status", "id"], unique=False)
    op.create_index("ix_instances_updated_at_id", "instances", ["updated_at", "id"], unique=False)
    op.create_index("ix_instances_priority_id", "instances", ["priority", "id"], unique=False)
    op.create_index(
        "ix_tasks_open_step",
        "tasks",
        ["step", "instance_id"],
        unique=False,
        sqlite_where=sa.text(OPEN),
        postgresql_where=sa.text(OPEN),
    )
    op.create_index(
        "ix_tasks_open_group",
        "tasks",
        ["candidate_group", "instance_id"],
        unique=False,
        sqlite_where=sa.text(OPEN),
        postgresql_where=sa.text(OPEN),
    )
    op.create_index("ix_tasks_completed_by", "tasks", ["completed_by", "instance_id"], unique=False)
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        _create_postgresql_index()
    else:
        op.execute(
            "CREATE VIRTUAL TABLE instance_search USING fts5("
            "title, body, notes, tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3')"
        )
    _backfill(bind)


def _create_postgresql_index() -> None:
    public = f"left(title || ' ' || body, {PG_TEXT_LIMIT})"
    everything = f"left(title || ' ' || body || ' ' || notes, {PG_TEXT_LIMIT})"
    op.execute(
        "CREATE TABLE instance_search ("
        " instance_id BIGINT PRIMARY KEY REFERENCES instances (id) ON DELETE CASCADE,"
        " title TEXT NOT NULL DEFAULT '',"
        " body TEXT NOT NULL DEFAULT '',"
        " notes TEXT NOT NULL DEFAULT '',"
        f" public_tsv TSVECTOR GENERATED ALWAYS AS (to_tsvector('simple', {public})) STORED,"
        f" all_tsv TSVECTOR GENERATED ALWAYS AS (to_tsvector('simple', {everything})) STORED)"
    )
    op.execute("CREATE INDEX ix_instance_search_public ON instance_search USING GIN (public_tsv)")
    op.execute("CREATE INDEX ix_instance_search_all ON instance_search USING GIN (all_tsv)")


def _text_of(value: Any, found: list[str]) -> None:
    if isinstance(value, str):
        if value.strip():
            found.append(value)
    elif isinstance(value, Mapping):
        for item in value.values():
            _text_of(item, found)
    elif isinstance(value, list):
        for item in value:
            _text_of(item, found)


def _backfill(bind: sa.Connection) -> None:
    """Index every instance there is, with its comments, in batches."""
    key = "instance_id" if bind.dialect.name == "postgresql" else "rowid"
    insert = sa.text(
        f"INSERT INTO instance_search ({key}, title, body, notes) "
        "VALUES (:id, :title, :body, :notes)"
    )
    last = 0
    while True:
        rows = bind.execute(
            sa.text(
                "SELECT id, number, title, state FROM instances WHERE id > :last "
                "ORDER BY id LIMIT :batch"
            ),
            {"last": last, "batch": BATCH},
        ).all()
        if not rows:
            return
        last = rows[-1][0]
        ids = [row[0] for row in rows]
        said: dict[tuple[int, bool], list[str]] = {}
        for instance_id, body, public in bind.execute(
            sa.text(
                "SELECT instance_id, body, public FROM comments "
                "WHERE instance_id >= :first AND instance_id <= :last ORDER BY id"
            ),
            {"first": ids[0], "last": last},
        ):
            said.setdefault((instance_id, bool(public)), []).append(body)
        values = []
        for instance_id, number, title, state in rows:
            document = json.loads(state) if isinstance(state, str) else state
            found: list[str] = []
            _text_of((document or {}).get("data") or {}, found)
            prefix, _, digits = number.rpartition("-")
            said_number = f"{number} {prefix} {digits} {digits.lstrip('0')}"
            body = "\n".join([said_number, *found, *said.get((instance_id, True), [])])
            notes = "\n".join(said.get((instance_id, False), []))
            values.append({"id": instance_id, "title": title, "body": body, "notes": notes})
        bind.execute(insert, values)


def downgrade() -> None:
    op.execute("DROP TABLE instance_search")
    op.drop_index("ix_tasks_completed_by", table_name="tasks")
    op.drop_index("ix_tasks_open_group", table_name="tasks")
    op.drop_index("ix_tasks_open_step", table_name="tasks")
    op.drop_index("ix_instances_priority_id", table_name="instances")
    op.drop_index("ix_instances_updated_at_id", table_name="instances")
    op.drop_index("ix_instances_status", table_name="instances")
    op.create_index("ix_instances_status", "instances", ["status"], unique=False)
    op.drop_index("ix_saved_views_group_key", table_name="saved_views")
    op.drop_table("saved_views")
