"""Which values of a choice field can reach a step, narrowed by the decisions on the way.

A field that only the start form fills in holds one of its options all through an
instance; a decision that compares it with values (`eq`, `in`, `ne`, `not_in`) sends
only some of them down each branch, and the rest on. Following the routes from `first`
gives the values that can reach a step, taking every route as one that may be taken, as
the other checks of the data do.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from engine.core.checker.branches import Test, read
from engine.core.checker.dataflow import Flow
from engine.core.checker.graph import routes
from engine.core.conditions import comparisons, expressions
from engine.core.expressions import inspect_expression

#: Comparisons that send some values one way and the others on.
_SPLITTING = frozenset({"eq", "in", "ne", "not_in"})


def values_reaching(
    flow: Flow, field: str, step_id: str, options: Iterable[Any]
) -> frozenset[Any] | None:
    """Return the options of a field that can reach a step; None when that cannot be told.

    It cannot when a step writes the field (a form, a `set`, a rung raising the priority),
    or a condition reads it in a way other than comparing it alone with texts.
    """
    values = frozenset(options)
    if not all(isinstance(value, str) for value in values) or any(
        d.field == field and d.step is not None for d in flow.definitions
    ):
        return None
    splits: dict[str, list[Test | None]] = {}
    for sid, (step, _pointer) in flow.steps.items():
        if "auto_approve" in step and field in read_by(step["auto_approve"]):
            return None
        if step["type"] != "decision":
            continue
        tests = [_test(branch["when"], field) for branch in step["branches"]]
        if any(test is False for test in tests):
            return None
        splits[sid] = [test if isinstance(test, Test) else None for test in tests]
    succs: dict[str, list[str]] = {}
    for source, target in flow.routes():
        succs.setdefault(source, []).append(target)
    first = flow.doc["first"]
    into: dict[str, frozenset[Any]] = {first: values}
    todo = [first]
    while todo:
        node = todo.pop()
        here = into[node]
        if node in splits:
            outs = _split(flow.steps[node][0], splits[node], here)
        else:
            outs = dict.fromkeys(succs.get(node, ()), here)
        for target, passed in outs.items():
            before = into.get(target, frozenset())
            if not passed <= before:
                into[target] = before | passed
                todo.append(target)
    return into.get(step_id, frozenset())


def _split(
    step: Mapping[str, Any], tests: list[Test | None], values: frozenset[Any]
) -> dict[str, frozenset[Any]]:
    """Return the values each route of a decision passes on: the first branch that holds wins."""
    outs: dict[str, frozenset[Any]] = {}
    remaining = values
    for branch, test in zip(step["branches"], tests, strict=True):
        taken = remaining
        if test is not None:
            held = frozenset(test.values)
            taken = remaining & held if test.op in ("eq", "in") else remaining - held
            remaining = remaining - taken
        outs[branch["next"]] = outs.get(branch["next"], frozenset()) | taken
    outs[step["otherwise"]] = outs.get(step["otherwise"], frozenset()) | remaining
    return outs


def _test(condition: Any, field: str) -> Test | bool:
    """Return the comparison a condition makes of the field alone; True when it does not
    read the field, False when it reads it some other way."""
    if field not in read_by(condition):
        return True
    test = read(condition)
    if (
        isinstance(test, Test)
        and test.field == field
        and test.op in _SPLITTING
        and all(isinstance(value, str) for value in test.values)
    ):
        return test
    return False


def read_by(condition: Any) -> set[str]:
    """Return the fields a condition reads, in either form."""
    found = {comparison["field"] for _where, comparison in comparisons(condition, "")}
    for _where, source in expressions(condition, ""):
        found |= inspect_expression(source).fields
    return found


def decided_on(flow: Flow, field: str, before: str) -> bool:
    """Tell whether a decision on a route to the step `before` reads a field: it may be what
    keeps the field's empty values from that step (the data checks take every route as one
    that may be taken, so they cannot tell; they trust the process owner there)."""
    earlier = _leading_to(flow, before)
    return any(
        field in read_by(branch["when"])
        for step_id, (step, _pointer) in flow.steps.items()
        if step["type"] == "decision" and step_id in earlier
        for branch in step["branches"]
    )


def _leading_to(flow: Flow, target: str) -> set[str]:
    """The steps some route leads from to `target` (a parallel step leads into its branches)."""
    back: dict[str, set[str]] = {}
    for step_id, (step, pointer) in flow.steps.items():
        targets = [to for to, _where in routes(step, pointer)]
        if step["type"] == "parallel":
            targets += [branch["first"] for branch in step["branches"].values()]
        for to in targets:
            back.setdefault(to, set()).add(step_id)
    seen: set[str] = set()
    todo = [target]
    while todo:
        for source in back.get(todo.pop(), ()):
            if source not in seen:
                seen.add(source)
                todo.append(source)
    return seen
