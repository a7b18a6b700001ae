"""Validating a submission: cleaned data, and one error per field in a requester's words."""

from __future__ import annotations

from typing import Any

import pytest

from forms.definition import Form
from forms.validation import FieldError, Submission, validate
from tests.unit.forms.conftest import GOOD_REPORT, field, make


def messages(submission: Submission) -> list[tuple[str, str]]:
    return [(error.field, error.message) for error in submission.errors]


def test_sound_report_is_ok_and_cleaned(incident_report: Form) -> None:
    submission = validate(incident_report, GOOD_REPORT)

    assert submission.ok
    assert submission.data == {**GOOD_REPORT, "source": "portal"}
    assert "affected_service" in submission.visible
    assert "affected_service" not in submission.required  # "If you know"
    assert "email" in submission.required  # a portal report: required_if source is portal


def test_text_of_only_spaces_answers_nothing_required_or_not() -> None:
    form = make(field("summary", required=True), field("note", "textarea"))
    submission = validate(form, {"summary": "  \n ", "note": " \t"})
    assert messages(submission) == [("summary", "Fill in this field")]
    assert submission.data == {}


def test_field_hidden_by_its_rule_is_neither_required_nor_kept(incident_report: Form) -> None:
    submission = validate(incident_report, {**GOOD_REPORT, "impact": "low"})

    assert submission.ok
    assert "affected_service" not in submission.data
    assert "affected_service" not in submission.visible
    assert "affected_service" not in submission.required


def test_hidden_type_field_keeps_what_was_sent_or_its_default(incident_report: Form) -> None:
    assert validate(incident_report, GOOD_REPORT).data["source"] == "portal"
    assert validate(incident_report, {**GOOD_REPORT, "source": "email"}).data["source"] == "email"


def test_field_shown_only_through_a_hidden_field_is_hidden_too() -> None:
    form = make(
        field("kind", "radio", options=["laptop", "phone"]),
        field("model", visible_if={"field": "kind", "op": "eq", "value": "laptop"}),
        field("serial", required=True, visible_if={"field": "model", "op": "not_empty"}),
    )
    submission = validate(form, {"kind": "phone", "model": "X1", "serial": ""})

    assert submission.ok
    assert submission.data == {"kind": "phone"}
    assert submission.visible == {"kind"}


def test_rule_on_a_later_field_sees_that_field_cleaned() -> None:
    form = make(
        field("note", visible_if={"field": "model", "op": "not_empty"}),
        field("kind", "radio", options=["laptop", "phone"]),
        field("model", visible_if={"field": "kind", "op": "eq", "value": "laptop"}),
    )
    submission = validate(form, {"kind": "phone", "model": "X1", "note": "hi"})
    assert submission.data == {"kind": "phone"}


def test_calculated_field_is_computed_whatever_the_client_sent() -> None:
    form = make(
        field("qty", "number"),
        field("price", "number"),
        field("total", "calculated", expr="qty * price"),
    )
    assert validate(form, {"qty": 2, "price": 3, "total": 1000}).data["total"] == 6
    assert "total" not in validate(form, {"qty": 2, "total": 1000}).data


def test_default_fills_in_a_missing_field_that_is_not_required() -> None:
    form = make(field("colour", default="blue"), field("size", required=True, default="M"))
    submission = validate(form, {})

    assert submission.data == {"colour": "blue"}
    assert messages(submission) == [("size", "Fill in this field")]


def test_empty_answers_count_as_not_given() -> None:
    form = make(field("name", required=True), field("tags", "multiselect", options=["a"]))
    submission = validate(form, {"name": "", "tags": []})

    assert submission.data == {}
    assert messages(submission) == [("name", "Fill in this field")]


def test_a_person_or_a_service_sent_as_something_else_than_a_key_is_asked_for_as_chosen() -> None:
    form = make(field("manager", "user"), field("paid_by", "service"))
    assert messages(validate(form, {"manager": 12, "paid_by": ["payments"]})) == [
        ("manager", "Choose a person"),
        ("paid_by", "Choose a service"),
    ]


def test_one_error_per_field_the_most_useful() -> None:
    form = make(field("code", min_length=3, pattern="^[A-Z]+$"))
    assert messages(validate(form, {"code": 12})) == [("code", "Enter text")]


