"""What the core knows of a field: its name, the kind of value it holds, its choices."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: The kinds of value a field can hold; forms map their field types onto these.
VALUE_TYPES = ("string", "number", "boolean", "date", "datetime", "list", "file", "table", "any")


@dataclass(frozen=True, slots=True)
class FieldInfo:
    """A field as conditions see it: `type` is one of `VALUE_TYPES`."""

    key: str
    type: str = "any"
    options: tuple[Any, ...] | None = None
    label: str | None = None


def literal_fits(value_type: str, value: Any) -> bool:
    """Tell whether a literal from a condition can be compared with a field of this type."""
    if value is None or value_type == "any":
        return True
    if value_type == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if value_type == "boolean":
        return isinstance(value, bool)
    if value_type in ("string", "date", "datetime", "file"):
        return isinstance(value, str)
    if value_type in ("list", "table"):
        return not isinstance(value, dict)
    return True


def type_of_literal(value: Any) -> str:
    """Name the value type of a JSON literal."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    return "any"


def merge_types(first: str, second: str) -> str:
    """Return the type a field has when two sources may set it."""
    return first if first == second else "any"
