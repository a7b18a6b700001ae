"""The static checker on what the broken examples in `tests/checker_cases/` do not show well."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from engine.core.checker import References, check_workflow
from engine.core.errors import Problem
from engine.core.fields import FieldInfo

#: Python's way of writing values, which a process owner should never read.
PYTHON_REPR = re.compile(r"[{\[(]'|\b(True|False|None)\b")

FORMS = References(
    forms={
        "incident-report": (
            FieldInfo("summary", "string"),
            FieldInfo("category", "string", ("hardware", "network", "software", "other")),
            FieldInfo("affected_users", "number"),
        ),
        "asset-details": (FieldInfo("asset_tag", "string"),),
        "recovery-report": (
            FieldInfo("restored_at", "datetime"),
            FieldInfo("needs_problem_record", "boolean"),
        ),
    },
    calendars=frozenset({"office"}),
    workflows=frozenset(),
)


def incident(steps: dict[str, Any], first: str = "work", **extra: Any) -> dict[str, Any]:
    """Return an incident workflow reported through the `incident-report` form."""
    return {
        "kind": "workflow",
        "format": 1,
        "key": "it-incident",
        "title": "IT incident",
        "start": {"form": "incident-report", "number_prefix": "INC"},
        "first": first,
        "steps": steps,
        **extra,
    }


def work(**step: Any) -> dict[str, Any]:
    """Return the service desk's task on an incident; `on` or `next` come from `step`."""
    return {"type": "task", "assign": {"group": "service-desk"}, **step}


CLOSED = {"type": "end", "status": "closed"}

SOUND = incident(
    {
        "work": work(
            due="PT8H",
            escalate=[{"after": "PT1H", "do": [{"remind": "assignee"}]}],
            on={"resolved": "closed", "needs_info": "work"},
        ),
        "closed": CLOSED,
    },
    priorities=["P1", "P2"],
)


def broken(*path: str | int, value: Any) -> dict[str, Any]:
    """Return the sound incident workflow with the value at `path` replaced."""
    doc = copy.deepcopy(SOUND)
    node: Any = doc
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return doc


def approval(auto_approve: Any) -> dict[str, Any]:
    return {
        "type": "approval",
        "assign": {"group": "service-desk"},
        "auto_approve": auto_approve,
        "on": {"approved": "closed", "rejected": "closed"},
    }


def test_a_field_filled_in_on_one_branch_of_a_decision_is_known_where_the_branches_meet() -> None:
    steps = {
        "route": {
            "type": "decision",
            "branches": [
                {"when": {"field": "category", "op": "eq", "value": "hardware"}, "next": "asset"}
            ],
            "otherwise": "work",
        },
        "asset": work(title="Which laptop is it?", form="asset-details", next="work"),
        "work": work(title="Fix {{ summary }} on {{ asset_tag or 'no asset' }}", next="closed"),
        "closed": CLOSED,
    }
    without_form = copy.deepcopy(steps)
    del without_form["asset"]["form"]

    assert check_workflow(incident(steps, first="route"), FORMS) == []
    assert [p.pointer for p in check_workflow(incident(without_form, "route"), FORMS)] == [
        "/steps/work/title"
    ]


def recovery(follow_up: dict[str, Any], status_update: dict[str, Any]) -> dict[str, Any]:
    return incident(
        {
            "recover": {
                "type": "parallel",
                "branches": {
                    "restore": {
                        "first": "execute_plan",
                        "steps": {
                            "execute_plan": work(form="recovery-report", next="restored"),
                            "restored": {"type": "end"},
                        },
                    },
                    "communicate": {
                        "first": "status_update",
                        "steps": {"status_update": status_update, "informed": {"type": "end"}},
                    },
                },
                "next": "follow_up",
            },
            "follow_up": follow_up,
            "problem_record": work(title="Find the root cause", next="closed"),
            "closed": CLOSED,
        },
        first="recover",
    )


NEEDS_PROBLEM_RECORD = {"field": "needs_problem_record", "op": "eq", "value": True}


def test_fields_filled_in_inside_a_parallel_branch_are_known_after_the_parallel_step() -> None:
    doc = recovery(
        {
            "type": "decision",
            "branches": [{"when": NEEDS_PROBLEM_RECORD, "next": "problem_record"}],
            "otherwise": "closed",
        },
        work(title="Post a status update", next="informed"),
    )

    assert check_workflow(doc, FORMS) == []


