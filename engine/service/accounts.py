"""Signing in: passwords (hashed with scrypt by werkzeug), and opening sign-in sessions.

A password check costs the same whether the user exists or not, so the time it
takes does not tell an attacker which usernames are real. Hashing and checking a
password (about 0.1 s of scrypt) happen outside any transaction: the write that
follows only stores the result, so no one waits on the write lock for it.

Signing in opens a sign-in session (`engine.service.sessions`): signing out ends it
on the server, so a copy of the cookie stops working too; a new password ends the
person's other sessions, and deactivating them ends all of theirs.

`Accounts` is what the doors (web pages, API, CLI) call, for sessions
(`engine.service.sessions`) and API tokens (`engine.service.tokens`) too: each method
is one read or one unit of work through the transaction shell. The functions below
it take a session and are its parts.
"""

from __future__ import annotations

import contextlib
import functools
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from engine.core.errors import Problem
from engine.service.errors import InvalidInput, NotFound, ServiceError
from engine.service.person import (
    Person,
    load_person,
    secret_hash,
)
from engine.service.sessions import (
    MAX_SESSION_SECRET,
    end_session,
    end_sessions,
    person_for_session,
    prune_sessions,
    touch_session,
)
from engine.service.tokens import (
    TokenRow,
    issue_token,
    person_for_token,
    revoke_token,
    tokens,
    touch_token,
)
from engine.settings import (
    MIN_PASSWORD_LENGTH,
)
from engine.store.people import SignInSession, User

if TYPE_CHECKING:
    from engine.service.shell import Shell

#: Longest username the users table holds.
MAX_USERNAME = 80


@functools.cache
def _unknown_user_hash() -> str:
    """A hash to check against when the user does not exist, so both paths cost one scrypt."""
    return generate_password_hash(secrets.token_hex(16))


@dataclass(frozen=True, slots=True)
class SignIn:
    """A new sign-in session: who, and the secret the browser keeps (the server has its hash)."""

    person: Person
    secret: str


@dataclass(frozen=True, slots=True)
class Credentials:
    """What a password check needs of a user."""

    user_id: int
    password_hash: str | None
    active: bool


class Accounts:
    """Sign-in, sessions, passwords and API tokens: one read or one unit of work per call."""

    def __init__(self, shell: Shell) -> None:
        self.shell = shell

    def sign_in(self, username: str, password: str) -> SignIn | None:
        """Check a username and password; if right, open a sign-in session for them."""
        checked = self._check(username, password)
        if checked is None:
            return None
        secret = secrets.token_urlsafe(32)
        person = self.shell.write(
            "sign-in", lambda session, at: open_session(session, checked, secret, at)
        )
        return SignIn(person, secret) if person is not None else None

    def check_password(self, username: str, password: str) -> bool:
        """Tell whether this is the user's password (as slow for unknown users as for real ones)."""
        return self._check(username, password) is not None

    def _check(self, username: str, password: str) -> Credentials | None:
        found = self.shell.read(lambda session: credentials(session, username))
        known = found is not None and found.active and bool(found.password_hash)
        stored = found.password_hash if found is not None and known else _unknown_user_hash()
        matches = check_password_hash(str(stored), password)
        return found if known and matches else None

    def person_for_session(self, secret: str) -> Person | None:
        """Return who a sign-in session belongs to, while it is open and they are active."""
        if not secret or len(secret) > MAX_SESSION_SECRET:
            return None
        now = self.shell.clock()
        found = self.shell.read(lambda session: person_for_session(session, secret, now))
        if found is None:
            return None
        person, stale_id = found
        if stale_id:
            self._note(lambda session, at: touch_session(session, stale_id, at))
        return person

    def _note(self, body: Callable[[Session, datetime], None]) -> None:
        # When a session or token was last used is worth a write a minute, not a refusal:
        # a database too busy to note it does not turn the request away.
        with contextlib.suppress(ServiceError):
            self.shell.write("note of use", body)

    def sign_out(self, secret: str) -> None:
        """End a sign-in session: its cookie, and every copy of it, signs no one in any more."""
        self.shell.write("sign-out", lambda session, at: end_session(session, secret, at))

    def prune_sessions(self) -> int:
        """Delete the sign-in sessions over for longer than `SESSION_RECORD_KEPT`; say how many."""
        return self.shell.write("prune sessions", prune_sessions)

    def change_password(
        self,
        username: str,
        current: str,
        new: str,
        *,
        confirm: str | None = None,
        keep_session: str | None = None,
    ) -> None:
        """Change a user's own password (the current one first); their other sessions end."""
        problems = password_problems(new, "/new_password")
        if confirm is not None and not problems and confirm != new:
            problems.append(Problem("/confirm_password", "the two new passwords are not the same"))
        if not self.check_password(username, current):
            problems.insert(0, Problem("/current_password", "your current password is not right"))
        if problems:
            raise InvalidInput("; ".join(p.message for p in problems), problems)
        hashed = generate_password_hash(new)
        self.shell.write(
            "password change",
            lambda session, at: set_password(
                session, username, new, at, keep_session=keep_session, hashed=hashed
            ),
        )

    def issue_token(self, username: str, name: str) -> tuple[int, str]:
        """Make an API token; return its id and the token, which is shown this once."""
        return self.shell.write(
            "token", lambda session, at: issue_token(session, username, name, at)
        )

    def revoke_token(self, username: str, token_id: int) -> None:
        """Revoke one of a user's tokens (another person's is not found)."""
        self.shell.write("token", lambda session, at: revoke_token(session, token_id, username, at))

    def tokens(self, username: str) -> list[TokenRow]:
        """Return a user's tokens, newest first, revoked ones included."""
        return self.shell.read(lambda session: tokens(session, username))

    def person_for_token(self, token: str) -> Person | None:
        """Return who an API token speaks for, if it is valid and not revoked."""
        now = self.shell.clock()
        found = self.shell.read(lambda session: person_for_token(session, token, now))
        if found is None:
            return None
        person, stale_id = found
        if stale_id:
            self._note(lambda session, at: touch_token(session, stale_id, at))
        return person


