"""The static checker: every mistake in a workflow, by JSON Pointer, in plain words.

`check_workflow` runs the schema first (a document that breaks it is reported
as such and nothing else), then the shape of the flow, references to forms,
tables, calendars, workflows, groups and users, durations, reviews, escalations
and priority levels, the messages notifications send, and the data each condition,
expression and template reads.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from engine.core.checker.branches import check_branches
from engine.core.checker.dataflow import Child, Flow, Forms
from engine.core.checker.escalations import check_escalations, raise_problems
from engine.core.checker.graph import check_graph
from engine.core.checker.ignored import check_ignored
from engine.core.checker.jsontext import load_json
from engine.core.checker.kinds import kind_of_expression
from engine.core.checker.messages import check_messages
from engine.core.checker.people import People, check_people
from engine.core.checker.priorities import check_priorities
from engine.core.checker.reads import check_reads
from engine.core.checker.separation import check_separation
from engine.core.checker.start import check_start
from engine.core.checker.statuses import check_statuses
from engine.core.checker.subflows import check_subflows, child_of
from engine.core.checker.tables import check_tables
from engine.core.checker.targets import check_targets
from engine.core.checker.words import among, closest
from engine.core.durations import parse_duration
from engine.core.effects import PROBLEM_WORKFLOW
from engine.core.errors import DurationError, Problem
from engine.core.schema import iter_steps, shipped_problems

__all__ = [
    "Child",
    "Forms",
    "References",
    "check_workflow",
    "check_workflow_flow",
    "child_of",
    "load_json",
]

#: Step types that wait, and so set the instance's status while they are active.
WAITING = frozenset({"task", "approval", "review", "wait", "subflow"})


@dataclass(frozen=True)
class References:
    """What a workflow may refer to. `None` means unknown here: such references are not checked.

    `children` describes each known workflow (see `child_of`; None: too broken to
    read), so that a subflow's data, results and outcomes are checked against it;
    `groups` and `users` are the names that exist where the workflow is to run.
    """

    forms: Forms | None = None
    calendars: frozenset[str] | None = None
    workflows: frozenset[str] | None = None
    children: Mapping[str, Child | None] | None = None
    groups: frozenset[str] | None = None
    users: frozenset[str] | None = None
    #: Collects the groups and users the workflow names (see `People.named`).
    named: dict[str, set[str]] | None = None
    #: Form key -> where its rules read `outcome` (see `start.rules_reading_outcome`).
    outcome_rules: Mapping[str, tuple[str, ...]] | None = None
    #: The mail templates that ship with Flowdesk, which a `notify` may name besides the
    #: workflow's own `messages`.
    templates: frozenset[str] | None = None


def check_workflow(doc: Any, references: References | None = None) -> list[Problem]:
    """Return every problem of a workflow document; an empty list means it is sound."""
    return check_workflow_flow(doc, references)[0]


def check_workflow_flow(
    doc: Any, references: References | None = None
) -> tuple[list[Problem], Flow | None]:
    """Return every problem of a workflow document and the dataflow it was checked with
    (None when the schema refuses the document), for callers that read the flow too."""
    references = references or References()
    problems = shipped_problems("workflow", doc)
    if problems:
        return problems, None
    levels = tuple(doc.get("priorities") or doc.get("sla", {}).get("targets", {}))
    flow = Flow(doc, references.forms, levels, references.children, kind_of_expression)
    problems += check_graph(doc)
    problems += check_branches(doc)
    problems += _references(doc, references)
    problems += _durations(doc)
    problems += _reviews(doc)
    problems += check_escalations(doc, levels)
    problems += _sla(doc, levels)
    problems += check_ignored(doc)
    problems += check_reads(doc, flow)
    problems += check_tables(doc, flow)
    problems += check_priorities(doc, flow)
    people = People(references.groups, references.users, references.named)
    problems += check_people(doc, flow, people)
    problems += check_subflows(flow, references.forms)
    problems += check_start(doc, references.outcome_rules)
    problems += check_targets(doc)
    problems += check_statuses(doc)
    problems += check_separation(flow)
    problems += check_messages(doc, flow, references.templates)
    return sorted(set(problems)), flow


def _steps(doc: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any], str]]:
    for step_id, step, pointer, _parallel, _branch in iter_steps(doc["steps"]):
        yield step_id, step, pointer


def _confirm_to(start: Mapping[str, Any], refs: References) -> Iterator[Problem]:
    field = start["confirm_to"]
    if "form" not in start:
        yield Problem("/start/confirm_to", "there is no start form to take the address from")
        return
    infos = refs.forms.get(start["form"]) if refs.forms is not None else None
    found = [info for info in infos or () if info.key == field]
    if infos is not None and not found:
        yield Problem(
            "/start/confirm_to",
            f"the start form '{start['form']}' has no field '{field}' to send the link to",
        )
    elif found and found[0].type not in ("string", "any"):
        yield Problem(
            "/start/confirm_to",
            f"'{field}' of the start form is not a text field, so it cannot hold an email address",
        )
    elif found and found[0].form_type == "service":
        yield Problem(
            "/start/confirm_to",
            f"'{field}' of the start form holds a service of the catalogue, not an email "
            "address; name the field where the requester gives their address (a text field with "
            '"format": "email")',
        )
    elif found and found[0].form_type == "user":
        yield Problem(
            "/start/confirm_to",
            f"'{field}' of the start form holds a user name, not an email address; name the "
            'field where the requester gives their address (a text field with "format": "email")',
        )


def _service(start: Mapping[str, Any], refs: References) -> Iterator[Problem]:
    field = start["service"]
    if "form" not in start:
        yield Problem("/start/service", "there is no start form to take the service from")
        return
    infos = refs.forms.get(start["form"]) if refs.forms is not None else None
    found = [info for info in infos or () if info.key == field]
    if infos is not None and not found:
        services = [info.key for info in infos if info.form_type == "service"]
        hint = f"; its service fields are: {', '.join(services)}" if services else ""
        yield Problem(
            "/start/service",
            f"the start form '{start['form']}' has no field '{field}'{hint}",
        )
    elif found and found[0].form_type != "service":
        yield Problem(
            "/start/service",
            f"'{field}' of the start form is not a service field; make it one "
            '("type": "service"), so that its answer is a service of the catalogue',
        )


def _references(doc: Mapping[str, Any], refs: References) -> Iterator[Problem]:
    def form(key: str, pointer: str) -> Iterator[Problem]:
        if refs.forms is not None and key not in refs.forms:
            yield Problem(pointer, f"there is no form '{key}'{among(refs.forms)}")

    def calendar(key: str, pointer: str) -> Iterator[Problem]:
        if refs.calendars is not None and key not in refs.calendars:
            yield Problem(pointer, f"there is no business calendar '{key}'{among(refs.calendars)}")

    start = doc.get("start", {})
    if "form" in start:
        yield from form(start["form"], "/start/form")
    if "confirm_to" in start:
        yield from _confirm_to(start, refs)
    if "service" in start:
        yield from _service(start, refs)
    if "calendar" in doc.get("sla", {}):
        yield from calendar(doc["sla"]["calendar"], "/sla/calendar")
    tables = doc.get("tables", {})
    for _step_id, step, pointer in _steps(doc):
        if "form" in step:
            yield from form(step["form"], f"{pointer}/form")
        if "calendar" in step:
            yield from calendar(step["calendar"], f"{pointer}/calendar")
        for index, rung in enumerate(step.get("escalate", ())):
            if "calendar" in rung:
                yield from calendar(rung["calendar"], f"{pointer}/escalate/{index}/calendar")
        for name, spec in step.get("set", {}).items():
            if "lookup" in spec and spec["lookup"] not in tables:
                yield Problem(
                    f"{pointer}/set/{name}/lookup",
                    f"there is no decision table '{spec['lookup']}'{among(tables)}",
                )
            elif "lookup" in spec and tables[spec["lookup"]]["output"] != name:
                output = tables[spec["lookup"]]["output"]
                yield Problem(
                    f"{pointer}/set/{name}/lookup",
                    f"table '{spec['lookup']}' gives '{output}', but this sets '{name}'; "
                    "set the field the table gives",
                )
        workflows = refs.workflows
        if (
            step["type"] == "subflow"
            and workflows is not None
            and step["workflow"] not in workflows
        ):
            yield Problem(
                f"{pointer}/workflow",
                f"there is no workflow '{step['workflow']}'{among(workflows)}",
            )
        if step.get("open_problem") and doc.get("key") == PROBLEM_WORKFLOW:
            yield Problem(
                f"{pointer}/open_problem",
                "a problem does not open a problem: problems are linked to incidents, not to "
                "each other",
            )
        elif (
            step.get("open_problem") and workflows is not None and PROBLEM_WORKFLOW not in workflows
        ):
            yield Problem(
                f"{pointer}/open_problem",
                f"there is no workflow '{PROBLEM_WORKFLOW}' to open a problem with: load the "
                "shipped problem management (workflows/problem.json) with this workflow",
            )


def _durations(doc: Mapping[str, Any]) -> Iterator[Problem]:
    def duration(text: str, pointer: str) -> Iterator[Problem]:
        try:
            parse_duration(text)
        except DurationError as exc:
            yield Problem(pointer, str(exc))

    for level, targets in doc.get("sla", {}).get("targets", {}).items():
        for kind, text in targets.items():
            yield from duration(text, f"/sla/targets/{level}/{kind}")
    for _step_id, step, pointer in _steps(doc):
        if "due" in step:
            yield from duration(step["due"], f"{pointer}/due")
        if step["type"] == "wait" and "for" in step:
            yield from duration(step["for"], f"{pointer}/for")
        for index, rung in enumerate(step.get("escalate", ())):
            yield from duration(rung["after"], f"{pointer}/escalate/{index}/after")
            if "repeat" in rung:
                yield from duration(
                    rung["repeat"]["every"], f"{pointer}/escalate/{index}/repeat/every"
                )


def _reviews(doc: Mapping[str, Any]) -> Iterator[Problem]:
    for _step_id, step, pointer in _steps(doc):
        if step["type"] == "parallel":
            join, count = step.get("join", "all"), len(step["branches"])
            if isinstance(join, int) and join > count:
                yield Problem(
                    f"{pointer}/join",
                    f"the join waits for {join} branches, but there are only {count}",
                )
        if step["type"] != "review" or not isinstance(step["reviewers"], list):
            continue
        named: dict[str, int] = {}
        for index, reviewer in enumerate(step["reviewers"]):
            assign = reviewer.get("assign") if isinstance(reviewer, dict) else None
            person = assign.get("user") if isinstance(assign, dict) else None
            if not isinstance(person, str):
                continue
            if person in named:
                yield Problem(
                    f"{pointer}/reviewers/{index}/assign/user",
                    f"'{person}' is reviewer {named[person] + 1} already: one person votes "
                    "once, so name someone else",
                )
            named.setdefault(person, index)
        count, quorum = len(step["reviewers"]), step["quorum"]
        if isinstance(quorum, int) and quorum > count:
            yield Problem(
                f"{pointer}/quorum",
                f"the quorum of {quorum} approvals can never be reached with {count} reviewers",
            )
        reject = step.get("reject")
        if isinstance(reject, dict) and reject["count"] > count:
            yield Problem(
                f"{pointer}/reject/count",
                f"{reject['count']} rejections can never happen with {count} reviewers",
            )


def _sla(doc: Mapping[str, Any], levels: tuple[str, ...]) -> Iterator[Problem]:
    """`on_breach` acts on the instance, so it cannot finish or leave a step; pauses need
    a status some waiting step sets."""
    sla = doc.get("sla")
    if not sla:
        return
    for index, action in enumerate(sla.get("on_breach", ())):
        ((name, arg),) = action.items()
        where = f"/sla/on_breach/{index}/{name}"
        if name in ("complete", "goto"):
            yield Problem(
                where,
                f"'{name}' acts on a step, but a breach belongs to the whole "
                "instance; use notify, remind, reassign or raise_priority",
            )
        elif name == "raise_priority":
            yield from raise_problems(arg, where, levels)
    setting: dict[str, str] = {}  # status -> the first waiting step that sets it
    for step_id, step, _pointer in _steps(doc):
        if _shows_status(step) and isinstance(step.get("status"), str):
            setting.setdefault(step["status"], step_id)
    for index, status in enumerate(sla.get("pause_while", ())):
        if status not in setting:
            meant = closest(status, setting)
            hint = f"; did you mean '{meant}', which step '{setting[meant]}' sets?" if meant else ""
            yield Problem(
                f"/sla/pause_while/{index}",
                f"no step sets the status '{status}' while it waits, so the clock would "
                f"never pause for it{hint}",
            )


def _shows_status(step: Mapping[str, Any]) -> bool:
    """Tell whether a step's `status` is ever the instance's status while it runs."""
    if step["type"] == "subflow":
        return step.get("wait", True) is not False
    return step["type"] in WAITING
