"""The static checker: every mistake in a workflow, by JSON Pointer, in plain words.

`check_workflow` runs the schema first (a document that breaks it is reported
as such and nothing else), then the shape of the flow, references to forms,
tables, calendars and workflows, durations, reviews and escalations, and the
data each condition and expression reads.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from engine.core.checker.dataflow import Forms, check_data
from engine.core.checker.graph import check_graph
from engine.core.durations import parse_duration
from engine.core.errors import DurationError, Problem
from engine.core.schema import iter_steps, schema_problems, validator

__all__ = ["References", "check_workflow"]


@dataclass(frozen=True)
class References:
    """What a workflow may refer to. `None` means unknown here: such references are not checked."""

    forms: Forms | None = None
    calendars: frozenset[str] | None = None
    workflows: frozenset[str] | None = None


def check_workflow(doc: Any, references: References | None = None) -> list[Problem]:
    """Return every problem of a workflow document; an empty list means it is sound."""
    references = references or References()
    problems = schema_problems(validator("workflow"), doc)
    if problems:
        return problems
    problems += check_graph(doc)
    problems += _references(doc, references)
    problems += _durations(doc)
    problems += _reviews(doc)
    problems += _escalations(doc)
    problems += _sla(doc)
    problems += check_data(doc, references.forms)
    return sorted(set(problems))


def _steps(doc: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any], str]]:
    for step_id, step, pointer, _parallel, _branch in iter_steps(doc["steps"]):
        yield step_id, step, pointer


def _confirm_to(start: Mapping[str, Any], refs: References) -> Iterator[Problem]:
    field = start["confirm_to"]
    if "form" not in start:
        yield Problem("/start/confirm_to", "there is no start form to take the address from")
        return
    infos = refs.forms.get(start["form"]) if refs.forms is not None else None
    if infos is not None and field not in [info.key for info in infos]:
        yield Problem(
            "/start/confirm_to",
            f"the start form '{start['form']}' has no field '{field}' to send the link to",
        )


def _references(doc: Mapping[str, Any], refs: References) -> Iterator[Problem]:
    def form(key: str, pointer: str) -> Iterator[Problem]:
        if refs.forms is not None and key not in refs.forms:
            yield Problem(pointer, f"there is no form '{key}'{_among(refs.forms)}")

    def calendar(key: str, pointer: str) -> Iterator[Problem]:
        if refs.calendars is not None and key not in refs.calendars:
            yield Problem(pointer, f"there is no business calendar '{key}'{_among(refs.calendars)}")

    start = doc.get("start", {})
    if "form" in start:
        yield from form(start["form"], "/start/form")
    if "confirm_to" in start:
        yield from _confirm_to(start, refs)
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
                    f"there is no decision table '{spec['lookup']}'{_among(tables)}",
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
                f"there is no workflow '{step['workflow']}'{_among(workflows)}",
            )


def _among(known: Any) -> str:
    names = sorted(known)
    return f"; known ones are: {', '.join(names)}" if names else ""


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


def _escalations(doc: Mapping[str, Any]) -> Iterator[Problem]:
    levels = doc.get("priorities") or list(doc.get("sla", {}).get("targets", {}))
    for _step_id, step, pointer in _steps(doc):
        outcomes = _outcomes(step)
        for outcome in step.get("buttons", {}):
            if outcome not in outcomes:
                yield Problem(
                    f"{pointer}/buttons/{outcome}",
                    f"'{outcome}' is not an outcome of this step, so it has no button; "
                    f"its outcomes are: {', '.join(outcomes)}",
                )
        for rung_index, rung in enumerate(step.get("escalate", ())):
            for index, action in enumerate(rung["do"]):
                where = f"{pointer}/escalate/{rung_index}/do/{index}"
                if "complete" in action and action["complete"] not in outcomes:
                    yield Problem(
                        f"{where}/complete",
                        f"'{action['complete']}' is not an outcome of this step; "
                        f"its outcomes are: {', '.join(outcomes)}",
                    )
                if "raise_priority" in action:
                    wanted = action["raise_priority"]
                    if not levels:
                        yield Problem(
                            f"{where}/raise_priority",
                            "there are no priority levels to raise; list them in "
                            "'priorities' or in the SLA targets",
                        )
                    elif isinstance(wanted, str) and wanted not in levels:
                        yield Problem(
                            f"{where}/raise_priority",
                            f"'{wanted}' is not a priority; the priorities are: "
                            f"{', '.join(levels)}",
                        )


def _sla(doc: Mapping[str, Any]) -> Iterator[Problem]:
    """`on_breach` acts on the instance, so it cannot finish or leave a step; pauses need
    a status some step sets."""
    sla = doc.get("sla")
    if not sla:
        return
    levels = doc.get("priorities") or list(sla.get("targets", {}))
    for index, action in enumerate(sla.get("on_breach", ())):
        ((name, arg),) = action.items()
        where = f"/sla/on_breach/{index}/{name}"
        if name in ("complete", "goto"):
            yield Problem(
                where,
                f"'{name}' acts on a step, but a breach belongs to the whole "
                "instance; use notify, remind, reassign or raise_priority",
            )
        elif name == "raise_priority" and isinstance(arg, str) and arg not in levels:
            yield Problem(
                where, f"'{arg}' is not a priority; the priorities are: {', '.join(levels)}"
            )
    statuses = {step.get("status") for _sid, step, _pointer in _steps(doc)}
    for index, status in enumerate(sla.get("pause_while", ())):
        if status not in statuses:
            yield Problem(
                f"/sla/pause_while/{index}",
                f"no step sets the status '{status}', so the clock would never pause for it",
            )


def _outcomes(step: Mapping[str, Any]) -> tuple[str, ...]:
    if step["type"] in ("approval", "review"):
        return ("approved", "rejected")
    return tuple(step.get("on", {})) or ("done",)
