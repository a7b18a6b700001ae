"""Static checks of form documents: schema, keys, rules, and fields that can never be shown."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from engine.core.conditions import comparisons, describe, equals, expressions
from engine.core.errors import Problem
from engine.core.expressions import CONTEXT_NAMES, inspect_expression
from engine.core.schema import schema_problems, validator
from forms.definition import RULES, all_fields, holds_value, option_values

#: A field with the JSON Pointer where it is written.
Placed = tuple[str, Mapping[str, Any]]

#: What the schema says about a field without a label, and what a process owner should read.
_MISSING = "this is required here but missing"
_NO_LABEL = "every field needs a label: the words shown next to it"


def check_form(doc: Any) -> list[Problem]:
    """Return every problem of a form document; an empty list means it is sound."""
    problems = [_plain(p) for p in schema_problems(validator("form", "forms"), doc)]
    if problems:
        return problems
    placed = [(f"{ptr}/{i}", f) for ptr, fields in all_fields(doc) for i, f in enumerate(fields)]
    problems.extend(_keys(placed))
    problems.extend(_fields(placed, set()))
    problems.extend(_scopes(placed, {}))
    return sorted(problems)


def _plain(problem: Problem) -> Problem:
    if problem.pointer.endswith("/label") and problem.message == _MISSING:
        return Problem(problem.pointer, _NO_LABEL)
    return problem


def _fields(placed: Sequence[Placed], outer: set[str]) -> Iterator[Problem]:
    """Check rules, options and calculations; a table's columns also see the form's fields."""
    known = outer | {f["key"] for _, f in placed if holds_value(f)}
    for here, field in placed:
        yield from _rules(field, here, known)
        yield from _options(field, here)
        if field["type"] == "calculated":
            yield from _expression(field["expr"], f"{here}/expr", known)
        if field["type"] == "table":
            yield from _fields(_columns(field, here), known)


def _columns(table: Mapping[str, Any], here: str) -> list[Placed]:
    return [(f"{here}/columns/{i}", column) for i, column in enumerate(table["columns"])]


def _keys(placed: Sequence[Placed]) -> Iterator[Problem]:
    seen: dict[str, Placed] = {}
    for here, field in placed:
        key = field["key"]
        if key in CONTEXT_NAMES:
            yield Problem(f"{here}/key", f"'{key}' is a reserved name; pick another key")
        if key in seen:
            first, other = seen[key]
            yield Problem(
                f"{here}/key",
                f"the key '{key}' is already used by the field '{other['label']}' "
                f"({first}); each field needs its own key",
            )
        seen.setdefault(key, (here, field))
        if field["type"] == "table":
            yield from _keys(_columns(field, here))


def _rules(field: Mapping[str, Any], pointer: str, known: set[str]) -> Iterator[Problem]:
    for rule in RULES:
        if rule not in field:
            continue
        for where, comparison in comparisons(field[rule], f"{pointer}/{rule}"):
            if comparison["field"] not in known:
                yield Problem(
                    f"{where}/field",
                    f"the rule uses '{comparison['field']}', which is not a field of this form",
                )
        for where, source in expressions(field[rule], f"{pointer}/{rule}"):
            yield from _expression(source, where, known)


def _expression(source: str, pointer: str, known: set[str]) -> Iterator[Problem]:
    inspection = inspect_expression(source)
    for message in inspection.problems:
        yield Problem(pointer, message)
    for name in sorted(inspection.fields - known):
        yield Problem(pointer, f"the expression uses '{name}', which this form does not have")


def _options(field: Mapping[str, Any], pointer: str) -> Iterator[Problem]:
    values = option_values(field)
    if values is None:
        return
    seen = set()
    for index, value in enumerate(values):
        if value in seen:
            yield Problem(f"{pointer}/options/{index}", f"the option {value!r} is listed twice")
        seen.add(value)


# Rules between fields: circles, and fields that can never be shown ---------------------------


def _scopes(placed: Sequence[Placed], outer: Mapping[str, Placed]) -> Iterator[Problem]:
    """Check the rules of one list of fields, then of each table's columns (which see both)."""
    own = {f["key"]: (here, f) for here, f in placed if holds_value(f)}
    yield from _circles(own)
    yield from _never_shown(own, {**outer, **own})
    for here, field in placed:
        if field["type"] == "table":
            yield from _scopes(_columns(field, here), {**outer, **own})


