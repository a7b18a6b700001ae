"""The static checker on what the broken examples in `tests/checker_cases/` do not show well."""

from __future__ import annotations

import copy
import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import pytest

from engine.catalog import parse_document
from engine.core.checker import References, check_workflow, load_json
from engine.core.errors import Problem
from engine.core.fields import FieldInfo

#: Python's way of writing values, which a process owner should never read.
PYTHON_REPR = re.compile(r"[{\[(]'|\b(True|False|None)\b")

FORMS = References(
    forms={
        "incident-report": (
            FieldInfo("summary", "string", required=True),
            FieldInfo(
                "category", "string", ("hardware", "network", "software", "other"), required=True
            ),
            FieldInfo("affected_users", "number", required=True),
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
        "otherwise": "closed",
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
            "calendar, description, due, escalate, ",
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
            "'affected_users' holds a number, so comparing it with true (yes or no) can never be "
            "right",
            id="number-compared-with-yes",
        ),
        pytest.param(
            broken(
                "steps",
                "work",
                value=approval({"field": "category", "op": "in", "value": ["network", 3]}),
            ),
            "/steps/work/auto_approve/value",
            "'category' holds text, so comparing it with 3 (a number) can never be right",
            id="text-compared-with-a-number",
        ),
    ],
)
def test_problems_are_said_in_plain_words_at_the_place_to_fix(
    doc: dict[str, Any], pointer: str, message: str
) -> None:
    (problem,) = check_workflow(doc, FORMS)

    # The schema's list of properties grows with the language: its start is enough here.
    assert problem.pointer == pointer
    assert problem.message.startswith(message)
    assert not PYTHON_REPR.search(problem.message)


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
                "otherwise": "closed",
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
                "otherwise": "closed",
            },
            "work": work(next="closed"),
            "closed": CLOSED,
        },
        first="route",
    )

    assert check_workflow(doc, FORMS) == []


# JSON text ------------------------------------------------------------------------------------


def test_a_key_given_twice_is_reported_at_its_object_and_the_document_is_still_checked() -> None:
    text = json.dumps(SOUND).replace('"due": "PT8H"', '"due": "PT8H", "due": "8 hours"')

    document = parse_document(Path("it-incident.json"), text)
    problems = document.problems + check_workflow(document.content, FORMS)

    assert document.content["steps"]["work"]["due"] == "8 hours"  # the last one counts
    assert [str(p) for p in problems] == [
        "/steps/work: 'due' is given twice in this object; only the last one would count",
        "/steps/work/due: '8 hours' is not a duration; write it in ISO 8601, like PT30M "
        "(30 minutes), PT4H (4 hours) or P3D (3 days)",
    ]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('{"a": {"b": 1, "b": 2}, "a": 3}', "'a' is given twice in this object"),
        ('[{"x": 1}, {"x": 1, "x": 1}]', "'x' is given twice in this object"),
        ('{"limit": NaN}', "NaN is a number JSON does not have"),
        ('{"limit": -Infinity}', "-Infinity is a number JSON does not have"),
        ("[" * 100_000 + "]" * 100_000, "it is nested too deeply"),
        ('{"a": 1,}', "(line 1, column 8: JSON allows no comma after the last item; remove it)"),
        (
            '{\n  // a note\n  "a": 1}',
            "(line 2, column 3: JSON has no comments; remove the comment)",
        ),
    ],
)
def test_json_text_is_read_as_its_author_meant_it_or_refused_in_words(
    text: str, words: str
) -> None:
    _value, problems = load_json(text)

    assert len(problems) == 1
    assert words in problems[0].message


def test_the_pointer_of_a_key_given_twice_escapes_the_keys_on_its_way() -> None:
    _value, problems = load_json('{"a/b": {"c~d": {"e": 1, "e": 2}}}')

    assert problems == [
        Problem("/a~1b/c~0d", "'e' is given twice in this object; only the last one would count")
    ]


def test_a_name_with_a_line_break_at_its_end_is_refused_and_shown_escaped_on_one_line() -> None:
    steps = {**SOUND["steps"], "closed\n": CLOSED}
    doc = {**SOUND, "key": "it-incident\n", "steps": steps}

    problems = [str(p) for p in check_workflow(doc, FORMS)]

    assert '/key: "it-incident\\n" is not in the expected form' in problems[0]
    assert problems[1].startswith('/steps/closed\\n: "closed\\n" is not in the expected form')
    assert all("\n" not in line for line in problems)


