"""one index on instances' priority: drop `ix_instances_priority`, which `..._priority_id` covers

`ix_instances_priority_id` (priority, id) answers every lookup by priority that the
single-column index did, and the instance list pages through it by seek. The second
index only cost a write on every change of priority and about ten bytes per instance.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06 21:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_instances_priority", table_name="instances")


def downgrade() -> None:
    op.create_index("ix_instances_priority", "instances", ["priority"], unique=False)
