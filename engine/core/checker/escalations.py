"""Checks on outcomes and escalation ladders: what a rung does, and whether it ever does it."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import timedelta
from typing import Any

from engine.core.durations import parse_duration
from engine.core.errors import DurationError, Problem
from engine.core.schema import iter_steps

#: Escalation actions that end the step: nothing after them runs.
FINISHING = ("complete", "goto")


def outcomes(step: Mapping[str, Any]) -> tuple[str, ...]:
    """Return the outcomes a step's tasks can be finished with."""
    if step["type"] in ("approval", "review"):
        return ("approved", "rejected")
    return tuple(step.get("on", {})) or ("done",)


def check_escalations(doc: Mapping[str, Any], levels: tuple[str, ...]) -> Iterator[Problem]:
    """Report buttons and completions for outcomes a step lacks, unknown priority levels,
    and actions or rungs that can never run because the step has already ended."""
    for _step_id, step, pointer, _parallel, _branch in iter_steps(doc["steps"]):
        names = outcomes(step)
        for outcome in step.get("buttons", {}):
            if outcome not in names:
                yield Problem(
                    f"{pointer}/buttons/{outcome}",
                    f"'{outcome}' is not an outcome of this step, so it has no button; "
                    f"its outcomes are: {', '.join(names)}",
                )
        ladder = step.get("escalate", ())
        for rung_index, rung in enumerate(ladder):
            here = f"{pointer}/escalate/{rung_index}"
            yield from _actions(rung["do"], here, names, levels)
            finishing = next((a for a in rung["do"] if a.keys() & set(FINISHING)), None)
            if finishing is not None and "repeat" in rung:
                (name,) = finishing
                yield Problem(
                    f"{here}/repeat",
                    f"'{name}' ends the step the first time, so this rung never repeats",
                )
        yield from _rungs_too_late(step, pointer)


def _actions(
    actions: list[Mapping[str, Any]], here: str, names: tuple[str, ...], levels: tuple[str, ...]
) -> Iterator[Problem]:
    ended_by = None
    for index, action in enumerate(actions):
        where = f"{here}/do/{index}"
        ((kind, arg),) = action.items()
        if ended_by is not None:
            yield Problem(
                where, f"this never runs: '{ended_by}' before it ends the step (and its rungs)"
            )
            continue
        if kind in FINISHING:
            ended_by = kind
        if kind == "complete" and arg not in names:
            yield Problem(
                f"{where}/complete",
                f"'{arg}' is not an outcome of this step; its outcomes are: {', '.join(names)}",
            )
        if kind == "raise_priority":
            yield from raise_problems(arg, f"{where}/raise_priority", levels)


def raise_problems(wanted: Any, where: str, levels: tuple[str, ...]) -> Iterator[Problem]:
    """Report a `raise_priority` with no levels to raise, or to a level that is not one."""
    if not levels:
        yield Problem(
            where,
            "there are no priority levels to raise; list them in 'priorities' or in the SLA "
            "targets",
        )
    elif isinstance(wanted, str) and wanted not in levels:
        yield Problem(
            where, f"'{wanted}' is not a priority; the priorities are: {', '.join(levels)}"
        )


def _rungs_too_late(step: Mapping[str, Any], pointer: str) -> Iterator[Problem]:
    """Report rungs due after an earlier-due rung that ends the step: they never fire."""
    ends: list[tuple[timedelta, str | None, int, str]] = []
    rungs = []
    for index, rung in enumerate(step.get("escalate", ())):
        try:
            after = parse_duration(rung["after"])
        except DurationError:
            continue  # reported with the durations
        calendar = rung.get("calendar", step.get("calendar"))
        rungs.append((after, calendar, index))
        for action in rung["do"]:
            if action.keys() & set(FINISHING):
                ends.append((after, calendar, index, rung["after"]))
                break
    for after, calendar, index in rungs:
        for end_after, end_calendar, end_index, text in ends:
            if end_index != index and end_calendar == calendar and end_after < after:
                yield Problem(
                    f"{pointer}/escalate/{index}",
                    f"this rung never fires: rung {end_index + 1} ends the step after {text}, "
                    "before this one is due",
                )
                break
