"""The checker says what a newcomer wrote in words they know, and what to write instead."""

from __future__ import annotations

from typing import Any

import pytest

from engine.core.checker import References, check_workflow
from engine.core.checker.kinds import kind_of_expression
from engine.core.fields import FieldInfo


@pytest.mark.parametrize(
    ("source", "kind"),
    [
        ("[manager, cab_lead]", "list"),
        ("approvers | length", "number"),
        ("cost - refund", "number"),
        ("cost > 100 and vip", "any"),
        ("cost > 100", "boolean"),
        ("not vip", "boolean"),
        ("summary ~ '!'", "any"),  # text may be a date: taken for anything
        ("instance.started_at", "any"),
        ("manager", "any"),
        ("(reopened or 0) + 1", "any"),
        ("this does not parse (", "any"),
    ],
)
def test_an_expression_set_in_a_field_gives_what_its_words_say(source: str, kind: str) -> None:
    assert kind_of_expression(source) == kind


def workflow(steps: dict[str, Any], first: str) -> dict[str, Any]:
    return {
        "kind": "workflow", "format": 1, "key": "k", "title": "T",
        "start": {"form": "start"}, "first": first,
        "steps": {**steps, "done": {"type": "end"}},
    }  # fmt: skip


START = References(
    forms={
        "start": (
            FieldInfo("summary", "string", required=True),
            FieldInfo("downtime", "number"),
            FieldInfo("manager", "string", required=True, form_type="user"),
        )
    },
    calendars=frozenset(),
    workflows=frozenset(),
)


def decide(condition: str) -> dict[str, Any]:
    route = {
        "type": "decision",
        "branches": [{"when": condition, "next": "work"}],
        "otherwise": "done",
    }
    work = {"type": "task", "assign": {"group": "desk"}, "next": "done"}
    return workflow({"route": route, "work": work}, "route")


@pytest.mark.parametrize(
    ("condition", "name"), [("(downtime | round) > 60", "round"), ("downtime | int > 60", "int")]
)
def test_a_filter_that_fails_on_a_missing_field_is_reported(condition: str, name: str) -> None:
    (problem,) = check_workflow(decide(condition), START)

    assert problem.pointer == "/steps/route/branches/0/when"
    assert problem.message == (
        "'downtime' may not be filled in here (the start form does not require it), and "
        f"{name} on a missing field fails when an instance gets here; "
        f"write (downtime or 0) | {name}"
    )


@pytest.mark.parametrize(
    "condition",
    ["(downtime | length) > 0", "((downtime or 0) | round) > 60", "downtime | default(0) | int > 1",
     "summary | lower == 'x'"],
)  # fmt: skip
def test_a_filter_that_takes_a_missing_field_for_empty_is_not_reported(condition: str) -> None:
    assert check_workflow(decide(condition), START) == []


@pytest.mark.parametrize(
    "condition",
    [
        "downtime > 60 and summary",  # used, not tested: it fails first
        "downtime == none and downtime > 60",
        "downtime or downtime > 60",  # a missing downtime goes on to the comparison
        "summary and downtime > 60",
        "downtime != 5 and downtime > 60",
        "(downtime is defined or summary) and downtime > 60",
    ],
)
def test_a_field_used_before_anything_tests_it_is_reported(condition: str) -> None:
    (problem,) = check_workflow(decide(condition), START)

    assert problem.message.startswith("'downtime' may not be filled in here")


@pytest.mark.parametrize(
    "condition",
    [
        "downtime and downtime > 60",
        "downtime is defined and downtime > 60",
        "downtime is not none and downtime > 60",
        "downtime != none and downtime > 60",
        "downtime == none or downtime > 60",
        "not downtime or downtime > 60",
        "downtime in [30, 90] and downtime > 60",
        "downtime == 90 and downtime > 60",
        "(downtime and summary) and downtime > 60",
        "(downtime if downtime else 0) > 60",
    ],
)
def test_a_field_tested_before_it_is_used_is_not_reported(condition: str) -> None:
    assert check_workflow(decide(condition), START) == []


def notify(to: dict[str, str]) -> dict[str, Any]:
    tell = {"type": "action", "notify": {"to": to, "template": "t"}, "next": "done"}
    return workflow({"tell": tell}, "tell")


