"""Turn what an evaluation gave into a JSON value, or the truth of a condition."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from jinja2.runtime import Undefined

from engine.core.expressions.limits import (
    MAX_TEXT_LENGTH,
    MAX_VALUE_SIZE,
    OVERLONG_TEXT,
    OVERSIZED_VALUE,
    Refusal,
    over_limit,
)
from engine.core.expressions.sizes import describe, measure

#: The whole numbers a result may hold: what a 64-bit JSON number stores.
JSON_INT_RANGE = range(-(2**63), 2**63)


def truth(value: Any) -> bool:
    """Tell whether a condition's value holds; refuse what is no value (a method, a sequence)."""
    if value is None or isinstance(value, str | list | tuple | Mapping):
        return bool(value)
    if isinstance(value, int | float) and (not isinstance(value, float) or math.isfinite(value)):
        return bool(value)
    raise Refusal(f"the condition gave {describe(value)}, not a value")


def json_value(value: Any) -> Any:
    """Copy a result as JSON: lists for tuples, text keys, finite numbers, within the limits."""
    kind = type(value)
    if (kind is str and len(value) <= MAX_TEXT_LENGTH) or kind is bool or value is None:
        return value  # the usual answers cost nothing more
    if kind is int and value in JSON_INT_RANGE:
        return value
    if isinstance(value, str) and len(value) > MAX_TEXT_LENGTH:
        raise over_limit("gave", "would give", OVERLONG_TEXT)
    if measure(value, MAX_VALUE_SIZE) > MAX_VALUE_SIZE:
        raise over_limit("gave", "would give", OVERSIZED_VALUE)
    # Within the size, copy each list and mapping in one piece, then mend what is no JSON.
    top = [value]
    pending: list[tuple[Any, Any]] = [(top, 0)]
    while pending:
        holder, key = pending.pop()
        holder[key] = _json_part(holder[key], pending)
    return top[0]


def _json_part(item: Any, pending: list[tuple[Any, Any]]) -> Any:
    """Give the JSON copy of one value; the parts of a list or mapping to mend go on `pending`."""
    if isinstance(item, list | tuple):
        copy = list(item)
        if not _all_json(copy):
            pending.extend((copy, index) for index, part in enumerate(copy) if not _is_json(part))
        return copy
    if isinstance(item, Mapping):
        mapping = dict(item)
        for name in mapping:
            if type(name) is not str:
                raise over_limit(
                    "gave", "would give", f"a mapping with the key {name!r}, which is no text"
                )
        pending.extend((mapping, name) for name, part in mapping.items() if not _is_json(part))
        return mapping
    if item is None or isinstance(item, str | bool):
        return item
    if isinstance(item, Undefined):
        return None  # a name not filled in counts as none, also inside a list
    if (isinstance(item, int) and item in JSON_INT_RANGE) or (
        isinstance(item, float) and math.isfinite(item)
    ):
        return item
    raise over_limit("gave", "would give", f"{describe(item)}, which cannot be stored")


def _all_json(values: list[Any]) -> bool:
    """Tell at once whether a list of one plain kind is JSON as it is (the usual list)."""
    kinds = set(map(type, values))
    if kinds <= {str, bool, type(None)}:
        return True
    if kinds == {int}:
        return min(values) in JSON_INT_RANGE and max(values) in JSON_INT_RANGE
    if kinds == {float}:
        return all(map(math.isfinite, values))
    return False


def _is_json(value: Any) -> bool:
    """Tell quickly whether a part of a result is a JSON value as it is (most are)."""
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return True
    if kind is int:
        return value in JSON_INT_RANGE
    return kind is float and math.isfinite(value)
