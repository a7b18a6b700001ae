"""Who gets a task: users, group queues and their strategies, managers, next tiers.

A group's strategy and an on-call schedule pick a person for the step; they never pick
one whom separation of duties keeps from it (`apart`), nor one who cannot sign in. With
nobody left to pick, the task waits in the group's queue, where the command that claims
it still holds separation of duties.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NoReturn

from engine.core.conditions import field_value
from engine.core.definition import Workflow
from engine.core.effects import OpenTask
from engine.core.expressions import inspect_template, is_template
from engine.core.steps.base import Step
from engine.service.errors import InvalidInput
from engine.service.oncall import on_call_now
from engine.service.permissions import (
    action_words,
    kept_apart,
    people_kept_apart,
    separation_problem,
)
from engine.service.submissions import InvalidData
from engine.store.repository import InstanceRow, Repository
from forms.errors import FieldError


@dataclass(frozen=True, slots=True)
class Assignee:
    """The outcome of an assignment: a person, a group's queue, or both."""

    user: str | None = None
    group: str | None = None


def resolve(
    repo: Repository,
    assign: Mapping[str, Any],
    current: Assignee | None = None,
    at: datetime | None = None,
    apart: Collection[str] = (),
) -> Assignee:
    """Turn an effect's `assign` block into an assignee and/or a candidate group.

    A pick (round robin, least loaded, on call) passes over the people in `apart`: those
    separation of duties keeps from the step. A person the assignment names is not
    picked but named: `misfit` and `reassign_problem` vet them.
    """
    current = current or Assignee()
    if assign.get("next_tier"):
        return Assignee(None, _next_tier(repo, current.group) or current.group)
    if assign.get("manager"):
        boss = repo.manager_of(current.user) if current.user else None
        return Assignee(boss, current.group) if boss else current
    if "manager_of" in assign:
        return Assignee(repo.manager_of(assign["manager_of"]) if assign["manager_of"] else None)
    if "user" in assign:
        return Assignee(assign["user"] or None)
    if "group" in assign:
        return _from_group(repo, assign["group"], assign.get("strategy", "claim"), apart)
    if "on_call" in assign:
        # Whoever the schedule of that key puts on call now (else whoever's shift covers
        # now); with nobody on call (or only someone kept apart from the step), the
        # schedule's group queue.
        person = on_call_now(repo, assign["on_call"], at) if at is not None else None
        return Assignee(person if person not in apart else None, assign["on_call"])
    return Assignee()


def for_step(
    repo: Repository,
    workflow: Workflow,
    instance: InstanceRow,
    step: str,
    assign: Mapping[str, Any],
    current: Assignee | None = None,
    at: datetime | None = None,
) -> Assignee:
    """Resolve `assign` for a task of `step`: a pick passes over whom separation of duties
    keeps from the step on this instance (see `resolve`)."""
    apart = people_kept_apart(repo, workflow.steps.get(step), instance)
    return resolve(repo, assign, current, at, apart)


def _next_tier(repo: Repository, group: str | None) -> str | None:
    row = repo.group(group) if group else None
    return repo.group_key(row.next_tier_id) if row is not None and row.next_tier_id else None


def _from_group(repo: Repository, group: str, strategy: str, apart: Collection[str]) -> Assignee:
    if strategy == "claim":
        return Assignee(None, group)
    people = [person for person in repo.members(group) if person not in apart]
    if not people:
        return Assignee(None, group)
    if strategy == "least_loaded":
        load = repo.open_load(people)
        return Assignee(min(people, key=lambda person: (load.get(person, 0), person)), group)
    # Round robin: the member after the last one given a task, under the group's row lock
    # so two starts at the same moment do not pick the same person.
    row = repo.group(group, lock=True)
    last = row.last_assigned if row is not None else None
    chosen = next((p for p in people if last is None or p > last), people[0])
    if row is not None:
        repo.set_last_assigned(row.id, chosen)
    return Assignee(chosen, group)


def sources(step: Step | None, role: str | None) -> tuple[str, ...]:
    """Return the data fields a task's assignment was read from (none for a literal one)."""
    if step is None:
        return ()
    doc = step.doc
    if step.type == "review":
        spec = doc.get("reviewers")
        if isinstance(spec, Mapping):
            return (str(spec["from"]).split(".")[0],)
        chosen = next((r for r in spec or () if r.get("role") == role), None)
        assign = chosen.get("assign", {}) if chosen is not None else {}
    else:
        assign = doc.get("assign") or {}
    names: list[str] = []
    for value in assign.values():
        if isinstance(value, str) and is_template(value):
            names += sorted(inspect_template(value).fields)
    return tuple(dict.fromkeys(names))


