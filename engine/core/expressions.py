"""Sandboxed Jinja2 expressions and templates: parse, inspect statically, evaluate.

Power users write conditions and computed values as Jinja2 expressions
(`cost < 500 and category == 'hardware'`) and titles as templates
(`Work on {{ instance.number }}: {{ summary }}`). Everything runs in Jinja2's
`ImmutableSandboxedEnvironment`; on top of that, `inspect_*` refuses at publish
time what the sandbox would only stop at run time, so a process owner hears
about it before anything runs.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import TemplateSyntaxError, nodes
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.parser import Parser
from jinja2.sandbox import ImmutableSandboxedEnvironment

from engine.core.errors import ExpressionError

#: Names every expression may use besides the instance's own fields.
CONTEXT_NAMES = frozenset({"data", "instance", "outcome"})

#: Methods an expression may call; anything else that is called is refused.
SAFE_METHODS = frozenset(
    {
        "lower",
        "upper",
        "strip",
        "title",
        "capitalize",
        "startswith",
        "endswith",
        "split",
        "replace",
        "count",
        "get",
        "keys",
        "values",
        "items",
        "join",
    }
)

#: Statements a template may hold: output, conditionals and loops, nothing else.
ALLOWED_STATEMENTS = (nodes.Template, nodes.Output, nodes.If, nodes.For)

#: Largest string or list an expression may build with `*`, and largest power.
MAX_PRODUCT_LENGTH = 10_000
MAX_EXPONENT = 100


class _Environment(ImmutableSandboxedEnvironment):
    """The sandbox, with `*` and `**` bounded so no expression can exhaust memory."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator_name: str, left: Any, right: Any) -> Any:
        if operator_name == "**":
            if isinstance(right, int | float) and abs(right) > MAX_EXPONENT:
                raise SecurityError(f"the power {right} is too large")
            return operator.pow(left, right)
        for seq, times in ((left, right), (right, left)):
            sized = isinstance(seq, str | list | tuple) and isinstance(times, int)
            if sized and len(seq) * times > MAX_PRODUCT_LENGTH:
                raise SecurityError("the result would be too long")
        return operator.mul(left, right)


@lru_cache(maxsize=1)
def environment() -> _Environment:
    """Return the one sandbox every expression and template runs in."""
    return _Environment(autoescape=False, keep_trailing_newline=False)


@dataclass(frozen=True, slots=True)
class Inspection:
    """What static inspection learned: the problems, and the fields the source reads."""

    problems: tuple[str, ...]
    fields: frozenset[str]


def inspect_expression(source: str) -> Inspection:
    """Parse an expression and report what it must not do and which fields it reads."""
    try:
        parser = Parser(environment(), source, state="variable")
        tree = parser.parse_expression()
        if not parser.stream.eos:
            raise TemplateSyntaxError("unexpected text after the expression", 1)
    except TemplateSyntaxError as exc:
        return Inspection((f"the expression does not parse: {exc.message}",), frozenset())
    return _inspect(tree)


def inspect_template(source: str) -> Inspection:
    """Parse a template and report what it must not do and which fields it reads."""
    try:
        tree = environment().parse(source)
    except TemplateSyntaxError as exc:
        return Inspection((f"the text does not parse: {exc.message}",), frozenset())
    return _inspect(tree)


def _inspect(tree: nodes.Node) -> Inspection:
    problems = list(dict.fromkeys(_forbidden(tree)))
    return Inspection(tuple(problems), frozenset(_field_names(tree)))


def _forbidden(tree: nodes.Node) -> Iterator[str]:
    filters = environment().filters
    for node in _walk(tree):
        if isinstance(node, nodes.Stmt) and not isinstance(node, ALLOWED_STATEMENTS):
            kind = type(node).__name__.lower()
            yield f"'{kind}' is not allowed here: only expressions, if and for"
        elif isinstance(node, nodes.Getattr) and node.attr.startswith("_"):
            yield f"'{node.attr}' starts with '_' and cannot be read"
        elif (
            isinstance(node, nodes.Getitem)
            and isinstance(node.arg, nodes.Const)
            and isinstance(node.arg.value, str)
            and node.arg.value.startswith("_")
        ):
            yield f"'{node.arg.value}' starts with '_' and cannot be read"
        elif isinstance(node, nodes.Call) and not _is_safe_call(node):
            yield "only simple text methods such as lower() may be called"
        elif isinstance(node, nodes.Filter | nodes.Test) and node.name is None:
            yield "filter blocks are not allowed"
        elif isinstance(node, nodes.Filter) and node.name not in filters:
            yield f"there is no filter named '{node.name}'"


def _is_safe_call(node: nodes.Call) -> bool:
    return isinstance(node.node, nodes.Getattr) and node.node.attr in SAFE_METHODS


def _walk(node: nodes.Node) -> Iterator[nodes.Node]:
    yield node
    for child in node.iter_child_nodes():
        yield from _walk(child)


def _field_names(tree: nodes.Node) -> Iterator[str]:
    bound = {
        target.name
        for loop in tree.find_all(nodes.For)
        for target in loop.target.find_all(nodes.Name)
    }
    for node in _walk(tree):
        if isinstance(node, nodes.Name) and node.ctx == "load":
            if node.name not in CONTEXT_NAMES and node.name not in bound:
                yield node.name
        elif (
            isinstance(node, nodes.Getattr)
            and isinstance(node.node, nodes.Name)
            and node.node.name == "data"
        ):
            yield node.attr
        elif (
            isinstance(node, nodes.Getitem)
            and isinstance(node.node, nodes.Name)
            and node.node.name == "data"
            and isinstance(node.arg, nodes.Const)
            and isinstance(node.arg.value, str)
        ):
            yield node.arg.value


Evaluator = Callable[[Mapping[str, Any]], Any]


@lru_cache(maxsize=4096)
def compile_expression(source: str) -> Evaluator:
    """Compile an expression once; the result evaluates it against a context."""
    problems = inspect_expression(source).problems
    if problems:
        raise ExpressionError(f"'{source}': {problems[0]}")
    compiled = environment().compile_expression(source, undefined_to_none=True)

    def evaluate(context: Mapping[str, Any]) -> Any:
        try:
            return compiled(**context)
        except (UndefinedError, TypeError, ValueError, ZeroDivisionError, SecurityError) as exc:
            raise ExpressionError(f"'{source}' could not be evaluated: {exc}") from None

    return evaluate


@lru_cache(maxsize=4096)
def compile_template(source: str) -> Callable[[Mapping[str, Any]], str]:
    """Compile a text template once; plain text without `{{`/`{%` costs nothing to render."""
    if "{" not in source:
        return lambda context: source
    problems = inspect_template(source).problems
    if problems:
        raise ExpressionError(f"'{source}': {problems[0]}")
    template = environment().from_string(source)

    def render(context: Mapping[str, Any]) -> str:
        try:
            return template.render(context)
        except (UndefinedError, TypeError, ValueError, ZeroDivisionError, SecurityError) as exc:
            raise ExpressionError(f"'{source}' could not be rendered: {exc}") from None

    return render


def is_template(text: str) -> bool:
    """Tell whether a text has expression parts to fill in."""
    return "{{" in text or "{%" in text
