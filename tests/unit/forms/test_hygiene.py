"""What no answer may hold: control characters, broken text, numbers that are not finite,
more than one address in an email field, text past its cap. Each is a field error, never a crash.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from forms.compiler import compile_schema
from forms.definition import MAX_LINE_LENGTH, MAX_TEXTAREA_LENGTH
from forms.validation import Submission, validate
from tests.unit.forms.conftest import field, make


def messages(submission: Submission) -> list[tuple[str, str]]:
    return [(error.field, error.message) for error in submission.errors]


# Control characters and broken text ---------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "code"),
    [("bell\u0007", "0007"), ("nul\x00l", "0000"), ("esc\x1b[31m", "001B"), ("del\x7f", "007F"),
     ("c1\x85", "0085"), ("c1\x9b", "009B")],
)  # fmt: skip
def test_control_character_in_text_is_refused_naming_it(text: str, code: str) -> None:
    form = make(field("summary"), field("details", "textarea"))
    submission = validate(form, {"summary": text, "details": text})

    refused = f"This text holds a control character (U+{code}); remove it"
    assert messages(submission) == [("summary", refused), ("details", refused)]


def test_tab_is_the_one_control_character_text_may_hold() -> None:
    form = make(field("tabbed"), field("belled"))
    assert messages(validate(form, {"tabbed": "a\tb", "belled": "a\ab"})) == [
        ("belled", "This text holds a control character (U+0007); remove it")
    ]


def test_line_breaks_are_kept_in_a_textarea_and_refused_on_one_line() -> None:
    form = make(field("summary"), field("details", "textarea"), field("who", "user"))
    submission = validate(form, {"summary": "a\r\nb", "details": "a\r\nb", "who": "ann\n"})

    assert messages(submission) == [
        ("summary", "This text holds a line break; keep it on one line"),
        ("who", "This text holds a line break; keep it on one line"),
    ]
    assert submission.data["details"] == "a\r\nb"


def test_lone_surrogate_is_refused_naming_it() -> None:
    (error,) = validate(make(field("summary")), {"summary": "half \udc00 a pair"}).errors
    assert error.message == "This text holds a broken character (U+DC00); remove it"


def test_bad_text_in_a_table_cell_is_refused_at_the_cell() -> None:
    form = make(field("lines", "table", columns=[field("item"), field("note", "textarea")]))
    data = {"lines": [{"item": "pen", "note": "a\nb"}, {"item": "ink\x00", "note": "c\x0c"}]}

    assert messages(validate(form, data)) == [
        ("lines.1.item", "This text holds a control character (U+0000); remove it"),
        ("lines.1.note", "This text holds a control character (U+000C); remove it"),
    ]


def test_bad_text_in_a_file_name_is_refused_on_the_file_field() -> None:
    form = make(field("doc", "file"))
    data = {"doc": [{"name": "report\r\n.pdf", "size": 1, "type": "application/pdf"}]}

    assert messages(validate(form, data)) == [
        ("doc", "This text holds a line break; keep it on one line")
    ]


def test_bad_text_in_a_hidden_field_is_refused() -> None:
    form = make(field("source", "hidden", default="portal"))
    assert not validate(form, {"source": "portal\x00"}).ok


# Numbers --------------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["NaN", "Infinity", "-Infinity", "1e9999"])
def test_number_that_is_not_finite_is_refused(raw: str) -> None:
    # Python's json reads all four; JSON Schema's "number" takes them.
    form = make(field("cost", "number", min=0), field("rate", "hidden", default=1.5))
    data = json.loads(f'{{"cost": {raw}, "rate": {raw}}}')

    not_finite = "Enter a finite number (NaN and Infinity are not numbers here)"
    assert messages(validate(form, data)) == [("cost", not_finite), ("rate", not_finite)]


def test_number_that_is_not_finite_is_refused_in_a_table_cell() -> None:
    form = make(field("lines", "table", columns=[field("qty", "number")]))
    data = json.loads('{"lines": [{"qty": 1}, {"qty": NaN}]}')

    assert messages(validate(form, data)) == [
        ("lines.1.qty", "Enter a finite number (NaN and Infinity are not numbers here)")
    ]


def test_calculation_that_overflows_has_no_value() -> None:
    form = make(
        field("a", "number"),
        field("b", "number"),
        field("product", "calculated", expr="a * b"),
    )
    submission = validate(form, {"a": 1e300, "b": 1e300})

    assert submission.ok
    assert "product" not in submission.data


# Email fields ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("Ann Lee <ann@example.org>",
         "Enter the email address alone, without a name or angle brackets"),
        ("<ann@example.org>", "Enter the email address alone, without a name or angle brackets"),
        ("ann@example.org, bob@example.org", "Enter one email address only"),
        ("ann@example.org;bob@example.org", "Enter one email address only"),
        ("ann@example.org bob@example.org", "Enter one email address only"),
        ("ann @example.org", "Enter the email address alone, with no spaces or line breaks"),
        ("ann@example.org\r\nBcc: eve@example.org", "Enter one email address only"),
        ("ann@example.org\r\n", "Enter the email address alone, with no spaces or line breaks"),
        ("ann", "Enter an email address like name@example.org"),
        ("ann@localhost", "Enter an email address like name@example.org"),
        ("ann..lee@example.org", "Enter an email address like name@example.org"),
        ("a" * 250 + "@example.org", "Enter an email address of at most 254 characters"),
    ],
)  # fmt: skip
def test_email_field_takes_exactly_one_address(address: str, message: str) -> None:
    form = make(field("email", "textarea", format="email"))
    assert messages(validate(form, {"email": address})) == [("email", message)]


def test_ordinary_addresses_are_taken_and_a_named_one_is_not() -> None:
    form = make(*(field(f"email{i}", format="email") for i in range(4)))
    data = {
        "email0": "ann@example.org",
        "email1": "ann.lee+it@sub.example.co.uk",
        "email2": "jürgen@münchen.de",
        "email3": "Jürgen <jürgen@münchen.de>",
    }
    assert messages(validate(form, data)) == [
        ("email3", "Enter the email address alone, without a name or angle brackets")
    ]


def test_a_verdict_on_an_address_is_the_same_the_second_time_and_long_texts_are_not_kept() -> None:
    """Verdicts on addresses are remembered (the same ones come again and again); texts longer
    than any address are refused before that, so a flood of them cannot fill the memory."""
    from forms import addresses

    form = make(field("email", format="email"))
    for _ in range(2):
        assert validate(form, {"email": "ann@example.org"}).ok
        assert messages(validate(form, {"email": "ann@localhost"})) == [
            ("email", "Enter an email address like name@example.org")
        ]
    kept = addresses._valid.cache_info().currsize
    for index in range(50):
        validate(form, {"email": f"{index}{'a' * 300}@example.org"})
    assert addresses._valid.cache_info().currsize == kept


# Caps on text ---------------------------------------------------------------------------------


def test_one_line_text_is_capped_even_without_max_length() -> None:
    form = make(field("summary"), field("who", "user"), field("source", "hidden", default="x"))
    ok = "x" * MAX_LINE_LENGTH
    too_long = ok + "x"

    assert validate(form, {"summary": ok, "who": ok, "source": ok}).ok
    assert messages(validate(form, {"summary": too_long, "who": too_long, "source": too_long})) == [
        ("summary", "Enter at most 500 characters (this has 501)"),
        ("who", "Enter at most 500 characters (this has 501)"),
        ("source", "Enter at most 500 characters (this has 501)"),
    ]


def test_textarea_is_capped_even_without_max_length() -> None:
    form = make(field("details", "textarea"))

    assert validate(form, {"details": "x" * MAX_TEXTAREA_LENGTH}).ok
    (error,) = validate(form, {"details": "x" * (MAX_TEXTAREA_LENGTH + 1)}).errors
    assert error.message == "Enter at most 20000 characters (this has 20001)"


def test_max_length_of_the_form_replaces_the_cap() -> None:
    form = make(field("url", max_length=2000, format="url"), field("other_url", format="url"))
    url = "https://example.org/" + "a" * 1500

    assert messages(validate(form, {"url": url, "other_url": url})) == [
        ("other_url", "Enter at most 500 characters (this has 1520)")
    ]


def test_caps_are_stated_in_the_compiled_schema() -> None:
    properties: dict[str, Any] = compile_schema(
        make(field("summary"), field("details", "textarea"), field("code", max_length=8))
    )["properties"]

    assert properties["summary"]["maxLength"] == 500
    assert properties["details"]["maxLength"] == 20_000
    assert properties["code"]["maxLength"] == 8


# Large answers stay cheap -----------------------------------------------------------------------


def test_long_list_of_mixed_values_is_judged_without_comparing_every_pair() -> None:
    """`jsonschema`'s uniqueItems compares every pair of a list it cannot sort (texts and
    numbers mixed): 2 * 10**8 comparisons here, most of a minute. Hashing takes one pass;
    that this finishes is the proof, not a timing."""
    form = make(field("tags", "multiselect", options=["a", "b"]))
    tags = [f"t{i}" if i % 2 else i for i in range(20_000)]  # all different
    submission = validate(form, {"tags": tags})

    assert messages(submission) == [("tags", "Choose one of the options")]


def test_option_chosen_twice_is_caught_among_mixed_values() -> None:
    """Equal as JSON values: 1 and 1.0 are; 1 and "1" are not, nor 1 and true."""
    form = make(field("tags", "multiselect", options=["a", {"value": 1, "label": "One"}, "1"]))

    assert validate(form, {"tags": ["a", 1, "1"]}).ok
    assert messages(validate(form, {"tags": ["a", 1, 1.0]})) == [
        ("tags", "Choose each option only once")
    ]
