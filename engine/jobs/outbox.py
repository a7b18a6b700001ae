"""The outbox relay: deliver the notifications and webhooks that commands wrote, after commit.

Messages are claimed a few at a time (`CLAIM_BATCH`) in a short transaction (PostgreSQL:
`FOR UPDATE SKIP LOCKED`; SQLite: the `BEGIN IMMEDIATE` write lock serializes claims) by
pushing their `next_attempt_at` out by a lease, so no other relay takes them while they are
delivered, one by one, outside any transaction. Each one's attempt is counted just before it
is delivered: the first in the claim's transaction, the next in the transaction that records
the outcome of the one before, which marks it sent (keeping the mail as rendered), schedules
the next attempt with backoff, or makes it a dead letter (`engine.jobs.dead_letters`). A
relay that dies has counted an attempt for the message it was delivering only. Claims a run
did not get to (its time budget spent, half its lease gone, timers waiting) are given back
as they were, due at once.
Delivery comes before marking, so a crash in between sends again when the lease runs
out: receivers recognise the repeat by the outbox id (`Idempotency-Key` on webhooks,
`Message-ID` on mails). A message whose every attempt crashes the relay still counts
its attempts, before each, and is buried once they are spent. See
docs/adr/0013-the-outbox-relay-delivers-at-least-once.md, 0028-dead-letters-on-the-instance.md,
0060-the-relay-claims-a-few-messages-at-a-time.md and 0061-due-timers-go-before-the-outbox.md.
"""

from __future__ import annotations

import logging
import random
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any, cast

from sqlalchemy import Connection, Table, bindparam, or_, select, update
from sqlalchemy.orm import Session

from engine.core.definition import DEFAULT_TEAM
from engine.jobs import mail, messages, targets, webhooks
from engine.jobs.dead_letters import Letter, bury
from engine.jobs.errors import DeliveryError, PermanentFailure, TemporaryFailure
from engine.jobs.messages import Message
from engine.jobs.recipients import addresses, describe
from engine.logs import request_scope
from engine.settings import DEFAULT_BATCH, RelaySettings
from engine.store.database import Database
from engine.store.definitions import DefinitionVersion
from engine.store.instances import Instance, Outbox, Task

log = logging.getLogger(__name__)

outbox = cast(Table, Outbox.__table__)

#: The outbox rows this relay carries out; other kinds (subflows) are someone else's.
KINDS = ("notify",)
#: Longest error text kept on a row.
MAX_ERROR_CHARS = 2000
#: Messages one claim takes at most. A claim is a committed transaction: one a message cost
#: as much as the rest of a mail's handling in the database (bench/timers.py's scale-out).
#: Kept small, so that relays running side by side share a backlog evenly and a relay that
#: dies holds few messages until their lease runs out.
CLAIM_BATCH = 10


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
    #: The end of this relay's lease on it: the row's `next_attempt_at` while it holds it.
    lease_until: datetime | None = None
    #: Its attempt is counted (`attempts` is this one's number); if not, `attempts` is the
    #: count as claimed, and the attempt is counted just before it is delivered.
    counted: bool = True

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
    yield_to: Callable[[], bool] | None = None,
) -> RelayReport:
    """Deliver up to `limit` due messages of the outbox, one at a time; report what happened.

    With `budget_s`, no new delivery starts once that many seconds have passed. With
    `yield_to`, asked after each delivery, the run stops (`more`) as soon as it says that
    other work is waiting (timers due, for the worker); asked before the first claim, it
    makes that claim one message.
    """
    report = RelayReport(more=True)
    started = time.monotonic()
    stop_at = None if budget_s is None else started + budget_s
    # Every claim of the run leases until `now` + the lease: past half of it from the start,
    # a delivery could outlive the lease, and another relay would send the message too.
    lease_half = started + settings.claim_lease_s / 2
    batch = _Batch(settings)
    taken = 0
    try:
        with mail.MailServer(settings) as server:  # one connection for the run's mails
            while True:
                moment = time.monotonic()
                if (stop_at is not None and moment >= stop_at) or moment >= lease_half:
                    break
                if not batch:
                    if taken >= limit:
                        break
                    size = min(CLAIM_BATCH, limit - taken)
                    if taken == 0 and yield_to is not None and yield_to():
                        size = 1  # timers waiting already: one message, so the run moves on
                    batch.extend(claim(database, now, settings, size))
                    if not batch:
                        report.more = False
                        break
                current = batch.take(database)
                if current is None:
                    continue  # no longer this relay's
                taken += 1
                with request_scope(current.request_id):
                    _carry_out(database, current, server, now, jitter, report, batch.count_next)
                if yield_to is not None and yield_to():
                    break
    finally:
        if batch:
            give_back(database, list(batch.claims), now)
    return report


