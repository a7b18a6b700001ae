"""What agents look at all day: their tasks, their groups' queues, and instances by filter.

Lists are ordered by the time left before an SLA breaks: the nearer of the
instance's running response and resolution deadlines, then the task's own due
time. Breached work sorts first (its deadline has passed). Work without any
deadline comes last, oldest first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, func, literal_column, or_, select
from sqlalchemy.orm import Session

from engine.service.accounts import Person
from engine.store.instances import Instance, Task

#: Work whose SLA deadline is nearer than this is "due soon".
DUE_SOON = timedelta(hours=1)
#: The most rows one page of a list holds.
MAX_PAGE = 200
SLA_STATES = ("breached", "due_soon", "on_track", "none")

_response = Instance.response_due_at
_resolution = Instance.resolution_due_at
#: The nearer running SLA deadline of an instance (NULL when no clock runs).
SLA_DUE = case(
    (_response.is_(None), _resolution),
    (_resolution.is_(None), _response),
    (_response < _resolution, _response),
    else_=_resolution,
)
BREACHED = or_(Instance.response_breached, Instance.resolution_breached)
#: Open tasks, said as a literal: the partial indexes on tasks hold only these, and SQLite
#: uses a partial index only when the query repeats its condition word for word.
OPEN = Task.status == literal_column("'open'")


@dataclass(frozen=True, slots=True)
class Filters:
    """What a list is narrowed to; None means any."""

    workflow: str | None = None
    priority: str | None = None
    sla: str | None = None  # one of SLA_STATES
    status: str | None = None
    requester: str | None = None
    text: str | None = None  # in the number or title


@dataclass(frozen=True, slots=True)
class TaskItem:
    """One line of an inbox or a queue."""

    id: int
    title: str
    step: str
    form: str | None
    outcomes: list[str]
    assignee: str | None
    group: str | None
    due_at: datetime | None
    created_at: datetime
    number: str
    instance_title: str
    workflow: str
    priority: str | None
    status: str
    sla_due_at: datetime | None
    breached: bool

    def sla_state(self, now: datetime) -> str:
        return sla_state(self.sla_due_at, self.breached, now)

    def to_json(self, now: datetime) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "step": self.step,
            "form": self.form,
            "outcomes": self.outcomes,
            "assignee": self.assignee,
            "group": self.group,
            "due_at": _iso(self.due_at),
            "created_at": _iso(self.created_at),
            "instance": self.number,
            "instance_title": self.instance_title,
            "workflow": self.workflow,
            "priority": self.priority,
            "status": self.status,
            "sla_due_at": _iso(self.sla_due_at),
            "sla_state": self.sla_state(now),
        }


def sla_state(due: datetime | None, breached: bool, now: datetime) -> str:
    """Say where an SLA stands: breached, due soon, on track, or none running."""
    if breached or (due is not None and due <= now):
        return "breached"
    if due is None:
        return "none"
    return "due_soon" if due - now <= DUE_SOON else "on_track"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


_TASK_COLUMNS = (
    Task.id,
    Task.title,
    Task.step,
    Task.form,
    Task.outcomes,
    Task.assignee,
    Task.candidate_group,
    Task.due_at,
    Task.created_at,
    Instance.number,
    Instance.title,
    Instance.workflow_key,
    Instance.priority,
    Instance.status,
    SLA_DUE.label("sla_due_at"),
    BREACHED.label("breached"),
)


#: Open tasks with their instances' columns; built once, as every inbox page starts from it.
_OPEN_TASKS = select(*_TASK_COLUMNS).join(Instance, Instance.id == Task.instance_id).where(OPEN)


def _filtered(query: Select[Any], filters: Filters, now: datetime) -> Select[Any]:
    if filters.workflow:
        query = query.where(Instance.workflow_key == filters.workflow)
    if filters.priority:
        query = query.where(Instance.priority == filters.priority)
    if filters.status:
        query = query.where(Instance.status == filters.status)
    if filters.requester:
        query = query.where(Instance.requester == filters.requester)
    if filters.text:
        pattern = f"%{filters.text.strip()}%"
        query = query.where(or_(Instance.number.ilike(pattern), Instance.title.ilike(pattern)))
    if filters.sla == "breached":
        query = query.where(or_(BREACHED, now >= SLA_DUE))
    elif filters.sla == "due_soon":
        query = query.where(~BREACHED, now < SLA_DUE, now + DUE_SOON >= SLA_DUE)
    elif filters.sla == "on_track":
        query = query.where(~BREACHED, now + DUE_SOON < SLA_DUE)
    elif filters.sla == "none":
        query = query.where(~BREACHED, SLA_DUE.is_(None))
    return query


def _by_time_left(query: Select[Any]) -> Select[Any]:
    # The order is kept on each open task's row (apply.sort_key), so a queue's index
    # hands a page over in order.
    return query.order_by(Task.sort_rank, Task.sort_at, Task.id)


def _page(query: Select[Any], limit: int, offset: int) -> Select[Any]:
    return query.limit(max(1, min(limit, MAX_PAGE))).offset(max(0, offset))


def _listed(
    who: ColumnElement[bool], filters: Filters, now: datetime, limit: int, offset: int
) -> Select[Any]:
    """A page of open tasks, nearest breach first, with their instances' columns.

    The page's task ids are picked first, from the tasks alone unless a filter asks about
    their instances, and only those are joined to their instances: joining an agent's
    200 open tasks before keeping 25 was most of the list's time on PostgreSQL.
    """
    ids = select(Task.id).where(OPEN, who)
    if filters != Filters():  # every filter is about the instance
        ids = _filtered(ids.join(Instance, Instance.id == Task.instance_id), filters, now)
    page = _page(_by_time_left(ids), limit, offset)
    return _by_time_left(_OPEN_TASKS.where(Task.id.in_(page.scalar_subquery())))


def my_tasks(
    session: Session,
    person: Person,
    now: datetime,
    filters: Filters | None = None,
    *,
    limit: int = 50,
    offset: int = 0,
) -> list[TaskItem]:
    """Return the open tasks a person holds (or delegated), nearest SLA breach first."""
    who = or_(Task.assignee == person.username, Task.delegated_by == person.username)
    query = _listed(who, filters or Filters(), now, limit, offset)
    return [TaskItem(*row) for row in session.execute(query)]


def queue(
    session: Session,
    person: Person,
    now: datetime,
    filters: Filters | None = None,
    *,
    group: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[TaskItem]:
    """Return the unclaimed tasks of a person's groups (or one of them), nearest breach first."""
    groups = sorted(person.groups if group is None else person.groups & {group})
    if not groups:
        return []
    who = and_(Task.assignee.is_(None), Task.candidate_group.in_(groups))
    query = _listed(who, filters or Filters(), now, limit, offset)
    return [TaskItem(*row) for row in session.execute(query)]


