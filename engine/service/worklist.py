"""What agents look at all day: their tasks, their groups' queues, and instances by filter.

Lists are ordered by the time left before an SLA breaks: the nearer of the
instance's running response and resolution deadlines, then the task's own due
time. Breached work sorts first (its deadline has passed). Work without any
deadline comes last, oldest first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    String,
    and_,
    bindparam,
    case,
    func,
    literal_column,
    or_,
    select,
)
from sqlalchemy.orm import Session

from engine.service.person import Person
from engine.store.instances import Instance, Task, apart_pattern, not_kept_apart

#: Work whose SLA deadline is nearer than this is "due soon".
DUE_SOON = timedelta(hours=1)
#: The most rows one page of a list holds.
MAX_PAGE = 200
SLA_STATES = ("breached", "due_soon", "on_track", "none")

#: The tables' columns: the lists are Core statements (see `_task_page`).
_tasks = Task.__table__.c
_instances = Instance.__table__.c
_response = _instances.response_due_at
_resolution = _instances.resolution_due_at
#: The nearer running SLA deadline of an instance (NULL when no clock runs).
SLA_DUE = case(
    (_response.is_(None), _resolution),
    (_resolution.is_(None), _response),
    (_response < _resolution, _response),
    else_=_resolution,
)
BREACHED = or_(_instances.response_breached, _instances.resolution_breached)
#: Open tasks, said as a literal: the partial indexes on tasks hold only these, and SQLite
#: uses a partial index only when the query repeats its condition word for word.
OPEN = _tasks.status == literal_column("'open'")


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


# The lists are Core statements over the tables, built once per form and cached: building
# a statement, its cache key and ORM row loading were a third of an inbox page's Python.
# A form is a list's view and which filters are set; the values go in as parameters.

_TASK_COLUMNS = (
    _tasks.id,
    _tasks.title,
    _tasks.step,
    _tasks.form,
    _tasks.outcomes,
    _tasks.assignee,
    _tasks.candidate_group,
    _tasks.due_at,
    _tasks.created_at,
    _instances.number,
    _instances.title,
    _instances.workflow_key,
    _instances.priority,
    _instances.status,
    SLA_DUE.label("sla_due_at"),
    BREACHED.label("breached"),
)
_TASKS_WITH_INSTANCES = Task.__table__.join(Instance.__table__, _instances.id == _tasks.instance_id)
#: Whose tasks a view lists: a person's own (held or delegated), or their groups' queue.
_WHO = {
    "mine": or_(
        _tasks.assignee == bindparam("username"), _tasks.delegated_by == bindparam("username")
    ),
    # A queue leaves out the tasks separation of duties keeps the person from.
    "queue": and_(
        _tasks.assignee.is_(None),
        _tasks.candidate_group.in_(bindparam("groups", expanding=True)),
        not_kept_apart(_tasks.kept_apart, bindparam("apart", type_=String())),
    ),
}
_NOW = bindparam("now", type_=_instances.response_due_at.type)
_SOON = bindparam("soon", type_=_instances.response_due_at.type)  # now + DUE_SOON
_PATTERN = bindparam("pattern", type_=String())
#: The condition of each filter, by name ("sla:" and the state for the SLA filter).
_CONDITIONS: dict[str, ColumnElement[bool]] = {
    "workflow": _instances.workflow_key == bindparam("workflow"),
    "priority": _instances.priority == bindparam("priority"),
    "status": _instances.status == bindparam("status"),
    "requester": _instances.requester == bindparam("requester"),
    "text": or_(_instances.number.ilike(_PATTERN), _instances.title.ilike(_PATTERN)),
    "sla:breached": or_(BREACHED, _NOW >= SLA_DUE),
    "sla:due_soon": and_(~BREACHED, _NOW < SLA_DUE, _SOON >= SLA_DUE),
    "sla:on_track": and_(~BREACHED, _SOON < SLA_DUE),
    "sla:none": and_(~BREACHED, SLA_DUE.is_(None)),
}
_VALUE_FILTERS = ("workflow", "priority", "status", "requester", "text")
_LIMIT = bindparam("limit", type_=Integer)
_OFFSET = bindparam("offset", type_=Integer)
#: Nearest breach first: the order is kept on each open task's row (apply.sort_key), so
#: a queue's index hands a page over in order.
_BY_TIME_LEFT = (_tasks.sort_rank, _tasks.sort_at, _tasks.id)


def _form(filters: Filters) -> tuple[str, ...]:
    """Name the filters that are set: what a list's statement depends on besides its view."""
    form = tuple(name for name in _VALUE_FILTERS if getattr(filters, name))
    return (*form, f"sla:{filters.sla}") if filters.sla in SLA_STATES else form