def test_errors_come_in_form_order(incident_report: Form) -> None:
    fields = [error.field for error in validate(incident_report, {"urgency": "?"}).errors]
    assert fields == ["name", "email", "summary", "description", "category", "impact", "urgency"]


@pytest.mark.parametrize(
    ("definition", "value", "message"),
    [
        (field("x", "select", options=["a"]), "b", "Choose one of the options"),
        (field("x", "date"), "1/3/2026", "Enter a date like 2026-03-01"),
        (field("x", "datetime"), "2026-03-01 2pm", "Enter a date and time like 2026-03-01 14:30"),
        (field("x", format="email"), "ann", "Enter an email address like name@example.org"),
        (field("x", format="url"), "not a url", "Enter a web address like https://example.org"),
        (field("x", format="phone"), "call me", "Enter a phone number like +44 20 7946 0958"),
        (field("x", min_length=5), "abc", "Enter at least 5 characters"),
        (field("x", max_length=3), "abcd", "Enter at most 3 characters (this has 4)"),
        (field("x", pattern="^[A-Z]{3}$"), "abc", "This is not in the expected form"),
        (
            field("x", pattern="^[A-Z]{3}$", help="Three capitals, like ABC."),
            "abc",
            "This is not in the expected form: Three capitals, like ABC.",
        ),
        (field("x", "number", min=1), 0, "Enter a number of at least 1"),
        (field("x", "number", max=10), 11, "Enter a number of at most 10"),
        (field("x", "number"), "ten", "Enter a number"),
        (field("x", "number", integer=True), 1.5, "Enter a whole number"),
        (field("x", "checkbox"), "yes", "Answer yes or no"),
        (field("x", "multiselect", options=["a", "b", "c"], max_items=2), ["a", "b", "c"],
         "Choose at most 2 options"),
        (field("x", "multiselect", options=["a", "b"], min_items=2), ["a"],
         "Choose at least 2 options"),
        (field("x", "multiselect", options=["a", "b"]), ["a", "a"],
         "Choose each option only once"),
        (field("x", "multiselect", options=["a"]), "a", "Choose from the options"),
        (field("x", "date", min="2026-01-01"), "2025-12-31", "Enter a date on or after 2026-01-01"),
        (field("x", "date", max="2026-01-01"), "2026-01-02",
         "Enter a date on or before 2026-01-01"),
        (field("x", "file", max_files=2), [{"name": "a", "size": 1, "type": "text/plain"}] * 3,
         "Attach at most 2 files"),
        (field("x", "file"), [{"name": "a", "size": 11 << 20, "type": "text/plain"}],
         "The file is too large: it may be at most 10 MiB"),
        (field("x", "file", accept=["image/*"]), [{"name": "a", "size": 1, "type": "text/html"}],
         "This kind of file is not accepted; use image/*"),
        (field("x", "table", columns=[field("a")], max_rows=1), [{"a": "1"}, {"a": "2"}],
         "Add at most 1 row"),
        (field("x", "table", columns=[field("a")], min_rows=2), [{"a": "1"}],
         "Add at least 2 rows"),
    ],
)  # fmt: skip
def test_error_is_said_in_plain_words(definition: dict[str, Any], value: Any, message: str) -> None:
    (error,) = validate(make(definition), {"x": value}).errors
    assert error.message == message


@pytest.mark.parametrize(
    ("kind", "more", "message"),
    [
        ("text", {}, "Fill in this field"),
        ("select", {"options": ["a"]}, "Choose an option"),
        ("user", {}, "Choose a person"),
        ("checkbox", {}, "Tick this box to go on"),
        ("file", {}, "Attach a file"),
        ("table", {"columns": [field("a")]}, "Add at least one row"),
    ],
)
def test_missing_answer_is_asked_for_the_way_it_is_given(
    kind: str, more: dict[str, Any], message: str
) -> None:
    assert messages(validate(make(field("x", kind, required=True, **more)), {})) == [("x", message)]


def test_unknown_cell_and_file_part_are_named() -> None:
    form = make(field("items", "table", columns=[field("a")]), field("doc", "file"))
    data = {"items": [{"a": "1", "b": 2}], "doc": [{"name": "a", "size": 1, "type": "x/y", "z": 1}]}
    assert messages(validate(form, data)) == [
        ("items.0.b", "'b' is not a column of this table"),
        ("doc", "'z' is not a part of a file"),
    ]


