"""Parse a source and inspect it statically: what it must not do, and which fields it reads.

Inspection refuses at publish time what can be seen in the source (private names,
calls, constant parts that break a limit), so a process owner hears about it before
anything runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, cast

from jinja2 import TemplateSyntaxError, nodes
from jinja2.parser import Parser

from engine.core.expressions.folding import UNKNOWN, fold
from engine.core.expressions.limits import (
    BUDGET,
    MAX_DEPTH,
    MAX_LOOP_ITERATIONS,
    MAX_LOOP_NESTING,
    MAX_SOURCE_LENGTH,
    TOO_DEEP,
    TOO_LONG,
    Budget,
    Refusal,
)
from engine.core.expressions.results import json_value
from engine.core.expressions.sandbox import MAPPING_METHODS, SAFE_METHODS, environment

#: Names every expression may use besides the instance's own fields.
CONTEXT_NAMES = frozenset({"data", "instance", "outcome"})

#: Statements a template may hold: output, conditionals and loops, nothing else.
ALLOWED_STATEMENTS = (nodes.Template, nodes.Output, nodes.If, nodes.For)

#: The tag a process owner wrote for each refused statement, to name it back to them.
STATEMENT_TAGS = {
    "FromImport": "from", "Assign": "set", "AssignBlock": "set", "CallBlock": "call",
    "FilterBlock": "filter", "ScopedEvalContextModifier": "autoescape", "ExprStmt": "do",
}  # fmt: skip

#: Methods of mappings an expression may not use: `x.pop` always reads the method, never a
#: field called `pop`, so the checker can refuse it.
_REFUSED_MAPPING_METHODS = frozenset(
    name for name in dir(dict) if not name.startswith("_") and name not in MAPPING_METHODS
)
#: Every method of texts, lists and mappings an expression may not use.
_REFUSED_METHODS = frozenset(
    name
    for kind in (str, list, tuple, dict)
    for name in dir(kind)
    if not name.startswith("_") and name not in SAFE_METHODS
)


@dataclass(frozen=True, slots=True)
class Inspection:
    """What static inspection learned: the problems, and the fields the source reads."""

    problems: tuple[str, ...]
    fields: frozenset[str]


#: How many inspections are kept, by their text: the designer checks a workflow on every edit,
#: and its texts hardly change from one edit to the next (an `Inspection` is immutable).
INSPECTED_TEXTS = 2048


class Unparsable(Exception):
    """A source that cannot be parsed; the message says why."""


def parse_expression(source: str) -> nodes.Expr:
    """Parse an expression, or say why it cannot be parsed."""
    if len(source) > MAX_SOURCE_LENGTH:
        raise Unparsable(TOO_LONG)
    try:
        parser = Parser(environment(), source, state="variable")
        tree = parser.parse_expression()
        if not parser.stream.eos:
            raise TemplateSyntaxError("unexpected text after the expression", 1)
    except TemplateSyntaxError as exc:
        raise Unparsable(f"the expression does not parse: {exc.message}") from None
    except RecursionError:
        raise Unparsable(TOO_DEEP) from None
    return tree


def parse_template(source: str) -> nodes.Template:
    """Parse a template, or say why it cannot be parsed."""
    if len(source) > MAX_SOURCE_LENGTH:
        raise Unparsable(TOO_LONG)
    try:
        return environment().parse(source)
    except TemplateSyntaxError as exc:
        raise Unparsable(f"the text does not parse: {exc.message}") from None
    except RecursionError:
        raise Unparsable(TOO_DEEP) from None


@lru_cache(maxsize=INSPECTED_TEXTS)
def inspect_expression(source: str) -> Inspection:
    """Parse an expression and report what it must not do and which fields it reads."""
    try:
        tree = parse_expression(source)
    except Unparsable as exc:
        return Inspection((str(exc),), frozenset())
    return inspect_tree(tree, "expression")


@lru_cache(maxsize=INSPECTED_TEXTS)
def inspect_template(source: str) -> Inspection:
    """Parse a template and report what it must not do and which fields it reads."""
    try:
        tree = parse_template(source)
    except Unparsable as exc:
        return Inspection((str(exc),), frozenset())
    return inspect_tree(tree, "template")


def inspect_tree(tree: nodes.Node, kind: str) -> Inspection:
    """Report what a parsed expression or template must not do and which fields it reads."""
    if depth(tree) > MAX_DEPTH:
        return Inspection((TOO_DEEP,), frozenset())
    problems = [*_forbidden(tree), *_loop_problems(tree)]
    token = BUDGET.set(Budget(kind, checking=True))
    try:
        value = fold(tree, problems)
        if kind == "expression" and value is not UNKNOWN:
            json_value(value)  # a constant that is no JSON value (`2 ** 70`, `'x'.upper`)
    except Refusal as exc:
        problems.append(str(exc))
    finally:
        BUDGET.reset(token)
    return Inspection(tuple(dict.fromkeys(problems)), frozenset(_field_names(tree)))


def depth(tree: nodes.Node) -> int:
    """Measure how deeply a tree nests, without recursion (stopping past `MAX_DEPTH`)."""
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > MAX_DEPTH:
            break
        stack.extend((child, depth + 1) for child in node.iter_child_nodes())
    return deepest


def _forbidden(tree: nodes.Node) -> Iterator[str]:
    filters, tests = environment().filters, environment().tests
    for node in _walk(tree):
        if isinstance(node, nodes.Stmt) and not isinstance(node, ALLOWED_STATEMENTS):
            name = type(node).__name__
            tag = STATEMENT_TAGS.get(name, name.lower())
            yield "{% " + tag + " %} is not allowed here: only {{ ... }}, {% if %} and {% for %}"
        elif isinstance(node, nodes.Getattr) and node.attr.startswith("_"):
            yield f"'{node.attr}' starts with '_' and cannot be read"
        elif isinstance(node, nodes.Getattr) and node.attr in _REFUSED_MAPPING_METHODS:
            yield f"'{node.attr}' is a method expressions may not use"
        elif isinstance(node, nodes.Filter) and _names_private_attribute(node):
            yield "attributes starting with '_' cannot be read"
        elif isinstance(node, nodes.Filter) and _names_refused_method(node):
            yield f"'{_constant(node.args[0])}' is a method expressions may not use"
        elif (
            isinstance(node, nodes.Getitem)
            and isinstance(node.arg, nodes.Const)
            and isinstance(node.arg.value, str)
            and node.arg.value.startswith("_")
        ):
            yield f"'{node.arg.value}' starts with '_' and cannot be read"
        elif isinstance(node, nodes.Name) and node.name == "self":
            yield "'self' cannot be used: the template engine reserves it"
        elif isinstance(node, nodes.Call) and not _is_safe_call(node):
            yield "only simple text methods such as lower() may be called" + _call_hint(node)
        elif isinstance(node, nodes.Filter | nodes.Test) and node.name is None:
            yield "filter blocks are not allowed"
        elif isinstance(node, nodes.Filter) and node.name not in filters:
            yield f"there is no filter named '{node.name}'"
        elif isinstance(node, nodes.Test) and node.name not in tests:
            yield f"there is no test named '{node.name}'"
        elif isinstance(node, nodes.Filter) and node.name == "map" and node.args:
            # map('filter') would run a filter on every item: only map(attribute='x') is allowed.
            yield "map can only pick an attribute, like map(attribute='cost')"


#: Functions other languages call, and the filter that does the same here.
_FUNCTION_FILTERS = {
    "len": "length", "str": "string", "int": "int", "float": "float", "abs": "abs",
    "round": "round", "sum": "sum", "min": "min", "max": "max", "sorted": "sort", "list": "list",
}  # fmt: skip
#: Methods other languages have, and what is written here instead.
_FOREIGN_METHODS = {"toLowerCase": "lower", "toUpperCase": "upper", "trim": "strip"}


def _call_hint(node: nodes.Call) -> str:
    """Say what to write instead of a call from another language: `len(x)`, `x.contains(y)`."""
    callee, args = node.node, node.args
    if isinstance(callee, nodes.Name) and callee.name in _FUNCTION_FILTERS and len(args) == 1:
        name = callee.name
        return f"; there is no {name}(): write {_shown(args[0])} | {_FUNCTION_FILTERS[name]}"
    if not isinstance(callee, nodes.Getattr):
        return ""
    method, base = callee.attr, _shown(callee.node)
    if method in ("contains", "includes", "has") and len(args) == 1:
        return f"; there is no {method}(): to look for an item, write {_shown(args[0])} in {base}"
    if method in ("length", "size", "len") and not args:
        return f"; there is no {method}(): write {base} | length"
    meant = _FOREIGN_METHODS.get(method) or method.lower()
    if meant != method and meant in SAFE_METHODS:
        return f"; there is no {method}(): did you mean {meant}()?"
    return ""


def _shown(node: nodes.Node) -> str:
    """Write a simple part of an expression back as it was written; `…` for anything else."""
    if isinstance(node, nodes.Name):
        return node.name
    if isinstance(node, nodes.Getattr):
        return f"{_shown(node.node)}.{node.attr}"
    if isinstance(node, nodes.Const) and isinstance(node.value, str) and "'" not in node.value:
        return f"'{node.value}'"
    if isinstance(node, nodes.Const) and isinstance(node.value, int | float):
        return str(node.value)
    return "…"


def _constant(node: nodes.Node) -> Any:
    return node.value if isinstance(node, nodes.Const) else None


def _names_private_attribute(node: nodes.Filter) -> bool:
    """Tell whether a filter is told to read an attribute starting with `_` (`attr('_x')`)."""
    named = [node.args[0]] if node.name == "attr" and node.args else []
    named += [kw.value for kw in node.kwargs if kw.key == "attribute"]
    return any(
        isinstance(arg, nodes.Const) and isinstance(arg.value, str) and arg.value.startswith("_")
        for arg in named
    )


def _names_refused_method(node: nodes.Filter) -> bool:
    """Tell whether `attr` is told to read a method: `attr` reads attributes, never items."""
    name = _constant(node.args[0]) if node.name == "attr" and node.args else None
    return isinstance(name, str) and name in _REFUSED_METHODS


def _is_safe_call(node: nodes.Call) -> bool:
    return isinstance(node.node, nodes.Getattr) and node.node.attr in SAFE_METHODS


def _walk(tree: nodes.Node) -> Iterator[nodes.Node]:
    """Yield every node of a tree in source order, without recursion."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(list(node.iter_child_nodes())))


