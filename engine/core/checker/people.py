"""Checks on who work and messages go to: assignments, reassignments and recipients.

Every text of an `assign` object or a recipient is a template filled in from the data
(a field there must exist and hold a name, not a list or a number); a plain name must
be a group or user that exists, when the checker is told which exist; and `assignee`,
`candidates` and `next_tier` need a step whose tasks have them. A webhook address is a
template too, but only past its scheme and host, which are written out.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from engine.core.assignment import webhook_problem
from engine.core.checker.dataflow import Flow
from engine.core.checker.kinds import parse_template, value_of
from engine.core.checker.literals import meant_instead
from engine.core.checker.points import At, anywhere, at_step
from engine.core.checker.reads import template
from engine.core.checker.separation import requester_kept_out
from engine.core.checker.words import among, literal
from engine.core.errors import Problem
from engine.core.expressions import is_template
from engine.core.fields import TYPE_WORDS

#: What each text of an assignment or recipient names.
NAMES = {
    "user": "a user name", "group": "a group name", "on_call": "a schedule name",
    "manager_of": "a user name", "email": "an email address",
}  # fmt: skip

#: Value kinds that can never be one name or address.
NOT_A_NAME = frozenset({"number", "boolean", "list", "date", "datetime", "file", "table"})


@dataclass(frozen=True, slots=True)
class People:
    """The groups and users that exist; None: unknown here, so names are not checked.

    `named`, when given, collects every group and user a workflow names as it is
    written (by "group", "user"), so a loader can tell which must exist.
    """

    groups: frozenset[str] | None = None
    users: frozenset[str] | None = None
    named: dict[str, set[str]] | None = None


def check_people(doc: Mapping[str, Any], flow: Flow, people: People) -> Iterator[Problem]:
    """Check every assignment, reassignment and recipient of a workflow."""
    for step_id, (step, pointer) in flow.steps.items():
        here = at_step(flow, step_id)
        kind = step["type"]
        if "assign" in step:
            yield from assignment(step["assign"], f"{pointer}/assign", here, people)
        yield from _kept_apart(flow, step, pointer)
        if kind == "review" and isinstance(step["reviewers"], list):
            for index, reviewer in enumerate(step["reviewers"]):
                where = f"{pointer}/reviewers/{index}/assign"
                yield from assignment(reviewer["assign"], where, here, people)
        if kind == "action" and "notify" in step:
            after = here.with_fields(
                {n: flow.info_of(n, s) for n, s in step.get("set", {}).items()}
            )
            notify = step["notify"]
            for index, message in enumerate([notify] if isinstance(notify, dict) else notify):
                where = (
                    f"{pointer}/notify" if isinstance(notify, dict) else f"{pointer}/notify/{index}"
                )
                yield from _message(message, where, after, people, step, waits=False)
        for rung_index, rung in enumerate(step.get("escalate", ())):
            for index, action in enumerate(rung["do"]):
                where = f"{pointer}/escalate/{rung_index}/do/{index}"
                yield from _escalation(action, where, here, people, step)
    by = doc.get("start", {}).get("by")
    for index, name in enumerate(by if isinstance(by, list) else ()):
        yield from _named("group", name, f"/start/by/{index}", people)
    everywhere = anywhere(flow)
    for index, action in enumerate(doc.get("sla", {}).get("on_breach", ())):
        yield from _escalation(action, f"/sla/on_breach/{index}", everywhere, people, None)


def _kept_apart(flow: Flow, step: Mapping[str, Any], pointer: str) -> Iterator[Problem]:
    """Check `not_by`: earlier steps people act on, and not the very person the task goes to."""
    for index, name in enumerate(step.get("not_by", ())):
        where = f"{pointer}/not_by/{index}"
        if name == "requester":
            yield from requester_kept_out(step, where)
        elif name not in flow.steps:
            yield Problem(where, f"there is no step '{name}'{among(flow.steps, name)}")
        elif flow.steps[name][0]["type"] not in ("task", "approval", "review"):
            kind = flow.steps[name][0]["type"]
            yield Problem(
                where,
                f"'{name}' is {'an' if kind[0] in 'aeiou' else 'a'} {kind} step, which "
                "nobody acts on, so it keeps nobody out",
            )


def _escalation(
    action: Mapping[str, Any], where: str, at: At, people: People, step: Mapping[str, Any] | None
) -> Iterator[Problem]:
    if "notify" in action:
        yield from _message(action["notify"], f"{where}/notify", at, people, step, waits=True)
    elif "reassign" in action:
        target = action["reassign"]
        yield from _one_voter(target, f"{where}/reassign", step)
        if isinstance(target, Mapping):
            yield from assignment(target, f"{where}/reassign", at, people)
        elif target == "next_tier" and step is not None and not _has_group(step):
            yield Problem(
                f"{where}/reassign",
                "'next_tier' moves a task to the next tier of the group it waits with, but "
                "this step's tasks go to a person, not a group, so they would go to nobody",
            )
    elif "remind" in action and step is not None:
        yield from _present(action["remind"], f"{where}/remind", step)


def _one_voter(target: Any, where: str, step: Mapping[str, Any] | None) -> Iterator[Problem]:
    """A review's escalation that gives every vote left to one person: they may cast only
    one (one person votes once), so a quorum of more could never be reached."""
    if step is None or step.get("type") != "review":
        return
    quorum = step.get("quorum")
    to_group = target == "next_tier" or (isinstance(target, Mapping) and "group" in target)
    if to_group or not isinstance(quorum, int) or quorum < 2:
        return
    yield Problem(
        where,
        f"this gives every vote left in the review to one person, who may cast only one: "
        f"a quorum of {quorum} could never be reached. Reassign to a group (each vote is then "
        "taken by a different member), or notify someone instead",
    )


def _message(
    message: Mapping[str, Any],
    where: str,
    at: At,
    people: People,
    step: Mapping[str, Any] | None,
    *,
    waits: bool,
) -> Iterator[Problem]:
    """Check one notification: its recipient, or its webhook's address (see `webhook_problem`).

    `step` sends it (None: an SLA breach, for every open task); `waits`: the step has
    tasks of its own (an escalation), not an action passing by.
    """
    if "webhook" in message:
        url = message["webhook"]
        problem = webhook_problem(url)
        if problem is not None:
            yield Problem(f"{where}/webhook", problem)
        elif is_template(url):
            yield from template(url, f"{where}/webhook", at)
        return
    to = message["to"]
    if isinstance(to, Mapping):
        yield from assignment(to, f"{where}/to", at, people)
    elif step is not None and not waits and to in ("assignee", "candidates"):
        yield Problem(
            f"{where}/to",
            f"an action has no tasks, so it has no {to}; name the person or group, "
            'like {"group": "service-desk"}',
        )
    elif step is not None and waits:
        yield from _present(to, f"{where}/to", step)


def _present(who: str, where: str, step: Mapping[str, Any]) -> Iterator[Problem]:
    """Report `candidates` for a step whose tasks wait with no group."""
    if who == "candidates" and not _has_group(step):
        yield Problem(
            where,
            "this step's tasks go to a person, not to a group's queue, so there are no "
            "candidates; remind the assignee",
        )


def _has_group(step: Mapping[str, Any]) -> bool:
    """Tell whether some task of a human step may wait in a group's queue."""
    if step["type"] == "review":
        reviewers = step["reviewers"]
        if not isinstance(reviewers, list):
            return False  # reviewers from a field are users
        return any(_group_assignment(reviewer["assign"]) for reviewer in reviewers)
    return _group_assignment(step.get("assign", {"requester": True}))


