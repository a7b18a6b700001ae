"""Sandboxed expressions: what they refuse, before and while running; what they read and give."""

from __future__ import annotations

from typing import Any

import pytest

from engine.core.errors import ExpressionError
from engine.core.expressions import (
    compile_expression,
    compile_template,
    inspect_expression,
    inspect_template,
    is_template,
)


def context(**data: Any) -> dict[str, Any]:
    """Build what the runtime gives expressions: the fields, plus `data` and `instance`."""
    return {
        **data,
        "data": data,
        "instance": {"number": "INC-000042", "title": "Printer on fire", "status": "active"},
    }


FORBIDDEN_EXPRESSIONS = [
    "x.__class__",
    "''.__class__.__mro__",
    "data['__class__']",
    "data._secret",
    "cycler.__init__",
    "cycler.__init__.__globals__",
    "range(10)",
    "lipsum()",
    "dict(a=1)",
    "namespace()",
    "data.pop('x')",
    "data.update({'a': 1})",
    "data.clear()",
    "[].append(1)",
    "'{0.__class__}'.format(x)",
    "x|attr('__class__')",
    "x|nosuchfilter",
    "x is nosuchtest",
    "'a'|center(100000000)",
    "'%s'|format(x)",
    "[1]|batch(100000000, 0)|list",
    "[1]|slice(100000000)|list",
    "[1, 2]|random",
    "tags|map('upper')|list",
]


@pytest.mark.parametrize("source", FORBIDDEN_EXPRESSIONS)
def test_forbidden_expression_is_reported_before_it_runs(source: str) -> None:
    assert inspect_expression(source).problems


@pytest.mark.parametrize("source", FORBIDDEN_EXPRESSIONS)
def test_forbidden_expression_never_compiles(source: str) -> None:
    with pytest.raises(ExpressionError):
        compile_expression(source)


def test_refused_mutation_leaves_the_data_alone() -> None:
    data = {"x": 1}
    with pytest.raises(ExpressionError):
        compile_expression("data.pop('x')")(context(**data))
    assert data == {"x": 1}


def test_problem_names_the_private_attribute() -> None:
    assert inspect_expression("x.__class__").problems == (
        "'__class__' starts with '_' and cannot be read",
    )


def test_problem_names_the_unknown_filter() -> None:
    assert "there is no filter named 'shout'" in inspect_expression("x|shout").problems


@pytest.mark.parametrize(
    "source",
    [
        "{% import 'secrets.html' as s %}",
        "{% from 'x' import y %}",
        "{% include 'other.html' %}",
        "{% extends 'base.html' %}",
        "{% macro m() %}hi{% endmacro %}",
        "{% set x = 1 %}{{ x }}",
        "{% with y = 2 %}{{ y }}{% endwith %}",
        "{% filter upper %}x{% endfilter %}",
        "{% block b %}{% endblock %}",
        "Hello {{ x.__class__ }}",
        "{{ x|nosuchfilter }}",
        "{% for i in tags %}{{ loop.cycle('a', 'b') }}{% endfor %}",
        "{% if x is nosuchtest %}y{% endif %}",
    ],
)
def test_forbidden_template_is_reported_and_never_compiles(source: str) -> None:
    assert inspect_template(source).problems
    with pytest.raises(ExpressionError):
        compile_template(source)


@pytest.mark.parametrize(
    "source",
    [
        "'a' * 10**9",
        "10**9 * 'a'",
        "[0] * 10**9",
        "[[]] * 10**9",
        "[['a' * 10000] * 1] * 10000",
        "2 ** 100000",
        "2 ** -100000",
        "(10 ** 100) ** 100",
        "((10 ** 100) ** 10) ** 10",
        "1e300 ** 2",
        "'%0999999999d' % 1",
        "'%.999999999f' % 1",
        "('a' * 9999).replace('', 'b' * 9999)",
        "('x' * 9999).join('y' * 9999)",
        "(['a' * 10000, 'b' * 10000] * 5)|join(',')|replace('a', 'aaaaaaaaaa')",
    ],
)
def test_huge_results_are_stopped_before_they_eat_memory(source: str) -> None:
    evaluate = compile_expression(source)
    with pytest.raises(ExpressionError):
        evaluate(context())


def test_template_loop_cannot_build_a_huge_text() -> None:
    render = compile_template("{% for i in 'a' * 10000 %}{{ 'b' * 10000 }}{% endfor %}")
    with pytest.raises(ExpressionError, match="too long"):
        render(context())


def test_deeply_nested_expression_is_a_problem_not_a_crash() -> None:
    source = "(" * 5000 + "1" + ")" * 5000
    assert inspect_expression(source).problems == (
        "the expression is nested too deeply; split it into simpler parts",
    )
    with pytest.raises(ExpressionError, match="nested too deeply"):
        compile_expression(source)


def test_long_chain_is_a_problem_not_a_crash() -> None:
    source = " + ".join(["1"] * 3000)
    assert inspect_expression(source).problems
    with pytest.raises(ExpressionError):
        compile_expression(source)