def total_tasks(
    session: Session,
    person: Person,
    now: datetime,
    filters: Filters | None = None,
    *,
    view: str = "mine",
    group: str | None = None,
) -> int:
    """Return how many tasks `my_tasks` (view "mine") or `queue` would list over all pages."""
    query = select(Task.id).join(Instance, Instance.id == Task.instance_id)
    query = query.where(OPEN)
    if view == "mine":
        query = query.where(
            or_(Task.assignee == person.username, Task.delegated_by == person.username)
        )
    else:
        groups = sorted(person.groups if group is None else person.groups & {group})
        if not groups:
            return 0
        query = query.where(Task.assignee.is_(None), Task.candidate_group.in_(groups))
    query = _filtered(query, filters or Filters(), now)
    return int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)


def counts(session: Session, person: Person) -> dict[str, int]:
    """Return how many open tasks a person holds and how many wait in their groups' queues."""
    mine = (
        select(func.count())
        .select_from(Task)
        .where(OPEN, or_(Task.assignee == person.username, Task.delegated_by == person.username))
    )
    queued = (
        select(func.count())
        .select_from(Task)
        .where(OPEN, Task.assignee.is_(None), Task.candidate_group.in_(sorted(person.groups)))
    )
    # One statement, one round trip; each count still reads its own index.
    row = session.execute(select(mine.scalar_subquery(), queued.scalar_subquery())).one()
    return {"mine": int(row[0] or 0), "queue": int(row[1] or 0) if person.groups else 0}


@dataclass(frozen=True, slots=True)
class InstanceItem:
    """One line of a list of instances."""

    number: str
    title: str
    workflow: str
    status: str
    priority: str | None
    requester: str | None
    started_at: datetime
    ended_at: datetime | None
    sla_due_at: datetime | None
    breached: bool

    def to_json(self, now: datetime) -> dict[str, Any]:
        return {
            "number": self.number,
            "title": self.title,
            "workflow": self.workflow,
            "status": self.status,
            "priority": self.priority,
            "requester": self.requester,
            "started_at": _iso(self.started_at),
            "ended_at": _iso(self.ended_at),
            "sla_due_at": _iso(self.sla_due_at),
            "sla_state": sla_state(self.sla_due_at, self.breached, now),
        }


def instances(
    session: Session,
    now: datetime,
    filters: Filters | None = None,
    *,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[InstanceItem], int]:
    """Return one page of instances, newest first, and how many match in all."""
    query = select(
        Instance.number,
        Instance.title,
        Instance.workflow_key,
        Instance.status,
        Instance.priority,
        Instance.requester,
        Instance.started_at,
        Instance.ended_at,
        SLA_DUE.label("sla_due_at"),
        BREACHED.label("breached"),
    )
    query = _filtered(query, filters or Filters(), now)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.execute(_page(query.order_by(Instance.id.desc()), limit, offset))
    return [InstanceItem(*row) for row in rows], int(total)


def may_see_instance(session: Session, person: Person, number: str) -> bool:
    """Tell whether a person may look at an instance.

    Admins and agents see every instance (the service desk works across teams);
    anyone else sees the instances they requested and those with a task of theirs.
    """
    if person.is_agent:
        return True
    found = session.scalar(
        select(Instance.id).where(
            Instance.number == number,
            or_(
                Instance.requester == person.username,
                Instance.id.in_(
                    select(Task.instance_id).where(
                        and_(
                            or_(
                                Task.assignee == person.username,
                                Task.delegated_by == person.username,
                                Task.completed_by == person.username,
                            )
                        )
                    )
                ),
            ),
        )
    )
    return found is not None
