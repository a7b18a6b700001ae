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
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import TemplateSyntaxError, nodes, pass_environment
from jinja2.environment import Environment
from jinja2.exceptions import SecurityError, TemplateRuntimeError
from jinja2.filters import make_attrgetter
from jinja2.parser import Parser
from jinja2.runtime import Context
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

#: Filters an expression may use: none builds a value much larger than its input and none
#: is random (`center`, `indent`, `format`, `batch`, `slice`, `random` are left out).
SAFE_FILTERS = frozenset(
    {
        "abs", "attr", "capitalize", "count", "d", "default", "dictsort", "first", "float",
        "groupby", "int", "items", "join", "last", "length", "list", "lower", "map", "max", "min",
        "reject", "rejectattr", "replace", "reverse", "round", "select", "selectattr", "sort",
        "string", "sum", "title", "trim", "truncate", "unique", "upper", "wordcount",
    }
)  # fmt: skip

#: Statements a template may hold: output, conditionals and loops, nothing else.
ALLOWED_STATEMENTS = (nodes.Template, nodes.Output, nodes.If, nodes.For)

#: The tag a process owner wrote for each refused statement, to name it back to them.
STATEMENT_TAGS = {
    "FromImport": "from", "Assign": "set", "AssignBlock": "set", "CallBlock": "call",
    "FilterBlock": "filter", "ScopedEvalContextModifier": "autoescape", "ExprStmt": "do",
}  # fmt: skip

#: Largest string or list an expression may build with `*`, and largest power.
MAX_PRODUCT_LENGTH = 10_000
MAX_EXPONENT = 100
#: Largest whole number (in bits) a power may give: `(10**100)**100` is refused.
MAX_POWER_BITS = 4096
#: Longest text that joining, replacing or rendering a template may give.
MAX_TEXT_LENGTH = 100_000
#: Widest field a `%` format may pad to: `'%08.2f' % cost` is fine, `'%0999999d' % 1` is not.
MAX_FORMAT_WIDTH = 100

#: What to say when an expression is too deep for the parser to follow.
TOO_DEEP = "the expression is nested too deeply; split it into simpler parts"

_FORMAT_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d*)(?:\.(\*|\d*))?")


class _Environment(ImmutableSandboxedEnvironment):
    """The sandbox, with everything that could build a huge value measured first."""

    intercepted_binops = frozenset({"*", "**", "%"})

    def __init__(self) -> None:
        super().__init__(autoescape=False, keep_trailing_newline=False)
        self.filters = {name: self.filters[name] for name in SAFE_FILTERS}
        self.filters["join"] = _join_filter
        self.filters["replace"] = _replace_filter

    def call_binop(self, context: Any, operator_name: str, left: Any, right: Any) -> Any:
        if operator_name == "**":
            _check_power(left, right)
            return operator.pow(left, right)
        if operator_name == "%":
            if isinstance(left, str):
                _check_format(left)
            return operator.mod(left, right)
        for seq, times in ((left, right), (right, left)):
            sized = isinstance(seq, str | list | tuple) and isinstance(times, int)
            if sized and _size(seq) * times > MAX_PRODUCT_LENGTH:
                raise SecurityError("the result would be too long")
        return operator.mul(left, right)

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        # `join` and `replace` can multiply the length of a text: measure before building it.
        text = getattr(obj, "__self__", None)
        name = getattr(obj, "__name__", None)
        if isinstance(text, str) and name == "replace":
            return _replaced(text, *args, **kwargs)
        if isinstance(text, str) and name == "join" and args:
            items = list(args[0])
            _check_length(_joined_length(text, items))
            args = (items, *args[1:])
        return super().call(context, obj, *args, **kwargs)