def test_a_branch_cannot_use_what_another_branch_of_the_same_parallel_step_fills_in() -> None:
    doc = recovery(
        {
            "type": "action",
            "notify": {"to": "requester", "template": "recovered"},
            "next": "problem_record",
        },
        {
            "type": "approval",
            "assign": {"group": "communications"},
            "auto_approve": NEEDS_PROBLEM_RECORD,
            "on": {"approved": "informed", "rejected": "informed"},
        },
    )

    (problem,) = check_workflow(doc, FORMS)

    where = "/steps/recover/branches/communicate/steps/status_update/auto_approve/field"
    assert problem.pointer == where
    assert "only step 'execute_plan' fills it in" in problem.message


def test_without_a_start_form_any_field_may_be_given_when_the_instance_starts() -> None:
    decision = {
        "type": "decision",
        "branches": [{"when": "priority == 'P1' and not vip", "next": "work"}],
        "otherwise": "work",
    }
    doc = incident({"route": decision, "work": work(next="closed"), "closed": CLOSED}, "route")
    with_form = copy.deepcopy(doc)
    del doc["start"]

    assert check_workflow(doc, FORMS) == []
    assert {p.message.split(" at ")[0] for p in check_workflow(with_form, FORMS)} == {
        "there is no field 'priority'",
        "there is no field 'vip'",
    }


def test_problems_come_sorted_by_pointer_and_each_only_once() -> None:
    table = {
        "inputs": ["category"],
        "output": "team",
        "rows": [{"when": ["printer"], "then": "desktop-support"}],
        "default": "service-desk",
    }
    lookup = {"type": "action", "set": {"team": {"lookup": "team"}}}
    doc = incident(
        {
            "find_team": {**lookup, "next": "work"},
            "work": work(
                due="3 days",
                escalate=[{"after": "PT4H", "do": [{"goto": "major_incident"}]}],
                on={"resolved": "closed", "reopened": "find_team_again"},
            ),
            "find_team_again": {**lookup, "next": "work"},
            "closed": CLOSED,
        },
        first="find_team",
        tables={"team": table},
    )

    problems = check_workflow(doc, FORMS)

    assert problems == sorted(set(problems))
    assert [p.pointer for p in problems] == [
        "/steps/work/due",
        "/steps/work/escalate/0/do/0/goto",
        "/tables/team/rows/0/when/0",  # read by two lookups, said once
    ]


@pytest.mark.parametrize(
    ("doc", "pointer", "message"),
    [
        pytest.param(
            broken(
                "steps",
                "work",
                "escalate",
                0,
                "do",
                0,
                value={"remind": "assignee", "goto": "closed"},
            ),
            "/steps/work/escalate/0/do/0",
            "can hold only one of 'remind', 'goto'; give each its own entry",
            id="two-actions-in-one-entry",
        ),
        pytest.param(
            broken("steps", "work", "escalate", 0, "repeat", value={"every": "PT1H", "limit": 0}),
            "/steps/work/escalate/0/repeat/limit",
            "must be at least 1, not 0",
            id="a-mistake-deep-inside-a-step",
        ),
        pytest.param(
            broken("steps", "work", "next", value="closed"),
            "/steps/work",
            "use 'next' or 'on', not both",
            id="next-and-on",
        ),
        pytest.param(
            broken("steps", "work", "assign", value={"user": "ann", "group": "desk"}),
            "/steps/work/assign",
            "use 'user' or 'group', not both",
            id="two-assignees",
        ),
        pytest.param(
            broken("priorities", value=["P1", "P2", "P1"]),
            "/priorities",
            'lists "P1" more than once',
            id="priority-twice",
        ),
        pytest.param(
            broken(
                "steps",
                "work",
                "auto_approve",
                value={"field": "category", "op": "eq", "value": "other"},
            ),
            "/steps/work/auto_approve",
            "'auto_approve' is not something this can have; it can have: assign, buttons, "
            "calendar, description, due, escalate, form, instructions, label, next, on, show, "
            "status, title, type",
            id="approval-rule-on-a-task",
        ),
        pytest.param(
            broken(
                "steps",
                "work",
                value=approval({"field": "category", "op": "equals", "value": "other"}),
            ),
            "/steps/work/auto_approve/op",
            '"equals" is not allowed; choose one of "eq", "ne", "lt", "le", "gt", "ge", "in", '
            '"not_in", "contains", "empty", "not_empty"',
            id="misspelled-operator",
        ),
        pytest.param(
            broken(
                "steps",
                "work",
                value=approval({"field": "affected_users", "op": "lt", "value": True}),
            ),
            "/steps/work/auto_approve/value",
            "'affected_users' holds a number, so comparing it with true can never be right",
            id="number-compared-with-yes",
        ),
        pytest.param(
            broken(
                "steps",
                "work",
                value=approval({"field": "category", "op": "in", "value": ["network", 3]}),
            ),
            "/steps/work/auto_approve/value",
            "'category' holds text, so comparing it with 3 can never be right",
            id="text-compared-with-a-number",
        ),
    ],
)
def test_problems_are_said_in_plain_words_at_the_place_to_fix(
    doc: dict[str, Any], pointer: str, message: str
) -> None:
    problems = check_workflow(doc, FORMS)

    assert problems == [Problem(pointer, message)]
    assert not PYTHON_REPR.search(message)


