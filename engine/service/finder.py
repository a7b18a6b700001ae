"""Finding instances: one list of every instance a person may see, by filter, sort and page.

The filters come read and checked, as a `Query` (`engine.service.filters`); this module
turns them into SQL and reads the page.

Who sees what follows ADR 21: agents see every instance; anyone else those they
requested or hold (or held) a task on, and finds no word of an internal note.

Pages are read by seek (keyset), not OFFSET: a cursor says where the last page ended
(its sort value and id), and the next page starts from there through an index that ends
in the id, so page 4,000 costs what page 1 does.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    false,
    func,
    literal,
    literal_column,
    or_,
    select,
    tuple_,
)
from sqlalchemy.orm import Session

from engine.service.commands import Commands
from engine.service.errors import NotFound
from engine.service.filters import DEFAULT_SORT, Query, Range, cursor_after, parse_sort, read_cursor
from engine.service.person import PERSON_COLUMNS, WITH_GROUPS, Person, person_of
from engine.service.worklist import BREACHED, DUE_SOON, SLA_DUE, sla_state
from engine.store.instances import Instance, Task
from engine.store.search import matching

#: The most rows a page holds, and the rows counted before a total says "more than".
MAX_PAGE = 200
COUNT_LIMIT = 10_000
#: The most rows a CSV export writes, and how many it reads at a time.
EXPORT_LIMIT = 100_000
EXPORT_BATCH = 500


# Answers ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ListItem:
    """One line of the instance list."""

    id: int
    number: str
    title: str
    workflow: str
    status: str
    priority: str | None
    requester: str | None
    started_at: datetime
    updated_at: datetime
    ended_at: datetime | None
    response_due_at: datetime | None
    resolution_due_at: datetime | None
    response_breached: bool
    resolution_breached: bool
    #: The key of the service it is filed under (an incident's), or None.
    service: str | None = None
    #: Who holds its open tasks: usernames, or "queue <group>" for unclaimed ones.
    holders: tuple[str, ...] = ()
    #: The steps of its open tasks.
    steps: tuple[str, ...] = ()

    def sla_state(self, now: datetime, kind: str | None = None) -> str:
        """Where its SLA stands (breached, due_soon, on_track, none), or one clock's."""
        if kind is not None:
            return sla_state(
                getattr(self, f"{kind}_due_at"), getattr(self, f"{kind}_breached"), now
            )
        dues = [d for d in (self.response_due_at, self.resolution_due_at) if d is not None]
        breached = self.response_breached or self.resolution_breached
        return sla_state(min(dues) if dues else None, breached, now)

    @property
    def sla_due_at(self) -> datetime | None:
        dues = [d for d in (self.response_due_at, self.resolution_due_at) if d is not None]
        return min(dues) if dues else None


@dataclass(frozen=True, slots=True)
class Found:
    """A page of the list: its rows, the cursor of the next page, and how many match."""

    items: list[ListItem]
    next: str | None
    total: int
    #: False when more than `COUNT_LIMIT` match: `total` then says "at least".
    exact: bool


# The statements --------------------------------------------------------------------------------

_i = Instance.__table__.c
_t = Task.__table__.c
_OPEN = _t.status == literal_column("'open'")
_COLUMNS = (
    _i.id,
    _i.number,
    _i.title,
    _i.workflow_key,
    _i.status,
    _i.priority,
    _i.requester,
    _i.started_at,
    _i.updated_at,
    _i.ended_at,
    _i.response_due_at,
    _i.resolution_due_at,
    _i.response_breached,
    _i.resolution_breached,
    _i.service_key,
)
_SORT_COLUMNS: dict[str, Any] = {
    "number": _i.id,
    "created": _i.id,  # instances are numbered as they start
    "updated": _i.updated_at,
    "priority": _i.priority,
    "status": _i.status,
}


def _with_open_task(condition: ColumnElement[bool]) -> ColumnElement[bool]:
    return _i.id.in_(select(_t.instance_id).where(_OPEN, condition))


def visible_to(person: Person) -> ColumnElement[bool] | None:
    """The instances a person may see (ADR 21): None, no condition, for the service desk."""
    if person.is_agent:
        return None
    me = person.username
    theirs = select(_t.instance_id).where(
        or_(_t.assignee == me, _t.delegated_by == me, _t.completed_by == me)
    )
    return or_(_i.requester == me, _i.id.in_(theirs))


