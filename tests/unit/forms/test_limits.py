"""The checker catches limits newcomers get wrong: upside down, misplaced, a bad default."""

from __future__ import annotations

from typing import Any

import pytest

from forms.answers import file_hint
from forms.checker import check_form
from forms.definition import MAX_FILE_SIZE, MAX_FILES, Form, added_files_field
from tests.unit.forms.conftest import field, form_doc


def problems(*fields: dict[str, Any]) -> list[tuple[str, str]]:
    return [(p.pointer, p.message) for p in check_form(form_doc(*fields))]


# Limits that leave no room for an answer ----------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "pointer", "message"),
    [
        (
            field("seats", "number", min=10, max=5),
            "/fields/0/min",
            "min (10) is more than max (5), so no number can be entered",
        ),
        (
            field("day", "date", min="2026-06-01", max="2026-01-31"),
            "/fields/0/min",
            "min (2026-06-01) is after max (2026-01-31), so no date can be entered",
        ),
        (
            field("at", "datetime", min="2026-01-01T10:00:00+00:00",
                  max="2026-01-01T10:30:00+02:00"),
            "/fields/0/min",
            "min (2026-01-01T10:00:00+00:00) is after max (2026-01-01T10:30:00+02:00), "
            "so no date and time can be entered",
        ),
        (
            field("code", min_length=8, max_length=4),
            "/fields/0/min_length",
            "min_length (8) is more than max_length (4), so no text fits",
        ),
        (
            field("tags", "multiselect", options=["a", "b", "c", "d"], min_items=3, max_items=2),
            "/fields/0/min_items",
            "min_items (3) is more than max_items (2), so no choice fits",
        ),
        (
            field("lines", "table", columns=[field("item")], min_rows=4, max_rows=2),
            "/fields/0/min_rows",
            "min_rows (4) is more than max_rows (2), so no table fits",
        ),
    ],
)  # fmt: skip
def test_smallest_limit_above_the_largest_is_caught(
    bad: dict[str, Any], pointer: str, message: str
) -> None:
    assert problems(bad) == [(pointer, message)]


def test_moments_are_compared_as_moments_not_as_text() -> None:
    # 10:00 in Paris is 09:00 UTC, before 09:30 UTC, though "10" > "09" as text; and
    # 10:30 at UTC+2 is 08:30 UTC, before 10:00 UTC, though "10:30" > "10:00" as text.
    found = problems(
        field("fine", "datetime", min="2026-01-01T10:00:00+01:00", max="2026-01-01T09:30:00Z"),
        field("upside_down", "datetime", min="2026-01-01T10:00:00Z",
              max="2026-01-01T10:30:00+02:00"),
    )  # fmt: skip
    assert [pointer for pointer, _ in found] == ["/fields/1/min"]


def test_min_length_above_the_cap_of_a_text_without_max_length_is_caught() -> None:
    assert problems(field("essay", min_length=600)) == [
        (
            "/fields/0/min_length",
            "min_length (600) is more than the 500 characters a text field takes unless its "
            "max_length says more (up to 20000), so no text fits",
        )
    ]
    assert problems(field("essay", min_length=600, max_length=1000)) == []
    assert problems(field("essay", "textarea", min_length=600)) == []


def test_whole_number_field_with_no_whole_number_in_range_is_caught() -> None:
    assert problems(field("n", "number", integer=True, min=1.2, max=1.8)) == [
        ("/fields/0/min", "no whole number lies between min (1.2) and max (1.8)")
    ]


def test_more_options_required_than_the_field_has_is_caught() -> None:
    assert problems(field("tags", "multiselect", options=["a", "b"], min_items=3)) == [
        ("/fields/0/min_items", "min_items (3) is more than the 2 options, so no choice fits")
    ]


def test_limit_above_the_longest_text_is_a_schema_problem() -> None:
    ((pointer, message),) = problems(field("essay", "textarea", max_length=50_000))
    assert pointer == "/fields/0/max_length"
    assert "at most 20000" in message


