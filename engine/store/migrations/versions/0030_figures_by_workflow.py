"""figures by workflow: `ix_incident_figures_workflow_key` counts a dashboard's incidents

Every Insight view first asks whether each incident has its figures, comparing the count of
incidents (instances of the workflows that say so) with the count of figures of those
workflows; while they differ it looks at every incident (engine/service/figures.py, `_since`).
Without an index on the figures' workflow, the second count walked the whole of the widest
index holding it: 6.4 ms over 100,000 incidents on SQLite, against 3.0 ms through this one.

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-07 22:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0030"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = "ix_incident_figures_workflow_key"


def upgrade() -> None:
    op.create_index(NAME, "incident_figures", ["workflow_key"], unique=False)


def downgrade() -> None:
    op.drop_index(NAME, table_name="incident_figures")