def requester_named_where_kept_out(
    steps: Mapping[str, Step], data: Mapping[str, Any], requester: str | None
) -> list[FieldError]:
    """Say which start fields name the requester for a step that separation of duties keeps
    them from (the service owner who declares a major incident, asked to review its plan):
    the step would stop on an incident later, with nobody able to act; refused at the start,
    at the field, it is mended by naming someone else."""
    if requester is None:
        return []
    errors: list[FieldError] = []
    for step in steps.values():
        if "requester" not in kept_apart(step):
            continue
        reviewers = step.doc.get("reviewers")
        if isinstance(reviewers, Mapping):  # reviewers named by a field: a list of them
            named = field_value(data, str(reviewers["from"]))
            fields = [str(reviewers["from"])] if requester in _names(named) else []
        else:
            assigns = [step.doc.get("assign")] + [r.get("assign") for r in reviewers or ()]
            people = [a.get("user") for a in assigns if isinstance(a, Mapping)]
            fields = [
                field
                for user in people
                if isinstance(user, str) and is_template(user)
                for field in inspect_template(user).fields
                if data.get(field) == requester
            ]
        errors += [
            FieldError(
                field,
                f"{requester} makes this request, so they may not {action_words(step)} at "
                f"'{step.label}' (separation of duties); name someone else",
            )
            for field in fields
        ]
    return errors


def _names(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


@dataclass(frozen=True, slots=True)
class Misfit:
    """Why a task cannot go to whom its assignment names.

    `message` is said to the person whose data named them (a refusal); `reason` goes on
    the incident of a step the engine runs with nobody to answer. `fields` are the data
    fields the assignment was read from: none for one written in the workflow. A text that
    begins with a user name keeps it as it is written: nothing here capitalises.
    """

    message: str
    reason: str
    fields: tuple[str, ...]


def misfit(
    repo: Repository,
    workflow: Workflow,
    instance: InstanceRow,
    effect: OpenTask,
    who: Assignee,
    *,
    starting: bool = False,
) -> Misfit | None:
    """Say why a task cannot go to `who`, or None if it can: a person who does not exist
    or cannot sign in (whatever named them: the data, the workflow, a manager link), a
    group named in the data that does not exist, or a person separation of duties keeps
    from the step."""
    step = workflow.steps.get(effect.step)
    fields = sources(step, effect.role)
    named = f" (named in {_listing(fields)})" if fields else ""
    if who.user is None and who.group is None and "manager_of" in effect.assign:
        # Nobody at all: the task would wait where no inbox shows it.
        whose = effect.assign.get("manager_of")
        declared = str(((step.doc if step else {}).get("assign") or {}).get("manager_of", ""))
        reason = (
            f"the requester has no account, so no manager to take the task of step "
            f"'{effect.step}'; sign in to send this"
            if instance.requester is None and "requester" in declared
            else f"'{whose}' has no manager to take the task of step '{effect.step}'; an "
            "admin gives them one on their account"
        )
        return Misfit(reason, reason, fields)
    if who.user is not None and who.user not in repo.active_users([who.user]):
        return Misfit(
            f"There is no active user '{who.user}'; name someone who can sign in"
            if fields
            else f"There is no active user '{who.user}' to take the task of step '{effect.step}'",
            f"there is no active user '{who.user}' to take its task{named}",
            fields,
        )
    # A group written in the workflow was checked when it was published.
    if fields and who.group is not None and not repo.known_groups([who.group]):
        return Misfit(
            f"There is no group '{who.group}'",
            f"there is no group '{who.group}' to take its task{named}",
            fields,
        )
    if who.user is not None:
        problem = separation_problem(
            repo, step, instance, who.user, workflow.steps, starting=starting
        )
        if problem is not None:
            return Misfit(problem, problem, fields)
    return None


def reassign_problem(
    repo: Repository, workflow: Workflow, instance: InstanceRow, step: str, who: Assignee
) -> str | None:
    """Say why an escalation or an SLA breach cannot give a task of `step` to `who`; None
    if it can. Whoever it names (a user, a group, the manager or next tier the directory
    gives) must be able to take it, separation of duties included."""
    if who.user is not None and who.user not in repo.active_users([who.user]):
        return f"there is no active user '{who.user}' to give its tasks to"
    if who.group is not None and not repo.known_groups([who.group]):
        return f"there is no group '{who.group}' to give its tasks to"
    if who.user is not None:
        return separation_problem(
            repo, workflow.steps.get(step), instance, who.user, workflow.steps
        )
    return None


def vet(
    repo: Repository,
    workflow: Workflow,
    instance: InstanceRow,
    effect: OpenTask,
    who: Assignee,
) -> None:
    """Refuse a start whose first tasks cannot go to whom they name (see `misfit`): the
    start changes nothing, and its number is never given."""
    found = misfit(repo, workflow, instance, effect, who, starting=True)
    if found is not None:
        refuse(found)


def refuse(found: Misfit) -> NoReturn:
    """Refuse the command, pointing at the data fields that named whom the task cannot go to."""
    if not found.fields:
        raise InvalidInput(found.message)
    raise InvalidData(found.message, [FieldError(field, found.message) for field in found.fields])


def _listing(fields: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{field}'" for field in fields)
    return f"the field {quoted}" if len(fields) == 1 else f"the fields {quoted}"
