"""Mail intake: the mailboxes that open incidents, and a record of every mail they received."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from engine.store.base import Base, Id

#: What became of a received mail: it opened an instance, became a comment on one, answered
#: the requester's question on one, was dropped (an auto-reply, a bounce, a loop, a flood)
#: or refused (no mailbox, not the sender's incident, data the workflow would not take).
OUTCOMES = ("opened", "commented", "answered", "dropped", "refused")
#: The outcomes of a mail that was taken: received again, it changes nothing.
TAKEN = ("opened", "commented", "answered")


class Mailbox(Base):
    """An address that opens instances of a workflow (for a service, named by its key).

    `fields` names the start form's fields a mail fills in (`subject`, `body`, `name`,
    `email`); `defaults` fills in the rest (a category, an impact).
    """

    __tablename__ = "mailboxes"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    address: Mapped[str] = mapped_column(String(254), unique=True)
    workflow_key: Mapped[str] = mapped_column(String(80))
    service_key: Mapped[str | None] = mapped_column(String(80))
    fields: Mapped[dict[str, Any]]
    defaults: Mapped[dict[str, Any]]
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]


class InboundMail(Base):
    """One mail received, what became of it and why: the intake's own audit trail."""

    __tablename__ = "inbound_mail"
    __table_args__ = (
        # "Seen too often in a minute" counts a sender's recent mails.
        Index("ix_inbound_mail_sender_received_at", "sender", "received_at"),
        # A mail received twice (an SMTP retry, an IMAP poll) is recognised by its id.
        Index("ix_inbound_mail_message_id", "message_id"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    mailbox_id: Mapped[int | None] = mapped_column(ForeignKey("mailboxes.id", ondelete="SET NULL"))
    message_id: Mapped[str] = mapped_column(String(255))
    sender: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(998))
    size: Mapped[int]
    source: Mapped[str] = mapped_column(String(20))
    outcome: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text)
    instance_id: Mapped[int | None] = mapped_column(
        ForeignKey("instances.id", ondelete="SET NULL"), index=True
    )
    received_at: Mapped[datetime]
