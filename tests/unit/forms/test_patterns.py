"""Patterns run on RE2: no answer can make one slow, and the checker refuses what RE2 cannot run."""

from __future__ import annotations

from typing import Any

import pytest

from forms.checker import check_form
from forms.patterns import MAX_PATTERN_SIZE, matches
from forms.validation import validate, validator_of
from tests.unit.forms.conftest import field, form_doc, make

#: Patterns that take a backtracking engine (Python's `re`, a browser's) exponential time on
#: a long answer that almost matches.
CATASTROPHIC = [
    (r"^(a+)+$", "a" * 100_000 + "!"),
    (r"(x+x+)+y", "x" * 100_000),
    (r"^(\w+\s?)*$", "word " * 20_000 + "!"),
    (r"^(a|aa)+$", "a" * 100_000 + "b"),
]


@pytest.mark.parametrize(("pattern", "text"), CATASTROPHIC)
def test_catastrophic_pattern_on_100_kb_answers_at_once(pattern: str, text: str) -> None:
    """RE2 answers in time linear in the text: this finishes within milliseconds.

    A backtracking engine needs about 2**100000 steps for the same answer: years. The test
    states no time limit (the bench does, `bench/forms.py`); that it finishes is the proof.
    """
    assert not matches(pattern, text)


def test_catastrophic_pattern_in_a_form_refuses_a_long_answer_in_words() -> None:
    """The same through validation: the answer is refused, the server never stalls."""
    form = make(field("code", "textarea", pattern=r"^(a+)+$", help="Only the letter a."))
    (error,) = validate(form, {"code": "a" * 19_999 + "!"}).errors

    assert error.message == "This is not in the expected form: Only the letter a."


def test_digits_in_a_pattern_are_0_to_9_as_in_browsers() -> None:
    # Python's `re` reads \d as any Unicode digit: "١٢٣" (Arabic-Indic) would pass.
    form = make(field("code", pattern=r"^\d{3}$"), field("room", pattern=r"\d"))

    assert validate(form, {"code": "123", "room": "room 42"}).ok  # found anywhere, unanchored
    assert [e.field for e in validate(form, {"code": "١٢٣", "room": "room ٤٢"}).errors] == [
        "code",
        "room",
    ]


def test_end_of_text_means_the_very_end() -> None:
    # Python's `re` lets `$` match before a final line break: "ABC\n" would pass.
    form = make(field("code", "textarea", pattern="^[A-Z]{3}$"))

    assert validate(form, {"code": "ABC"}).ok
    assert validate(form, {"code": "ABC\n"}).errors[0].message == "This is not in the expected form"


def test_compiled_schema_validator_matches_patterns_with_re2() -> None:
    check = validator_of(make(field("code", pattern=r"^\p{Greek}+$")))

    assert check.is_valid({"code": "αβγ"})
    assert not check.is_valid({"code": "abc"})


def test_text_with_a_lone_surrogate_matches_no_pattern_and_raises_nothing() -> None:
    form = make(field("code", pattern="a"))
    (error,) = validate(form, {"code": "a\ud800"}).errors

    assert error.message == "This text holds a broken character (U+D800); remove it"


# What the checker says about a pattern -------------------------------------------------------


def pattern_problems(pattern: str) -> list[tuple[str, str]]:
    doc = form_doc(field("code", pattern=pattern))
    return [(p.pointer, p.message) for p in check_form(doc)]


@pytest.mark.parametrize(
    ("pattern", "feature"),
    [
        (r"^(\d)\1$", r"a back-reference '\1'"),
        (r"^(?P<x>a)(?P=x)$", "a back-reference by name '(?P=...)'"),
        (r"^\k<x>$", r"a back-reference by name '\k<...>'"),
        (r"^(?=.*\d).{8,}$", "a look-ahead '(?=...)'"),
        (r"^(?!admin).*$", "a negative look-ahead '(?!...)'"),
        (r"(?<=€)\d+", "a look-behind '(?<=...)'"),
        (r"(?<!-)\d+", "a negative look-behind '(?<!...)'"),
        (r"^(?>a+)b$", "an atomic group '(?>...)'"),
        (r"^a++b$", "a possessive repetition '++'"),
        (r"^\u00e9$", r"a '\u' escape (write the character itself instead)"),
    ],
)
def test_pattern_re2_cannot_run_is_refused_naming_what_it_uses(pattern: str, feature: str) -> None:
    assert pattern_problems(pattern) == [
        (
            "/fields/0/pattern",
            f"the pattern uses {feature}, which Flowdesk's pattern engine (RE2) does not "
            "support; rewrite the pattern without it",
        )
    ]


@pytest.mark.parametrize(
    ("pattern", "mistake"),
    [
        ("^(ab$", "an opening '(' without its closing ')'"),
        ("^ab)$", "a closing ')' without its opening '('"),
        ("^[ab$", "an opening '[' without its closing ']'"),
        ("^[z-a]$", "the range 'z-a', which goes backwards"),
        ("*a", "a '*' with nothing before it to repeat"),
        ("ab\\", "a '\\' at the very end, with nothing after it to escape"),
    ],
)
def test_malformed_pattern_is_refused_saying_what_is_wrong(pattern: str, mistake: str) -> None:
    assert pattern_problems(pattern) == [
        ("/fields/0/pattern", f"the pattern is not a valid regular expression: it has {mistake}")
    ]


def test_pattern_that_counts_past_1000_is_refused() -> None:
    ((pointer, message),) = pattern_problems("^a{1001}$")
    assert pointer == "/fields/0/pattern"
    assert message.startswith("the pattern repeats too far ('{1001}')")


def test_pattern_too_large_to_run_quickly_is_refused() -> None:
    ((pointer, message),) = pattern_problems("(?:a.{900}|b.{900})c")
    assert pointer == "/fields/0/pattern"
    assert message.startswith("the pattern is too large to check quickly: it takes")
    assert f"at most {MAX_PATTERN_SIZE} are allowed" in message


def test_pattern_with_a_lone_surrogate_is_refused_not_a_crash() -> None:
    assert pattern_problems("a\ud800") == [
        ("/fields/0/pattern", "the pattern holds a broken character (U+D800); remove it")
    ]


def test_patterns_re2_runs_are_accepted_in_its_syntax() -> None:
    doc = form_doc(
        field("phone", pattern=r"^\d{3}-\d{4}$"),
        field("iban", pattern=r"^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$"),
        field("name", pattern=r"^\p{Lu}"),  # a capital in any script: RE2, not Python's re
        field("short", pattern="^.{1,500}$"),
        field("anything", pattern=""),
    )
    assert check_form(doc) == []


def test_pattern_over_1000_characters_is_refused() -> None:
    problems: list[Any] = pattern_problems("a" * 1001)
    assert [pointer for pointer, _ in problems] == ["/fields/0/pattern"]