def _group_assignment(assign: Mapping[str, Any]) -> bool:
    return "group" in assign or "on_call" in assign


def assignment(
    assign: Mapping[str, Any], pointer: str, at: At, people: People
) -> Iterator[Problem]:
    """Check an `assign` object (or a recipient): each of its texts names someone real."""
    for key, text in assign.items():
        if key not in NAMES or not isinstance(text, str):
            continue
        where = f"{pointer}/{key}"
        if is_template(text):
            found = template(text, where, at)
            yield from found
            if not found:
                yield from _filled_in(key, text, where, at, people)
        elif "{" in text or "$" in text:
            field = text.strip("${} ")
            yield Problem(
                where,
                f"'{text}' is taken as {NAMES[key]} as it is written; to fill in a field, "
                f"write {{{{ {field} }}}}",
            )
        else:
            named = list(_named(key, text, where, people))
            meant = meant_instead(key, text, where, at, people.groups, people.users)
            yield from [Problem(where, meant)] if meant is not None else named


def _named(key: str, name: str, where: str, people: People) -> Iterator[Problem]:
    if people.named is not None and key in ("group", "user", "manager_of"):
        people.named.setdefault("user" if key == "manager_of" else key, set()).add(name)
    if key == "group" and people.groups is not None and name not in people.groups:
        yield Problem(where, f"there is no group '{name}'{among(people.groups, name)}")
    elif key in ("user", "manager_of") and people.users is not None and name not in people.users:
        yield Problem(where, f"there is no user '{name}'{among(people.users, name)}")
    elif key == "email" and "@" not in name:
        yield Problem(where, f"'{name}' is not an email address")


