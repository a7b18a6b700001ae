"""Rules between fields: what each field reads, rules in a circle, fields never shown.

Every check here is linear in the size of the form: each expression is inspected once,
circles are found through the strongly connected components of the "reads" graph, and
fields hidden for good are found by propagating "can never hold" up each rule, each part of
a rule turning at most once. None of it recurses over fields, so a 6,000-field form with
rules chained from one field to the next checks like any other.
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, cast

from engine.core.conditions import comparisons, describe, expressions
from engine.core.errors import Problem
from engine.core.expressions import Inspection, inspect_expression
from forms.definition import RULES, holds_value, option_values

#: How many circles are spelled out in one group of fields that all depend on each other.
MAX_CIRCLES = 10

#: A field with the JSON Pointer where it is written.
Placed = tuple[str, Mapping[str, Any]]

Inspect = Callable[[str], Inspection]


class Inspector:
    """Inspect each expression source once, however many rules and checks read it."""

    def __init__(self) -> None:
        self._seen: dict[str, Inspection] = {}

    def __call__(self, source: str) -> Inspection:
        found = self._seen.get(source)
        if found is None:
            found = self._seen[source] = inspect_expression(source)
        return found


def dependencies(field: Mapping[str, Any], inspect: Inspect = inspect_expression) -> dict[str, str]:
    """Return the fields a field's rules and calculation read -> where it reads each first."""
    found: dict[str, str] = {}
    for rule in RULES:
        if rule in field:
            for _, comparison in comparisons(field[rule], rule):
                found.setdefault(comparison["field"].split(".")[0], rule)
            for _, source in expressions(field[rule], rule):
                for name in sorted(inspect(source).fields):
                    found.setdefault(name, rule)
    if field["type"] == "calculated":
        for name in sorted(inspect(field["expr"]).fields):
            found.setdefault(name, "expr")
    return found


def rule_problems(
    placed: Sequence[Placed], inspect: Inspect, outer: Mapping[str, Placed] | None = None
) -> Iterator[Problem]:
    """Check the rules of one list of fields, then of each table's columns (which see both)."""
    own = {f["key"]: (here, f) for here, f in placed if holds_value(f)}
    # A view, not a copy: each table's columns see the form without copying its fields.
    scope: Mapping[str, Placed] = (
        ChainMap(own, cast("dict[str, Placed]", outer)) if outer is not None else own
    )
    yield from _circles(own, inspect)
    yield from _never_shown(own, scope)
    for here, field in placed:
        if field["type"] == "table":
            columns = [(f"{here}/columns/{i}", c) for i, c in enumerate(field["columns"])]
            yield from rule_problems(columns, inspect, scope)


# Circles ------------------------------------------------------------------------------------


def _circles(own: Mapping[str, Placed], inspect: Inspect) -> Iterator[Problem]:
    """Report a circle through each field not on a circle reported before (form order).

    Circles are looked for only inside a group of fields that depend on each other, and at
    most `MAX_CIRCLES` per group: each search walks the group once, so the whole stays
    linear however the rules are tangled.
    """
    needs = {key: dependencies(field, inspect) for key, (_, field) in own.items()}
    graph = {key: [name for name in reads if name in own] for key, reads in needs.items()}
    component = _components(graph)
    members: dict[int, set[str]] = {}
    for key, number in component.items():
        members.setdefault(number, set()).add(key)
    reported: set[str] = set()
    told: dict[int, int] = {}
    for key in own:  # form order
        number = component[key]
        group = members[number]
        if key in reported or told.get(number, 0) >= MAX_CIRCLES:
            continue
        if len(group) == 1 and key not in graph[key]:
            continue  # on no circle
        circle = _circle_from(key, graph, group)
        reported.update(circle)
        told[number] = told.get(number, 0) + 1
        here, _ = own[key]
        steps = f"'{circle[0]}' depends on '{circle[1]}'" + "".join(
            f", which depends on '{name}'" for name in circle[2:]
        )
        yield Problem(
            f"{here}/{needs[key][circle[1]]}",
            f"the rules go round in a circle: {steps}; so none of them can be decided, "
            "a field's rules may only use fields that do not depend on it",
        )


