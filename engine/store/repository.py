"""The command path's reads and writes, in SQLAlchemy Core with statements built once.

Commands touch a handful of rows each, many times a second; building SQL
expressions and running the ORM's unit of work cost more than the SQL itself
there. Every statement below is built once with bind parameters (SQLAlchemy then
caches its compiled form) and runs on the unit of work's connection, inside its
transaction and under its locks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, bindparam, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from engine.store.definitions import Definition, DefinitionVersion
from engine.store.instances import (
    Command,
    Comment,
    Counter,
    Event,
    Instance,
    Outbox,
    StepRun,
    Task,
    Timer,
)
from engine.store.people import Group, Membership, User

instances = Instance.__table__
tasks = Task.__table__
events = Event.__table__
timers = Timer.__table__
outbox = Outbox.__table__
step_runs = StepRun.__table__
commands = Command.__table__
comments = Comment.__table__
counters = Counter.__table__
users = User.__table__
groups = Group.__table__
memberships = Membership.__table__
definitions = Definition.__table__
versions = DefinitionVersion.__table__


@dataclass(slots=True)
class InstanceRow:
    """The columns of an instance a command needs."""

    id: int
    number: str
    workflow_version_id: int
    state: dict[str, Any]
    version: int
    last_event: int
    requester: str | None
    status: str
    ended_at: datetime | None


@dataclass(slots=True)
class TaskRow:
    """The columns of a task a command needs."""

    id: int
    instance_id: int
    key: str
    step: str
    status: str
    assignee: str | None
    candidate_group: str | None
    delegated_by: str | None
    assignment: dict[str, Any]
    outcome: str | None
    completed_by: str | None


def _columns(table: Any, row_type: type) -> list[Any]:
    return [table.c[f.name] for f in fields(row_type)]


def _setter(table: Any, key: str, names: Sequence[str]) -> Any:
    """An UPDATE of `names` on the row whose `id` is bound as `key`."""
    return (
        update(table).where(table.c.id == bindparam(key)).values({n: bindparam(n) for n in names})
    )


_INSTANCE = select(*_columns(instances, InstanceRow)).where(instances.c.id == bindparam("id"))
_INSTANCE_LOCKED = _INSTANCE.with_for_update()
_INSTANCE_OF_TASK = select(*_columns(instances, InstanceRow)).where(
    instances.c.id
    == select(tasks.c.instance_id).where(tasks.c.id == bindparam("task")).scalar_subquery()
)
_INSTANCE_OF_TASK_LOCKED = _INSTANCE_OF_TASK.with_for_update()
_INSTANCE_ID = select(instances.c.id).where(instances.c.number == bindparam("number"))
_ADD_INSTANCE = insert(instances).returning(instances.c.id)
_SAVE_STATE = _setter(
    instances,
    "row",
    ("state", "status", "title", "priority", "ended_at", "updated_at", "version", "last_event"),
)
_TOUCH = _setter(instances, "row", ("last_event", "updated_at"))

_TASK = select(*_columns(tasks, TaskRow)).where(tasks.c.id == bindparam("id"))
_TASK_BY_KEY = select(*_columns(tasks, TaskRow)).where(
    tasks.c.instance_id == bindparam("instance"), tasks.c.key == bindparam("key")
)
_TASK_INSTANCE = select(tasks.c.instance_id).where(tasks.c.id == bindparam("id"))
_ADD_TASK = insert(tasks).returning(tasks.c.id)
_COMPLETE_TASK = _setter(
    tasks, "row", ("status", "outcome", "data", "completed_at", "completed_by")
)
_ASSIGN_TASK = _setter(tasks, "row", ("assignee", "candidate_group", "delegated_by"))
_REASSIGN_TASK = _setter(
    tasks, "row", ("assignment", "assignee", "candidate_group", "delegated_by")
)
_CANCEL_TASK = (
    update(tasks)
    .where(
        tasks.c.instance_id == bindparam("instance"),
        tasks.c.key == bindparam("task_key"),
        tasks.c.status == "open",
    )
    .values(status="cancelled", completed_at=bindparam("at"))
    .returning(tasks.c.id)
)
_OPEN_LOAD = (
    select(tasks.c.assignee, func.count())
    .where(tasks.c.assignee.in_(bindparam("people", expanding=True)), tasks.c.status == "open")
    .group_by(tasks.c.assignee)
)

_TIMER = select(timers.c.instance_id, timers.c.key, timers.c.status, timers.c.due_at).where(
    timers.c.id == bindparam("id")
)
_ADD_TIMERS = insert(timers)
_FIRE_TIMER = _setter(timers, "row", ("status", "fired_at"))
_CANCEL_TIMER = (
    update(timers)
    .where(
        timers.c.instance_id == bindparam("instance"),
        timers.c.key == bindparam("timer_key"),
        timers.c.status == "pending",
    )
    .values(status="cancelled")
)

_ADD_EVENTS = insert(events)
_ADD_OUTBOX = insert(outbox)
_ADD_RUNS = insert(step_runs)
_END_RUN = (
    update(step_runs)
    .where(step_runs.c.instance_id == bindparam("instance"), step_runs.c.run == bindparam("run_id"))
    .values(ended_at=bindparam("at"))
)
_ADD_COMMENT = insert(comments).returning(comments.c.id)
_COMMAND = select(commands.c.kind, commands.c.result).where(commands.c.key == bindparam("key"))
_ADD_COMMAND = insert(commands)

_MEMBERS = (
    select(users.c.username)
    .join(memberships, memberships.c.user_id == users.c.id)
    .join(groups, groups.c.id == memberships.c.group_id)
    .where(groups.c.key == bindparam("group"), users.c.active.is_(True))
    .order_by(users.c.username)
)
_IS_MEMBER = (
    select(func.count())
    .select_from(memberships)
    .join(users, users.c.id == memberships.c.user_id)
    .join(groups, groups.c.id == memberships.c.group_id)
    .where(users.c.username == bindparam("user"), groups.c.key == bindparam("group"))
)
_GROUP = select(groups.c.id, groups.c.last_assigned, groups.c.next_tier_id).where(
    groups.c.key == bindparam("group")
)
_GROUP_LOCKED = _GROUP.with_for_update()
_GROUP_KEY = select(groups.c.key).where(groups.c.id == bindparam("id"))
_LAST_ASSIGNED = _setter(groups, "row", ("last_assigned",))
_managers = users.alias("managers")
_MANAGER = (
    select(_managers.c.username)
    .join(users, users.c.manager_id == _managers.c.id)
    .where(users.c.username == bindparam("user"))
)

_LATEST = (
    select(definitions.c.key, versions.c.id)
    .join(versions, versions.c.definition_id == definitions.c.id)
    .where(versions.c.version == definitions.c.latest_version)
)
_LATEST_WORKFLOW = _LATEST.where(
    definitions.c.kind == "workflow", definitions.c.key == bindparam("key")
)
_LATEST_CALENDARS = _LATEST.where(
    definitions.c.kind == "calendar", definitions.c.key.in_(bindparam("keys", expanding=True))
)
_CONTENT = select(versions.c.content).where(versions.c.id == bindparam("id"))

_UPSERTS: dict[str, Any] = {}


def _next_number_statement(dialect: str) -> Any:
    if dialect not in _UPSERTS:
        build = pg_insert if dialect == "postgresql" else sqlite_insert
        _UPSERTS[dialect] = (
            build(counters)
            .values(prefix=bindparam("prefix"), last=1)
            .on_conflict_do_update(
                index_elements=[counters.c.prefix], set_={"last": counters.c.last + 1}
            )
            .returning(counters.c.last)
        )
    return _UPSERTS[dialect]


class Repository:
    """Reads and writes of one unit of work, on its connection."""

    def __init__(self, connection: Connection, *, row_locks: bool) -> None:
        self.connection = connection
        self.row_locks = row_locks
        self.dialect = connection.dialect.name

    def _one(self, statement: Any, params: dict[str, Any]) -> Row[Any] | None:
        return self.connection.execute(statement, params).first()

    def _many(self, statement: Any, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            self.connection.execute(statement, list(rows))

    # Commands already done ---------------------------------------------------------------

    def command(self, key: str) -> tuple[str, dict[str, Any]] | None:
        row = self._one(_COMMAND, {"key": key})
        return (row.kind, row.result) if row else None

    def add_command(
        self, key: str, kind: str, instance_id: int | None, result: dict[str, Any], at: datetime
    ) -> None:
        self.connection.execute(
            _ADD_COMMAND,
            {
                "key": key,
                "kind": kind,
                "instance_id": instance_id,
                "result": result,
                "created_at": at,
            },
        )

    # Instances ---------------------------------------------------------------------------

    def lock_instance(self, instance_id: int) -> InstanceRow | None:
        """Load an instance, holding its row lock (SQLite: the database is already locked)."""
        row = self._one(_INSTANCE_LOCKED if self.row_locks else _INSTANCE, {"id": instance_id})
        return InstanceRow(*row) if row else None

    def lock_instance_of_task(self, task_id: int) -> InstanceRow | None:
        """Load the instance a task belongs to, holding its row lock."""
        query = _INSTANCE_OF_TASK_LOCKED if self.row_locks else _INSTANCE_OF_TASK
        row = self._one(query, {"task": task_id})
        return InstanceRow(*row) if row else None

    def instance_id(self, number: str) -> int | None:
        row = self._one(_INSTANCE_ID, {"number": number})
        return row[0] if row else None

    def add_instance(self, values: dict[str, Any]) -> int:
        return int(self.connection.execute(_ADD_INSTANCE, values).scalar_one())

    def save_state(self, instance_id: int, values: dict[str, Any]) -> None:
        self.connection.execute(_SAVE_STATE, {"row": instance_id, **values})

    def touch(self, instance_id: int, last_event: int, at: datetime) -> None:
        self.connection.execute(
            _TOUCH, {"row": instance_id, "last_event": last_event, "updated_at": at}
        )

    def next_number(self, prefix: str) -> int:
        """Take the next number of a prefix; rolled back with the transaction, so no gaps."""
        statement = _next_number_statement(self.dialect)
        return int(self.connection.execute(statement, {"prefix": prefix}).scalar_one())

    def append_events(self, rows: Sequence[dict[str, Any]]) -> None:
        self._many(_ADD_EVENTS, rows)

    def add_comment(self, values: dict[str, Any]) -> int:
        return int(self.connection.execute(_ADD_COMMENT, values).scalar_one())

    # Tasks -------------------------------------------------------------------------------

    def task(self, task_id: int) -> TaskRow | None:
        row = self._one(_TASK, {"id": task_id})
        return TaskRow(*row) if row else None

    def task_by_key(self, instance_id: int, key: str) -> TaskRow | None:
        row = self._one(_TASK_BY_KEY, {"instance": instance_id, "key": key})
        return TaskRow(*row) if row else None

    def task_instance(self, task_id: int) -> int | None:
        row = self._one(_TASK_INSTANCE, {"id": task_id})
        return row[0] if row else None

    def add_task(self, values: dict[str, Any]) -> int:
        return int(self.connection.execute(_ADD_TASK, values).scalar_one())

    def complete_task(
        self, task_id: int, outcome: str, data: dict[str, Any], at: datetime, actor: str
    ) -> None:
        self.connection.execute(
            _COMPLETE_TASK,
            {
                "row": task_id,
                "status": "completed",
                "outcome": outcome,
                "data": data,
                "completed_at": at,
                "completed_by": actor,
            },
        )

    def assign_task(self, task: TaskRow) -> None:
        """Save a task's assignee, candidate group and delegator."""
        self.connection.execute(
            _ASSIGN_TASK,
            {
                "row": task.id,
                "assignee": task.assignee,
                "candidate_group": task.candidate_group,
                "delegated_by": task.delegated_by,
            },
        )

    def reassign_task(
        self, task_id: int, assignment: dict[str, Any], assignee: str | None, group: str | None
    ) -> None:
        self.connection.execute(
            _REASSIGN_TASK,
            {
                "row": task_id,
                "assignment": assignment,
                "assignee": assignee,
                "candidate_group": group,
                "delegated_by": None,
            },
        )

    def cancel_tasks(self, instance_id: int, keys: Sequence[str], at: datetime) -> list[int]:
        """Withdraw open tasks by key; return the ids of those that were open."""
        withdrawn = []
        for key in keys:
            row = self._one(_CANCEL_TASK, {"instance": instance_id, "task_key": key, "at": at})
            if row is not None:
                withdrawn.append(int(row[0]))
        return withdrawn

    def open_load(self, people: Sequence[str]) -> dict[str, int]:
        """Return how many open tasks each of these people has."""
        rows = self.connection.execute(_OPEN_LOAD, {"people": list(people)})
        return {str(assignee): int(count) for assignee, count in rows}

    # Timers, outbox, runs ----------------------------------------------------------------

    def add_timers(self, rows: Sequence[dict[str, Any]]) -> None:
        self._many(_ADD_TIMERS, rows)

    def timer(self, timer_id: int) -> Row[Any] | None:
        return self._one(_TIMER, {"id": timer_id})

    def fire_timer(self, timer_id: int, at: datetime) -> None:
        self.connection.execute(_FIRE_TIMER, {"row": timer_id, "status": "fired", "fired_at": at})

    def cancel_timers(self, instance_id: int, keys: Sequence[str]) -> None:
        self._many(_CANCEL_TIMER, [{"instance": instance_id, "timer_key": k} for k in keys])

    def add_outbox(self, rows: Sequence[dict[str, Any]]) -> None:
        self._many(_ADD_OUTBOX, rows)

    def start_runs(self, rows: Sequence[dict[str, Any]]) -> None:
        self._many(_ADD_RUNS, rows)

    def end_runs(self, instance_id: int, runs: Sequence[int], at: datetime) -> None:
        self._many(_END_RUN, [{"instance": instance_id, "run_id": r, "at": at} for r in runs])

    # People ------------------------------------------------------------------------------

    def members(self, group: str) -> list[str]:
        return list(self.connection.scalars(_MEMBERS, {"group": group}))

    def is_member(self, user: str, group: str) -> bool:
        return bool(self.connection.scalar(_IS_MEMBER, {"user": user, "group": group}))

    def group(self, key: str, *, lock: bool = False) -> Row[Any] | None:
        return self._one(_GROUP_LOCKED if lock and self.row_locks else _GROUP, {"group": key})

    def group_key(self, group_id: int) -> str | None:
        row = self._one(_GROUP_KEY, {"id": group_id})
        return row[0] if row else None

    def set_last_assigned(self, group_id: int, user: str) -> None:
        self.connection.execute(_LAST_ASSIGNED, {"row": group_id, "last_assigned": user})

    def manager_of(self, username: str) -> str | None:
        row = self._one(_MANAGER, {"user": username})
        return row[0] if row else None

    # Published definitions ---------------------------------------------------------------

    def latest_workflow_version(self, key: str) -> int | None:
        row = self._one(_LATEST_WORKFLOW, {"key": key})
        return row.id if row else None

    def latest_calendar_versions(self, keys: Sequence[str]) -> dict[str, int]:
        rows = self.connection.execute(_LATEST_CALENDARS, {"keys": list(keys)})
        return {str(key): int(version) for key, version in rows}

    def content(self, version_id: int) -> dict[str, Any] | None:
        row = self._one(_CONTENT, {"id": version_id})
        return row.content if row else None
