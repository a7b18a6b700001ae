"""What the core knows of a field: its name, the kind of value it holds, its choices."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

#: The kinds of value a field can hold; forms map their field types onto these.
VALUE_TYPES = ("string", "number", "boolean", "date", "datetime", "list", "file", "table", "any")

#: The kinds stored as text in the data: ISO 8601 dates are text too.
TEXT_TYPES = frozenset({"string", "date", "datetime"})

#: How each kind is said to a process owner: "'cost' holds a number".
TYPE_WORDS = {
    "string": "text", "number": "a number", "boolean": "yes or no", "date": "a date",
    "datetime": "a date and time", "list": "a list", "file": "a file", "table": "a table",
    "any": "anything",
}  # fmt: skip

#: The kinds of value that hold nothing to read by a dot (`summary.text`).
SCALAR_TYPES = frozenset({"string", "number", "boolean", "date", "datetime"})

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?")


@dataclass(frozen=True, slots=True)
class Outcomes:
    """Some of the outcomes a person may finish a task with: `names`, or all but them (`but`).

    Where there is no outcome (a start form), an outcome that no rule names stands in:
    it is among all-but-some, never among some.
    """

    names: frozenset[str] = frozenset()
    but: bool = False

    def __contains__(self, outcome: object) -> bool:
        return (outcome in self.names) != self.but

    def __and__(self, other: Outcomes) -> Outcomes:
        if self.but and other.but:
            return Outcomes(self.names | other.names, but=True)
        if self.but or other.but:
            some, others = (other, self) if self.but else (self, other)
            return Outcomes(some.names - others.names)
        return Outcomes(self.names & other.names)

    def __or__(self, other: Outcomes) -> Outcomes:
        return ~(~self & ~other)

    def __invert__(self) -> Outcomes:
        return Outcomes(self.names, not self.but)


#: Every outcome, and none.
EVERY_OUTCOME = Outcomes(but=True)
NO_OUTCOME = Outcomes()


@dataclass(frozen=True, slots=True)
class FieldInfo:
    """A field as conditions see it: `type` is one of `VALUE_TYPES`.

    `options` lists every value the field can hold when that is known (a choice field,
    a field set from a decision table); `required` says a form always asks for it;
    `choice` marks a form's select or radio, whose options have no order. For a form's
    field, `shown` holds the outcomes on which the form surely shows it (its `visible_if`
    holds), and `filled` those on which a sent form surely holds it: it is shown, and
    required (by `required`, or by a `required_if` on the outcome) or given a `default`.
    """

    key: str
    type: str = "any"
    options: tuple[Any, ...] | None = None
    label: str | None = None
    required: bool = False
    choice: bool = False
    shown: Outcomes = EVERY_OUTCOME
    filled: Outcomes = NO_OUTCOME
    #: The type of the form field it comes from (`user`: a user name), when every
    #: source of it is a form field of that type.
    form_type: str | None = None
    #: What each of `options` says to people on its form ("Network, Wi-Fi or VPN" for
    #: "network"), in the same order, when a form's choice field gives it.
    option_labels: tuple[str, ...] | None = None


def is_date_text(value: Any) -> bool:
    """Tell whether a value is an ISO 8601 date (`2026-12-01`) or date and time."""
    return isinstance(value, str) and bool(_DATE.fullmatch(value) or _DATETIME.fullmatch(value))


def literal_fits(value_type: str, value: Any) -> bool:
    """Tell whether a literal from a condition can be compared with a field of this type."""
    if value is None or value_type == "any":
        return True
    if value_type == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if value_type == "boolean":
        return isinstance(value, bool)
    if value_type in ("date", "datetime"):
        # A date is stored as ISO text: '' (not filled in) and ISO dates are all it can be.
        return value == "" or is_date_text(value)
    if value_type in ("string", "file"):
        return isinstance(value, str)
    if value_type in ("list", "table"):
        return not isinstance(value, dict)
    return True


def type_of_literal(value: Any) -> str:
    """Name the value type of a JSON literal; ISO dates are dates."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        if _DATE.fullmatch(value):
            return "date"
        return "datetime" if _DATETIME.fullmatch(value) else "string"
    if isinstance(value, list):
        return "list"
    return "any"


def type_of_values(values: Iterable[Any]) -> str:
    """Return the one type all these values have (nulls aside), or "any"."""
    kinds = {type_of_literal(value) for value in values if value is not None}
    if kinds <= {"date", "datetime", "string"} and len(kinds) > 1:
        return "string"  # dates are text: a mix of dates and words is text
    return kinds.pop() if len(kinds) == 1 else "any"


def merge_types(first: str, second: str) -> str:
    """Return the type a field has when two sources may set it."""
    if first == second:
        return first
    if {first, second} <= TEXT_TYPES:
        return "string"
    return "any"


def merge_infos(infos: Iterable[FieldInfo]) -> FieldInfo | None:
    """Return what a field is known to be when any of these sources may have set it."""
    merged: FieldInfo | None = None
    for info in infos:
        if merged is None:
            merged = info
        elif merged != info:
            options = None
            if merged.options is not None and info.options is not None:
                options = tuple(dict.fromkeys((*merged.options, *info.options)))
            merged = FieldInfo(
                merged.key,
                merge_types(merged.type, info.type),
                options,
                merged.label or info.label,
                merged.required and info.required,
                merged.choice and info.choice,
                form_type=merged.form_type if merged.form_type == info.form_type else None,
            )
    return merged
