"""Human steps at their edges: reviewers named in the data, the reason a vote shows, and
an escalation action that fails."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from engine.core.definition import Workflow
from engine.core.effects import Notify, OpenTask, ReassignTask, ScheduleTimer
from engine.core.events import Retried, TaskCompleted, TimerFired
from engine.core.runtime import Transition, advance, start
from engine.core.state import timestamp
from tests.unit.flows import active_steps, build, review, task_at, tasks_at, timers_at, workflow


def reviewers_from_the_data(quorum: Any = "all") -> Workflow:
    """Return a change review whose reviewers are the names in the field `approvers`."""
    doc = review(quorum, escalate=[{"after": "PT1H", "do": [{"remind": "assignee"}]}])
    doc["steps"]["review"]["reviewers"] = {"from": "approvers"}
    return build(doc)


def reviewers_of(transition: Transition) -> list[Any]:
    return [
        effect.assign.get("user") for effect in transition.effects if isinstance(effect, OpenTask)
    ]


def incidents(transition: Transition) -> list[str | None]:
    return [event.why for event in transition.audit if event.kind == "incident"]


def vote(flow: Workflow, begun: Transition, outcome: str, data: dict[str, Any]) -> Transition:
    first = tasks_at(begun.state, "review")[0]
    later = datetime.fromisoformat(begun.state.started_at) + timedelta(minutes=5)
    return advance(flow, begun.state, TaskCompleted(first, outcome, data, "ann"), later)


# Reviewers from a field ------------------------------------------------------------------


def test_a_single_name_in_the_field_is_one_reviewer(monday_morning: datetime) -> None:
    flow = reviewers_from_the_data()

    begun = start(flow, {"approvers": "ann"}, monday_morning)

    assert reviewers_of(begun) == ["ann"]
    approved = vote(flow, begun, "approved", {})
    assert active_steps(approved.state) == {"implement"}


def test_a_name_listed_twice_is_one_reviewer_with_one_vote(monday_morning: datetime) -> None:
    flow = reviewers_from_the_data("all")

    begun = start(flow, {"approvers": ["ann", "bob", "ann"]}, monday_morning)

    assert reviewers_of(begun) == ["ann", "bob"]
    after_ann = vote(flow, begun, "approved", {})
    assert active_steps(after_ann.state) == {"review"}  # bob's vote is still needed


@pytest.mark.parametrize(
    ("data", "why"),
    [
        ({}, "which is not filled in; it should hold user names"),
        ({"approvers": []}, "which names nobody"),
        ({"approvers": ["", "  "]}, "which names nobody"),
        ({"approvers": 42}, "which holds a number; it should hold user names"),
        ({"approvers": {"user": "ann"}}, "which holds an object; it should hold user names"),
        ({"approvers": ["ann", 7]}, "whose item 2 is a number, not a user name"),
        ({"approvers": ["ann", ["bob"]]}, "whose item 2 is a list, not a user name"),
    ],
)
def test_a_field_that_names_no_reviewers_stops_the_review_on_an_incident(
    monday_morning: datetime, data: dict[str, Any], why: str
) -> None:
    flow = reviewers_from_the_data()

    begun = start(flow, data, monday_morning)

    prefix = "step 'review' stopped: the reviewers come from the field 'approvers', "
    assert incidents(begun) == [prefix + why]
    assert not begun.state.ended
    assert reviewers_of(begun) == []
    assert not any(isinstance(effect, ScheduleTimer) for effect in begun.effects)
    (run,) = begun.state.runs.values()
    assert run.incident == prefix + why


def test_a_retry_of_a_review_with_no_reviewers_stops_again_and_opens_nothing(
    monday_morning: datetime,
) -> None:
    flow = reviewers_from_the_data()
    begun = start(flow, {"approvers": []}, monday_morning)

    again = advance(flow, begun.state, Retried("admin"), monday_morning + timedelta(hours=1))

    assert [event.kind for event in again.audit] == ["retried", "incident"]
    assert reviewers_of(again) == []


# The reason a vote shows -----------------------------------------------------------------


def test_a_vote_shows_the_reason_from_any_comment_field(monday_morning: datetime) -> None:
    flow = reviewers_from_the_data()
    begun = start(flow, {"approvers": ["ann", "bob"]}, monday_morning)

    voted = vote(flow, begun, "rejected", {"approval_comment": "  No rollback plan "})

    (event,) = [event for event in voted.audit if event.kind == "voted"]
    assert (event.why, event.detail["vote"]) == ("No rollback plan", "rejected")


def test_a_vote_shows_the_first_filled_comment_field_by_key(monday_morning: datetime) -> None:
    flow = reviewers_from_the_data()
    begun = start(flow, {"approvers": ["ann", "bob"]}, monday_morning)

    data = {"comment": "Fine by me", "approval_comment": "Test the rollback", "risk_comment": ""}
    voted = vote(flow, begun, "approved", data)

    assert [event.why for event in voted.audit if event.kind == "voted"] == ["Test the rollback"]


def test_a_vote_without_a_reason_shows_none(monday_morning: datetime) -> None:
    flow = reviewers_from_the_data()
    begun = start(flow, {"approvers": ["ann", "bob"]}, monday_morning)

    voted = vote(flow, begun, "approved", {"approval_comment": "   ", "no_comment": True})

    assert [event.why for event in voted.audit if event.kind == "voted"] == [None]


# An escalation action that fails ----------------------------------------------------------


def shift_desk() -> Workflow:
    """Return a desk task whose ladder hands it to the person on shift: a division by the
    number of shifts, which fails until a sibling branch has said how many there are."""
    rung = {
        "after": "PT1H",
        "do": [
            {"remind": "assignee"},
            {"reassign": {"user": "{{ team[(shift / shifts) | int] }}"}},
            {"notify": {"to": "requester", "template": "still-working"}},
        ],
        "repeat": {"every": "PT1H", "limit": 2},
    }
    return build(
        workflow(
            "both",
            {
                "both": {
                    "type": "parallel",
                    "branches": {
                        "desk": {
                            "first": "work",
                            "steps": {
                                "work": {
                                    "type": "task",
                                    "assign": {"group": "desk"},
                                    "escalate": [rung],
                                    "next": "desk_done",
                                },
                                "desk_done": {"type": "end"},
                            },
                        },
                        "plan": {
                            "first": "count_shifts",
                            "steps": {
                                "count_shifts": {
                                    "type": "task",
                                    "assign": {"group": "leads"},
                                    "next": "plan_done",
                                },
                                "plan_done": {"type": "end"},
                            },
                        },
                    },
                    "next": "done",
                },
                "done": {"type": "end"},
            },
        )
    )


@pytest.mark.xfail(
    strict=True,
    reason="needs the runtime to resume a rung on `Retried` (engine/core/runtime.py): "
    "today a failed action drops the rest of its rung and its repeats",
)
def test_a_retry_carries_out_the_rest_of_a_failed_rung_once_and_keeps_its_repeats(
    monday_morning: datetime,
) -> None:
    flow = shift_desk()
    begun = start(flow, {"team": ["lee", "erin"], "shift": 1, "shifts": 0}, monday_morning)
    (timer,) = timers_at(begun.state, "work")
    first_time = monday_morning + timedelta(hours=1)

    failed = advance(flow, begun.state, TimerFired(timer), first_time)

    assert [effect.template for effect in failed.effects if isinstance(effect, Notify)] == [
        "reminder"
    ]
    assert incidents(failed)  # the step stopped on an incident an admin can retry
    planned = advance(
        flow,
        failed.state,
        TaskCompleted(task_at(failed.state, "count_shifts"), "done", {"shifts": 2}, "lead"),
        first_time + timedelta(minutes=10),
    )

    retried = advance(flow, planned.state, Retried("admin"), first_time + timedelta(minutes=20))

    # The rest of the rung, once: the reassignment and the requester's message, no reminder.
    assert [effect.template for effect in retried.effects if isinstance(effect, Notify)] == [
        "still-working"
    ]
    assert [effect.assign for effect in retried.effects if isinstance(effect, ReassignTask)] == [
        {"user": "lee"}
    ]
    (work,) = tasks_at(retried.state, "work")
    assert retried.state.tasks[work].assign == {"user": "lee"}
    # Its repeats are kept: the next time is still due two hours after the step began.
    assert [retried.state.timers[key].at for key in timers_at(retried.state, "work")] == [
        timestamp(monday_morning + timedelta(hours=2))
    ]
