"""leaner writes on the command path

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 00:24:18.633551
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("instances", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_instances_status_updated"))
        batch_op.create_index("ix_instances_status", ["status"], unique=False)

    # Step runs now record finished runs only; active ones live in the instance state.
    op.execute("DELETE FROM step_runs WHERE ended_at IS NULL")
    with op.batch_alter_table("step_runs", schema=None) as batch_op:
        batch_op.alter_column("ended_at", existing_type=sa.DateTime(timezone=True), nullable=False)

    with op.batch_alter_table("timers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_timers_status_dispatched"))
        batch_op.drop_index(batch_op.f("ix_timers_status_due"))
        batch_op.create_index(
            "ix_timers_pending_due",
            ["due_at"],
            unique=False,
            sqlite_where=sa.text("status = 'pending'"),
            postgresql_where=sa.text("status = 'pending'"),
        )


def downgrade() -> None:
    with op.batch_alter_table("timers", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_timers_pending_due",
            sqlite_where=sa.text("status = 'pending'"),
            postgresql_where=sa.text("status = 'pending'"),
        )
        batch_op.create_index(
            batch_op.f("ix_timers_status_due"), ["status", "due_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_timers_status_dispatched"), ["status", "dispatched_at"], unique=False
        )

    with op.batch_alter_table("step_runs", schema=None) as batch_op:
        batch_op.alter_column("ended_at", existing_type=sa.DateTime(timezone=True), nullable=True)

    with op.batch_alter_table("instances", schema=None) as batch_op:
        batch_op.drop_index("ix_instances_status")
        batch_op.create_index(
            batch_op.f("ix_instances_status_updated"), ["status", "updated_at"], unique=False
        )
