"""Coercing an HTML form post into typed answers, guided by the field types."""

from __future__ import annotations

from typing import Any

import pytest

from forms.coercion import coerce_post
from forms.validation import validate
from tests.unit.forms.conftest import field, make


def coerced(definition: dict[str, Any], *values: str, tz: str = "UTC") -> Any:
    return coerce_post(make(definition), {"x": list(values)}, tz=tz).get("x", "<missing>")


@pytest.mark.parametrize(
    ("definition", "values", "expected"),
    [
        (field("x"), ["  Ann  "], "Ann"),
        (field("x"), [""], "<missing>"),
        (field("x"), [], "<missing>"),
        (field("x", "textarea"), ["  line\n"], "  line\n"),
        (field("x", "textarea"), ["  \n"], "<missing>"),
        (field("x", "number"), ["42"], 42),
        (field("x", "number"), ["-1.5"], -1.5),
        (field("x", "number"), ["ten"], "ten"),
        (field("x", "number"), ["nan"], "nan"),
        (field("x", "number"), [""], "<missing>"),
        (field("x", "checkbox"), ["on"], True),
        (field("x", "checkbox"), ["true"], True),
        (field("x", "checkbox"), ["1"], True),
        (field("x", "checkbox"), [], False),
        (field("x", "select", options=["a", "b"]), ["b"], "b"),
        (field("x", "select", options=[{"value": 1, "label": "One"}]), ["1"], 1),
        (field("x", "radio", options=["a"]), ["z"], "z"),
        (field("x", "multiselect", options=["a", "b"]), ["a", "b"], ["a", "b"]),
        (field("x", "multiselect", options=["a"]), [""], "<missing>"),
        (field("x", "date"), ["2026-03-01"], "2026-03-01"),
        (field("x", "datetime"), ["2026-03-01T14:30"], "2026-03-01T14:30:00+00:00"),
        (field("x", "datetime"), ["2026-03-01T14:30+02:00"], "2026-03-01T14:30:00+02:00"),
        (field("x", "datetime"), ["soon"], "soon"),
        (field("x", "user"), ["ann"], "ann"),
        (field("x", "hidden", default="portal"), ["email"], "email"),
        (field("x", "hidden", default=1), ["2"], 2),
        (field("x", "file"), ["secret.txt"], "<missing>"),
        (field("x", "calculated", expr="1"), ["99"], "<missing>"),
    ],
)
def test_each_type_is_coerced(definition: dict[str, Any], values: list[str], expected: Any) -> None:
    assert coerced(definition, *values) == expected


@pytest.mark.parametrize(
    ("options", "values", "expected"),
    [
        ([1, 2, 3], ["2"], 2),
        ([1, 2, 3], ["2.0"], 2),
        ([1, 2, 3], ["4"], "4"),
        ([1, 2, 3], ["two"], "two"),
        ([0.5, 1.5], ["1.5"], 1.5),
        ([1.0, 2.0], ["1"], 1.0),
        (["1.0", 1], ["1.0"], "1.0"),
        ([{"value": 1, "label": "One"}, 2], ["1"], 1),
    ],
)
def test_a_post_of_a_number_option_is_the_number_and_anything_else_stays_text(
    options: list[Any], values: list[str], expected: Any
) -> None:
    for kind in ("select", "radio"):
        value = coerced(field("x", kind, options=options), *values)
        assert (value, type(value)) == (expected, type(expected))
    chosen = coerced(field("x", "multiselect", options=[*options, "other"]), *values, "other")
    assert chosen == [expected, "other"]


def test_datetime_local_is_read_in_the_given_time_zone() -> None:
    value = coerced(field("x", "datetime"), "2026-03-01T14:30", tz="Europe/Paris")
    assert value == "2026-03-01T14:30:00+01:00"


def test_table_rows_are_gathered_and_empty_rows_dropped() -> None:
    columns = [field("item"), field("qty", "number"), field("gift", "checkbox")]
    form = make(field("items", "table", columns=columns))
    post = {
        "items.0.item": ["pen"],
        "items.0.qty": ["2"],
        "items.1.item": [""],
        "items.1.qty": [""],
        "items.2.item": ["ink"],
        "items.2.gift": ["on"],
        "items.2.colour": ["red"],
        "items.x.item": ["odd"],
    }
    assert coerce_post(form, post) == {
        "items": [
            {"item": "pen", "qty": 2, "gift": False},
            {"item": "ink", "gift": True},
        ]
    }


def test_unknown_names_are_ignored() -> None:
    form = make(field("name"))
    assert coerce_post(form, {"name": ["Ann"], "csrf_token": ["t"], "colour": ["red"]}) == {
        "name": "Ann"
    }


def test_number_that_is_not_one_is_reported_by_validation() -> None:
    form = make(field("qty", "number"))
    submission = validate(form, coerce_post(form, {"qty": ["a dozen"]}))
    assert [(e.field, e.message) for e in submission.errors] == [("qty", "Enter a number")]


@pytest.mark.parametrize(
    "typed",
    ["9" * 5000, "1e999", "1_000", "\u0661\u0662", "0x10", "nan", "-" + "9" * 4400],
    ids=["5000 digits", "overflow", "underscore", "arabic-indic", "hex", "nan", "negative"],
)
def test_what_no_number_can_hold_is_refused_as_no_number_not_a_crash(typed: str) -> None:
    """int() refuses more than 4,300 digits: a post of 5,000 nines was a 500 at every door
    that reads a form (the portal's too, without an account)."""
    form = make(field("qty", "number"))
    table = make(field("items", "table", columns=[field("n", "number")]))

    submission = validate(form, coerce_post(form, {"qty": [typed]}))
    rows = coerce_post(table, {"items.0.n": [typed], f"items.{'9' * 5000}.n": ["1"]})

    assert [(e.field, e.message) for e in submission.errors] == [("qty", "Enter a number")]
    assert rows == {"items": [{"n": typed}]}  # no cell of a row no table has


def test_coerced_datetime_passes_validation() -> None:
    form = make(field("at", "datetime", required=True))
    assert validate(form, coerce_post(form, {"at": ["2026-03-01T14:30"]})).ok
