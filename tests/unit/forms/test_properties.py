"""Properties: the compiled schema and the Python evaluation never disagree."""

from __future__ import annotations

import re
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from engine.core.conditions import compile_condition
from forms.compiler import compile_schema, condition_schema
from forms.definition import Form
from forms.rules import dependencies
from forms.validation import validate, validator_of
from tests.unit.forms.conftest import field, make, shipped

RUNS = settings(max_examples=100, derandomize=True, database=None, deadline=None)

#: Values of every JSON kind, including the ones conditions call empty.
VALUES = st.one_of(
    st.none(),
    st.sampled_from(["", "x", "y", "xy", "high", "low"]),
    st.integers(-3, 3),
    st.floats(-3, 3, allow_nan=False),
    st.booleans(),
    st.lists(st.sampled_from(["x", "y", 1]), max_size=3),
    st.just({}),
)

DATA = st.dictionaries(st.sampled_from(["a", "b"]), VALUES)

COMPARISONS: list[dict[str, Any]] = [
    {"field": "a", "op": "eq", "value": "x"},
    {"field": "a", "op": "eq", "value": 1},
    {"field": "a", "op": "eq", "value": True},
    {"field": "a", "op": "eq", "value": None},
    {"field": "a", "op": "ne", "value": "x"},
    {"field": "a", "op": "ne", "value": None},
    {"field": "a", "op": "lt", "value": 1},
    {"field": "a", "op": "le", "value": 1.5},
    {"field": "a", "op": "gt", "value": 0},
    {"field": "a", "op": "ge", "value": -1},
    {"field": "a", "op": "in", "value": ["x", 1]},
    {"field": "a", "op": "in", "value": ["y", None]},
    {"field": "a", "op": "not_in", "value": ["x", False]},
    {"field": "a", "op": "contains", "value": "x"},
    {"field": "a", "op": "contains", "value": 1},
    {"field": "a", "op": "empty"},
    {"field": "a", "op": "not_empty"},
]

CONDITIONS = [
    *COMPARISONS,
    {"all": [{"field": "a", "op": "not_empty"}, {"field": "b", "op": "ne", "value": "x"}]},
    {"any": [{"field": "a", "op": "gt", "value": 1}, {"field": "b", "op": "empty"}]},
    {"not": {"field": "b", "op": "in", "value": ["x", "y"]}},
]


@RUNS
@given(DATA)
def test_compiled_condition_holds_exactly_when_the_condition_does(data: dict[str, Any]) -> None:
    for condition in CONDITIONS:
        schema = condition_schema(condition, {"a", "b"})
        assert schema is not None
        expected = compile_condition(condition).holds({"data": data})
        assert Draft202012Validator(schema).is_valid(data) is expected, condition


def compiled_requirements(form: Form, cleaned: dict[str, Any]) -> dict[str, bool]:
    """For every field, tell whether the compiled schema requires it under these answers.

    A field is required when leaving it out gives a `required` error naming it. Fields no
    rule reads are left out all at once; the others one by one.
    """
    server_checked = {rule["field"] for rule in compile_schema(form)["x-flowdesk-rules"]}
    keys = [f["key"] for f in form.fields if f["key"] not in server_checked]
    read = {name for f in form.fields for name in dependencies(f)}
    found: dict[str, bool] = {}
    for group in [[k for k in keys if k not in read], *([k] for k in keys if k in read)]:
        without = {k: v for k, v in cleaned.items() if k not in group}
        missing = {
            name
            for error in validator_of(form).iter_errors(without)
            if error.validator == "required" and not error.path
            for name in error.validator_value
        }
        found.update((key, key in missing) for key in group)
    return found


def agree(form: Form, data: dict[str, Any]) -> None:
    submission = validate(form, data)
    for key, required in compiled_requirements(form, submission.data).items():
        assert required is (key in submission.required), key
        if key not in submission.visible:
            assert not required


REPORT = shipped("incident-report")
REPORT_DATA = st.fixed_dictionaries(
    {},
    optional={
        "name": st.sampled_from(["Ann", ""]),
        "email": st.sampled_from(["ann@example.org", "ann"]),
        "impact": st.sampled_from(["high", "medium", "low", "", "HIGH"]) | VALUES,
        "urgency": st.sampled_from(["high", "low"]),
        "affected_service": st.sampled_from(["VPN", ""]) | VALUES,
        "source": st.sampled_from(["portal", "email"]),
    },
)


@RUNS
@given(REPORT_DATA)
def test_incident_report_schema_and_python_agree_on_what_is_required(
    data: dict[str, Any],
) -> None:
    agree(REPORT, data)