def test_table_row_follows_its_own_rules_and_sees_the_form() -> None:
    columns = [
        field("item", "select", options=["laptop", "pen"], required=True),
        field("serial", required_if={"field": "item", "op": "eq", "value": "laptop"}),
        field("cost_centre", visible_if={"field": "billing", "op": "eq", "value": "split"}),
        field("line", "calculated", expr="item ~ ' for ' ~ (serial or '-')"),
    ]
    form = make(
        field("billing", "radio", options=["single", "split"]),
        field("items", "table", columns=columns),
    )
    data = {
        "billing": "single",
        "items": [{"item": "laptop"}, {"item": "pen", "cost_centre": "42"}, {"serial": "S1"}],
    }
    submission = validate(form, data)

    assert messages(submission) == [
        ("items.0.serial", "Fill in this field"),
        ("items.2.item", "Choose an option"),
    ]
    assert submission.data["items"][1] == {"item": "pen", "line": "pen for -"}
    assert "items.0.serial" in submission.required
    assert "items.1.cost_centre" not in submission.visible


def test_expression_rule_is_checked_by_the_server() -> None:
    form = make(field("cost", "number"), field("why", required_if="cost > 100"))
    assert messages(validate(form, {"cost": 500})) == [("why", "Fill in this field")]
    assert validate(form, {"cost": 50}).ok


def test_context_gives_expressions_more_names() -> None:
    form = make(field("why", required_if="instance.number.startswith('INC')"))
    assert not validate(form, {}, context={"instance": {"number": "INC-1"}}).ok
    assert validate(form, {}, context={"instance": {"number": "REQ-1"}}).ok


@pytest.mark.parametrize("data", [None, [], "text", 3])
def test_something_that_is_not_an_object_gives_an_error_not_a_crash(
    incident_report: Form, data: Any
) -> None:
    submission = validate(incident_report, data)
    assert submission.errors[0] == FieldError("", "The answers must be sent as a JSON object")


def test_field_error_speaks_json_pointer() -> None:
    error = FieldError("items.0.a/b", "Fill in this field")
    assert error.to_json() == {
        "field": "items.0.a/b",
        "pointer": "/items/0/a~1b",
        "message": "Fill in this field",
    }
    assert FieldError("", "x").pointer == ""


def test_a_required_checkbox_must_be_ticked_not_only_sent() -> None:
    form = Form.from_document(
        {
            "kind": "form",
            "format": 1,
            "key": "terms",
            "title": "Terms",
            "fields": [
                {"key": "terms", "type": "checkbox", "label": "I accept", "required": True},
                {"key": "news", "type": "checkbox", "label": "Send me news"},
            ],
        }
    )

    unticked = validate(form, {"terms": False, "news": False})

    assert [(e.field, e.message) for e in unticked.errors] == [("terms", "Tick this box to go on")]
    assert validate(form, {"terms": True}).ok
    assert validate(form, {"terms": True, "news": False}).data == {"terms": True, "news": False}


def test_whole_number_field_keeps_a_whole_float_as_an_integer() -> None:
    """A script's 100.0 (or 1e2, as a form's text is read) is kept as 100, which a mail and
    the CSV show as "100", not "100.0"."""
    sent = 100.0
    form = make(
        field("seats", "number", integer=True),
        field("ratio", "number"),
        field("lines", "table", columns=[field("qty", "number", integer=True)]),
    )
    submission = validate(form, {"seats": sent, "ratio": sent, "lines": [{"qty": sent}]})

    assert submission.ok
    assert submission.data == {"seats": 100, "ratio": sent, "lines": [{"qty": 100}]}
    assert type(submission.data["seats"]) is int
    assert type(submission.data["lines"][0]["qty"]) is int
    assert type(submission.data["ratio"]) is float  # a field that takes any number keeps it


def test_a_whole_float_too_large_for_a_double_to_hold_exactly_is_left_as_sent() -> None:
    """1e25 made into an integer is no number the database keeps: it is refused as a field's
    problem, not as "the data cannot be kept"."""
    submission = validate(make(field("seats", "number", integer=True)), {"seats": 1e25})
    assert type(submission.data["seats"]) is float
