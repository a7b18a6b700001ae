"""The condition language: every operator, combinations, expressions, and how they read."""

from __future__ import annotations

import re
from typing import Any

import pytest

from engine.core.conditions import compile_condition, describe, field_value, set_field_value
from engine.core.errors import ExpressionError


def holds(condition: Any, **data: Any) -> bool:
    """Evaluate a condition against instance data, in a context built like the runtime's."""
    return compile_condition(condition).holds({**data, "data": data, "instance": {}})


def comparison(field: str, op: str, value: Any = None) -> dict[str, Any]:
    """Write a structured comparison; `empty` and `not_empty` take no value."""
    if op in ("empty", "not_empty"):
        return {"field": field, "op": op}
    return {"field": field, "op": op, "value": value}


@pytest.mark.parametrize(
    ("op", "actual", "value", "expected"),
    [
        ("eq", "low", "low", True),
        ("eq", "low", "high", False),
        ("eq", 3, 3.0, True),
        ("ne", "low", "high", True),
        ("ne", "low", "low", False),
        ("lt", 499, 500, True),
        ("lt", 500, 500, False),
        ("le", 500, 500, True),
        ("le", 501, 500, False),
        ("gt", 501, 500, True),
        ("gt", 500, 500, False),
        ("ge", 500, 500, True),
        ("ge", 499, 500, False),
        ("lt", "2027-01-01", "2027-03-01", True),
        ("in", "P1", ["P1", "P2"], True),
        ("in", "P3", ["P1", "P2"], False),
        ("not_in", "P3", ["P1", "P2"], True),
        ("not_in", "P1", ["P1", "P2"], False),
        ("contains", "printer on fire", "fire", True),
        ("contains", "printer on fire", "water", False),
        ("contains", ["vpn", "mail"], "vpn", True),
        ("contains", ["vpn", "mail"], "wifi", False),
        ("empty", "", None, True),
        ("empty", [], None, True),
        ("empty", {}, None, True),
        ("empty", "x", None, False),
        ("empty", 0, None, False),
        ("empty", False, None, False),
        ("not_empty", "x", None, True),
        ("not_empty", 0, None, True),
        ("not_empty", "", None, False),
        ("not_empty", [], None, False),
    ],
)
def test_operator_compares_a_field_with_a_value(
    op: str, actual: Any, value: Any, expected: bool
) -> None:
    assert holds(comparison("f", op, value), f=actual) is expected


@pytest.mark.parametrize(
    ("op", "value", "expected"),
    [
        ("eq", "low", False),
        ("ne", "low", True),
        ("lt", 500, False),
        ("le", 500, False),
        ("gt", 500, False),
        ("ge", 500, False),
        ("in", ["low"], False),
        ("not_in", ["low"], True),
        ("contains", "x", False),
        ("empty", None, True),
        ("not_empty", None, False),
    ],
)
def test_missing_field_counts_as_empty(op: str, value: Any, expected: bool) -> None:
    assert holds(comparison("absent", op, value)) is expected
    assert holds(comparison("f", op, value), f=None) is expected


def test_none_equals_only_none() -> None:
    assert holds({"field": "f", "op": "eq", "value": None}, f=None)
    assert not holds({"field": "f", "op": "eq", "value": None}, f=0)
    assert not holds({"field": "f", "op": "eq", "value": None}, f="")


@pytest.mark.parametrize(
    ("op", "actual", "value", "expected"),
    [
        ("eq", True, 1, False),
        ("eq", 1, True, False),
        ("eq", False, 0, False),
        ("ne", True, 1, True),
        ("in", True, [1, 2], False),
        ("in", 1, [True], False),
        ("not_in", True, [1], True),
        ("contains", [1, 2], True, False),
        ("contains", [True], 1, False),
        ("gt", True, 0, False),
        ("lt", 0, True, False),
        ("eq", True, True, True),
        ("contains", [True], True, True),
    ],
)
def test_booleans_and_numbers_are_never_confused(
    op: str, actual: Any, value: Any, expected: bool
) -> None:
    assert holds(comparison("f", op, value), f=actual) is expected


@pytest.mark.parametrize(
    ("op", "actual", "value"),
    [
        ("contains", "room 101", 101),
        ("contains", "x", None),
        ("lt", "abc", 5),
        ("ge", [1], 5),
        ("gt", {"a": 1}, "a"),
    ],
)
def test_comparing_different_kinds_is_false_not_a_crash(op: str, actual: Any, value: Any) -> None:
    assert holds(comparison("f", op, value), f=actual) is False


