"""The form checker: every mistake in a form document, where it is, in plain words."""

from __future__ import annotations

from typing import Any

import pytest

from forms.checker import check_form


def form(*fields: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": "form",
        "format": 1,
        "key": "incident-report",
        "title": "Report",
        "fields": list(fields),
    }


def field(key: str, kind: str = "text", **more: Any) -> dict[str, Any]:
    return {"key": key, "type": kind, "label": key.replace("_", " ").capitalize(), **more}


def problems(doc: dict[str, Any]) -> list[tuple[str, str]]:
    return [(p.pointer, p.message) for p in check_form(doc)]


SOUND = form(
    field("summary", required=True, max_length=200),
    field("details_heading", "section"),
    field(
        "category", "select", options=["hardware", "software", {"value": "net", "label": "Network"}]
    ),
    field("cost", "number", min=0),
    field("quantity", "number"),
    field("total", "calculated", expr="(cost or 0) * (quantity or 1)"),
    field("approver", "user", visible_if={"field": "cost", "op": "ge", "value": 500}),
    field(
        "reason",
        "textarea",
        required_if={
            "all": [
                {"field": "category", "op": "in", "value": ["hardware", "net"]},
                {"not": {"field": "summary", "op": "empty"}},
                "total > 1000 and data.category != 'software'",
            ]
        },
    ),
    field(
        "items",
        "table",
        columns=[
            field("item"),
            field("price", "number"),
            field("line_total", "calculated", expr="price * quantity"),
            field("serial", visible_if={"field": "category", "op": "eq", "value": "hardware"}),
        ],
    ),
)


def test_sound_form_has_no_problems() -> None:
    assert check_form(SOUND) == []


def test_duplicate_key_names_the_field_that_has_it_first() -> None:
    doc = form(field("summary"), field("cost", "number"), field("summary", "textarea"))
    assert problems(doc) == [
        (
            "/fields/2/key",
            "the key 'summary' is already used by the field 'Summary' (/fields/0); "
            "each field needs its own key",
        )
    ]


def test_duplicate_key_among_table_columns_is_caught() -> None:
    doc = form(field("summary"), field("lines", "table", columns=[field("item"), field("item")]))
    assert problems(doc) == [
        (
            "/fields/1/columns/1/key",
            "the key 'item' is already used by the field 'Item' (/fields/1/columns/0); "
            "each field needs its own key",
        )
    ]


def test_section_keys_must_be_unique_too() -> None:
    doc = form(field("part", "section"), field("part"))
    assert [pointer for pointer, _ in problems(doc)] == ["/fields/1/key"]


@pytest.mark.parametrize("key", ["data", "instance", "outcome"])
def test_reserved_key_is_refused(key: str) -> None:
    assert problems(form(field(key))) == [
        ("/fields/0/key", f"'{key}' is a reserved name; pick another key")
    ]


def test_reserved_key_in_a_table_column_is_refused() -> None:
    doc = form(field("lines", "table", columns=[field("data")]))
    assert problems(doc) == [
        ("/fields/0/columns/0/key", "'data' is a reserved name; pick another key")
    ]


@pytest.mark.parametrize(
    ("rule", "pointer"),
    [
        ({"field": "colour", "op": "eq", "value": "red"}, "/fields/1/visible_if/field"),
        (
            {"any": [{"field": "summary", "op": "empty"}, {"field": "colour", "op": "not_empty"}]},
            "/fields/1/visible_if/any/1/field",
        ),
        ({"not": {"field": "colour", "op": "empty"}}, "/fields/1/visible_if/not/field"),
    ],
)
def test_rule_on_an_unknown_field_is_caught(rule: dict[str, Any], pointer: str) -> None:
    doc = form(field("summary"), field("notes", visible_if=rule))
    assert problems(doc) == [(pointer, "the rule uses 'colour', which is not a field of this form")]


def test_rule_on_a_section_is_caught() -> None:
    doc = form(
        field("part", "section"), field("notes", required_if={"field": "part", "op": "empty"})
    )
    assert problems(doc) == [
        ("/fields/1/required_if/field", "the rule uses 'part', which is not a field of this form")
    ]


def test_expression_rule_on_an_unknown_field_is_caught() -> None:
    doc = form(field("cost", "number"), field("notes", required_if="cost > 5 and data.colour"))
    assert problems(doc) == [
        ("/fields/1/required_if", "the expression uses 'colour', which this form does not have")
    ]


def test_rule_in_a_table_column_sees_its_row_and_the_form_but_nothing_else() -> None:
    columns = [
        field("item"),
        field("serial", visible_if={"field": "item", "op": "eq", "value": "laptop"}),
        field("note", visible_if={"field": "colour", "op": "empty"}),
    ]
    doc = form(field("summary"), field("lines", "table", columns=columns))
    assert problems(doc) == [
        (
            "/fields/1/columns/2/visible_if/field",
            "the rule uses 'colour', which is not a field of this form",
        )
    ]


