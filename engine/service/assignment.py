"""Who gets a task: users, group queues and their strategies, managers, next tiers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.store.instances import Task
from engine.store.people import Group, Membership, User


@dataclass(frozen=True, slots=True)
class Assignee:
    """The outcome of an assignment: a person, a group's queue, or both."""

    user: str | None = None
    group: str | None = None


def members(session: Session, group: str) -> list[str]:
    """Return the usernames of a group's active members, in a stable order."""
    return list(
        session.scalars(
            select(User.username)
            .join(Membership, Membership.user_id == User.id)
            .join(Group, Group.id == Membership.group_id)
            .where(Group.key == group, User.active.is_(True))
            .order_by(User.username)
        )
    )


def is_member(session: Session, username: str, group: str) -> bool:
    """Tell whether a user belongs to a group."""
    found = session.scalar(
        select(func.count())
        .select_from(Membership)
        .join(User, User.id == Membership.user_id)
        .join(Group, Group.id == Membership.group_id)
        .where(User.username == username, Group.key == group)
    )
    return bool(found)


def manager_of(session: Session, username: str | None) -> str | None:
    """Return the username of someone's manager, if both are known."""
    if not username:
        return None
    manager = session.scalar(
        select(User.manager_id).where(User.username == username, User.manager_id.is_not(None))
    )
    return session.scalar(select(User.username).where(User.id == manager)) if manager else None


def resolve(
    session: Session, assign: Mapping[str, Any], current: Assignee | None = None
) -> Assignee:
    """Turn an effect's `assign` block into an assignee and/or a candidate group."""
    if assign.get("next_tier"):
        group = current.group if current else None
        tier = _next_tier(session, group)
        return Assignee(None, tier or group)
    if assign.get("manager"):
        boss = manager_of(session, current.user if current else None)
        return Assignee(boss, current.group if current else None) if boss else current or Assignee()
    if "manager_of" in assign:
        return Assignee(manager_of(session, assign["manager_of"]))
    if "user" in assign:
        return Assignee(assign["user"] or None)
    if "group" in assign:
        return _from_group(session, assign["group"], assign.get("strategy", "claim"))
    if "on_call" in assign:
        # On-call schedules come with the scheduling work; until then the schedule's
        # group queue is the closest honest answer.
        return Assignee(None, assign["on_call"])
    return Assignee()


def _next_tier(session: Session, group: str | None) -> str | None:
    if not group:
        return None
    tier_id = session.scalar(select(Group.next_tier_id).where(Group.key == group))
    return session.scalar(select(Group.key).where(Group.id == tier_id)) if tier_id else None


def _from_group(session: Session, group: str, strategy: str) -> Assignee:
    if strategy == "claim":
        return Assignee(None, group)
    people = members(session, group)
    if not people:
        return Assignee(None, group)
    if strategy == "least_loaded":
        load = dict(
            session.execute(
                select(Task.assignee, func.count())
                .where(Task.assignee.in_(people), Task.status == "open")
                .group_by(Task.assignee)
            ).all()
        )
        return Assignee(min(people, key=lambda person: (load.get(person, 0), person)), group)
    query = select(Group).where(Group.key == group)
    if session.get_bind().dialect.name != "sqlite":
        query = query.with_for_update()  # two starts at once must not pick the same person
    row = session.scalars(query).one_or_none()
    last = row.last_assigned if row else None
    chosen = next((p for p in people if last is None or p > last), people[0])
    if row is not None:
        row.last_assigned = chosen
    return Assignee(chosen, group)
