"""Read-only questions: a user's tasks, an instance with its timeline."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from engine.service.errors import NotFound
from engine.store.instances import (
    Comment,
    Event,
    Instance,
    Task,
    Timer,
    apart_pattern,
    not_kept_apart,
)
from engine.store.people import Group, Membership, User


def groups_of(session: Session, username: str) -> list[str]:
    """Return the keys of the groups a user belongs to."""
    return list(
        session.scalars(
            select(Group.key)
            .join(Membership, Membership.group_id == Group.id)
            .join(User, User.id == Membership.user_id)
            .where(User.username == username)
            .order_by(Group.key)
        )
    )


def open_tasks(session: Session, user: str | None = None, limit: int = 200) -> list[Task]:
    """Return open tasks: all of them, or a user's own plus their groups' unclaimed ones
    (but those separation of duties keeps them from)."""
    query = select(Task).where(Task.status == "open")
    if user is not None:
        groups = groups_of(session, user)
        query = query.where(
            or_(
                Task.assignee == user,
                Task.delegated_by == user,
                Task.assignee.is_(None)
                & Task.candidate_group.in_(groups)
                & not_kept_apart(Task.kept_apart, apart_pattern(user)),
            )
        )
    return list(
        session.scalars(query.order_by(Task.due_at.is_(None), Task.due_at, Task.id).limit(limit))
    )


def instance_numbers(session: Session, ids: set[int]) -> dict[int, str]:
    """Return the numbers (`INC-000042`) of instances by id."""
    rows = session.execute(select(Instance.id, Instance.number).where(Instance.id.in_(ids)))
    return dict(rows.all())


def incidents_of(state: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Return what stopped on an incident in an instance's saved state: (where, why) pairs.

    `where` is the step that stopped, or "the <kind> SLA breach" for a breach whose
    `on_breach` actions stopped (its tasks stay open). `flowdesk retry` runs them again.
    """
    found = [
        (str(run.get("step")), str(run["incident"]))
        for run in state.get("runs", ())
        if run.get("incident")
    ]
    breaches = state.get("stopped_breaches") or {}
    found += [(f"the {kind} SLA breach", str(b["incident"])) for kind, b in breaches.items()]
    return found


def holder(task: Task) -> str:
    """Say who holds a task: a person, a group's queue, or the requester."""
    if task.assignee:
        return task.assignee
    if task.candidate_group:
        return f"queue {task.candidate_group}"
    return "the requester"


class TimelineEvent(Protocol):
    """An entry of an instance's timeline: a stored event, or the part of one a person sees."""

    @property
    def seq(self) -> int: ...

    @property
    def kind(self) -> str: ...

    @property
    def at(self) -> datetime: ...

    @property
    def step(self) -> str | None: ...

    @property
    def actor(self) -> str | None: ...

    @property
    def why(self) -> str | None: ...

    @property
    def detail(self) -> Mapping[str, Any] | None: ...


@dataclass(frozen=True, slots=True)
class InstanceView:
    """An instance as people look at it: row, open tasks, pending timers, timeline, comments."""

    instance: Instance
    tasks: list[Task]
    timers: list[Timer]
    #: Its timeline, or the entries of it the person asking may see (see `Desk`).
    events: Sequence[TimelineEvent]
    #: Its comments, or the public ones for a person who is not an agent.
    comments: list[Comment]
    #: The instance's data, or the part of it the person asking may see (see `Desk`).
    data: Mapping[str, Any]


def instance_view(session: Session, number: str) -> InstanceView:
    """Return everything about one instance, by its number."""
    instance = session.scalars(select(Instance).where(Instance.number == number)).one_or_none()
    if instance is None:
        raise NotFound(f"there is no instance {number}")
    where = instance.id
    return InstanceView(
        instance,
        list(session.scalars(select(Task).where(Task.instance_id == where, Task.status == "open"))),
        list(
            session.scalars(
                select(Timer)
                .where(Timer.instance_id == where, Timer.status == "pending")
                .order_by(Timer.due_at)
            )
        ),
        list(session.scalars(select(Event).where(Event.instance_id == where).order_by(Event.seq))),
        list(
            session.scalars(
                select(Comment).where(Comment.instance_id == where).order_by(Comment.id)
            )
        ),
        instance.state.get("data") or {},
    )
