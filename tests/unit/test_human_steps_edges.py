"""Human steps at their edges: reviewers named in the data, the reason a vote shows, and
an escalation action that fails (its rung waits for a retry, the tasks open)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import pytest

from engine.core.calendars import Calendar
from engine.core.definition import Workflow
from engine.core.effects import CancelTask, Notify, OpenTask, ReassignTask, ScheduleTimer
from engine.core.errors import InvalidEvent
from engine.core.events import Retried, TaskCompleted, TimerFired
from engine.core.runtime import Transition, advance, start
from engine.core.state import InstanceState, ResumePoint, timestamp
from tests.unit.flows import (
    active_steps,
    build,
    review,
    saved,
    task_at,
    tasks_at,
    timers_at,
    workflow,
)


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


def failed_once(flow: Workflow, at: datetime) -> Transition:
    """Start the shift desk with no shifts counted yet, and fire its rung an hour later."""
    begun = start(flow, {"team": ["lee", "erin"], "shift": 1, "shifts": 0}, at)
    (timer,) = timers_at(begun.state, "work")
    return advance(flow, begun.state, TimerFired(timer), at + timedelta(hours=1))


def shifts_counted(flow: Workflow, failed: Transition, at: datetime) -> Transition:
    """The lead says how many shifts there are: the rung's division works from then on."""
    task = TaskCompleted(task_at(failed.state, "count_shifts"), "done", {"shifts": 2}, "lead")
    return advance(flow, failed.state, task, at)


def templates(transition: Transition) -> list[str | None]:
    return [effect.template for effect in transition.effects if isinstance(effect, Notify)]


def test_a_failed_escalation_action_stops_the_rest_of_its_rung_and_the_task_stays_open(
    monday_morning: datetime,
) -> None:
    flow = shift_desk()

    failed = failed_once(flow, monday_morning)

    (run,) = [run for run in failed.state.runs.values() if run.step == "work"]
    assert run.incident is not None
    assert run.incident.startswith("an escalation of step 'work' failed: ")
    # It stopped at the reassignment (action 2) of the rung's first time, due at 1h.
    due = timestamp(monday_morning + timedelta(hours=1))
    assert run.resume == [ResumePoint(rung=0, count=0, action=1, at=due)]
    (work,) = tasks_at(failed.state, "work")
    assert failed.state.tasks[work].assign == {"group": "desk"}
    assert not [effect for effect in failed.effects if isinstance(effect, CancelTask)]
    assert timers_at(failed.state, "work") == []  # its next time waits for the retry
    (incident,) = [event for event in failed.audit if event.kind == "incident"]
    assert incident.detail == {"run": run.id, "waiting": True}
    assert InstanceState.from_dict(saved(failed.state)) == failed.state


def test_completing_the_task_while_its_rung_waits_for_a_retry_ends_the_step_and_the_incident(
    monday_morning: datetime,
) -> None:
    flow = shift_desk()
    failed = failed_once(flow, monday_morning)
    later = monday_morning + timedelta(hours=1, minutes=10)

    done = advance(flow, failed.state, TaskCompleted(task_at(failed.state, "work"), "done"), later)

    assert active_steps(done.state) == {"both", "count_shifts"}
    assert [run.incident for run in done.state.runs.values()] == [None, None]
    with pytest.raises(InvalidEvent, match="no step stopped on an incident"):
        advance(flow, done.state, Retried("admin"), later)


def test_a_retry_that_fails_again_does_nothing_twice_and_waits_at_the_same_action(
    monday_morning: datetime,
) -> None:
    flow = shift_desk()
    failed = failed_once(flow, monday_morning)

    again = advance(flow, failed.state, Retried("admin"), monday_morning + timedelta(hours=2))

    assert templates(again) == []  # no second reminder
    assert not [effect for effect in again.effects if isinstance(effect, ReassignTask)]
    assert [event.kind for event in again.audit] == ["retried", "incident"]
    (run,) = [run for run in again.state.runs.values() if run.step == "work"]
    assert run.resume == [ResumePoint(0, 0, 1, timestamp(monday_morning + timedelta(hours=1)))]
    assert timers_at(again.state, "work") == []


@pytest.mark.parametrize(
    ("retried_after", "next_time"),
    [(timedelta(hours=2, minutes=30), timedelta(hours=3)), (timedelta(hours=3, minutes=30), None)],
)
def test_a_retry_after_later_times_of_the_rung_skips_them_rather_than_catching_up(
    monday_morning: datetime, retried_after: timedelta, next_time: timedelta | None
) -> None:
    flow = shift_desk()
    failed = failed_once(flow, monday_morning)
    planned = shifts_counted(flow, failed, monday_morning + timedelta(hours=1, minutes=10))

    retried = advance(flow, planned.state, Retried("admin"), monday_morning + retried_after)

    assert templates(retried) == ["still-working"]  # the rest of the rung, once
    expected = [timestamp(monday_morning + next_time)] if next_time else []
    assert [retried.state.timers[key].at for key in timers_at(retried.state, "work")] == expected