def _components(graph: Mapping[str, Sequence[str]]) -> dict[str, int]:
    """Number the strongly connected components of a graph (Tarjan's, without recursion)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    component: dict[str, int] = {}
    for root in graph:
        if root in index:
            continue
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        work = [(root, iter(graph[root]))]
        while work:
            node, following = work[-1]
            for nxt in following:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(graph[nxt])))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    number = len(component)
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component[member] = number
                        if member == node:
                            break
    return component


def _circle_from(start: str, graph: Mapping[str, Sequence[str]], group: set[str]) -> list[str]:
    """Return a path start -> ... -> start, the first a depth-first walk finds.

    The walk stays inside the group of fields that depend on each other: a path that
    leaves it can never come back to `start`.
    """
    path = [start]
    seen = {start}
    walks = [iter(graph[start])]
    while walks:
        for nxt in walks[-1]:
            if nxt == start:
                return [*path, start]
            if nxt in group and nxt not in seen:
                seen.add(nxt)
                path.append(nxt)
                walks.append(iter(graph[nxt]))
                break
        else:
            walks.pop()
            path.pop()
    raise AssertionError(f"'{start}' is in a group of fields that depend on each other")


# Fields that can never be shown -------------------------------------------------------------


def _never_shown(own: Mapping[str, Placed], scope: Mapping[str, Placed]) -> Iterator[Problem]:
    circuit = _Circuit(scope)
    for key, (_, field) in own.items():
        if "visible_if" in field:
            circuit.add(key, field["visible_if"])
    hidden = circuit.hidden()
    for key, (here, field) in own.items():
        if key not in hidden:
            continue
        why = _never_true(field["visible_if"], circuit, hidden)
        required = field.get("required") or "required_if" in field
        head = f"'{key}' is required but can never be shown" if required else (
            f"'{key}' can never be shown"
        )  # fmt: skip
        yield Problem(f"{here}/visible_if", f"{head}: {why}")


class _Circuit:
    """The `visible_if` rules of a list of fields as one circuit of "can never hold" parts.

    A part turns "never" at most once: a comparison when the value it wants is not among
    the options (at once) or when the field it reads is hidden for good; `all` when one of
    its parts has turned, `any` when all of them have; a field is hidden for good when its
    rule turns, which turns the comparisons that read it.
    """

    def __init__(self, scope: Mapping[str, Placed]) -> None:
        self.scope = scope
        self.parent: list[int] = []
        self.waiting: list[int] = []
        self.field_of: dict[int, str] = {}
        self.readers: dict[str, list[int]] = {}
        self.turned: list[int] = []
        self._options: dict[str, set[tuple[bool, Any]]] = {}

    def add(self, key: str, condition: Any) -> None:
        self.field_of[self._node(condition, -1)] = key

    def hidden(self) -> set[str]:
        hidden: set[str] = set()
        while self.turned:
            node = self.turned.pop()
            key = self.field_of.get(node)
            if key is not None:
                hidden.add(key)
                self.turned.extend(self.readers.pop(key, ()))
            parent = self.parent[node]
            if parent >= 0:
                self.waiting[parent] -= 1
                if self.waiting[parent] == 0:
                    self.turned.append(parent)
        return hidden

    def _node(self, condition: Any, parent: int) -> int:
        node = len(self.parent)
        self.parent.append(parent)
        self.waiting.append(-1)  # may always hold, unless set below
        if isinstance(condition, str) or "not" in condition:
            return node
        for joint in ("all", "any"):
            if joint in condition:
                parts = condition[joint]
                self.waiting[node] = 1 if joint == "all" else len(parts)
                for part in parts:
                    self._node(part, node)
                return node
        name, op, value = condition["field"], condition["op"], condition.get("value")
        if op not in ("eq", "in", "not_empty") or (op != "not_empty" and None in _as_list(value)):
            return node  # a missing value reads as null, so "is empty" (null) can hold
        if op != "not_empty" and self.not_an_option(name, value):
            self.turned.append(node)
        else:
            self.readers.setdefault(name, []).append(node)
        return node

    def not_an_option(self, name: str, value: Any) -> bool:
        """Tell whether `name` is a select or radio field none of whose options is wanted."""
        compared = self.scope.get(name)
        if compared is None or compared[1]["type"] not in ("select", "radio"):
            return False
        if name not in self._options:
            values = option_values(compared[1]) or ()
            self._options[name] = {(isinstance(v, bool), v) for v in values}
        options = self._options[name]
        return not any(
            _hashable(wanted) and (isinstance(wanted, bool), wanted) in options
            for wanted in _as_list(value)
        )


def _never_true(condition: Any, circuit: _Circuit, hidden: set[str]) -> str | None:
    """Say why a condition can never hold, or return None when it may."""
    if isinstance(condition, str) or "not" in condition:
        return None
    if "all" in condition:
        found = (_never_true(part, circuit, hidden) for part in condition["all"])
        return next((why for why in found if why is not None), None)
    if "any" in condition:
        reasons = [_never_true(part, circuit, hidden) for part in condition["any"]]
        return None if None in reasons else "; ".join(r for r in reasons if r)
    name, op, value = condition["field"], condition["op"], condition.get("value")
    if op not in ("eq", "in", "not_empty") or (op != "not_empty" and None in _as_list(value)):
        return None  # a missing value reads as null, so "is empty" (null) can hold
    shown = f"it is shown only when {describe(condition)}"
    if name in hidden:
        return f"{shown}, and '{name}' can never be shown either"
    if op == "not_empty" or not circuit.not_an_option(name, value):
        return None
    if isinstance(value, list):
        return f"{shown}, and none of those is among the options of '{name}'"
    return f"{shown}, which is not among the options of '{name}'"


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _hashable(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float)
