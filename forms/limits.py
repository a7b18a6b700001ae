"""A field's limits: that its type uses them, that they leave room for an answer, and that
its default passes them; and the date bounds JSON Schema cannot compare.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from engine.core.errors import Problem
from forms.compiler import field_schema
from forms.definition import MAX_TEXTAREA_LENGTH, max_length, option_values
from forms.errors import ERROR_RANK, message_for
from forms.hygiene import answer_problems
from forms.patterns import pattern_problem
from forms.rules import Placed
from forms.validator import validator_for

_TEXTS = ("text", "textarea")
_MOMENTS = ("date", "datetime")

#: Each limit, and the field types that use it; on any other type it does nothing.
USED_BY: Mapping[str, tuple[str, ...]] = {
    "min": ("number", *_MOMENTS), "max": ("number", *_MOMENTS), "integer": ("number",),
    "min_length": _TEXTS, "max_length": _TEXTS, "pattern": _TEXTS, "format": _TEXTS,
    "options": ("select", "radio", "multiselect"),
    "min_items": ("multiselect",), "max_items": ("multiselect",),
    "min_rows": ("table",), "max_rows": ("table",), "columns": ("table",),
    "max_files": ("file",), "max_size": ("file",), "accept": ("file",),
    "expr": ("calculated",),
}  # fmt: skip

#: What a process owner who put a limit on the wrong type of field most likely meant.
_INSTEAD = {
    ("min", _TEXTS): "for the length of a text, use min_length and max_length",
    ("max", _TEXTS): "for the length of a text, use min_length and max_length",
    ("min_length", ("number",)): "for a number, use min and max",
    ("max_length", ("number",)): "for a number, use min and max",
    ("min_items", ("table",)): "for the rows of a table, use min_rows and max_rows",
    ("max_items", ("table",)): "for the rows of a table, use min_rows and max_rows",
    ("max_items", ("file",)): "for the number of files, use max_files",
    ("min_rows", ("multiselect",)): "for the options chosen, use min_items and max_items",
    ("max_rows", ("multiselect",)): "for the options chosen, use min_items and max_items",
}  # fmt: skip

#: The limits that bound the answers of each type (smallest, largest), and what it means
#: when the smallest is above the largest.
_RANGES = {
    "number": ("min", "max", "no number can be entered"),
    "date": ("min", "max", "no date can be entered"),
    "datetime": ("min", "max", "no date and time can be entered"),
    "text": ("min_length", "max_length", "no text fits"),
    "textarea": ("min_length", "max_length", "no text fits"),
    "multiselect": ("min_items", "max_items", "no choice fits"),
    "table": ("min_rows", "max_rows", "no table fits"),
}


def limit_problems(placed: Sequence[Placed]) -> Iterator[Problem]:
    """Check the limits and default of each field, and of each table's columns."""
    for here, field in placed:
        found = [*_unused(field, here), *_order(field, here), *_pattern(field, here)]
        yield from found
        if not found:  # a default is judged by limits that make sense
            yield from _default(field, here)
        if field["type"] == "table":
            yield from limit_problems(
                [(f"{here}/columns/{i}", column) for i, column in enumerate(field["columns"])]
            )


def moment_bound(field: Mapping[str, Any], value: Any) -> str | None:
    """Say why a date or moment is before the field's `min` or after its `max`; None if not."""
    kind = field["type"]
    answer = _moment(value, kind)
    if answer is None:
        return None
    low, high = (_moment(field.get(end), kind) for end in ("min", "max"))
    what = "a date" if kind == "date" else "a date and time"
    try:
        if low is not None and answer < low:
            return f"Enter {what} on or after {field['min']}"
        if high is not None and answer > high:
            return f"Enter {what} on or before {field['max']}"
    except TypeError:  # a moment with a time zone against one without: cannot say
        return None
    return None


def _moment(value: Any, kind: str) -> date | datetime | None:
    if not isinstance(value, str) or kind not in _MOMENTS:
        return None
    try:
        return date.fromisoformat(value) if kind == "date" else datetime.fromisoformat(value)
    except ValueError:
        return None


