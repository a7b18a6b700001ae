"""who logged a request and how it came in; links between instances

An agent who logs a call records the channel (phone, email, chat, walk-in, SMS), themselves
as who logged it, and the caller when the caller has no account. Instances link to each
other as related, or as a duplicate merged into its original.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 19:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0014"
# Chained onto 0012 while 0013 is built beside it; re-chained onto 0013 when merged.
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    # Plain ADD COLUMN: nullable columns need no copy of the table on SQLite.
    op.add_column("instances", sa.Column("channel", sa.String(length=20), nullable=True))
    op.add_column("instances", sa.Column("logged_by", sa.String(length=80), nullable=True))
    op.add_column("instances", sa.Column("caller", DOCUMENT, nullable=True))
    op.create_table(
        "instance_links",
        sa.Column("id", ID, nullable=False),
        sa.Column("instance_id", ID, nullable=False),
        sa.Column("other_id", ID, nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("created_by", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["instances.id"],
            name=op.f("fk_instance_links_instance_id_instances"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["other_id"],
            ["instances.id"],
            name=op.f("fk_instance_links_other_id_instances"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_instance_links")),
        sa.UniqueConstraint(
            "instance_id",
            "other_id",
            "kind",
            name=op.f("uq_instance_links_instance_id_other_id_kind"),
        ),
    )
    op.create_index("ix_instance_links_other_id", "instance_links", ["other_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_instance_links_other_id", table_name="instance_links")
    op.drop_table("instance_links")
    for column in ("caller", "logged_by", "channel"):
        op.execute(f"ALTER TABLE instances DROP COLUMN {column}")
