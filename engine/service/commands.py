"""The commands: start, complete, claim, unclaim, reassign, delegate, comment, cancel, fire timer.

Each command is one transaction on one instance, under that instance's lock,
retried when the database reports a conflict. A command given an idempotency
key runs once: a repeat returns the first answer and changes nothing.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from engine.core import runtime
from engine.core.errors import ExpressionError, InvalidEvent, UnknownCalendar
from engine.core.events import Cancelled, Event, TaskCompleted, TimerFired
from engine.core.state import InstanceState
from engine.service import assignment
from engine.service.apply import record_events, save_transition
from engine.service.definitions import Registry
from engine.service.errors import Busy, Conflict, InvalidInput, NotAllowed, NotFound, TooLarge
from engine.store.database import Database
from engine.store.instances import Command, Comment, Counter, Instance, Task, Timer
from engine.store.uow import UnitOfWork, is_retryable

Clock = Callable[[], datetime]
Result = dict[str, Any]


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Limits:
    """Stated limits on what a command accepts."""

    #: Largest instance data document, as compact JSON, in bytes.
    max_data_bytes: int = 256 * 1024
    #: Longest comment, in characters.
    max_comment_chars: int = 20_000
    #: Tries of one command when the database reports a conflict.
    retries: int = 12


class Commands:
    """The use cases over one database; `clock` is the only place time is read."""

    def __init__(
        self,
        database: Database,
        *,
        registry: Registry | None = None,
        clock: Clock = utcnow,
        limits: Limits | None = None,
    ) -> None:
        self.database = database
        self.registry = registry or Registry()
        self.clock = clock
        self.limits = limits or Limits()

    # The transaction shell ------------------------------------------------------------------

    def _execute(
        self, kind: str, key: str | None, body: Callable[[UnitOfWork, datetime], Result]
    ) -> Result:
        for attempt in range(self.limits.retries):
            try:
                with UnitOfWork(self.database) as uow:
                    if key is not None:
                        done = uow.session.get(Command, key)
                        if done is not None:
                            if done.kind != kind:
                                raise Conflict(
                                    f"the key '{key}' was already used for a {done.kind}"
                                )
                            return done.result
                    at = self.clock()
                    result = body(uow, at)
                    if key is not None:
                        uow.session.add(
                            Command(
                                key=key,
                                kind=kind,
                                result=result,
                                created_at=at,
                                instance_id=result.get("instance_id"),
                            )
                        )
                    uow.commit()
                    return result
            except DBAPIError as error:
                if not is_retryable(error):
                    raise
                time.sleep(min(0.5, 0.005 * 2**attempt) * random.random())
        raise Busy(f"the {kind} could not be saved: the database stayed busy; try again")

    def _check_size(self, data: Any, what: str = "the data") -> None:
        if not isinstance(data, dict):
            raise InvalidInput(f"{what} must be a JSON object")
        size = len(json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode())
        if size > self.limits.max_data_bytes:
            raise TooLarge(
                f"{what} is {size / 1024:.0f} KB; the limit is "
                f"{self.limits.max_data_bytes // 1024} KB"
            )

    def _advance(
        self,
        uow: UnitOfWork,
        instance: Instance,
        event: Event,
        at: datetime,
        key: str | None,
        actor: str | None = None,
    ) -> tuple[InstanceState, list[int]]:
        session = uow.session
        workflow = self.registry.workflow(session, instance.workflow_version_id)
        before = InstanceState.from_dict(instance.state)
        try:
            transition = runtime.advance(
                workflow, before, event, at, calendars=self.registry.calendars(session, workflow)
            )
        except InvalidEvent as error:
            raise InvalidInput(str(error)) from None
        except (ExpressionError, UnknownCalendar) as error:
            raise InvalidInput(f"{instance.number} cannot go on: {error}") from None
        self._check_size(transition.state.data)
        opened = save_transition(session, instance, before, transition, workflow, at, key)
        return transition.state, opened

    # Starting ------------------------------------------------------------------------------

    def start(
        self,
        workflow_key: str,
        data: dict[str, Any],
        *,
        requester: str | None = None,
        key: str | None = None,
    ) -> Result:
        """Start an instance of the latest version of a workflow; return its number."""
        self._check_size(data)

        def body(uow: UnitOfWork, at: datetime) -> Result:
            session = uow.session
            version_id, workflow = self.registry.latest_workflow(session, workflow_key)
            calendars = self.registry.calendars(session, workflow)
            prefix = workflow.number_prefix
            seq = next_number(session, prefix)
            number = f"{prefix}-{seq:06d}"
            try:
                transition = runtime.start(
                    workflow, data, at, requester=requester, number=number, calendars=calendars
                )
            except (InvalidEvent, ExpressionError, UnknownCalendar) as error:
                raise InvalidInput(f"{workflow_key} cannot start: {error}") from None
            self._check_size(transition.state.data)
            instance = Instance(
                number=number,
                prefix=prefix,
                seq=seq,
                workflow_key=workflow.key,
                workflow_version_id=version_id,
                status="open",
                state={},
                requester=requester,
                started_at=at,
                updated_at=at,
                version=0,
            )
            session.add(instance)
            session.flush()
            opened = save_transition(session, instance, None, transition, workflow, at, key)
            return _answer(instance, transition.state, opened)

        return self._execute("start", key, body)

    # Acting on tasks -----------------------------------------------------------------------

    def _locked_task(self, uow: UnitOfWork, task_id: int) -> tuple[Instance, Task]:
        instance_id = uow.session.scalar(select(Task.instance_id).where(Task.id == task_id))
        if instance_id is None:
            raise NotFound(f"there is no task {task_id}")
        instance = uow.lock_instance(instance_id)
        task = uow.session.get(Task, task_id, populate_existing=True)
        if instance is None or task is None:
            raise NotFound(f"there is no task {task_id}")
        return instance, task

    def complete(
        self,
        task_id: int,
        outcome: str,
        data: dict[str, Any] | None = None,
        *,
        actor: str,
        key: str | None = None,
    ) -> Result:
        """Complete a task with one of its step's outcomes and the task's data."""
        data = data or {}
        self._check_size(data)

        def body(uow: UnitOfWork, at: datetime) -> Result:
            instance, task = self._locked_task(uow, task_id)
            _require_open(task)
            _require_actor(uow.session, task, actor, instance)
            event = TaskCompleted(task.key, outcome, data, actor)
            state, opened = self._advance(uow, instance, event, at, key, actor)
            task.status, task.outcome, task.data = "completed", outcome, data
            task.completed_at, task.completed_by = at, actor
            return {**_answer(instance, state, opened), "task": task.id}

        return self._execute("complete", key, body)

    def claim(self, task_id: int, *, actor: str, key: str | None = None) -> Result:
        """Take a task from a group's queue."""

        def body(uow: UnitOfWork, at: datetime) -> Result:
            instance, task = self._locked_task(uow, task_id)
            _require_open(task)
            if task.assignee == actor:
                return _task_answer(instance, task)
            if task.assignee is not None:
                raise Conflict(f"task {task.id} is already claimed by {task.assignee}")
            if not task.candidate_group or not assignment.is_member(
                uow.session, actor, task.candidate_group
            ):
                raise NotAllowed(
                    f"{actor} is not in the group '{task.candidate_group}' of task {task.id}"
                )
            task.assignee = actor
            _note(uow, instance, at, actor, key, "task_claimed", task, f"{actor} took the task")
            return _task_answer(instance, task)

        return self._execute("claim", key, body)

    def unclaim(self, task_id: int, *, actor: str, key: str | None = None) -> Result:
        """Put a claimed task back in its group's queue."""

        def body(uow: UnitOfWork, at: datetime) -> Result:
            instance, task = self._locked_task(uow, task_id)
            _require_open(task)
            if task.assignee != actor:
                raise NotAllowed(
                    f"only {task.assignee or 'the assignee'} can give task {task.id} back"
                )
            if not task.candidate_group:
                raise Conflict(f"task {task.id} has no group queue to go back to")
            task.assignee = None
            _note(
                uow,
                instance,
                at,
                actor,
                key,
                "task_unclaimed",
                task,
                f"back in the queue of {task.candidate_group}",
            )
            return _task_answer(instance, task)

        return self._execute("unclaim", key, body)

    def reassign(
        self,
        task_id: int,
        *,
        actor: str,
        user: str | None = None,
        group: str | None = None,
        reason: str | None = None,
        key: str | None = None,
    ) -> Result:
        """Give a task to another person or another group's queue."""
        if bool(user) == bool(group):
            raise InvalidInput("reassign to a user or to a group, not both and not neither")

        def body(uow: UnitOfWork, at: datetime) -> Result:
            instance, task = self._locked_task(uow, task_id)
            _require_open(task)
            _require_actor(uow.session, task, actor, instance)
            task.assignee, task.candidate_group = (user, None) if user else (None, group)
            task.delegated_by = None
            why = f"to {user or 'the queue of ' + str(group)}" + (f": {reason}" if reason else "")
            _note(uow, instance, at, actor, key, "task_reassigned", task, why)
            return _task_answer(instance, task)

        return self._execute("reassign", key, body)

    def delegate(self, task_id: int, *, actor: str, to: str, key: str | None = None) -> Result:
        """Ask someone else to do a task; the delegator may still act on it."""

        def body(uow: UnitOfWork, at: datetime) -> Result:
            instance, task = self._locked_task(uow, task_id)
            _require_open(task)
            if actor not in (task.assignee, task.delegated_by):
                raise NotAllowed(f"only the assignee of task {task.id} can delegate it")
            task.delegated_by = task.delegated_by or actor
            task.assignee = to
            _note(uow, instance, at, actor, key, "task_delegated", task, f"delegated to {to}")
            return _task_answer(instance, task)

        return self._execute("delegate", key, body)

    # Acting on instances ---------------------------------------------------------------------

    def _locked_instance(self, uow: UnitOfWork, number: str) -> Instance:
        instance_id = uow.session.scalar(select(Instance.id).where(Instance.number == number))
        instance = uow.lock_instance(instance_id) if instance_id is not None else None
        if instance is None:
            raise NotFound(f"there is no instance {number}")
        return instance

    def comment(
        self,
        number: str,
        body_text: str,
        *,
        actor: str | None,
        public: bool = True,
        key: str | None = None,
    ) -> Result:
        """Add a comment to an instance's conversation."""
        text = body_text.strip()
        if not text:
            raise InvalidInput("a comment cannot be empty")
        if len(text) > self.limits.max_comment_chars:
            raise TooLarge(
                f"the comment is {len(text)} characters; the limit is "
                f"{self.limits.max_comment_chars}"
            )

        def body(uow: UnitOfWork, at: datetime) -> Result:
            instance = self._locked_instance(uow, number)
            comment = Comment(
                instance_id=instance.id, author=actor, body=text, public=public, created_at=at
            )
            uow.session.add(comment)
            uow.session.flush()
            record_events(
                uow.session,
                instance,
                [
                    {
                        "kind": "commented",
                        "at": at,
                        "actor": actor,
                        "detail": {"comment": comment.id, "public": public},
                    }
                ],
                key,
            )
            instance.updated_at = at
            return {"instance_id": instance.id, "number": instance.number, "comment": comment.id}

        return self._execute("comment", key, body)

    def cancel(self, number: str, reason: str, *, actor: str, key: str | None = None) -> Result:
        """Stop an instance: every open task and pending timer is withdrawn."""

        def body(uow: UnitOfWork, at: datetime) -> Result:
            instance = self._locked_instance(uow, number)
            if instance.ended_at is not None:
                raise Conflict(f"{number} has already ended ({instance.status})")
            state, opened = self._advance(uow, instance, Cancelled(reason, actor), at, key, actor)
            return _answer(instance, state, opened)

        return self._execute("cancel", key, body)

    def fire_timer(self, timer_id: int, *, key: str | None = None) -> Result:
        """Fire a due timer; firing one that is no longer pending changes nothing."""

        def body(uow: UnitOfWork, at: datetime) -> Result:
            instance_id = uow.session.scalar(select(Timer.instance_id).where(Timer.id == timer_id))
            if instance_id is None:
                raise NotFound(f"there is no timer {timer_id}")
            instance = uow.lock_instance(instance_id)
            timer = uow.session.get(Timer, timer_id, populate_existing=True)
            if instance is None or timer is None or timer.status != "pending":
                return {"instance_id": instance_id, "timer": timer_id, "fired": False}
            timer.status, timer.fired_at = "fired", at
            state, opened = self._advance(uow, instance, TimerFired(timer.key), at, key)
            return {**_answer(instance, state, opened), "timer": timer_id, "fired": True}

        return self._execute("fire_timer", key, body)


