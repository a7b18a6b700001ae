"""Options are texts, numbers, or {value, label} pairs: from the checker to the stored answer.

A score of 1 to 5 is written `"options": [1, 2, 3, 4, 5]`. Each door treats the bare number
as the pair `{"value": 1, "label": "1"}`: the checker, the compiled schema, an HTML post,
the rendered controls, validation, and the kind of value the workflow checker sees (the
post and the controls are tested with the others, in `test_coercion` and `test_rendering`).
"""

from __future__ import annotations

from typing import Any

import pytest

from engine.catalog import form_fields
from forms.checker import check_form
from forms.compiler import compile_schema
from forms.definition import Form
from forms.validation import validate
from tests.unit.forms.conftest import field, form_doc, make

SCORE = field("score", "radio", required=True, options=[1, 2, 3])


def problems(*fields: dict[str, Any]) -> list[tuple[str, str]]:
    return [(p.pointer, p.message) for p in check_form(form_doc(*fields))]


def test_a_choice_of_bare_numbers_checks_clean() -> None:
    assert problems(SCORE) == []
    assert problems(field("size", "select", options=[0.5, 1, 1.5], default=1)) == []
    assert problems(field("days", "multiselect", options=[1, "weekend"], max_items=2)) == []


def test_a_default_that_is_not_among_the_numbers_is_refused() -> None:
    assert problems(field("score", "radio", options=[1, 2, 3], default=4)) == [
        (
            "/fields/0/default",
            "the default 4 would be refused by this field: choose one of the options",
        )
    ]


@pytest.mark.parametrize(
    ("options", "pointer", "value"),
    [
        ([True, False], "/fields/0/options/0", "true"),
        (["yes", False], "/fields/0/options/1", "false"),
        ([{"value": True, "label": "Yes"}], "/fields/0/options/0/value", "true"),
    ],
)
def test_true_and_false_are_refused_as_options_in_favour_of_a_checkbox(
    options: list[Any], pointer: str, value: str
) -> None:
    found = dict(problems(field("agree", "select", options=options)))

    assert found[pointer] == (
        f"an option cannot be {value}: for a yes-or-no question use a checkbox field, "
        'or give options as texts such as "yes" and "no"'
    )


def test_a_pair_without_a_value_is_still_said_plainly() -> None:
    assert problems(field("score", "select", options=[{"label": "One"}])) == [
        ("/fields/0/options/0/value", "this is required here but missing")
    ]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ([1, 2, 1.0], "the option 1.0 is listed twice: 1.0 and 1 are the same number"),
        (
            [2, {"value": 2.0, "label": "Two"}],
            "the option 2.0 is listed twice: 2.0 and 2 are the same number",
        ),
        ([1, 2, 1], "the option 1 is listed twice"),
        (
            ["1", 2, 1],
            "the option 1 is listed twice: the form sends the text '1' and the number 1 alike, "
            "so they are one option; keep one",
        ),
    ],
)
def test_an_option_listed_twice_is_caught_however_the_number_is_written(
    options: list[Any], message: str
) -> None:
    assert problems(field("score", "select", options=options)) == [
        (f"/fields/0/options/{len(options) - 1}", message)
    ]


def test_bare_numbers_compile_to_an_enum_of_numbers() -> None:
    form = make(SCORE, field("days", "multiselect", options=[1, 2, {"value": 3, "label": "Three"}]))
    properties = compile_schema(form)["properties"]

    assert properties["score"] == {"title": "Score", "enum": [1, 2, 3]}
    assert properties["days"]["items"] == {"enum": [1, 2, 3]}


def test_a_number_that_is_an_option_is_taken_and_any_other_refused() -> None:
    form = make(SCORE)

    taken = validate(form, {"score": 2})
    assert taken.ok
    assert taken.data == {"score": 2}
    for wrong in (4, "2", "two", True):
        refused = validate(form, {"score": wrong})
        assert [(e.field, e.message) for e in refused.errors] == [
            ("score", "Choose one of the options")
        ]


def test_the_workflow_checker_sees_a_choice_of_bare_numbers_as_a_number() -> None:
    doc = form_doc(SCORE, field("size", "select", options=[1, {"value": 2, "label": "Two"}]))
    infos = {info.key: info for info in form_fields(Form.from_document(doc))}

    assert (infos["score"].type, infos["score"].options) == ("number", (1, 2, 3))
    assert (infos["size"].type, infos["size"].options) == ("number", (1, 2))
    mixed = form_doc(field("days", "select", options=[1, "weekend"]))
    assert form_fields(Form.from_document(mixed))[0].type == "any"
