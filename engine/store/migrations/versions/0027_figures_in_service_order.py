"""figures in service order: `ix_incident_figures_service_started` holds what MTBF reads

MTBF walks each service's incidents in the order they started, carrying the latest
restoration before each (a window over service, start and id). The index on (service,
start) gave the order but not the id that breaks ties, nor the restoration: PostgreSQL
sorted every row of the range instead (on disk past `work_mem`: 240 ms over a year of
100,000 incidents). Holding (service, start, id, restored, discarded, workflow) in the
index lets both databases read the window in order from the index alone (40 ms), the
workflow being how a dashboard keeps to incidents.

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-06 23:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = "ix_incident_figures_service_started"


def upgrade() -> None:
    op.drop_index(NAME, table_name="incident_figures")
    op.create_index(
        NAME,
        "incident_figures",
        ["service_key", "started_s", "instance_id", "restored_s", "discarded", "workflow_key"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(NAME, table_name="incident_figures")
    op.create_index(NAME, "incident_figures", ["service_key", "started_s"], unique=False)
