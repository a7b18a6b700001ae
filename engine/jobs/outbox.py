"""The outbox relay: deliver the notifications and webhooks that commands wrote, after commit.

Each message is claimed in a short transaction (PostgreSQL: `FOR UPDATE SKIP LOCKED`;
SQLite: the `BEGIN IMMEDIATE` write lock serializes claims) by counting the attempt and
pushing `next_attempt_at` out by a lease, so no other relay takes it while it is delivered
outside any transaction. Afterwards a second short transaction marks it sent, schedules
the next attempt with backoff, or makes it a dead letter (`engine.jobs.dead_letters`).
Delivery comes before marking, so a crash in between sends again when the lease runs
out: receivers recognise the repeat by the outbox id (`Idempotency-Key` on webhooks,
`Message-ID` on mails). A message whose every attempt crashes the relay still counts
its attempts at the claim, and is buried once they are spent. See
docs/adr/0013-the-outbox-relay-delivers-at-least-once.md and 0028-dead-letters-on-the-instance.md.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, or_, select, update
from sqlalchemy.orm import Session

from engine.jobs import mail, messages, targets, webhooks
from engine.jobs.dead_letters import Letter, bury
from engine.jobs.errors import DeliveryError, PermanentFailure, TemporaryFailure
from engine.jobs.messages import Message
from engine.jobs.recipients import addresses, describe
from engine.logs import request_scope
from engine.settings import DEFAULT_BATCH, RelaySettings
from engine.store.database import Database
from engine.store.instances import Instance, Outbox, Task

log = logging.getLogger(__name__)

outbox = cast(Table, Outbox.__table__)

#: The outbox rows this relay carries out; other kinds (subflows) are someone else's.
KINDS = ("notify",)
#: Longest error text kept on a row.
MAX_ERROR_CHARS = 2000


@dataclass(frozen=True, slots=True)
class Claim:
    """An outbox row this relay holds for the length of its lease."""

    id: int
    instance_id: int | None
    payload: Any
    attempts: int
    created_at: datetime
    #: Its attempts were spent before this claim: the last one never reported back.
    exhausted: bool = False
    #: What the last attempt that reported back said.
    error: str | None = None
    #: The web request that wrote the message: the relay's log lines about it carry it.
    request_id: str | None = None

    @property
    def letter(self) -> Letter:
        return Letter(self.id, self.instance_id, self.attempts)


@dataclass(slots=True)
class RelayReport:
    """What one run of the relay did, by outbox id."""

    sent: list[int] = field(default_factory=list)
    retried: list[int] = field(default_factory=list)
    dead: list[int] = field(default_factory=list)
    #: The run stopped at its limit or its time budget, not for want of messages due.
    more: bool = False

    def to_dict(self) -> dict[str, list[int]]:
        return {"sent": self.sent, "retried": self.retried, "dead": self.dead}


def relay_outbox(
    database: Database,
    *,
    settings: RelaySettings,
    now: datetime,
    limit: int = DEFAULT_BATCH,
    budget_s: float | None = None,
    jitter: Callable[[], float] = random.random,
) -> RelayReport:
    """Deliver up to `limit` due messages of the outbox, one at a time; report what happened.

    With `budget_s`, no new delivery starts once that many seconds have passed.
    """
    report = RelayReport(more=True)
    stop_at = None if budget_s is None else time.monotonic() + budget_s
    with mail.MailServer(settings) as server:  # one connection for the run's mails
        for _ in range(limit):
            if stop_at is not None and time.monotonic() >= stop_at:
                break
            claim = claim_next(database, now, settings)
            if claim is None:
                report.more = False
                break
            with request_scope(claim.request_id):
                _carry_out(database, claim, server, now, jitter, report)
    return report


def _carry_out(
    database: Database,
    claim: Claim,
    server: mail.MailServer,
    now: datetime,
    jitter: Callable[[], float],
    report: RelayReport,
) -> None:
    settings = server.settings
    if claim.exhausted:
        before = f"; the one before: {claim.error}" if claim.error else ""
        reason = (
            f"gave up after {claim.attempts} attempts: the last one never finished "
            f"(the relay stopped while delivering it){before}"
        )
        _bury(database, claim, PermanentFailure(reason), now, report)
        return
    try:
        deliver(database, claim, server)
    except DeliveryError as error:
        _record_failure(database, claim, error, now, settings, jitter, report)
    except Exception as error:  # a bug must not stop the other messages
        log.exception("outbox %s: delivery crashed", claim.id)
        failure = TemporaryFailure(f"delivery crashed: {type(error).__name__}: {error}")
        _record_failure(database, claim, failure, now, settings, jitter, report)
    else:
        values = {"status": "sent", "sent_at": now, "next_attempt_at": None, "error": None}
        if _finish(database, claim, values):
            log.info("outbox %s: sent, attempt %s", claim.id, claim.attempts)
            report.sent.append(claim.id)


def claim_next(database: Database, now: datetime, settings: RelaySettings) -> Claim | None:
    """Take the oldest due message for this relay, or return None when none is due.

    The claim counts the attempt before anything is sent, so a message that kills the
    relay mid-delivery uses up its attempts too; one whose attempts are already spent is
    claimed `exhausted`, to be buried rather than tried again.
    """
    query = (
        select(
            outbox.c.id,
            outbox.c.instance_id,
            outbox.c.payload,
            outbox.c.attempts,
            outbox.c.created_at,
            outbox.c.error,
            outbox.c.request_id,
        )
        .where(
            outbox.c.status == "pending",
            outbox.c.kind.in_(KINDS),
            or_(outbox.c.next_attempt_at.is_(None), outbox.c.next_attempt_at <= now),
        )
        .order_by(outbox.c.id)
        .limit(1)
    )
    if not database.is_sqlite:
        query = query.with_for_update(skip_locked=True)
    with database.writer.begin() as connection:
        row = connection.execute(query).first()
        if row is None:
            return None
        exhausted = row.attempts >= settings.max_attempts
        attempts = row.attempts if exhausted else row.attempts + 1
        connection.execute(
            update(outbox)
            .where(outbox.c.id == row.id)
            .values(
                attempts=attempts,
                next_attempt_at=now + timedelta(seconds=settings.claim_lease_s),
            )
        )
    return Claim(
        row.id,
        row.instance_id,
        row.payload,
        attempts,
        row.created_at,
        exhausted,
        row.error,
        row.request_id,
    )


def deliver(database: Database, claim: Claim, server: mail.MailServer) -> None:
    """Send one claimed message (a mail through `server`); raise a `DeliveryError` if it did
    not go."""
    settings = server.settings
    message = messages.read(claim.payload)
    with database.reading() as session:
        instance = session.get(Instance, claim.instance_id) if claim.instance_id else None
        if instance is None:
            raise PermanentFailure("its instance no longer exists")
        tasks = _tasks(session, instance, message.tasks)
        if message.webhook is not None:
            document = webhook_document(claim, message, instance, tasks)
        else:
            assert message.template is not None  # `messages.read` saw to it
            context = mail_context(instance, message, tasks, settings)
            rendered = mail.render_mail(message.template, context)
            to = addresses(session, instance, message.to, message.tasks)
    # The session is closed before anything goes over the network.
    if message.webhook is not None:
        webhooks.post(message.webhook, document, claim.id, settings)
    else:
        composed = mail.compose(
            claim.id, to, rendered.subject, rendered.text, settings, rendered.html
        )
        mail.keep(database, claim.id, composed, datetime.now(UTC))  # for the admins' outbox
        mail.send(composed, server)


def backoff(
    attempts: int, settings: RelaySettings, jitter: Callable[[], float] = random.random
) -> float:
    """Seconds to wait after the `attempts`-th failure: doubling, capped, half of it random."""
    doubled = settings.backoff_base_s * float(2 ** min(attempts - 1, 32))
    ceiling = min(settings.backoff_max_s, doubled)
    return ceiling / 2 + ceiling / 2 * jitter()


def _record_failure(
    database: Database,
    claim: Claim,
    error: DeliveryError,
    now: datetime,
    settings: RelaySettings,
    jitter: Callable[[], float],
    report: RelayReport,
) -> None:
    text = str(error)
    if error.retry and claim.attempts < settings.max_attempts:
        delay = backoff(claim.attempts, settings, jitter)
        if error.retry_after is not None:
            delay = max(delay, min(error.retry_after, settings.backoff_max_s))
        values: dict[str, Any] = {
            "next_attempt_at": now + timedelta(seconds=delay),
            "error": text[:MAX_ERROR_CHARS],
        }
        log.warning("outbox %s: attempt %s failed, retrying: %s", claim.id, claim.attempts, text)
        if _finish(database, claim, values):
            report.retried.append(claim.id)
        return
    if error.retry:
        error = PermanentFailure(f"gave up after {claim.attempts} attempts: {text}")
    _bury(database, claim, error, now, report)


def _bury(
    database: Database, claim: Claim, error: DeliveryError, now: datetime, report: RelayReport
) -> None:
    log.error("outbox %s: a dead letter: %s", claim.id, error)
    channel, recipient, step = about(claim.payload)
    detail = {"channel": channel, "recipient": recipient}
    if bury(database, claim.letter, str(error), now, detail, step=step):
        report.dead.append(claim.id)


def about(payload: Any) -> tuple[str | None, str | None, str | None]:
    """Channel, recipient in words and step of a payload, as far as it can be read."""
    if not isinstance(payload, dict):
        return None, None, None
    step = payload.get("step") if isinstance(payload.get("step"), str) else None
    webhook = payload.get("webhook")
    if webhook is not None:
        try:
            return "webhook", targets.parse(webhook).origin, step
        except DeliveryError:
            return "webhook", None, step
    return "email", describe(payload.get("to")), step


def _finish(database: Database, claim: Claim, values: dict[str, Any]) -> bool:
    """Record the outcome, unless the lease ran out and another relay took the message."""
    with database.writer.begin() as connection:
        result = connection.execute(
            update(outbox)
            .where(
                outbox.c.id == claim.id,
                outbox.c.status == "pending",
                outbox.c.attempts == claim.attempts,
            )
            .values(**values)
        )
        return bool(result.rowcount == 1)


def _tasks(session: Session, instance: Instance, keys: Any) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(Task)
        .where(Task.instance_id == instance.id, Task.key.in_([str(k) for k in keys]))
        .order_by(Task.id)
    ).all()
    return [
        {
            "key": task.key,
            "id": task.id,
            "title": task.title,
            "step": task.step,
            "status": task.status,
            "assignee": task.assignee,
            "group": task.candidate_group,
            "due_at": task.due_at.isoformat() if task.due_at else None,
        }
        for task in rows
    ]


def _instance(instance: Instance) -> dict[str, Any]:
    return {
        "id": instance.id,
        "number": instance.number,
        "title": instance.title,
        "workflow": instance.workflow_key,
        "status": instance.status,
        "priority": instance.priority,
        "requester": instance.requester,
        "started_at": instance.started_at.isoformat(),
    }


def mail_context(
    instance: Instance,
    message: Message,
    tasks: list[dict[str, Any]],
    settings: RelaySettings,
) -> dict[str, Any]:
    """What a mail template sees: the fields by name, as in workflow templates, and more."""
    data = dict(instance.state.get("data") or {})
    return {
        **data,
        "data": data,
        "instance": _instance(instance),
        "step": message.step,
        "tasks": tasks,
        "base_url": settings.base_url,
        "link": message.link,
        "note": message.note or {},
    }


def webhook_document(
    claim: Claim, message: Message, instance: Instance, tasks: list[dict[str, Any]]
) -> dict[str, Any]:
    """The JSON body of a webhook: the instance as it is now, and the delivery's id."""
    return {
        "delivery": claim.id,
        "event": "notify",
        "step": message.step,
        "created_at": claim.created_at.isoformat(),
        "instance": _instance(instance),
        "data": instance.state.get("data") or {},
        "tasks": tasks,
    }
