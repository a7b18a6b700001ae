"""Rewrite a checked tree so that every loop, `~`, slice and written-out list is measured.

The hooks here are compiled into every expression and template (see `Metering`); they
count against the budget of the evaluation that runs them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from time import perf_counter
from typing import Any

from jinja2 import nodes
from jinja2.visitor import NodeTransformer

from engine.core.expressions.limits import (
    BUDGET,
    MAX_LOOP_ITERATIONS,
    MAX_TEXT_LENGTH,
    OVERLONG_TEXT,
    charge,
    check_time,
    over_limit,
)
from engine.core.expressions.sizes import check_text, check_value, text_of


def loop(iterable: Iterable[Any]) -> Iterator[Any]:
    """Go through what a `{% for %}` loops over, counting iterations against the budget."""
    budget = BUDGET.get()
    for item in iterable:
        if budget is not None:
            budget.loops -= 1
            if budget.loops < 0:
                raise over_limit("looped", "would loop", f"more than {MAX_LOOP_ITERATIONS:,} times")
            if perf_counter() > budget.deadline:
                check_time(budget)
        yield item


def concat(*parts: Any) -> str:
    """Join the parts of `a ~ b ~ c`, measuring each before printing it."""
    texts, length = [], 0
    for part in parts:
        text = text_of(part)
        length += len(text)
        if length > MAX_TEXT_LENGTH:
            raise over_limit("built", "would build", OVERLONG_TEXT)
        texts.append(text)
    return check_text("".join(texts))


def sliced(value: Any) -> Any:
    """Count the copy `x[a:b]` made (Jinja slices without asking the sandbox)."""
    if isinstance(value, str | list | tuple):
        charge(len(value))
    return value


def literal(value: Any) -> Any:
    """Measure a list, tuple or mapping written in the source (`[x, x, x]` copies nothing
    but compares and prints as three)."""
    return check_value(value)


class Metering(NodeTransformer):
    """Wrap every loop, `~` and list written in the source in a hook that measures it.

    `{% for x in items %}` becomes `{% for x in loop(items) %}`, `a ~ b` becomes
    `concat(a, b)`, `[a, b]` becomes `literal([a, b])`, `x[1:]` becomes `sliced(x[1:])`.
    The hooks are imported by name into the compiled template (`nodes.ImportedName`):
    the source cannot name them.
    """

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = _hook(loop, [node.iter], node.lineno)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return _hook(concat, node.nodes, node.lineno)

    def visit_Getitem(self, node: nodes.Getitem) -> nodes.Node:
        self.generic_visit(node)
        return _hook(sliced, [node], node.lineno) if isinstance(node.arg, nodes.Slice) else node

    def visit_List(self, node: nodes.List) -> nodes.Node:
        return self._literal(node)

    def visit_Tuple(self, node: nodes.Tuple) -> nodes.Node:
        return node if node.ctx != "load" else self._literal(node)

    def visit_Dict(self, node: nodes.Dict) -> nodes.Node:
        return self._literal(node)

    def _literal(self, node: nodes.List | nodes.Tuple | nodes.Dict) -> nodes.Node:
        self.generic_visit(node)
        if isinstance(node, nodes.Dict):
            parts = [part for pair in node.items for part in (pair.key, pair.value)]
        else:
            parts = list(node.items)
        if all(isinstance(part, nodes.Const) for part in parts):
            return node  # nothing but constants: as small as the source
        return _hook(literal, [node], node.lineno)


def _hook(function: Callable[..., Any], args: Iterable[nodes.Node], lineno: int) -> nodes.Call:
    name = nodes.ImportedName(f"{__name__}.{function.__name__}", lineno=lineno)
    return nodes.Call(name, list(args), [], None, None, lineno=lineno)
