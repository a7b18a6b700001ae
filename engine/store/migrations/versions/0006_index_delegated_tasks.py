"""index the tasks people delegated, for their inbox

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 02:55:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.create_index(
            "ix_tasks_delegated_status",
            ["delegated_by", "status"],
            unique=False,
            sqlite_where=sa.text("delegated_by IS NOT NULL"),
            postgresql_where=sa.text("delegated_by IS NOT NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_tasks_delegated_status",
            sqlite_where=sa.text("delegated_by IS NOT NULL"),
            postgresql_where=sa.text("delegated_by IS NOT NULL"),
        )