def test_dotted_path_reads_nested_data() -> None:
    data = {"caller": {"email": "ann@example.com", "site": {"city": "Delft"}}}
    assert holds(comparison("caller.email", "eq", "ann@example.com"), **data)
    assert holds(comparison("caller.site.city", "eq", "Delft"), **data)
    assert holds(comparison("caller.phone", "empty"), **data)
    assert holds(comparison("caller.email.domain", "empty"), **data)
    assert holds(comparison("nobody.email", "empty"), **data)


def test_field_value_gives_none_for_any_missing_part() -> None:
    data = {"caller": {"email": "ann@example.com"}, "tags": ["a"]}
    assert field_value(data, "caller.email") == "ann@example.com"
    assert field_value(data, "caller.name") is None
    assert field_value(data, "tags.0") is None
    assert field_value(data, "missing") is None


def test_set_field_value_writes_a_dotted_path_nested_where_field_value_reads_it() -> None:
    data: dict[str, Any] = {"ticket": {"id": 7}, "tags": ["a"], "plain": 1}

    set_field_value(data, "ticket.priority", "P1")
    set_field_value(data, "tags.first", "a")  # a part that is no object becomes one
    set_field_value(data, "new.deep.value", True)
    set_field_value(data, "plain", 2)

    assert data == {
        "ticket": {"id": 7, "priority": "P1"},
        "tags": {"first": "a"},
        "new": {"deep": {"value": True}},
        "plain": 2,
    }
    assert field_value(data, "ticket.priority") == "P1"
    assert field_value(data, "new.deep.value") is True


def test_all_needs_every_part_and_any_needs_one() -> None:
    rule = {
        "all": [
            comparison("category", "eq", "hardware"),
            {"any": [comparison("cost", "lt", 500), comparison("vip", "eq", True)]},
        ]
    }
    assert holds(rule, category="hardware", cost=100, vip=False)
    assert holds(rule, category="hardware", cost=900, vip=True)
    assert not holds(rule, category="hardware", cost=900, vip=False)
    assert not holds(rule, category="software", cost=100, vip=True)


def test_not_inverts_even_a_nested_combination() -> None:
    rule = {"not": {"any": [comparison("status", "eq", "closed"), comparison("owner", "empty")]}}
    assert holds(rule, status="open", owner="ann")
    assert not holds(rule, status="closed", owner="ann")
    assert not holds(rule, status="open")


def test_expression_condition_reads_fields_and_data() -> None:
    assert holds("cost < 500 and category == 'hardware'", cost=100, category="hardware")
    assert not holds("cost < 500 and category == 'hardware'", cost=900, category="hardware")
    assert holds("data.tags|length > 1", tags=["a", "b"])


def test_expression_may_sit_inside_a_structured_condition() -> None:
    rule = {"all": [comparison("category", "eq", "hardware"), "cost * quantity > 1000"]}
    assert holds(rule, category="hardware", cost=600, quantity=2)
    assert not holds(rule, category="hardware", cost=600, quantity=1)


@pytest.mark.parametrize(
    "source", ["cost + 'x' > 1", "cost // 0 > 1", "missing.deeper == 1", "1e300 ** 2 > 1"]
)
def test_expression_failing_at_run_time_makes_the_condition_false(source: str) -> None:
    assert holds(source, cost=5) is False
    assert holds({"not": source}, cost=5) is True


def decide(condition: Any, **data: Any) -> bool:
    """Decide a condition as the runtime does: an expression that fails raises."""
    return compile_condition(condition).decide({**data, "data": data, "instance": {}})


@pytest.mark.parametrize(
    ("condition", "data", "expected"),
    [
        ("cost < 500 and category == 'hardware'", {"cost": 100, "category": "hardware"}, True),
        ({"not": "cost > 1"}, {"cost": 5}, False),
        ({"all": [comparison("a", "eq", 1), "b in tags"]}, {"a": 1, "b": "x", "tags": ["x"]}, True),
        ({"any": [comparison("a", "eq", 2), "missing"]}, {"a": 1}, False),
    ],
)
def test_decide_answers_as_holds_does_when_the_expression_works(
    condition: Any, data: dict[str, Any], expected: bool
) -> None:
    assert decide(condition, **data) is expected
    assert holds(condition, **data) is expected