def test_the_rungs_next_time_after_a_retry_carries_out_all_its_actions(
    monday_morning: datetime,
) -> None:
    flow = shift_desk()
    failed = failed_once(flow, monday_morning)
    planned = shifts_counted(flow, failed, monday_morning + timedelta(hours=1, minutes=10))
    retried = advance(flow, planned.state, Retried("admin"), monday_morning + timedelta(hours=1.5))
    (timer,) = timers_at(retried.state, "work")

    fired = advance(flow, retried.state, TimerFired(timer), monday_morning + timedelta(hours=2))

    assert templates(fired) == ["reminder", "still-working"]
    assert [effect.assign for effect in fired.effects if isinstance(effect, ReassignTask)] == [
        {"user": "lee"}
    ]
    assert [event.why for event in fired.audit if event.kind == "escalated"] == [
        "no answer after 2h (escalation 1, time 2 of 3)"
    ]
    assert [event.why for event in retried.audit if event.kind == "task_reassigned"] == [
        "no answer after 1h (escalation 1, time 1 of 3)"
    ]


def escalated_review() -> Workflow:
    """A review by two whose rung hands every open review to the backup, then moves on."""
    rung = {
        "after": "PT1H",
        "do": [{"reassign": {"user": "{{ backup }}"}}, {"complete": "approved"}],
    }
    return build(review("all", 2, escalate=[rung]))


def test_a_reassignment_refused_for_one_review_gives_none_away(
    monday_morning: datetime,
) -> None:
    flow = escalated_review()
    begun = start(flow, {"backup": "dan"}, monday_morning)
    first, second = tasks_at(begun.state, "review")
    (timer,) = timers_at(begun.state, "review")
    refused = {("reassign_task", second): "dan cannot review this change"}

    fired = advance(
        flow, begun.state, TimerFired(timer), monday_morning + timedelta(hours=1), refused=refused
    )

    assert not [effect for effect in fired.effects if isinstance(effect, ReassignTask)]
    assert "task_reassigned" not in [event.kind for event in fired.audit]
    assert fired.state.tasks[first].assign == {"user": "user1"}
    assert active_steps(fired.state) == {"review"}  # the `complete` after it waits too
    (run,) = fired.state.runs.values()
    assert run.incident == "an escalation of step 'review' failed: dan cannot review this change"


def test_a_vote_while_a_rung_waits_keeps_it_and_the_retry_acts_on_the_reviews_still_open(
    monday_morning: datetime,
) -> None:
    flow = escalated_review()
    begun = start(flow, {"backup": "dan"}, monday_morning)
    second = tasks_at(begun.state, "review")[1]  # `vote` completes the first
    (timer,) = timers_at(begun.state, "review")
    refused = {("reassign_task", second): "dan cannot review this change"}
    fired = advance(
        flow, begun.state, TimerFired(timer), monday_morning + timedelta(hours=1), refused=refused
    )
    voted = vote(flow, fired, "approved", {})
    assert [run.incident is not None for run in voted.state.runs.values()] == [True]

    retried = advance(flow, voted.state, Retried("admin"), monday_morning + timedelta(hours=2))

    assert [effect.task for effect in retried.effects if isinstance(effect, ReassignTask)] == [
        second
    ]
    routed = [event.why for event in retried.audit if event.kind == "routed"]
    assert routed == ["completed as 'approved' by escalation: no answer after 1h (escalation 1)"]
    assert active_steps(retried.state) == {"implement"}


def test_a_rung_whose_next_time_cannot_be_counted_leaves_only_that_to_the_retry(
    monday_morning: datetime, calendars: Mapping[str, Calendar]
) -> None:
    rung = {
        "after": "PT1H",
        "calendar": "office",
        "do": [{"remind": "assignee"}],
        "repeat": {"every": "PT1H", "limit": 2},
    }
    work = {"type": "task", "assign": {"group": "desk"}, "escalate": [rung], "next": "done"}
    flow = build(workflow("work", {"work": work, "done": {"type": "end"}}))
    begun = start(flow, {}, monday_morning, calendars=calendars)
    (timer,) = timers_at(begun.state, "work")
    an_hour_on = monday_morning + timedelta(hours=1)

    blind = advance(flow, begun.state, TimerFired(timer), an_hour_on)  # 'office' is not there

    assert templates(blind) == ["reminder"]
    (run,) = blind.state.runs.values()
    assert run.resume == [ResumePoint(0, 0, 1, timestamp(an_hour_on))]  # past its one action
    retried = advance(
        flow, blind.state, Retried("admin"), an_hour_on + timedelta(minutes=5), calendars=calendars
    )
    assert templates(retried) == []
    assert [retried.state.timers[key].at for key in timers_at(retried.state, "work")] == [
        timestamp(monday_morning + timedelta(hours=2))
    ]


def test_a_person_named_twice_among_listed_reviewers_gets_one_task(
    monday_morning: datetime,
) -> None:
    """The checker refuses a person listed twice; a review run by the core anyway (or whose
    two ways of naming reviewers meet in one person) opens one task for them, as reviewers
    from a field are each taken once: a quorum counts people."""
    doc = review(2)
    doc["steps"]["review"]["reviewers"] = [
        {"role": "controller", "assign": {"user": "fred"}},
        {"role": "treasurer", "assign": {"user": "fran"}},
        {"role": "budget owner", "assign": {"user": "fred"}},
    ]
    begun = start(Workflow.from_document(doc), {}, monday_morning)  # the checker would refuse
    assert reviewers_of(begun) == ["fred", "fran"]
    assert [run.needed for run in begun.state.runs.values() if run.step == "review"] == [2]
