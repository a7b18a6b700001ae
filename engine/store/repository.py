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
from typing import Any, NamedTuple, cast

from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from engine.logs import current_request_id
from engine.store.directory import Directory
from engine.store.instances import (
    Attachment,
    Command,
    Comment,
    Counter,
    Event,
    Instance,
    Outbox,
    StepRun,
    Task,
    Timer,
    TrackingLink,
    names_of,
    spaced_names,
)
from engine.store.statements import Prepared, update_row

instances = cast(Table, Instance.__table__)
tasks = cast(Table, Task.__table__)
events = cast(Table, Event.__table__)
timers = cast(Table, Timer.__table__)
outbox = cast(Table, Outbox.__table__)
step_runs = cast(Table, StepRun.__table__)
commands = cast(Table, Command.__table__)
comments = cast(Table, Comment.__table__)
counters = cast(Table, Counter.__table__)
attachments = cast(Table, Attachment.__table__)
tracking_links = cast(Table, TrackingLink.__table__)


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
    priority: str | None = None
    parent_id: int | None = None
    parent_run: int | None = None


def message_row(
    instance: InstanceRow, kind: str, payload: dict[str, Any], at: datetime
) -> dict[str, Any]:
    """An outbox row (`Repository.add_outbox`) of an instance: its kind and payload, pending."""
    payload = {**payload, "instance": instance.id, "number": instance.number}
    return {
        "instance_id": instance.id,
        "kind": kind,
        "payload": payload,
        "status": "pending",
        "attempts": 0,
        "created_at": at,
    }


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
    form: str | None = None
    form_version_id: int | None = None


_TRACKED = Prepared(
    select(tracking_links.c.instance_id)
    .where(tracking_links.c.instance_id == bindparam("instance"))
    .limit(1)
)
_ATTACHED = Prepared(
    select(attachments.c.storage_key).where(attachments.c.instance_id == bindparam("instance"))
)


class OutboxRow(NamedTuple):
    id: int
    instance_id: int | None
    kind: str
    payload: dict[str, Any]
    status: str


class TimerRow(NamedTuple):
    instance_id: int
    key: str
    status: str
    due_at: datetime


def _columns(table: Any, row_type: type) -> list[Any]:
    return [table.c[f.name] for f in fields(row_type)]