@pytest.mark.parametrize(
    "source", ["cost + 'x' > 1", "cost // 0 > 1", "missing.deeper == 1", "1e300 ** 2 > 1"]
)
def test_decide_raises_where_holds_says_false(source: str) -> None:
    with pytest.raises(ExpressionError, match=f"^'{re.escape(source)}'"):
        decide(source, cost=5)
    with pytest.raises(ExpressionError):
        decide({"not": source}, cost=5)


def test_decide_names_the_whole_condition_when_a_part_fails() -> None:
    rule = {"all": [comparison("category", "eq", "hardware"), "cost * 'x' > 1"]}
    with pytest.raises(ExpressionError) as raised:
        decide(rule, category="hardware", cost=5)
    assert str(raised.value).startswith(
        "the condition 'category is 'hardware' and cost * 'x' > 1' could not be decided: "
        "'cost * 'x' > 1' could not be evaluated"
    )


def test_condition_that_runs_into_a_limit_is_an_error_not_false() -> None:
    source = "(text * n)|length > 5"
    assert holds(source, text="x", n=10**9) is False
    with pytest.raises(ExpressionError, match="built a text longer than 100,000 characters"):
        decide(source, text="x", n=10**9)
    assert decide(source, text="x", n=10) is True


@pytest.mark.parametrize(
    ("source", "said"),
    [
        ("tags|select('odd')", "a sequence that is not a list yet"),
        ("data.get", "the method 'get'"),
        ("'nan'|float", "a number that is not finite"),
    ],
)
def test_condition_that_gives_no_value_is_not_true(source: str, said: str) -> None:
    # Each of these is "true" to Python, whatever the data says.
    assert holds(source, tags=[2]) is False
    with pytest.raises(ExpressionError, match=re.escape(f"the condition gave {said}")):
        decide(source, tags=[2])


@pytest.mark.parametrize("source", ["'x' * 10**9", "'a' ~ 'b' * 99999999", "x.__class__"])
def test_condition_whose_bomb_shows_in_the_source_is_refused_when_compiled(source: str) -> None:
    with pytest.raises(ExpressionError):
        compile_condition(source)


def test_bad_expression_is_refused_when_compiled() -> None:
    with pytest.raises(ExpressionError):
        compile_condition({"all": [comparison("a", "eq", 1), "x.__class__"]})


@pytest.mark.parametrize(
    ("condition", "words"),
    [
        (
            {"all": [comparison("category", "eq", "password"), comparison("cost", "lt", 500)]},
            "category is 'password' and cost is less than 500",
        ),
        (
            {"any": [comparison("priority", "in", ["P1", "P2"]), comparison("vip", "eq", True)]},
            "priority is one of ['P1', 'P2'] or vip is yes",
        ),
        (comparison("notes", "empty"), "notes is empty"),
        (comparison("notes", "not_empty"), "notes is filled in"),
        (comparison("cost", "ge", 1000), "cost is at least 1000"),
        (comparison("cost", "le", 10), "cost is at most 10"),
        (comparison("cost", "gt", 10), "cost is more than 10"),
        (comparison("team", "ne", "l2"), "team is not 'l2'"),
        (comparison("team", "not_in", ["l1"]), "team is none of ['l1']"),
        (comparison("summary", "contains", "vpn"), "summary contains 'vpn'"),
        (comparison("approved", "eq", False), "approved is no"),
        ({"field": "manager", "op": "eq", "value": None}, "manager is empty"),
        (
            {"not": {"all": [comparison("a", "eq", 1), comparison("b", "eq", 2)]}},
            "not (a is 1 and b is 2)",
        ),
        (
            {"all": [comparison("a", "eq", 1), {"any": [comparison("b", "eq", 2), "c > 3"]}]},
            "a is 1 and (b is 2 or c > 3)",
        ),
        (
            {"any": ["vip or cost > 1000", comparison("team", "eq", "l2")]},
            "(vip or cost > 1000) or team is 'l2'",
        ),
        ({"not": "a and b"}, "not (a and b)"),
        ({"all": ["cost < 500", comparison("vip", "eq", True)]}, "cost < 500 and vip is yes"),
        ("cost < 500", "cost < 500"),
    ],
)
def test_describe_says_the_condition_in_words(condition: Any, words: str) -> None:
    assert describe(condition) == words
    assert compile_condition(condition).text == words
