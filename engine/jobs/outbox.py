"""The outbox relay: deliver the notifications and webhooks that commands wrote, after commit.

Each message is claimed in a short transaction (PostgreSQL: `FOR UPDATE SKIP LOCKED`;
SQLite: the `BEGIN IMMEDIATE` write lock serializes claims) by counting the attempt and
pushing `next_attempt_at` out by a lease, so no other relay takes it while it is delivered
outside any transaction. Afterwards a second short transaction marks it sent, schedules
the next attempt with backoff, or marks it failed. Delivery comes before marking, so a
crash in between sends again when the lease runs out: receivers recognise the repeat by
the outbox id (`Idempotency-Key` on webhooks, `Message-ID` on mails). See docs/decisions.md.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, or_, select, update
from sqlalchemy.orm import Session

from engine.jobs import mail, webhooks
from engine.jobs.errors import DeliveryError, PermanentFailure, TemporaryFailure
from engine.jobs.recipients import addresses
from engine.jobs.settings import DEFAULT_BATCH, RelaySettings
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
    payload: dict[str, Any]
    attempts: int
    created_at: datetime


@dataclass(slots=True)
class RelayReport:
    """What one run of the relay did, by outbox id."""

    sent: list[int] = field(default_factory=list)
    retried: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, list[int]]:
        return {"sent": self.sent, "retried": self.retried, "failed": self.failed}


def relay_outbox(
    database: Database,
    *,
    settings: RelaySettings,
    now: datetime,
    limit: int = DEFAULT_BATCH,
    jitter: Callable[[], float] = random.random,
) -> RelayReport:
    """Deliver up to `limit` due messages of the outbox, one at a time; report what happened."""
    report = RelayReport()
    for _ in range(limit):
        claim = claim_next(database, now, settings)
        if claim is None:
            break
        try:
            deliver(database, claim, settings)
        except DeliveryError as error:
            _record_failure(database, claim, error, now, settings, jitter, report)
        except Exception as error:  # a bug must not stop the other messages
            log.exception("outbox %s: delivery crashed", claim.id)
            failure = TemporaryFailure(f"delivery crashed: {type(error).__name__}: {error}")
            _record_failure(database, claim, failure, now, settings, jitter, report)
        else:
            values = {"status": "sent", "sent_at": now, "next_attempt_at": None, "error": None}
            if _finish(database, claim, values):
                report.sent.append(claim.id)
    return report


def claim_next(database: Database, now: datetime, settings: RelaySettings) -> Claim | None:
    """Take the oldest due message for this relay, or return None when none is due."""
    query = (
        select(
            outbox.c.id,
            outbox.c.instance_id,
            outbox.c.payload,
            outbox.c.attempts,
            outbox.c.created_at,
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
        attempts = row.attempts + 1
        connection.execute(
            update(outbox)
            .where(outbox.c.id == row.id)
            .values(
                attempts=attempts,
                next_attempt_at=now + timedelta(seconds=settings.claim_lease_s),
            )
        )
    return Claim(row.id, row.instance_id, dict(row.payload), attempts, row.created_at)


def deliver(database: Database, claim: Claim, settings: RelaySettings) -> None:
    """Send one claimed message; raise a `DeliveryError` if it did not go."""
    payload = claim.payload
    with database.reading() as session:
        instance = session.get(Instance, claim.instance_id) if claim.instance_id else None
        if instance is None:
            raise PermanentFailure(f"outbox {claim.id}: its instance no longer exists")
        tasks = _tasks(session, instance, payload.get("tasks") or ())
        if payload.get("webhook"):
            document = webhook_document(claim, instance, tasks)
        else:
            template = payload.get("template")
            if not template:
                raise PermanentFailure(f"outbox {claim.id}: a mail without a template")
            subject, body = mail.render(template, mail_context(instance, payload, tasks, settings))
            to = addresses(session, instance, payload.get("to"), payload.get("tasks") or ())
    # The session is closed before anything goes over the network.
    if payload.get("webhook"):
        webhooks.post(str(payload["webhook"]), document, claim.id, settings)
    else:
        mail.send(mail.compose(claim.id, to, subject, body, settings), settings)


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
        text = f"gave up after {claim.attempts} attempts: {text}"
    log.error("outbox %s: failed: %s", claim.id, text)
    values = {"status": "failed", "next_attempt_at": None, "error": text[:MAX_ERROR_CHARS]}
    if _finish(database, claim, values):
        report.failed.append(claim.id)


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
    payload: dict[str, Any],
    tasks: list[dict[str, Any]],
    settings: RelaySettings,
) -> dict[str, Any]:
    """What a mail template sees: the fields by name, as in workflow templates, and more."""
    data = dict(instance.state.get("data") or {})
    return {
        **data,
        "data": data,
        "instance": _instance(instance),
        "step": payload.get("step"),
        "tasks": tasks,
        "base_url": settings.base_url,
        "link": payload.get("link"),
    }


def webhook_document(
    claim: Claim, instance: Instance, tasks: list[dict[str, Any]]
) -> dict[str, Any]:
    """The JSON body of a webhook: the instance as it is now, and the delivery's id."""
    return {
        "delivery": claim.id,
        "event": "notify",
        "step": claim.payload.get("step"),
        "created_at": claim.created_at.isoformat(),
        "instance": _instance(instance),
        "data": instance.state.get("data") or {},
        "tasks": tasks,
    }
