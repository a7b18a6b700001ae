"""tasks keep whom separation of duties keeps from them, so queues leave them out

`tasks.kept_apart` names the people separation of duties keeps from a task (its
instance's requester for an approval, who did a step its `not_by` names), worked out as the
task opens. A group's queue, its count and its notifications leave the task out for them:
before, an agent saw the approval of their own request in their queue, and every attempt to
take it was refused. Tasks opened before this column stay in every member's queue, as they
were; taking one is still refused.

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-07 15:10:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("kept_apart", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("kept_apart")
