"""on-call shifts

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 01:37:02.030502
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "on_call_shifts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("schedule", sa.String(length=80), nullable=False),
        sa.Column("username", sa.String(length=80), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_on_call_shifts")),
    )
    with op.batch_alter_table("on_call_shifts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_on_call_shifts_schedule_starts", ["schedule", "starts_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("on_call_shifts", schema=None) as batch_op:
        batch_op.drop_index("ix_on_call_shifts_schedule_starts")

    op.drop_table("on_call_shifts")
