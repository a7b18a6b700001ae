"""Who a person is: the `Person` every page and permission check needs, and how it is loaded.

Sign-in sessions (`engine.service.accounts`) and API tokens (`engine.service.tokens`)
both find their person with one statement over `WITH_GROUPS`, a user's row once per
group they belong to.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, bindparam, select
from sqlalchemy.orm import Session

from engine.store.people import Group, Membership, User

#: Roles a user may have; a user without one is a requester.
ROLES = ("admin", "designer", "agent", "requester")


@dataclass(frozen=True, slots=True)
class Person:
    """Who is signed in: the few facts every page and permission check needs."""

    id: int
    username: str
    name: str
    email: str | None
    roles: frozenset[str]
    groups: frozenset[str]
    #: The time zone and locale pages use for this person; None: their browser's.
    time_zone: str | None = None
    locale: str | None = None

    def has_role(self, *roles: str) -> bool:
        return "admin" in self.roles or any(role in self.roles for role in roles)

    @property
    def is_agent(self) -> bool:
        return self.has_role("agent") or bool(self.groups)


def load_person(session: Session, user_id: int) -> Person | None:
    """Return an active user by id, as a Person; None if gone or deactivated.

    One statement (a row per group) and no ORM objects: two round trips were a tenth
    of an inbox page on PostgreSQL.
    """
    return person_of(session.execute(_PERSON, {"id": user_id}).all())


def person_of(rows: Sequence[Row[*tuple[Any, ...]]]) -> Person | None:
    """The Person of a user's rows (one per group, with `PERSON_COLUMNS`), if active."""
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
        first.time_zone,
        first.locale,
    )


_users, _members, _groups = User.__table__, Membership.__table__, Group.__table__
#: A user's row once per group they belong to. Core statements over the tables: the
#: ORM's own handling of a statement cost as much as its round trip.
PERSON_COLUMNS = (
    _users.c.id,
    _users.c.username,
    _users.c.name,
    _users.c.email,
    _users.c.roles,
    _users.c.active,
    _users.c.time_zone,
    _users.c.locale,
    _groups.c.key,
)
WITH_GROUPS = _users.outerjoin(_members, _members.c.user_id == _users.c.id).outerjoin(
    _groups, _groups.c.id == _members.c.group_id
)
_PERSON = select(*PERSON_COLUMNS).select_from(WITH_GROUPS).where(_users.c.id == bindparam("id"))


def secret_hash(secret: str) -> str:
    """The SHA-256 kept in place of a session secret or an API token."""
    return hashlib.sha256(secret.encode()).hexdigest()
