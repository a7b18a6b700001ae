"""The checker reports a decision branch only when an earlier branch surely takes all it would."""

from __future__ import annotations

from typing import Any

import pytest

from engine.core.checker import check_workflow


def decision(*conditions: Any) -> dict[str, Any]:
    """A workflow whose first step decides between the conditions, each to its own task."""
    steps: dict[str, Any] = {
        "route": {
            "type": "decision",
            "branches": [
                {"when": condition, "next": f"t{index}"}
                for index, condition in enumerate(conditions)
            ],
            "otherwise": "other",
        },
        "other": {"type": "task", "assign": {"group": "desk"}, "next": "done"},
        "done": {"type": "end"},
    }
    for index in range(len(conditions)):
        steps[f"t{index}"] = {"type": "task", "assign": {"group": "desk"}, "next": "done"}
    return {
        "kind": "workflow", "format": 1, "key": "k", "title": "T", "first": "route",
        "steps": steps,
    }  # fmt: skip


def shadowed(*conditions: Any) -> list[str]:
    """Return the pointers of the branches reported as never taken."""
    return [
        p.pointer
        for p in check_workflow(decision(*conditions))
        if "can never be taken" in p.message or "is never used" in p.message
    ]


def eq(field: str, value: Any) -> dict[str, Any]:
    return {"field": field, "op": "eq", "value": value}


@pytest.mark.parametrize(
    ("earlier", "later"),
    [
        (eq("category", "password"), eq("category", "password")),
        ("cost < 1000", "cost < 1000"),
        ("cost > 5 or vip", "cost > 5 or vip"),
        ({"not": eq("vip", True)}, {"not": eq("vip", True)}),
        ({"field": "category", "op": "in", "value": ["a", "b"]}, eq("category", "b")),
        ({"field": "cost", "op": "lt", "value": 1000}, {"field": "cost", "op": "lt", "value": 100}),
        ({"field": "cost", "op": "le", "value": 100}, {"field": "cost", "op": "lt", "value": 100}),
        ({"field": "cost", "op": "gt", "value": 5}, {"field": "cost", "op": "eq", "value": 6}),
        ("cost >= 10", "cost > 10"),
        ("1000 > cost", "cost < 100"),
        (eq("category", "password"), "category == 'password' and impact == 'high'"),
        ("category == 'password' or vip", "category == 'password'"),
        ("category in ['a', 'b']", "data.category == 'a'"),
        ({"field": "category", "op": "ne", "value": "a"}, eq("category", "b")),
        ({"field": "category", "op": "ne", "value": "a"}, "category not in ['a', 'b']"),
        ("true", "anything > 5"),
    ],
)
def test_a_branch_an_earlier_one_always_takes_first_is_reported(earlier: Any, later: Any) -> None:
    assert "/steps/route/branches/1" in shadowed(earlier, later)


@pytest.mark.parametrize(
    ("earlier", "later"),
    [
        ("cost < 100", "cost < 1000"),
        ({"field": "cost", "op": "lt", "value": 100}, {"field": "cost", "op": "le", "value": 100}),
        (eq("category", "password"), "category == 'password' or impact == 'high'"),
        ("category == 'password' and impact == 'high'", eq("category", "password")),
        (eq("category", "b"), {"field": "category", "op": "ne", "value": "a"}),
        # `true` and 1 are different values to a structured condition, not in an expression.
        (eq("count", 1), "count == 1"),
        ({"field": "count", "op": "lt", "value": 5}, "count < 2"),
        ({"field": "count", "op": "ne", "value": 2}, eq("count", 1)),
        # Null is a missing field to a structured condition, not to an expression.
        (eq("note", None), "note == none"),
        ("cost < 1000", "cost < 100 + extra"),
        ({"field": "category", "op": "in", "value": []}, eq("category", "a")),
        (eq("tags", ["a"]), eq("tags", ["a"]) | {"op": "contains", "value": "a"}),
    ],
)
def test_a_branch_that_may_be_taken_is_not_reported(earlier: Any, later: Any) -> None:
    assert shadowed(earlier, later) == []


def test_branches_before_it_may_together_take_all_a_branch_would() -> None:
    both = {"field": "c", "op": "in", "value": ["a", "b"]}

    (pointer,) = shadowed(eq("c", "a"), eq("c", "b"), both)

    assert pointer == "/steps/route/branches/2"


def test_a_branch_that_always_holds_leaves_the_later_ones_and_otherwise_unused() -> None:
    problems = check_workflow(decision({"all": [{"any": ["true"]}]}, "cost > 5"))

    assert [(p.pointer, p.message) for p in problems] == [
        (
            "/steps/route/branches/1",
            "this branch can never be taken: the first branch, before it, always holds, and "
            "the first branch that holds wins",
        ),
        (
            "/steps/route/otherwise",
            "'otherwise' is never used: the first branch always holds; make its step the "
            "'otherwise' and drop the branch",
        ),
    ]


def test_a_branch_is_named_by_its_label() -> None:
    doc = decision("cost < 1000", "cost < 100")
    doc["steps"]["route"]["branches"][0]["label"] = "Cheap"

    (problem,) = check_workflow(doc)

    assert "the branch 'Cheap', before it, holds whenever this one does" in problem.message
