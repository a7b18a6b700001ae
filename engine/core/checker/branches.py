"""Decision branches that can never be taken: an earlier branch already takes every case.

A decision tries its branches in order and the first that holds wins. A branch that
holds only when an earlier one does (the same condition again, `eq 'a'` after
`in ['a', 'b']`, `cost < 100` after `cost < 1000`, anything after a condition that
always holds) is never taken. Only what is certain is reported: each condition is read
into comparisons of one field with literals, joined by and / or; anything else it says
(a `not`, a call, a sum) stands only for itself, so it covers only the same words again.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import nodes

from engine.core.checker.kinds import parse_expression
from engine.core.errors import Problem
from engine.core.expressions import CONTEXT_NAMES
from engine.core.schema import iter_steps

#: Jinja's comparison operators, by the name of the structured one that means the same.
_OPS = {"eq": "eq", "ne": "ne", "lt": "lt", "lteq": "le", "gt": "gt", "gteq": "ge",
        "in": "in", "notin": "not_in"}  # fmt: skip
#: An ordering read the other way round: `100 > cost` is `cost < 100`.
_FLIPPED = {"lt": "gt", "le": "ge", "gt": "lt", "ge": "le", "eq": "eq", "ne": "ne"}
_ORDERING = frozenset({"lt", "le", "gt", "ge"})
_EQUAL = frozenset({"eq", "in"})
_UNEQUAL = frozenset({"ne", "not_in"})
_PLACES = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth")
#: A decision whose conditions have more parts than this is not looked at: comparing every
#: branch with those before it would take longer than the rest of the checks.
_MOST_PARTS = 64


@dataclass(frozen=True, slots=True)
class Test:
    """One comparison of a field with literals; `words` tells the two condition forms apart.

    The forms agree on every comparison with texts (both say "no" or fail on a missing
    field, bar `ne` and `not_in`, which both say "yes"), not on `true` against 1 or on
    null, so only comparisons with texts are taken to mean the same in both.
    """

    field: str
    op: str
    values: tuple[Any, ...]
    words: str  # "structured" or "expression"


#: A condition, read: a `Test`, ("all" | "any", parts), ("true",), or ("same", its words).
Term = Any
TRUE: Term = ("true",)
#: The condition `false`: the designer's new branch, until it is told when it is taken.
FALSE: Term = ("same", "expression false")


def check_branches(doc: Mapping[str, Any]) -> Iterator[Problem]:
    """Report decision branches an earlier branch always takes first, and an `otherwise`
    after a branch that always holds."""
    for _step_id, step, pointer, _parallel, _branch in iter_steps(doc["steps"]):
        if step["type"] == "decision":
            yield from _decision(step, pointer)


def _decision(step: Mapping[str, Any], pointer: str) -> Iterator[Problem]:
    branches = step["branches"]
    terms = [read(branch["when"]) for branch in branches]
    if sum(_size(term) for term in terms if term is not None) > _MOST_PARTS:
        return
    for index, term in enumerate(terms):
        if term is None:
            continue
        if term == FALSE:
            yield Problem(
                f"{pointer}/branches/{index}/when",
                "this branch can never be taken: its condition is false; say when it is "
                "taken (a field compared with a value), or remove the branch",
            )
            continue
        earlier = [(i, t) for i, t in enumerate(terms[:index]) if t is not None]
        covering = next((i for i, t in earlier if implies(term, t)), None)
        if covering is not None:
            name = _name(branches, covering)
            why = "always holds" if terms[covering] == TRUE else "holds whenever this one does"
            yield Problem(
                f"{pointer}/branches/{index}",
                f"this branch can never be taken: {name}, before it, {why}, and the "
                "first branch that holds wins",
            )
        elif len(earlier) > 1 and implies(term, ("any", tuple(t for _i, t in earlier))):
            yield Problem(
                f"{pointer}/branches/{index}",
                "this branch can never be taken: the branches before it together hold "
                "whenever this one does, and the first branch that holds wins",
            )
    always = next((i for i, term in enumerate(terms) if term == TRUE), None)
    if always is not None:
        yield Problem(
            f"{pointer}/otherwise",
            f"'otherwise' is never used: {_name(branches, always)} always holds; make its "
            "step the 'otherwise' and drop the branch",
        )


def _name(branches: list[Mapping[str, Any]], index: int) -> str:
    """Name a branch by its label, else by its place (counted from one, as people count)."""
    label = branches[index].get("label")
    if label:
        return f"the branch '{label}'"
    return f"the {_PLACES[index]} branch" if index < len(_PLACES) else f"branch {index + 1}"


def _size(term: Term) -> int:
    if isinstance(term, tuple) and term[0] in ("all", "any"):
        return sum(_size(part) for part in term[1])
    return 1


# Reading conditions ---------------------------------------------------------------------------


def read(condition: Any) -> Term | None:
    """Read a condition in either form; None when an expression does not parse (reported)."""
    if isinstance(condition, str):
        tree = parse_expression(condition)
        return None if tree is None else _node(tree)
    for joined in ("all", "any"):
        if joined in condition:
            parts = [read(part) for part in condition[joined]]
            if any(part is None for part in parts):
                return None
            return _joined(joined, parts)
    if "not" in condition:
        return ("same", "structured " + json.dumps(condition, sort_keys=True))
    op, value = condition["op"], condition.get("value")
    values = tuple(value) if op in ("in", "not_in") and isinstance(value, list) else (value,)
    if not all(_scalar(item) for item in values):
        return ("same", "structured " + json.dumps(condition, sort_keys=True))
    return Test(condition["field"], op, values, "structured")


def _joined(joined: str, parts: list[Term]) -> Term:
    flat: list[Term] = []
    for part in parts:
        flat.extend(part[1] if isinstance(part, tuple) and part[0] == joined else [part])
    if joined == "all":
        flat = [part for part in flat if part != TRUE]
        if not flat:
            return TRUE
    elif TRUE in flat:
        return TRUE
    return flat[0] if len(flat) == 1 else (joined, tuple(flat))


def _node(node: nodes.Node) -> Term:
    if isinstance(node, nodes.And | nodes.Or):
        return _joined(
            "all" if isinstance(node, nodes.And) else "any", [_node(node.left), _node(node.right)]
        )
    if isinstance(node, nodes.Const) and node.value is True:
        return TRUE
    if isinstance(node, nodes.Const) and node.value is False:
        return FALSE
    if isinstance(node, nodes.Compare) and len(node.ops) == 1:
        test = _comparison(node.expr, node.ops[0].op, node.ops[0].expr)
        if test is not None:
            return test
    return ("same", "expression " + repr(node))


def _comparison(left: nodes.Node, op: str, right: nodes.Node) -> Test | None:
    """Read `field op literal` (or `literal op field`) from an expression."""
    if op not in _OPS:
        return None
    field, literal, name = _field(left), _literal(right), _OPS[op]
    if field is None or literal is None:
        field, literal = _field(right), _literal(left)
        if field is None or literal is None:
            return None
        if name == "in":
            name = "contains"  # `'payments' in services`
        elif name in _FLIPPED:
            name = _FLIPPED[name]
        else:
            return None
    if isinstance(literal, list) != (name in ("in", "not_in")):
        return None
    values = tuple(literal) if isinstance(literal, list) else (literal,)
    return Test(field, name, values, "expression")


def _field(node: nodes.Node) -> str | None:
    """Return the field a node reads as it is: `cost`, `data.cost`, `data['cost']`, `a.b`."""
    if isinstance(node, nodes.Name):
        return None if node.name in CONTEXT_NAMES else node.name
    if isinstance(node, nodes.Getattr | nodes.Getitem):
        base = node.node
        key = node.attr if isinstance(node, nodes.Getattr) else _literal(node.arg)
        if not isinstance(key, str):
            return None
        if isinstance(base, nodes.Name) and base.name == "data":
            return key
        if isinstance(node, nodes.Getattr):
            inner = _field(base)
            return None if inner is None else f"{inner}.{key}"
    return None


def _literal(node: nodes.Node) -> Any:
    """Return the value a literal stands for (a list of them for a list); None otherwise."""
    if isinstance(node, nodes.Const) and _scalar(node.value) and node.value is not None:
        return node.value
    if isinstance(node, nodes.List | nodes.Tuple):
        items = [_literal(item) for item in node.items]
        return None if any(item is None for item in items) else items
    return None


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float)


# Implication ---------------------------------------------------------------------------------


def implies(later: Term, earlier: Term) -> bool:
    """Tell whether `earlier` surely holds (or fails, stopping the step) whenever `later` holds."""
    if earlier == TRUE:
        return True
    if isinstance(later, tuple) and later[0] == "any":
        return all(implies(part, earlier) for part in later[1])
    if isinstance(later, Test) and later.op == "in" and len(later.values) > 1:
        return all(implies(_one(later, value), earlier) for value in later.values)
    if isinstance(earlier, tuple) and earlier[0] == "all":
        return all(implies(later, part) for part in earlier[1])
    if (
        isinstance(later, tuple)
        and later[0] == "all"
        and any(implies(part, earlier) for part in later[1])
    ):
        return True
    if isinstance(earlier, tuple) and earlier[0] == "any":
        return any(implies(later, part) for part in earlier[1])
    if isinstance(later, Test) and isinstance(earlier, Test):
        return _test_implies(later, earlier)
    return isinstance(later, tuple) and later[0] == "same" and later == earlier


def _one(test: Test, value: Any) -> Test:
    return Test(test.field, "eq", (value,), test.words)


def _test_implies(later: Test, earlier: Test) -> bool:
    if later.field != earlier.field or not _comparable(later, earlier):
        return False
    mine, theirs = _tagged(later.values), _tagged(earlier.values)
    if later.op == earlier.op and mine == theirs:
        return True
    if not later.values or None in later.values or None in earlier.values:
        return False
    if earlier.op in _EQUAL:
        return later.op in _EQUAL and mine <= theirs
    if earlier.op in _UNEQUAL:
        if later.op in _UNEQUAL:
            return theirs <= mine
        texts = all(isinstance(v, str) for v in (*later.values, *earlier.values))
        return later.op in _EQUAL and texts and not mine & theirs
    if earlier.op in _ORDERING and later.op in _ORDERING | _EQUAL:
        return _within(later, earlier)
    return False


def _comparable(later: Test, earlier: Test) -> bool:
    """Tell whether two tests read a field the same way: in one form, or both on texts."""
    if later.words == earlier.words:
        return True
    return "." not in later.field and all(
        isinstance(value, str) for value in (*later.values, *earlier.values)
    )


def _tagged(values: tuple[Any, ...]) -> set[tuple[bool, Any]]:
    # `true` and 1 are different values to a condition (see `conditions.equals`).
    return {(isinstance(value, bool), value) for value in values}


def _within(later: Test, earlier: Test) -> bool:
    """Tell whether every value `later` lets through is one `earlier` lets through, by order."""
    values = (*later.values, *earlier.values)
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    if not numbers and not all(isinstance(v, str) for v in values):
        return False
    (bound,) = earlier.values
    if later.op in _EQUAL:
        low: Any = min(later.values)
        high: Any = max(later.values)
        low_open = high_open = False
    else:
        (value,) = later.values
        low = high = None
        low_open = high_open = later.op in ("lt", "gt")
        if later.op in ("lt", "le"):
            high = value
        else:
            low = value
    if earlier.op in ("lt", "le"):
        if high is None:
            return False
        return bool(high < bound or (high == bound and (high_open or earlier.op == "le")))
    if low is None:
        return False
    return bool(low > bound or (low == bound and (low_open or earlier.op == "ge")))
