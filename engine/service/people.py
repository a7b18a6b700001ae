"""Managing users, groups and memberships (minimal until the web app's admin pages)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.service.errors import InvalidInput, NotFound
from engine.store.people import Group, Membership, OnCallShift, User

ROLES = ("admin", "designer", "agent", "requester")


def ensure_group(session: Session, key: str, name: str = "", next_tier: str | None = None) -> Group:
    """Create a group, or update its name and next tier."""
    group = session.scalars(select(Group).where(Group.key == key)).one_or_none()
    if group is None:
        group = Group(key=key, name=name or key)
        session.add(group)
    elif name:
        group.name = name
    if next_tier is not None:
        if next_tier == key:
            raise InvalidInput(f"the group '{key}' cannot be its own next tier")
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
    """Create a user, or update the given fields; join the given groups."""
    unknown = sorted(set(roles or ()) - set(ROLES))
    if unknown:
        raise InvalidInput(f"unknown role(s) {', '.join(unknown)}; roles are {', '.join(ROLES)}")
    user = session.scalars(select(User).where(User.username == username)).one_or_none()
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
