"""The transaction shell every use case runs in: one unit of work, bounded retries, keys.

A use case is a body run inside `Shell.execute`: one transaction, committed only if
the body returns, tried again only when a retry can fix what went wrong, a bounded
number of times; with an idempotency key it runs once, and a repeat returns the
first answer and changes nothing. A key sent again with a different request (another
kind of command, another target, other values) is refused, saying so, with nothing done.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

import orjson
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from engine.core.values import value_problems
from engine.service.errors import (
    Busy,
    Conflict,
    InvalidInput,
    KeyReused,
    ServiceError,
    TooLarge,
    Unavailable,
)
from engine.store.database import Database
from engine.store.uow import CommitInDoubt, Retry, UnitOfWork, is_lock_timeout, retry_reason

Clock = Callable[[], datetime]
Result = dict[str, Any]
T = TypeVar("T")

#: What a key sent again with another request is told (an API client, a person at the CLI).
REUSED = "this idempotency key was already used for a different request"
NEW_KEY = "nothing was changed: a new request needs a new key"


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Limits:
    """Stated limits on what a command accepts, and on how hard it tries."""

    #: Largest instance data document, as compact JSON, in bytes.
    max_data_bytes: int = 256 * 1024
    #: Longest comment, in characters.
    max_comment_chars: int = 20_000
    #: Longest reason (for cancelling, reassigning), in characters.
    max_reason_chars: int = 2_000
    #: Tries of one command while writers contend for a lock (or PostgreSQL gives up on a
    #: serialization or a deadlock): such a transaction usually gets through on a later try.
    retries: int = 12
    #: Tries after losing a race to insert the same key: one more sees the winner's row, so
    #: a second failure is a real conflict, not a race.
    race_retries: int = 2
    #: Tries after the database dropped the connection (a restart, a failover).
    reconnects: int = 3


class Shell:
    """Transactions over one database; `clock` is the only place time is read."""

    def __init__(
        self, database: Database, *, clock: Clock = utcnow, limits: Limits | None = None
    ) -> None:
        self.database = database
        self.clock = clock
        self.limits = limits or Limits()

    def execute(
        self,
        kind: str,
        key: str | None,
        body: Callable[[UnitOfWork, datetime], T],
        *,
        request: Sequence[Any] | None = None,
        repeatable: bool = False,
    ) -> T:
        """Run `body` as one transaction, retried on conflict, at most once per `key`.

        `request` is what the command was asked (target and values, JSON-like): kept
        with the key as a fingerprint, so the key sent again with another request is
        refused (`KeyReused`) instead of answering the first one's answer.

        Only what a retry can fix is retried, a bounded number of times (see `Limits`):
        a lost race to insert the same key, lock contention, a dropped connection. Any
        other error, and a `ServiceError` the body raises, ends the command at once with
        nothing changed. A connection lost during the COMMIT may have saved it: only a
        keyed command (the retry finds its first answer) or a `repeatable` body (one that
        sees its own work done and does nothing) is tried again; any other is
        `Unavailable`, saved or not.
        """
        tries = {Retry.RACE: 0, Retry.CONTENTION: 0, Retry.DISCONNECTED: 0}
        budget = {
            Retry.RACE: self.limits.race_retries,
            Retry.CONTENTION: self.limits.retries,
            Retry.DISCONNECTED: self.limits.reconnects,
        }
        in_doubt = False
        asked = fingerprint(kind, request) if key is not None and request is not None else None
        while True:
            try:
                return self._attempt(kind, key, asked, body)
            except CommitInDoubt as doubt:
                in_doubt = True
                if key is None and not repeatable:
                    raise saved_or_not(kind) from None
                error, reason = doubt.error, Retry.DISCONNECTED
            except DBAPIError as failure:
                error, found = failure, retry_reason(failure)
                if found is None:
                    raise
                reason = found
            tries[reason] += 1
            if tries[reason] >= budget[reason]:
                raise (saved_or_not(kind) if in_doubt else gave_up(kind, reason, error)) from None
            attempt = sum(tries.values())
            time.sleep(min(0.5, 0.005 * 2**attempt) * random.random())

    def _attempt(
        self,
        kind: str,
        key: str | None,
        asked: str | None,
        body: Callable[[UnitOfWork, datetime], T],
    ) -> T:
        with UnitOfWork(self.database) as uow:
            done = _done(uow, kind, key, asked)
            if done is not None:
                return cast(T, done)  # a keyed command's first answer, kept as it was
            at = self.clock()
            try:
                result = body(uow, at)
            except ServiceError:
                # On PostgreSQL the look-up above ran before the instance lock: a
                # repeat of this command may have finished while we waited for it.
                done = _done(uow, kind, key, asked)
                if done is None:
                    raise
                return cast(T, done)
            if key is not None:
                answer = cast(Result, result)  # keyed commands answer with a JSON object
                uow.repository.add_command(key, kind, answer.get("instance_id"), answer, at, asked)
            uow.commit()
            return result

    def write(self, kind: str, body: Callable[[Session, datetime], T]) -> T:
        """Run `body` with an ORM session as one transaction (people, definitions, drafts).

        The same shell as the instance commands: one unit of work, committed only if
        `body` returns, retried only on what a retry can fix.
        """
        return self.execute(kind, None, lambda uow, at: body(uow.session, at))

    def read(self, body: Callable[[Session], T]) -> T:
        """Run `body` with a reading session; what it returns outlives the session."""
        with self.database.reading() as session:
            return body(session)

    def check_data(self, data: Any, what: str = "the data") -> None:
        """Refuse data that is no plain JSON object, is over the size limit, or holds
        what no database keeps faithfully (NaN, control characters, deep nesting)."""
        if not isinstance(data, dict):
            raise InvalidInput(f"{what} must be a JSON object")
        problems = value_problems(data)
        if problems:
            raise InvalidInput(f"{what} cannot be kept: {problems[0]}", problems)
        try:
            size = len(orjson.dumps(data))
        except TypeError as error:
            raise InvalidInput(f"{what} is not plain JSON: {error}") from None
        if size > self.limits.max_data_bytes:
            raise TooLarge(
                f"{what} is {size / 1024:.0f} KB; the limit is "
                f"{self.limits.max_data_bytes // 1024} KB"
            )

    def check_text(self, text: str, what: str, limit: int) -> str:
        """Return a text stripped, or refuse it empty, too long or holding control characters."""
        text = text.strip()
        if not text:
            raise InvalidInput(f"{what} cannot be empty")
        if len(text) > limit:
            raise TooLarge(f"{what} is {len(text)} characters; the limit is {limit}")
        problems = value_problems(text)
        if problems:
            raise InvalidInput(f"{what}: {problems[0].message}")
        return text


def gave_up(kind: str, reason: Retry, error: DBAPIError) -> ServiceError:
    """Say, after the last try, why a command could not be saved; nothing was changed."""
    if reason is Retry.DISCONNECTED:
        return Unavailable(f"the {kind} could not be saved: the database cannot be reached")
    if reason is Retry.CONTENTION and is_lock_timeout(error):
        return Busy(f"the {kind} could not be saved: the database stayed busy; try again")
    if reason is Retry.CONTENTION:
        return Conflict(
            f"the {kind} kept colliding with changes made at the same moment; "
            "nothing was changed, try again"
        )
    return Conflict(
        f"the {kind} conflicts with something saved at the same moment; nothing was changed"
    )


def saved_or_not(kind: str) -> Unavailable:
    """Say that a command met a connection lost during its COMMIT, and may have been saved."""
    return Unavailable(
        f"the {kind} may or may not have been saved: the connection to the database was lost "
        "while saving; check before trying again"
    )


def fingerprint(kind: str, request: Sequence[Any]) -> str:
    """Return a digest of what a keyed command was asked: its kind, target and values.

    Objects are written with their keys sorted, so the same values in another order are
    the same request.
    """
    raw = orjson.dumps(
        [kind, *request], option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS, default=str
    )
    return hashlib.sha256(raw).hexdigest()


def _done(uow: UnitOfWork, kind: str, key: str | None, asked: str | None) -> Result | None:
    """Return the first answer of the command already carried out under `key`, if any.

    Raise `KeyReused` when that command was another request than this one; a key kept
    without a fingerprint (before they were kept) is compared by kind only.
    """
    found = uow.repository.command(key) if key is not None else None
    if found is None:
        return None
    first_kind, answer, first_asked = found
    if first_kind != kind:
        raise KeyReused(f"{REUSED} (a {first_kind}); {NEW_KEY}")
    if asked is not None and first_asked is not None and first_asked != asked:
        raise KeyReused(f"{REUSED} (another {kind}); {NEW_KEY}")
    return answer
