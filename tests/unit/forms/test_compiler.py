"""The compiled JSON Schema: faithful to the form, and free of the usual JSON Schema traps."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator

from forms.compiler import compile_schema, condition_schema
from forms.definition import Form
from forms.validation import validate
from tests.unit.forms.conftest import GOOD_REPORT, field, make


def without(data: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {key: value for key, value in data.items() if key not in keys}


def test_schema_is_a_valid_2020_12_document_named_after_the_form(incident_report: Form) -> None:
    schema = compile_schema(incident_report)

    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == "https://flowdesk.dev/forms/incident-report.schema.json"
    assert schema["title"] == "Report an IT problem"
    assert schema["x-flowdesk-format"] == 1
    assert schema["x-flowdesk-rules"] == []


def test_schema_is_built_once_per_form(incident_report: Form) -> None:
    assert compile_schema(incident_report) is compile_schema(incident_report)


def test_fields_carry_label_as_title_and_help_as_description(incident_report: Form) -> None:
    email = compile_schema(incident_report)["properties"]["email"]
    assert email["title"] == "Your email address"
    assert email["description"] == "We send the tracking link and updates here."


def test_unconditional_required_fields_are_required_at_the_top(incident_report: Form) -> None:
    required = compile_schema(incident_report)["required"]
    assert "name" in required
    assert "affected_service" not in required
    assert "source" not in required


# Trap (a): format checks are off unless a format checker is given ------------------------


def test_plain_validator_lets_a_bad_email_through_ours_does_not(incident_report: Form) -> None:
    bad = {**GOOD_REPORT, "email": "ann"}
    plain = Draft202012Validator(compile_schema(incident_report))

    assert plain.is_valid(bad)
    assert validate(incident_report, bad).errors[0].to_json() == {
        "field": "email",
        "pointer": "/email",
        "message": "Enter an email address like name@example.org",
    }


# Trap (b): an `if` holds when the field it reads is missing ------------------------------


#: An outage report whose service is required only when the whole team is affected.
OUTAGE = make(
    field("impact", "radio", options=["high", "low"]),
    field("affected_service", required_if={"field": "impact", "op": "eq", "value": "high"}),
)


def test_naive_if_requires_the_service_when_impact_is_missing() -> None:
    naive = {
        "if": {"properties": {"impact": {"const": "high"}}},
        "then": {"required": ["affected_service"]},
    }
    ours = compile_schema(OUTAGE)["allOf"]

    assert not Draft202012Validator(naive).is_valid({})
    assert Draft202012Validator({"allOf": ours}).is_valid({})
    assert not Draft202012Validator({"allOf": ours}).is_valid({"impact": "high"})
    assert validate(OUTAGE, {}).ok


def test_conditional_requirement_still_applies_when_it_holds(incident_report: Form) -> None:
    errors = validate(OUTAGE, {"impact": "high"}).errors
    assert [(e.field, e.message) for e in errors] == [("affected_service", "Fill in this field")]
    # The shipped report asks a portal requester for an address to write to.
    errors = validate(incident_report, without(GOOD_REPORT, "email")).errors
    assert [(e.field, e.message) for e in errors] == [("email", "Fill in this field")]


@pytest.mark.parametrize(
    ("condition", "missing_holds"),
    [
        ({"field": "a", "op": "eq", "value": "x"}, False),
        ({"field": "a", "op": "in", "value": ["x", "y"]}, False),
        ({"field": "a", "op": "contains", "value": "x"}, False),
        ({"field": "a", "op": "gt", "value": 3}, False),
        ({"field": "a", "op": "not_empty"}, False),
        ({"field": "a", "op": "ne", "value": "x"}, True),
        ({"field": "a", "op": "not_in", "value": ["x"]}, True),
        ({"field": "a", "op": "empty"}, True),
        ({"field": "a", "op": "eq", "value": None}, True),
    ],
)
def test_compiled_comparison_on_a_missing_field_agrees_with_conditions(
    condition: dict[str, Any], missing_holds: bool
) -> None:
    schema = condition_schema(condition, {"a"})
    assert schema is not None
    assert Draft202012Validator(schema).is_valid({}) is missing_holds


# Trap (c): jsonschema reports a missing property on its parent ---------------------------


def test_required_error_lands_on_the_missing_field_not_its_parent(incident_report: Form) -> None:
    data = without(GOOD_REPORT, "summary")
    (raw,) = Draft202012Validator(compile_schema(incident_report)).iter_errors(data)

    assert list(raw.absolute_path) == []
    assert validate(incident_report, data).errors[0].pointer == "/summary"


def test_required_cell_error_lands_on_the_cell() -> None:
    form = make(
        field("items", "table", columns=[field("item"), field("qty", "number", required=True)])
    )
    data = {"items": [{"item": "pen", "qty": 2}, {"item": "ink"}]}
    (raw,) = Draft202012Validator(compile_schema(form)).iter_errors(data)

    assert list(raw.absolute_path) == ["items", 1]
    assert [e.to_json() for e in validate(form, data).errors] == [
        {"field": "items.1.qty", "pointer": "/items/1/qty", "message": "Fill in this field"}
    ]


# Trap (d): additionalProperties cannot see properties declared in if/then ----------------


def test_additional_properties_refuses_a_conditional_field_ours_does_not() -> None:
    naive = {
        "type": "object",
        "properties": {"impact": {"enum": ["high", "low"]}},
        "additionalProperties": False,
        "if": {"required": ["impact"], "properties": {"impact": {"const": "high"}}},
        "then": {"properties": {"affected_service": {"type": "string"}}},
    }
    form = make(
        field("impact", "radio", options=["high", "low"]),
        field("affected_service", visible_if={"field": "impact", "op": "eq", "value": "high"}),
    )
    data = {"impact": "high", "affected_service": "VPN"}

    assert not Draft202012Validator(naive).is_valid(data)
    assert validate(form, data).ok
    assert [e.to_json() for e in validate(form, {**data, "colour": "red"}).errors] == [
        {"field": "colour", "pointer": "/colour", "message": "'colour' is not a field of this form"}
    ]


# What each type compiles to ---------------------------------------------------------------


def test_value_types_compile_to_their_json_schema() -> None:
    form = make(
        field("site", format="url"),
        field("phone", format="phone"),
        field("count", "number", integer=True, min=1, max=9),
        field("day", "date", min="2026-01-01"),
        field("at", "datetime"),
        field("tags", "multiselect", options=["a", "b"], max_items=2),
        field("ok", "checkbox"),
        field("who", "user"),
        field("note", "hidden", default=3),
        field("total", "calculated", expr="count * 2"),
        field("part", "section"),
    )
    props = compile_schema(form)["properties"]

    assert props["site"]["format"] == "uri"
    assert "pattern" in props["phone"]
    assert props["count"] == {
        "title": "Count", "type": "integer", "minimum": 1, "maximum": 9
    }  # fmt: skip
    assert props["day"]["format"] == "date"
    assert props["day"]["formatMinimum"] == "2026-01-01"
    assert props["at"]["format"] == "date-time"
    assert props["tags"]["items"] == {"enum": ["a", "b"]}
    assert props["tags"]["uniqueItems"] is True
    assert props["tags"]["maxItems"] == 2
    assert props["ok"]["type"] == "boolean"
    assert props["who"]["type"] == "string"
    assert props["note"]["type"] == "number"
    assert props["total"] == {"title": "Total", "readOnly": True}
    assert "part" not in props


def test_file_field_limits_count_size_and_type() -> None:
    form = make(field("shots", "file", accept=["image/*", "application/pdf"], max_size=1024))
    schema = compile_schema(form)["properties"]["shots"]
    check = Draft202012Validator(schema)

    assert schema["maxItems"] == 1
    assert check.is_valid([{"name": "a.png", "size": 10, "type": "image/png"}])
    assert check.is_valid([{"id": "f1", "name": "a.pdf", "size": 10, "type": "application/pdf"}])
    assert not check.is_valid([{"name": "a.exe", "size": 10, "type": "application/x-msdownload"}])
    assert not check.is_valid([{"name": "a.png", "size": 2048, "type": "image/png"}])
    assert not check.is_valid([{"name": "a.png", "size": 1, "type": "image/png"}] * 2)


def test_rules_json_schema_cannot_say_are_left_to_the_server() -> None:
    form = make(
        field("day", "date"),
        field("cost", "number"),
        field("why", required_if="cost > 100"),
        field("early", visible_if={"field": "day", "op": "lt", "value": "2026-06-01"}),
        field("lines", "table", columns=[
            field("item"),
            field("serial", required_if={"field": "cost", "op": "gt", "value": 5}),
        ]),
    )  # fmt: skip
    schema = compile_schema(form)

    assert schema["x-flowdesk-rules"] == [
        {"field": "why", "rule": "required_if", "condition": "cost > 100"},
        {
            "field": "early",
            "rule": "visible_if",
            "condition": {"field": "day", "op": "lt", "value": "2026-06-01"},
        },
        {
            "field": "lines.*.serial",
            "rule": "required_if",
            "condition": {"field": "cost", "op": "gt", "value": 5},
        },
    ]
    assert "allOf" not in schema