def test_a_user_field_is_no_email_address() -> None:
    (problem,) = check_workflow(notify({"email": "{{ manager }}"}), START)

    assert problem.pointer == "/steps/tell/notify/to/email"
    assert problem.message == (
        "'manager' holds a user name, not an email address; to send to that user, "
        'write {"user": "{{ manager }}"}'
    )
    assert check_workflow(notify({"user": "{{ manager }}"}), START) == []


def test_a_list_an_expression_builds_is_no_user_name() -> None:
    doc = notify({"user": "{{ approvers }}"})
    doc["steps"]["pick"] = {
        "type": "action",
        "set": {"approvers": {"expr": "[manager, manager]"}},
        "next": "tell",
    }
    doc["first"] = "pick"

    (problem,) = check_workflow(doc, START)

    assert problem.pointer == "/steps/tell/notify/to/user"
    assert problem.message == "'approvers' holds a list, but a user name is needed here"


@pytest.mark.parametrize(
    ("source", "hint"),
    [
        ("len(summary) > 5", "there is no len(): write summary | length"),
        (
            "tags.contains('vpn')",
            "there is no contains(): to look for an item, write 'vpn' in tags",
        ),
        ("summary.startsWith('VPN')", "there is no startsWith(): did you mean startswith()?"),
        ("summary.toLowerCase() == 'x'", "there is no toLowerCase(): did you mean lower()?"),
        ("str(cost) == '1'", "there is no str(): write cost | string"),
    ],
)
def test_a_call_from_another_language_says_what_to_write_instead(source: str, hint: str) -> None:
    problems = check_workflow(decide(source))

    assert [p.message for p in problems] == [
        f"only simple text methods such as lower() may be called; {hint}"
    ]


def test_join_says_it_takes_all_or_a_number() -> None:
    branch = {"first": "x", "steps": {"x": {"type": "end"}}}
    other = {"first": "y", "steps": {"y": {"type": "end"}}}
    parallel = {"type": "parallel", "branches": {"a": branch, "b": other}, "join": "any",
                "next": "done"}  # fmt: skip

    (problem,) = check_workflow(workflow({"both": parallel}, "both"))

    assert problem.pointer == "/steps/both/join"
    assert problem.message == (
        'must be "all" or a whole number, not "any" '
        '(join waits for "all" branches, or for a number of them, like 1)'
    )


def test_a_set_entry_with_an_unknown_key_names_it_and_the_one_meant() -> None:
    act = {"type": "action", "set": {"n": {"expression": "1 + 1"}}, "next": "done"}

    (problem,) = check_workflow(workflow({"act": act}, "act"))

    assert (problem.pointer, problem.message) == (
        "/steps/act/set/n",
        "needs 'lookup', 'expr' or 'value'; 'expression' is not one of them: did you mean 'expr'?",
    )


def test_a_route_into_a_parallel_branch_says_where_the_step_is() -> None:
    branch = {"first": "x", "steps": {"x": {"type": "task", "next": "x_end"},
                                      "x_end": {"type": "end"}}}  # fmt: skip
    other = {"first": "y", "steps": {"y": {"type": "end"}}}
    parallel = {"type": "parallel", "branches": {"a": branch, "b": other}, "next": "done"}
    doc = workflow({"both": parallel, "go": {"type": "action", "set": {"n": {"value": 1}},
                                            "next": "x"}}, "x")  # fmt: skip
    messages = {p.pointer: p.message for p in check_workflow(doc)}
    doc["first"] = "go"
    messages.update((p.pointer, p.message) for p in check_workflow(doc))

    assert messages["/first"] == (
        "'x' is inside branch 'a' of the parallel step 'both', and 'first' must name a step "
        "at the top level, outside any branch"
    )
    assert messages["/steps/go/next"] == (
        "'x' is inside branch 'a' of the parallel step 'both'; a step at the top level cannot "
        "lead into a branch; go to 'both', which starts it"
    )


def test_an_action_that_does_nothing_names_what_it_may_do() -> None:
    act = {"type": "action", "label": "Tell", "next": "done"}

    (problem,) = check_workflow(workflow({"act": act}, "act"))

    assert (problem.pointer, problem.message) == (
        "/steps/act",
        "needs 'set' (data to write), 'notify' (whom to tell) or 'open_problem' (a problem to "
        "open)",
    )