def test_private_key_built_at_run_time_reads_nothing() -> None:
    # Not visible to the static check; the sandbox itself refuses it.
    assert compile_expression("x['_' ~ '_class__']")(context(x="text")) is None


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("cost < 500 and category == 'hardware'", True),
        ("cost >= 500 or category == 'software'", False),
        ("data.cost + data['cost']", 700),
        ("data.get('category')", "hardware"),
        ("data.get('missing', 'none given')", "none given"),
        ("instance.number", "INC-000042"),
        ("summary.lower().startswith('printer')", True),
        ("summary.split()|length", 3),
        ("tags|join(', ')", "laptop, urgent"),
        ("'laptop' in tags", True),
        ("lines|map(attribute='cost')|sum", 30),
        ("'%.2f' % price", "12.50"),
        ("'%08.2f' % price", "00012.50"),
        ("missing", None),
        ("missing is not defined", True),
        ("missing|default('n/a')", "n/a"),
        ("(reopened or 0) + 1", 1),
        ("'a' * 3", "aaa"),
        ("2 ** 10", 1024),
        ("[0] * 3", [0, 0, 0]),
    ],
)
def test_valid_expression_evaluates_against_the_instance(source: str, expected: Any) -> None:
    data = {
        "cost": 350,
        "price": 12.5,
        "category": "hardware",
        "summary": "Printer on fire",
        "tags": ["laptop", "urgent"],
        "lines": [{"cost": 10}, {"cost": 20}],
    }
    assert compile_expression(source)(context(**data)) == expected


@pytest.mark.parametrize(
    "source", ["'a' + 1", "cost // 0", "missing.attribute", "summary.count()", "'x' * 'y'"]
)
def test_expression_failing_on_the_data_raises_expression_error(source: str) -> None:
    evaluate = compile_expression(source)
    with pytest.raises(ExpressionError, match="could not be evaluated"):
        evaluate(context(cost=1, summary="text"))


def test_expression_that_does_not_parse_is_reported() -> None:
    (problem,) = inspect_expression("cost <").problems
    assert problem.startswith("the expression does not parse")
    assert inspect_expression("cost < 5 }} {{ x").problems
    with pytest.raises(ExpressionError, match="does not parse"):
        compile_expression("cost <")


@pytest.mark.parametrize(
    ("source", "fields"),
    [
        ("cost < 500 and category == 'hardware'", {"cost", "category"}),
        ("data.cost > 1 and data['team'] == 'l2'", {"cost", "team"}),
        ("data.get('team') or 'nobody'", {"team"}),
        ("data.items()|list", set()),
        ("instance.number ~ ': ' ~ summary", {"summary"}),
        ("caller.email.lower()", {"caller"}),
    ],
)
def test_inspection_reports_the_fields_an_expression_reads(source: str, fields: set[str]) -> None:
    inspection = inspect_expression(source)
    assert inspection.problems == ()
    assert inspection.fields == fields


def test_inspection_does_not_take_loop_variables_for_fields() -> None:
    inspection = inspect_template(
        "{% for tag in tags %}{{ loop.index }}. {{ tag|upper }}{% endfor %} for {{ requester }}"
    )
    assert inspection.problems == ()
    assert inspection.fields == {"tags", "requester"}


def test_template_fills_in_fields_and_instance() -> None:
    render = compile_template("Work on {{ instance.number }}: {{ summary }}")
    assert render(context(summary="Printer on fire")) == "Work on INC-000042: Printer on fire"


def test_template_with_condition_and_loop_renders() -> None:
    render = compile_template("{% if vip %}VIP {% endif %}{% for t in tags %}[{{ t }}]{% endfor %}")
    assert render(context(vip=True, tags=["a", "b"])) == "VIP [a][b]"


@pytest.mark.parametrize(
    "text", ["Printer on fire", "Use {braces} freely", "Ticket {#123", "a } and { b", ""]
)
def test_text_without_template_parts_renders_as_is(text: str) -> None:
    assert not is_template(text)
    assert compile_template(text)(context()) == text


def test_template_failing_on_the_data_raises_expression_error() -> None:
    render = compile_template("{{ cost + 'x' }}")
    with pytest.raises(ExpressionError, match="could not be rendered"):
        render(context(cost=1))


@pytest.mark.parametrize(
    ("text", "expected"), [("{{ x }}", True), ("{% if x %}y{% endif %}", True), ("x", False)]
)
def test_is_template_tells_text_with_parts_to_fill_in(text: str, expected: bool) -> None:
    assert is_template(text) is expected


# Simple templates skip Jinja but must render exactly as Jinja does --------------------

SIMPLE_TEMPLATES = [
    (
        "{{ instance.number }} {{ priority }}: {{ summary }}",
        {"instance": {"number": "INC-000001"}, "priority": "P2", "summary": "Printer"},
    ),
    (
        "A {{ missing }} B {{ none }} C {{ count }} D {{ flag }}",
        {"none": None, "count": 3, "flag": True},
    ),
    ("{{ a.b.c }}|{{ a.b }}|{{ x.y }}", {"a": {"b": {}}, "x": 5}),
    ("{{ data.summary }} {{ data.items }}", {"data": {"summary": "s", "items": "field"}}),
    ("<{{ text }}>", {"text": "<b>&</b>"}),
]


@pytest.mark.parametrize(("source", "context"), SIMPLE_TEMPLATES)
def test_simple_templates_render_exactly_as_jinja_does(
    source: str, context: dict[str, Any]
) -> None:
    from engine.core.expressions import environment

    assert compile_template(source)(context) == environment().from_string(source).render(context)
