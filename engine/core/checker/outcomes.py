"""On which outcomes a form surely holds a field once it is sent: shown, and required or defaulted.

A task's form is sent with the outcome the person chose, and the expressions of its
`visible_if` and `required_if` rules read it as `outcome` (structured comparisons read
only the answers, so they never see it). A field with `required_if: "outcome ==
'resolved'"` is therefore filled in on the route `resolved` takes. Only comparisons of
`outcome` with texts are worked out (`==`, `!=`, `in`, `not in`, joined by `and`, `or`
and `not`); any other part of a rule may hold or not, so it proves nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jinja2 import nodes

from engine.core.expressions.inspection import Unparsable, parse_expression
from engine.core.fields import EVERY_OUTCOME, NO_OUTCOME, Outcomes

#: What proves nothing: the rule may hold or fail on any outcome.
UNKNOWN = (NO_OUTCOME, NO_OUTCOME)


def form_field_outcomes(
    field: Mapping[str, Any], reads_outcome: bool = True
) -> tuple[Outcomes, Outcomes]:
    """Return the outcomes on which a form field is surely shown, and surely filled in.

    A default fills in a field left empty (an empty default is none); a calculated field
    may fail to compute. `reads_outcome` is False when the form has a field named
    `outcome`, which a start form's rules would read instead.
    """
    shown = EVERY_OUTCOME
    if "visible_if" in field:
        shown = holds_on(field["visible_if"])[0] if reads_outcome else NO_OUTCOME
    default = field.get("default")
    defaulted = default not in (None, "", []) and field["type"] != "calculated"
    if field.get("required") is True or defaulted:
        asked = EVERY_OUTCOME
    elif "required_if" in field and reads_outcome:
        asked = holds_on(field["required_if"])[0]
    else:
        asked = NO_OUTCOME
    return shown, shown & asked


def holds_on(rule: Any) -> tuple[Outcomes, Outcomes]:
    """Return the outcomes on which a rule surely holds, and those on which it surely fails."""
    if isinstance(rule, str):
        try:
            return _expression(parse_expression(rule))
        except Unparsable:
            return UNKNOWN  # reported by the form checker
    if not isinstance(rule, Mapping):
        return UNKNOWN
    if isinstance(rule.get("all"), list):
        return _joined([holds_on(part) for part in rule["all"]], both=True)
    if isinstance(rule.get("any"), list):
        return _joined([holds_on(part) for part in rule["any"]], both=False)
    if "not" in rule:
        holds, fails = holds_on(rule["not"])
        return fails, holds
    return UNKNOWN  # a structured comparison reads the answers, never the outcome


def _joined(parts: list[tuple[Outcomes, Outcomes]], both: bool) -> tuple[Outcomes, Outcomes]:
    """Join with `and` (`both`) or `or`: all must hold (fail), or one must."""
    holds, fails = (EVERY_OUTCOME, NO_OUTCOME) if both else (NO_OUTCOME, EVERY_OUTCOME)
    for part_holds, part_fails in parts:
        if both:
            holds, fails = holds & part_holds, fails | part_fails
        else:
            holds, fails = holds | part_holds, fails & part_fails
    return holds, fails


def _expression(node: nodes.Node) -> tuple[Outcomes, Outcomes]:
    if isinstance(node, nodes.Not):
        holds, fails = _expression(node.node)
        return fails, holds
    if isinstance(node, nodes.And | nodes.Or):
        parts = [_expression(node.left), _expression(node.right)]
        return _joined(parts, both=isinstance(node, nodes.And))
    if isinstance(node, nodes.Const) and isinstance(node.value, bool):
        return (EVERY_OUTCOME, NO_OUTCOME) if node.value else (NO_OUTCOME, EVERY_OUTCOME)
    if isinstance(node, nodes.Compare) and len(node.ops) == 1:
        return _comparison(node.expr, node.ops[0].op, node.ops[0].expr)
    return UNKNOWN


def _comparison(left: nodes.Expr, op: str, right: nodes.Expr) -> tuple[Outcomes, Outcomes]:
    if op in ("eq", "ne") and _is_outcome(right):
        left, right = right, left
    if not _is_outcome(left):
        return UNKNOWN
    if op in ("eq", "ne") and isinstance(right, nodes.Const) and isinstance(right.value, str):
        names = frozenset({right.value})
    elif op in ("in", "notin") and isinstance(right, nodes.List | nodes.Tuple):
        texts = [i.value for i in right.items if isinstance(i, nodes.Const)]
        if len(texts) != len(right.items) or not all(isinstance(t, str) for t in texts):
            return UNKNOWN
        names = frozenset(texts)
    else:
        return UNKNOWN
    among = Outcomes(names)
    return (among, ~among) if op in ("eq", "in") else (~among, among)


def _is_outcome(node: nodes.Expr) -> bool:
    return isinstance(node, nodes.Name) and node.name == "outcome"
