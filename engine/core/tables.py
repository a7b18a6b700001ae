"""Decision tables: the first row whose cells all match gives the output (hit policy FIRST).

A cell is a literal that must equal the input, a list of allowed values, a range of
numbers or dates (`{"ge": 100, "lt": 500}`: bounds named as the structured conditions' `ge`,
`gt`, `le` and `lt`), or `"-"`, which matches anything. The impact x urgency priority
matrix is one; approval levels by amount are another.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

from engine.core.conditions import equals, field_value

ANY = "-"

#: Inputs whose answers a table remembers (immutable, so the answer cannot go stale).
_REMEMBERED = frozenset({str, int, float, bool, type(None)})
#: How many answers a table remembers at most.
ANSWERS_KEPT = 1024


@dataclass(frozen=True, slots=True)
class Lookup:
    """The answer of a table: the value, and which row gave it (None: the default)."""

    value: Any
    row: int | None


@dataclass(frozen=True, slots=True)
class DecisionTable:
    """An immutable decision table read from a workflow's `tables` section."""

    key: str
    inputs: tuple[str, ...]
    output: str
    rows: tuple[tuple[tuple[Any, ...], Any], ...]
    default: Any = None
    #: Answers already found, by the inputs' (type, value): a table is asked the same few
    #: questions over and over (nine impact x urgency pairs), each a walk over its rows.
    #: By type too, because `true` is not 1 here (see `equals`) though Python hashes them
    #: alike.
    _answers: dict[tuple[tuple[type, Any], ...], Lookup] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    @classmethod
    def from_document(cls, key: str, doc: Mapping[str, Any]) -> DecisionTable:
        """Build a table from its (schema-valid) JSON."""
        rows = tuple((tuple(row["when"]), row["then"]) for row in doc["rows"])
        return cls(key, tuple(doc["inputs"]), doc["output"], rows, doc.get("default"))

    def lookup(self, data: Mapping[str, Any]) -> Lookup:
        """Return the output of the first matching row, or the default."""
        values = [field_value(data, name) for name in self.inputs]
        if not all(type(value) in _REMEMBERED for value in values):
            return self._walk(values)
        question = tuple((type(value), value) for value in values)
        answer = self._answers.get(question)
        if answer is None:
            if len(self._answers) >= ANSWERS_KEPT:
                self._answers.clear()
            answer = self._answers[question] = self._walk(values)
        return answer

    def _walk(self, values: list[Any]) -> Lookup:
        for index, (cells, then) in enumerate(self.rows):
            if all(_matches(cell, value) for cell, value in zip(cells, values, strict=True)):
                return Lookup(then, index)
        return Lookup(self.default, None)

    def describe(self, data: Mapping[str, Any], result: Lookup) -> str:
        """Explain a lookup for the timeline: `impact=high, urgency=low -> P2 (row 3)`."""
        given = ", ".join(f"{name}={field_value(data, name)}" for name in self.inputs)
        where = f"row {result.row + 1}" if result.row is not None else "no row matched: default"
        return f"table {self.key}: {given} -> {result.value} ({where})"


#: A range cell's bounds: each compares the input with the bound.
BOUNDS: dict[str, Callable[[Any, Any], bool]] = {
    "ge": operator.ge,
    "gt": operator.gt,
    "le": operator.le,
    "lt": operator.lt,
}


#: How a range's bounds are said.
BOUND_WORDS = {"ge": "at least", "gt": "more than", "le": "at most", "lt": "less than"}


def range_words(cell: Mapping[str, Any]) -> str:
    """Say a range cell: "at least 100 and less than 500", "at least '2026-01-01'"."""
    said = {name: repr(b) if isinstance(b, str) else str(b) for name, b in cell.items()}
    return " and ".join(f"{BOUND_WORDS[name]} {said[name]}" for name in cell if name in BOUND_WORDS)


def _matches(cell: Any, value: Any) -> bool:
    if cell == ANY:
        return True
    if isinstance(cell, list):
        return any(equals(value, item) for item in cell)
    if isinstance(cell, dict):
        return in_range(cell, value)
    return equals(value, cell)


def in_range(cell: Mapping[str, Any], value: Any) -> bool:
    """Tell whether `value` lies within a range cell: a number within numbers, a date or a
    moment (ISO text) within dates or moments; nothing else does, a missing value and yes
    or no included. A date bound takes a moment by its day: at most 2026-06-01 holds every
    moment of that day."""
    for name, bound in cell.items():
        pair = comparable(value, bound)
        if pair is None or not BOUNDS[name](*pair):
            return False
    return True


def comparable(value: Any, bound: Any) -> tuple[Any, Any] | None:
    """Return `value` and `bound` in a form that compares as their kind does (numbers as
    numbers, moments on one clock), or None when they cannot be compared."""
    if isinstance(value, bool) or isinstance(bound, bool):
        return None
    if isinstance(bound, int | float):
        return (value, bound) if isinstance(value, int | float) else None
    if not isinstance(bound, str) or not isinstance(value, str):
        return None
    when, limit = _moment(value), _moment(bound)
    if when is None or limit is None:
        return None
    if not isinstance(limit, datetime):  # a day: the value's day is compared with it
        return (when.date() if isinstance(when, datetime) else when), limit
    if not isinstance(when, datetime):  # a day against a moment: its first moment, in UTC
        when = datetime.combine(when, time(), UTC)
    return when, limit


def _moment(text: str) -> date | datetime | None:
    """Read ISO text as a day or as a moment (a moment without an offset is in UTC)."""
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        found = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return found if found.tzinfo is not None else found.replace(tzinfo=UTC)