def test_only_limits_that_leave_no_room_are_reported() -> None:
    found = problems(
        field("seats", "number", min=1, max=1),
        field("day", "date", min="2026-01-01", max="2026-01-01"),
        field("code", min_length=4, max_length=4),
        field("tags", "multiselect", options=["a", "b"], min_items=2, max_items=2),
        field("n", "number", integer=True, min=0.5, max=1.5),
        field("essay", "textarea", min_length=600),
        field("upside_down", "number", min=2, max=1),
    )
    assert [pointer for pointer, _ in found] == ["/fields/6/min"]


# Limits a field's type does not use ----------------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "pointer", "message"),
    [
        (
            field("name", min=2),
            "/fields/0/min",
            "'min' does nothing on a text field: it applies to number, date and datetime "
            "fields; for the length of a text, use min_length and max_length",
        ),
        (
            field("seats", "number", max_length=3),
            "/fields/0/max_length",
            "'max_length' does nothing on a number field: it applies to text and textarea "
            "fields; for a number, use min and max",
        ),
        (
            field("seats", "number", pattern="^[0-9]+$"),
            "/fields/0/pattern",
            "'pattern' does nothing on a number field: it applies to text and textarea fields",
        ),
        (
            field("day", "date", pattern="^2026"),
            "/fields/0/pattern",
            "'pattern' does nothing on a date field: it applies to text and textarea fields",
        ),
        (
            field("lines", "table", columns=[field("item")], max_items=3),
            "/fields/0/max_items",
            "'max_items' does nothing on a table field: it applies to multiselect fields; "
            "for the rows of a table, use min_rows and max_rows",
        ),
        (
            field("kind", options=["a", "b"]),
            "/fields/0/options",
            "'options' does nothing on a text field: it applies to select, radio and "
            "multiselect fields",
        ),
        (
            field("total", "calculated", expr="1", default=0),
            "/fields/0/default",
            "a calculated field computes its value, so its default is never used",
        ),
    ],
)
def test_limit_on_a_type_that_ignores_it_is_caught(
    bad: dict[str, Any], pointer: str, message: str
) -> None:
    assert problems(bad) == [(pointer, message)]


def test_limit_in_a_table_column_is_checked_too() -> None:
    lines = field("lines", "table", columns=[field("qty", "number", min=5, max=1)])
    assert [pointer for pointer, _ in problems(lines)] == ["/fields/0/columns/0/min"]


# Defaults the field itself would refuse -------------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (field("seats", "number", default="ten"), 'the default "ten" would be refused by this '
         "field: enter a number"),
        (field("seats", "number", max=10, default=12), "the default 12 would be refused by this "
         "field: enter a number of at most 10"),
        (field("seats", "number", integer=True, default=1.5), "the default 1.5 would be refused "
         "by this field: enter a whole number"),
        (field("kind", "select", options=["a", "b"], default="c"), 'the default "c" would be '
         "refused by this field: choose one of the options"),
        (field("kind", "radio", options=[{"value": 1, "label": "One"}], default="1"),
         'the default "1" would be refused by this field: choose one of the options'),
        (field("tags", "multiselect", options=["a", "b"], default=["a", "z"]),
         'the default ["a", "z"] would be refused by this field: choose one of the options'),
        (field("code", pattern="^[A-Z]{3}$", default="abc"), 'the default "abc" would be refused'
         " by this field: this is not in the expected form"),
        (field("code", max_length=3, default="abcd"), 'the default "abcd" would be refused by '
         "this field: enter at most 3 characters (this has 4)"),
        (field("mail", format="email", default="Ann <ann@example.org>"), 'the default "Ann '
         '<ann@example.org>" would be refused by this field: enter the email address alone, '
         "without a name or angle brackets"),
        (field("day", "date", min="2026-01-01", default="2025-12-31"), 'the default '
         '"2025-12-31" would be refused by this field: enter a date on or after 2026-01-01'),
        (field("ok", "checkbox", default="yes"), 'the default "yes" would be refused by this '
         "field: answer yes or no"),
        (field("note", default="a\u0007b"), 'the default "a\\u0007b" would be refused by this '
         "field: this text holds a control character (U+0007); remove it"),
        (field("source", "hidden", default="x" * 501), "the default "
         f'"{"x" * 56}... would be refused by this field: enter at most 500 characters '
         "(this has 501)"),
    ],
)  # fmt: skip
def test_default_the_field_would_refuse_is_caught(bad: dict[str, Any], message: str) -> None:
    assert problems(bad) == [("/fields/0/default", message)]