def dependencies(field: Mapping[str, Any]) -> dict[str, str]:
    """Return the fields a field's rules and calculation read -> where it reads each first."""
    found: dict[str, str] = {}
    for rule in RULES:
        if rule in field:
            for _, comparison in comparisons(field[rule], rule):
                found.setdefault(comparison["field"].split(".")[0], rule)
            for _, source in expressions(field[rule], rule):
                for name in sorted(inspect_expression(source).fields):
                    found.setdefault(name, rule)
    if field["type"] == "calculated":
        for name in sorted(inspect_expression(field["expr"]).fields):
            found.setdefault(name, "expr")
    return found


def _circles(own: Mapping[str, Placed]) -> Iterator[Problem]:
    needs = {key: dependencies(field) for key, (_, field) in own.items()}
    reported: set[str] = set()
    for key in own:
        if key in reported:
            continue
        circle = _circle_from(key, {k: [d for d in v if d in own] for k, v in needs.items()})
        if circle is None:
            continue
        reported.update(circle)
        here, _ = own[key]
        steps = f"'{circle[0]}' depends on '{circle[1]}'" + "".join(
            f", which depends on '{name}'" for name in circle[2:]
        )
        yield Problem(
            f"{here}/{needs[key][circle[1]]}",
            f"the rules go round in a circle: {steps}; so none of them can be decided, "
            "a field's rules may only use fields that do not depend on it",
        )


def _circle_from(start: str, needs: Mapping[str, list[str]]) -> list[str] | None:
    """Return a path start -> ... -> start through the dependencies, or None."""
    path = [start]
    seen = {start}

    def walk(key: str) -> bool:
        for nxt in needs.get(key, ()):
            if nxt == start:
                path.append(start)
                return True
            if nxt not in seen:
                seen.add(nxt)
                path.append(nxt)
                if walk(nxt):
                    return True
                path.pop()
        return False

    return path if walk(start) else None


def _never_shown(own: Mapping[str, Placed], scope: Mapping[str, Placed]) -> Iterator[Problem]:
    hidden: dict[str, str] = {}
    changed = True
    while changed:  # a field hidden for good hides every field shown only through it
        changed = False
        for key, (_, field) in own.items():
            if key not in hidden and "visible_if" in field:
                why = _never_true(field["visible_if"], scope, hidden)
                if why is not None:
                    hidden[key] = why
                    changed = True
    for key, why in hidden.items():
        here, field = own[key]
        required = field.get("required") or "required_if" in field
        head = (
            f"'{key}' is required but can never be shown"
            if required
            else (f"'{key}' can never be shown")
        )
        yield Problem(f"{here}/visible_if", f"{head}: {why}")


def _never_true(
    condition: Any, scope: Mapping[str, Placed], hidden: Mapping[str, str]
) -> str | None:
    """Say why a condition can never hold, or return None when it may."""
    if isinstance(condition, str) or "not" in condition:
        return None
    if "all" in condition:
        found = (_never_true(part, scope, hidden) for part in condition["all"])
        return next((why for why in found if why is not None), None)
    if "any" in condition:
        reasons = [_never_true(part, scope, hidden) for part in condition["any"]]
        return None if None in reasons else "; ".join(r for r in reasons if r)
    name, op, value = condition["field"], condition["op"], condition.get("value")
    if op not in ("eq", "in", "not_empty") or (op != "not_empty" and None in _as_list(value)):
        return None  # a missing value reads as null, so "is empty" (null) can hold
    shown = f"it is shown only when {describe(condition)}"
    if name in hidden:
        return f"{shown}, and '{name}' can never be shown either"
    compared = scope.get(name)
    if compared is None or compared[1]["type"] not in ("select", "radio") or op == "not_empty":
        return None
    options = option_values(compared[1]) or ()
    if any(equals(option, wanted) for option in options for wanted in _as_list(value)):
        return None
    if isinstance(value, list):
        return f"{shown}, and none of those is among the options of '{name}'"
    return f"{shown}, which is not among the options of '{name}'"


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
