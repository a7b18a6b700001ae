"""mail intake: mailboxes that open instances, and a record of every mail received

A mailbox is an address bound to a workflow (and, by key, to a service): a new mail opens
an instance of it, a reply becomes a comment. `inbound_mail` keeps every mail received and
what became of it (opened, commented, dropped as an auto-reply, a bounce or a loop, or
refused), with the reason.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 19:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "mailboxes",
        sa.Column("id", ID, nullable=False),
        sa.Column("address", sa.String(length=254), nullable=False),
        sa.Column("workflow_key", sa.String(length=80), nullable=False),
        sa.Column("service_key", sa.String(length=80), nullable=True),
        sa.Column("fields", DOCUMENT, nullable=False),
        sa.Column("defaults", DOCUMENT, nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mailboxes")),
        sa.UniqueConstraint("address", name=op.f("uq_mailboxes_address")),
    )
    op.create_table(
        "inbound_mail",
        sa.Column("id", ID, nullable=False),
        sa.Column("mailbox_id", ID, nullable=True),
        sa.Column("message_id", sa.String(length=255), nullable=False),
        sa.Column("sender", sa.String(length=320), nullable=False),
        sa.Column("subject", sa.String(length=998), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("instance_id", ID, nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["mailbox_id"],
            ["mailboxes.id"],
            name=op.f("fk_inbound_mail_mailbox_id_mailboxes"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["instances.id"],
            name=op.f("fk_inbound_mail_instance_id_instances"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_mail")),
    )
    with op.batch_alter_table("inbound_mail", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_inbound_mail_instance_id"), ["instance_id"], unique=False
        )
        batch_op.create_index("ix_inbound_mail_message_id", ["message_id"], unique=False)
        batch_op.create_index(
            "ix_inbound_mail_sender_received_at", ["sender", "received_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("inbound_mail", schema=None) as batch_op:
        batch_op.drop_index("ix_inbound_mail_sender_received_at")
        batch_op.drop_index("ix_inbound_mail_message_id")
        batch_op.drop_index(batch_op.f("ix_inbound_mail_instance_id"))
    op.drop_table("inbound_mail")
    op.drop_table("mailboxes")
