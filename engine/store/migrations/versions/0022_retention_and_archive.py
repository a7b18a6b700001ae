"""retention and archive: a policy per workflow, archived instances, cascade look-ups

`retention_policies` says what becomes of a workflow's ended instances after N days
(archive or delete; no row keeps them). `archived_instances` holds each archived instance
as one compressed record, found by its number. Removing an instance cascades through its
foreign keys; `outbox` and `commands` had no index on `instance_id`, so each removal
scanned both tables whole: now it looks them up.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06 21:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "retention_policies",
        sa.Column("workflow_key", sa.String(length=80), nullable=False),
        sa.Column("action", sa.String(length=10), nullable=False),
        sa.Column("after_days", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=80), nullable=True),
        sa.PrimaryKeyConstraint("workflow_key", name=op.f("pk_retention_policies")),
    )
    op.create_table(
        "archived_instances",
        sa.Column("number", sa.String(length=24), nullable=False),
        sa.Column("instance_id", ID, nullable=False),
        sa.Column("workflow_key", sa.String(length=80), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("status", sa.String(length=40), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("record", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("number", name=op.f("pk_archived_instances")),
    )
    # Plain index statements, not a batch: a batch may copy a table (see 0013).
    op.create_index(
        "ix_archived_instances_workflow_key", "archived_instances", ["workflow_key"], unique=False
    )
    op.create_index("ix_outbox_instance_id", "outbox", ["instance_id"], unique=False)
    op.create_index("ix_commands_instance_id", "commands", ["instance_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_commands_instance_id", table_name="commands")
    op.drop_index("ix_outbox_instance_id", table_name="outbox")
    op.drop_index("ix_archived_instances_workflow_key", table_name="archived_instances")
    op.drop_table("archived_instances")
    op.drop_table("retention_policies")