# Groups, users and fields set by a path ----------------------------------------------------------


def test_groups_and_users_are_checked_only_where_they_are_known() -> None:
    doc = broken("steps", "work", "assign", value={"group": "servce-desk"})
    known = References(
        FORMS.forms, FORMS.calendars, FORMS.workflows, groups=frozenset({"service-desk"})
    )

    assert check_workflow(doc, FORMS) == []
    assert check_workflow(doc, known) == [
        Problem(
            "/steps/work/assign/group",
            "there is no group 'servce-desk'; did you mean 'service-desk'?",
        )
    ]


def test_a_field_set_by_a_dotted_path_can_be_read_by_that_path_and_by_its_first_name() -> None:
    steps = {
        "caller": {
            "type": "action",
            "set": {"caller.email": {"value": "ann@example.com"}},
            "next": "route",
        },
        "route": {
            "type": "decision",
            "branches": [
                {"when": {"field": "caller.email", "op": "eq", "value": 5}, "next": "work"},
                {"when": "caller and caller.email.endswith('@example.com')", "next": "work"},
            ],
            "otherwise": "work",
        },
        "work": work(title="Call {{ caller.email }}", next="closed"),
        "closed": CLOSED,
    }

    assert check_workflow(incident(steps, first="caller"), FORMS) == [
        Problem(
            "/steps/route/branches/0/when/value",
            "'caller.email' holds text, so comparing it with 5 (a number) can never be right",
        )
    ]


# The shape of the flow --------------------------------------------------------------------------


def test_automatic_steps_that_reach_one_another_are_one_loop_named_by_its_shortest_round() -> None:
    decide = {"type": "decision", "otherwise": "work"}
    steps = {
        "a": {
            **decide,
            "branches": [{"when": "affected_users > 1", "next": "b"}],
            "otherwise": "c",
        },
        "b": {
            **decide,
            "branches": [{"when": "affected_users > 2", "next": "c"}],
            "otherwise": "a",
        },
        "c": {
            **decide,
            "branches": [{"when": "affected_users > 3", "next": "a"}],
            "otherwise": "b",
        },
        "work": work(next="closed"),
        "closed": CLOSED,
    }
    doc = incident(steps, first="a")
    doc["steps"]["a"]["branches"].append({"when": "affected_users < 1", "next": "work"})

    assert check_workflow(doc, FORMS) == [
        Problem(
            "/steps/a",
            "the steps a -> b -> a loop without waiting for anyone; "
            "add a task or a wait to the loop",
        )
    ]


def test_an_escalation_that_moves_on_does_not_carry_the_form_nobody_filled_in() -> None:
    steps = {
        "work": work(
            form="asset-details",
            escalate=[{"after": "P1D", "do": [{"goto": "chase"}]}],
            next="closed",
        ),
        "chase": work(title="Chase the asset {{ asset_tag }}", next="closed"),
        "closed": CLOSED,
    }

    (problem,) = check_workflow(incident(steps), FORMS)

    assert problem.pointer == "/steps/chase/title"
    assert "there is no field 'asset_tag'" in problem.message


def test_without_a_start_form_only_a_typo_of_a_field_a_step_fills_in_is_reported() -> None:
    steps = {
        "asset": work(form="asset-details", next="route"),
        "route": {
            "type": "decision",
            "branches": [
                {"when": "severity == 'critical' and assset_tag", "next": "critical"},
            ],
            "otherwise": "closed",
        },
        "critical": CLOSED,
        "closed": CLOSED,
    }
    doc = incident(steps, first="asset")
    del doc["start"]

    assert check_workflow(doc, FORMS) == [
        Problem(
            "/steps/route/branches/0/when",
            "no step fills in 'assset_tag', so only the start data could hold it; did you mean "
            "'asset_tag', which step 'asset' fills in?",
        )
    ]
    assert check_workflow(doc) == []  # forms unknown: nothing is known of any field


# Messages ----------------------------------------------------------------------------------------

SHIPPED = dataclasses.replace(FORMS, templates=frozenset({"reminder", "request-declined"}))


