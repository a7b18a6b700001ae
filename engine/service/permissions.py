"""Who may act on a task: the checks every task command makes under the instance's lock."""

from __future__ import annotations

from engine.service.errors import Conflict, NotAllowed, NotFound
from engine.store.repository import InstanceRow, Repository, TaskRow


def require_open(task: TaskRow) -> None:
    """Refuse to act on a task that is completed or withdrawn."""
    if task.status == "completed":
        raise Conflict(
            f"task {task.id} was already completed by {task.completed_by} "
            f"({task.outcome}); nothing was changed"
        )
    if task.status != "open":
        raise Conflict(f"task {task.id} was withdrawn ({task.status}); nothing was changed")


def require_requester_task(task: TaskRow, instance: InstanceRow, number: str) -> None:
    """Refuse a tracking-link holder any task but the requester's own on their instance."""
    if instance.number != number:
        raise NotFound(f"there is no task {task.id} on {number}")
    if not task.assignment.get("requester") or task.assignee not in (None, instance.requester):
        raise NotAllowed(f"task {task.id} is not the requester's to do")


def require_actor(repo: Repository, task: TaskRow, actor: str, instance: InstanceRow) -> None:
    """Only the assignee (or whoever delegated to them), or a member of the queue's group."""
    if actor in (task.assignee, task.delegated_by):
        return
    if task.assignee is None and task.candidate_group:
        if repo.is_member(actor, task.candidate_group):
            return
        raise NotAllowed(f"{actor} is not in the group '{task.candidate_group}' of task {task.id}")
    if task.assignee is None and task.assignment.get("requester") and actor == instance.requester:
        return
    raise NotAllowed(
        f"task {task.id} is assigned to {task.assignee or 'someone else'}, not {actor}"
    )
