"""The commands: start, complete, claim, unclaim, reassign, delegate, comment, cancel, fire timer.

Each command is one transaction on one instance, under that instance's lock,
retried when the database reports a conflict. A command given an idempotency
key runs once: a repeat returns the first answer and changes nothing.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from engine.core import runtime
from engine.core.errors import ExpressionError, InvalidEvent, UnknownCalendar
from engine.core.events import Cancelled, Event, TaskCompleted, TimerFired
from engine.core.state import InstanceState
from engine.service.apply import record_events, save_transition
from engine.service.definitions import Registry
from engine.service.errors import (
    Busy,
    Conflict,
    InvalidInput,
    NotAllowed,
    NotFound,
    ServiceError,
    TooLarge,
    Unavailable,
)
from engine.service.permissions import require_actor, require_open, require_requester_task
from engine.store.database import Database
from engine.store.repository import InstanceRow, Repository, TaskRow
from engine.store.uow import Retry, UnitOfWork, is_lock_timeout, retry_reason

Clock = Callable[[], datetime]
Result = dict[str, Any]
T = TypeVar("T")
#: Work done inside a start's transaction once the instance row exists.
AfterStart = Callable[[Repository, InstanceRow, datetime], None]


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Limits:
    """Stated limits on what a command accepts."""

    #: Largest instance data document, as compact JSON, in bytes.
    max_data_bytes: int = 256 * 1024
    #: Longest comment, in characters.
    max_comment_chars: int = 20_000
    #: Tries of one command while writers contend for a lock (or PostgreSQL gives up on a
    #: serialization or a deadlock): such a transaction usually gets through on a later try.
    retries: int = 12
    #: Tries after losing a race to insert the same key: one more sees the winner's row, so
    #: a second failure is a real conflict, not a race.
    race_retries: int = 2
    #: Tries after the database dropped the connection (a restart, a failover).
    reconnects: int = 3


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

    def execute(
        self, kind: str, key: str | None, body: Callable[[UnitOfWork, datetime], Any]
    ) -> Any:
        """Run `body` as one transaction, retried on conflict, at most once per `key`.

        Only what a retry can fix is retried, a bounded number of times (see `Limits`):
        a lost race to insert the same key, lock contention, a dropped connection. Any
        other error, and a `ServiceError` the body raises, ends the command at once with
        nothing changed.
        """
        tries = {Retry.RACE: 0, Retry.CONTENTION: 0, Retry.DISCONNECTED: 0}
        budget = {
            Retry.RACE: self.limits.race_retries,
            Retry.CONTENTION: self.limits.retries,
            Retry.DISCONNECTED: self.limits.reconnects,
        }
        while True:
            try:
                return self._attempt(kind, key, body)
            except DBAPIError as error:
                reason = retry_reason(error)
                if reason is None:
                    raise
                tries[reason] += 1
                if tries[reason] >= budget[reason]:
                    raise _gave_up(kind, reason, error) from None
                attempt = sum(tries.values())
                time.sleep(min(0.5, 0.005 * 2**attempt) * random.random())

    def _attempt(
        self, kind: str, key: str | None, body: Callable[[UnitOfWork, datetime], Any]
    ) -> Any:
        with UnitOfWork(self.database) as uow:
            done = _done(uow, kind, key)
            if done is not None:
                return done
            at = self.clock()
            try:
                result = body(uow, at)
            except ServiceError:
                # On PostgreSQL the look-up above ran before the instance lock: a
                # repeat of this command may have finished while we waited for it.
                done = _done(uow, kind, key)
                if done is None:
                    raise
                return done
            if key is not None:
                uow.repository.add_command(key, kind, result.get("instance_id"), result, at)
            uow.commit()
            return result

    def write(self, kind: str, body: Callable[[Session, datetime], T]) -> T:
        """Run `body` with an ORM session as one transaction (people, definitions, drafts).

        The same shell as the instance commands: one unit of work, committed only if
        `body` returns, retried only on what a retry can fix.
        """
        result: T = self.execute(kind, None, lambda uow, at: body(uow.session, at))
        return result

    def read(self, body: Callable[[Session], T]) -> T:
        """Run `body` with a reading session; what it returns outlives the session."""
        with self.database.reading() as session:
            return body(session)

    def _check_size(self, data: Any, what: str = "the data") -> None:
        if not isinstance(data, dict):
            raise InvalidInput(f"{what} must be a JSON object")
        try:
            size = len(orjson.dumps(data))
        except TypeError as error:
            raise InvalidInput(f"{what} is not plain JSON: {error}") from None
        if size > self.limits.max_data_bytes:
            raise TooLarge(
                f"{what} is {size / 1024:.0f} KB; the limit is "
                f"{self.limits.max_data_bytes // 1024} KB"
            )

    def _advance(
        self, uow: UnitOfWork, instance: InstanceRow, event: Event, at: datetime, key: str | None
    ) -> Result:
        workflow = self.registry.workflow(uow.repository, instance.workflow_version_id)
        before = InstanceState.from_dict(instance.state)
        calendars = self.registry.calendars(uow.repository, workflow)
        try:
            transition = runtime.advance(workflow, before, event, at, calendars=calendars)
        except InvalidEvent as error:
            raise InvalidInput(str(error)) from None
        except (ExpressionError, UnknownCalendar) as error:
            raise InvalidInput(f"{instance.number} cannot go on: {error}") from None
        self._check_size(transition.state.data)
        tasks = save_transition(uow.repository, instance, before, transition, workflow, at, key)
        return _answer(instance, transition.state, tasks)

    # Starting ------------------------------------------------------------------------------

    def start(
        self,
        workflow_key: str,
        data: dict[str, Any],
        *,
        requester: str | None = None,
        key: str | None = None,
        after: AfterStart | None = None,
    ) -> Result:
        """Start an instance of the latest version of a workflow; return its number.

        `after` runs in the same transaction once the instance exists (to record its
        tracking link and files, say), so the instance never exists without them.
        """
        self._check_size(data)

        def body(uow: UnitOfWork, at: datetime) -> Result:
            version_id, workflow = self.registry.latest_workflow(uow.repository, workflow_key)
            calendars = self.registry.calendars(uow.repository, workflow)
            prefix = workflow.number_prefix
            seq = uow.repository.next_number(prefix)
            number = f"{prefix}-{seq:06d}"
            try:
                transition = runtime.start(
                    workflow, data, at, requester=requester, number=number, calendars=calendars
                )
            except (InvalidEvent, ExpressionError, UnknownCalendar) as error:
                raise InvalidInput(f"{workflow_key} cannot start: {error}") from None
            self._check_size(transition.state.data)
            instance = InstanceRow(0, number, version_id, {}, 0, 0, requester, "open", None)
            new = {
                "number": number,
                "prefix": prefix,
                "seq": seq,
                "workflow_key": workflow.key,
                "workflow_version_id": version_id,
                "requester": requester,
                "started_at": at,
            }
            tasks = save_transition(
                uow.repository, instance, None, transition, workflow, at, key, new=new
            )
            if after is not None:
                after(uow.repository, instance, at)
            return _answer(instance, transition.state, tasks)

        return self.execute("start", key, body)

    # Acting on tasks -----------------------------------------------------------------------

    @staticmethod
    def _locked_task(repo: Repository, task_id: int) -> tuple[InstanceRow, TaskRow]:
        instance = repo.lock_instance_of_task(task_id)
        task = repo.task(task_id) if instance is not None else None  # read after the lock
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
        requester_of: str | None = None,
    ) -> Result:
        """Complete a task with one of its step's outcomes and the task's data.

        `requester_of` (an instance number) says the caller has proved to be that
        instance's requester, as the holder of its tracking link: they may act on the
        tasks the workflow gave the requester, and on nothing else.
        """
        data = data or {}
        self._check_size(data)

        def body(uow: UnitOfWork, at: datetime) -> Result:
            repo = uow.repository
            instance, task = self._locked_task(repo, task_id)
            if requester_of is not None:
                require_requester_task(task, instance, requester_of)
            require_open(task)
            if requester_of is None:
                require_actor(repo, task, actor, instance)
            answer = self._advance(
                uow, instance, TaskCompleted(task.key, outcome, data, actor), at, key
            )
            repo.complete_task(task.id, outcome, data, at, actor)
            return {**answer, "task": task.id}

        return self.execute("complete", key, body)

    def claim(self, task_id: int, *, actor: str, key: str | None = None) -> Result:
        """Take a task from a group's queue."""

        def body(uow: UnitOfWork, at: datetime) -> Result:
            repo = uow.repository
            instance, task = self._locked_task(repo, task_id)
            require_open(task)
            if task.assignee == actor:
                return _task_answer(instance, task)
            # Only a member of the queue's group may claim; to anyone else, who holds the
            # task is none of their business.
            if not task.candidate_group or not repo.is_member(actor, task.candidate_group):
                raise NotAllowed(
                    f"{actor} is not in the group '{task.candidate_group}' of task {task.id}"
                    if task.candidate_group
                    else f"task {task.id} is not in a group's queue"
                )
            if task.assignee is not None:
                raise Conflict(f"task {task.id} is already claimed by {task.assignee}")
            task.assignee = actor
            repo.assign_task(task)
            _note(repo, instance, at, actor, key, "task_claimed", task, f"{actor} took the task")
            return _task_answer(instance, task)

        return self.execute("claim", key, body)

    def unclaim(self, task_id: int, *, actor: str, key: str | None = None) -> Result:
        """Put a claimed task back in its group's queue."""

        def body(uow: UnitOfWork, at: datetime) -> Result:
            repo = uow.repository
            instance, task = self._locked_task(repo, task_id)
            require_open(task)
            if task.assignee != actor:
                raise NotAllowed(
                    f"only {task.assignee or 'the assignee'} can give task {task.id} back"
                )
            if not task.candidate_group:
                raise Conflict(f"task {task.id} has no group queue to go back to")
            task.assignee = None
            repo.assign_task(task)
            _note(
                repo,
                instance,
                at,
                actor,
                key,
                "task_unclaimed",
                task,
                f"back in the queue of {task.candidate_group}",
            )
            return _task_answer(instance, task)

        return self.execute("unclaim", key, body)

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
            repo = uow.repository
            instance, task = self._locked_task(repo, task_id)
            require_open(task)
            require_actor(repo, task, actor, instance)
            task.assignee, task.candidate_group = (user, None) if user else (None, group)
            task.delegated_by = None
            repo.assign_task(task)
            why = f"to {user or 'the queue of ' + str(group)}" + (f": {reason}" if reason else "")
            _note(repo, instance, at, actor, key, "task_reassigned", task, why)
            return _task_answer(instance, task)

        return self.execute("reassign", key, body)

    def delegate(self, task_id: int, *, actor: str, to: str, key: str | None = None) -> Result:
        """Ask someone else to do a task; the delegator may still act on it."""

        def body(uow: UnitOfWork, at: datetime) -> Result:
            repo = uow.repository
            instance, task = self._locked_task(repo, task_id)
            require_open(task)
            if actor not in (task.assignee, task.delegated_by):
                raise NotAllowed(f"only the assignee of task {task.id} can delegate it")
            task.delegated_by, task.assignee = task.delegated_by or actor, to
            repo.assign_task(task)
            _note(repo, instance, at, actor, key, "task_delegated", task, f"delegated to {to}")
            return _task_answer(instance, task)

        return self.execute("delegate", key, body)

    # Acting on instances ---------------------------------------------------------------------

    @staticmethod
    def locked_instance(repo: Repository, number: str) -> InstanceRow:
        instance_id = repo.instance_id(number)
        instance = repo.lock_instance(instance_id) if instance_id is not None else None
        if instance is None:
            raise NotFound(f"there is no instance {number}")
        return instance

    def comment(
        self,
        number: str,
        text: str,
        *,
        actor: str | None,
        public: bool = True,
        key: str | None = None,
    ) -> Result:
        """Add a comment to an instance's conversation."""
        text = text.strip()
        if not text:
            raise InvalidInput("a comment cannot be empty")
        if len(text) > self.limits.max_comment_chars:
            raise TooLarge(
                f"the comment is {len(text)} characters; the limit is "
                f"{self.limits.max_comment_chars}"
            )

        def body(uow: UnitOfWork, at: datetime) -> Result:
            repo = uow.repository
            instance = self.locked_instance(repo, number)
            comment_id = repo.add_comment(
                {
                    "instance_id": instance.id,
                    "author": actor,
                    "body": text,
                    "public": public,
                    "created_at": at,
                }
            )
            record_events(
                repo,
                instance,
                [
                    {
                        "kind": "commented",
                        "at": at,
                        "actor": actor,
                        "detail": {"comment": comment_id, "public": public},
                    }
                ],
                key,
                at,
            )
            return {"instance_id": instance.id, "number": instance.number, "comment": comment_id}

        return self.execute("comment", key, body)

    def cancel(self, number: str, reason: str, *, actor: str, key: str | None = None) -> Result:
        """Stop an instance: every open task and pending timer is withdrawn."""

        def body(uow: UnitOfWork, at: datetime) -> Result:
            instance = self.locked_instance(uow.repository, number)
            if instance.ended_at is not None:
                raise Conflict(f"{number} has already ended ({instance.status})")
            return self._advance(uow, instance, Cancelled(reason, actor), at, key)

        return self.execute("cancel", key, body)

    def fire_timer(self, timer_id: int, *, key: str | None = None) -> Result:
        """Fire a due timer; firing one that is no longer pending changes nothing."""

        def body(uow: UnitOfWork, at: datetime) -> Result:
            repo = uow.repository
            found = repo.timer(timer_id)
            if found is None:
                raise NotFound(f"there is no timer {timer_id}")
            instance = repo.lock_instance(found.instance_id)
            timer = repo.timer(timer_id)  # read again under the lock
            if instance is None or timer is None or timer.status != "pending":
                return {"instance_id": found.instance_id, "timer": timer_id, "fired": False}
            repo.fire_timer(timer_id, at)
            answer = self._advance(uow, instance, TimerFired(timer.key), at, key)
            return {**answer, "timer": timer_id, "fired": True}

        return self.execute("fire_timer", key, body)


