"""Notifications in the app, who wants which of them by mail too, and the mail the relay sent."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from engine.store.base import Base, Document, Id


class Notification(Base):
    """One thing one person is told: written in the transaction of what caused it.

    `number` and `summary` repeat what the bell and the list show, so reading them
    joins nothing. Unread ones have no `read_at`.
    """

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_recipient_id", "recipient", "id"),
        # Old ones are pruned by age (`notifications.prune_notifications`).
        Index("ix_notifications_created_at", "created_at"),
        # The bell counts these: a partial index holds only what is still unread.
        Index(
            "ix_notifications_unread",
            "recipient",
            postgresql_where=text("read_at IS NULL"),
            sqlite_where=text("read_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    recipient: Mapped[str] = mapped_column(String(80))
    kind: Mapped[str] = mapped_column(String(40))
    instance_id: Mapped[int] = mapped_column(
        ForeignKey("instances.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[str] = mapped_column(String(24))
    task_id: Mapped[int | None] = mapped_column(Id)
    actor: Mapped[str | None] = mapped_column(String(80))
    summary: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime]
    read_at: Mapped[datetime | None]


class NotificationSettings(Base):
    """Which kinds of notification a person also wants by mail (none unless they say)."""

    __tablename__ = "notification_settings"

    username: Mapped[str] = mapped_column(String(80), primary_key=True)
    mail: Mapped[list[str]] = mapped_column(Document, default=list)


class SentMail(Base):
    """The mail an outbox entry made, as the relay last rendered it: for the admins' outbox."""

    __tablename__ = "sent_mail"

    outbox_id: Mapped[int] = mapped_column(
        Id, ForeignKey("outbox.id", ondelete="CASCADE"), primary_key=True
    )
    recipients: Mapped[list[str]] = mapped_column(Document)
    subject: Mapped[str] = mapped_column(String(998))
    text_body: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str] = mapped_column(Text)
    message_id: Mapped[str] = mapped_column(String(255))
    rendered_at: Mapped[datetime]