def test_a_missing_property_is_said_with_what_it_is_for() -> None:
    """A process owner reads "'otherwise' is missing: the step the decision goes to ...",
    not "this is required here but missing"."""
    branch = {"when": {"field": "n", "op": "eq"}, "next": "done"}
    steps = {
        "work": {"type": "task", "assign": {"group": "desk"}},
        "route": {"type": "decision", "branches": [branch]},
        "vote": {"type": "review", "on": {"approved": "done"}},
        "pause": {"type": "wait", "next": "done"},
    }
    doc = workflow(steps, "work")
    del doc["first"]

    said = {p.pointer: p.message for p in check_workflow(doc)}

    assert said == {
        "/first": "'first' is missing: the id of the step each instance starts at",
        "/steps/work": "needs 'next' (the step after it) or 'on' (a step for each outcome)",
        "/steps/route/otherwise": (
            "'otherwise' is missing: the step the decision goes to when no branch's condition holds"
        ),
        "/steps/route/branches/0/when/value": "'value' is missing: what the field is compared with",
        "/steps/vote/on/rejected": "'rejected' is missing: the step to go to when it is rejected",
        "/steps/vote/quorum": (
            "'quorum' is missing: how many of the reviewers must approve: a number, all, any "
            "or majority"
        ),
        "/steps/vote/reviewers": (
            "'reviewers' is missing: who reviews: a list of people, or a field that holds them"
        ),
        "/steps/pause": "needs 'for' (how long to wait) or 'until' (the time to wait for)",
    }


def test_a_mistyped_next_step_or_field_gets_the_name_meant() -> None:
    work = {"type": "task", "title": "For {{ manger }}", "assign": {"group": "desk"},
            "next": "dnoe"}  # fmt: skip
    problems = {
        p.pointer: p.message for p in check_workflow(workflow({"work": work}, "work"), START)
    }

    assert problems["/steps/work/next"] == "there is no step 'dnoe'; did you mean 'done'?"
    assert problems["/steps/work/title"].endswith("did you mean 'manager'?")


def test_a_comparison_written_with_a_space_inside_is_told_to_close_it() -> None:
    (problem,) = check_workflow(decide("downtime > = 60"), START)

    assert problem.pointer == "/steps/route/branches/0/when"
    assert problem.message.endswith("(write >=, <=, != and == without a space inside)")


def test_a_review_with_the_requester_named_by_template_says_they_are_kept_out() -> None:
    """`{"user": "{{ instance.requester }}"}` passed the checker; every command that reached
    the step was then refused ("alice requested REQ-000001, so they may not ...")."""
    reviewers = [{"assign": {"user": "{{instance.requester}}"}}, {"assign": {"user": "bob"}}]
    vote = {"type": "review", "reviewers": reviewers, "quorum": 1,
            "on": {"approved": "done", "rejected": "done"}}  # fmt: skip
    said = {p.pointer: p.message for p in check_workflow(workflow({"vote": vote}, "vote"))}
    assert said == {
        "/steps/vote/reviewers/0/assign/user": (
            "this is the requester, whom a review keeps out unless its 'not_by' says otherwise: "
            'the command that reaches this step would be refused; add "not_by": [] to let the '
            "requester review, or name another reviewer"
        )
    }
    vote["not_by"] = []
    assert check_workflow(workflow({"vote": vote}, "vote")) == []


def test_reviewers_from_a_field_that_may_be_empty_are_refused_unless_a_decision_reads_it() -> None:
    """A review from an empty field stopped on an incident a retry could not mend; a decision
    that sends the empty ones elsewhere is trusted (the data checks take every route)."""
    board = References(forms={"start": (FieldInfo("board", "list"),)})
    vote = {"type": "review", "reviewers": {"from": "board"}, "quorum": "majority",
            "on": {"approved": "done", "rejected": "done"}}  # fmt: skip
    [problem] = check_workflow(workflow({"vote": vote}, "vote"), board)
    assert problem.pointer == "/steps/vote/reviewers/from"
    assert problem.message.startswith("'board' may not be filled in here (the start form does")
    filled = {"when": {"field": "board", "op": "not_empty"}, "next": "vote"}
    gate = {"type": "decision", "branches": [filled], "otherwise": "done"}
    assert check_workflow(workflow({"gate": gate, "vote": vote}, "gate"), board) == []
