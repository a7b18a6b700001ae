"""The condition language: structured comparisons the designer writes, or expressions.

A condition is JSON: `{"field": "cost", "op": "lt", "value": 500}`, combined with
`{"all": [...]}`, `{"any": [...]}` and `{"not": ...}`, or a sandboxed expression
string (`"cost < 500"`). `compile_condition` turns either into a `Condition` that
evaluates against instance data and explains itself in words for the timeline.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from engine.core.errors import ExpressionError
from engine.core.expressions import compile_test

OPERATORS = ("eq", "ne", "lt", "le", "gt", "ge", "in", "not_in", "contains", "empty", "not_empty")
ORDERING = frozenset({"lt", "le", "gt", "ge"})
UNARY = frozenset({"empty", "not_empty"})

_WORDS = {
    "eq": "is", "ne": "is not", "lt": "is less than", "le": "is at most",
    "gt": "is more than", "ge": "is at least", "in": "is one of", "not_in": "is none of",
    "contains": "contains", "empty": "is empty", "not_empty": "is filled in",
}  # fmt: skip

_MISSING = object()


def field_value(data: Mapping[str, Any], path: str) -> Any:
    """Read a dotted field path (`caller.email`) from instance data; missing gives None."""
    if "." not in path:
        return data.get(path)
    value: Any = data
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part, _MISSING)
        if value is _MISSING:
            return None
    return value


def set_field_value(data: dict[str, Any], path: str, value: Any) -> None:
    """Write a dotted field path (`ticket.priority`) nested, where `field_value` reads it.

    A part on the way that does not hold an object becomes one.
    """
    *parents, last = path.split(".")
    for part in parents:
        child = data.get(part)
        if not isinstance(child, dict):
            child = data[part] = {}
        data = child
    data[last] = value


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _same_kind(left: Any, right: Any) -> bool:
    return isinstance(left, bool) == isinstance(right, bool)


def equals(actual: Any, expected: Any) -> bool:
    """Tell whether two JSON values are equal, never taking `true` for 1 (as Python does)."""
    return _same_kind(actual, expected) and bool(actual == expected)


def _contains(actual: Any, expected: Any) -> bool:
    if isinstance(actual, str):
        return isinstance(expected, str) and expected in actual
    return isinstance(actual, list) and any(equals(item, expected) for item in actual)


def _compare(op: str, actual: Any, expected: Any) -> bool:
    if op == "empty":
        return _is_empty(actual)
    if op == "not_empty":
        return not _is_empty(actual)
    if op == "eq":
        return equals(actual, expected)
    if op == "ne":
        return not equals(actual, expected)
    if op == "in":
        return any(equals(actual, item) for item in expected)
    if op == "not_in":
        return not any(equals(actual, item) for item in expected)
    if op == "contains":
        return _contains(actual, expected)
    if actual is None or not _same_kind(actual, expected):
        return False
    try:
        if op == "lt":
            return bool(actual < expected)
        if op == "le":
            return bool(actual <= expected)
        if op == "gt":
            return bool(actual > expected)
        return bool(actual >= expected)
    except TypeError:
        return False


@dataclass(frozen=True, slots=True)
class Condition:
    """A compiled condition: `decide(context)` or `holds(context)`; `text` explains it to people."""

    text: str
    _test: Callable[[Mapping[str, Any]], bool]
    _strict: Callable[[Mapping[str, Any]], bool] | None = None

    def holds(self, context: Mapping[str, Any]) -> bool:
        """Evaluate against an expression context; an expression that fails counts as false.

        Forms use this: a rule that cannot be decided on a requester's answers hides its
        field rather than failing the form.
        """
        return self._test(context)

    def decide(self, context: Mapping[str, Any]) -> bool:
        """Evaluate, raising `ExpressionError` when an expression fails (the runtime's way).

        A failure is never taken for "false": a branch or an auto-approval decided on an
        expression that could not be worked out would be decided wrongly, unseen.
        """
        try:
            return (self._strict or self._test)(context)
        except ExpressionError as error:
            if str(error).startswith(f"'{self.text}'"):
                raise  # an expression on its own: the message quotes it already
            why = f"the condition '{self.text}' could not be decided: {error}"
            raise ExpressionError(why) from None


def describe(condition: Any) -> str:
    """Say a condition in words: `category is 'password' and cost is less than 500`."""
    if isinstance(condition, str):
        return condition
    if "all" in condition:
        return " and ".join(_grouped(part) for part in condition["all"])
    if "any" in condition:
        return " or ".join(_grouped(part) for part in condition["any"])
    if "not" in condition:
        return f"not {_grouped(condition['not'])}"
    words = _WORDS[condition["op"]]
    if condition["op"] in UNARY:
        return f"{condition['field']} {words}"
    return f"{condition['field']} {words} {_show(condition['value'])}"


def _grouped(condition: Any) -> str:
    text = describe(condition)
    if isinstance(condition, str):
        # An expression with its own `and`/`or` must not blend into the words around it.
        return f"({text})" if " and " in text or " or " in text else text
    return f"({text})" if "all" in condition or "any" in condition else text


def _show(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_show(item) for item in value) + "]"
    if isinstance(value, str):
        return f"'{value}'"
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def compile_condition(condition: Any) -> Condition:
    """Compile a condition document once; raise `ExpressionError` if an expression is bad."""
    return Condition(describe(condition), _compile(condition), _compile(condition, strict=True))


def _compile(condition: Any, strict: bool = False) -> Callable[[Mapping[str, Any]], bool]:
    if isinstance(condition, str):
        test = compile_test(condition)
        if strict:
            return test

        def expression(context: Mapping[str, Any]) -> bool:
            try:
                return test(context)
            except ExpressionError:
                return False

        return expression
    if "all" in condition:
        parts = [_compile(part, strict) for part in condition["all"]]
        return lambda context: all(part(context) for part in parts)
    if "any" in condition:
        parts = [_compile(part, strict) for part in condition["any"]]
        return lambda context: any(part(context) for part in parts)
    if "not" in condition:
        inner = _compile(condition["not"], strict)
        return lambda context: not inner(context)
    path, op, expected = condition["field"], condition["op"], condition.get("value")
    return lambda context: _compare(op, field_value(context["data"], path), expected)


def comparisons(condition: Any, pointer: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield every structured comparison in a condition with its JSON Pointer."""
    if isinstance(condition, str):
        return
    for combinator in ("all", "any"):
        if combinator in condition:
            for index, part in enumerate(condition[combinator]):
                yield from comparisons(part, f"{pointer}/{combinator}/{index}")
            return
    if "not" in condition:
        yield from comparisons(condition["not"], f"{pointer}/not")
        return
    yield pointer, condition


def expressions(condition: Any, pointer: str) -> Iterator[tuple[str, str]]:
    """Yield every expression string in a condition with its JSON Pointer."""
    if isinstance(condition, str):
        yield pointer, condition
        return
    for combinator in ("all", "any"):
        for index, part in enumerate(condition.get(combinator, ())):
            yield from expressions(part, f"{pointer}/{combinator}/{index}")
    if "not" in condition:
        yield from expressions(condition["not"], f"{pointer}/not")
