"""People: users, groups, memberships and on-call shifts, as every door manages them.

`People` is what the admin pages and the command line call, each method one read or
one unit of work through the transaction shell; the admin pages' rules live in
`engine.service.admin`, and the command line's create-or-update (`ensure_user`,
`ensure_group`) below keeps to the same rules for what both accept: a username or
group key, an email address, a role. A new password is hashed before the write
transaction begins (scrypt takes a tenth of a second that must hold no lock).

Who may: the admin pages pass the signed-in person as `actor`, and the change is refused
unless they are an active admin (`permissions.require_admin`), whichever page or future
door calls. The command line passes no actor: it is the operator's tool, run by whoever
holds the database's address and so every right over it already.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from engine.core.errors import Problem
from engine.service import admin
from engine.service.accounts import password_problems
from engine.service.admin import GroupRow, UserRow
from engine.service.departures import LeftTask, held_by
from engine.service.errors import InvalidInput, NotFound
from engine.service.names import email_problems, group_key_problems, username_problems
from engine.service.permissions import require_admin
from engine.service.person import ROLES
from engine.store.people import Group, Membership, OnCallShift, User

if TYPE_CHECKING:
    from engine.service.shell import Shell
    from engine.store.uow import UnitOfWork

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Directory:
    """Every user and every group, as the admin pages list them."""

    users: list[UserRow]
    groups: list[GroupRow]

    def user(self, username: str) -> UserRow:
        """Return one user; NotFound when there is none."""
        for row in self.users:
            if row.username == username:
                return row
        raise NotFound(f"there is no user '{username}'")

    def group(self, key: str) -> GroupRow:
        """Return one group; NotFound when there is none."""
        for row in self.groups:
            if row.key == key:
                return row
        raise NotFound(f"there is no group '{key}'")


class People:
    """Users, groups, memberships and on-call shifts: one read or one unit of work per call."""

    def __init__(self, shell: Shell) -> None:
        self.shell = shell

    def _as_admin(self, kind: str, actor: str | None, body: Callable[[Session, datetime], T]) -> T:
        """Write as `actor`, refused unless an active admin; None is the operator."""

        def run(uow: UnitOfWork, at: datetime) -> T:
            if actor is not None:
                require_admin(uow.repository, actor, "change users and groups")
            return body(uow.session, at)

        return self.shell.execute(kind, None, run)

    def directory(self) -> Directory:
        """Return every user and every group, by username and key."""
        return self.shell.read(
            lambda session: Directory(admin.list_users(session), admin.list_groups(session))
        )

    def held_tasks(self, username: str) -> list[LeftTask]:
        """Return the open tasks a user holds (those of a deactivated user wait for an admin)."""
        return self.shell.read(lambda session: held_by(session, username))

    def create_user(
        self,
        username: str,
        *,
        name: str = "",
        email: str | None = None,
        roles: Iterable[str] = (),
        groups: Iterable[str] = (),
        password: str | None = None,
        actor: str | None,
    ) -> None:
        """Add a user (an admin's form), with a first password or none."""
        hashed = _hash(password)
        roles, groups = list(roles), list(groups)
        self._as_admin(
            "user",
            actor,
            lambda session, at: admin.create_user(
                session,
                username,
                at,
                name=name,
                email=email,
                roles=roles,
                groups=groups,
                password=password,
                hashed=hashed,
            ),
        )

    def update_user(
        self,
        username: str,
        *,
        actor: str,
        name: str,
        email: str | None,
        roles: Iterable[str],
        active: bool,
        groups: Iterable[str],
        manager: str | None,
    ) -> list[LeftTask]:
        """Change a user's details, roles, groups and manager.

        Deactivating ends their sessions and hands back their open tasks; return those
        with nobody to go back to (see `engine.service.departures`).
        """
        roles, groups = list(roles), list(groups)
        return self._as_admin(
            "user",
            actor,
            lambda session, at: admin.update_user(
                session,
                username,
                at,
                actor=actor,
                name=name,
                email=email,
                roles=roles,
                active=active,
                groups=groups,
                manager=manager,
            ),
        )

    def set_password(
        self, username: str, password: str, *, actor: str | None, keep_session: str | None
    ) -> None:
        """Give a user a new password (an admin's reset); their sessions end but `keep_session`."""
        hashed = _hash(password)
        self._as_admin(
            "password",
            actor,
            lambda session, at: admin.set_user_password(
                session, username, password, at, keep_session=keep_session, hashed=hashed
            ),
        )

    def create_group(
        self, key: str, name: str = "", next_tier: str | None = None, *, actor: str | None
    ) -> None:
        """Add a group; `next_tier` (an existing group) is where its escalations go."""
        self._as_admin(
            "group", actor, lambda session, at: admin.create_group(session, key, name, next_tier)
        )

    def update_group(
        self, key: str, name: str, next_tier: str | None, *, actor: str | None
    ) -> None:
        """Rename a group and set (or clear) its next tier."""
        self._as_admin(
            "group", actor, lambda session, at: admin.update_group(session, key, name, next_tier)
        )

    def add_member(self, key: str, username: str, *, actor: str | None) -> bool:
        """Put a user in a group; False when they were in it already."""
        return self._as_admin(
            "membership", actor, lambda session, at: admin.add_member(session, key, username)
        )

    def remove_member(self, key: str, username: str, *, actor: str | None) -> bool:
        """Take a user out of a group; False when they were not in it."""
        return self._as_admin(
            "membership", actor, lambda session, at: admin.remove_member(session, key, username)
        )

    def save_user(
        self,
        username: str,
        *,
        name: str = "",
        email: str | None = None,
        roles: Iterable[str] = (),
        groups: Iterable[str] = (),
        manager: str | None = None,
    ) -> None:
        """Create or update a user and add them to groups, made if new (`flowdesk user`)."""
        roles, groups = list(roles), list(groups)
        self.shell.write(
            "user",
            lambda session, at: ensure_user(
                session,
                username,
                at,
                name=name,
                email=email,
                roles=roles,
                groups=groups,
                manager=manager,
            ),
        )

    def save_group(self, key: str, name: str = "", next_tier: str | None = None) -> None:
        """Create or update a group (`flowdesk group`)."""
        self.shell.write("group", lambda session, at: ensure_group(session, key, name, next_tier))

    def add_shift(
        self, schedule: str, username: str, starts_at: datetime, ends_at: datetime
    ) -> None:
        """Put someone on call for a schedule between two moments."""
        self.shell.write(
            "on-call shift",
            lambda session, at: add_shift(session, schedule, username, starts_at, ends_at),
        )

    def first_admin(self) -> str | None:
        """Create the `admin` account if nobody is an admin yet; return its password, else None."""
        password = secrets.token_urlsafe(12)
        hashed = generate_password_hash(password)
        made = self.shell.write(
            "first admin", lambda session, at: _first_admin(session, hashed, at)
        )
        return password if made else None


def _hash(password: str | None) -> str | None:
    """Hash a password that will be accepted, before the transaction; None for any other."""
    if not password or password_problems(password):
        return None
    return generate_password_hash(password)


def _first_admin(session: Session, hashed: str, at: datetime) -> bool:
    if any("admin" in (roles or ()) for roles in session.scalars(select(User.roles))):
        return False
    user = ensure_user(session, "admin", at, name="Administrator", roles=["admin"])
    user.password_hash = hashed
    return True


def _refuse(problems: list[Problem]) -> None:
    if problems:
        raise InvalidInput("; ".join(p.message for p in problems), problems)


def ensure_group(session: Session, key: str, name: str = "", next_tier: str | None = None) -> Group:
    """Create a group, or update its name and next tier (made too, if new)."""
    group = session.scalars(select(Group).where(Group.key == key)).one_or_none()
    if group is None:
        _refuse(group_key_problems(key))
        group = Group(key=key, name=name or key)
        session.add(group)
    elif name:
        group.name = name
    if next_tier is not None:
        if next_tier == key:
            _refuse([Problem("/next_tier", "a group cannot be its own next tier")])
        group.next_tier_id = ensure_group(session, next_tier).id
    session.flush()
    return group


def ensure_user(
    session: Session,
    username: str,
    at: datetime,
    *,
    name: str = "",
    email: str | None = None,
    roles: list[str] | None = None,
    groups: list[str] | None = None,
    manager: str | None = None,
) -> User:
    """Create a user, or update the given fields; join the given groups (made if new)."""
    user = session.scalars(select(User).where(User.username == username)).one_or_none()
    problems = username_problems(username) if user is None else []
    problems += email_problems(email)
    unknown = sorted(set(roles or ()) - set(ROLES))
    if unknown:
        problems.append(
            Problem("/roles", f"unknown role {', '.join(unknown)}; roles are {', '.join(ROLES)}")
        )
    _refuse(problems)
    if user is None:
        user = User(
            username=username,
            name=name or username,
            email=email,
            roles=roles or ["agent"],
            created_at=at,
        )
        session.add(user)
    else:
        user.name = name or user.name
        user.email = email or user.email
        user.roles = roles or user.roles
    if manager is not None:
        boss = session.scalars(select(User).where(User.username == manager)).one_or_none()
        if boss is None:
            raise NotFound(f"there is no user '{manager}' to be the manager of {username}")
        user.manager_id = boss.id
    session.flush()
    for key in groups or ():
        group = ensure_group(session, key)
        if session.get(Membership, (user.id, group.id)) is None:
            session.add(Membership(user_id=user.id, group_id=group.id))
    session.flush()
    return user


def add_shift(
    session: Session, schedule: str, username: str, starts_at: datetime, ends_at: datetime
) -> OnCallShift:
    """Put someone on call for a schedule; a later shift overrides an earlier overlapping one."""
    if ends_at <= starts_at:
        raise InvalidInput("an on-call shift must end after it starts")
    if session.scalars(select(User).where(User.username == username)).one_or_none() is None:
        raise NotFound(f"there is no user '{username}' to put on call")
    shift = OnCallShift(schedule=schedule, username=username, starts_at=starts_at, ends_at=ends_at)
    session.add(shift)
    session.flush()
    return shift