def told(**extra: Any) -> dict[str, Any]:
    """An incident whose desk task is escalated to a lead, and whose breach tells the desk."""
    rung = {"after": "PT1H", "do": [{"notify": {"to": {"group": "leads"}, "template": "late"}}]}
    breach = {"notify": {"to": {"group": "service-desk"}, "template": "latte"}}
    return incident(
        {"work": work(next="closed", escalate=[rung]), "closed": CLOSED},
        sla={
            "targets_by": "category",
            "targets": {"hardware": {"resolution": "PT4H"}},
            "on_breach": [breach],
        },
        **extra,
    )


LATE = {"subject": "{{ instance.number }} is late", "body": "{{ summary }}: {{ tasks | length }}"}


def test_a_notify_names_a_message_of_its_own_a_shipped_one_or_is_refused_with_the_nearest() -> None:
    doc = told(messages={"late": LATE})
    doc["sla"]["on_breach"].append({"notify": {"to": "requester", "template": "reminder"}})

    problems = check_workflow(doc, SHIPPED)

    assert problems == [
        Problem(
            "/sla/on_breach/0/notify/template",
            "there is no message 'latte'; did you mean 'late'? This workflow's own "
            "messages: late; the messages that ship with Flowdesk: reminder, request-declined",
        )
    ]


def test_message_names_are_not_checked_where_the_shipped_ones_are_unknown() -> None:
    assert check_workflow(told(messages={"late": LATE}), FORMS) == []


def test_a_message_of_a_workflows_own_is_checked_like_a_title_and_must_be_sent() -> None:
    messages = {
        "late": {"subject": "{{ instance.number }} {% set x = 1 %}", "body": "{{ sumary }}"},
        "latte": LATE,
        "unsent": LATE,
    }

    problems = check_workflow(told(messages=messages), SHIPPED)

    assert [(p.pointer, p.message) for p in problems] == [
        (
            "/messages/late/body",
            "there is no field 'sumary' at this point of the flow; did you mean 'summary'?",
        ),
        (
            "/messages/late/subject",
            "{% set %} is not allowed here: only {{ ... }}, {% if %} and {% for %}",
        ),
        (
            "/messages/unsent",
            "no notify sends the message 'unsent', so it is never sent; name it in a "
            'notify\'s "template", or remove it',
        ),
    ]


def test_the_shipped_templates_the_checker_knows_are_the_ones_the_relay_renders() -> None:
    from engine.catalog import shipped_templates
    from engine.jobs.mail import TEMPLATES

    names = {path.name.split(".")[0] for path in TEMPLATES.glob("*.body.txt")}

    assert shipped_templates() == names
    assert {"reminder", "request-declined", "notification"} <= names


def test_a_message_may_not_take_the_name_of_the_bells_mail() -> None:
    from engine.service.notifications import MAIL_TEMPLATE

    doc = told(messages={"late": LATE, "latte": LATE, MAIL_TEMPLATE: LATE})
    doc["steps"]["work"]["escalate"][0]["do"][0]["notify"]["template"] = MAIL_TEMPLATE
    doc["steps"]["work"]["escalate"].append(
        {"after": "PT2H", "do": [{"notify": {"to": "assignee", "template": "late"}}]}
    )

    [problem] = check_workflow(doc, SHIPPED)

    assert problem.pointer == f"/messages/{MAIL_TEMPLATE}"
    assert problem.message.startswith(
        "'notification' is the mail Flowdesk sends itself for the bell's notifications"
    )


def test_a_reminder_of_a_workflows_own_is_sent_by_its_remind_actions() -> None:
    doc = told(messages={"late": LATE, "latte": LATE, "reminder": LATE})
    assert check_workflow(doc, SHIPPED) == [
        Problem(
            "/messages/reminder",
            "no notify sends the message 'reminder', so it is never sent; name it in a "
            'notify\'s "template", or remove it',
        )
    ]

    doc["sla"]["on_breach"].append({"remind": "assignee"})

    assert check_workflow(doc, SHIPPED) == []


def banded(*rows: list[Any]) -> dict[str, Any]:
    """The incident workflow with a table of `affected_users` bands, looked up first."""
    table = {
        "inputs": ["affected_users"],
        "output": "reach",
        "rows": [{"when": cells, "then": f"band {i + 1}"} for i, cells in enumerate(rows)],
    }
    steps = {
        "reach": {"type": "action", "set": {"reach": {"lookup": "reach"}}, "next": "work"},
        "work": work(on={"resolved": "closed", "needs_info": "work"}),
        "closed": CLOSED,
    }
    return incident(steps, first="reach", tables={"reach": table})