def test_form_rule_cannot_read_a_table_column() -> None:
    doc = form(
        field("lines", "table", columns=[field("item")]),
        field("notes", visible_if={"field": "item", "op": "not_empty"}),
    )
    assert problems(doc) == [
        ("/fields/1/visible_if/field", "the rule uses 'item', which is not a field of this form")
    ]


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("cost.__class__", "'__class__' starts with '_' and cannot be read"),
        ("range(cost)", "only simple text methods such as lower() may be called"),
        ("cost|shout", "there is no filter named 'shout'"),
        ("cost * rate", "the expression uses 'rate', which this form does not have"),
    ],
)
def test_bad_calculated_field_is_caught(expr: str, message: str) -> None:
    doc = form(field("cost", "number"), field("total", "calculated", expr=expr))
    assert ("/fields/1/expr", message) in problems(doc)
    assert {pointer for pointer, _ in problems(doc)} == {"/fields/1/expr"}


def test_calculated_field_that_does_not_parse_is_caught() -> None:
    doc = form(field("cost", "number"), field("total", "calculated", expr="cost *"))
    ((pointer, message),) = problems(doc)
    assert pointer == "/fields/1/expr"
    assert message.startswith("the expression does not parse")


def test_bad_calculated_column_is_caught() -> None:
    columns = [field("price", "number"), field("total", "calculated", expr="price * rate")]
    doc = form(field("lines", "table", columns=columns))
    assert problems(doc) == [
        ("/fields/0/columns/1/expr", "the expression uses 'rate', which this form does not have")
    ]


def test_bad_expression_in_a_rule_is_caught() -> None:
    doc = form(field("cost", "number"), field("notes", visible_if={"all": ["cost.__class__"]}))
    assert problems(doc) == [
        ("/fields/1/visible_if/all/0", "'__class__' starts with '_' and cannot be read")
    ]


def test_duplicate_option_is_caught() -> None:
    doc = form(field("category", "select", options=["hardware", "software", "hardware"]))
    assert problems(doc) == [("/fields/0/options/2", "the option 'hardware' is listed twice")]


def test_duplicate_option_value_with_another_label_is_caught() -> None:
    options = [
        {"value": 1, "label": "Low"},
        {"value": 2, "label": "High"},
        {"value": 1, "label": "Lo"},
    ]
    doc = form(field("impact", "radio", options=options))
    assert problems(doc) == [("/fields/0/options/2", "the option 1 is listed twice")]


def test_duplicate_option_in_a_table_column_is_caught() -> None:
    doc = form(field("lines", "table", columns=[field("kind", "select", options=["a", "a"])]))
    assert problems(doc) == [("/fields/0/columns/0/options/1", "the option 'a' is listed twice")]


@pytest.mark.parametrize(
    ("bad", "pointer", "words"),
    [
        (field("category", "select"), "/fields/0/options", "required"),
        (field("lines", "table"), "/fields/0/columns", "required"),
        (field("total", "calculated"), "/fields/0/expr", "required"),
        (field("category", "select", options=[]), "/fields/0/options", "must not be empty"),
        (field("when", "clock"), "/fields/0/type", "choose one of"),
        (field("2nd"), "/fields/0/key", "not in the expected form"),
        ({"key": "summary", "type": "text"}, "/fields/0/label", "every field needs a label"),
        (field("summary", colour="red"), "/fields/0/colour", "'colour'"),
        (
            field("notes", visible_if={"field": "notes", "op": "in", "value": "a"}),
            "/fields/0/visible_if/value",
            "list",
        ),
        (
            field("notes", visible_if={"field": "notes", "op": "eq"}),
            "/fields/0/visible_if/value",
            "required",
        ),
    ],
)
def test_schema_problem_is_said_in_plain_words_where_it_is(
    bad: dict[str, Any], pointer: str, words: str
) -> None:
    found = dict(problems(form(bad)))
    assert pointer in found, found
    assert words in found[pointer]


def test_form_without_fields_is_a_problem() -> None:
    assert problems(form()) == [("/fields", "must not be empty")]


@pytest.mark.parametrize("doc", [None, [], "form", {"kind": "form"}])
def test_something_that_is_not_a_form_gives_problems_not_a_crash(doc: Any) -> None:
    assert check_form(doc)


# Rules between fields ---------------------------------------------------------------------

IMPACT = field("impact", "radio", options=["high", "low"])


def test_rule_on_a_field_further_down_the_form_is_allowed() -> None:
    doc = form(field("note", visible_if={"field": "impact", "op": "eq", "value": "high"}), IMPACT)
    assert problems(doc) == []


def test_rules_going_round_in_a_longer_circle_are_spelled_out() -> None:
    doc = form(
        field("a", visible_if={"field": "b", "op": "not_empty"}),
        field("b", required_if={"field": "c", "op": "empty"}),
        field("c", "calculated", expr="a ~ '!'"),
    )
    assert problems(doc) == [
        (
            "/fields/0/visible_if",
            "the rules go round in a circle: 'a' depends on 'b', which depends on 'c', "
            "which depends on 'a'; so none of them can be decided, "
            "a field's rules may only use fields that do not depend on it",
        )
    ]


