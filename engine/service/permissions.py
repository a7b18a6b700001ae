"""Who may act on a task: one rule, used by the commands and by every page that offers an action.

The commands decide under the instance's lock (`require_actor`); pages and the API ask
`may_act` with what they know of the person, only to offer or hide a button, and the
command still has the last word. Separation of duties (`not_by`) keeps the requester
from approving their own request, and the author of a plan from reviewing it.

Handing a task on (`reassign`, `delegate`) is desk work: only agents, admins and group
members do it, whichever door they come through. An admin may reassign any open task,
and a member of a task's group may take back a task whose holder can no longer sign in
(`may_reassign`), so no task stays with someone who has left.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from engine.core.steps.base import Step
from engine.service.errors import Conflict, NotAllowed, NotFound
from engine.store.directory import Directory
from engine.store.repository import InstanceRow, Repository, TaskRow

#: Step types whose tasks are decisions; the requester does not take them by default.
DECISIONS = ("approval", "review")
#: How far up a chain of subflows separation of duties looks for who asked.
MAX_ANCESTORS = 50
#: Why someone off the desk may not hand a task on.
DESK_ONLY = "only the service desk hands tasks on, and {actor} does not work the desk"


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


def may_reassign(
    actor: str,
    in_group: Callable[[str], bool],
    task: TaskLike,
    requester: str | None,
    *,
    admin: bool,
    desk: bool,
    holder_gone: bool,
) -> bool:
    """Tell whether `actor` may give an open task to someone else.

    Desk work (`desk`: an agent or admin, or in a group): an admin, any open task; anyone
    else whom `may_act` lets act on it; or a member of its group when its holder can no
    longer sign in (`holder_gone`).
    """
    if admin:
        return True
    if not desk:
        return False
    if may_act(actor, in_group, task, requester):
        return True
    return holder_gone and task.candidate_group is not None and in_group(task.candidate_group)


def holder_gone(repo: Directory, task: TaskLike) -> bool:
    """Tell whether a task is held by someone who can no longer sign in."""
    return task.assignee is not None and not repo.active_users([task.assignee])


def require_reassigner(repo: Repository, task: TaskRow, actor: str, instance: InstanceRow) -> None:
    """Refuse anyone `may_reassign` does not let give the task to someone else, saying why."""
    admin = "admin" in repo.roles_of(actor)
    desk = admin or repo.is_agent(actor)
    if may_reassign(
        actor,
        lambda group: repo.is_member(actor, group),
        task,
        instance.requester,
        admin=admin,
        desk=desk,
        holder_gone=holder_gone(repo, task),
    ):
        return
    if not desk:
        raise NotAllowed(DESK_ONLY.format(actor=actor))
    require_actor(repo, task, actor, instance)  # not theirs to act on: it says why


def require_delegator(repo: Repository, task: TaskRow, actor: str) -> None:
    """Refuse anyone but the task's holder (or their delegator) on the desk: delegating is
    asking someone to do one's own task."""
    if actor not in (task.assignee, task.delegated_by):
        raise NotAllowed(f"only the assignee of task {task.id} can delegate it")
    if not repo.is_agent(actor):
        raise NotAllowed(DESK_ONLY.format(actor=actor))


def require_admin(repo: Repository, actor: str, what: str) -> None:
    """Refuse anyone but an active admin: `what` says what they tried ("change users")."""
    if "admin" not in repo.roles_of(actor):
        raise NotAllowed(f"only an admin may {what}")


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


def people_kept_apart(repo: Repository, step: Step | None, instance: InstanceRow) -> frozenset[str]:
    """Return the people separation of duties keeps from a step's tasks on this instance:
    the requester, and whoever completed the earlier steps its `not_by` names."""
    apart = kept_apart(step)
    people = set(repo.completers(instance.id, [name for name in apart if name != "requester"]))
    if "requester" in apart:
        people.update(person for person, _number in requesters(repo, instance))
    return frozenset(people)


