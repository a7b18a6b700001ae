"""Sign-in sessions: a row per sign-in, whose secret only the browser holds.

The browser keeps a random secret in its session cookie; the server keeps its SHA-256
(`SignInSession`). A session signs its person in until it is ended (sign-out, a new
password, a deactivation), left unused for `SESSION_IDLE` or outlived `SESSION_LIFETIME`;
the worker deletes it `SESSION_RECORD_KEPT` after that. Opening one needs a password
check, which is `engine.service.accounts`'s; this module needs no password hashing, so
the worker, which prunes sessions, imports no web framework.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, or_, select, update
from sqlalchemy.orm import Session

from engine.service.person import PERSON_COLUMNS, WITH_GROUPS, Person, person_of, secret_hash
from engine.settings import SESSION_IDLE, SESSION_LIFETIME, SESSION_RECORD_KEPT, SESSION_TOUCH_S
from engine.store.base import UtcDateTime
from engine.store.people import SignInSession, User

#: A session secret is 43 characters; anything much longer is not one (and not worth hashing).
MAX_SESSION_SECRET = 128

_sessions, _users = SignInSession.__table__, User.__table__
#: A person found by an open sign-in session's hash: every signed-in request asks, in this
#: one statement, both whether its session is still open (not ended, used lately enough,
#: not too old) and who it belongs to. Whether `last_seen_at` is stale is worked out by
#: the database: no time to parse per request.
_PERSON_BY_SESSION = (
    select(
        *PERSON_COLUMNS,
        _sessions.c.id.label("session_id"),
        (_sessions.c.last_seen_at < bindparam("stale_before", type_=UtcDateTime())).label("stale"),
    )
    .select_from(_sessions.join(WITH_GROUPS, _users.c.id == _sessions.c.user_id))
    .where(
        _sessions.c.token_hash == bindparam("hash"),
        _sessions.c.ended_at.is_(None),
        _sessions.c.last_seen_at >= bindparam("idle_before", type_=UtcDateTime()),
        _sessions.c.created_at >= bindparam("born_after", type_=UtcDateTime()),
    )
)


def person_for_session(session: Session, secret: str, at: datetime) -> tuple[Person, int] | None:
    """Return the person of an open sign-in session and, if its `last_seen_at` is stale, its id."""
    stale_before = at - timedelta(seconds=SESSION_TOUCH_S)
    rows = session.execute(
        _PERSON_BY_SESSION,
        {
            "hash": secret_hash(secret),
            "stale_before": stale_before,
            "idle_before": at - SESSION_IDLE,
            "born_after": at - SESSION_LIFETIME,
        },
    ).all()
    found = person_of(rows)
    if found is None:
        return None
    return found, rows[0].session_id if rows[0].stale else 0


def touch_session(session: Session, session_id: int, at: datetime) -> None:
    """Note when a session was last used (at most once a minute, not on every request)."""
    session.execute(
        update(SignInSession).where(SignInSession.id == session_id).values(last_seen_at=at)
    )


def end_session(session: Session, secret: str, at: datetime) -> None:
    """End one sign-in session (a sign-out); an ended or unknown one stays as it is."""
    session.execute(
        update(SignInSession)
        .where(SignInSession.token_hash == secret_hash(secret), SignInSession.ended_at.is_(None))
        .values(ended_at=at)
    )


def prune_sessions(session: Session, at: datetime) -> int:
    """Delete sessions ended, left idle or outlived more than `SESSION_RECORD_KEPT` ago."""
    kept_after = at - SESSION_RECORD_KEPT
    over = or_(
        SignInSession.ended_at < kept_after,
        SignInSession.last_seen_at < kept_after - SESSION_IDLE,
        SignInSession.created_at < kept_after - SESSION_LIFETIME,
    )
    deleted = session.execute(delete(SignInSession).where(over))
    return int(deleted.rowcount)  # type: ignore[attr-defined]


def end_sessions(session: Session, user_id: int, at: datetime, *, keep: str | None = None) -> None:
    """End every open sign-in session of a user, but the one whose secret is `keep`."""
    query = update(SignInSession).where(
        SignInSession.user_id == user_id, SignInSession.ended_at.is_(None)
    )
    if keep:
        query = query.where(SignInSession.token_hash != secret_hash(keep))
    session.execute(query.values(ended_at=at))