class _Batch:
    """The claims a run holds, oldest first, the attempt of each counted just before it is
    delivered: in the transaction that recorded the outcome of the one before
    (`count_next`), else in one of its own (`take`)."""

    def __init__(self, settings: RelaySettings) -> None:
        self.settings = settings
        self.claims: deque[Claim] = deque()

    def __bool__(self) -> bool:
        return bool(self.claims)

    def extend(self, claims: list[Claim]) -> None:
        self.claims.extend(claims)

    def take(self, database: Database) -> Claim | None:
        """The next claim, its attempt counted; None if it is no longer this relay's."""
        held = self.claims.popleft()
        if held.counted:
            return held
        with database.writer.begin() as connection:
            return _count(connection, held, self.settings)

    def count_next(self, connection: Connection) -> None:
        """Count the next claim's attempt in the transaction of `connection`.

        Should that transaction fail to commit, the claim is taken as counted while its row
        is not: it is then neither delivered (the run stops with the error) nor given back
        (the row no longer matches), and is due again when its lease runs out.
        """
        if self.claims and not self.claims[0].counted:
            counted = _count(connection, self.claims[0], self.settings)
            if counted is None:
                self.claims.popleft()
            else:
                self.claims[0] = counted


def _carry_out(
    database: Database,
    claim: Claim,
    server: mail.MailServer,
    now: datetime,
    jitter: Callable[[], float],
    report: RelayReport,
    also: Callable[[Connection], None] | None = None,
) -> None:
    """Deliver a counted claim and record how it went; `also` runs in that transaction."""
    settings = server.settings
    if claim.exhausted:
        before = f"; the one before: {claim.error}" if claim.error else ""
        reason = (
            f"gave up after {claim.attempts} attempts: the last one never finished "
            f"(the relay stopped while delivering it){before}"
        )
        _bury(database, claim, PermanentFailure(reason), now, report)
        return
    delivery: Delivery | None = None
    try:
        delivery = prepare(database, claim, settings)
        delivery.send(server)
    except DeliveryError as error:
        kept = delivery.composed if delivery else None
        _record_failure(database, claim, error, now, settings, jitter, report, kept, also)
    except Exception as error:  # a bug must not stop the other messages
        log.exception("outbox %s: delivery crashed", claim.id)
        failure = TemporaryFailure(f"delivery crashed: {type(error).__name__}: {error}")
        kept = delivery.composed if delivery else None
        _record_failure(database, claim, failure, now, settings, jitter, report, kept, also)
    else:
        values = {"status": "sent", "sent_at": now, "next_attempt_at": None, "error": None}
        if _finish(database, claim, values, delivery.composed, also):
            log.info("outbox %s: sent, attempt %s", claim.id, claim.attempts)
            report.sent.append(claim.id)


