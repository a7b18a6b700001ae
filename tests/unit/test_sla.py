"""SLA clocks: targets per priority in office hours, pauses, re-targeting, warnings, breaches."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from engine.core.calendars import Calendar
from engine.core.clocks import Clock, describe_target
from engine.core.definition import Workflow
from engine.core.effects import CancelTimer, Notify, ReassignTask, ScheduleTimer
from engine.core.events import TaskCompleted, TimerFired
from engine.core.runtime import Transition, advance, start
from engine.core.state import InstanceState
from tests.unit.flows import build, saved, task_at, workflow

#: Monday 23 November 2026, 14:00 in Amsterdam (13:00 UTC): 3h30 of office time is left.
MONDAY_AFTERNOON = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)

TARGETS = {
    "P1": {"response": "PT15M", "resolution": "PT4H"},
    "P2": {"response": "PT1H", "resolution": "PT8H"},
    "P3": {"response": "PT4H", "resolution": "P3D"},
}


def incident(*rungs: Mapping[str, Any], **policy: Any) -> Workflow:
    """Return an incident worked by the desk, who may ask the requester for more information."""
    return build(
        workflow(
            "work",
            {
                "work": {
                    "type": "task",
                    "title": "Fix it",
                    "status": "in_progress",
                    "assign": {"group": "desk"},
                    "escalate": list(rungs),
                    "on": {"resolved": "closed", "needs_info": "ask"},
                },
                "ask": {
                    "type": "task",
                    "title": "Tell us more",
                    "status": "waiting_on_requester",
                    "assign": {"requester": True},
                    "next": "work",
                },
                "closed": {"type": "end", "status": "closed"},
            },
            priorities=["P1", "P2", "P3"],
            sla={
                "calendar": "office",
                "targets": TARGETS,
                "pause_while": ["waiting_on_requester"],
                **policy,
            },
        )
    )


def utc(day: int, hour: int, minute: int = 0) -> datetime:
    """Return a moment of November 2026 given in UTC (Amsterdam is an hour ahead)."""
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def opened(flow: Workflow, calendars: Mapping[str, Calendar], priority: str = "P2") -> Transition:
    return start(
        flow,
        {"priority": priority},
        MONDAY_AFTERNOON,
        requester="ann",
        number="INC-000001",
        calendars=calendars,
    )


def complete(
    flow: Workflow,
    state: InstanceState,
    step: str,
    outcome: str,
    at: datetime,
    calendars: Mapping[str, Calendar],
    **data: Any,
) -> Transition:
    event = TaskCompleted(task_at(state, step), outcome, data, actor="bob")
    return advance(flow, state, event, at, calendars=calendars)


def ask_and_answer(
    flow: Workflow,
    state: InstanceState,
    asked: datetime,
    answered: datetime,
    calendars: Mapping[str, Calendar],
) -> InstanceState:
    """The desk asks the requester something at `asked`; the answer comes at `answered`."""
    waiting = complete(flow, state, "work", "needs_info", asked, calendars).state
    return complete(flow, waiting, "ask", "done", answered, calendars).state


def sla_timer(state: InstanceState, marker: str) -> str:
    (timer,) = [key for key, timer in state.timers.items() if timer.sla == marker]
    return timer


def fire(
    flow: Workflow, state: InstanceState, timer: str, calendars: Mapping[str, Calendar]
) -> Transition:
    due = datetime.fromisoformat(state.timers[timer].at)
    return advance(flow, state, TimerFired(timer), due, calendars=calendars)


def whys(transition: Transition, kind: str) -> list[str | None]:
    return [event.why for event in transition.audit if event.kind == kind]


def clock(state: InstanceState, kind: str) -> Clock:
    assert state.sla is not None
    return state.sla[kind]


def due(state: InstanceState, kind: str) -> datetime:
    return datetime.fromisoformat(clock(state, kind).due_at)


# Starting --------------------------------------------------------------------------------


def test_p2_resolution_of_8_business_hours_runs_across_the_night(
    calendars: Mapping[str, Calendar],
) -> None:
    begun = opened(incident(), calendars)
    # 3h30 on Monday until 17:30, then 4h30 from 08:30 on Tuesday: 13:00 in Amsterdam.
    assert due(begun.state, "resolution") == utc(24, 12)
    assert due(begun.state, "response") == utc(23, 14)
    assert whys(begun, "sla_started") == [
        "response due at 15:00 Mon CET because: P2 = 1 business hour",
        "resolution due at 13:00 Tue CET because: P2 = 8 business hours",
    ]


def test_clocks_start_with_their_warning_timers_and_arm_the_breach_at_the_warning(
    calendars: Mapping[str, Calendar],
) -> None:
    flow = incident()
    state = opened(flow, calendars).state
    at = {timer.sla: timer.at for timer in state.timers.values() if timer.sla}
    assert at == {
        "response:warning": utc(23, 13, 45).isoformat(),
        # 75% of 8 business hours is 6: 3h30 on Monday, 2h30 on Tuesday.
        "resolution:warning": utc(24, 10).isoformat(),
    }
    warned = fire(flow, state, sla_timer(state, "resolution:warning"), calendars).state
    assert sla_timer_at(warned, "resolution:breach") == utc(24, 12).isoformat()


def test_no_clock_starts_without_a_priority_level(calendars: Mapping[str, Calendar]) -> None:
    flow = incident()
    begun = start(flow, {}, MONDAY_AFTERNOON, calendars=calendars)
    assert begun.state.sla is None
    assert not [timer for timer in begun.state.timers.values() if timer.sla]
    assert not [effect for effect in begun.effects if isinstance(effect, CancelTimer)]
    # Setting the level later starts the clocks then.
    later = complete(flow, begun.state, "work", "needs_info", utc(23, 14), calendars)
    assert later.state.sla is None
    answered = complete(flow, later.state, "ask", "done", utc(23, 15), calendars, priority="P1")
    assert clock(answered.state, "resolution").started_at == utc(23, 15).isoformat()
    assert due(answered.state, "resolution") == utc(24, 10)  # 1h30 on Monday, 2h30 on Tuesday


def test_a_workflow_without_sla_is_unaffected(calendars: Mapping[str, Calendar]) -> None:
    doc = workflow(
        "work",
        {
            "work": {"type": "task", "assign": {"group": "desk"}, "next": "done"},
            "done": {"type": "end"},
        },
    )
    flow = build(doc)
    begun = start(flow, {"priority": "P1"}, MONDAY_AFTERNOON, calendars=calendars)
    assert begun.state.sla is None
    assert "sla" not in begun.state.to_dict()
    assert not [event for event in begun.audit if event.kind.startswith("sla")]
    ended = complete(flow, begun.state, "work", "done", utc(23, 14), calendars)
    assert not [event for event in ended.audit if event.kind.startswith("sla")]
    assert ended.state.timers == {}


# Pausing ---------------------------------------------------------------------------------


def test_waiting_on_the_requester_moves_the_due_time_by_the_paused_business_time(
    calendars: Mapping[str, Calendar],
) -> None:
    flow = incident()
    state = opened(flow, calendars).state
    waiting = complete(flow, state, "work", "needs_info", utc(23, 14), calendars)
    assert whys(waiting, "sla_paused") == [
        "resolution clock paused while waiting on requester, 1h counted so far"
    ]
    assert not [timer for timer in waiting.state.timers.values() if timer.sla]
    answered = complete(flow, waiting.state, "ask", "done", utc(23, 15, 10), calendars)
    assert due(answered.state, "resolution") == due(state, "resolution") + timedelta(minutes=70)
    assert whys(answered, "sla_resumed") == [
        "resolution due at 14:10 Tue CET because: P2 = 8 business hours, "
        "paused 1h10 waiting on requester"
    ]
    assert clock(answered.state, "resolution").paused == 70 * 60


def test_pauses_accumulate_and_only_working_time_counts(
    calendars: Mapping[str, Calendar],
) -> None:
    flow = incident()
    state = opened(flow, calendars).state
    state = ask_and_answer(flow, state, utc(23, 14), utc(23, 14, 30), calendars)
    # Asked at 17:00, answered overnight at 07:00: only 30 office minutes pass.
    state = ask_and_answer(flow, state, utc(23, 16), utc(24, 6), calendars)
    resolution = clock(state, "resolution")
    assert resolution.paused == 60 * 60
    assert due(state, "resolution") == utc(24, 13)
    assert resolution.warn_at == sla_timer_at(state, "resolution:warning")


def sla_timer_at(state: InstanceState, marker: str) -> str:
    return state.timers[sla_timer(state, marker)].at


# First response and the end --------------------------------------------------------------


def test_first_response_stops_the_response_clock(calendars: Mapping[str, Calendar]) -> None:
    flow = incident()
    state = opened(flow, calendars).state
    asked = complete(flow, state, "work", "needs_info", utc(23, 13, 40), calendars)
    response = clock(asked.state, "response")
    assert response.stopped_at == utc(23, 13, 40).isoformat()
    assert whys(asked, "sla_stopped") == [
        "response met: first response given after 40 min counted (target P2 = 1 business hour)"
    ]
    assert not [t for t in asked.state.timers.values() if (t.sla or "").startswith("response")]


def test_a_response_at_the_moment_of_its_breach_is_missed_not_met(
    calendars: Mapping[str, Calendar],
) -> None:
    """The breach fired at the due time, then the response came in the same minute: the
    timeline said both "target missed" and "response met" of one clock."""
    flow = incident()
    state = opened(flow, calendars).state
    warned = fire(flow, state, sla_timer(state, "response:warning"), calendars).state
    breach = sla_timer(warned, "response:breach")
    breached = fire(flow, warned, breach, calendars).state
    at = datetime.fromisoformat(warned.timers[breach].at)
    answered = complete(flow, breached, "work", "needs_info", at, calendars)
    [why] = whys(answered, "sla_stopped")
    assert why is not None
    assert why.startswith("response missed: first response given after 1h")
    [stopped] = [event for event in answered.audit if event.kind == "sla_stopped"]
    assert stopped.detail["met"] is False


def test_the_end_of_the_instance_stops_every_clock_and_its_timers(
    calendars: Mapping[str, Calendar],
) -> None:
    flow = incident()
    state = opened(flow, calendars).state
    closed = complete(flow, state, "work", "resolved", utc(24, 13), calendars)
    assert closed.state.timers == {}
    assert {kind: c.stopped_at for kind, c in (closed.state.sla or {}).items()} == {
        "response": utc(24, 13).isoformat(),
        "resolution": utc(24, 13).isoformat(),
    }
    assert whys(closed, "sla_stopped")[-1] == (
        "resolution missed: the instance ended (closed) after 9h counted "
        "(target P2 = 8 business hours)"
    )


# Priority changes ------------------------------------------------------------------------


def test_raising_the_priority_recomputes_the_targets_and_keeps_the_time_spent(
    calendars: Mapping[str, Calendar], monday_morning: datetime
) -> None:
    flow = incident({"after": "PT2H", "calendar": "office", "do": [{"raise_priority": "P1"}]})
    begun = start(flow, {"priority": "P3"}, monday_morning, calendars=calendars)
    assert due(begun.state, "resolution") == utc(26, 8)  # 27 office hours: Thursday 09:00
    (rung,) = [key for key, t in begun.state.timers.items() if t.sla is None]
    raised = fire(flow, begun.state, rung, calendars)
    # Two office hours spent of P1's four: due at 13:00, not four hours from now.
    assert due(raised.state, "resolution") == utc(23, 12)
    assert whys(raised, "sla_changed") == [
        "response due at 09:15 Mon CET because: P1 = 15 business minutes "
        "(was P3 = 4 business hours; 2h already counted)",
        "resolution due at 13:00 Mon CET because: P1 = 4 business hours "
        "(was P3 = 3 business days; 2h already counted)",
    ]
    # The new response target is already past: breached at once, not by a timer in the past.
    assert clock(raised.state, "response").breached
    assert [e.detail["clock"] for e in raised.audit if e.kind == "sla_breached"] == ["response"]
    raised_clock = clock(raised.state, "resolution")
    assert raised_clock.due_at == utc(23, 12).isoformat()
    assert sla_timer_at(raised.state, "resolution:warning") == raised_clock.warn_at
    for effect in raised.effects:
        if isinstance(effect, ScheduleTimer):
            assert datetime.fromisoformat(effect.at) > utc(23, 10)


# Warnings and breaches -------------------------------------------------------------------


def test_warning_and_breach_timers_fire_once(calendars: Mapping[str, Calendar]) -> None:
    flow = incident()
    state = opened(flow, calendars).state
    timer = sla_timer(state, "response:warning")
    warned = fire(flow, state, timer, calendars)
    assert whys(warned, "sla_warning") == [
        "response 75% used; response due at 15:00 Mon CET because: P2 = 1 business hour"
    ]
    assert clock(warned.state, "response").warned
    again = advance(flow, warned.state, TimerFired(timer), utc(23, 14), calendars=calendars)
    assert again == Transition(warned.state, (), ())
    breach = sla_timer(warned.state, "response:breach")
    breached = fire(flow, warned.state, breach, calendars)
    assert clock(breached.state, "response").breached
    assert whys(breached, "sla_breached") == [
        "response target missed: response due at 15:00 Mon CET because: P2 = 1 business hour"
    ]
    assert advance(flow, breached.state, TimerFired(breach), utc(23, 15), calendars=calendars) == (
        Transition(breached.state, (), ())
    )


def test_a_stale_sla_timer_changes_nothing(calendars: Mapping[str, Calendar]) -> None:
    flow = incident()
    state = opened(flow, calendars).state
    old = sla_timer(state, "resolution:warning")
    waiting = complete(flow, state, "work", "needs_info", utc(23, 14), calendars)
    assert CancelTimer(old) in waiting.effects
    moved = complete(flow, waiting.state, "ask", "done", utc(23, 15), calendars).state
    assert sla_timer(moved, "resolution:warning") != old
    stale = advance(flow, moved, TimerFired(old), utc(24, 12), calendars=calendars)
    assert stale == Transition(moved, (), ())
    assert not clock(stale.state, "resolution").warned


def test_a_timer_whose_time_no_longer_matches_the_clock_does_nothing(
    calendars: Mapping[str, Calendar],
) -> None:
    flow = incident()
    state = opened(flow, calendars).state
    timer = sla_timer(state, "resolution:warning")
    clock(state, "resolution").warn_at = utc(25, 12).isoformat()  # as if the due time moved
    fired = advance(flow, state, TimerFired(timer), utc(24, 10), calendars=calendars)
    assert [event.kind for event in fired.audit] == ["timer_fired"]
    assert not clock(fired.state, "resolution").warned


def test_a_breach_runs_the_on_breach_actions(calendars: Mapping[str, Calendar]) -> None:
    flow = incident(
        on_breach=[
            {"notify": {"to": {"group": "leads"}, "template": "sla-breached"}},
            {"raise_priority": True},
            {"reassign": {"group": "leads"}},
        ]
    )
    state = opened(flow, calendars).state
    state = complete(flow, state, "work", "needs_info", utc(23, 13, 30), calendars).state
    state = complete(flow, state, "ask", "done", utc(23, 13, 30), calendars).state
    task = task_at(state, "work")
    state = fire(flow, state, sla_timer(state, "resolution:warning"), calendars).state
    breached = fire(flow, state, sla_timer(state, "resolution:breach"), calendars)
    assert clock(breached.state, "resolution").breached
    assert breached.state.data["priority"] == "P1"
    why = "resolution target missed: resolution due at 13:00 Tue CET because: P2 = 8 business hours"
    assert whys(breached, "sla_breached") == [why]
    assert whys(breached, "priority_changed") == [f"P2 -> P1: {why}"]
    assert Notify("sla", {"group": "leads"}, "sla-breached", None, (task,)) in breached.effects
    assert ReassignTask(task, {"group": "leads"}, why) in breached.effects
    assert breached.state.tasks[task].assign == {"group": "leads"}
    # The new level re-targets the clock; a breach already recorded is not repeated.
    assert clock(breached.state, "resolution").level == "P1"
    assert [e.kind for e in breached.audit].count("sla_breached") == 1
    assert not [t for t in breached.state.timers.values() if t.sla]


# Saving ----------------------------------------------------------------------------------


def test_saving_and_reloading_sla_clocks_changes_nothing(
    calendars: Mapping[str, Calendar],
) -> None:
    flow = incident()
    state = opened(flow, calendars).state
    state = ask_and_answer(flow, state, utc(23, 14), utc(23, 15, 10), calendars)
    state = complete(flow, state, "work", "needs_info", utc(23, 15, 20), calendars).state
    reloaded = InstanceState.from_dict(saved(state))
    assert reloaded == state
    assert reloaded.to_dict() == state.to_dict()
    answer = TaskCompleted(task_at(state, "ask"), "done", {}, actor="ann")
    assert advance(flow, reloaded, answer, utc(24, 9), calendars=calendars) == advance(
        flow, state, answer, utc(24, 9), calendars=calendars
    )


def test_a_state_saved_before_sla_clocks_still_loads(calendars: Mapping[str, Calendar]) -> None:
    state = opened(incident(), calendars).state
    raw = saved(state)
    del raw["sla"]
    raw["timers"] = {k: v for k, v in raw["timers"].items() if "sla" not in v}
    assert InstanceState.from_dict(raw).sla is None


@pytest.mark.parametrize(
    ("target", "calendar", "words"),
    [
        ("PT8H", "office", "8 business hours"),
        ("P3D", "office", "3 business days"),
        ("PT1H30M", "office", "1 business hour 30 minutes"),
        ("PT4H", None, "4 hours"),
    ],
)
def test_targets_are_said_in_plain_words(target: str, calendar: str | None, words: str) -> None:
    assert describe_target(target, calendar) == words


def test_without_a_calendar_targets_count_wall_time() -> None:
    doc = workflow(
        "work",
        {
            "work": {"type": "task", "assign": {"group": "desk"}, "next": "done"},
            "done": {"type": "end"},
        },
        sla={"targets": {"P1": {"resolution": "PT4H"}}},
    )
    begun = start(build(doc), {"priority": "P1"}, MONDAY_AFTERNOON)
    assert set(begun.state.sla or {}) == {"resolution"}
    assert due(begun.state, "resolution") == utc(23, 17)
    assert whys(begun, "sla_started") == ["resolution due at 17:00 Mon UTC because: P1 = 4 hours"]


def test_an_instance_that_starts_waiting_starts_with_paused_clocks(
    calendars: Mapping[str, Calendar],
) -> None:
    doc = workflow(
        "ask",
        {
            "ask": {
                "type": "task",
                "status": "waiting_on_requester",
                "assign": {"requester": True},
                "next": "done",
            },
            "done": {"type": "end"},
        },
        sla={"calendar": "office", "targets": TARGETS, "pause_while": ["waiting_on_requester"]},
    )
    begun = start(build(doc), {"priority": "P2"}, MONDAY_AFTERNOON, calendars=calendars)
    assert [event.kind for event in begun.audit if event.kind.startswith("sla")] == [
        "sla_started",
        "sla_started",
        "sla_paused",
        "sla_paused",
    ]
    assert not [timer for timer in begun.state.timers.values() if timer.sla]
    assert not [effect for effect in begun.effects if isinstance(effect, CancelTimer)]
