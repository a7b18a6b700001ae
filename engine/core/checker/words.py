"""How the checker says values and their kinds to a process owner, the same way everywhere."""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable
from typing import Any

from engine.core.fields import TYPE_WORDS


def literal(value: Any) -> str:
    """Show a value the way the document writes it: 'text', 500, true, null."""
    if isinstance(value, str):
        return f"'{value}'"
    if isinstance(value, list):
        return "a list"
    return json.dumps(value)


def kind_word(value: Any) -> str:
    """Say what kind of value a literal is: "a text", "a number", "yes or no", "a list"."""
    if isinstance(value, bool):
        return "yes or no"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a text"
    return "a list" if isinstance(value, list) else "an object"


def wrong_kind(name: str, kind: str, value: Any) -> str:
    """Say that a field of one kind is compared with a literal of another."""
    if kind in ("date", "datetime") and isinstance(value, str):
        shown = "2026-12-01" if kind == "date" else "2026-12-01T09:00:00+01:00"
        what = f"a text, not a date like {shown}"
    else:
        what = kind_word(value)
    return (
        f"'{name}' holds {TYPE_WORDS.get(kind, kind)}, so comparing it with {literal(value)} "
        f"({what}) can never be right"
    )


def option_list(options: Iterable[Any] | None) -> str:
    return ", ".join(literal(option) for option in options or ())


def never_an_option(name: str, value: Any, options: Iterable[Any]) -> str:
    """Say that a field never holds a value: it is not one of its options."""
    return f"'{name}' is never {literal(value)}: its options are {option_list(options)}"


def not_a_level(value: Any, levels: Iterable[str]) -> str:
    """Say that a value is not one of the workflow's priority levels."""
    return f"{literal(value)} is not a priority; the priorities are: {', '.join(levels)}"


def among(known: Iterable[str], name: str | None = None, limit: int = 12) -> str:
    """Say which names are known ("; known ones are: a, b"), or the likely one meant."""
    names = sorted(known)
    if name is not None:
        close = difflib.get_close_matches(name, names, n=1, cutoff=0.75)
        if close:
            return f"; did you mean '{close[0]}'?"
    if not names:
        return ""
    shown = ", ".join(names[:limit]) + (", …" if len(names) > limit else "")
    return f"; known ones are: {shown}"


def closest(name: str, known: Iterable[str]) -> str | None:
    """Return the known name that `name` most likely misspells, if one is close enough."""
    close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.75)
    return close[0] if close else None


def near_miss(name: str, known: Iterable[str]) -> str | None:
    """Return the known name that `name` is one typo away from, if any.

    One letter added, dropped, changed or two swapped, in names of four letters or
    more; a plural is not a typo (`item` and `items` may both be meant).
    """
    if len(name) < 4:
        return None
    for other in sorted(known):
        if len(other) >= 4 and one_typo(name, other) and name.rstrip("s") != other.rstrip("s"):
            return other
    return None


def one_typo(first: str, second: str) -> bool:
    """Tell whether two different names are one edit apart (Damerau: a swap counts as one)."""
    if first == second or abs(len(first) - len(second)) > 1:
        return False
    if len(first) > len(second):
        first, second = second, first
    start = 0
    while start < len(first) and first[start] == second[start]:
        start += 1
    if len(first) < len(second):
        return first[start:] == second[start + 1 :]
    if first[start + 1 :] == second[start + 1 :]:
        return True
    swapped = start + 1 < len(first) and first[start] == second[start + 1]
    rest = first[start + 2 :] == second[start + 2 :]
    return swapped and first[start + 1] == second[start] and rest
