"""The admins' view of the outbox: every mail and webhook the workflows sent, or failed to.

Each row says what it was, to whom, when it was written and sent, its status, attempts
and last failure; a mail also shows its subject and both bodies as the relay rendered
them (`sent_mail`, kept by `engine.jobs.mail.keep`). Admins only: the bodies hold what
requesters wrote.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from engine.service.errors import InvalidInput, NotAllowed, NotFound
from engine.store.instances import Instance, Outbox
from engine.store.notifications import SentMail
from engine.store.people import User

if TYPE_CHECKING:
    from engine.service.shell import Shell

#: The outbox rows that carry a message (others, such as subflows, are the engine's own).
MESSAGE_KINDS = ("notify",)
#: The states a message can be in, as the filter offers them.
STATUSES = ("pending", "sent", "failed")
#: The most rows one page shows.
MAX_PAGE = 100


@dataclass(frozen=True, slots=True)
class Entry:
    """One message of the outbox, as the list shows it."""

    id: int
    number: str | None
    channel: str
    to: str
    subject: str
    status: str
    attempts: int
    created_at: datetime
    sent_at: datetime | None
    error: str | None


@dataclass(frozen=True, slots=True)
class Detail:
    """One message with its bodies (a mail not rendered yet has none)."""

    entry: Entry
    text_body: str | None
    html_body: str | None
    message_id: str | None
    template: str | None


class OutboxLog:
    """What the outbox sent: one read per call, for admins only."""

    def __init__(self, shell: Shell) -> None:
        self.shell = shell

    def entries(
        self, actor: str, *, status: str | None = None, limit: int = 50, offset: int = 0
    ) -> tuple[list[Entry], int]:
        """Return a page of messages, newest first, and how many there are."""
        if status is not None and status not in STATUSES:
            raise InvalidInput(f"there is no status '{status}'; choose {', '.join(STATUSES)}")
        limit = max(1, min(limit, MAX_PAGE))

        def body(session: Session) -> tuple[list[Entry], int]:
            _require_admin(session, actor)
            where: list[ColumnElement[bool]] = [Outbox.kind.in_(MESSAGE_KINDS)]
            if status is not None:
                where.append(Outbox.status == status)
            rows = session.execute(
                _query().where(*where).order_by(Outbox.id.desc()).limit(limit).offset(offset)
            ).all()
            total = session.scalar(select(func.count()).select_from(Outbox).where(*where))
            return [_entry(row) for row in rows], int(total or 0)

        return self.shell.read(body)

    def entry(self, actor: str, outbox_id: int) -> Detail:
        """Return one message with its bodies."""

        def body(session: Session) -> Detail:
            _require_admin(session, actor)
            row = session.execute(
                _query().where(Outbox.id == outbox_id, Outbox.kind.in_(MESSAGE_KINDS))
            ).first()
            if row is None:
                raise NotFound(f"there is no message {outbox_id} in the outbox")
            template = row.payload.get("template") if isinstance(row.payload, dict) else None
            return Detail(
                _entry(row),
                row.text_body,
                row.html_body,
                row.message_id,
                template if isinstance(template, str) else None,
            )

        return self.shell.read(body)


def _require_admin(session: Session, actor: str) -> None:
    roles = session.scalar(select(User.roles).where(User.username == actor, User.active))
    if "admin" not in (roles or ()):
        raise NotAllowed("only an admin may read the outbox")


def _query() -> Any:
    return (
        select(
            Outbox.id,
            Instance.number,
            Outbox.payload,
            Outbox.status,
            Outbox.attempts,
            Outbox.created_at,
            Outbox.sent_at,
            Outbox.error,
            SentMail.recipients,
            SentMail.subject,
            SentMail.text_body,
            SentMail.html_body,
            SentMail.message_id,
        )
        .outerjoin(Instance, Instance.id == Outbox.instance_id)
        .outerjoin(SentMail, SentMail.outbox_id == Outbox.id)
    )


def _entry(row: Any) -> Entry:
    payload = row.payload if isinstance(row.payload, dict) else {}
    webhook = payload.get("webhook")
    if isinstance(webhook, str):
        channel, to, subject = "webhook", webhook, ""
    else:
        channel = "email"
        to = ", ".join(row.recipients) if row.recipients else _named(payload.get("to"))
        subject = row.subject or f"(not rendered yet: {payload.get('template') or 'no template'})"
    return Entry(
        row.id,
        row.number,
        channel,
        to,
        subject,
        row.status,
        row.attempts,
        row.created_at,
        row.sent_at,
        row.error,
    )


def _named(to: Any) -> str:
    """Who a mail not rendered yet is for, in words."""
    if isinstance(to, str):
        return f"the {to}"
    if isinstance(to, dict):
        for key in ("user", "email", "group", "on_call", "manager_of"):
            if to.get(key):
                return f"{key.replace('_', ' ')} {to[key]}"
        if to.get("requester"):
            return "the requester"
    return "?"
