"""notifications in the app, per-person mail preferences, and the mail the relay sent

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 18:00:00.000000

A notification is one row per recipient, written in the transaction of what caused it
(a task given to them, their group's queue getting work, an SLA warning or breach, a
mention, their request changing). `notification_settings` keeps which kinds a person
also wants by mail. `sent_mail` keeps each outbox mail as the relay rendered it (to,
subject, both bodies), so admins can read what went out and what failed.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "notifications",
        sa.Column("id", ID, nullable=False),
        sa.Column("recipient", sa.String(length=80), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("instance_id", ID, nullable=False),
        sa.Column("number", sa.String(length=24), nullable=False),
        sa.Column("task_id", ID, nullable=True),
        sa.Column("actor", sa.String(length=80), nullable=True),
        sa.Column("summary", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["instances.id"],
            name=op.f("fk_notifications_instance_id_instances"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
    )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_notifications_instance_id"), ["instance_id"], unique=False
        )
        batch_op.create_index("ix_notifications_recipient_id", ["recipient", "id"], unique=False)
        batch_op.create_index("ix_notifications_created_at", ["created_at"], unique=False)
        batch_op.create_index(
            "ix_notifications_unread",
            ["recipient"],
            unique=False,
            postgresql_where=sa.text("read_at IS NULL"),
            sqlite_where=sa.text("read_at IS NULL"),
        )
    op.create_table(
        "notification_settings",
        sa.Column("username", sa.String(length=80), nullable=False),
        sa.Column("mail", DOCUMENT, nullable=False),
        sa.PrimaryKeyConstraint("username", name=op.f("pk_notification_settings")),
    )
    op.create_table(
        "sent_mail",
        sa.Column("outbox_id", ID, nullable=False),
        sa.Column("recipients", DOCUMENT, nullable=False),
        sa.Column("subject", sa.String(length=998), nullable=False),
        sa.Column("text_body", sa.Text(), nullable=False),
        sa.Column("html_body", sa.Text(), nullable=False),
        sa.Column("message_id", sa.String(length=255), nullable=False),
        sa.Column("rendered_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["outbox_id"],
            ["outbox.id"],
            name=op.f("fk_sent_mail_outbox_id_outbox"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("outbox_id", name=op.f("pk_sent_mail")),
    )


def downgrade() -> None:
    op.drop_table("sent_mail")
    op.drop_table("notification_settings")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_notifications_unread")
        batch_op.drop_index("ix_notifications_created_at")
        batch_op.drop_index("ix_notifications_recipient_id")
        batch_op.drop_index(batch_op.f("ix_notifications_instance_id"))
    op.drop_table("notifications")