def _loop_problems(tree: nodes.Node) -> Iterator[str]:
    """Refuse loops nested too deeply, recursive loops, and constant loops that run too long."""
    # Each node with the number of loops around it, and how often they run when the source says.
    stack: list[tuple[nodes.Node, int, int]] = [(tree, 0, 1)]
    while stack:
        node, depth, times = stack.pop()
        if not isinstance(node, nodes.For):
            stack.extend((child, depth, times) for child in node.iter_child_nodes())
            continue
        if depth == MAX_LOOP_NESTING:
            yield f"loops may be nested {MAX_LOOP_NESTING} deep at most"
        if node.recursive:
            yield "recursive loops are not allowed"
        length = _constant_length(cast("nodes.Expr", node.iter))
        inner = times * (length if length is not None else 1)
        if length is not None and inner > MAX_LOOP_ITERATIONS:
            yield f"the template would loop more than {MAX_LOOP_ITERATIONS:,} times"
            inner = 1  # said once is enough
        for child in node.iter_child_nodes():
            outside = child is node.iter or child is node.target
            stack.append((child, depth, times) if outside else (child, depth + 1, inner))


def _constant_length(node: nodes.Expr) -> int | None:
    """The length of what a loop goes through, when the source says it (`'abc'`, `[1, 2]`)."""
    if isinstance(node, nodes.Const) and isinstance(node.value, str | list | tuple):
        return len(node.value)
    if isinstance(node, nodes.List | nodes.Tuple):
        return len(node.items)
    if isinstance(node, nodes.Mul):
        for seq, times in ((node.left, node.right), (node.right, node.left)):
            length, count = _constant_length(seq), _constant(times)
            if length is not None and isinstance(count, int):
                return length * max(count, 0)
    return None