def test_default_row_of_a_table_is_checked_cell_by_cell() -> None:
    lines = field(
        "lines",
        "table",
        columns=[field("item", required=True), field("qty", "number")],
        default=[{"qty": 1}],
    )
    assert problems(lines) == [
        ("/fields/0/default", 'the default [{"qty": 1}] would be refused by this field: '
         "fill in 'item'")
    ]  # fmt: skip


def test_only_defaults_the_field_refuses_are_reported() -> None:
    found = problems(
        field("seats", "number", integer=True, min=1, max=10, default=2),
        field("kind", "select", options=["a", {"value": 2, "label": "Two"}], default=2),
        field("tags", "multiselect", options=["a", "b"], default=["b"]),
        field("code", pattern="^[A-Z]{3}$", default="ABC"),
        field("mail", format="email", default="desk@example.org"),
        field("day", "date", min="2026-01-01", default="2026-01-01"),
        field("notes", "textarea", default="line one\nline two"),
        field("source", "hidden", default="portal"),
        field("flag", "hidden", default=True),
        field("empty", "number", default=""),
        field("bad", "number", default="2"),
    )
    assert [pointer for pointer, _ in found] == ["/fields/10/default"]


# The one upload limit -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "pointer"),
    [
        (field("shots", "file", max_files=6), "/fields/0/max_files"),
        (field("shots", "file", max_size=10 * 1024 * 1024 + 1), "/fields/0/max_size"),
    ],
)
def test_a_file_field_may_not_promise_more_than_the_one_upload_limit(
    bad: dict[str, Any], pointer: str
) -> None:
    found = problems(bad)
    assert [where for where, _ in found] == [pointer], found


def test_a_file_field_at_the_limit_or_under_it_is_sound() -> None:
    assert problems(field("shots", "file", max_files=5, max_size=10 * 1024 * 1024)) == []
    assert problems(field("shot", "file", max_size=1024)) == []


def test_a_file_field_states_its_size_limit_even_when_it_sets_none() -> None:
    assert file_hint(field("shot", "file")) == "One file, at most 10 MB."
    assert file_hint(field("shots", "file", max_files=2, max_size=2 * 1024 * 1024)) == (
        "Up to 2 files, each at most 2 MB."
    )


def test_files_added_later_follow_the_forms_first_file_field_else_the_one_limit() -> None:
    with_files = Form.from_document({
        "kind": "form", "format": 1, "key": "paged", "title": "Paged",
        "pages": [{"title": "One", "fields": [field("summary")]},
                  {"title": "Two", "fields": [field("logs", "file", max_files=2,
                                                    max_size=1024, accept=["text/plain"])]}],
    })  # fmt: skip
    assert added_files_field(with_files) == {
        "key": "files", "type": "file", "max_files": 2, "max_size": 1024,
        "accept": ["text/plain"],
    }  # fmt: skip
    plain = Form.from_document(form_doc(field("summary")))
    for form in (plain, None):
        rules = added_files_field(form)
        assert (rules["max_files"], rules["max_size"]) == (MAX_FILES, MAX_FILE_SIZE)
        assert file_hint(rules) == (
            "Up to 5 files, each at most 10 MB. Allowed types: PNG, JPEG, GIF, WebP, PDF, text."
        )