def with_request_id(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows, each naming the request being served (if any): work it causes logs it."""
    request_id = current_request_id()
    return [{**row, "request_id": request_id} for row in rows]


def _insert(table: Any, names: Sequence[str], returning: Any = None) -> Prepared:
    """An INSERT of exactly these columns (defaults are given by the caller, not the ORM)."""
    statement = insert(table).values({n: bindparam(n) for n in names})
    return Prepared(statement.returning(returning) if returning is not None else statement.inline())


_instance_select = select(*_columns(instances, InstanceRow))
_INSTANCE = Prepared(_instance_select.where(instances.c.id == bindparam("id")))
_INSTANCE_LOCKED = Prepared(
    _instance_select.where(instances.c.id == bindparam("id")).with_for_update()
)
_task_instance = (
    select(tasks.c.instance_id).where(tasks.c.id == bindparam("task")).scalar_subquery()
)
_INSTANCE_OF_TASK = Prepared(_instance_select.where(instances.c.id == _task_instance))
_INSTANCE_OF_TASK_LOCKED = Prepared(
    _instance_select.where(instances.c.id == _task_instance).with_for_update()
)
_INSTANCE_ID = Prepared(select(instances.c.id).where(instances.c.number == bindparam("number")))
STATE_COLUMNS = (
    "state",
    "status",
    "title",
    "priority",
    "ended_at",
    "updated_at",
    "version",
    "last_event",
)
NEW_INSTANCE_COLUMNS = (
    "number",
    "prefix",
    "seq",
    "workflow_key",
    "workflow_version_id",
    "requester",
    "started_at",
    "response_due_at",
    "resolution_due_at",
    "response_breached",
    "resolution_breached",
    "parent_id",
    "parent_run",
    "service_key",
    *STATE_COLUMNS,
)
_ADD_INSTANCE = _insert(instances, NEW_INSTANCE_COLUMNS, instances.c.id)
_SAVE_STATE: dict[tuple[str, ...], Prepared] = {}
_TOUCH = update_row(instances, "row", ("last_event", "updated_at"))

_task_select = select(*_columns(tasks, TaskRow))
_TASK = Prepared(_task_select.where(tasks.c.id == bindparam("id")))
_TASK_BY_KEY = Prepared(
    _task_select.where(
        tasks.c.instance_id == bindparam("instance"), tasks.c.key == bindparam("key")
    )
)
_TASK_INSTANCE = Prepared(select(tasks.c.instance_id).where(tasks.c.id == bindparam("id")))
_TASK_FORM_VERSIONS = Prepared(
    select(tasks.c.form, tasks.c.form_version_id)
    .where(tasks.c.instance_id == bindparam("instance"), tasks.c.form_version_id.is_not(None))
    .order_by(tasks.c.id)
)
TASK_COLUMNS = (
    "instance_id",
    "key",
    "step",
    "title",
    "form",
    "form_version_id",
    "role",
    "outcomes",
    "assignment",
    "assignee",
    "candidate_group",
    "status",
    "due_at",
    "created_at",
    "sort_rank",
    "sort_at",
    "kept_apart",
)
_ADD_TASK = _insert(tasks, TASK_COLUMNS, tasks.c.id)
_TASK_TIMES = Prepared(
    select(tasks.c.id, tasks.c.status, tasks.c.due_at, tasks.c.created_at).where(
        tasks.c.instance_id == bindparam("instance"), tasks.c.key == bindparam("key")
    )
)
_SORT_TASK = update_row(tasks, "row", ("sort_rank", "sort_at"))
_COMPLETE_TASK = update_row(
    tasks, "row", ("status", "outcome", "data", "completed_at", "completed_by")
)
_ASSIGN_TASK = update_row(tasks, "row", ("assignee", "candidate_group", "delegated_by"))
_RETITLE_TASK = Prepared(
    update(tasks)
    .where(
        tasks.c.instance_id == bindparam("instance"),
        tasks.c.key == bindparam("key"),
        tasks.c.status == "open",
    )
    .values(title=bindparam("title"))
)
_REASSIGN_TASK = update_row(
    tasks, "row", ("assignment", "assignee", "candidate_group", "delegated_by")
)
_CANCEL_TASK = Prepared(
    update(tasks)
    .where(
        tasks.c.instance_id == bindparam("instance"),
        tasks.c.key == bindparam("task_key"),
        tasks.c.status == "open",
    )
    .values(status="cancelled", completed_at=bindparam("at"))
    .returning(tasks.c.id)
)
_COMPLETERS = select(tasks.c.completed_by).where(
    tasks.c.instance_id == bindparam("instance"),
    tasks.c.step.in_(bindparam("steps", expanding=True)),
    tasks.c.status == "completed",
)
_COMPLETERS_OF_STEP = Prepared(
    select(tasks.c.completed_by).where(
        tasks.c.instance_id == bindparam("instance"),
        tasks.c.step == bindparam("step"),
        tasks.c.status == "completed",
    )
)
_HELD = Prepared(
    select(tasks.c.instance_id, tasks.c.id)
    .where(tasks.c.assignee == bindparam("user"), tasks.c.status == "open")
    .order_by(tasks.c.instance_id, tasks.c.id)
)
_OPEN_LOAD = (
    select(tasks.c.assignee, func.count())
    .where(tasks.c.assignee.in_(bindparam("people", expanding=True)), tasks.c.status == "open")
    .group_by(tasks.c.assignee)
)

_TIMER = Prepared(
    select(timers.c.instance_id, timers.c.key, timers.c.status, timers.c.due_at).where(
        timers.c.id == bindparam("id")
    )
)
_ADD_TIMERS = _insert(timers, ("instance_id", "key", "step", "due_at", "status", "request_id"))
_FIRE_TIMER = update_row(timers, "row", ("status", "fired_at"))
_CANCEL_TIMER = Prepared(
    update(timers)
    .where(
        timers.c.instance_id == bindparam("instance"),
        timers.c.key == bindparam("timer_key"),
        timers.c.status == "pending",
    )
    .values(status="cancelled")
)

EVENT_COLUMNS = ("instance_id", "seq", "kind", "step", "at", "actor", "why", "detail", "command")
_ADD_EVENTS = _insert(events, EVENT_COLUMNS)
_ADD_OUTBOX = _insert(
    outbox, ("instance_id", "kind", "payload", "status", "attempts", "created_at", "request_id")
)
_ADD_RUNS = _insert(step_runs, ("instance_id", "run", "step", "started_at", "ended_at"))
_outbox_select = select(
    outbox.c.id, outbox.c.instance_id, outbox.c.kind, outbox.c.payload, outbox.c.status
).where(outbox.c.id == bindparam("id"))
_OUTBOX_ITEM = Prepared(_outbox_select)
_OUTBOX_ITEM_LOCKED = Prepared(_outbox_select.with_for_update())
_FINISH_OUTBOX = update_row(outbox, "row", ("status", "sent_at", "error", "attempts"))
_CHILDREN = Prepared(
    select(instances.c.id).where(
        instances.c.parent_id == bindparam("parent"),
        instances.c.parent_run == bindparam("run"),
        instances.c.ended_at.is_(None),
    )
)
_ADD_COMMENT = _insert(
    comments, ("instance_id", "author", "body", "public", "created_at"), comments.c.id
)
_COMMAND = Prepared(
    select(commands.c.kind, commands.c.result, commands.c.fingerprint).where(
        commands.c.key == bindparam("key")
    )
)
_ADD_COMMAND = _insert(
    commands, ("key", "kind", "instance_id", "result", "created_at", "fingerprint")
)

_UPSERTS: dict[str, Prepared] = {}


def _next_number_statement(dialect: str) -> Prepared:
    if dialect not in _UPSERTS:
        build = pg_insert if dialect == "postgresql" else sqlite_insert
        _UPSERTS[dialect] = Prepared(
            build(counters)
            .values(prefix=bindparam("prefix"), last=1)
            .on_conflict_do_update(
                index_elements=[counters.c.prefix], set_={"last": counters.c.last + 1}
            )
            .returning(counters.c.last)
        )
    return _UPSERTS[dialect]


class Repository(Directory):
    """Reads and writes of one unit of work, on its connection (its lookups: `Directory`)."""

    # Commands already done ---------------------------------------------------------------

    def command(self, key: str) -> tuple[str, dict[str, Any], str | None] | None:
        """Return the kind, answer and request fingerprint of the command done under `key`."""
        row = _COMMAND.first(self.connection, {"key": key})
        return (row[0], row[1], row[2]) if row else None

    def add_command(
        self,
        key: str,
        kind: str,
        instance_id: int | None,
        result: dict[str, Any],
        at: datetime,
        fingerprint: str | None = None,
    ) -> None:
        _ADD_COMMAND.run(
            self.connection,
            {
                "key": key,
                "kind": kind,
                "instance_id": instance_id,
                "result": result,
                "created_at": at,
                "fingerprint": fingerprint,
            },
        )

    # Instances ---------------------------------------------------------------------------

    def lock_instance(self, instance_id: int) -> InstanceRow | None:
        """Load an instance, holding its row lock (SQLite: the database is already locked)."""
        statement = _INSTANCE_LOCKED if self.row_locks else _INSTANCE
        row = statement.first(self.connection, {"id": instance_id})
        return InstanceRow(*row) if row else None

    def lock_instance_of_task(self, task_id: int) -> InstanceRow | None:
        """Load the instance a task belongs to, holding its row lock."""
        statement = _INSTANCE_OF_TASK_LOCKED if self.row_locks else _INSTANCE_OF_TASK
        row = statement.first(self.connection, {"task": task_id})
        return InstanceRow(*row) if row else None

    def instance_id(self, number: str) -> int | None:
        return cast(int | None, self._value(_INSTANCE_ID, {"number": number}))

    def add_instance(self, values: dict[str, Any]) -> int:
        """Insert an instance (every column of `NEW_INSTANCE_COLUMNS`); return its id."""
        row = {
            "response_due_at": None,
            "resolution_due_at": None,
            "response_breached": False,
            "resolution_breached": False,
            "parent_id": None,
            "parent_run": None,
            "service_key": None,
            **values,
        }
        return int(self._value(_ADD_INSTANCE, row))

    def save_state(self, instance_id: int, values: dict[str, Any]) -> None:
        # Only the columns given: leaving out an unchanged indexed column (status,
        # priority) spares the database rewriting that index on every command.
        names = tuple(sorted(values))
        statement = _SAVE_STATE.get(names)
        if statement is None:
            statement = _SAVE_STATE[names] = update_row(instances, "row", names)
        statement.run(self.connection, {"row": instance_id, **values})

    def touch(self, instance_id: int, last_event: int, at: datetime) -> None:
        _TOUCH.run(
            self.connection, {"row": instance_id, "last_event": last_event, "updated_at": at}
        )

    def next_number(self, prefix: str) -> int:
        """Take the next number of a prefix; rolled back with the transaction, so no gaps."""
        return int(self._value(_next_number_statement(self.dialect), {"prefix": prefix}))

    def append_events(self, rows: Sequence[dict[str, Any]]) -> None:
        _ADD_EVENTS.many(self.connection, rows)

    def has_tracking_link(self, instance_id: int) -> bool:
        """Tell whether someone without an account follows the instance by a link."""
        return _TRACKED.first(self.connection, {"instance": instance_id}) is not None

    def attached(self, instance_id: int) -> set[str]:
        """Return the storage keys of the files attached to an instance."""
        rows = _ATTACHED.all(self.connection, {"instance": instance_id})
        return {str(row[0]) for row in rows}

    def add_comment(self, values: dict[str, Any]) -> int:
        return int(self._value(_ADD_COMMENT, values))

    # Tasks -------------------------------------------------------------------------------

    def task(self, task_id: int) -> TaskRow | None:
        row = _TASK.first(self.connection, {"id": task_id})
        return TaskRow(*row) if row else None

    def task_by_key(self, instance_id: int, key: str) -> TaskRow | None:
        row = _TASK_BY_KEY.first(self.connection, {"instance": instance_id, "key": key})
        return TaskRow(*row) if row else None

    def task_instance(self, task_id: int) -> int | None:
        return cast(int | None, self._value(_TASK_INSTANCE, {"id": task_id}))

    def task_form_versions(self, instance_id: int) -> dict[str, int]:
        """The form version each form of an instance's tasks was last opened with, by key."""
        rows = _TASK_FORM_VERSIONS.all(self.connection, {"instance": instance_id})
        return {str(form): int(version) for form, version in rows}

    def add_task(self, values: dict[str, Any]) -> int:
        """Insert a task (every column of `TASK_COLUMNS`); return its id."""
        return int(self._value(_ADD_TASK, values))

    def open_task_times(
        self, instance_id: int, keys: Sequence[str]
    ) -> list[tuple[int, datetime | None, datetime]]:
        """Return the id, due time and creation time of those of these tasks that are open.

        By key, not by scanning the instance's tasks: an instance that has looped through
        a step a thousand times has a thousand closed tasks.
        """
        found = []
        for key in keys:
            row = _TASK_TIMES.first(self.connection, {"instance": instance_id, "key": key})
            if row is not None and row[1] == "open":
                found.append((row[0], row[2], row[3]))
        return found

    def sort_tasks(self, keys: list[dict[str, Any]]) -> None:
        """Save tasks' inbox order (`row`, `sort_rank`, `sort_at` each)."""
        _SORT_TASK.many(self.connection, keys)

    def complete_task(
        self, task_id: int, outcome: str, data: dict[str, Any], at: datetime, actor: str
    ) -> None:
        _COMPLETE_TASK.run(
            self.connection,
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
        _ASSIGN_TASK.run(
            self.connection,
            {
                "row": task.id,
                "assignee": task.assignee,
                "candidate_group": task.candidate_group,
                "delegated_by": task.delegated_by,
            },
        )

    def retitle_task(self, instance_id: int, key: str, title: str) -> None:
        """Give an open task of an instance, by its key, a new title."""
        _RETITLE_TASK.run(self.connection, {"instance": instance_id, "key": key, "title": title})

    def reassign_task(
        self, task_id: int, assignment: dict[str, Any], assignee: str | None, group: str | None
    ) -> None:
        _REASSIGN_TASK.run(
            self.connection,
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
            task_id = self._value(
                _CANCEL_TASK, {"instance": instance_id, "task_key": key, "at": at}
            )
            if task_id is not None:
                withdrawn.append(int(task_id))
        return withdrawn

    def keep_apart(self, instance_id: int, steps: Sequence[str], username: str) -> None:
        """Add `username` to whom the open tasks of these steps of an instance keep apart."""
        rows = self.connection.execute(
            select(tasks.c.id, tasks.c.kept_apart).where(
                tasks.c.instance_id == instance_id,
                tasks.c.step.in_(list(steps)),
                tasks.c.status == "open",
            )
        )
        for task_id, column in rows.all():
            names = names_of(column)
            if username not in names:
                self.connection.execute(
                    update(tasks)
                    .where(tasks.c.id == task_id)
                    .values(kept_apart=spaced_names(names | {username}))
                )

    def completers(self, instance_id: int, steps: Sequence[str]) -> set[str]:
        """Return who completed tasks of these steps of an instance."""
        if not steps:
            return set()
        if len(steps) == 1:  # the usual case, as a prepared statement (see `Prepared`)
            found = _COMPLETERS_OF_STEP.all(
                self.connection, {"instance": instance_id, "step": steps[0]}
            )
            return {str(row[0]) for row in found if row[0]}
        rows = self.connection.execute(_COMPLETERS, {"instance": instance_id, "steps": list(steps)})
        return {str(row[0]) for row in rows if row[0]}

    def held_tasks(self, username: str) -> list[tuple[int, int]]:
        """Return the open tasks a person holds, as (instance id, task id), in that order."""
        rows = _HELD.all(self.connection, {"user": username})
        return [(int(instance), int(task)) for instance, task in rows]

    def open_load(self, people: Sequence[str]) -> dict[str, int]:
        """Return how many open tasks each of these people has."""
        rows = self.connection.execute(_OPEN_LOAD, {"people": list(people)})
        return {str(assignee): int(count) for assignee, count in rows}

    # Timers, outbox, runs ----------------------------------------------------------------

    def add_timers(self, rows: Sequence[dict[str, Any]]) -> None:
        _ADD_TIMERS.many(self.connection, with_request_id(rows))

    def timer(self, timer_id: int) -> TimerRow | None:
        row = _TIMER.first(self.connection, {"id": timer_id})
        return TimerRow(*row) if row else None

    def fire_timer(self, timer_id: int, at: datetime) -> None:
        _FIRE_TIMER.run(self.connection, {"row": timer_id, "status": "fired", "fired_at": at})

    def cancel_timers(self, instance_id: int, keys: Sequence[str]) -> None:
        _CANCEL_TIMER.many(
            self.connection, [{"instance": instance_id, "timer_key": k} for k in keys]
        )

    def add_outbox(self, rows: Sequence[dict[str, Any]]) -> None:
        _ADD_OUTBOX.many(self.connection, with_request_id(rows))

    def add_runs(self, rows: Sequence[dict[str, Any]]) -> None:
        _ADD_RUNS.many(self.connection, rows)

    def outbox_item(self, item_id: int) -> OutboxRow | None:
        """Read an outbox row, holding its row lock (SQLite: the database is locked)."""
        statement = _OUTBOX_ITEM_LOCKED if self.row_locks else _OUTBOX_ITEM
        row = statement.first(self.connection, {"id": item_id})
        return OutboxRow(*row) if row else None

    def finish_outbox(
        self, item_id: int, status: str, at: datetime, error: str | None, attempts: int
    ) -> None:
        """Mark an outbox row done (`sent`) or given up on (`failed`, with why)."""
        _FINISH_OUTBOX.run(
            self.connection,
            {"row": item_id, "status": status, "sent_at": at, "error": error, "attempts": attempts},
        )

    def instance(self, instance_id: int) -> InstanceRow | None:
        """Read an instance without locking it."""
        row = _INSTANCE.first(self.connection, {"id": instance_id})
        return InstanceRow(*row) if row else None

    def children(self, parent_id: int, run: int) -> list[int]:
        """Return the running child instances a parent's run waits for."""
        return [row[0] for row in _CHILDREN.all(self.connection, {"parent": parent_id, "run": run})]
