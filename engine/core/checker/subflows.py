"""Checks on subflows: what a `subflow` step passes must fit the child's start form, and
what it takes back (`result`, `on`) must be something the child has."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from engine.core.checker.dataflow import Child, Flow, Forms
from engine.core.checker.kinds import kind_of_expression
from engine.core.checker.narrowing import decided_on, values_reaching
from engine.core.checker.points import at_step
from engine.core.checker.words import among, option_list
from engine.core.errors import Problem
from engine.core.fields import TEXT_TYPES, TYPE_WORDS, FieldInfo, merge_infos

#: The outcome of a child instance that was cancelled.
CANCELLED = "cancelled"


def child_of(doc: Any, forms: Forms | None) -> Child | None:
    """Describe a workflow for the workflows that start it; None when it is too broken to read.

    The document has not been checked against the schema yet (its own problems are
    reported when it is): anything unreadable in it makes it unknown, not an error.
    """
    try:
        outcomes = {
            step.get("outcome", step_id)
            for step_id, step in doc["steps"].items()
            if step.get("type") == "end"
        }
        start_form = doc.get("start", {}).get("form")
        flow = Flow(doc, forms, expr_kind=kind_of_expression)
    except (KeyError, TypeError, AttributeError, ValueError):
        return None
    fields = None
    if not flow.open:
        found: dict[str, list[FieldInfo]] = {}
        for definition in flow.definitions:
            if not definition.absent:
                found.setdefault(definition.field, []).append(definition.info)
        fields = {name: merge_infos(infos) or FieldInfo(name) for name, infos in found.items()}
    return Child(start_form, fields, frozenset(outcomes | {CANCELLED}))


def check_subflows(flow: Flow, forms: Forms | None) -> Iterator[Problem]:
    """Report data the child does not take, of the wrong kind, or missing where it is
    required, and results or outcomes the child never has."""
    children = flow.children
    if children is None:
        return
    for step_id, (step, pointer) in flow.steps.items():
        if step["type"] != "subflow" or step["workflow"] not in children:
            continue
        key = step["workflow"]
        child = children[key]
        if child is None:
            continue  # too broken to read: its own problems say why
        form = child.start_form
        fields = forms.get(form) if forms is not None and form is not None else None
        if fields is not None:
            yield from _data(flow, step_id, key, form or "", fields)
        yield from _back(step, pointer, key, child)


def _back(step: Mapping[str, Any], pointer: str, key: str, child: Child) -> Iterator[Problem]:
    if child.fields is not None:
        for mine, theirs in step.get("result", {}).items():
            if child.field(theirs) is None:
                yield Problem(
                    f"{pointer}/result/{mine}",
                    f"the workflow '{key}' never fills in '{theirs}'{among(child.fields, theirs)}",
                )
    for outcome in step.get("on", {}):
        if outcome not in child.outcomes:
            yield Problem(
                f"{pointer}/on/{outcome}",
                f"the workflow '{key}' never ends with the outcome '{outcome}'; it ends with: "
                f"{', '.join(sorted(child.outcomes))}",
            )


def _data(
    flow: Flow, step_id: str, child: str, form: str, fields: tuple[FieldInfo, ...]
) -> Iterator[Problem]:
    step, pointer = flow.steps[step_id]
    data: Mapping[str, str] = step.get("data", {})
    by_key = {info.key: info for info in fields}
    here = at_step(flow, step_id)
    for key, mine in data.items():
        where = f"{pointer}/data/{key}"
        theirs = by_key.get(key.split(".")[0])
        if theirs is None:
            known = ", ".join(sorted(by_key)) or "none"
            yield Problem(
                where,
                f"the workflow '{child}' starts with the form '{form}', which has no field "
                f"'{key}' (its fields: {known})",
            )
            continue
        info = here.info(mine)
        if info is not None and "." not in key and not _fits(info, theirs):
            yield Problem(
                where,
                f"'{mine}' holds {TYPE_WORDS.get(info.type, info.type)}, but '{key}' of the "
                f"form '{form}' takes {TYPE_WORDS.get(theirs.type, theirs.type)}",
            )
        elif info is not None and _no_option_in_common(info, theirs):
            yield Problem(
                where,
                f"'{mine}' never holds what '{key}' of the form '{form}' takes "
                f"({option_list(theirs.options)})",
            )
        elif info is not None and "." not in key:
            yield from _handed_over(flow, step_id, mine, key, theirs, form, where)
    given = {key.split(".")[0] for key in data}
    missing = [info.key for info in fields if info.required and info.key not in given]
    if missing:
        names = ", ".join(f"'{name}'" for name in missing)
        yield Problem(
            f"{pointer}/data",
            f"the workflow '{child}' needs {names} to start (its start form '{form}' requires "
            f"{'it' if len(missing) == 1 else 'them'}), but this step does not pass "
            f"{'it' if len(missing) == 1 else 'them'}",
        )


def _handed_over(
    flow: Flow, step_id: str, mine: str, key: str, theirs: FieldInfo, form: str, where: str
) -> Iterator[Problem]:
    """Report a field passed into a required one that it may leave empty, or into a choice
    that does not offer all it can hold: either way the child does not start."""
    here = at_step(flow, step_id)
    info = here.info(mine)
    if info is None:
        return
    if theirs.required and here.may_be_missing(mine):
        if not decided_on(flow, mine, step_id):  # a decision may keep its empty values from here
            yield Problem(
                where,
                f"'{mine}' may not be filled in here ({here.maybe_why(mine)}), but '{key}' of "
                f"the form '{form}' is required: the child would not start without it; make "
                "it required on its form, or decide before this step whether it is filled in",
            )
        return
    if info.options is None or theirs.options is None:
        return
    reaching = values_reaching(flow, mine, step_id, info.options)
    extra = [option for option in info.options if option in (reaching or ())]
    extra = [option for option in extra if option not in theirs.options]
    if extra and len(extra) < len(info.options):
        yield Problem(
            where,
            f"'{mine}' can be {option_list(extra)}, which '{key}' of the form '{form}' does not "
            f"offer (its options: {option_list(theirs.options)}); the child would not start "
            "with those",
        )


def _no_option_in_common(mine: FieldInfo, theirs: FieldInfo) -> bool:
    if not mine.options or not theirs.options or theirs.type == "list":
        return False
    return not set(mine.options) & set(theirs.options)


def _fits(mine: FieldInfo, theirs: FieldInfo) -> bool:
    """Tell whether a value of one kind can be a value of the child's field."""
    if "any" in (mine.type, theirs.type) or mine.type == theirs.type:
        return True
    if theirs.type == "string":
        return mine.type in TEXT_TYPES  # a date is text too
    return mine.type == "string" and theirs.type in ("date", "datetime")  # text may hold one
