"""Dead letters: messages that can never be delivered, kept with their reason, shown on instances.

A message the relay gives up on (no address, an unknown template, a webhook refused or
answering 4xx, a payload it cannot read, too many failed attempts) becomes a dead
letter: its outbox row gets status `failed` and the reason, and its instance's timeline a
`delivery_failed` event saying why, in one short transaction. The event is appended the
way every command appends one, under the instance's lock (`SELECT ... FOR UPDATE` on
PostgreSQL, the write lock on SQLite), so the timeline's numbering stays gap-free under
concurrent commands. Nothing talks to the network while that lock is held. A dead
letter is never tried again: the relay only takes `pending` rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, update

from engine.service.apply import record_events
from engine.service.commands import Commands
from engine.store.database import Database
from engine.store.instances import Outbox
from engine.store.uow import UnitOfWork

outbox = cast(Table, Outbox.__table__)

#: The status of a dead letter: the same for every kind of outbox row (see
#: `engine.service.subflows`), so one query finds them all.
DEAD = "failed"
#: The timeline event of a dead letter.
EVENT = "delivery_failed"
#: Longest reason kept on a row and an event.
MAX_REASON_CHARS = 2000


@dataclass(frozen=True, slots=True)
class Letter:
    """The outbox row to bury: its id, instance, and the attempt count that marks it as ours."""

    id: int
    instance_id: int | None
    attempts: int


def bury(
    database: Database,
    letter: Letter,
    reason: str,
    at: datetime,
    detail: dict[str, Any],
    *,
    step: str | None = None,
) -> bool:
    """Mark `letter` dead with `reason` and tell its instance; False if it was no longer ours.

    Only a row still pending with the same attempt count is marked (another relay whose
    lease it was may have finished it meanwhile); only a row marked here gets an event,
    so an instance hears of each dead letter once.
    """
    reason = reason[:MAX_REASON_CHARS]

    def body(uow: UnitOfWork, now: datetime) -> dict[str, Any]:
        repo = uow.repository
        # The instance first, as every command takes it: the same order, no deadlock.
        instance = repo.lock_instance(letter.instance_id) if letter.instance_id else None
        marked = uow.connection.execute(
            update(outbox)
            .where(
                outbox.c.id == letter.id,
                outbox.c.status == "pending",
                outbox.c.attempts == letter.attempts,
            )
            .values(status=DEAD, next_attempt_at=None, error=reason)
        )
        if marked.rowcount != 1:
            return {"buried": False}
        if instance is not None:
            entry = {
                "kind": EVENT,
                "at": now,
                "step": step,
                "why": reason,
                "detail": {"outbox": letter.id, **detail, "attempts": letter.attempts},
            }
            record_events(repo, instance, [entry], None, now)
        return {"buried": True}

    shell = Commands(database, clock=_fixed(at))
    return bool(shell.execute(EVENT, None, body)["buried"])


def _fixed(at: datetime) -> Callable[[], datetime]:
    return lambda: at