def _sla_condition(kind: str | None, state: str, at: datetime) -> ColumnElement[bool]:
    due: ColumnElement[Any]
    breached: ColumnElement[Any]
    if kind is None:
        due, breached = SLA_DUE, BREACHED
    else:
        due, breached = _i[f"{kind}_due_at"], _i[f"{kind}_breached"]
    soon = at + DUE_SOON
    return {
        "breached": or_(breached, due <= at),
        "due_soon": and_(~breached, due > at, due <= soon),
        "on_track": and_(~breached, due > soon),
        "none": and_(~breached, due.is_(None)),
    }[state]


def _range_condition(column: Any, span: Range) -> ColumnElement[bool]:
    parts = []
    if span.start is not None:
        parts.append(column >= span.start)
    if span.end is not None:
        parts.append(column < span.end)
    return and_(*parts)


def conditions(
    query: Query, person: Person, at: datetime, dialect: str
) -> list[ColumnElement[bool]]:
    """The conditions of a query, as `person` asks it (`me`, `mine` are theirs)."""
    found: list[ColumnElement[bool]] = []
    seen = visible_to(person)
    if seen is not None:
        found.append(seen)
    for name, column in (
        ("workflow", _i.workflow_key),
        ("service", _i.service_key),
        ("status", _i.status),
    ):
        if getattr(query, name):
            found.append(column.in_(getattr(query, name)))
    if query.priority:
        found.append(_i.priority.in_(query.priority))
    if query.requester:
        names = [person.username if n == "me" else n for n in query.requester]
        found.append(_i.requester.in_(names))
    if query.step:
        found.append(_with_open_task(_t.step.in_(query.step)))
    if query.assignee:
        names = [person.username if n == "me" else n for n in query.assignee if n != "none"]
        held = [_t.assignee.in_(names)] if names else []
        if "none" in query.assignee:
            held.append(_t.assignee.is_(None))
        found.append(_with_open_task(or_(*held)))
    if query.group:
        groups = {g for g in query.group if g != "mine"}
        if "mine" in query.group:
            groups |= person.groups
        found.append(_with_open_task(_t.candidate_group.in_(sorted(groups))) if groups else false())
    if query.sla:
        found.append(or_(*(_sla_condition(kind, state, at) for kind, state in query.sla)))
    for name, column in (
        ("created", _i.started_at),
        ("updated", _i.updated_at),
        ("ended", _i.ended_at),
    ):
        span = getattr(query, name)
        if span is not None:
            found.append(_range_condition(column, span))
    if query.text:
        match = matching(dialect, query.text, internal=person.is_agent)
        if match is not None:
            found.append(match)
    return found


def _page_statements(
    where: list[ColumnElement[bool]], sort: str, after: tuple[Any, int] | None, limit: int
) -> list[Select[Any]]:
    """The statements of one page, in order: non-empty values of the sort column, then the
    rows without one (by id), each a range of an index ending in the id."""
    column_name, down = sort.lstrip("-"), sort.startswith("-")
    column = _SORT_COLUMNS[column_name]
    by_id = _i.id.desc() if down else _i.id.asc()
    if column is _i.id:
        bound = [] if after is None else [_i.id < after[1] if down else _i.id > after[1]]
        return [select(*_COLUMNS).where(*where, *bound).order_by(by_id).limit(limit)]
    statements = []
    nulls_bound: list[ColumnElement[bool]] = []
    if after is None or after[0] is not None:
        bound = []
        if after is not None:
            value = literal(after[0], type_=column.type)
            here = tuple_(column, _i.id)
            there = tuple_(value, literal(after[1], type_=_i.id.type))
            bound = [here < there if down else here > there]
        order = (column.desc(), by_id) if down else (column.asc(), by_id)
        statements.append(
            select(*_COLUMNS)
            .where(*where, column.is_not(None), *bound)
            .order_by(*order)
            .limit(limit)
        )
    else:
        nulls_bound = [_i.id < after[1] if down else _i.id > after[1]]
    if column_name == "priority":  # the only sort column that may be empty
        statements.append(
            select(*_COLUMNS)
            .where(*where, column.is_(None), *nulls_bound)
            .order_by(by_id)
            .limit(limit)
        )
    return statements


def _offset_statement(
    where: list[ColumnElement[bool]], sort: str, offset: int, limit: int
) -> Select[Any]:
    """A page by OFFSET, in the order the seek pages run (empty values last)."""
    column, down = _SORT_COLUMNS[sort.lstrip("-")], sort.startswith("-")
    order = (column.desc(), _i.id.desc()) if down else (column.asc(), _i.id.asc())
    first = () if column is _i.id else (column.is_(None),)
    return select(*_COLUMNS).where(*where).order_by(*first, *order).offset(offset).limit(limit)