@pytest.mark.parametrize(
    ("earlier", "later", "hidden"),
    [
        ({"ge": 10, "lt": 100}, {"ge": 20, "le": 99}, True),
        ({"ge": 10, "lt": 100}, {"ge": 10, "lt": 100}, True),
        ({"ge": 10}, 500, True),
        ({"ge": 10}, [10, 11], True),
        ({"gt": 10}, {"ge": 10, "lt": 20}, False),  # 10 itself is left to the later row
        ({"lt": 100}, {"le": 100}, False),
        ({"ge": 10, "lt": 100}, {"ge": 50}, False),
        ([10, 20], {"ge": 10, "le": 10}, False),  # a list is not read as a range
        ({"ge": 10}, 5, False),
    ],
)
def test_a_range_row_is_hidden_only_when_an_earlier_range_holds_all_it_matches(
    earlier: Any, later: Any, hidden: bool
) -> None:
    problems = [p.message for p in check_workflow(banded([earlier], [later]), FORMS)]
    said = "this row can never be used: row 1 above it matches everything this one does"
    assert any(said in message for message in problems) is hidden, problems


def opening_a_problem(**action: Any) -> dict[str, Any]:
    """The sound incident workflow, with an action opening a problem before it closes."""
    steps = {
        "work": work(next="record"),
        "record": {"type": "action", "next": "closed", **action},
        "closed": CLOSED,
    }
    return incident(steps)


def test_an_action_may_do_nothing_but_open_a_problem_which_needs_the_problem_workflow() -> None:
    known = dataclasses.replace(FORMS, workflows=frozenset({"problem"}))
    assert check_workflow(opening_a_problem(open_problem=True), known) == []

    [problem] = check_workflow(opening_a_problem(open_problem=True), FORMS)
    assert problem.pointer == "/steps/record/open_problem"
    assert "there is no workflow 'problem' to open a problem with" in problem.message

    [empty] = check_workflow(opening_a_problem(), known)
    assert empty.pointer == "/steps/record"
    assert "open_problem" in empty.message
    [odd] = check_workflow(opening_a_problem(open_problem="yes"), known)
    assert odd.pointer == "/steps/record/open_problem"


def test_the_start_forms_service_field_names_a_service_field_of_it() -> None:
    fields = (
        *(FORMS.forms or {})["incident-report"],
        FieldInfo("down", "string", form_type="service"),
    )
    known = dataclasses.replace(FORMS, forms={**(FORMS.forms or {}), "incident-report": fields})

    def started(service: str) -> dict[str, Any]:
        doc = copy.deepcopy(SOUND)
        doc["start"]["service"] = service
        return doc

    assert check_workflow(started("down"), known) == []
    [typo] = check_workflow(started("dwn"), known)
    assert (typo.pointer, typo.message) == (
        "/start/service",
        "the start form 'incident-report' has no field 'dwn'; its service fields are: down",
    )
    [text] = check_workflow(started("summary"), known)
    assert text.message.startswith("'summary' of the start form is not a service field")


def test_a_problem_does_not_open_a_problem_and_a_service_field_is_no_address() -> None:
    known = dataclasses.replace(FORMS, workflows=frozenset({"problem"}))
    itself = {**opening_a_problem(open_problem=True), "key": "problem"}
    [loop] = check_workflow(itself, known)
    assert loop.pointer == "/steps/record/open_problem"
    assert loop.message.startswith("a problem does not open a problem")

    fields = (
        *(FORMS.forms or {})["incident-report"],
        FieldInfo("down", "string", form_type="service"),
    )
    forms = dataclasses.replace(FORMS, forms={**(FORMS.forms or {}), "incident-report": fields})
    doc = copy.deepcopy(SOUND)
    doc["start"]["confirm_to"] = "down"
    [address] = check_workflow(doc, forms)
    assert address.pointer == "/start/confirm_to"
    assert "holds a service of the catalogue, not an email address" in address.message


