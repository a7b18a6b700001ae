"""Escalation ladders: timers per rung, what each action does when nobody answers, and cleanup."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from engine.core.calendars import Calendar
from engine.core.definition import Workflow
from engine.core.effects import (
    CancelTask,
    CancelTimer,
    Notify,
    OpenTask,
    ReassignTask,
    RetitleTask,
    ScheduleTimer,
)
from engine.core.events import TaskCompleted, TimerFired
from engine.core.runtime import Transition, advance, start
from engine.core.state import InstanceState
from tests.unit.flows import (
    FRIDAY_AFTERNOON,
    active_steps,
    build,
    review,
    task_at,
    tasks_at,
    timers_at,
    workflow,
)


def ladder(*rungs: Mapping[str, Any], **step: Any) -> dict[str, Any]:
    """Return an incident whose `work` task escalates along `rungs`; `stuck` goes to triage."""
    return workflow(
        "work",
        {
            "work": {
                "type": "task",
                "title": "Fix it",
                "assign": {"group": "desk"},
                "escalate": list(rungs),
                "on": {"resolved": "closed", "stuck": "triage"},
                **step,
            },
            "triage": {"type": "task", "assign": {"group": "leads"}, "next": "closed"},
            "closed": {"type": "end", "status": "closed"},
        },
        priorities=["P1", "P2", "P3", "P4"],
    )


def fire(
    flow: Workflow,
    state: InstanceState,
    timer: str,
    calendars: Mapping[str, Calendar] | None = None,
    at: datetime | None = None,
) -> Transition:
    """Fire a pending timer at its due time (or later, at `at`)."""
    due = datetime.fromisoformat(state.timers[timer].at)
    return advance(flow, state, TimerFired(timer), at or due, calendars=calendars)


def due_times(transition: Transition) -> list[str]:
    return [effect.at for effect in transition.effects if isinstance(effect, ScheduleTimer)]


def whys(transition: Transition, kind: str) -> list[str | None]:
    return [event.why for event in transition.audit if event.kind == kind]


# Scheduling ------------------------------------------------------------------------------


def test_ladder_schedules_one_timer_per_rung_when_the_step_starts(
    monday_morning: datetime,
) -> None:
    flow = build(
        ladder(
            {"after": "PT30M", "do": [{"remind": "assignee"}]},
            {"after": "PT2H", "do": [{"reassign": "next_tier"}]},
            {"after": "P1D", "do": [{"goto": "triage"}]},
        )
    )

    begun = start(flow, {}, monday_morning)

    timers = timers_at(begun.state, "work")
    assert [effect for effect in begun.effects if isinstance(effect, ScheduleTimer)] == [
        ScheduleTimer(timers[0], "2026-11-23T08:30:00+00:00", "work"),
        ScheduleTimer(timers[1], "2026-11-23T10:00:00+00:00", "work"),
        ScheduleTimer(timers[2], "2026-11-24T08:00:00+00:00", "work"),
    ]
    assert [begun.state.timers[timer].rung for timer in timers] == [0, 1, 2]


def test_ladder_in_business_time_waits_over_the_weekend(calendars: dict[str, Calendar]) -> None:
    flow = build(
        ladder(
            {"after": "PT30M", "do": [{"remind": "assignee"}]},
            {"after": "PT2H", "do": [{"reassign": "next_tier"}]},
            calendar="office",
            due="PT4H",
        )
    )

    begun = start(flow, {}, FRIDAY_AFTERNOON, calendars=calendars)

    # Friday 16:00 in Amsterdam, the office closes at 17:00 and opens again Monday 08:30.
    assert due_times(begun) == ["2026-11-27T15:30:00+00:00", "2026-11-30T08:30:00+00:00"]
    (task,) = [effect for effect in begun.effects if isinstance(effect, OpenTask)]
    assert task.due == "2026-11-30T10:30:00+00:00"


def test_a_rung_may_count_business_time_on_a_step_that_counts_wall_time(
    calendars: dict[str, Calendar],
) -> None:
    flow = build(
        ladder(
            {"after": "PT2H", "do": [{"remind": "assignee"}]},
            {"after": "PT2H", "calendar": "office", "do": [{"reassign": "next_tier"}]},
        )
    )

    begun = start(flow, {}, FRIDAY_AFTERNOON, calendars=calendars)

    assert due_times(begun) == ["2026-11-27T17:00:00+00:00", "2026-11-30T08:30:00+00:00"]


def test_business_time_without_its_calendar_stops_the_step_on_an_incident_by_name() -> None:
    flow = build(ladder({"after": "PT2H", "do": [{"remind": "assignee"}]}, calendar="office"))

    begun = start(flow, {}, FRIDAY_AFTERNOON)

    (run,) = begun.state.runs.values()
    assert run.incident is not None
    assert "the business calendar 'office' is not known here" in run.incident
    assert begun.state.tasks == {}
    assert begun.state.timers == {}
    (incident,) = [event for event in begun.audit if event.kind == "incident"]
    assert incident.step == run.step
    assert incident.why == run.incident


# Actions ---------------------------------------------------------------------------------


def test_remind_notifies_and_leaves_the_task_open(monday_morning: datetime) -> None:
    flow = build(ladder({"after": "PT30M", "do": [{"remind": "assignee"}]}))
    state = start(flow, {}, monday_morning).state
    task = task_at(state, "work")
    (timer,) = state.timers

    fired = fire(flow, state, timer)

    assert fired.effects == (Notify("work", "assignee", "reminder", tasks=(task,)),)
    assert list(fired.state.tasks) == [task]
    assert fired.state.timers == {}
    assert whys(fired, "escalated") == ["no answer after 30 min (escalation 1)"]


@pytest.mark.parametrize(
    ("reassign", "assign"),
    [
        ({"group": "{{ team }}-l2", "strategy": "round_robin"},
         {"group": "network-l2", "strategy": "round_robin"}),
        ("next_tier", {"next_tier": True}),
        ("manager", {"manager": True}),
    ],
)  # fmt: skip
def test_reassign_gives_the_task_to_someone_else(
    reassign: Any, assign: dict[str, Any], monday_morning: datetime
) -> None:
    flow = build(ladder({"after": "PT1H", "do": [{"reassign": reassign}]}))
    state = start(flow, {"team": "network"}, monday_morning).state
    task = task_at(state, "work")
    (timer,) = state.timers

    fired = fire(flow, state, timer)

    why = "no answer after 1h (escalation 1)"
    assert fired.effects == (ReassignTask(task, assign, why),)
    assert fired.state.tasks[task].assign == assign
    assert whys(fired, "task_reassigned") == [why]
    assert state.tasks[task].assign == {"group": "desk"}


@pytest.mark.parametrize(
    ("raise_to", "before", "after"),
    [(True, "P3", "P2"), (True, "P2", "P1"), ("P1", "P3", "P1")],
)
def test_raise_priority_makes_the_instance_more_urgent(
    raise_to: Any, before: str, after: str, monday_morning: datetime
) -> None:
    flow = build(ladder({"after": "PT2H", "do": [{"raise_priority": raise_to}]}))
    state = start(flow, {"priority": before}, monday_morning).state
    (timer,) = state.timers

    fired = fire(flow, state, timer)

    assert fired.state.data["priority"] == after
    (changed,) = [event for event in fired.audit if event.kind == "priority_changed"]
    assert changed.why == f"{before} -> {after}: no answer after 2h (escalation 1)"
    assert changed.detail == {"priority": after}


@pytest.mark.parametrize(("raise_to", "current"), [(True, "P1"), ("P3", "P2")])
def test_raise_priority_never_makes_the_instance_less_urgent(
    raise_to: Any, current: str, monday_morning: datetime
) -> None:
    flow = build(ladder({"after": "PT2H", "do": [{"raise_priority": raise_to}]}))
    state = start(flow, {"priority": current}, monday_morning).state
    (timer,) = state.timers

    fired = fire(flow, state, timer)

    assert fired.state.data["priority"] == current
    assert whys(fired, "priority_changed") == []


@pytest.mark.parametrize(
    "notify",
    [
        {"to": {"group": "management"}, "template": "overdue"},
        {"webhook": "https://hooks.example.com/overdue"},
    ],
)
def test_notify_sends_the_message_the_rung_names(
    notify: dict[str, Any], monday_morning: datetime
) -> None:
    flow = build(ladder({"after": "PT4H", "do": [{"notify": notify}]}))
    state = start(flow, {}, monday_morning).state
    (timer,) = state.timers

    fired = fire(flow, state, timer)

    assert fired.effects == (
        Notify(
            "work",
            notify.get("to"),
            notify.get("template"),
            notify.get("webhook"),
            (task_at(state, "work"),),
        ),
    )


def test_a_rung_carries_out_all_its_actions_in_order(monday_morning: datetime) -> None:
    flow = build(
        ladder(
            {
                "after": "PT2H",
                "do": [
                    {"remind": "assignee"},
                    {"reassign": "next_tier"},
                    {"raise_priority": True},
                ],
            }
        )
    )
    state = start(flow, {"priority": "P4"}, monday_morning).state
    (timer,) = state.timers

    fired = fire(flow, state, timer)

    # The open task is given the title its step gives now: its priority may be in it.
    assert [type(effect) for effect in fired.effects] == [Notify, ReassignTask, RetitleTask]
    assert fired.state.data["priority"] == "P3"


def purchase(**extra: Any) -> dict[str, Any]:
    return workflow(
        "approve",
        {
            "approve": {
                "type": "approval",
                "assign": {"user": "{{ manager }}"},
                "escalate": [
                    {"after": "P1D", "do": [{"remind": "assignee"}]},
                    {"after": "P3D", "do": [{"complete": "approved"}]},
                ],
                "on": {"approved": "buy", "rejected": "declined"},
                **extra,
            },
            "buy": {"type": "task", "assign": {"group": "buyers"}, "next": "bought"},
            "bought": {"type": "end"},
            "declined": {"type": "end", "status": "declined"},
        },
    )


@pytest.mark.parametrize(("outcome", "step"), [("approved", "buy"), ("rejected", "declined")])
def test_completing_on_timeout_decides_for_the_approver_and_withdraws_the_task(
    outcome: str, step: str, monday_morning: datetime
) -> None:
    doc = purchase()
    doc["steps"]["approve"]["escalate"][1]["do"] = [{"complete": outcome}]
    flow = build(doc)
    state = start(flow, {"manager": "mia"}, monday_morning).state
    task = task_at(state, "approve")
    reminder, timeout = timers_at(state, "approve")

    fired = fire(flow, state, timeout)

    assert CancelTask(task, "the step is finished") in fired.effects
    assert CancelTimer(reminder) in fired.effects
    assert task not in fired.state.tasks
    (routed,) = [event for event in fired.audit if event.kind == "routed"]
    assert (
        routed.why == f"completed as '{outcome}' by escalation: no answer after 3d (escalation 2)"
    )
    assert routed.detail == {"to": step, "outcome": outcome}
    assert active_steps(fired.state) == ({"buy"} if outcome == "approved" else set())


def test_completing_a_review_on_timeout_withdraws_every_review(monday_morning: datetime) -> None:
    flow = build(review(2, 3, escalate=[{"after": "P2D", "do": [{"complete": "rejected"}]}]))
    state = start(flow, {}, monday_morning).state
    tasks = tasks_at(state, "review")
    (timeout,) = state.timers

    fired = fire(flow, state, timeout)

    cancelled = [effect.task for effect in fired.effects if isinstance(effect, CancelTask)]
    assert cancelled == tasks
    assert fired.state.status == "rejected"
    assert fired.state.tasks == {}


def test_goto_leaves_the_step_for_the_one_named(monday_morning: datetime) -> None:
    flow = build(
        ladder(
            {"after": "P1D", "do": [{"goto": "triage"}]},
            {"after": "PT12H", "do": [{"remind": "assignee"}]},
        )
    )
    state = start(flow, {}, monday_morning).state
    task = task_at(state, "work")
    later, goto = timers_at(state, "work")  # soonest first: the reminder, not yet fired

    fired = fire(flow, state, goto)

    assert CancelTask(task, "the step is finished") in fired.effects
    assert CancelTimer(later) in fired.effects
    assert active_steps(fired.state) == {"triage"}
    assert whys(fired, "routed") == ["moved on by escalation: no answer after 1d (escalation 1)"]


# Recurring reminders ---------------------------------------------------------------------


def test_recurring_reminder_repeats_until_its_limit(monday_morning: datetime) -> None:
    flow = build(
        ladder({"after": "PT30M", "repeat": {"every": "PT1H", "limit": 2},
                "do": [{"remind": "assignee"}]})
    )  # fmt: skip
    state = start(flow, {}, monday_morning).state
    reminders: list[str | None] = []
    scheduled: list[str] = []

    while state.timers:
        (timer,) = state.timers
        fired = fire(flow, state, timer)
        reminders += whys(fired, "escalated")
        scheduled += due_times(fired)
        state = fired.state

    assert reminders == [
        "no answer after 30 min (escalation 1, time 1 of 3)",
        "no answer after 1h30 (escalation 1, time 2 of 3)",
        "no answer after 2h30 (escalation 1, time 3 of 3)",
    ]
    assert scheduled == ["2026-11-23T09:30:00+00:00", "2026-11-23T10:30:00+00:00"]
    assert len(state.tasks) == 1


def test_recurring_reminder_keeps_its_rhythm_when_fired_late(monday_morning: datetime) -> None:
    flow = build(
        ladder({"after": "PT30M", "repeat": {"every": "PT1H", "limit": 2},
                "do": [{"remind": "assignee"}]})
    )  # fmt: skip
    state = start(flow, {}, monday_morning).state
    (timer,) = state.timers

    fired = fire(flow, state, timer, at=monday_morning + timedelta(minutes=50))

    assert due_times(fired) == ["2026-11-23T09:30:00+00:00"]


def test_reminders_missed_while_a_timer_was_late_are_not_sent_in_a_burst(
    monday_morning: datetime,
) -> None:
    flow = build(
        ladder({"after": "PT30M", "repeat": {"every": "PT1H", "limit": 3},
                "do": [{"remind": "assignee"}]})
    )  # fmt: skip
    state = start(flow, {}, monday_morning).state
    (timer,) = state.timers

    # Due 08:30; the worker was down until 11:00, so 09:30 and 10:30 have passed.
    fired = fire(flow, state, timer, at=monday_morning + timedelta(hours=3))

    assert due_times(fired) == ["2026-11-23T11:30:00+00:00"]
    (last,) = fired.state.timers
    final = fire(flow, fired.state, last)
    assert whys(final, "escalated") == ["no answer after 3h30 (escalation 1, time 4 of 4)"]
    assert final.state.timers == {}


def test_recurring_reminder_in_business_time_resumes_when_the_office_opens(
    calendars: dict[str, Calendar],
) -> None:
    flow = build(
        ladder({"after": "PT30M", "repeat": {"every": "PT1H", "limit": 3},
                "do": [{"remind": "assignee"}]}, calendar="office")
    )  # fmt: skip
    state = start(flow, {}, FRIDAY_AFTERNOON, calendars=calendars).state
    (timer,) = state.timers

    fired = fire(flow, state, timer, calendars)

    # Reminded at 16:30 on Friday; the next hour is 16:30-17:00 and Monday 08:30-09:00.
    assert due_times(fired) == ["2026-11-30T08:00:00+00:00"]


# Leaving the step ------------------------------------------------------------------------


def test_leaving_the_step_cancels_its_pending_escalations(monday_morning: datetime) -> None:
    flow = build(
        ladder(
            {"after": "PT30M", "repeat": {"every": "PT1H", "limit": 3},
             "do": [{"remind": "assignee"}]},
            {"after": "PT2H", "do": [{"reassign": "next_tier"}]},
            {"after": "P1D", "do": [{"goto": "triage"}]},
        )
    )  # fmt: skip
    state = start(flow, {}, monday_morning).state
    first, *pending = timers_at(state, "work")
    state = fire(flow, state, first).state
    pending += [timer for timer in state.timers if timer not in pending]
    assert len(pending) == 3

    done = advance(
        flow,
        state,
        TaskCompleted(task_at(state, "work"), "stuck"),
        monday_morning + timedelta(hours=1),
    )

    cancelled = [effect.timer for effect in done.effects if isinstance(effect, CancelTimer)]
    assert sorted(cancelled) == sorted(pending)
    assert done.state.timers == {}
    for timer in pending:
        late = advance(flow, done.state, TimerFired(timer), monday_morning + timedelta(days=2))
        assert (late.state, late.effects) == (done.state, ())


# The shipped pack ------------------------------------------------------------------------


def test_unanswered_incident_is_reminded_then_handed_to_the_next_tier_more_urgently(
    workflows: Mapping[str, Workflow], calendars: dict[str, Calendar]
) -> None:
    flow = workflows["it-incident"]
    report = {"summary": "VPN drops", "category": "network", "impact": "medium",
              "urgency": "medium"}  # fmt: skip
    begun = start(flow, report, FRIDAY_AFTERNOON, calendars=calendars, number="INC-000001")
    state = begun.state
    assert state.data["priority"] == "P3"
    remind, handover = timers_at(state, "work")
    assert [state.timers[remind].at, state.timers[handover].at] == [
        "2026-11-27T15:30:00+00:00",
        "2026-11-30T08:30:00+00:00",
    ]

    reminded = fire(flow, state, remind, calendars)
    assert [type(effect) for effect in reminded.effects] == [Notify, ScheduleTimer]
    assert due_times(reminded) == ["2026-11-30T08:00:00+00:00"]
    handed = fire(flow, reminded.state, handover, calendars)

    task = task_at(handed.state, "work")
    reassigned = [(e.task, e.assign) for e in handed.effects if isinstance(e, ReassignTask)]
    assert reassigned == [(task, {"next_tier": True})]
    assert handed.state.data["priority"] == "P2"
    assert handed.state.tasks[task].assign == {"next_tier": True}


def test_unanswered_purchase_is_reminded_after_a_day_and_declined_after_five(
    workflows: Mapping[str, Workflow],
) -> None:
    flow = workflows["service-request"]
    request = {"item": "laptop", "details": "For the new hire", "cost": 1400, "manager": "mia"}
    state = start(flow, request, datetime(2026, 11, 23, 8, tzinfo=UTC), requester="ann").state
    remind, timeout = timers_at(state, "approve")

    reminded = fire(flow, state, remind)
    assert reminded.effects == (
        Notify("approve", "assignee", "reminder", tasks=(task_at(state, "approve"),)),
    )
    declined = fire(flow, reminded.state, timeout)

    assert declined.state.status == "declined"
    assert declined.state.ended_at == "2026-11-28T08:00:00+00:00"
    assert Notify("tell_requester", "requester", "request-declined") in declined.effects
