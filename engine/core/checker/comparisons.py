"""Comparisons and arithmetic that can never work, said the same way for both condition forms.

Each side of a comparison or a sum is a `Value`: the kind of value it gives, the
options it can take, and the field or the literal it is, when it is one. A field
compared with a literal of another kind (`cost > '500'`), with a value it never
holds, by order when it is a choice, or used in arithmetic when it holds text, is
reported in words that name the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.core.checker.points import At
from engine.core.checker.words import literal, never_an_option, not_a_level, option_list, wrong_kind
from engine.core.fields import TEXT_TYPES, TYPE_WORDS, literal_fits

#: Jinja's comparison operators, as the author wrote them.
OPERATORS = {
    "eq": "==", "ne": "!=", "lt": "<", "lteq": "<=", "gt": ">", "gteq": ">=",
    "in": "in", "notin": "not in",
}  # fmt: skip
ORDERING = frozenset({"lt", "lteq", "gt", "gteq"})

#: Kinds that arithmetic cannot use.
NOT_NUMBERS = frozenset({"string", "date", "datetime", "list", "file", "table"})

_NOTHING = object()


@dataclass(frozen=True, slots=True)
class Value:
    """What part of an expression gives: a kind, maybe options, the field or literal it is."""

    type: str = "any"
    options: tuple[Any, ...] | None = None
    field: str | None = None  # the field it reads, as it is (not through `or`, a filter...)
    literal: Any = _NOTHING
    choice: bool = False

    @property
    def is_literal(self) -> bool:
        return self.literal is not _NOTHING


ANY = Value()


def comparison_problems(left: Value, op: str, right: Value, at: At) -> list[str]:
    """Return why `left op right` can never be right, in words (an empty list if it can)."""
    if op in ("in", "notin"):
        return _membership(left, right, at)
    sign = OPERATORS.get(op, op)
    if left.field is None and right.field is not None:
        left, right = right, left
    if left.field is None:
        return []
    if right.is_literal:
        return _with_literal(left, op, sign, right.literal, at)
    if (
        right.field is not None
        and not _same_family(left.type, right.type)
        and (op in ORDERING or "boolean" not in (left.type, right.type))
    ):
        return [
            f"'{left.field}' holds {TYPE_WORDS[left.type]} and '{right.field}' holds "
            f"{TYPE_WORDS[right.type]}, so comparing them ({sign}) can never be right"
        ]
    return []


def _with_literal(field: Value, op: str, sign: str, value: Any, at: At) -> list[str]:
    name, kind = field.field or "", field.type
    if value is None:
        return []
    if op in ORDERING:
        if kind in ("list", "table", "file"):
            return [
                f"'{name}' holds {TYPE_WORDS[kind]}, which has no order: {sign} can never be right"
            ]
        if field.choice and kind == "string":
            return [
                f"'{name}' is a choice among {option_list(field.options)}, and choices have "
                "no order: compare it with == or in"
            ]
    if kind == "boolean" and value in (0, 1) and not isinstance(value, bool) and op in ("eq", "ne"):
        return [f"'{name}' holds yes or no; compare it with true or false, not {value}"]
    if kind in ("list", "table") and op in ("eq", "ne") and not isinstance(value, list):
        return [
            f"'{name}' holds {TYPE_WORDS[kind]}, so it never equals {literal(value)}; "
            f"to look for one item write {literal(value)} in {name}"
        ]
    if not literal_fits(kind, value):
        return [wrong_kind(name, kind, value)]
    if op in ("eq", "ne"):
        return _one_of(field, value, at)
    return []


def _one_of(field: Value, value: Any, at: At) -> list[str]:
    """Report a value that a field never holds: not a priority level, not an option."""
    name = field.field or ""
    levels = at.flow.declared
    if levels and name == at.flow.priority_field and isinstance(value, str):
        return [] if value in levels else [not_a_level(value, levels)]
    if field.options is not None and field.type != "list" and value not in field.options:
        return [never_an_option(name, value, field.options)]
    return []


def _membership(item: Value, container: Value, at: At) -> list[str]:
    if container.is_literal and isinstance(container.literal, list):
        if item.field is None:
            return []
        if item.type in ("list", "table"):
            return [
                f"'{item.field}' holds {TYPE_WORDS[item.type]}, so it is never one of "
                f"{literal(container.literal)}; to look for one item write 'x' in {item.field}"
            ]
        problems: list[str] = []
        for value in container.literal:
            if value is not None and not literal_fits(item.type, value):
                problems.append(wrong_kind(item.field, item.type, value))
            elif value is not None:
                problems += _one_of(item, value, at)
        return problems
    if container.field is None:
        return []
    name, kind = container.field, container.type
    if kind in ("number", "boolean"):
        return [f"'{name}' holds {TYPE_WORDS[kind]}, so 'in' cannot look inside it"]
    if not item.is_literal or item.literal is None:
        return []
    if kind in TEXT_TYPES and not isinstance(item.literal, str):
        return [
            f"'{name}' holds text, so only a text can be found in it, not {literal(item.literal)}"
        ]
    if kind == "list" and container.options is not None and item.literal not in container.options:
        return [
            f"'{name}' never holds {literal(item.literal)}: its options are "
            f"{option_list(container.options)}"
        ]
    return []


def _same_family(first: str, second: str) -> bool:
    if "any" in (first, second) or first == second:
        return True
    return {first, second} <= TEXT_TYPES


def arithmetic_problems(left: Value, sign: str, right: Value) -> list[str]:
    """Return why `left sign right` cannot be computed, naming the field at fault."""
    problems = []
    if sign == "+":
        for one, other in ((left, right), (right, left)):
            # Python adds yes/no to numbers (true + 1 is 2): odd, but it works.
            numeric = {one.type, other.type} <= {"number", "boolean"}
            if (
                one.field
                and other.type != "any"
                and not numeric
                and not _same_family(one.type, other.type)
            ):
                what = f"'{other.field}'" if other.field else literal(other.literal)
                problems.append(
                    f"'{one.field}' holds {TYPE_WORDS[one.type]}, so adding {what} "
                    f"({TYPE_WORDS[other.type]}) to it can never work"
                    + ("; join texts with ~" if {one.type, other.type} & TEXT_TYPES else "")
                )
                break
        return problems
    sequences = TEXT_TYPES | {"list"}
    counts = ("number", "any", "boolean")
    if sign == "%" and left.type in sequences:
        return []  # formatting a text
    if sign == "*" and (
        (left.type in sequences and right.type in counts)
        or (right.type in sequences and left.type in counts)
    ):
        return []  # repeating a text or a list
    for one, other in ((left, right), (right, left)):
        if one.field and one.type in NOT_NUMBERS:
            problems.append(
                f"'{one.field}' holds {TYPE_WORDS[one.type]}, so it cannot be used in "
                f"arithmetic ({sign})"
            )
        elif (
            one.field
            and one.type == "number"
            and other.is_literal
            and isinstance(other.literal, str)
        ):
            problems.append(
                f"'{one.field}' holds a number, so it cannot be used in arithmetic ({sign}) "
                f"with {literal(other.literal)} (a text)"
            )
    return problems
