"""pin each task to the form version it opened with; link child instances to their parent

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 14:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("form_version_id", ID, nullable=True))
        batch_op.create_foreign_key(
            op.f("fk_tasks_form_version_id_definition_versions"),
            "definition_versions",
            ["form_version_id"],
            ["id"],
            ondelete="RESTRICT",
        )
    # Plain ADD COLUMN, not a batch copy: on SQLite, copying `instances` would drop the old
    # table, and with foreign keys on, that deletes every task, event and timer with it.
    # So the parent link is an indexed column without a foreign key constraint.
    op.add_column("instances", sa.Column("parent_id", ID, nullable=True))
    op.add_column("instances", sa.Column("parent_run", sa.Integer(), nullable=True))
    op.create_index(op.f("ix_instances_parent_id"), "instances", ["parent_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_instances_parent_id"), table_name="instances")
    # SQLite (3.35 and later) and PostgreSQL both drop a column in place.
    op.execute("ALTER TABLE instances DROP COLUMN parent_run")
    op.execute("ALTER TABLE instances DROP COLUMN parent_id")
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_constraint(
            op.f("fk_tasks_form_version_id_definition_versions"), type_="foreignkey"
        )
        batch_op.drop_column("form_version_id")