def test_a_step_no_route_leads_to_is_reported_once_not_for_every_field_it_reads() -> None:
    doc = broken(
        "steps",
        "tell_manager",
        value=work(title="{{ summary }} affects {{ affected_users }} people", next="closed"),
    )

    assert check_workflow(doc, FORMS) == [
        Problem("/steps/tell_manager", "no route leads to step 'tell_manager'; it can never run")
    ]


def test_steps_stuck_behind_a_dead_end_are_named_in_one_problem() -> None:
    doc = incident(
        {
            "work": work(on={"resolved": "closed", "vendor": "call_vendor"}),
            "call_vendor": work(title="Call the vendor", next="wait_for_vendor"),
            "wait_for_vendor": {"type": "wait", "for": "P1D", "next": "chase_vendor"},
            "chase_vendor": work(title="Chase the vendor", next="wait_for_vendor"),
            "closed": CLOSED,
        }
    )

    assert check_workflow(doc, FORMS) == [
        Problem(
            "/steps/call_vendor",
            "from step 'call_vendor' there is no way to reach an end, only to 'chase_vendor' "
            "and 'wait_for_vendor'; instances would be stuck there forever",
        )
    ]


@pytest.mark.parametrize(
    ("expression", "words"),
    [
        ("summary|attr('__class__')", "starting with '_' cannot be read"),
        ("instance['_state']", "'_state' starts with '_'"),
        ("cycler.__init__", "'__init__' starts with '_'"),
        ("range(affected_users)|list|length > 10", "only simple text methods"),
        ("lipsum() != summary", "only simple text methods"),
        ("data.clear()", "only simple text methods"),
        ("summary.format(x=1)", "only simple text methods"),
        ("category == 'hardware' and", "the expression does not parse"),
    ],
)
def test_expressions_the_sandbox_would_refuse_are_refused_before_anything_runs(
    expression: str, words: str
) -> None:
    doc = incident(
        {
            "route": {
                "type": "decision",
                "branches": [{"when": expression, "next": "work"}],
                "otherwise": "work",
            },
            "work": work(next="closed"),
            "closed": CLOSED,
        },
        first="route",
    )

    (problem,) = check_workflow(doc, FORMS)

    assert problem.pointer == "/steps/route/branches/0/when"
    assert words in problem.message


@pytest.mark.parametrize(
    "expression",
    [
        "summary.lower().startswith('vpn')",
        "category in ['hardware', 'network'] and affected_users >= 10",
        "data.get('category') == 'other'",
        "summary|upper|length < 200",
    ],
)
def test_ordinary_expressions_pass(expression: str) -> None:
    doc = incident(
        {
            "route": {
                "type": "decision",
                "branches": [{"when": expression, "next": "work"}],
                "otherwise": "work",
            },
            "work": work(next="closed"),
            "closed": CLOSED,
        },
        first="route",
    )

    assert check_workflow(doc, FORMS) == []