def test_field_whose_rule_reads_itself_is_a_circle() -> None:
    doc = form(field("a", visible_if="a != 'x'"))
    ((pointer, message),) = problems(doc)
    assert pointer == "/fields/0/visible_if"
    assert message.startswith("the rules go round in a circle: 'a' depends on 'a';")


def test_circle_among_table_columns_is_caught() -> None:
    columns = [
        field("a", visible_if={"field": "b", "op": "empty"}),
        field("b", visible_if={"field": "a", "op": "empty"}),
    ]
    ((pointer, _),) = problems(form(field("lines", "table", columns=columns)))
    assert pointer == "/fields/0/columns/0/visible_if"


def test_field_shown_only_for_a_value_no_option_has_is_never_shown() -> None:
    doc = form(
        IMPACT,
        field(
            "service",
            required=True,
            visible_if={"all": [{"field": "impact", "op": "in", "value": ["critical", "urgent"]}]},
        ),
        field("notes", visible_if={"field": "service", "op": "not_empty"}),
    )
    assert problems(doc) == [
        (
            "/fields/1/visible_if",
            "'service' is required but can never be shown: it is shown only when impact is one "
            "of ['critical', 'urgent'], and none of those is among the options of 'impact'",
        ),
        (
            "/fields/2/visible_if",
            "'notes' can never be shown: it is shown only when service is filled in, "
            "and 'service' can never be shown either",
        ),
    ]


@pytest.mark.parametrize(
    ("rule", "said"),
    [
        (
            {"field": "urgent", "op": "eq", "value": "true"},
            "'urgent' holds yes or no, so comparing it with 'true' (a text) can never be "
            "right; write true or false",
        ),
        (
            {"all": [{"field": "days", "op": "gt", "value": "3"}]},
            "'days' holds a number, so comparing it with '3' (a text) can never be right",
        ),
        (
            {"field": "days", "op": "in", "value": [1, "2"]},
            "'days' holds a number, so comparing it with '2' (a text) can never be right",
        ),
        (
            {"field": "urgent", "op": "contains", "value": "y"},
            "'urgent' holds yes or no, so 'contains' cannot look inside it",
        ),
    ],
)
def test_a_rule_comparing_a_field_with_a_value_of_another_kind_is_reported_at_the_value(
    rule: dict[str, Any], said: str
) -> None:
    """The rule never holds: the field it shows stays hidden for good, or is never asked for."""
    doc = form(
        field("urgent", "checkbox"),
        field("days", "number"),
        field("why", visible_if=rule),
    )
    [(pointer, message)] = problems(doc)
    assert pointer.startswith("/fields/2/visible_if")
    assert pointer.endswith("/value")
    assert message == said


@pytest.mark.parametrize(
    "rule",
    [
        {"field": "impact", "op": "eq", "value": "high"},
        {"field": "impact", "op": "ne", "value": "critical"},
        {"field": "impact", "op": "eq", "value": None},
        {"any": [{"field": "impact", "op": "eq", "value": "critical"}, "impact == 'x'"]},
        {"not": {"field": "impact", "op": "eq", "value": "critical"}},
    ],
)
def test_rule_that_can_hold_is_not_reported(rule: dict[str, Any]) -> None:
    assert problems(form(IMPACT, field("service", required=True, visible_if=rule))) == []


@pytest.mark.parametrize(
    ("bad", "pointer", "words"),
    [
        (field("when", "date", min="yesterday"), "/fields/0/min", "not a date"),
        (field("qty", "number", max="10"), "/fields/0/max", "must be a number"),
        (field("doc", "file", accept=["pdf"]), "/fields/0/accept/0", "not in the expected form"),
    ],
)
def test_limits_must_suit_the_field(bad: dict[str, Any], pointer: str, words: str) -> None:
    found = dict(problems(form(bad)))
    assert pointer in found, found
    assert words in found[pointer]


def test_a_choice_of_bare_numbers_is_compared_with_its_numbers_and_told_once() -> None:
    """The form sends a choice of numbers as numbers, so 2 is right; '2' is not among the
    options, said once, as the field it hides."""
    seats = field("seats", "select", options=[1, 2, 4])
    good = form(seats, field("why", visible_if={"field": "seats", "op": "eq", "value": 2}))
    bad = form(seats, field("why", visible_if={"field": "seats", "op": "eq", "value": "2"}))

    assert problems(good) == []
    assert problems(bad) == [
        (
            "/fields/1/visible_if",
            "'why' can never be shown: it is shown only when seats is '2', which is not among "
            "the options of 'seats'",
        )
    ]


def test_a_hidden_field_is_compared_with_what_its_default_holds() -> None:
    """A hidden field with a default of 2 holds the number 2: a rule comparing it with 2 is
    sound, and with '2' never holds."""
    tier = field("tier", "hidden", default=2)
    good = form(tier, field("why", visible_if={"field": "tier", "op": "eq", "value": 2}))
    bad = form(tier, field("why", visible_if={"field": "tier", "op": "eq", "value": "2"}))

    assert problems(good) == []
    assert [message for _, message in problems(bad)] == [
        "'tier' holds a number, so comparing it with '2' (a text) can never be right"
    ]
