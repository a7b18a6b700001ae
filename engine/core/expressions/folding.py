"""Work out the constant parts of a source before it runs, with the run-time limits.

This is how the checker refuses a constant bomb (`'x' * 10 ** 9`) at publish time: every
operation is measured before it is done, exactly as at run time, so folding never
builds anything larger than a limit.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from types import BuiltinMethodType
from typing import Any, cast

from jinja2 import nodes

from engine.core.expressions.limits import Refusal
from engine.core.expressions.metering import concat, literal
from engine.core.expressions.operations import add, call_method, modulo, multiply, power
from engine.core.expressions.sandbox import may_read

#: What folding gives for a part that depends on data.
UNKNOWN: Any = object()

_FOLDED_BINOPS: dict[type[nodes.Node], Callable[[Any, Any], Any]] = {
    nodes.Add: add,
    nodes.Sub: operator.sub,
    nodes.Mul: multiply,
    nodes.Div: operator.truediv,
    nodes.FloorDiv: operator.floordiv,
    nodes.Mod: modulo,
    nodes.Pow: power,
}


def fold(node: nodes.Node, problems: list[str]) -> Any:
    """Work out the constant parts of a tree with the run-time limits; note what breaks one.

    Every operation is measured before it is done, exactly as at run time, so folding
    never builds anything larger than a limit. Returns `UNKNOWN` for what depends on data.
    """
    try:
        return _folded(node, problems)
    except Refusal as exc:
        problems.append(str(exc))
    except Exception:  # a constant that fails (1 / 0) fails at run time too
        pass
    return UNKNOWN


def _folded(node: nodes.Node, problems: list[str]) -> Any:
    """Work out one node from the values of its children, as the sandbox would run it."""
    children = {id(child): fold(child, problems) for child in node.iter_child_nodes()}
    known = UNKNOWN not in children.values()
    if isinstance(node, nodes.Const):
        return node.value
    if isinstance(node, nodes.List | nodes.Tuple) and known:
        items = [children[id(item)] for item in node.items]
        return literal(items if isinstance(node, nodes.List) else tuple(items))
    if isinstance(node, nodes.Pair) and known:
        return (children[id(node.key)], children[id(node.value)])
    if isinstance(node, nodes.Dict) and known:
        return literal(dict(children[id(pair)] for pair in node.items))
    if isinstance(node, nodes.Neg) and known:
        return -children[id(node.node)]
    operation = _FOLDED_BINOPS.get(type(node))
    if operation is not None and known:
        binary = cast("nodes.BinExpr", node)
        return operation(children[id(binary.left)], children[id(binary.right)])
    if isinstance(node, nodes.Concat) and known:
        return concat(*(children[id(part)] for part in node.nodes))
    if isinstance(node, nodes.Getattr):
        return _folded_attribute(children[id(node.node)], node.attr)
    if isinstance(node, nodes.Call) and known and not node.dyn_args and not node.dyn_kwargs:
        method = children[id(node.node)]
        if isinstance(method, BuiltinMethodType) and may_read(method.__self__, method.__name__):
            args = tuple(children[id(arg)] for arg in node.args)
            kwargs = {kw.key: children[id(kw)] for kw in node.kwargs}
            return call_method(method, args, kwargs)
    if isinstance(node, nodes.Keyword) and known:
        return children[id(node.value)]
    return UNKNOWN


def _folded_attribute(value: Any, attribute: str) -> Any:
    """Read an attribute of a constant (`'x'.center`) as the sandbox would."""
    if value is UNKNOWN or not isinstance(value, str | list | tuple | dict):
        return UNKNOWN
    if attribute.startswith("_"):
        return UNKNOWN  # refused on its own
    if hasattr(value, attribute):  # Jinja reads the attribute first, then the item
        if not may_read(value, attribute):
            raise Refusal(f"'{attribute}' is a method expressions may not use")
        return getattr(value, attribute)
    if isinstance(value, dict) and attribute in value:
        return value[attribute]
    return UNKNOWN
