"""Who may act on a task: one rule, used by the commands and by every page that offers an action.

The commands decide under the instance's lock (`require_actor`); pages and the API ask
`may_act` with what they know of the person, only to offer or hide a button, and the
command still has the last word. Separation of duties (`not_by`) keeps the requester
from approving their own request, and the author of a plan from reviewing it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from engine.core.steps.base import Step
from engine.service.errors import Conflict, NotAllowed, NotFound
from engine.store.repository import InstanceRow, Repository, TaskRow

#: Step types whose tasks are decisions; the requester does not take them by default.
DECISIONS = ("approval", "review")


class TaskLike(Protocol):
    """What the rule reads of a task, whichever door holds it (a row, an ORM object)."""

    @property
    def assignee(self) -> str | None: ...

    @property
    def delegated_by(self) -> str | None: ...

    @property
    def candidate_group(self) -> str | None: ...

    @property
    def assignment(self) -> Mapping[str, Any]: ...


def may_act(
    actor: str, in_group: Callable[[str], bool], task: TaskLike, requester: str | None
) -> bool:
    """Tell whether `actor` may act on an open task: its assignee (or their delegator), a
    member of its queue's group while it is queued, or the requester on the requester's task."""
    if actor in (task.assignee, task.delegated_by):
        return True
    if task.assignee is None and task.candidate_group:
        return in_group(task.candidate_group)
    requesters = task.assignee is None and task.assignment.get("requester")
    return bool(requesters and requester is not None and actor == requester)


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
    """Refuse anyone `may_act` does not let act on the task, saying why."""
    if may_act(actor, lambda group: repo.is_member(actor, group), task, instance.requester):
        return
    if task.assignee is None and task.candidate_group:
        raise NotAllowed(f"{actor} is not in the group '{task.candidate_group}' of task {task.id}")
    raise NotAllowed(
        f"task {task.id} is assigned to {task.assignee or 'someone else'}, not {actor}"
    )


def kept_apart(step: Step | None) -> tuple[str, ...]:
    """Return who may not act on a step's tasks: 'requester' and ids of earlier steps.

    Approvals and reviews keep the requester out unless the workflow gives the step to
    the requester (confirming a fix); `not_by` says otherwise, `[]` lets anyone.
    """
    if step is None:
        return ()
    doc = step.doc
    if "not_by" in doc:
        return tuple(doc["not_by"])
    given_to_requester = bool((doc.get("assign") or {}).get("requester"))
    return ("requester",) if step.type in DECISIONS and not given_to_requester else ()


def separation_problem(
    repo: Repository,
    step: Step | None,
    instance: InstanceRow,
    person: str,
    steps: Mapping[str, Step],
) -> str | None:
    """Say why separation of duties keeps `person` from this step's tasks, or None."""
    apart = kept_apart(step)
    if not apart or step is None:
        return None
    if "requester" in apart and instance.requester is not None and person == instance.requester:
        return (
            f"{person} requested {instance.number}, so they may not {_action(step)} "
            "(separation of duties)"
        )
    earlier: Sequence[str] = [name for name in apart if name != "requester"]
    if earlier and person in repo.completers(instance.id, earlier):
        done = next((steps[name].label for name in earlier if name in steps), "an earlier step")
        return (
            f"{person} did '{done}' on {instance.number}, so they may not {_action(step)} "
            "(separation of duties)"
        )
    return None


def require_separation(
    repo: Repository,
    step: Step | None,
    instance: InstanceRow,
    person: str,
    steps: Mapping[str, Step],
) -> None:
    """Refuse a person that separation of duties keeps from this step's tasks."""
    problem = separation_problem(repo, step, instance, person, steps)
    if problem is not None:
        raise NotAllowed(problem)


def _action(step: Step) -> str:
    if step.type == "approval":
        return "approve it"
    if step.type == "review":
        return "review it"
    return f"do '{step.label}'"