def _filled_in(key: str, text: str, where: str, at: At, people: People) -> Iterator[Problem]:
    """Check what a template of one `{{ field }}` gives: a name, and one that exists.

    The values a field can hold come from where it is written: a wrong one is reported
    there (the table row, the `set` value), or here when a form offers it.
    """
    tree = parse_template(text)
    if tree is None:
        return
    value = value_of(tree, at)
    if value.field is None:
        return
    if value.type in NOT_A_NAME:
        yield Problem(
            where,
            f"'{value.field}' holds {TYPE_WORDS[value.type]}, but {NAMES[key]} is needed here",
        )
        return
    if key == "email" and _user_field(value.field, at):
        yield Problem(
            where,
            f"'{value.field}' holds a user name, not an email address; to send to that user, "
            f'write {{"user": "{{{{ {value.field} }}}}"}}',
        )
        return
    flow = at.flow
    what = NAMES[key].split(" ", 1)[1]
    uses = f" (the {what} {{{{ {value.field} }}}} gives comes from here)"
    for definition in flow.definitions_of(value.field, at.bits):
        if definition.absent:
            continue
        step, pointer = flow.steps.get(definition.step or "", ({}, ""))
        spec = step.get("set", {}).get(value.field)
        tables = flow.doc.get("tables", {})
        if spec is not None and "value" in spec:
            for _option, message in _unknown(key, [spec["value"]], people):
                yield Problem(f"{pointer}/set/{value.field}/value", message + uses)
        elif spec is not None and spec.get("lookup") in tables:
            table_key = spec["lookup"]
            table = tables[table_key]
            cells = [
                (f"/tables/{table_key}/rows/{i}/then", r["then"])
                for i, r in enumerate(table["rows"])
            ]
            cells.append((f"/tables/{table_key}/default", table.get("default")))
            for cell, option in cells:
                for _option, message in _unknown(key, [option], people):
                    yield Problem(cell, message + uses)
        elif spec is None:
            for option, message in _unknown(key, definition.info.options or (), people):
                yield Problem(where, f"'{value.field}' can be {literal(option)}, and {message}")


def _user_field(name: str, at: At) -> bool:
    """Tell whether a field surely holds a user name: a form's `user` field fills it in."""
    info = at.info(name)
    return info is not None and info.form_type == "user"


def _unknown(key: str, values: Iterable[Any], people: People) -> Iterator[tuple[Any, str]]:
    """Yield each value that names a group or user that does not exist, and why."""
    for option in values:
        if isinstance(option, str) and not is_template(option):
            for problem in _named(key, option, "", people):
                yield option, problem.message