def _size(value: Any) -> int:
    """Count the characters and items in a value: what copying every part of it would take."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list | tuple):
        return sum(max(1, _size(item)) for item in value)
    if isinstance(value, Mapping):
        return sum(max(1, _size(key)) + _size(item) for key, item in value.items())
    return 1


def _check_length(length: int) -> None:
    if length > MAX_TEXT_LENGTH:
        raise SecurityError("the result would be too long")


def _check_power(base: Any, exponent: Any) -> None:
    if isinstance(exponent, int | float) and abs(exponent) > MAX_EXPONENT:
        raise SecurityError(f"the power {exponent} is too large")
    whole = isinstance(base, int) and isinstance(exponent, int)
    if whole and exponent > 0 and base.bit_length() * exponent > MAX_POWER_BITS:
        raise SecurityError("the result would be too large")


def _check_format(text: str) -> None:
    for spec in _FORMAT_SPEC.finditer(text):
        for number in spec.groups():
            if number and (number == "*" or len(number) > 3 or int(number) > MAX_FORMAT_WIDTH):
                raise SecurityError(f"a '%' format may pad to {MAX_FORMAT_WIDTH} at most")


def _joined_length(separator: str, items: Iterable[Any]) -> int:
    length = 0
    for item in items:
        length += len(separator) + (len(item) if isinstance(item, str) else len(str(item)))
        if length > MAX_TEXT_LENGTH:
            break
    return length


def _replaced(text: str, old: str, new: str, count: int = -1) -> str:
    hits = text.count(old) if count < 0 else min(count, text.count(old))
    _check_length(len(text) + hits * (len(new) - len(old)))
    return text.replace(old, new, count)


@pass_environment
def _join_filter(
    environment: Environment, value: Iterable[Any], d: str = "", attribute: Any = None
) -> str:
    if attribute is not None:
        value = map(make_attrgetter(environment, attribute), value)
    items = list(value)
    _check_length(_joined_length(str(d), items))
    return str(d).join(map(str, items))


def _replace_filter(text: Any, old: Any, new: Any, count: int | None = None) -> str:
    return _replaced(str(text), str(old), str(new), -1 if count is None else count)


@lru_cache(maxsize=1)
def environment() -> _Environment:
    """Return the one sandbox every expression and template runs in."""
    return _Environment()


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
    except RecursionError:
        return Inspection((TOO_DEEP,), frozenset())
    return _inspect(tree)


def inspect_template(source: str) -> Inspection:
    """Parse a template and report what it must not do and which fields it reads."""
    try:
        tree = environment().parse(source)
    except TemplateSyntaxError as exc:
        return Inspection((f"the text does not parse: {exc.message}",), frozenset())
    except RecursionError:
        return Inspection((TOO_DEEP,), frozenset())
    return _inspect(tree)


def _inspect(tree: nodes.Node) -> Inspection:
    try:
        problems = list(dict.fromkeys(_forbidden(tree)))
        return Inspection(tuple(problems), frozenset(_field_names(tree)))
    except RecursionError:
        return Inspection((TOO_DEEP,), frozenset())


def _forbidden(tree: nodes.Node) -> Iterator[str]:
    filters, tests = environment().filters, environment().tests
    for node in _walk(tree):
        if isinstance(node, nodes.Stmt) and not isinstance(node, ALLOWED_STATEMENTS):
            name = type(node).__name__
            tag = STATEMENT_TAGS.get(name, name.lower())
            yield "{% " + tag + " %} is not allowed here: only {{ ... }}, {% if %} and {% for %}"
        elif isinstance(node, nodes.Getattr) and node.attr.startswith("_"):
            yield f"'{node.attr}' starts with '_' and cannot be read"
        elif isinstance(node, nodes.Filter) and _names_private_attribute(node):
            yield "attributes starting with '_' cannot be read"
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
        elif isinstance(node, nodes.Test) and node.name not in tests:
            yield f"there is no test named '{node.name}'"
        elif isinstance(node, nodes.Filter) and node.name == "map" and node.args:
            # map('filter') would run a filter on every item: only map(attribute='x') is allowed.
            yield "map can only pick an attribute, like map(attribute='cost')"


def _names_private_attribute(node: nodes.Filter) -> bool:
    """Tell whether a filter is told to read an attribute starting with `_` (`attr('_x')`)."""
    named = [node.args[0]] if node.name == "attr" and node.args else []
    named += [kw.value for kw in node.kwargs if kw.key == "attribute"]
    return any(
        isinstance(arg, nodes.Const) and isinstance(arg.value, str) and arg.value.startswith("_")
        for arg in named
    )


def _is_safe_call(node: nodes.Call) -> bool:
    return isinstance(node.node, nodes.Getattr) and node.node.attr in SAFE_METHODS


def _walk(node: nodes.Node) -> Iterator[nodes.Node]:
    yield node
    for child in node.iter_child_nodes():
        yield from _walk(child)


def _field_names(tree: nodes.Node) -> Iterator[str]:
    loops = list(tree.find_all(nodes.For))
    # A loop's target is a name (`tag`) or a tuple of names (`key, value`).
    targets = [name for loop in loops for name in (loop.target, *loop.target.find_all(nodes.Name))]
    bound = {target.name for target in targets if isinstance(target, nodes.Name)}
    if loops:
        bound.add("loop")  # Jinja's loop variable (`loop.index`) inside a for
    for node in _walk(tree):
        if isinstance(node, nodes.Name) and node.ctx == "load":
            if node.name not in CONTEXT_NAMES and node.name not in bound:
                yield node.name
        elif (
            isinstance(node, nodes.Getattr)
            and isinstance(node.node, nodes.Name)
            and node.node.name == "data"
        ):
            # `data.get`, `data.items` are the mapping's methods, not fields.
            if not hasattr(dict, node.attr):
                yield node.attr
        elif (
            isinstance(node, nodes.Call)
            and isinstance(node.node, nodes.Getattr)
            and isinstance(node.node.node, nodes.Name)
            and node.node.node.name == "data"
            and node.node.attr == "get"
            and node.args
            and isinstance(node.args[0], nodes.Const)
            and isinstance(node.args[0].value, str)
        ):
            yield node.args[0].value
        elif (
            isinstance(node, nodes.Getitem)
            and isinstance(node.node, nodes.Name)
            and node.node.name == "data"
            and isinstance(node.arg, nodes.Const)
            and isinstance(node.arg.value, str)
        ):
            yield node.arg.value


Evaluator = Callable[[Mapping[str, Any]], Any]

#: What a sound expression may still raise on bad data: it then fails with `ExpressionError`.
#: (`ArithmeticError` covers `1e300 ** 2` overflowing and division by zero.)
EVALUATION_ERRORS = (TemplateRuntimeError, TypeError, ValueError, ArithmeticError)


@lru_cache(maxsize=4096)
def compile_expression(source: str) -> Evaluator:
    """Compile an expression once; the result evaluates it against a context."""
    problems = inspect_expression(source).problems
    if problems:
        raise ExpressionError(f"'{source}': {problems[0]}")
    try:
        compiled = environment().compile_expression(source, undefined_to_none=True)
    except (TemplateSyntaxError, RecursionError, SyntaxError, MemoryError):
        raise ExpressionError(f"'{source}': {TOO_DEEP}") from None

    def evaluate(context: Mapping[str, Any]) -> Any:
        try:
            return compiled(**context)
        except EVALUATION_ERRORS as exc:
            raise ExpressionError(f"'{source}' could not be evaluated: {exc}") from None

    return evaluate


@lru_cache(maxsize=4096)
def compile_template(source: str) -> Callable[[Mapping[str, Any]], str]:
    """Compile a text template once; plain text without `{{`/`{%` costs nothing to render."""
    if not is_template(source):
        return lambda context: source
    problems = inspect_template(source).problems
    if problems:
        raise ExpressionError(f"'{source}': {problems[0]}")
    simple = _simple_template(source)
    if simple is not None:
        return simple
    try:
        template = environment().from_string(source)
    except (TemplateSyntaxError, RecursionError, SyntaxError, MemoryError):
        raise ExpressionError(f"'{source}': {TOO_DEEP}") from None

    def render(context: Mapping[str, Any]) -> str:
        # Render piece by piece, so a loop cannot build a text larger than the limit.
        parts, length = [], 0
        try:
            for part in template.generate(context):
                length += len(part)
                _check_length(length)
                parts.append(part)
        except EVALUATION_ERRORS as exc:
            raise ExpressionError(f"'{source}' could not be rendered: {exc}") from None
        return "".join(parts)

    return render


def _simple_template(source: str) -> Callable[[Mapping[str, Any]], str] | None:
    """Render `Text {{ name }} and {{ a.b }}` without Jinja, the same way Jinja would.

    Most titles are just text and field names; rendering them through Jinja was a
    visible share of every command that opens a task.
    """
    tree = environment().parse(source)
    if len(tree.body) != 1 or not isinstance(tree.body[0], nodes.Output):
        return None
    pieces: list[str | tuple[str, ...]] = []
    for node in tree.body[0].nodes:
        if isinstance(node, nodes.TemplateData):
            pieces.append(node.data)
            continue
        path = _name_path(node)
        if path is None:
            return None
        pieces.append(path)

    def render(context: Mapping[str, Any]) -> str:
        out = []
        for piece in pieces:
            if isinstance(piece, str):
                out.append(piece)
                continue
            value: Any = context
            for part in piece:
                value = value.get(part, _MISSING) if isinstance(value, Mapping) else _MISSING
                if value is _MISSING:
                    break
            out.append("" if value is _MISSING else str(value))
        return "".join(out)

    return render


_MISSING = object()


def _name_path(node: nodes.Node) -> tuple[str, ...] | None:
    """Return ("a", "b") for `a.b`, or None when the node is anything else."""
    if isinstance(node, nodes.Name):
        return (node.name,)
    if isinstance(node, nodes.Getattr) and not hasattr(dict, node.attr):
        # `data.items` means the dict's method to Jinja: leave such names to Jinja.
        inner = _name_path(node.node)
        return (*inner, node.attr) if inner is not None else None
    return None


def is_template(text: str) -> bool:
    """Tell whether a text has expression parts to fill in."""
    return "{{" in text or "{%" in text