def keep_from_later_steps(
    repo: Repository, steps: Mapping[str, Step], instance: InstanceRow, done: str, person: str
) -> None:
    """`person` has just completed a task of step `done`: the tasks already open on steps
    whose `not_by` names it (a parallel branch) now keep them apart too, so queues leave
    those tasks out for them as they do for tasks opened afterwards. So do the other open
    votes of the same review (`done`'s, when it is one): one person votes once
    (`second_vote_problem`), and a reviewer in two of its groups saw the second vote in
    their queue, only to be refused it."""
    later = [step.id for step in steps.values() if done in kept_apart(step)]
    review = steps.get(done)
    if review is not None and review.type == "review":
        later.append(done)
    if later:
        repo.keep_apart(instance.id, later, person)


def requesters(repo: Repository, instance: InstanceRow) -> list[tuple[str, str]]:
    """Return who requested this instance and each instance above it, with its number.

    A child started by a `subflow` step has no requester of its own, but whoever asked
    for its parent asked for it too: separation of duties keeps them out of it as well.
    """
    found: list[tuple[str, str]] = []
    seen: set[int] = set()
    current: InstanceRow | None = instance
    while current is not None and current.id not in seen and len(seen) < MAX_ANCESTORS:
        seen.add(current.id)
        if current.requester is not None:
            found.append((current.requester, current.number))
        current = repo.instance(current.parent_id) if current.parent_id is not None else None
    return found


def separation_problem(
    repo: Repository,
    step: Step | None,
    instance: InstanceRow,
    person: str,
    steps: Mapping[str, Step],
    *,
    starting: bool = False,
    to_them: bool = False,
) -> str | None:
    """Say why separation of duties keeps `person` from this step's tasks, or None.

    `starting`: the instance is being started, and a refusal keeps its number from ever
    existing, so the words do not name it. `to_them`: the words are for the person ("You
    requested…", on their task page)."""
    apart = kept_apart(step)
    if not apart or step is None:
        return None
    who, they = ("You", "you") if to_them else (person, "they")
    # The nearest instance a person requested is the one named.
    asked = dict(reversed(requesters(repo, instance))) if "requester" in apart else {}
    if person in asked:
        number = asked[person]
        if starting and number == instance.number:
            return (
                f"{person} makes this request, so they may not {action_words(step)} at "
                f"'{step.label}' (separation of duties)"
            )
        started = (
            "" if number == instance.number or starting else f", which started {instance.number}"
        )
        return (
            f"{who} requested {number}{started}, so {they} may not {action_words(step)} "
            "(separation of duties)"
        )
    for earlier in (name for name in apart if name != "requester"):
        if person in repo.completers(instance.id, [earlier]):
            done = steps[earlier].label if earlier in steps else "an earlier step"
            return (
                f"{who} did '{done}' on {instance.number}, so {they} may not "
                f"{action_words(step)} (separation of duties)"
            )
    return None


def require_separation(
    repo: Repository,
    step: Step | None,
    instance: InstanceRow,
    person: str,
    steps: Mapping[str, Step],
    task: TaskRow | None = None,
) -> None:
    """Refuse a person that separation of duties keeps from this step's tasks, or, for a
    review's `task`, one who holds or cast another of its votes."""
    problem = separation_problem(repo, step, instance, person, steps)
    if problem is None and task is not None:
        problem = second_vote_problem(repo, step, instance, task, person)
    if problem is not None:
        raise NotAllowed(problem)


def second_vote_problem(
    repo: Repository, step: Step | None, instance: InstanceRow, task: TaskRow, person: str
) -> str | None:
    """Say why a person may not take or cast this vote of a review: they hold or cast another
    of the same review's (a quorum counts people, not tasks); None when they may."""
    if step is None or step.type != "review":
        return None
    state = instance.state
    pending = (state.get("tasks") or {}).get(task.key)
    run = next(
        (r for r in state.get("runs") or () if pending and r.get("id") == pending.get("run")),
        None,
    )
    if run is None:
        return None
    others = [key for key in (*run.get("tasks", ()), *run.get("votes", {})) if key != task.key]
    for key in others:  # a review has a few tasks: each read by its key
        other = repo.task_by_key(instance.id, key)
        if other is not None and person in (other.assignee, other.completed_by):
            return (
                f"{person} already has a vote in this review of {instance.number}; one "
                "person votes once"
            )
    return None


def action_words(step: Step) -> str:
    if step.type == "approval":
        return "approve it"
    if step.type == "review":
        return "review it"
    return f"do '{step.label}'"
