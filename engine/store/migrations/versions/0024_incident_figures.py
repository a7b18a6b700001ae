"""incident figures: each incident's clocks and SLA outcomes, kept for the dashboards

`engine.service.insight` reads an instance's timeline through `engine.core.metrics` and
keeps its figures here, with what the dashboards group and filter by, so a panel over
100,000 incidents is one grouped statement instead of a walk over every timeline.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06 21:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "incident_figures",
        sa.Column("instance_id", ID, nullable=False),
        sa.Column("last_event", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("workflow_key", sa.String(length=80), nullable=False),
        sa.Column("service_key", sa.String(length=80), nullable=True),
        sa.Column("team", sa.String(length=80), nullable=True),
        sa.Column("priority", sa.String(length=40), nullable=True),
        sa.Column("category", sa.String(length=80), nullable=True),
        sa.Column("status", sa.String(length=40), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_s", sa.Float(), nullable=False),
        sa.Column("started_day", sa.Integer(), nullable=False),
        sa.Column("open", sa.Boolean(), nullable=False),
        sa.Column("discarded", sa.Boolean(), nullable=False),
        sa.Column("ack_s", sa.Float(), nullable=True),
        sa.Column("resolve_s", sa.Float(), nullable=True),
        sa.Column("restored_s", sa.Float(), nullable=True),
        sa.Column("reopenings", sa.Integer(), nullable=False),
        sa.Column("response", sa.String(length=10), nullable=False),
        sa.Column("resolution", sa.String(length=10), nullable=False),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["instances.id"],
            name=op.f("fk_incident_figures_instance_id_instances"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("started_s", "instance_id", name=op.f("pk_incident_figures")),
        sqlite_with_rowid=False,  # clustered on the start: a range of days is one stretch
    )
    with op.batch_alter_table("incident_figures", schema=None) as batch_op:
        batch_op.create_index("ix_incident_figures_instance_id", ["instance_id"], unique=True)
        batch_op.create_index(
            "ix_incident_figures_service_started", ["service_key", "started_s"], unique=False
        )
        batch_op.create_index("ix_incident_figures_updated_at", ["updated_at"], unique=False)
        batch_op.create_index(
            "ix_incident_figures_open_priority", ["open", "priority"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("incident_figures", schema=None) as batch_op:
        batch_op.drop_index("ix_incident_figures_open_priority")
        batch_op.drop_index("ix_incident_figures_updated_at")
        batch_op.drop_index("ix_incident_figures_service_started")
        batch_op.drop_index("ix_incident_figures_instance_id")
    op.drop_table("incident_figures")