def _sort_value(item: ListItem, sort: str) -> Any:
    name = sort.lstrip("-")
    return {
        "number": None,
        "created": None,
        "updated": item.updated_at,
        "priority": item.priority,
        "status": item.status,
    }[name]


class Finder:
    """The instance list, as a person may see it, over the commands' database."""

    def __init__(self, commands: Commands) -> None:
        self.commands = commands

    def find(
        self,
        person: Person,
        query: Query,
        *,
        sort: str = DEFAULT_SORT,
        cursor: str | None = None,
        limit: int = 25,
        offset: int = 0,
        count: bool = True,
    ) -> Found:
        """Return one page of the instances that match, and the cursor of the next page.

        `offset` (without a cursor) skips rows the slow way, for clients that page by
        number; the cursor of its page continues by seek.
        """
        column, down = parse_sort(sort)
        sort = f"-{column}" if down else column
        after = read_cursor(cursor, sort) if cursor else None
        limit = max(1, min(limit, MAX_PAGE))
        at = self.commands.clock()

        def read(session: Session) -> Found:
            where = conditions(query, person, at, session.get_bind().dialect.name)
            rows: list[Any] = []
            if offset > 0 and after is None:
                rows = list(session.execute(_offset_statement(where, sort, offset, limit + 1)))
            else:
                for statement in _page_statements(where, sort, after, limit + 1):
                    rows += session.execute(statement.limit(limit + 1 - len(rows))).all()
                    if len(rows) > limit:
                        break
            items = _with_tasks(session, [ListItem(*row) for row in rows[:limit]])
            total, exact = _count(session, where) if count else (0, False)
            following = None
            if len(rows) > limit:
                last = items[-1]
                following = cursor_after(sort, _sort_value(last, sort), last.id)
            return Found(items, following, total, exact)

        found: Found = self.commands.read(read)
        return found

    def person(self, username: str) -> Person:
        """Return an active user as a `Person` (for the command line); NotFound if none."""

        def read(session: Session) -> Person | None:
            statement = select(*PERSON_COLUMNS).select_from(WITH_GROUPS)
            rows = session.execute(statement.where(PERSON_COLUMNS[1] == username)).all()
            return person_of(rows)

        found: Person | None = self.commands.read(read)
        if found is None:
            raise NotFound(f"there is no active user {username}")
        return found

    def rows(self, person: Person, query: Query, *, sort: str = DEFAULT_SORT) -> Iterator[ListItem]:
        """Yield every matching instance, page by page (at most `EXPORT_LIMIT`)."""
        cursor: str | None = None
        given = 0
        while given < EXPORT_LIMIT:
            page = self.find(
                person, query, sort=sort, cursor=cursor, limit=EXPORT_BATCH, count=False
            )
            yield from page.items[: EXPORT_LIMIT - given]
            given += len(page.items)
            if page.next is None:
                return
            cursor = page.next


def _count(session: Session, where: list[ColumnElement[bool]]) -> tuple[int, bool]:
    """Count what matches, up to `COUNT_LIMIT` (more says "at least", cheaply)."""
    matching_rows = select(literal(1)).select_from(Instance.__table__).where(*where)
    capped = matching_rows.limit(COUNT_LIMIT + 1).subquery()
    total = int(session.scalar(select(func.count()).select_from(capped)) or 0)
    return min(total, COUNT_LIMIT), total <= COUNT_LIMIT


def _with_tasks(session: Session, items: list[ListItem]) -> list[ListItem]:
    """Add who holds each instance's open tasks and at which steps, in one statement."""
    if not items:
        return items
    holders: dict[int, list[str]] = {}
    steps: dict[int, list[str]] = {}
    rows = session.execute(
        select(_t.instance_id, _t.assignee, _t.candidate_group, _t.step)
        .where(_OPEN, _t.instance_id.in_([item.id for item in items]))
        .order_by(_t.id)
    )
    for instance_id, assignee, group, step in rows:
        who = assignee or (f"queue {group}" if group else None)
        if who and who not in holders.setdefault(instance_id, []):
            holders[instance_id].append(who)
        if step not in steps.setdefault(instance_id, []):
            steps[instance_id].append(step)
    return [
        replace(item, holders=tuple(holders.get(item.id, ())), steps=tuple(steps.get(item.id, ())))
        for item in items
    ]
