"""Measure the values an evaluation builds and hold each to the limits of its kind."""

from __future__ import annotations

from collections import abc
from collections.abc import Mapping
from types import BuiltinMethodType, MethodType
from typing import Any

from jinja2.runtime import LoopContext, Undefined

from engine.core.expressions.limits import (
    MAX_INT_BITS,
    MAX_TEXT_LENGTH,
    MAX_VALUE_SIZE,
    OVERLONG_LIST,
    OVERLONG_TEXT,
    OVERSIZED_INT,
    OVERSIZED_VALUE,
    Refusal,
    charge,
    over_limit,
)


def measure(value: Any, limit: int) -> int:
    """Count the characters and items in a value, shared parts each time; stop past `limit`.

    This is about the length of its JSON, and what copying, comparing or printing it costs.
    Iterative, so deeply nested data cannot exhaust the stack; the usual types are told
    apart by their exact type first, which keeps a long list quick to measure.
    """
    total = 0
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is str:
            total += len(item)
        elif kind in _SCALARS:
            continue
        elif kind is list or kind is tuple:
            total += len(item)
            if total > limit:
                return total
            kinds = set(map(type, item))  # the usual list holds one plain kind: count it at once
            if kinds == {str}:
                total += sum(map(len, item))
            elif not kinds <= _SCALARS:
                stack.extend(item)
        elif isinstance(item, str):
            total += len(item)
        elif isinstance(item, Mapping):
            total += len(item)
            if total > limit:
                return total
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple | abc.Set | abc.ValuesView):  # and keys, items
            total += len(item)
            if total > limit:
                return total
            stack.extend(item)
        if total > limit:
            return total
    return total


_SCALARS = frozenset({int, float, bool, type(None)})


def check_text(text: str) -> str:
    """Hold a text just built to the limits."""
    if len(text) > MAX_TEXT_LENGTH:
        raise over_limit("built", "would build", OVERLONG_TEXT)
    charge(len(text))
    return text


def check_value(value: Any) -> Any:
    """Hold a list or mapping just built to the limits, counting everything inside it."""
    size = measure(value, MAX_VALUE_SIZE)
    if size > MAX_VALUE_SIZE:
        raise over_limit("built", "would build", OVERSIZED_VALUE)
    charge(size)
    return value


def check_picked(value: list[Any] | tuple[Any, ...]) -> Any:
    """Hold a list of items picked from another value (`sort`, `reverse`) to the limits.

    Its items are those of its input, not copies: only the list itself is new.
    """
    if len(value) > MAX_VALUE_SIZE:
        raise over_limit("built", "would build", OVERLONG_LIST)
    charge(len(value))
    return value


def check_listed(value: list[Any]) -> list[Any]:
    """Hold a list made from the parts of something (`split`, `| list`) to the limits.

    Its items may be new texts (the letters of a text): they count twice.
    """
    if len(value) > MAX_VALUE_SIZE:
        raise over_limit("built", "would build", OVERLONG_LIST)
    charge(2 * len(value))  # an item, and often a new object: a letter, a piece
    return value


def check_int(number: int) -> int:
    """Hold a whole number just built to the limits."""
    if number.bit_length() > MAX_INT_BITS:
        raise over_limit("built", "would build", OVERSIZED_INT)
    return number


def check_built(value: Any) -> Any:
    """Hold a value just built by an operator to the limits of its kind."""
    if isinstance(value, str):
        return check_text(value)
    if isinstance(value, list | tuple):
        return check_value(value)
    if isinstance(value, int):
        return check_int(value)
    return value


def check_filtered(value: Any) -> Any:
    """Hold what a filter gave to the limits of its kind."""
    if isinstance(value, str):
        return check_text(value)
    if isinstance(value, list | tuple):
        return check_picked(value)
    if isinstance(value, int):
        return check_int(value)
    return value


def describe(value: Any) -> str:
    """Name a value that is no JSON value, for a process owner: `the method 'get'`."""
    if isinstance(value, Undefined):
        return "an undefined value"
    if isinstance(value, LoopContext):
        return "the loop variable itself"
    if isinstance(value, BuiltinMethodType | MethodType):
        return f"the method '{value.__name__}' (call it with brackets, like {value.__name__}())"
    if isinstance(value, abc.Iterator | abc.MappingView):
        return "a sequence that is not a list yet (end it with '| list')"
    if isinstance(value, float):
        return "a number that is not finite (infinity or 'not a number')"
    if isinstance(value, int):
        return "a whole number beyond what 64 bits hold"
    if isinstance(value, abc.Set):
        return "a set"
    if isinstance(value, complex):
        return "a complex number"
    return f"a value of the Python type '{type(value).__name__}'"


def text_of(value: Any) -> str:
    """Turn a value into text as Jinja would, measuring lists and mappings before printing them."""
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, bool | int | float | Undefined):
        return str(value)
    if isinstance(value, list | tuple | Mapping):
        if measure(value, MAX_TEXT_LENGTH) > MAX_TEXT_LENGTH:
            raise over_limit("built", "would build", OVERLONG_TEXT)
        # The size is a lower bound of the printed length (quotes, commas): measure again.
        return check_text(str(value))
    raise Refusal(f"{describe(value)} cannot be turned into text")
