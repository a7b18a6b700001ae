"""Forms of thousands of fields: checked, compiled and validated soundly, with no recursion limit.

How fast is for `bench/forms.py` to say; these tests prove the answers stay right at that size,
where the checker used to recurse once per field in a chain and give up.
"""

from __future__ import annotations

from typing import Any

from forms.checker import MAX_NESTING, check_form
from forms.compiler import compile_schema
from forms.definition import Form
from forms.validation import validate
from tests.unit.forms.conftest import field, form_doc
from tests.unit.forms.large import large_answers, large_form

LARGE = large_form(6000)


def chain(count: int) -> list[dict[str, Any]]:
    """Fields each shown only when the one before is answered: one long chain of rules."""
    rest = [
        field(f"f{i}", visible_if={"field": f"f{i - 1}", "op": "not_empty"})
        for i in range(1, count)
    ]
    return [field("f0", "radio", options=["yes", "no"]), *rest]


def test_sound_6000_field_form_checks_compiles_and_validates_clean() -> None:
    form = Form.from_document(LARGE)
    problems = check_form(LARGE)
    schema = compile_schema(form)
    submission = validate(form, large_answers(LARGE))

    assert problems == []
    assert len(schema["properties"]) == len(form.fields)
    assert submission.errors == ()
    assert submission.data["f5"] == 12.5 * 7  # f3 * f4, a calculated field
    assert "f5998" in submission.visible  # the end of the chain of 1,200 follow-on questions


def test_mistakes_in_a_6000_field_form_are_all_reported() -> None:
    doc = large_form(6000)
    fields = doc["pages"][-1]["fields"]
    fields[1]["options"].append("low")  # f5901, an option listed twice
    fields[-1]["visible_if"] = {"field": "f5999", "op": "empty"}  # reads itself
    fields[3]["min"] = 20_000  # f5903: min above its max of 10,000

    assert [(p.pointer, p.message[:40]) for p in check_form(doc)] == [
        ("/pages/59/fields/1/options/5", "the option 'low' is listed twice"),
        ("/pages/59/fields/3/min", "min (20000) is more than max (10000), so"),
        ("/pages/59/fields/99/visible_if", "the rules go round in a circle: 'f5999' "),
    ]


def test_chain_of_6000_rules_is_checked_without_recursing_per_field() -> None:
    fields = chain(6000)
    fields.append(field("loop", visible_if={"field": "f5999", "op": "not_empty"}))
    fields[0]["visible_if"] = {"field": "loop", "op": "not_empty"}  # closes a 6001-field circle

    ((pointer, message),) = [(p.pointer, p.message) for p in check_form(form_doc(*fields))]
    assert pointer == "/fields/0/visible_if"
    assert message.startswith("the rules go round in a circle: 'f0' depends on 'loop', which ")
    assert message.count("which depends on") == 6000


def test_field_never_shown_hides_a_chain_of_6000_after_it() -> None:
    fields = chain(6000)
    fields[1]["visible_if"] = {"field": "f0", "op": "eq", "value": "maybe"}  # not an option

    problems = {p.pointer: p.message for p in check_form(form_doc(*fields))}
    assert len(problems) == 5999
    assert problems["/fields/1/visible_if"] == (
        "'f1' can never be shown: it is shown only when f0 is 'maybe', which is not among "
        "the options of 'f0'"
    )
    assert problems["/fields/5999/visible_if"] == (
        "'f5999' can never be shown: it is shown only when f5998 is filled in, "
        "and 'f5998' can never be shown either"
    )


def test_chain_of_6000_rules_is_validated_in_order() -> None:
    form = Form.from_document(form_doc(*reversed(chain(6000))))  # each reads the one after it
    answers = {f"f{i}": "x" for i in range(1, 6000)}

    assert validate(form, {**answers, "f0": "yes"}).data == {**answers, "f0": "yes"}
    assert validate(form, answers).data == {}  # f0 unanswered hides f1, which hides f2...


def test_form_nested_too_deeply_is_a_problem_not_a_crash() -> None:
    rule: dict[str, Any] = {"field": "a", "op": "empty"}
    for _ in range(500):
        rule = {"not": rule}
    ((pointer, message),) = [
        (p.pointer, p.message)
        for p in check_form(form_doc(field("a"), field("b", visible_if=rule)))
    ]

    assert pointer.startswith("/fields/1/visible_if/not/not/")
    assert message == f"this is nested too deeply (more than {MAX_NESTING} levels); simplify it"


def test_number_that_is_not_finite_in_a_form_is_a_problem_not_a_crash() -> None:
    doc = form_doc(field("n", "number", integer=True, min=float("nan"), max=3))
    assert [(p.pointer, p.message) for p in check_form(doc)] == [
        ("/fields/0/min", "must be a finite number, not NaN or Infinity")
    ]