def _rule_field(index: int, rule: str, condition: dict[str, Any]) -> dict[str, Any]:
    extra: dict[str, Any] = {"required_if": condition}
    if rule == "visible_if":
        extra = {"visible_if": condition, "required": True}
    elif rule == "both":
        extra = {"visible_if": condition, "required_if": {"field": "b", "op": "not_empty"}}
    return field(f"r{index}", **extra)


EVERY_OPERATOR = make(
    field("a"),
    field("b"),
    *(
        _rule_field(i, ("required_if", "visible_if", "both")[i % 3], condition)
        for i, condition in enumerate(CONDITIONS)
    ),
    field("chain", required=True, visible_if={"field": "r1", "op": "not_empty"}),
)

SYNTHETIC_DATA = st.fixed_dictionaries(
    {"a": VALUES, "b": VALUES},
    optional={f"r{i}": st.sampled_from(["", "v"]) for i in range(len(CONDITIONS))}
    | {"chain": st.just("c")},
)


@RUNS
@given(SYNTHETIC_DATA)
def test_every_operator_compiles_to_the_same_requirements(data: dict[str, Any]) -> None:
    agree(EVERY_OPERATOR, data)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=8,
)

RICH = make(
    field("name", required=True, min_length=2, format="email"),
    field("kind", "select", options=["a", {"value": 2, "label": "Two"}]),
    field("tags", "multiselect", options=["x", "y"], max_items=1),
    field("day", "date", min="2026-01-01", visible_if={"field": "kind", "op": "eq", "value": 2}),
    field("at", "datetime", max="2027-01-01T00:00:00+00:00"),
    field("ok", "checkbox", required_if="kind == 'a'"),
    field("doc", "file", accept=["image/*"]),
    field("items", "table", columns=[
        field("qty", "number", integer=True, required=True),
        field("note", visible_if={"field": "qty", "op": "gt", "value": 1}),
        field("line", "calculated", expr="qty * 2"),
    ]),
    field("total", "calculated", expr="items | length"),
)  # fmt: skip

#: A field's key, a table row ("items.0") or a table cell ("items.0.qty").
PATH = re.compile(r"[A-Za-z]\w*(\.\d+(\.[A-Za-z]\w*)?)?")

FIELD_NAMES = st.sampled_from([f["key"] for f in RICH.fields] + ["other"])


@RUNS
@given(st.dictionaries(FIELD_NAMES, JSON) | JSON)
def test_any_json_gives_a_submission_never_an_exception(data: Any) -> None:
    submission = validate(RICH, data)
    assert submission.ok is (submission.errors == ())
    for error in submission.errors:
        assert error.message
        assert error.field == "" or PATH.fullmatch(error.field)


#: What Python's `json` can hand over beyond JSON: NaN and infinities, and texts with control
#: characters, lone surrogates (which RE2 and UTF-8 cannot hold) and line breaks.
WILD_TEXT = st.text(max_size=5) | st.sampled_from(["\ud800", "a\x00", "x\u2028y", "ann@x.org\n"])
WILD_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | WILD_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(WILD_TEXT, inner, max_size=3),
    max_leaves=8,
)
PATTERNED = make(
    field("code", pattern="^[A-Z]+$"),
    field("phone", format="phone"),
    field("email", format="email"),
    field("site", format="url"),
    field("note", "textarea"),
    field("n", "number", min=0),
    field("doc", "file", accept=["image/*"]),
    field("rows", "table", columns=[field("cell"), field("qty", "number")]),
)
FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def holds_bad_input(value: Any, line_breaks: bool) -> bool:
    """Tell whether a value holds NaN, an infinity, or a text no answer may hold, anywhere."""
    if isinstance(value, float):
        return value != value or value in (float("inf"), float("-inf"))
    if isinstance(value, str):
        return bool(FORBIDDEN.search(value)) or (
            not line_breaks and any(c in value for c in "\n\r\u2028\u2029")
        )
    if isinstance(value, dict):
        return any(holds_bad_input(k, False) or holds_bad_input(v, line_breaks)
                   for k, v in value.items())  # fmt: skip
    if isinstance(value, list):
        return any(holds_bad_input(item, line_breaks) for item in value)
    return False


@RUNS
@given(st.dictionaries(st.sampled_from([f["key"] for f in PATTERNED.fields]), WILD_JSON))
@example({"n": float("nan")})
@example({"n": float("-inf"), "code": "ABC"})
@example({"note": "line\x00"})
@example({"code": "A\ud800"})
@example({"rows": [{"qty": float("inf")}]})
def test_answers_holding_nan_or_control_characters_are_never_accepted(
    data: dict[str, Any],
) -> None:
    submission = validate(PATTERNED, data)

    if any(holds_bad_input(value, key == "note") for key, value in data.items()):
        assert not submission.ok
    for error in submission.errors:
        assert error.message
        assert PATH.fullmatch(error.field)