def claim(database: Database, now: datetime, settings: RelaySettings, size: int) -> list[Claim]:
    """Take up to `size` of the oldest due messages for this relay, oldest first.

    Each is leased; the first one's attempt is counted at once, the others' just before
    each is delivered (`claims[i].counted`). Counting before anything is sent means that a
    message that kills the relay mid-delivery uses up its attempts too; one whose attempts
    are already spent is counted `exhausted`, to be buried rather than tried again.
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
        .limit(size)
    )
    if not database.is_sqlite:
        query = query.with_for_update(skip_locked=True)
    lease_until = now + timedelta(seconds=settings.claim_lease_s)
    with database.writer.begin() as connection:
        rows = connection.execute(query).all()
        if not rows:
            return []
        connection.execute(
            update(outbox)
            .where(outbox.c.id.in_([row.id for row in rows]))
            .values(next_attempt_at=lease_until)
        )
        claims = [
            Claim(
                row.id,
                row.instance_id,
                row.payload,
                row.attempts,
                row.created_at,
                error=row.error,
                request_id=row.request_id,
                lease_until=lease_until,
                counted=False,
            )
            for row in rows
        ]
        first = _count(connection, claims[0], settings)
        assert first is not None  # leased in this very transaction
    return [first, *claims[1:]]


def _count(connection: Connection, held: Claim, settings: RelaySettings) -> Claim | None:
    """Count the attempt of a claim about to be delivered; None if the row is no longer
    this relay's (its lease ran out and another relay leased it since)."""
    exhausted = held.attempts >= settings.max_attempts
    attempts = held.attempts if exhausted else held.attempts + 1
    result = connection.execute(
        update(outbox)
        .where(
            outbox.c.id == held.id,
            outbox.c.status == "pending",
            outbox.c.attempts == held.attempts,
            outbox.c.next_attempt_at == held.lease_until,
        )
        .values(attempts=attempts)
    )
    if result.rowcount != 1:
        return None
    return replace(held, attempts=attempts, exhausted=exhausted, counted=True)


def claim_next(database: Database, now: datetime, settings: RelaySettings) -> Claim | None:
    """Take the oldest due message for this relay, its attempt counted, or return None when
    none is due."""
    claims = claim(database, now, settings, 1)
    return claims[0] if claims else None


def give_back(database: Database, claims: list[Claim], now: datetime) -> None:
    """Give back claims not carried out: due at once, an attempt counted for one uncounted.

    Only rows still held by these claims (pending, the same attempt count, this relay's
    lease) are touched. If the database cannot be reached, the claims come back when their
    lease runs out.
    """
    rows = [
        {
            "row": c.id,
            "held": c.attempts,
            "lease": c.lease_until,
            "before": c.attempts - (1 if c.counted and not c.exhausted else 0),
        }
        for c in claims
    ]
    statement = (
        update(outbox)
        .where(
            outbox.c.id == bindparam("row"),
            outbox.c.status == "pending",
            outbox.c.attempts == bindparam("held"),
            outbox.c.next_attempt_at == bindparam("lease"),
        )
        .values(attempts=bindparam("before"), next_attempt_at=now)
    )
    try:
        with database.writer.begin() as connection:
            connection.execute(statement, rows)
    except Exception:
        log.warning(
            "outbox: %s claimed message(s) not given back; they are due again when their "
            "lease runs out",
            len(claims),
            exc_info=True,
        )


@dataclass(frozen=True, slots=True)
class Delivery:
    """A claimed message made ready to go: a mail (kept as rendered), or a webhook's post."""

    claim: Claim
    composed: EmailMessage | None = None
    webhook: Any = None
    document: dict[str, Any] | None = None

    def send(self, server: mail.MailServer) -> None:
        """Send it; raise a `DeliveryError` if it did not go."""
        if self.composed is not None:
            mail.send(self.composed, server)
        else:
            assert self.document is not None
            webhooks.post(self.webhook, self.document, self.claim.id, server.settings)


def prepare(database: Database, claim: Claim, settings: RelaySettings) -> Delivery:
    """Render a claimed message as it goes now; raise a `DeliveryError` if it cannot go."""
    message = messages.read(claim.payload)
    with database.reading() as session:
        instance = session.get(Instance, claim.instance_id) if claim.instance_id else None
        if instance is None:
            raise PermanentFailure("its instance no longer exists")
        tasks = _tasks(session, instance, message.tasks)
        if message.webhook is not None:
            document = webhook_document(claim, message, instance, tasks)
            return Delivery(claim, webhook=message.webhook, document=document)
        assert message.template is not None  # `messages.read` saw to it
        words = version_words(session, instance)
        context = mail_context(instance, message, tasks, settings, words.team)
        own = words.messages.get(message.template)
        if own is None:
            rendered = mail.render_mail(message.template, context)
        else:
            rendered = mail.render_own(message.template, own, context)
        to = addresses(session, instance, message.to, message.tasks)
    composed = mail.compose(claim.id, to, rendered.subject, rendered.text, settings, rendered.html)
    return Delivery(claim, composed=composed)


