"""What the admin pages do with people: users, groups and memberships.

Bad input comes back as `InvalidInput` whose problems point at the field (`/email`,
`/roles`), so a page can show each message beside its control; nothing is changed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from engine.core.errors import Problem
from engine.service.accounts import password_problems
from engine.service.departures import LeftTask, hand_back_in
from engine.service.errors import InvalidInput, NotFound
from engine.service.names import (
    email_problems,
    group_key_problems,
    name_problems,
    username_problems,
)
from engine.service.person import ROLES
from engine.service.sessions import end_sessions
from engine.store.people import ApiToken, Group, Membership, User


@dataclass(frozen=True, slots=True)
class UserRow:
    """A user as the admin pages show them."""

    username: str
    name: str
    email: str | None
    roles: tuple[str, ...]
    groups: tuple[str, ...]
    active: bool
    manager: str | None
    has_password: bool


@dataclass(frozen=True, slots=True)
class GroupRow:
    """A group, its escalation target and its members."""

    key: str
    name: str
    next_tier: str | None
    members: tuple[str, ...]


# Users ----------------------------------------------------------------------------------------


def _find_user(session: Session, username: str) -> User | None:
    if not _could_be_key(username):
        return None
    return session.scalar(select(User).where(User.username == username))


def _find_group(session: Session, key: str) -> Group | None:
    if not _could_be_key(key):
        return None
    return session.scalar(select(Group).where(Group.key == key))


def _could_be_key(value: str) -> bool:
    # What a URL or a form sends may hold a NUL, which PostgreSQL refuses in a query
    # (an error, not "no such row"), or be longer than any key kept.
    return len(value) <= 80 and "\x00" not in value


def _user(session: Session, username: str) -> User:
    user = _find_user(session, username)
    if user is None:
        raise NotFound(f"there is no user '{username}'")
    return user


def _group(session: Session, key: str) -> Group:
    group = _find_group(session, key)
    if group is None:
        raise NotFound(f"there is no group '{key}'")
    return group


def _refuse(problems: list[Problem]) -> None:
    if problems:
        raise InvalidInput("; ".join(p.message for p in problems), problems)


def list_users(session: Session, username: str | None = None) -> list[UserRow]:
    """Return every user (or the one named) with their groups and manager, by username."""
    query = select(User).order_by(User.username)
    if username is not None:
        query = query.where(User.username == username)
    users = list(session.scalars(query))
    ids = [user.id for user in users]
    managers = {user.manager_id for user in users if user.manager_id}
    names = dict(session.execute(select(User.id, User.username).where(User.id.in_(managers))).all())
    groups: dict[int, list[str]] = {}
    for user_id, key in session.execute(
        select(Membership.user_id, Group.key)
        .join(Group, Group.id == Membership.group_id)
        .where(Membership.user_id.in_(ids))
        .order_by(Group.key)
    ):
        groups.setdefault(user_id, []).append(key)
    return [
        UserRow(
            user.username,
            user.name or user.username,
            user.email,
            tuple(sorted(user.roles or ())),
            tuple(groups.get(user.id, ())),
            user.active,
            names.get(user.manager_id) if user.manager_id else None,
            bool(user.password_hash),
        )
        for user in users
    ]


def get_user(session: Session, username: str) -> UserRow:
    """Return one user as the admin pages show them."""
    found = list_users(session, username)
    if not found:
        raise NotFound(f"there is no user '{username}'")
    return found[0]


def _check_details(
    session: Session, name: str, email: str | None, roles: Iterable[str], groups: Iterable[str]
) -> list[Problem]:
    problems = name_problems(name)
    problems += email_problems(email)
    unknown = sorted(set(roles) - set(ROLES))
    if unknown:
        problems.append(
            Problem("/roles", f"unknown role {', '.join(unknown)}; roles are {', '.join(ROLES)}")
        )
    known = set(session.scalars(select(Group.key)))
    missing = sorted(set(groups) - known)
    if missing:
        problems.append(Problem("/groups", f"there is no group {', '.join(missing)}"))
    return problems


def create_user(
    session: Session,
    username: str,
    at: datetime,
    *,
    name: str = "",
    email: str | None = None,
    roles: Iterable[str] = (),
    groups: Iterable[str] = (),
    password: str | None = None,
    hashed: str | None = None,
) -> User:
    """Add a user, with a first password or none (they cannot sign in until given one).

    `hashed` is the password's hash, made before the transaction (scrypt is slow).
    """
    roles, groups = sorted(set(roles)), sorted(set(groups))
    problems = username_problems(username)
    taken = select(User.id).where(User.username == username)
    if not problems and session.scalar(taken) is not None:
        problems.append(Problem("/username", f"there is already a user '{username}'"))
    problems += _check_details(session, name, email, roles, groups)
    if password:
        problems += password_problems(password)
    _refuse(problems)
    user = User(
        username=username,
        name=name or username,
        email=email or None,
        roles=roles,
        created_at=at,
        password_hash=(hashed or generate_password_hash(password)) if password else None,
    )
    session.add(user)
    session.flush()
    _set_groups(session, user, groups)
    return user


def update_user(
    session: Session,
    username: str,
    at: datetime,
    *,
    actor: str,
    name: str,
    email: str | None,
    roles: Iterable[str],
    active: bool,
    groups: Iterable[str],
    manager: str | None,
) -> list[LeftTask]:
    """Change a user's details, roles, groups, manager and whether they may sign in.

    Return the open tasks a deactivated user still holds, with nobody to give them to.
    """
    user = _user(session, username)
    roles, groups = sorted(set(roles)), sorted(set(groups))
    problems = _check_details(session, name, email, roles, groups)
    problems += _self_problems(user, actor, roles, active)
    boss = None
    if manager:
        boss = _find_user(session, manager)
        if boss is None:
            problems.append(Problem("/manager", f"there is no user '{manager}'"))
        elif boss.id == user.id:
            problems.append(Problem("/manager", "a user cannot be their own manager"))
    _refuse(problems)
    user.name = name or user.username
    user.email = email or None
    user.manager_id = boss.id if boss is not None else None
    set_roles(session, username, roles, actor=actor)
    left = set_active(session, username, active, at, actor=actor)
    _set_groups(session, user, groups)
    return left


def _self_problems(user: User, actor: str, roles: list[str], active: bool) -> list[Problem]:
    # An admin locking themselves out would leave nobody to undo it.
    if user.username != actor:
        return []
    problems = []
    if "admin" in (user.roles or ()) and "admin" not in roles:
        problems.append(Problem("/roles", "you cannot remove your own admin role"))
    if not active:
        problems.append(Problem("/active", "you cannot deactivate your own account"))
    return problems


def set_roles(session: Session, username: str, roles: Iterable[str], *, actor: str) -> None:
    """Give a user exactly these roles; an admin cannot drop their own admin role."""
    user = _user(session, username)
    roles = sorted(set(roles))
    _refuse(_check_details(session, "", None, roles, ()) + _self_problems(user, actor, roles, True))
    user.roles = roles


def set_active(
    session: Session, username: str, active: bool, at: datetime, *, actor: str
) -> list[LeftTask]:
    """Let a user sign in again, or stop them: their history stays; tokens and sessions end.

    A stopped user's open tasks go back to their delegators or their groups' queues (see
    `engine.service.departures`); return those with nowhere to go, for the admin.
    """
    user = _user(session, username)
    _refuse(_self_problems(user, actor, list(user.roles or ()), active))
    left: list[LeftTask] = []
    if user.active and not active:
        for token in session.scalars(
            select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        ):
            token.revoked_at = at
        end_sessions(session, user.id, at)
        left = hand_back_in(session, username, at, actor)
    user.active = active
    return left


def set_user_password(
    session: Session,
    username: str,
    password: str,
    at: datetime | None = None,
    *,
    keep_session: str | None = None,
    hashed: str | None = None,
) -> None:
    """Give a user a new password (an admin's reset: the old one is not asked for).

    Their sign-in sessions end, but `keep_session` (an admin resetting their own).
    """
    user = _user(session, username)
    _refuse(password_problems(password))
    user.password_hash = hashed or generate_password_hash(password)
    end_sessions(session, user.id, at or datetime.now(UTC), keep=keep_session)


def _set_groups(session: Session, user: User, keys: list[str]) -> None:
    wanted = {g.id: g for g in session.scalars(select(Group).where(Group.key.in_(keys)))}
    current = set(session.scalars(select(Membership.group_id).where(Membership.user_id == user.id)))
    for group_id in current - set(wanted):
        session.delete(session.get(Membership, (user.id, group_id)))
    for group_id in set(wanted) - current:
        session.add(Membership(user_id=user.id, group_id=group_id))
    session.flush()


# Groups ---------------------------------------------------------------------------------------


def list_groups(session: Session, key: str | None = None) -> list[GroupRow]:
    """Return every group (or the one named) with its next tier and members, by key."""
    query = select(Group).order_by(Group.key)
    if key is not None:
        query = query.where(Group.key == key)
    groups = list(session.scalars(query))
    tiers = {group.next_tier_id for group in groups if group.next_tier_id}
    keys = dict(session.execute(select(Group.id, Group.key).where(Group.id.in_(tiers))).all())
    members: dict[int, list[str]] = {}
    for group_id, username in session.execute(
        select(Membership.group_id, User.username)
        .join(User, User.id == Membership.user_id)
        .where(Membership.group_id.in_([group.id for group in groups]))
        .order_by(User.username)
    ):
        members.setdefault(group_id, []).append(username)
    return [
        GroupRow(
            group.key,
            group.name or group.key,
            keys.get(group.next_tier_id) if group.next_tier_id else None,
            tuple(members.get(group.id, ())),
        )
        for group in groups
    ]


def get_group(session: Session, key: str) -> GroupRow:
    """Return one group with its members."""
    found = list_groups(session, key)
    if not found:
        raise NotFound(f"there is no group '{key}'")
    return found[0]


def _next_tier(
    session: Session, key: str, next_tier: str | None
) -> tuple[int | None, list[Problem]]:
    if not next_tier:
        return None, []
    if next_tier == key:
        return None, [Problem("/next_tier", "a group cannot be its own next tier")]
    found = _find_group(session, next_tier)
    if found is None:
        return None, [Problem("/next_tier", f"there is no group '{next_tier}'")]
    return found.id, []


def create_group(session: Session, key: str, name: str = "", next_tier: str | None = None) -> Group:
    """Add a group; `next_tier` (an existing group) is where its escalations go."""
    problems = group_key_problems(key)
    if not problems and session.scalar(select(Group.id).where(Group.key == key)) is not None:
        problems.append(Problem("/key", f"there is already a group '{key}'"))
    problems += name_problems(name)
    tier_id, tier_problems = _next_tier(session, key, next_tier)
    _refuse(problems + tier_problems)
    group = Group(key=key, name=name or key, next_tier_id=tier_id)
    session.add(group)
    session.flush()
    return group


def update_group(session: Session, key: str, name: str, next_tier: str | None) -> None:
    """Rename a group and set (or clear) its next tier."""
    group = _group(session, key)
    problems = []
    problems += name_problems(name)
    tier_id, tier_problems = _next_tier(session, key, next_tier)
    _refuse(problems + tier_problems)
    group.name = name or key
    group.next_tier_id = tier_id


def add_member(session: Session, key: str, username: str) -> bool:
    """Put a user in a group; False when they were in it already."""
    group = _group(session, key)
    user = _find_user(session, username)
    if user is None:
        raise InvalidInput(
            f"there is no user '{username}'",
            [Problem("/username", f"there is no user '{username}'")],
        )
    if session.get(Membership, (user.id, group.id)) is not None:
        return False
    session.add(Membership(user_id=user.id, group_id=group.id))
    session.flush()
    return True


def remove_member(session: Session, key: str, username: str) -> bool:
    """Take a user out of a group; False when they were not in it."""
    group = _group(session, key)
    user = _user(session, username)
    membership = session.get(Membership, (user.id, group.id))
    if membership is None:
        return False
    session.delete(membership)
    session.flush()
    return True
