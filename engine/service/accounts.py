"""Signing in: passwords (hashed with scrypt by werkzeug) and API tokens (kept as SHA-256).

A password check costs the same whether the user exists or not, so the time it
takes does not tell an attacker which usernames are real.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, bindparam, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from engine.service.errors import InvalidInput, NotFound
from engine.store.people import ApiToken, Group, Membership, User

#: Fewer characters than this are refused.
MIN_PASSWORD_LENGTH = 10
#: Roles a user may have; a user without one is a requester.
ROLES = ("admin", "designer", "agent", "requester")
#: How stale a token's `last_used_at` may get before a use writes it again.
TOKEN_TOUCH_S = 60


@functools.cache
def _unknown_user_hash() -> str:
    """A hash to check against when the user does not exist, so both paths cost one scrypt."""
    return generate_password_hash(secrets.token_hex(16))


@dataclass(frozen=True, slots=True)
class Person:
    """Who is signed in: the few facts every page and permission check needs."""

    id: int
    username: str
    name: str
    email: str | None
    roles: frozenset[str]
    groups: frozenset[str]
    #: Stands for the user's current password (see `credentials_of`): a session keeps the
    #: one it signed in with and ends when they differ, so a new password signs out the rest.
    credentials: str = ""

    def has_role(self, *roles: str) -> bool:
        return "admin" in self.roles or any(role in self.roles for role in roles)

    @property
    def is_agent(self) -> bool:
        return self.has_role("agent") or bool(self.groups)


def load_person(session: Session, user_id: int) -> Person | None:
    """Return an active user by id, as a Person; None if gone or deactivated.

    Every signed-in request asks, so it is one statement (a row per group) and no ORM
    objects: two round trips were a tenth of an inbox page on PostgreSQL.
    """
    return _person(session.execute(_PERSON, {"id": user_id}).all())


def _person(rows: Sequence[Row[*tuple[Any, ...]]]) -> Person | None:
    """The Person of a user's rows (one per group), if active."""
    if not rows or not rows[0].active:
        return None
    first = rows[0]
    return Person(
        first.id,
        first.username,
        first.name or first.username,
        first.email,
        frozenset(first.roles or ()),
        frozenset(row.key for row in rows if row.key is not None),
        credentials_of(first.password_hash),
    )


def credentials_of(password_hash: str | None) -> str:
    """A short stand-in for a password hash, to keep in a session cookie in its place."""
    return hashlib.sha256((password_hash or "").encode()).hexdigest()[:16]


_users, _members, _groups = User.__table__, Membership.__table__, Group.__table__
_tokens = ApiToken.__table__
#: A user's row once per group they belong to. Core statements over the tables: the
#: ORM's own handling of a statement cost as much as its round trip.
_PERSON_COLUMNS = (
    _users.c.id,
    _users.c.username,
    _users.c.name,
    _users.c.email,
    _users.c.roles,
    _users.c.active,
    _users.c.password_hash,
    _groups.c.key,
)
_WITH_GROUPS = _users.outerjoin(_members, _members.c.user_id == _users.c.id).outerjoin(
    _groups, _groups.c.id == _members.c.group_id
)
_PERSON = select(*_PERSON_COLUMNS).select_from(_WITH_GROUPS).where(_users.c.id == bindparam("id"))
#: The same, found by an API token's hash, with the token's own columns.
_PERSON_BY_TOKEN = (
    select(
        *_PERSON_COLUMNS,
        _tokens.c.id.label("token_id"),
        _tokens.c.revoked_at,
        _tokens.c.last_used_at,
    )
    .select_from(_tokens.join(_WITH_GROUPS, _users.c.id == _tokens.c.user_id))
    .where(_tokens.c.token_hash == bindparam("hash"))
)


def set_password(session: Session, username: str, password: str) -> None:
    """Give a user a new password; refuse one too short to be safe."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"there is no user '{username}'")
    user.password_hash = generate_password_hash(password)


def check_password(session: Session, username: str, password: str) -> Person | None:
    """Return the person whose username and password these are, else None."""
    user = session.scalar(select(User).where(User.username == username.strip()))
    known = user is not None and user.active and user.password_hash
    stored = user.password_hash if known and user is not None else _unknown_user_hash()
    matches = check_password_hash(str(stored), password)
    if not (known and matches) or user is None:
        return None
    return load_person(session, user.id)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(session: Session, username: str, name: str, at: datetime) -> tuple[int, str]:
    """Make a new API token for a user; return its id and the token, shown this once."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"there is no user '{username}'")
    if not name.strip():
        raise InvalidInput("give the token a name, e.g. the script that uses it")
    token = "fd_" + secrets.token_urlsafe(32)
    row = ApiToken(user_id=user.id, name=name.strip()[:120], token_hash=_token_hash(token))
    row.created_at = at
    session.add(row)
    session.flush()
    return row.id, token


def revoke_token(session: Session, token_id: int, username: str, at: datetime) -> None:
    """Revoke one of a user's tokens; requests bearing it are refused from now on."""
    row = session.scalar(
        select(ApiToken)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.id == token_id, User.username == username)
    )
    if row is None:
        raise NotFound(f"{username} has no token {token_id}")
    row.revoked_at = row.revoked_at or at


def tokens(session: Session, username: str) -> list[ApiToken]:
    """Return a user's tokens, newest first, revoked ones included."""
    return list(
        session.scalars(
            select(ApiToken)
            .join(User, User.id == ApiToken.user_id)
            .where(User.username == username)
            .order_by(ApiToken.id.desc())
        )
    )


def person_for_token(session: Session, token: str, at: datetime) -> tuple[Person, int] | None:
    """Return the person an API token belongs to and the token's id, if valid and not revoked.

    The id comes back only when the token's `last_used_at` is stale (see `touch_token`).
    """
    rows = session.execute(_PERSON_BY_TOKEN, {"hash": _token_hash(token)}).all()
    found = _person(rows)
    if found is None or rows[0].revoked_at is not None:
        return None
    used = rows[0].last_used_at
    stale = used is None or (at - used).total_seconds() > TOKEN_TOUCH_S
    return found, rows[0].token_id if stale else 0


def touch_token(session: Session, token_id: int, at: datetime) -> None:
    """Note when a token was last used (at most once a minute, not on every call)."""
    row = session.get(ApiToken, token_id)
    if row is not None:
        row.last_used_at = at