@dataclass(frozen=True, slots=True)
class Words:
    """What a mail takes from the workflow version its instance runs: its own messages, and
    who works its requests (`team`)."""

    messages: Mapping[str, Any]
    team: str


#: The `Words` of published versions by their content hash: a version's content never
#: changes, and the hash names the content whatever database or restore it came from. A mail
#: read the whole workflow document; now it reads the hash. Bounded: a worker sends for the
#: few versions that have open instances.
_WORDS: OrderedDict[str, Words] = OrderedDict()
WORDS_KEPT = 64


def version_words(session: Session, instance: Instance) -> Words:
    """The messages and the team of the workflow version `instance` runs."""
    version = DefinitionVersion.id == instance.workflow_version_id
    digest = session.scalar(select(DefinitionVersion.content_hash).where(version))
    if digest is None:
        return Words({}, DEFAULT_TEAM)
    found = _WORDS.get(digest)
    if found is not None:
        _WORDS.move_to_end(digest)
        return found
    content = session.scalar(select(DefinitionVersion.content).where(version))
    content = content if isinstance(content, dict) else {}
    messages = content.get("messages")
    found = Words(
        messages if isinstance(messages, dict) else {}, content.get("team") or DEFAULT_TEAM
    )
    _WORDS[digest] = found
    while len(_WORDS) > WORDS_KEPT:
        _WORDS.popitem(last=False)
    return found


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
    kept: EmailMessage | None = None,
    also: Callable[[Connection], None] | None = None,
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
        if _finish(database, claim, values, kept, also):
            report.retried.append(claim.id)
        return
    if error.retry:
        error = PermanentFailure(f"gave up after {claim.attempts} attempts: {text}")
    _bury(database, claim, error, now, report, kept)


def _bury(
    database: Database,
    claim: Claim,
    error: DeliveryError,
    now: datetime,
    report: RelayReport,
    kept: EmailMessage | None = None,
) -> None:
    log.error("outbox %s: a dead letter: %s", claim.id, error)
    channel, recipient, step = about(claim.payload)
    detail = {"channel": channel, "recipient": recipient}
    if bury(database, claim.letter, str(error), now, detail, step=step):
        report.dead.append(claim.id)
        if kept is not None:  # what failed, for the admins' outbox page
            with database.writer.begin() as connection:
                mail.keep(connection, claim.id, kept, datetime.now(UTC))


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


def _finish(
    database: Database,
    claim: Claim,
    values: dict[str, Any],
    kept: EmailMessage | None,
    also: Callable[[Connection], None] | None = None,
) -> bool:
    """Record the outcome, and keep the mail as rendered for the admins' outbox, unless the
    lease ran out and another relay took the message; `also` runs in the same transaction."""
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
        ours = result.rowcount == 1
        if ours and kept is not None:
            mail.keep(connection, claim.id, kept, datetime.now(UTC))
        if also is not None:
            also(connection)
        return ours


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


def _instance(instance: Instance, team: str = DEFAULT_TEAM) -> dict[str, Any]:
    return {
        "id": instance.id,
        "number": instance.number,
        "title": instance.title,
        "workflow": instance.workflow_key,
        "status": instance.status,
        "priority": instance.priority,
        "requester": instance.requester,
        "started_at": instance.started_at.isoformat(),
        "team": team,
    }


def mail_context(
    instance: Instance,
    message: Message,
    tasks: list[dict[str, Any]],
    settings: RelaySettings,
    team: str = DEFAULT_TEAM,
) -> dict[str, Any]:
    """What a mail template sees: the fields by name, as in workflow templates, and more."""
    data = dict(instance.state.get("data") or {})
    return {
        **data,
        "data": data,
        "instance": _instance(instance, team),
        "step": message.step,
        "tasks": tasks,
        "base_url": settings.base_url,
        "link": message.link,
        "note": message.note or {},
        "told": message.told,
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
