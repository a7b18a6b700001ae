"""The checker counts a field as filled in where the service surely fills it in.

A form sent with an outcome holds a field it requires on that outcome (`required_if`
on `outcome`), and any field with a default; the routes of other outcomes may lack it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine.catalog import Catalog, Document
from engine.core.checker.outcomes import form_field_outcomes, holds_on
from engine.core.fields import EVERY_OUTCOME, NO_OUTCOME, Outcomes

OUTCOMES = ("resolved", "fixed", "needs_info")


def named(outcomes: Outcomes) -> set[str]:
    return {name for name in OUTCOMES if name in outcomes}


@pytest.mark.parametrize(
    ("rule", "holds", "fails"),
    [
        ("outcome == 'resolved'", {"resolved"}, {"fixed", "needs_info"}),
        ("'resolved' == outcome", {"resolved"}, {"fixed", "needs_info"}),
        ("outcome != 'resolved'", {"fixed", "needs_info"}, {"resolved"}),
        ("outcome in ['resolved', 'fixed']", {"resolved", "fixed"}, {"needs_info"}),
        ("outcome not in ('needs_info',)", {"resolved", "fixed"}, {"needs_info"}),
        ("outcome == 'resolved' or outcome == 'fixed'", {"resolved", "fixed"}, {"needs_info"}),
        ("not (outcome == 'needs_info')", {"resolved", "fixed"}, {"needs_info"}),
        ("outcome == 'resolved' and impact == 'high'", set(), {"fixed", "needs_info"}),
        ("outcome == 'resolved' or impact == 'high'", {"resolved"}, set()),
        ("outcome in 'resolved'", set(), set()),  # inside a text: not worked out
        ("impact == 'high'", set(), set()),
        ("outcome ==", set(), set()),
        ({"any": ["outcome == 'resolved'", {"all": ["outcome == 'fixed'"]}]},
         {"resolved", "fixed"}, {"needs_info"}),
        ({"not": "outcome == 'resolved'"}, {"fixed", "needs_info"}, {"resolved"}),
        # A structured comparison reads the answers, never the outcome chosen.
        ({"field": "outcome", "op": "eq", "value": "resolved"}, set(), set()),
    ],
)  # fmt: skip
def test_a_rule_is_worked_out_on_the_outcome_as_far_as_it_can_be(
    rule: Any, holds: set[str], fails: set[str]
) -> None:
    surely, never = holds_on(rule)

    assert (named(surely), named(never)) == (holds, fails)


@pytest.mark.parametrize(
    ("field", "filled"),
    [
        ({"type": "number", "default": 0}, set(OUTCOMES)),
        ({"type": "checkbox", "default": False}, set(OUTCOMES)),
        ({"type": "text", "default": ""}, set()),  # an empty default is no default
        ({"type": "text", "required": True}, set(OUTCOMES)),
        ({"type": "text", "required_if": "outcome == 'fixed'"}, {"fixed"}),
        ({"type": "number", "default": 0, "visible_if": {"field": "a", "op": "eq", "value": 1}},
         set()),
        ({"type": "text", "required": True, "visible_if": "outcome != 'needs_info'"},
         {"resolved", "fixed"}),
    ],
)  # fmt: skip
def test_a_sent_form_surely_holds_a_field_it_shows_and_requires_or_defaults(
    field: dict[str, Any], filled: set[str]
) -> None:
    _shown, surely = form_field_outcomes({"key": "x", "label": "X", **field})

    assert named(surely) == filled


def test_a_start_form_has_no_outcome_so_only_rules_true_for_any_other_count() -> None:
    assert None in EVERY_OUTCOME
    assert None not in NO_OUTCOME
    assert None in holds_on("outcome != 'resolved'")[0]
    assert None not in holds_on("outcome == 'resolved'")[0]


def check(required_if: str, on: dict[str, Any]) -> list[str]:
    """Check a task whose form requires `resolution` by this rule, read after its outcomes."""
    form = {
        "kind": "form", "format": 1, "key": "resolve", "title": "Resolve",
        "fields": [{"key": "resolution", "type": "text", "label": "Resolution",
                    "required_if": required_if}],
    }  # fmt: skip
    steps: dict[str, Any] = {
        "work": {"type": "task", "assign": {"group": "desk"}, "form": "resolve", **on},
        "confirm": {"type": "task", "title": "{{ resolution.strip() }}", "next": "closed"},
        "closed": {"type": "end"},
    }
    if "other" in on.get("on", {}).values():
        steps["other"] = {"type": "end"}
    report = {
        "kind": "form", "format": 1, "key": "report", "title": "Report",
        "fields": [{"key": "summary", "type": "text", "label": "Summary", "required": True}],
    }  # fmt: skip
    workflow = {
        "kind": "workflow", "format": 1, "key": "incident", "title": "Incident",
        "first": "work", "start": {"form": "report"}, "steps": steps,
    }  # fmt: skip
    docs = [
        Document(Path("resolve.json"), form),
        Document(Path("report.json"), report),
        Document(Path("incident.json"), workflow),
    ]
    return [problem.problem.pointer for problem in Catalog(docs).check()]


def test_a_field_required_on_the_outcome_is_filled_in_on_that_outcomes_route_only() -> None:
    rule = "outcome == 'resolved'"

    assert check(rule, {"on": {"resolved": "confirm", "needs_info": "other"}}) == []
    assert check(rule, {"on": {"resolved": "confirm", "fixed": "confirm"}}) == [
        "/steps/confirm/title"
    ]
    both = {"on": {"resolved": "confirm", "fixed": "confirm"}}
    assert check("outcome in ['resolved', 'fixed']", both) == []


def test_a_field_required_on_the_one_outcome_of_a_task_with_next_is_always_filled_in() -> None:
    assert check("outcome == 'done'", {"next": "confirm"}) == []
    assert check("outcome == 'resolved'", {"next": "confirm"}) == ["/steps/confirm/title"]


def test_an_escalation_that_completes_the_step_carries_no_form_so_no_required_field() -> None:
    ladder = {"escalate": [{"after": "P1D", "do": [{"complete": "resolved"}]}]}
    on = {"on": {"resolved": "confirm", "needs_info": "other"}, **ladder}

    assert check("outcome == 'resolved'", on) == ["/steps/confirm/title"]
