"""keep each task's place in the inbox on its row, and index the queues in that order

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27 06:00:00.000000

A page of a group's queue sorted every queued task of the group by its instance's
SLA deadlines, through a join; with the order on the task row, the page is a range
of the queue index. The order of existing tasks is computed here as
`engine.service.apply.sort_key` does (said again in SQL: a migration must not change
when the code does). The queue index takes the place of 0007's, and of the index on
(candidate_group, status), which SQLite's planner preferred to the smaller queue index.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

QUEUE = "status = 'open' AND assignee IS NULL"

_OF_INSTANCE = "FROM instances WHERE instances.id = tasks.instance_id"
_DEADLINE = (
    "SELECT CASE WHEN response_due_at IS NULL THEN resolution_due_at"
    " WHEN resolution_due_at IS NULL THEN response_due_at"
    " WHEN response_due_at < resolution_due_at THEN response_due_at"
    f" ELSE resolution_due_at END {_OF_INSTANCE}"
)
_BREACHED = f"SELECT response_breached OR resolution_breached {_OF_INSTANCE}"
BACKFILL = f"""
UPDATE tasks SET
  sort_rank = CASE
    WHEN status <> 'open' THEN 3
    WHEN ({_BREACHED}) THEN 0
    WHEN ({_DEADLINE}) IS NOT NULL THEN 1
    WHEN due_at IS NOT NULL THEN 2
    ELSE 3 END,
  sort_at = CASE
    WHEN status <> 'open' THEN created_at
    ELSE COALESCE(({_DEADLINE}), due_at, created_at) END
"""


def upgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("sort_rank", sa.SmallInteger(), nullable=False, server_default="3")
        )
        batch_op.add_column(sa.Column("sort_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(BACKFILL)
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.alter_column("sort_at", existing_type=sa.DateTime(timezone=True), nullable=False)
        # The default only filled the existing rows in; the code gives every task its rank.
        batch_op.alter_column("sort_rank", existing_type=sa.SmallInteger(), server_default=None)
        batch_op.drop_index(
            "ix_tasks_queue", sqlite_where=sa.text(QUEUE), postgresql_where=sa.text(QUEUE)
        )
        batch_op.drop_index("ix_tasks_group_status")
        batch_op.create_index(
            "ix_tasks_queue",
            ["candidate_group", "sort_rank", "sort_at", "id"],
            unique=False,
            sqlite_where=sa.text(QUEUE),
            postgresql_where=sa.text(QUEUE),
        )


def downgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_tasks_queue", sqlite_where=sa.text(QUEUE), postgresql_where=sa.text(QUEUE)
        )
        batch_op.create_index("ix_tasks_group_status", ["candidate_group", "status"], unique=False)
        batch_op.create_index(
            "ix_tasks_queue",
            ["candidate_group"],
            unique=False,
            sqlite_where=sa.text(QUEUE),
            postgresql_where=sa.text(QUEUE),
        )
        batch_op.drop_column("sort_at")
        batch_op.drop_column("sort_rank")