def _unused(field: Mapping[str, Any], here: str) -> Iterator[Problem]:
    kind = field["type"]
    for name, types in USED_BY.items():
        if name in field and kind not in types:
            hint = next(
                (words for (n, t), words in _INSTEAD.items() if n == name and kind in t), ""
            )
            yield Problem(
                f"{here}/{name}",
                f"'{name}' does nothing on a {kind} field: it applies to "
                f"{_listed(types)} fields" + (f"; {hint}" if hint else ""),
            )
    if "default" in field and kind in ("calculated", "section"):
        why = "computes its value" if kind == "calculated" else "holds no value"
        yield Problem(f"{here}/default", f"a {kind} field {why}, so its default is never used")


def _pattern(field: Mapping[str, Any], here: str) -> Iterator[Problem]:
    if field["type"] in _TEXTS and "pattern" in field:
        problem = pattern_problem(field["pattern"])
        if problem is not None:
            yield Problem(f"{here}/pattern", problem)


def _order(field: Mapping[str, Any], here: str) -> Iterator[Problem]:
    """Report limits that leave no room for any answer (the smallest above the largest)."""
    kind = field["type"]
    if kind not in _RANGES or _RANGES[kind][0] not in field:
        return
    low_name, high_name, nothing = _RANGES[kind]
    low, high = field[low_name], field.get(high_name)
    if kind in _MOMENTS:  # compared as moments: 10:00+01:00 is before 09:30Z
        low, high = _moment(low, kind), _moment(high, kind)
    pointer = f"{here}/{low_name}"
    shown = f"{low_name} ({field[low_name]})"
    if low is None:
        return
    if high is not None and _after(low, high):
        verb = "after" if kind in _MOMENTS else "more than"
        yield Problem(pointer, f"{shown} is {verb} {high_name} ({field[high_name]}), so {nothing}")
    elif kind in _TEXTS and high is None and low > max_length(field):
        yield Problem(
            pointer,
            f"{shown} is more than the {max_length(field)} characters a {kind} field takes "
            f"unless its max_length says more (up to {MAX_TEXTAREA_LENGTH}), so {nothing}",
        )
    elif kind == "number" and field.get("integer") and high is not None:
        if math.ceil(low) > math.floor(high):
            yield Problem(pointer, f"no whole number lies between {shown} and {high_name} ({high})")
    elif kind == "multiselect":
        count = len(set(option_values(field) or ()))
        if low > count:
            yield Problem(pointer, f"{shown} is more than the {count} options, so {nothing}")


def _after(low: Any, high: Any) -> bool:
    try:
        return bool(low > high)
    except TypeError:  # a moment with a time zone against one without: cannot say
        return False


def _default(field: Mapping[str, Any], here: str) -> Iterator[Problem]:
    if "default" not in field or field["type"] in ("calculated", "section"):
        return
    value = field["default"]
    if value is None or value == "" or value == []:
        return  # an empty default is no default: the field starts unanswered
    refusal = refusal_of(field, value)
    if refusal is not None:
        said = refusal[0].lower() + refusal[1:]
        yield Problem(
            f"{here}/default",
            f"the default {_shown(value)} would be refused by this field: {said}",
        )


def refusal_of(field: Mapping[str, Any], value: Any) -> str | None:
    """Say what the field would answer a requester who gave this value; None if it takes it."""
    for _path, message in answer_problems(field, value):
        return message
    errors = validator_for(field_schema(field)).iter_errors(value)
    worst = min(errors, key=lambda error: ERROR_RANK.get(error.validator, 3), default=None)
    if worst is not None and worst.validator == "required":
        missing = [name for name in worst.validator_value if name not in worst.instance]
        return "Fill in " + " and ".join(f"'{name}'" for name in missing)
    if worst is not None:
        return message_for(worst, field)
    return moment_bound(field, value)


def _listed(types: Sequence[str]) -> str:
    return types[0] if len(types) == 1 else f"{', '.join(types[:-1])} and {types[-1]}"


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."