@pytest.mark.parametrize(
    "chain",
    [
        "+".join(["1"] * 500),
        "summary" + ".a" * 600,
        "summary" + "[0]" * 500,
        "-" * 600 + "1",
        "affected_users" + " * 2" * 300,
    ],
    ids=["sum", "dots", "items", "negations", "products"],
)
@pytest.mark.parametrize("where", ["expr", "title"])
def test_an_expression_nested_past_the_limit_is_a_problem_where_it_is_not_a_crash(
    chain: str, where: str
) -> None:
    """A chain of 500 terms fits the 2,000 characters an expression may have; following it
    by recursion crashed the checker (every door answered 500, and a saved draft's designer
    page failed for good)."""
    if where == "expr":
        step = {"type": "action", "set": {"y": {"expr": chain}}, "next": "done"}
        pointer = "/steps/a/set/y/expr"
    else:
        step = {**work(next="done"), "title": "{{ " + chain + " }}"}
        pointer = "/steps/a/title"
    doc = incident({"a": step, "done": {"type": "end"}}, first="a")

    problems = check_workflow(doc, FORMS)

    assert [(p.pointer, p.message) for p in problems] == [
        (pointer, "the expression is nested too deeply; split it into simpler parts")
    ]


def test_more_automatic_steps_in_a_row_than_an_instance_passes_at_once_is_a_problem() -> None:
    """2,000 actions one after another published, and every instance stopped at the
    1,000th ("it may be going round in a loop")."""
    steps: dict[str, Any] = {
        f"s{n}": {"type": "action", "set": {"n": {"value": n}}, "next": f"s{n + 1}"}
        for n in range(1200)
    }
    steps["s1200"] = {"type": "end"}

    problems = check_workflow(incident(steps, first="s0"), FORMS)

    assert [p.pointer for p in problems] == ["/steps/s0"]
    assert problems[0].message.startswith(
        "1200 automatic steps follow one another from here; an instance passes at most 1000"
    )
    steps["s600"] = {**work(next="s601")}
    assert check_workflow(incident(steps, first="s0"), FORMS) == []  # a task between them


def amount_table(*rows: Any, **extra: Any) -> dict[str, Any]:
    table = {"inputs": ["affected_users"], "output": "level", "rows": list(rows), **extra}
    steps = {
        "size": {"type": "action", "set": {"level": {"lookup": "level"}}, "next": "done"},
        "done": {"type": "end"},
    }
    return incident(steps, first="size", tables={"level": table})


@pytest.mark.parametrize(
    ("rows", "said"),
    [
        ([[{"lt": 5000}], [{"gt": 5000}]], "of exactly 5000"),
        ([[{"lt": 100}], [{"ge": 200}]], "from 100 below 200"),
        ([[{"le": 100}], [{"gt": 200}]], "above 100 up to 200"),
        ([[{"lt": 10}], [10], [{"gt": 10, "le": 50}], [{"gt": 60}]], "above 50 up to 60"),
    ],
)
def test_a_number_no_row_matches_between_two_rows_is_a_problem_when_no_default_takes_it(
    rows: list[list[Any]], said: str
) -> None:
    """A newcomer's amount table: `lt 5000` then `gt 5000`, no default. 5000 got nothing,
    and the finance review the lookup decided was skipped."""
    doc = amount_table(*({"when": cells, "then": "x"} for cells in rows))

    problems = check_workflow(doc, FORMS)

    assert [(p.pointer, p.message.split(", and")[0]) for p in problems] == [
        ("/tables/level/rows", f"no row matches affected_users {said}")
    ]


@pytest.mark.parametrize(
    "rows",
    [
        [[{"lt": 5000}], [{"ge": 5000}]],  # the bands meet
        [[{"ge": 0, "lt": 500}], [{"ge": 500}]],  # below 0 is the form's to keep out
        [[{"lt": 10}], ["-"]],  # a catch-all
        [[{"lt": 10}], [{"gt": 20}], [{"ge": 5, "le": 25}]],  # a later row fills the hole
    ],
)
def test_rows_that_meet_leave_no_gap(rows: list[list[Any]]) -> None:
    doc = amount_table(*({"when": cells, "then": "x"} for cells in rows))
    assert check_workflow(doc, FORMS) == []
    gap = amount_table({"when": [{"lt": 1}], "then": "x"}, {"when": [{"gt": 1}], "then": "y"})
    assert (
        check_workflow(
            {**gap, "tables": {"level": {**gap["tables"]["level"], "default": "z"}}}, FORMS
        )
        == []
    )
