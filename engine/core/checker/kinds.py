"""The kinds of values inside expressions and templates, read from their syntax trees.

The checker parses each expression (and each template) into Jinja's syntax tree and
works out, for every part, what kind of value it gives: a field's kind from the
flow, a literal's own kind, a filter's or a method's result. With that it reports
the comparisons and sums that can never work (see `comparisons`), names that mean
nothing in a workflow (`outcome`, `null`, `instance.priority`), text methods on
numbers and, since a failure stops the step with an incident (an expression in a
condition or an `expr`, a template), arithmetic, ordering, attributes and methods on a
field that may not be filled in yet.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import cache, lru_cache
from typing import Any, TypeGuard

from jinja2 import TemplateSyntaxError, nodes
from jinja2.parser import Parser

from engine.core.checker.comparisons import (
    ANY,
    NOT_NUMBERS,
    OPERATORS,
    ORDERING,
    Value,
    arithmetic_problems,
    comparison_problems,
)
from engine.core.checker.dataflow import Flow
from engine.core.checker.points import At
from engine.core.expressions import CONTEXT_NAMES, environment
from engine.core.expressions.inspection import depth
from engine.core.expressions.limits import MAX_DEPTH
from engine.core.fields import SCALAR_TYPES, TEXT_TYPES, TYPE_WORDS, FieldInfo, merge_types

#: What `instance` has, for expressions and templates (see `runtime.Turn.context`).
INSTANCE_NAMES = ("number", "title", "status", "requester", "started_at", "team")

#: Names a newcomer writes for "nothing", which expressions do not know.
NULL_WORDS = frozenset({"null", "nil", "undefined", "NULL"})
#: What a filter gives, by the kind of its result.
FILTER_KINDS = {
    **dict.fromkeys(("length", "count", "wordcount", "int", "float", "round", "abs", "sum"),
                    "number"),
    **dict.fromkeys(("string", "lower", "upper", "title", "trim", "capitalize", "replace",
                     "truncate", "join"), "string"),
    **dict.fromkeys(("list", "sort", "unique", "map", "select", "reject", "selectattr",
                     "rejectattr", "dictsort", "items", "groupby"), "list"),
}  # fmt: skip

#: Filters that fail on a field that is not filled in (the others take it for empty).
NUMBER_FILTERS = frozenset({"abs", "float", "int", "round"})
FAILING_ON_MISSING = NUMBER_FILTERS | {"attr", "dictsort"}

#: What a method gives, by the kind of its result; the text methods need a text.
TEXT_METHODS = {
    **dict.fromkeys(("lower", "upper", "strip", "title", "capitalize", "replace"), "string"),
    "startswith": "boolean", "endswith": "boolean", "split": "list",
}  # fmt: skip


#: How many parsed expressions and templates are kept, by their text: a designer's check runs
#: on every edit, and a workflow's texts hardly change from one edit to the next.
PARSED_TEXTS = 2048


@lru_cache(maxsize=PARSED_TEXTS)
def parse_expression(source: str) -> nodes.Expr | None:
    """Return the syntax tree of an expression, or None when it does not parse.

    The tree is shared by every caller with the same text: it is read, never changed.
    """
    try:
        parser = Parser(environment(), source, state="variable")
        tree = parser.parse_expression()
    except (TemplateSyntaxError, RecursionError):
        return None
    # Too deep to follow by recursion (`1+1+…+1`): `inspect_expression` says so itself.
    return tree if parser.stream.eos and depth(tree) <= MAX_DEPTH else None


@lru_cache(maxsize=PARSED_TEXTS)
def parse_template(source: str) -> nodes.Template | None:
    """Return the syntax tree of a template, or None when it does not parse (shared, read
    only, like `parse_expression`'s)."""
    try:
        tree = environment().parse(source)
    except (TemplateSyntaxError, RecursionError):
        return None
    return tree if depth(tree) <= MAX_DEPTH else None  # see `parse_expression`


#: The kinds an `expr` is taken to give from its words alone; text is not among them, since
#: text may hold a date (`instance.started_at`), so it stays "anything".
SURE_KINDS = frozenset({"list", "number", "boolean"})


def kind_of_expression(source: str) -> str:
    """Return the kind of value an expression gives whatever its fields hold, else "any".

    `[manager, cab_lead]` is a list, `cost * 2 > 100` yes or no and `items | length` a
    number, whatever `manager`, `cost` and `items` hold.
    """
    tree = parse_expression(source)
    if tree is None:
        return "any"
    kind = Reader(_nowhere(), False, frozenset()).value(tree).type
    return kind if kind in SURE_KINDS else "any"


@cache
def _nowhere() -> At:
    """Return a point of an empty flow, where no field is known."""
    return At(Flow({"steps": {}, "first": ""}, None), 0)


def check_tree(tree: nodes.Node, at: At, *, strict: bool) -> list[str]:
    """Return what is wrong with the values an expression or template works on.

    `strict`: a failure stops the step (a workflow's expressions and templates, not a
    form's rules), so what fails on a field that may not be filled in yet is reported.
    """
    reader = Reader(at, strict, _guarded(tree))
    try:
        reader.statement(tree)
    except RecursionError:
        return []  # too deep to follow; `inspect_*` says so itself
    return list(dict.fromkeys(reader.problems))


def value_of(tree: nodes.Node, at: At) -> Value:
    """Return what a template made of one `{{ expression }}` gives, or an expression."""
    if isinstance(tree, nodes.Template):
        body = tree.body
        if len(body) != 1 or not isinstance(body[0], nodes.Output):
            return Value("string")
        parts = [n for n in body[0].nodes if not _blank(n)]
        if len(parts) != 1 or isinstance(parts[0], nodes.TemplateData):
            return Value("string")
        tree = parts[0]
    return Reader(at, False, frozenset()).value(tree)


def _blank(node: nodes.Node) -> bool:
    return isinstance(node, nodes.TemplateData) and not node.data.strip()


class Reader:
    """Walk a syntax tree once, giving the kind of each part and noting what is wrong."""

    def __init__(self, at: At, strict: bool, guarded: frozenset[str]) -> None:
        self.at = at
        self.strict = strict
        self.guarded = guarded
        self.bound: set[str] = set()
        self.problems: list[str] = []

    # Statements (templates) ---------------------------------------------------------------

    def statement(self, node: nodes.Node) -> None:
        if isinstance(node, nodes.Template):
            self.statements(node.body)
        elif isinstance(node, nodes.Output):
            for part in node.nodes:
                if not isinstance(part, nodes.TemplateData):
                    self.value(part)
        elif isinstance(node, nodes.If):
            self.value(node.test)
            self.statements(node.body)
            self.statements(node.elif_)
            self.statements(node.else_)
        elif isinstance(node, nodes.For):
            self.value(node.iter)
            names = {n.name for n in node.target.find_all(nodes.Name)}
            if isinstance(node.target, nodes.Name):
                names.add(node.target.name)
            added = (names | {"loop"}) - self.bound
            self.bound |= added
            if node.test is not None:
                self.value(node.test)
            self.statements(node.body)
            self.statements(node.else_)
            self.bound -= added
        elif isinstance(node, nodes.Expr):
            self.value(node)

    def statements(self, body: Sequence[nodes.Node]) -> None:
        for node in body:
            self.statement(node)

    # Expressions ---------------------------------------------------------------------------

    def value(self, node: nodes.Node) -> Value:
        """Return what an expression node gives, noting the problems inside it."""
        method = getattr(self, f"_{type(node).__name__}", None)
        if method is not None:
            result: Value = method(node)
            return result
        for child in node.iter_child_nodes():
            self.value(child)
        return ANY

    def _Const(self, node: nodes.Const) -> Value:
        kind = "any" if node.value is None else _kind_of(node.value)
        return Value(kind, literal=node.value)

    def _List(self, node: nodes.List | nodes.Tuple) -> Value:
        items = [self.value(item) for item in node.items]
        if all(item.is_literal for item in items):
            return Value("list", literal=[item.literal for item in items])
        return Value("list")

    _Tuple = _List

    def _Name(self, node: nodes.Name) -> Value:
        name = node.name
        if name in self.bound or name in ("data", "instance"):
            return ANY
        if name == "outcome" and not self._written(name):
            self.problems.append(
                "'outcome' is not kept in the data: the outcome a person chooses only picks "
                "the route in 'on'; route on it there"
            )
            return ANY
        if name in NULL_WORDS and not self._written(name):
            self.problems.append(f"'{name}' means nothing in an expression; write none")
            return ANY
        return self._field(name)

    def _field(self, name: str) -> Value:
        info = self.at.info(name)
        if info is None:
            return Value(field=name)
        return Value(info.type, info.options, name, choice=info.choice)

    def _written(self, name: str) -> bool:
        return name in self.at.flow.of_field

    def _Getattr(self, node: nodes.Getattr) -> Value:
        base = node.node
        if isinstance(base, nodes.Name) and base.name == "data":
            return ANY if hasattr(dict, node.attr) else self._field(node.attr)
        if isinstance(base, nodes.Name) and base.name == "instance":
            return self._instance(node.attr)
        path = _path(node)
        if path is not None and path.split(".")[0] not in self.bound | CONTEXT_NAMES:
            root = path.split(".")[0]
            self._may_be_missing(
                Value(field=root), f"reading '.{node.attr}' of", f"{root} and {path}"
            )
            info = self.at.info(path)
            if info is not None:
                return Value(info.type, info.options, path, choice=info.choice)
            parent = self.at.info(path.rpartition(".")[0])
            if parent is not None and parent.type in SCALAR_TYPES:
                self.problems.append(
                    f"'{parent.key}' holds {TYPE_WORDS[parent.type]}, so it has no "
                    f"'{node.attr}'{_held_by_a_user_field(parent)}"
                )
            return ANY
        target = self.value(base)
        if (
            isinstance(base, nodes.Getattr)
            and isinstance(base.node, nodes.Name)
            and base.node.name == "instance"
            and target.type == "string"
        ):
            hint = (
                '; it is the requester\'s user name: to mail them, write "to": "requester"'
                if base.attr == "requester"
                else ""
            )
            self.problems.append(
                f"'instance.{base.attr}' holds text, so it has no '{node.attr}'{hint}"
            )
        return ANY

    def _Getitem(self, node: nodes.Getitem) -> Value:
        base, arg = node.node, node.arg
        if isinstance(base, nodes.Name) and isinstance(arg, nodes.Const):
            if base.name == "data" and isinstance(arg.value, str):
                return self._field(arg.value)
            if base.name == "instance" and isinstance(arg.value, str):
                return self._instance(arg.value)
        self.value(base)
        self.value(arg)
        return ANY

    def _instance(self, name: str) -> Value:
        if name in INSTANCE_NAMES:
            return Value("string")
        have = ", ".join(INSTANCE_NAMES[:-1]) + f" and {INSTANCE_NAMES[-1]}"
        hint = f"; a field is read by its name alone: {name}" if self._written(name) else ""
        self.problems.append(f"'instance' has no '{name}': it has {have}{hint}")
        return ANY

    def _Call(self, node: nodes.Call) -> Value:
        for arg in [*node.args, *(kw.value for kw in node.kwargs)]:
            self.value(arg)
        callee = node.node
        if not isinstance(callee, nodes.Getattr):
            return ANY
        base, method = callee.node, callee.attr
        if isinstance(base, nodes.Name) and base.name == "data" and method == "get":
            if node.args and isinstance(node.args[0], nodes.Const):
                found = self._field(str(node.args[0].value))
                if len(node.args) > 1:  # with a default it is never missing
                    default = self.value(node.args[1])
                    return Value(merge_types(found.type, default.type))
                return found
            return ANY
        target = self.value(base)
        if method in TEXT_METHODS or method == "count":
            self._may_be_missing(target, f"{method}() on")
        if method in TEXT_METHODS or method == "join":
            if target.field and target.type in ("number", "boolean", "list", "table", "file"):
                self.problems.append(
                    f"'{target.field}' holds {TYPE_WORDS[target.type]}, so it has no "
                    f"{method}(): that is for texts"
                )
            return Value(TEXT_METHODS.get(method, "string"))
        if method == "count":
            return Value("number")
        if method in ("keys", "values", "items"):
            return Value("list")
        return ANY

    def _Filter(self, node: nodes.Filter) -> Value:
        inner = self.value(node.node) if node.node is not None else ANY
        if node.name in FAILING_ON_MISSING:
            fix = f"({inner.field} or 0) | {node.name}" if node.name in NUMBER_FILTERS else None
            self._may_be_missing(inner, f"{node.name} on", fix)
        args = [self.value(arg) for arg in node.args]
        for kw in node.kwargs:
            self.value(kw.value)
        if node.name in ("default", "d"):
            default = args[0] if args else Value("string")
            return Value(merge_types(inner.type, default.type))
        if node.name in ("first", "last", "min", "max") and inner.type == "list":
            return ANY
        if node.name == "reverse":
            return Value(inner.type if inner.type in ("string", "list") else "any")
        return Value(FILTER_KINDS.get(node.name or "", "any"))

    def _Test(self, node: nodes.Test) -> Value:
        for child in node.iter_child_nodes():
            self.value(child)
        return Value("boolean")

    def _Not(self, node: nodes.Not) -> Value:
        self.value(node.node)
        return Value("boolean")

    def _Or(self, node: nodes.Or | nodes.And) -> Value:
        left, right = self.value(node.left), self.value(node.right)
        return Value(merge_types(left.type, right.type))

    _And = _Or

    def _CondExpr(self, node: nodes.CondExpr) -> Value:
        self.value(node.test)
        first = self.value(node.expr1)
        if node.expr2 is None:
            return Value(first.type)
        return Value(merge_types(first.type, self.value(node.expr2).type))

    def _Concat(self, node: nodes.Concat) -> Value:
        for part in node.nodes:
            self.value(part)
        return Value("string")

    def _Compare(self, node: nodes.Compare) -> Value:
        left = self.value(node.expr)
        for operand in node.ops:
            right = self.value(operand.expr)
            wrong = comparison_problems(left, operand.op, right, self.at)
            self.problems += wrong
            if operand.op in ORDERING and not wrong:
                self._may_be_missing(left, f"ordering ({OPERATORS[operand.op]}) on")
                self._may_be_missing(right, f"ordering ({OPERATORS[operand.op]}) on")
            left = right
        return Value("boolean")

    def _arithmetic(self, node: nodes.BinExpr) -> Value:
        left, right = self.value(node.left), self.value(node.right)
        sign = node.operator
        wrong = arithmetic_problems(left, sign, right)
        self.problems += wrong
        if not wrong:
            self._may_be_missing(left, f"arithmetic ({sign}) on")
            self._may_be_missing(right, f"arithmetic ({sign}) on")
        if left.type == right.type == "number" or sign in ("-", "/", "//", "**"):
            return Value("number")
        if sign == "+" and left.type == right.type:
            return Value(left.type if left.type in ("string", "list") else "any")
        if sign in ("*", "%") and left.type in ("string", "list"):
            return Value(left.type)
        return ANY

    _Add = _Sub = _Mul = _Div = _FloorDiv = _Mod = _Pow = _arithmetic

    def _unary(self, node: nodes.UnaryExpr) -> Value:
        inner = self.value(node.node)
        if inner.field and inner.type in NOT_NUMBERS:
            self.problems.append(
                f"'{inner.field}' holds {TYPE_WORDS[inner.type]}, so it cannot take a sign"
            )
        self._may_be_missing(inner, "a sign on")
        return Value("number")

    _Neg = _Pos = _unary

    def _may_be_missing(self, value: Value, what: str, fix: str | None = None) -> None:
        """Report what fails on a field that may be missing, unless the expression tests it."""
        field = value.field
        if not self.strict or field is None or field in self.guarded:
            return
        if self.at.may_be_missing(field):
            fallback = "''" if value.type in TEXT_TYPES else "[]" if value.type == "list" else "0"
            self.problems.append(
                f"'{field}' may not be filled in here ({self.at.maybe_why(field)}), and "
                f"{what} a missing field fails when an instance gets here; "
                f"write {fix or f'({field} or {fallback})'}"
            )


def _kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "string" if isinstance(value, str) else "any"


def _path(node: nodes.Node) -> str | None:
    """Return `a.b.c` for the attribute chain `a.b.c`, or None for anything else."""
    if isinstance(node, nodes.Name):
        return node.name
    if isinstance(node, nodes.Getattr):
        inner = _path(node.node)
        return f"{inner}.{node.attr}" if inner is not None else None
    return None


def _guarded(tree: nodes.Node) -> frozenset[str]:
    """Return the fields an expression tests before using: `x and x > 3`, `x | default(0)`,
    `x if x else 0`, `x is defined and …`, `x == none or …`, `{% if x %}`. What fails on
    them where the test lets it through is not reported; using a field is not testing it
    (`x > 3 and …` fails on a missing x before anything else is looked at)."""
    found: set[str] = set()
    kinds = (nodes.Or, nodes.And, nodes.CondExpr, nodes.If, nodes.Filter)
    for node in [tree, *tree.find_all(kinds)]:
        if isinstance(node, nodes.And):  # the right side runs when the left holds
            found |= _present_if(node.left, True)
        elif isinstance(node, nodes.Or):  # ... and here when it does not
            found |= _present_if(node.left, False)
        elif isinstance(node, nodes.CondExpr | nodes.If):  # either branch, by its test
            found |= _present_if(node.test, True) | _present_if(node.test, False)
        elif _defaults(node) and node.node is not None:  # a filter block's has none
            found.update(_names_in(node.node))
    return frozenset(found)


def _defaults(node: nodes.Node) -> TypeGuard[nodes.Filter]:
    """Tell whether a node gives a value in place of a missing one: `x | default(0)`."""
    return isinstance(node, nodes.Filter) and node.name in ("default", "d")


#: Tests that hold only for a value that is there (`x is defined`, `x is number`), and those
#: that hold for one that is not (`x is none`).
_THERE_IF_TRUE = frozenset(
    {"defined", "number", "string", "mapping", "sequence", "iterable", "boolean", "integer",
     "float", "true", "false"}
)  # fmt: skip
_THERE_IF_FALSE = frozenset({"undefined", "none"})


def _present_if(node: nodes.Node, truth: bool) -> set[str]:
    """The fields a test proves are there when it comes out `truth`: `x` is there when `x`
    is true, when `x == 'a'`, `x != none` or `x is defined`; when `x == none` is false."""
    if isinstance(node, nodes.Name | nodes.Getattr | nodes.Getitem):
        return set(_names_in(node)) if truth else set()
    if isinstance(node, nodes.Not):
        return _present_if(node.node, not truth)
    if isinstance(node, nodes.And | nodes.Or):
        left, right = _present_if(node.left, truth), _present_if(node.right, truth)
        both = isinstance(node, nodes.And) == truth  # `a and b` true, `a or b` false: both
        return left | right if both else left & right
    if isinstance(node, nodes.Test):
        there = _THERE_IF_TRUE if truth else _THERE_IF_FALSE
        return set(_names_in(node.node)) if node.name in there else set()
    if isinstance(node, nodes.Compare) and len(node.ops) == 1:
        return _compared_there(node, truth)
    return set()


def _compared_there(node: nodes.Compare, truth: bool) -> set[str]:
    """`x == 'a'`, `x in ['a', 'b']` and `x != none` hold only for an x that is there; `x ==
    none`, `x != 'a'` and `x not in [...]` fail only for one that is there."""
    operand = node.ops[0]
    field, value = node.expr, operand.expr
    if isinstance(field, nodes.Const | nodes.List | nodes.Tuple):
        field, value = value, field
    if not isinstance(field, nodes.Name | nodes.Getattr | nodes.Getitem):
        return set()
    nothing = isinstance(value, nodes.Const) and value.value is None
    literal = isinstance(value, nodes.Const | nodes.List | nodes.Tuple) and not nothing
    if operand.op in ("eq", "in"):
        proves = (literal and truth) or (nothing and not truth)
    elif operand.op in ("ne", "notin"):
        proves = (nothing and truth) or (literal and not truth)
    else:
        proves = False
    return set(_names_in(field)) if proves else set()


def _names_in(node: nodes.Node) -> Iterator[str]:
    for found in [node, *node.find_all((nodes.Name, nodes.Getattr, nodes.Getitem))]:
        if isinstance(found, nodes.Name):
            yield found.name
        elif isinstance(found, nodes.Getattr):
            path = _path(found)
            if path is not None:
                yield path.removeprefix("data.")
        elif isinstance(found, nodes.Getitem) and isinstance(found.arg, nodes.Const):
            yield str(found.arg.value)


# Comparisons and arithmetic -----------------------------------------------------------------


def _held_by_a_user_field(info: FieldInfo) -> str:
    """The hint for a dot after a person's field: it holds their user name, nothing more."""
    return " (a person's field holds their user name)" if info.form_type == "user" else ""