def _gave_up(kind: str, reason: Retry, error: DBAPIError) -> ServiceError:
    """Say, after the last try, why a command could not be saved; nothing was changed."""
    if reason is Retry.DISCONNECTED:
        return Unavailable(f"the {kind} could not be saved: the database cannot be reached")
    if reason is Retry.CONTENTION and is_lock_timeout(error):
        return Busy(f"the {kind} could not be saved: the database stayed busy; try again")
    if reason is Retry.CONTENTION:
        return Conflict(
            f"the {kind} kept colliding with changes made at the same moment; "
            "nothing was changed, try again"
        )
    return Conflict(
        f"the {kind} conflicts with something saved at the same moment; nothing was changed"
    )


def _done(uow: UnitOfWork, kind: str, key: str | None) -> Result | None:
    """Return the first answer of the command already carried out under `key`, if any."""
    found = uow.repository.command(key) if key is not None else None
    if found is None:
        return None
    if found[0] != kind:
        raise Conflict(f"the key '{key}' was already used for a {found[0]}")
    return found[1]


def _note(
    repo: Repository,
    instance: InstanceRow,
    at: datetime,
    actor: str,
    key: str | None,
    kind: str,
    task: TaskRow,
    why: str,
) -> None:
    record_events(
        repo,
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
        at,
    )


def _answer(instance: InstanceRow, state: InstanceState, tasks: dict[str, list[Any]]) -> Result:
    return {
        "instance_id": instance.id,
        "number": instance.number,
        "status": state.status,
        "ended": state.ended,
        **tasks,
    }


def _task_answer(instance: InstanceRow, task: TaskRow) -> Result:
    return {
        "instance_id": instance.id,
        "number": instance.number,
        "task": task.id,
        "assignee": task.assignee,
        "group": task.candidate_group,
    }