def _values(filters: Filters, now: datetime, **more: Any) -> dict[str, Any]:
    """The parameters of any list's statement (each takes those it names)."""
    text = filters.text.strip() if filters.text else ""
    return {
        "workflow": filters.workflow,
        "priority": filters.priority,
        "status": filters.status,
        "requester": filters.requester,
        "pattern": f"%{text}%",
        "now": now,
        "soon": now + DUE_SOON,
        **more,
    }


def _where(form: tuple[str, ...]) -> list[ColumnElement[bool]]:
    return [_CONDITIONS[name] for name in form]


@cache
def _task_page(view: str, form: tuple[str, ...]) -> Select[Any]:
    """A page of a view's open tasks, nearest breach first, with their instances' columns.

    The page's task ids are picked first, from the tasks alone unless a filter asks about
    their instances, and only those are joined to their instances: joining an agent's
    200 open tasks before keeping 25 was most of the list's time on PostgreSQL.
    """
    ids = select(_tasks.id).where(OPEN, _WHO[view], *_where(form))
    if form:  # every filter is about the instance
        ids = ids.select_from(_TASKS_WITH_INSTANCES)
    page = ids.order_by(*_BY_TIME_LEFT).limit(_LIMIT).offset(_OFFSET).scalar_subquery()
    return (
        select(*_TASK_COLUMNS)
        .select_from(_TASKS_WITH_INSTANCES)
        .where(OPEN, _tasks.id.in_(page))
        .order_by(*_BY_TIME_LEFT)
    )


@cache
def _task_total(view: str, form: tuple[str, ...]) -> Select[Any]:
    where = [OPEN, _WHO[view], *_where(form)]
    if not form:
        return select(func.count()).select_from(Task.__table__).where(*where)
    return select(func.count()).select_from(_TASKS_WITH_INSTANCES).where(*where)


def _whom(person: Person) -> dict[str, str]:
    """The parameters that say whose lists they are: "mine" and a queue's kept apart."""
    return {"username": person.username, "apart": apart_pattern(person.username)}


def _page_values(limit: int, offset: int) -> dict[str, int]:
    return {"limit": max(1, min(limit, MAX_PAGE)), "offset": max(0, offset)}


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
    filters = filters or Filters()
    values = _values(filters, now, username=person.username, **_page_values(limit, offset))
    rows = session.execute(_task_page("mine", _form(filters)), values)
    return [TaskItem(*row) for row in rows]


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
    filters = filters or Filters()
    values = _values(filters, now, groups=groups, **_whom(person), **_page_values(limit, offset))
    rows = session.execute(_task_page("queue", _form(filters)), values)
    return [TaskItem(*row) for row in rows]


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
    groups = sorted(person.groups if group is None else person.groups & {group})
    if view != "mine" and not groups:
        return 0
    filters = filters or Filters()
    values = _values(filters, now, groups=groups, **_whom(person))
    statement = _task_total("mine" if view == "mine" else "queue", _form(filters))
    return int(session.scalar(statement, values) or 0)


#: How many open tasks a person holds and how many wait in their groups' queues: one
#: statement, one round trip; each count still reads its own index.
_COUNTS = select(
    _task_total("mine", ()).scalar_subquery(), _task_total("queue", ()).scalar_subquery()
)


def counts(session: Session, person: Person) -> dict[str, int]:
    """Return how many open tasks a person holds and how many wait in their groups' queues."""
    groups = sorted(person.groups)
    row = session.execute(_COUNTS, {"groups": groups, **_whom(person)}).one()
    return {"mine": int(row[0] or 0), "queue": int(row[1] or 0) if groups else 0}


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
    filters = filters or Filters()
    form = _form(filters)
    values = _values(filters, now, **_page_values(limit, offset))
    total = session.scalar(_instance_total(form), values) or 0
    rows = session.execute(_instance_page(form), values)
    return [InstanceItem(*row) for row in rows], int(total)


@cache
def _instance_page(form: tuple[str, ...]) -> Select[Any]:
    return (
        select(
            _instances.number,
            _instances.title,
            _instances.workflow_key,
            _instances.status,
            _instances.priority,
            _instances.requester,
            _instances.started_at,
            _instances.ended_at,
            SLA_DUE.label("sla_due_at"),
            BREACHED.label("breached"),
        )
        .where(*_where(form))
        .order_by(_instances.id.desc())
        .limit(_LIMIT)
        .offset(_OFFSET)
    )


@cache
def _instance_total(form: tuple[str, ...]) -> Select[Any]:
    return select(func.count()).select_from(Instance.__table__).where(*_where(form))


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
