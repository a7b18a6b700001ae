"""postmortems: a major incident's postmortem as Markdown, and every saved revision

`postmortems` holds one postmortem per incident, as it stands, with the revision a save
must name (optimistic concurrency); `postmortem_revisions` keeps each saved text, who
saved it and when. Both go with their incident (cascade), and into its archive record.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-06 23:10:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "postmortems",
        sa.Column("id", ID, nullable=False),
        sa.Column("instance_id", ID, nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=80), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["instances.id"],
            name=op.f("fk_postmortems_instance_id_instances"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_postmortems")),
        sa.UniqueConstraint("instance_id", name=op.f("uq_postmortems_instance_id")),
    )
    op.create_table(
        "postmortem_revisions",
        sa.Column("id", ID, nullable=False),
        sa.Column("postmortem_id", ID, nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("saved_by", sa.String(length=80), nullable=False),
        sa.Column("saved_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["postmortem_id"],
            ["postmortems.id"],
            name=op.f("fk_postmortem_revisions_postmortem_id_postmortems"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_postmortem_revisions")),
        sa.UniqueConstraint(
            "postmortem_id",
            "revision",
            name=op.f("uq_postmortem_revisions_postmortem_id_revision"),
        ),
    )


def downgrade() -> None:
    op.drop_table("postmortem_revisions")
    op.drop_table("postmortems")
