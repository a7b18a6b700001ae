"""What becomes of the work of someone who can no longer sign in.

Deactivating a user hands back their open tasks, each noted on its instance's timeline:
a task delegated to them goes back to whoever delegated it, a task of a group goes back
to that group's queue. A task with neither (given to them by name: an approval for "the
manager", say) stays where it is and is listed for the admin, who may reassign any open
task (`permissions.may_reassign`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from itertools import groupby
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.service.apply import record_events
from engine.store.instances import Instance, Task
from engine.store.repository import Repository, TaskRow


@dataclass(frozen=True, slots=True)
class LeftTask:
    """An open task still held by someone who can no longer sign in: nobody to give it to."""

    id: int
    number: str
    step: str


def held_by(session: Session, username: str) -> list[LeftTask]:
    """Return the open tasks a person holds, by instance and task."""
    rows = session.execute(
        select(Task.id, Instance.number, Task.step)
        .join(Instance, Instance.id == Task.instance_id)
        .where(Task.assignee == username, Task.status == "open")
        .order_by(Task.instance_id, Task.id)
    )
    return [LeftTask(int(task_id), str(number), str(step)) for task_id, number, step in rows]


def hand_back_in(session: Session, username: str, at: datetime, actor: str) -> list[LeftTask]:
    """Hand back a deactivated user's tasks inside the session's transaction (see `hand_back`)."""
    connection = session.connection()
    repo = Repository(connection, row_locks=connection.dialect.name != "sqlite")
    return hand_back(repo, username, at, actor)


def hand_back(repo: Repository, username: str, at: datetime, actor: str) -> list[LeftTask]:
    """Give each open task `username` holds to its delegator or its group's queue; return
    those with neither, left where they are. Each instance is locked while it changes."""
    left: list[LeftTask] = []
    for instance_id, held in groupby(repo.held_tasks(username), key=lambda pair: pair[0]):
        instance = repo.lock_instance(instance_id)
        if instance is None:  # pragma: no cover - tasks are never without their instance
            continue
        entries: list[dict[str, Any]] = []
        for _instance, task_id in held:
            task = repo.task(task_id)  # read again under the lock
            if task is None or task.status != "open" or task.assignee != username:
                continue
            why = _give_back(repo, task, username)
            if why is None:
                left.append(LeftTask(task.id, instance.number, task.step))
                continue
            repo.assign_task(task)
            entries.append(
                {
                    "kind": "task_reassigned",
                    "at": at,
                    "actor": actor,
                    "step": task.step,
                    "why": why,
                    "detail": {"task": task.key},
                }
            )
        if entries:
            record_events(repo, instance, entries, None, at)
    return left


def _give_back(repo: Repository, task: TaskRow, username: str) -> str | None:
    """Move the task off `username` (not saved yet) and say where to; None if nowhere."""
    gone = f"{username} can no longer sign in"
    delegator = task.delegated_by
    if delegator and delegator != username and repo.active_users([delegator]):
        task.assignee, task.delegated_by = delegator, None
        return f"to {delegator}, who delegated it: {gone}"
    if task.candidate_group:
        task.assignee, task.delegated_by = None, None
        return f"to the queue of {task.candidate_group}: {gone}"
    return None