def next_number(session: Session, prefix: str) -> int:
    """Take the next number of a prefix; rolled back with the transaction, so no gaps."""
    dialect = session.get_bind().dialect.name
    build = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = (
        build(Counter)
        .values(prefix=prefix, last=1)
        .on_conflict_do_update(index_elements=[Counter.prefix], set_={"last": Counter.last + 1})
        .returning(Counter.last)
    )
    return int(session.execute(statement).scalar_one())


def _require_open(task: Task) -> None:
    if task.status == "completed":
        raise Conflict(
            f"task {task.id} was already completed by {task.completed_by} "
            f"({task.outcome}); nothing was changed"
        )
    if task.status != "open":
        raise Conflict(f"task {task.id} was withdrawn ({task.status}); nothing was changed")


def _require_actor(session: Session, task: Task, actor: str, instance: Instance) -> None:
    """Only the assignee (or whoever delegated to them), or a member of the queue's group."""
    if actor in (task.assignee, task.delegated_by):
        return
    if task.assignee is None and task.candidate_group:
        if assignment.is_member(session, actor, task.candidate_group):
            return
        raise NotAllowed(f"{actor} is not in the group '{task.candidate_group}' of task {task.id}")
    if task.assignee is None and task.assignment.get("requester") and actor == instance.requester:
        return
    raise NotAllowed(
        f"task {task.id} is assigned to {task.assignee or 'someone else'}, not {actor}"
    )


def _note(
    uow: UnitOfWork,
    instance: Instance,
    at: datetime,
    actor: str,
    key: str | None,
    kind: str,
    task: Task,
    why: str,
) -> None:
    record_events(
        uow.session,
        instance,
        [
            {
                "kind": kind,
                "at": at,
                "actor": actor,
                "step": task.step,
                "why": why,
                "detail": {"task": task.key},
            }
        ],
        key,
    )
    instance.updated_at = at


def _answer(instance: Instance, state: InstanceState, opened: list[int]) -> Result:
    return {"instance_id": instance.id, "number": instance.number, "status": state.status,
            "ended": state.ended, "opened_tasks": opened}  # fmt: skip


def _task_answer(instance: Instance, task: Task) -> Result:
    return {"instance_id": instance.id, "number": instance.number, "task": task.id,
            "assignee": task.assignee, "group": task.candidate_group}  # fmt: skip
