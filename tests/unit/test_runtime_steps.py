"""Each step type does what the workflow language promises, seen from start and advance."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from engine.core.audit import AuditEvent
from engine.core.calendars import Calendar
from engine.core.definition import Workflow
from engine.core.effects import (
    CancelTask,
    CancelTimer,
    Notify,
    OpenTask,
    ScheduleTimer,
    StartSubflow,
)
from engine.core.errors import InvalidEvent
from engine.core.events import Cancelled, SubflowFinished, TaskCompleted, TimerFired
from engine.core.runtime import Transition, advance, start
from engine.core.state import InstanceState
from tests.unit.flows import (
    FRIDAY_AFTERNOON,
    active_steps,
    build,
    one_step,
    review,
    saved,
    task_at,
    tasks_at,
    timers_at,
    workflow,
)

#: When tasks are completed unless a test says otherwise: an hour into the Monday morning.
AN_HOUR_LATER = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def audit_of(transition: Transition, kind: str, step: str | None = None) -> list[AuditEvent]:
    return [
        event
        for event in transition.audit
        if event.kind == kind and (step is None or event.step == step)
    ]


def opened(transition: Transition, step: str | None = None) -> list[OpenTask]:
    return [
        effect
        for effect in transition.effects
        if isinstance(effect, OpenTask) and (step is None or effect.step == step)
    ]


def cancelled_tasks(transition: Transition) -> list[str]:
    return [effect.task for effect in transition.effects if isinstance(effect, CancelTask)]


def complete(
    workflow: Workflow,
    state: InstanceState,
    task: str,
    outcome: str = "done",
    at: datetime | None = None,
    data: dict[str, Any] | None = None,
) -> Transition:
    event = TaskCompleted(task, outcome, data or {}, actor="agent")
    return advance(workflow, state, event, at or AN_HOUR_LATER)


# Task ------------------------------------------------------------------------------------

TRIAGE = one_step(
    {
        "type": "task",
        "title": "Triage: {{ summary }}",
        "status": "in_progress",
        "assign": {"group": "service-desk", "strategy": "claim"},
        "form": "triage",
        "due": "PT4H",
        "on": {"resolved": "resolved", "escalated": "escalated"},
    }
)


def test_task_opens_one_task_with_its_title_assignee_form_due_and_outcomes(
    monday_morning: datetime,
) -> None:
    begun = start(build(TRIAGE), {"summary": "Printer jam"}, monday_morning)

    task = task_at(begun.state, "work")
    assert opened(begun) == [
        OpenTask(
            task,
            "work",
            "Triage: Printer jam",
            {"group": "service-desk", "strategy": "claim"},
            ("resolved", "escalated"),
            form="triage",
            due="2026-11-23T12:00:00+00:00",
        )
    ]
    assert begun.state.status == "in_progress"
    assert begun.state.tasks[task].assign == {"group": "service-desk", "strategy": "claim"}


@pytest.mark.parametrize("outcome", ["resolved", "escalated"])
def test_task_outcome_routes_to_the_step_named_for_it(
    outcome: str, monday_morning: datetime
) -> None:
    flow = build(TRIAGE)
    state = start(flow, {"summary": "Printer jam"}, monday_morning).state

    done = complete(flow, state, task_at(state, "work"), outcome)

    assert done.state.ended
    assert done.state.status == outcome
    (routed,) = audit_of(done, "routed", "work")
    assert routed.why == f"'{outcome}' chosen"
    assert routed.detail == {"to": outcome, "outcome": outcome}
    assert routed.actor == "agent"
    assert done.state.tasks == {}


def test_task_with_next_offers_one_outcome_done_and_moves_on(monday_morning: datetime) -> None:
    flow = build(
        workflow(
            "fill_in",
            {
                "fill_in": {"type": "task", "next": "check"},
                "check": {"type": "task", "assign": {"group": "qa"}, "next": "finished"},
                "finished": {"type": "end"},
            },
        )
    )
    begun = start(flow, {}, monday_morning, requester="ann")
    (task,) = opened(begun)
    assert task.outcomes == ("done",)

    done = complete(flow, begun.state, task.task)

    assert active_steps(done.state) == {"check"}
    assert [effect.assign for effect in opened(done)] == [{"group": "qa"}]


def test_task_without_assign_goes_to_the_requester(monday_morning: datetime) -> None:
    flow = build(one_step({"type": "task", "next": "finished"}))

    begun = start(flow, {}, monday_morning, requester="ann")

    assert opened(begun)[0].assign == {"requester": True, "user": "ann"}


def test_completed_task_data_is_kept_in_the_instance(monday_morning: datetime) -> None:
    flow = build(
        workflow(
            "resolve",
            {
                "resolve": {"type": "task", "next": "confirm"},
                "confirm": {"type": "task", "title": "Fixed? {{ resolution }}", "next": "closed"},
                "closed": {"type": "end"},
            },
        )
    )
    state = start(flow, {"summary": "VPN"}, monday_morning).state

    done = complete(flow, state, task_at(state, "resolve"), data={"resolution": "New token"})

    assert done.state.data == {"summary": "VPN", "resolution": "New token"}
    assert opened(done)[0].title == "Fixed? New token"


# Approval --------------------------------------------------------------------------------

PURCHASE = workflow(
    "approve",
    {
        "approve": {
            "type": "approval",
            "title": "Approve {{ item }}",
            "assign": {"user": "{{ manager }}"},
            "auto_approve": {"field": "cost", "op": "lt", "value": 500},
            "escalate": [{"after": "P1D", "do": [{"remind": "assignee"}]}],
            "on": {"approved": "buy", "rejected": "declined"},
        },
        "buy": {"type": "task", "title": "Buy {{ item }}", "assign": {"group": "buyers"},
                "next": "bought"},
        "bought": {"type": "end"},
        "declined": {"type": "end", "status": "declined"},
    },
)  # fmt: skip


def test_approval_whose_condition_holds_is_approved_without_asking_anyone(
    monday_morning: datetime,
) -> None:
    begun = start(build(PURCHASE), {"item": "mouse", "cost": 20, "manager": "mia"}, monday_morning)

    assert opened(begun, "approve") == []
    assert not any(isinstance(effect, ScheduleTimer) for effect in begun.effects)
    (auto,) = audit_of(begun, "auto_approved", "approve")
    assert auto.why == "approved automatically because cost is less than 500"
    (routed,) = audit_of(begun, "routed", "approve")
    assert routed.detail == {"to": "buy", "outcome": "approved"}
    assert active_steps(begun.state) == {"buy"}


def test_an_approval_approved_at_once_never_sets_its_waiting_status(
    monday_morning: datetime,
) -> None:
    doc = copy.deepcopy(PURCHASE)
    doc["steps"]["approve"]["status"] = "awaiting_manager"
    cheap = start(build(doc), {"item": "mouse", "cost": 20, "manager": "mia"}, monday_morning)
    dear = start(build(doc), {"item": "laptop", "cost": 1800, "manager": "mia"}, monday_morning)

    assert "awaiting_manager" not in [e.detail.get("status") for e in cheap.audit]
    assert cheap.state.status != "awaiting_manager"
    assert dear.state.status == "awaiting_manager"


def test_approval_whose_condition_fails_waits_for_the_approver(monday_morning: datetime) -> None:
    begun = start(
        build(PURCHASE), {"item": "laptop", "cost": 1800, "manager": "mia"}, monday_morning
    )

    (task,) = opened(begun, "approve")
    assert task.assign == {"user": "mia"}
    assert task.outcomes == ("approved", "rejected")
    assert audit_of(begun, "auto_approved") == []
    assert active_steps(begun.state) == {"approve"}


@pytest.mark.parametrize(("decision", "step"), [("approved", "buy"), ("rejected", "declined")])
def test_approver_decision_routes_onward(
    decision: str, step: str, monday_morning: datetime
) -> None:
    flow = build(PURCHASE)
    state = start(flow, {"item": "laptop", "cost": 1800, "manager": "mia"}, monday_morning).state

    done = complete(flow, state, task_at(state, "approve"), decision)

    (routed,) = audit_of(done, "routed", "approve")
    assert routed.detail == {"to": step, "outcome": decision}
    assert done.state.timers == {}


# Review ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("quorum", "reviewers", "needed"),
    [("all", 3, 3), ("any", 3, 1), ("majority", 3, 2), ("majority", 4, 3), (2, 4, 2)],
)
def test_review_is_approved_the_moment_the_quorum_approves(
    quorum: Any, reviewers: int, needed: int, monday_morning: datetime
) -> None:
    flow = build(review(quorum, reviewers))
    state = start(flow, {}, monday_morning).state
    tasks = tasks_at(state, "review")
    assert len(tasks) == reviewers

    for task in tasks[: needed - 1]:
        state = complete(flow, state, task, "approved").state
        assert active_steps(state) == {"review"}
    decided = complete(flow, state, tasks[needed - 1], "approved")

    assert active_steps(decided.state) == {"implement"}
    assert cancelled_tasks(decided) == tasks[needed:]


def test_decided_review_withdraws_the_other_reviews_and_says_the_tally(
    monday_morning: datetime,
) -> None:
    flow = build(review(2, 3))
    state = start(flow, {}, monday_morning).state
    first, second, third = tasks_at(state, "review")

    state = complete(flow, state, first, "approved").state
    decided = complete(flow, state, second, "approved")

    assert decided.effects[0] == CancelTask(third, "the step is finished")
    assert [event.detail["task"] for event in audit_of(decided, "task_cancelled")] == [third]
    (routed,) = audit_of(decided, "routed", "review")
    assert routed.why == "approved: 2 of 3 approved, 0 rejected, 2 needed"
    assert third not in decided.state.tasks


def test_vote_on_a_review_that_was_withdrawn_is_refused(monday_morning: datetime) -> None:
    flow = build(review("any", 3))
    state = start(flow, {}, monday_morning).state
    first, second, _third = tasks_at(state, "review")
    state = complete(flow, state, first, "approved").state

    with pytest.raises(InvalidEvent, match=f"task {second} is not open"):
        complete(flow, state, second, "rejected")


def test_a_reviewer_who_votes_twice_is_counted_once(monday_morning: datetime) -> None:
    flow = build(review(2, 3))
    state = start(flow, {}, monday_morning).state
    first, second, _third = tasks_at(state, "review")
    state = complete(flow, state, first, "approved").state

    with pytest.raises(InvalidEvent, match="already completed or withdrawn"):
        complete(flow, state, first, "approved")

    (run,) = state.runs.values()
    assert run.votes == {first: "approved"}
    decided = complete(flow, state, second, "approved")
    assert audit_of(decided, "routed", "review")[0].why.startswith("approved: 2 of 3 approved")


def test_first_rejection_rejects_when_the_rule_says_first(monday_morning: datetime) -> None:
    flow = build(review("majority", 3, reject="first"))
    state = start(flow, {}, monday_morning).state
    first, second, third = tasks_at(state, "review")

    decided = complete(flow, state, first, "rejected")

    assert decided.state.status == "rejected"
    assert cancelled_tasks(decided) == [second, third]


def test_rejection_count_rule_waits_for_that_many_rejections(monday_morning: datetime) -> None:
    flow = build(review(2, 4, reject={"count": 2}))
    state = start(flow, {}, monday_morning).state
    first, second, third, fourth = tasks_at(state, "review")

    state = complete(flow, state, first, "rejected").state
    assert active_steps(state) == {"review"}
    decided = complete(flow, state, second, "rejected")

    assert decided.state.status == "rejected"
    assert cancelled_tasks(decided) == [third, fourth]
    (routed,) = audit_of(decided, "routed", "review")
    assert routed.why == "rejected: 0 of 4 approved, 2 rejected, 2 needed"


def test_review_is_rejected_by_default_only_once_the_quorum_is_out_of_reach(
    monday_morning: datetime,
) -> None:
    flow = build(review(2, 3))
    state = start(flow, {}, monday_morning).state
    first, second, third = tasks_at(state, "review")

    state = complete(flow, state, first, "rejected").state
    assert active_steps(state) == {"review"}
    state = complete(flow, state, second, "approved").state
    assert active_steps(state) == {"review"}
    decided = complete(flow, state, third, "rejected")

    assert decided.state.status == "rejected"


def test_review_needing_everyone_is_rejected_by_the_first_rejection(
    monday_morning: datetime,
) -> None:
    flow = build(review("all", 3))
    state = start(flow, {}, monday_morning).state
    first, second, third = tasks_at(state, "review")

    decided = complete(flow, state, first, "rejected")

    assert decided.state.status == "rejected"
    assert cancelled_tasks(decided) == [second, third]


def test_reviewers_can_be_taken_from_a_list_in_the_data(monday_morning: datetime) -> None:
    doc = review("majority")
    doc["steps"]["review"]["reviewers"] = {"from": "approvers"}
    flow = build(doc)

    begun = start(flow, {"approvers": ["ann", "bob", "chen"]}, monday_morning)

    assert [task.assign for task in opened(begun)] == [
        {"user": "ann"},
        {"user": "bob"},
        {"user": "chen"},
    ]
    first, second, _third = tasks_at(begun.state, "review")
    state = complete(flow, begun.state, first, "approved").state
    assert active_steps(complete(flow, state, second, "approved").state) == {"implement"}


def test_review_with_nobody_in_the_list_stops_on_an_incident(monday_morning: datetime) -> None:
    doc = review("majority", escalate=[{"after": "PT1H", "do": [{"remind": "assignee"}]}])
    doc["steps"]["review"]["reviewers"] = {"from": "approvers"}

    begun = start(build(doc), {"approvers": []}, monday_morning)

    assert not begun.state.ended
    assert opened(begun) == []
    assert not any(isinstance(effect, ScheduleTimer) for effect in begun.effects)
    (incident,) = audit_of(begun, "incident", "review")
    assert incident.why == (
        "step 'review' stopped: the reviewers come from the field 'approvers', which names nobody"
    )


def test_review_tasks_name_the_reviewer_role_and_votes_keep_the_comment(
    monday_morning: datetime,
) -> None:
    flow = build(review(2, 2))
    begun = start(flow, {}, monday_morning)
    assert [task.title for task in opened(begun)] == [
        "Review the change (reviewer 1)",
        "Review the change (reviewer 2)",
    ]

    voted = complete(flow, begun.state, opened(begun)[0].task, "rejected", data={"comment": "No"})

    (vote,) = audit_of(voted, "voted")
    assert (vote.why, vote.detail["vote"]) == ("No", "rejected")


# Decision --------------------------------------------------------------------------------

PURCHASE_ROUTES = workflow(
    "route",
    {
        "route": {
            "type": "decision",
            "branches": [
                {"label": "Big spend", "when": {"field": "cost", "op": "ge", "value": 1000},
                 "next": "board"},
                {"when": {"all": [{"field": "cost", "op": "ge", "value": 100},
                                  {"field": "category", "op": "eq", "value": "hardware"}]},
                 "next": "manager"},
                {"when": "cost >= 100", "next": "finance"},
            ],
            "otherwise": "automatic",
        },
        "board": {"type": "end", "status": "board"},
        "manager": {"type": "end", "status": "manager"},
        "finance": {"type": "end", "status": "finance"},
        "automatic": {"type": "end", "status": "automatic"},
    },
)  # fmt: skip


@pytest.mark.parametrize(
    ("cost", "category", "to", "why"),
    [
        (5000, "hardware", "board", "'Big spend' matched: cost is at least 1000"),
        (200, "hardware", "manager", "branch 2 matched: cost is at least 100 and category is "
                                     "'hardware'"),
        (200, "software", "finance", "branch 3 matched: cost >= 100"),
        (10, "hardware", "automatic", "otherwise: no condition matched"),
    ],
)  # fmt: skip
def test_decision_takes_the_first_branch_that_holds_and_says_why(
    cost: int, category: str, to: str, why: str, monday_morning: datetime
) -> None:
    begun = start(build(PURCHASE_ROUTES), {"cost": cost, "category": category}, monday_morning)

    assert begun.state.status == to
    (routed,) = audit_of(begun, "routed", "route")
    assert routed.why == why
    assert routed.detail == {"to": to}


# Action ----------------------------------------------------------------------------------

PRIORITY_TABLE = {
    "inputs": ["impact", "urgency"],
    "output": "priority",
    "rows": [
        {"when": ["high", "high"], "then": "P1"},
        {"when": ["high", ["medium", "low"]], "then": "P2"},
        {"when": ["-", "high"], "then": "P2"},
    ],
    "default": "P3",
}

INTAKE = workflow(
    "prepare",
    {
        "prepare": {
            "type": "action",
            "set": {
                "priority": {"lookup": "priority"},
                "source": {"value": "portal"},
                "reference": {"expr": "'REF-' ~ code"},
                "caller.team": {"value": "ops"},
            },
            "notify": [
                {"to": "requester", "template": "received"},
                {"webhook": "https://hooks.example.com/intake"},
            ],
            "next": "work",
        },
        "work": {"type": "task", "next": "finished"},
        "finished": {"type": "end"},
    },
    tables={"priority": PRIORITY_TABLE},
)


def test_action_sets_values_expressions_and_table_lookups(monday_morning: datetime) -> None:
    data = {"impact": "high", "urgency": "low", "code": 42}

    begun = start(build(INTAKE), data, monday_morning)

    assert begun.state.data == {
        **data,
        "priority": "P2",
        "source": "portal",
        "reference": "REF-42",
        "caller": {"team": "ops"},
    }
    assert [event.detail["field"] for event in audit_of(begun, "data_set")] == [
        "priority",
        "source",
        "reference",
        "caller.team",
    ]


@pytest.mark.parametrize(
    ("impact", "urgency", "why"),
    [
        ("high", "low", "table priority: impact=high, urgency=low -> P2 (row 2)"),
        ("low", "high", "table priority: impact=low, urgency=high -> P2 (row 3)"),
        ("low", "low", "table priority: impact=low, urgency=low -> P3 (no row matched: default)"),
    ],
)
def test_table_lookup_says_which_row_gave_the_answer(
    impact: str, urgency: str, why: str, monday_morning: datetime
) -> None:
    begun = start(build(INTAKE), {"impact": impact, "urgency": urgency, "code": 1}, monday_morning)

    assert audit_of(begun, "data_set")[0].why == why


def test_action_notifies_every_recipient_and_webhook(monday_morning: datetime) -> None:
    begun = start(build(INTAKE), {"impact": "low", "urgency": "low", "code": 1}, monday_morning)

    notes = [effect for effect in begun.effects if isinstance(effect, Notify)]
    assert notes == [
        Notify("prepare", to="requester", template="received"),
        Notify("prepare", webhook="https://hooks.example.com/intake"),
    ]


def test_values_set_by_an_action_are_not_shared_between_instances(
    monday_morning: datetime,
) -> None:
    flow = build(
        workflow(
            "init",
            {
                "init": {"type": "action", "set": {"caller": {"value": {}}}, "next": "name"},
                "name": {"type": "action", "set": {"caller.name": {"expr": "who"}}, "next": "work"},
                "work": {"type": "task", "next": "finished"},
                "finished": {"type": "end"},
            },
        )
    )

    first = start(flow, {"who": "ann"}, monday_morning).state
    second = start(flow, {"who": "bob"}, monday_morning).state

    assert first.data["caller"] == {"name": "ann"}
    assert second.data["caller"] == {"name": "bob"}
    assert flow.steps["init"].doc["set"]["caller"] == {"value": {}}


# Parallel --------------------------------------------------------------------------------


def outage(join: Any = "all") -> dict[str, Any]:
    """Repair the service and keep the users informed, at once; then close."""
    return workflow(
        "respond",
        {
            "respond": {
                "type": "parallel",
                "join": join,
                "next": "close",
                "branches": {
                    "repair": {
                        "first": "repair_it",
                        "steps": {
                            "repair_it": {"type": "task", "assign": {"group": "ops"},
                                          "next": "repaired"},
                            "repaired": {"type": "end"},
                        },
                    },
                    "inform": {
                        "first": "inform_users",
                        "steps": {
                            "inform_users": {
                                "type": "task", "assign": {"group": "comms"},
                                "escalate": [{"after": "PT20M", "do": [{"remind": "assignee"}]}],
                                "next": "informed",
                            },
                            "informed": {"type": "end"},
                        },
                    },
                },
            },
            "close": {"type": "task", "assign": {"group": "ops"}, "next": "closed"},
            "closed": {"type": "end", "status": "closed"},
        },
    )  # fmt: skip


def test_parallel_starts_every_branch_at_once(monday_morning: datetime) -> None:
    begun = start(build(outage()), {}, monday_morning)

    assert [task.step for task in opened(begun)] == ["repair_it", "inform_users"]
    assert active_steps(begun.state) == {"respond", "repair_it", "inform_users"}


def test_join_all_waits_for_every_branch(monday_morning: datetime) -> None:
    flow = build(outage())
    state = start(flow, {}, monday_morning).state

    half = complete(flow, state, task_at(state, "repair_it"))
    assert opened(half) == []
    assert audit_of(half, "branch_finished")[0].why == "branch 'repair' finished"
    joined = complete(flow, half.state, task_at(half.state, "inform_users"))

    assert [task.step for task in opened(joined)] == ["close"]
    (routed,) = audit_of(joined, "routed", "respond")
    assert routed.why == "joined: 2 of 2 branches needed finished (repair, inform)"
    assert active_steps(joined.state) == {"close"}


def test_join_of_one_withdraws_the_branch_still_running(monday_morning: datetime) -> None:
    flow = build(outage(join=1))
    state = start(flow, {}, monday_morning).state
    inform = task_at(state, "inform_users")
    (reminder,) = timers_at(state, "inform_users")

    joined = complete(flow, state, task_at(state, "repair_it"))

    assert cancelled_tasks(joined) == [inform]
    assert CancelTimer(reminder) in joined.effects
    assert active_steps(joined.state) == {"close"}
    assert list(joined.state.tasks) == [task_at(joined.state, "close")]
    assert joined.state.timers == {}


def test_branch_that_finishes_at_once_meets_a_join_of_one_and_the_other_never_starts(
    monday_morning: datetime,
) -> None:
    doc = outage(join=1)
    branches = doc["steps"]["respond"]["branches"]
    branches["repair"]["steps"] = {
        "check": {"type": "action", "set": {"checked": {"value": True}}, "next": "repair_it"},
        "repair_it": {"type": "task", "next": "repaired"},
        "repaired": {"type": "end"},
    }
    branches["repair"]["first"] = "check"
    branches["inform"] = {"first": "nothing_to_say", "steps": {"nothing_to_say": {"type": "end"}}}
    flow = build(doc)

    begun = start(flow, {}, monday_morning)

    assert [task.step for task in opened(begun)] == ["close"]
    assert active_steps(begun.state) == {"close"}
    done = complete(flow, begun.state, task_at(begun.state, "close"))
    assert done.state.status == "closed"


NESTED = workflow(
    "respond",
    {
        "respond": {
            "type": "parallel",
            "next": "wrap_up",
            "branches": {
                "fix": {
                    "first": "diagnose",
                    "steps": {
                        "diagnose": {
                            "type": "parallel",
                            "next": "deploy",
                            "branches": {
                                "logs": {"first": "read_logs", "steps": {
                                    "read_logs": {"type": "task", "next": "logs_read"},
                                    "logs_read": {"type": "end"}}},
                                "metrics": {"first": "read_metrics", "steps": {
                                    "read_metrics": {"type": "task", "next": "metrics_read"},
                                    "metrics_read": {"type": "end"}}},
                            },
                        },
                        "deploy": {"type": "task", "next": "fixed"},
                        "fixed": {"type": "end"},
                    },
                },
                "tell": {"first": "status_page", "steps": {
                    "status_page": {"type": "task", "next": "told"},
                    "told": {"type": "end"}}},
            },
        },
        "wrap_up": {"type": "task", "next": "closed"},
        "closed": {"type": "end", "status": "closed"},
    },
)  # fmt: skip


def test_nested_parallel_joins_inside_its_branch_before_the_outer_join(
    monday_morning: datetime,
) -> None:
    flow = build(NESTED)
    state = start(flow, {}, monday_morning).state
    assert {"read_logs", "read_metrics", "status_page"} <= active_steps(state)

    state = complete(flow, state, task_at(state, "read_logs")).state
    inner = complete(flow, state, task_at(state, "read_metrics"))
    assert [task.step for task in opened(inner)] == ["deploy"]
    assert active_steps(inner.state) == {"respond", "deploy", "status_page"}
    (deploy_run,) = [run for run in inner.state.runs.values() if run.step == "deploy"]
    assert deploy_run.branch == "fix"

    state = complete(flow, inner.state, task_at(inner.state, "deploy")).state
    assert active_steps(state) == {"respond", "status_page"}
    outer = complete(flow, state, task_at(state, "status_page"))
    assert active_steps(outer.state) == {"wrap_up"}


def test_outer_join_withdraws_a_nested_parallel_with_all_its_tasks(
    monday_morning: datetime,
) -> None:
    doc = NESTED | {
        "steps": NESTED["steps"] | {"respond": NESTED["steps"]["respond"] | {"join": 1}}
    }
    flow = build(doc)
    state = start(flow, {}, monday_morning).state
    inner = [task_at(state, "read_logs"), task_at(state, "read_metrics")]

    joined = complete(flow, state, task_at(state, "status_page"))

    assert sorted(cancelled_tasks(joined)) == sorted(inner)
    assert active_steps(joined.state) == {"wrap_up"}
    assert list(joined.state.tasks) == [task_at(joined.state, "wrap_up")]


# Wait ------------------------------------------------------------------------------------


def pause(**wait: Any) -> dict[str, Any]:
    return workflow(
        "pause",
        {
            "pause": {"type": "wait", "status": "waiting", "next": "follow_up", **wait},
            "follow_up": {"type": "task", "next": "finished"},
            "finished": {"type": "end"},
        },
    )


def test_wait_for_a_duration_moves_on_when_its_timer_fires(monday_morning: datetime) -> None:
    flow = build(pause(**{"for": "PT2H"}))
    begun = start(flow, {}, monday_morning)
    (timer,) = timers_at(begun.state, "pause")
    assert begun.effects == (ScheduleTimer(timer, "2026-11-23T10:00:00+00:00", "pause"),)
    assert begun.state.status == "waiting"
    assert begun.state.tasks == {}

    fired = advance(flow, begun.state, TimerFired(timer), monday_morning + timedelta(hours=2))

    assert active_steps(fired.state) == {"follow_up"}
    assert audit_of(fired, "routed", "pause")[0].why == "waited until 2026-11-23T10:00:00+00:00"


def test_a_wait_until_a_date_already_past_says_it_did_not_wait(monday_morning: datetime) -> None:
    flow = build(pause(until="go_live"))
    begun = start(flow, {"go_live": "2026-11-01"}, monday_morning + timedelta(microseconds=5))
    (timer,) = timers_at(begun.state, "pause")

    fired = advance(flow, begun.state, TimerFired(timer), monday_morning + timedelta(seconds=1))

    assert audit_of(fired, "routed", "pause")[0].why == (
        "the date in 'go_live' (2026-11-01) had passed: no wait"
    )


def test_wait_in_business_time_skips_the_weekend(calendars: dict[str, Calendar]) -> None:
    flow = build(pause(**{"for": "PT2H", "calendar": "office"}))

    begun = start(flow, {}, FRIDAY_AFTERNOON, calendars=calendars)

    # One office hour left on Friday, the second from 08:30 on Monday (Amsterdam).
    (timer,) = begun.state.timers.values()
    assert timer.at == "2026-11-30T08:30:00+00:00"


@pytest.mark.parametrize(
    ("value", "due"),
    [
        ("2026-12-01", "2026-12-01T00:00:00+00:00"),
        ("2026-12-01T14:30:00+01:00", "2026-12-01T13:30:00+00:00"),
        ("2020-01-01", "2026-11-23T08:00:00+00:00"),
        ("not a date", "2026-11-23T08:00:00+00:00"),
        (None, "2026-11-23T08:00:00+00:00"),
    ],
)
def test_wait_until_a_date_field_fires_then_or_at_once_if_it_is_past_or_unreadable(
    value: str | None, due: str, monday_morning: datetime
) -> None:
    begun = start(build(pause(until="follow_up_on")), {"follow_up_on": value}, monday_morning)

    (timer,) = begun.state.timers.values()
    assert timer.at == due


# Subflow ---------------------------------------------------------------------------------


def problem_record(*, wait: bool) -> dict[str, Any]:
    return workflow(
        "open_problem",
        {
            "open_problem": {
                "type": "subflow",
                # A status shows only while the step waits for its child.
                **({"status": "waiting_on_problem"} if wait else {}),
                "workflow": "problem",
                "data": {"summary": "summary", "service": "caller.service"},
                "wait": wait,
                "next": "close",
            },
            "close": {"type": "task", "next": "closed"},
            "closed": {"type": "end"},
        },
    )


def test_subflow_starts_the_other_workflow_with_mapped_data_and_waits(
    monday_morning: datetime,
) -> None:
    data = {"summary": "Mail down", "caller": {"service": "mail"}}

    begun = start(build(problem_record(wait=True)), data, monday_morning)

    (run,) = begun.state.runs.values()
    assert begun.effects == (
        StartSubflow(run.id, "problem", {"summary": "Mail down", "service": "mail"}, True),
    )
    assert begun.state.status == "waiting_on_problem"
    assert (begun.state.tasks, begun.state.timers) == ({}, {})


def test_subflow_finishing_lets_the_parent_move_on(monday_morning: datetime) -> None:
    flow = build(problem_record(wait=True))
    state = start(flow, {"summary": "Mail down"}, monday_morning).state
    (run,) = state.runs

    finished = advance(flow, state, SubflowFinished(run, "resolved"), monday_morning)

    assert active_steps(finished.state) == {"close"}
    assert audit_of(finished, "routed", "open_problem")[0].why == "problem ended as resolved"


def test_subflow_without_wait_moves_on_at_once(monday_morning: datetime) -> None:
    flow = build(problem_record(wait=False))

    begun = start(flow, {"summary": "Mail down"}, monday_morning)

    (subflow,) = [effect for effect in begun.effects if isinstance(effect, StartSubflow)]
    assert subflow.wait is False
    assert active_steps(begun.state) == {"close"}
    with pytest.raises(InvalidEvent, match="no step is waiting"):
        advance(flow, begun.state, SubflowFinished(subflow.run, "resolved"), monday_morning)


def test_subflow_finished_for_a_step_that_started_none_is_refused(
    monday_morning: datetime,
) -> None:
    flow = build(TRIAGE)
    state = start(flow, {"summary": "x"}, monday_morning).state
    (run,) = state.runs

    with pytest.raises(InvalidEvent, match="step 'work' does not wait for another workflow"):
        advance(flow, state, SubflowFinished(run, "resolved"), monday_morning)


# End and cancel --------------------------------------------------------------------------


def test_end_gives_the_instance_its_final_status_and_outcome(monday_morning: datetime) -> None:
    closed = {"type": "end", "label": "Closed", "status": "closed", "outcome": "resolved"}
    flow = build(workflow("work", {"work": {"type": "task", "next": "closed"}, "closed": closed}))
    state = start(flow, {}, monday_morning).state
    later = monday_morning + timedelta(hours=3)

    done = complete(flow, state, task_at(state, "work"), at=later)

    assert (done.state.status, done.state.outcome) == ("closed", "resolved")
    assert done.state.ended_at == "2026-11-23T11:00:00+00:00"
    (ended,) = audit_of(done, "ended")
    assert ended.why == "reached 'Closed'"
    assert ended.detail == {"status": "closed", "outcome": "resolved"}
    assert (done.state.runs, done.state.tasks, done.state.timers) == ({}, {}, {})


def test_end_without_status_completes_with_its_own_name_as_outcome(
    monday_morning: datetime,
) -> None:
    delivered = {"type": "end"}
    flow = build(workflow("work", {"work": {"type": "task", "next": "delivered"},
                                   "delivered": delivered}))  # fmt: skip
    state = start(flow, {}, monday_morning).state

    done = complete(flow, state, task_at(state, "work"))

    assert (done.state.status, done.state.outcome) == ("completed", "delivered")


def test_ended_instance_takes_no_more_events(monday_morning: datetime) -> None:
    flow = build(TRIAGE)
    state = start(flow, {"summary": "x"}, monday_morning).state
    state = complete(flow, state, task_at(state, "work"), "resolved").state

    with pytest.raises(InvalidEvent, match="has ended; nothing is left to do"):
        advance(flow, state, Cancelled("too late"), monday_morning)


def test_cancelling_withdraws_every_open_task_and_timer(monday_morning: datetime) -> None:
    flow = build(outage())
    state = start(flow, {}, monday_morning).state
    tasks, timers = list(state.tasks), list(state.timers)
    assert len(tasks) == 2
    assert len(timers) == 1

    stopped = advance(flow, state, Cancelled("reported twice", actor="ann"), monday_morning)

    assert sorted(cancelled_tasks(stopped)) == sorted(tasks)
    assert [e.timer for e in stopped.effects if isinstance(e, CancelTimer)] == timers
    assert (stopped.state.runs, stopped.state.tasks, stopped.state.timers) == ({}, {}, {})
    assert (stopped.state.status, stopped.state.outcome) == ("cancelled", "cancelled")
    (ended,) = audit_of(stopped, "ended")
    assert (ended.why, ended.actor) == ("reported twice", "ann")


# Events that do not apply ----------------------------------------------------------------


def test_completing_an_unknown_task_is_refused(monday_morning: datetime) -> None:
    flow = build(TRIAGE)
    state = start(flow, {"summary": "x"}, monday_morning).state

    with pytest.raises(InvalidEvent, match="task t99 is not open"):
        complete(flow, state, "t99", "resolved")


def test_completing_a_task_twice_is_refused(monday_morning: datetime) -> None:
    flow = build(outage())
    state = start(flow, {}, monday_morning).state
    task = task_at(state, "repair_it")
    state = complete(flow, state, task).state

    with pytest.raises(InvalidEvent, match=f"task {task} is not open: it was already completed"):
        complete(flow, state, task)


def test_an_outcome_the_step_does_not_offer_is_refused_with_the_choices(
    monday_morning: datetime,
) -> None:
    flow = build(TRIAGE)
    state = start(flow, {"summary": "x"}, monday_morning).state

    with pytest.raises(
        InvalidEvent,
        match="'maybe' is not an outcome of step 'work'; choose one of: resolved, escalated",
    ):
        complete(flow, state, task_at(state, "work"), "maybe")


# Purity ----------------------------------------------------------------------------------


def test_advance_never_changes_the_state_it_was_given(monday_morning: datetime) -> None:
    flow = build(outage(join=1))
    state = start(flow, {"caller": {"name": "Ann"}}, monday_morning).state
    before = saved(state)
    (reminder,) = timers_at(state, "inform_users")
    events = [
        TaskCompleted(task_at(state, "repair_it"), "done", {"caller": {"name": "Bo"}}),
        TaskCompleted(task_at(state, "inform_users"), "done"),
        TimerFired(reminder),
        Cancelled("duplicate"),
    ]

    for event in events:
        advance(flow, state, event, monday_morning + timedelta(hours=1))
        assert saved(state) == before


def test_completing_a_task_leaves_the_submitted_data_as_it_was(monday_morning: datetime) -> None:
    flow = build(
        workflow(
            "ask",
            {
                "ask": {"type": "task", "next": "tag"},
                "tag": {"type": "action", "set": {"caller.team": {"value": "ops"}},
                        "next": "work"},
                "work": {"type": "task", "next": "finished"},
                "finished": {"type": "end"},
            },
        )
    )  # fmt: skip
    state = start(flow, {}, monday_morning).state
    submitted = {"caller": {"name": "Ann"}}

    done = complete(flow, state, task_at(state, "ask"), data=submitted)

    assert done.state.data == {"caller": {"name": "Ann", "team": "ops"}}
    assert submitted == {"caller": {"name": "Ann"}}


def test_start_leaves_the_start_data_as_it_was(monday_morning: datetime) -> None:
    data = {"impact": "high", "urgency": "high", "code": 7}

    start(build(INTAKE), data, monday_morning)

    assert data == {"impact": "high", "urgency": "high", "code": 7}


def test_timer_no_longer_pending_changes_nothing(monday_morning: datetime) -> None:
    flow = build(outage(join=1))
    state = start(flow, {}, monday_morning).state
    (reminder,) = timers_at(state, "inform_users")
    state = complete(flow, state, task_at(state, "repair_it")).state

    late = advance(flow, state, TimerFired(reminder), monday_morning + timedelta(hours=1))

    assert late.state is state
    assert (late.effects, late.audit) == ((), ())


def test_a_timer_fires_only_once(monday_morning: datetime) -> None:
    flow = build(pause(**{"for": "PT1H"}))
    state = start(flow, {}, monday_morning).state
    (timer,) = state.timers
    later = monday_morning + timedelta(hours=1)
    fired = advance(flow, state, TimerFired(timer), later)

    again = advance(flow, fired.state, TimerFired(timer), later)

    assert again.state is fired.state
    assert (again.effects, again.audit) == ((), ())
    assert len(fired.state.tasks) == 1


def test_times_without_a_time_zone_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        start(build(TRIAGE), {"summary": "x"}, datetime(2026, 11, 23, 9))


def test_the_steps_are_listed_in_the_order_a_request_meets_them_whatever_the_document_s() -> None:
    """The instance page's list of steps followed the document: a draft the designer saved
    sorted its steps by id, and the page listed "Pending: Done" first."""
    doc = json.loads((Path(__file__).parents[2] / "workflows" / "it-incident.json").read_text())
    in_order = [s.id for s in Workflow.from_document(doc).in_flow_order()]
    shuffled = {**doc, "steps": dict(sorted(doc["steps"].items(), reverse=True))}

    assert [s.id for s in Workflow.from_document(shuffled).in_flow_order()] == in_order
    assert in_order[0] == doc["first"]
    assert in_order.index("work") < in_order.index("confirm")
    assert in_order.index("work") < in_order.index("closed")
    assert sorted(in_order) == sorted(doc["steps"])  # every step, once