# Passwords ------------------------------------------------------------------------------------


def password_problems(password: str, pointer: str = "/password") -> list[Problem]:
    """Say what is wrong with a new password, if anything."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return [Problem(pointer, f"a password needs at least {MIN_PASSWORD_LENGTH} characters")]
    return []


def set_password(
    session: Session,
    username: str,
    password: str,
    at: datetime | None = None,
    *,
    keep_session: str | None = None,
    hashed: str | None = None,
) -> None:
    """Give a user a new password and end their sign-in sessions (but `keep_session`).

    `hashed` is the password's hash made before the transaction (see the module's
    docstring); without it the hash is made here.
    """
    problems = password_problems(password)
    if problems:
        raise InvalidInput(problems[0].message, problems)
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"there is no user '{username}'")
    user.password_hash = hashed or generate_password_hash(password)
    end_sessions(session, user.id, at or datetime.now(UTC), keep=keep_session)


def credentials(session: Session, username: str) -> Credentials | None:
    """Return what a password check needs of a user: their id, hash and whether active."""
    username = username.strip()
    if len(username) > MAX_USERNAME or "\x00" in username:
        return None  # no user has such a name, and PostgreSQL refuses a NUL in text
    row = session.execute(
        select(User.id, User.password_hash, User.active).where(User.username == username)
    ).first()
    return None if row is None else Credentials(row.id, row.password_hash, row.active)


# Sign-in sessions -----------------------------------------------------------------------------


def open_session(
    session: Session, checked: Credentials, secret: str, at: datetime
) -> Person | None:
    """Record a sign-in whose password was just checked; None if it changed meanwhile."""
    now = _credentials_by_id(session, checked.user_id)
    if now is None or not now.active or now.password_hash != checked.password_hash:
        return None
    session.add(
        SignInSession(
            user_id=checked.user_id, token_hash=secret_hash(secret), created_at=at, last_seen_at=at
        )
    )
    session.flush()
    return load_person(session, checked.user_id)


def _credentials_by_id(session: Session, user_id: int) -> Credentials | None:
    row = session.execute(
        select(User.id, User.password_hash, User.active).where(User.id == user_id)
    ).first()
    return None if row is None else Credentials(row.id, row.password_hash, row.active)
