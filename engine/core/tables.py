"""Decision tables: the first row whose cells all match gives the output (hit policy FIRST).

A cell is a literal that must equal the input, a list of allowed values, or
`"-"`, which matches anything. The impact x urgency priority matrix is one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
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


def _matches(cell: Any, value: Any) -> bool:
    if cell == ANY:
        return True
    if isinstance(cell, list):
        return any(equals(value, item) for item in cell)
    return equals(value, cell)
