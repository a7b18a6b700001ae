"""Static checks of form documents: schema, duplicate keys, rules on unknown fields."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from engine.core.conditions import comparisons, expressions
from engine.core.errors import Problem
from engine.core.expressions import CONTEXT_NAMES, inspect_expression
from engine.core.schema import schema_problems, validator
from forms.definition import LAYOUT_TYPES, option_values

RULES = ("visible_if", "required_if")


def check_form(doc: Any) -> list[Problem]:
    """Return every problem of a form document; an empty list means it is sound."""
    problems = schema_problems(validator("form", "forms"), doc)
    if problems:
        return problems
    problems.extend(_keys(doc["fields"], "/fields"))
    problems.extend(_fields(doc["fields"], "/fields", set()))
    return sorted(problems)


def _fields(fields: list[Mapping[str, Any]], pointer: str, outer: set[str]) -> Iterator[Problem]:
    """Check rules, options and calculations; a table's columns also see the form's fields."""
    known = outer | {f["key"] for f in fields if f["type"] not in LAYOUT_TYPES}
    for index, field in enumerate(fields):
        here = f"{pointer}/{index}"
        yield from _rules(field, here, known)
        yield from _options(field, here)
        if field["type"] == "calculated":
            yield from _expression(field["expr"], f"{here}/expr", known)
        if field["type"] == "table":
            yield from _fields(field["columns"], f"{here}/columns", known)


def _keys(fields: list[Mapping[str, Any]], pointer: str) -> Iterator[Problem]:
    seen: dict[str, int] = {}
    for index, field in enumerate(fields):
        key = field["key"]
        if key in CONTEXT_NAMES:
            yield Problem(f"{pointer}/{index}/key", f"'{key}' is a reserved name; pick another key")
        if key in seen:
            yield Problem(
                f"{pointer}/{index}/key",
                f"the key '{key}' is already used by the field '{fields[seen[key]]['label']}' "
                f"({pointer}/{seen[key]}); each field needs its own key",
            )
        seen.setdefault(key, index)
        if field["type"] == "table":
            yield from _keys(field["columns"], f"{pointer}/{index}/columns")


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
