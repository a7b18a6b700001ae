"""API tokens: scripts sign in with a bearer token; the server keeps only its hash.

A token is shown once, when it is made. It belongs to one user, signs in as them on the
API only (never on the pages), and works until it is revoked. `Accounts` in
`engine.service.accounts` is the door's facade over these functions.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from engine.core.errors import Problem
from engine.core.values import is_row_id
from engine.service.errors import InvalidInput, NotFound
from engine.service.person import (
    PERSON_COLUMNS,
    WITH_GROUPS,
    Person,
    person_of,
    secret_hash,
)
from engine.settings import TOKEN_TOUCH_S
from engine.store.people import ApiToken, User

#: Longest name of an API token.
MAX_TOKEN_NAME = 120


@dataclass(frozen=True, slots=True)
class TokenRow:
    """An API token as its owner sees it (never the token itself: only its hash is kept)."""

    id: int
    name: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


_tokens, _users = ApiToken.__table__, User.__table__
#: A person found by an API token's hash, with the token's own columns.
_PERSON_BY_TOKEN = (
    select(
        *PERSON_COLUMNS,
        _tokens.c.id.label("token_id"),
        _tokens.c.revoked_at,
        _tokens.c.last_used_at,
    )
    .select_from(_tokens.join(WITH_GROUPS, _users.c.id == _tokens.c.user_id))
    .where(_tokens.c.token_hash == bindparam("hash"))
)


def issue_token(session: Session, username: str, name: str, at: datetime) -> tuple[int, str]:
    """Make a new API token for a user; return its id and the token, shown this once."""
    name = name.strip()
    if not name:
        raise InvalidInput(
            "give the token a name, e.g. the script that uses it",
            [Problem("/name", "give the token a name, e.g. the script that uses it")],
        )
    if len(name) > MAX_TOKEN_NAME:
        message = f"a token's name can have at most {MAX_TOKEN_NAME} characters"
        raise InvalidInput(message, [Problem("/name", message)])
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        message = "a token's name cannot hold control characters such as line breaks"
        raise InvalidInput(message, [Problem("/name", message)])
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"there is no user '{username}'")
    token = "fd_" + secrets.token_urlsafe(32)
    row = ApiToken(user_id=user.id, name=name, token_hash=secret_hash(token))
    row.created_at = at
    session.add(row)
    session.flush()
    return row.id, token


def revoke_token(session: Session, token_id: int, username: str, at: datetime) -> None:
    """Revoke one of a user's tokens; requests bearing it are refused from now on."""
    if not is_row_id(token_id):
        raise NotFound(f"{username} has no token {token_id}")
    row = session.scalar(
        select(ApiToken)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.id == token_id, User.username == username)
    )
    if row is None:
        raise NotFound(f"{username} has no token {token_id}")
    row.revoked_at = row.revoked_at or at


def tokens(session: Session, username: str) -> list[TokenRow]:
    """Return a user's tokens, newest first, revoked ones included."""
    rows = session.execute(
        select(
            ApiToken.id,
            ApiToken.name,
            ApiToken.created_at,
            ApiToken.last_used_at,
            ApiToken.revoked_at,
        )
        .join(User, User.id == ApiToken.user_id)
        .where(User.username == username)
        .order_by(ApiToken.id.desc())
    )
    return [TokenRow(*row) for row in rows]


def person_for_token(session: Session, token: str, at: datetime) -> tuple[Person, int] | None:
    """Return the person an API token belongs to and the token's id, if valid and not revoked.

    The id comes back only when the token's `last_used_at` is stale (see `touch_token`).
    """
    rows = session.execute(_PERSON_BY_TOKEN, {"hash": secret_hash(token)}).all()
    found = person_of(rows)
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