def _field_names(tree: nodes.Node) -> Iterator[str]:
    """Yield the fields a tree reads: free names, and `data.x`, `data['x']`, `data.get('x')`."""
    loops = list(tree.find_all(nodes.For))
    # A loop's target is a name (`tag`) or a tuple of names (`key, value`).
    targets = [name for loop in loops for name in (loop.target, *loop.target.find_all(nodes.Name))]
    bound = {target.name for target in targets if isinstance(target, nodes.Name)}
    if loops:
        bound.add("loop")  # Jinja's loop variable (`loop.index`) inside a for
    for node in _walk(tree):
        if isinstance(node, nodes.Name):
            if node.ctx == "load" and node.name not in CONTEXT_NAMES and node.name not in bound:
                yield node.name
        elif (name := _data_field(node)) is not None:
            yield name


def _data_field(node: nodes.Node) -> str | None:
    """Return the field a read of `data` names (`data.x`, `data['x']`, `data.get('x')`), if any."""
    if isinstance(node, nodes.Getattr) and _is_data(node.node):
        # `data.get`, `data.items` are the mapping's methods, not fields.
        return None if hasattr(dict, node.attr) else node.attr
    if (
        isinstance(node, nodes.Call)
        and isinstance(node.node, nodes.Getattr)
        and _is_data(node.node.node)
        and node.node.attr == "get"
        and node.args
    ):
        return _constant_text(node.args[0])
    if isinstance(node, nodes.Getitem) and _is_data(node.node):
        return _constant_text(node.arg)
    return None


def _is_data(node: nodes.Node) -> bool:
    return isinstance(node, nodes.Name) and node.name == "data"


def _constant_text(node: nodes.Node) -> str | None:
    value = _constant(node)
    return value if isinstance(value, str) else None
