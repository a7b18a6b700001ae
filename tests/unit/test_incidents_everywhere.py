"""The pure runtime stops a step on an incident where it used to refuse the whole event.

A loop past the step limit, SLA clocks whose calendar is not there, an SLA breach action
that cannot be carried out (a retry does the rest), a task the service refused: each is
an incident on the instance, never an event that fails (and, for a timer, is tried again
forever). Also: raising the priority writes a dotted `targets_by` field nested, where
every read looks.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from engine.core.calendars import Calendar
from engine.core.definition import Workflow
from engine.core.effects import Notify, OpenTask, ReassignTask
from engine.core.events import Retried, TimerFired
from engine.core.runtime import MAX_AUTOMATIC_STEPS, Transition, advance, start
from engine.core.state import InstanceState
from tests.unit.flows import build, workflow

#: Monday 23 November 2026, 10:00 in Amsterdam (09:00 UTC): office hours.
MONDAY = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def stopped_runs(state: InstanceState) -> dict[str, str]:
    return {run.step: run.incident for run in state.runs.values() if run.incident is not None}


def incidents(transition: Transition) -> list[str | None]:
    return [event.why for event in transition.audit if event.kind == "incident"]


def fire(flow: Workflow, state: InstanceState, timer: str, **options: Any) -> Transition:
    due = datetime.fromisoformat(state.timers[timer].at)
    return advance(flow, state, TimerFired(timer), max(due, MONDAY), **options)


# The step limit ----------------------------------------------------------------------------


def spinning() -> Workflow:
    """Approved automatically while n < limit, counted, approved again: two steps a round."""
    return build(
        workflow(
            "approve",
            {
                "approve": {
                    "type": "approval",
                    "assign": {"group": "desk"},
                    "auto_approve": "n < limit",
                    "on": {"approved": "count", "rejected": "done"},
                },
                "count": {"type": "action", "set": {"n": {"expr": "n + 1"}}, "next": "approve"},
                "done": {"type": "end"},
            },
        )
    )


def test_a_loop_past_the_step_limit_stops_on_an_incident_with_its_work_kept() -> None:
    begun = start(spinning(), {"n": 0, "limit": 10 * MAX_AUTOMATIC_STEPS}, MONDAY)

    ((step, why),) = stopped_runs(begun.state).items()
    assert f"passed {MAX_AUTOMATIC_STEPS} steps in one go" in why
    assert step in ("approve", "count")
    assert begun.state.data["n"] == MAX_AUTOMATIC_STEPS // 2
    assert not [effect for effect in begun.effects if isinstance(effect, OpenTask)]


def test_a_retry_of_a_loop_stopped_at_the_limit_goes_on_from_where_it_stopped() -> None:
    flow = spinning()
    limit = MAX_AUTOMATIC_STEPS * 3 // 4  # more rounds than one turn passes, fewer than two
    begun = start(flow, {"n": 0, "limit": limit}, MONDAY)
    assert list(stopped_runs(begun.state)) == ["approve"]

    retried = advance(flow, begun.state, Retried("ada"), MONDAY)

    assert stopped_runs(retried.state) == {}
    assert retried.state.data["n"] == limit
    assert [effect.step for effect in retried.effects if isinstance(effect, OpenTask)] == [
        "approve"
    ]


# SLA clocks whose calendar is not there -----------------------------------------------------


def with_sla(**policy: Any) -> Workflow:
    """The desk works, an hour's escalation reminds it; resolution in 4 office hours (P1)."""
    return build(
        workflow(
            "work",
            {
                "work": {
                    "type": "task",
                    "assign": {"group": "desk"},
                    "escalate": [{"after": "PT1H", "do": [{"remind": "assignee"}]}],
                    "next": "done",
                },
                "done": {"type": "end"},
            },
            priorities=["P1", "P2"],
            sla={
                "calendar": "office",
                "targets": {"P1": {"resolution": "PT4H"}, "P2": {"resolution": "PT8H"}},
                **policy,
            },
        )
    )


def sla_timer(state: InstanceState) -> str:
    (timer,) = [key for key, timer in state.timers.items() if timer.sla is not None]
    return timer


def test_clocks_that_cannot_count_stop_the_waiting_step_and_a_retry_sets_their_timer_again(
    calendars: Mapping[str, Calendar],
) -> None:
    flow = with_sla()
    begun = start(flow, {"priority": "P1"}, MONDAY, calendars=calendars)
    warning = sla_timer(begun.state)

    # The warning comes due on a worker that cannot find the calendar: the SLA is left as
    # it was, and the step the instance waits at stops until someone looks.
    blind = fire(flow, begun.state, warning)

    (why,) = stopped_runs(blind.state).values()
    assert "business calendar 'office'" in why
    assert "sla_warning" not in [event.kind for event in blind.audit]
    assert blind.state.sla == begun.state.sla
    assert blind.state.timers == {}  # the step's escalation withdrawn, the warning used up

    retried = advance(
        flow, blind.state, Retried("ada"), MONDAY + timedelta(hours=4), calendars=calendars
    )

    assert stopped_runs(retried.state) == {}
    kinds = [event.kind for event in retried.audit]
    assert "sla_warning" in kinds
    assert "sla_breached" in kinds


def test_clocks_not_needed_yet_stop_nothing_without_their_calendar() -> None:
    begun = start(with_sla(), {}, MONDAY)  # no priority: no clock starts, none counts

    assert stopped_runs(begun.state) == {}
    assert [effect.step for effect in begun.effects if isinstance(effect, OpenTask)] == ["work"]


def test_an_sla_breach_action_that_cannot_be_carried_out_is_noted_and_the_task_stays(
    calendars: Mapping[str, Calendar],
) -> None:
    on_breach = [{"reassign": {"user": "{{ 1 // zero }}"}}, {"raise_priority": True}]
    flow = with_sla(on_breach=on_breach, warn_at=0.99)
    begun = start(flow, {"priority": "P2", "zero": 0}, MONDAY, calendars=calendars)
    warned = fire(flow, begun.state, sla_timer(begun.state), calendars=calendars)

    breached = fire(flow, warned.state, sla_timer(warned.state), calendars=calendars)

    assert "sla_breached" in [event.kind for event in breached.audit]
    (why,) = incidents(breached)
    assert why is not None
    assert "an action on the resolution breach failed" in why
    assert not [effect for effect in breached.effects if isinstance(effect, ReassignTask)]
    assert breached.state.data["priority"] == "P2"  # the rest of the actions left undone
    assert stopped_runs(breached.state) == {}


# Tasks the service refused --------------------------------------------------------------------


def test_a_task_the_service_refused_stops_its_step_with_the_reason() -> None:
    flow = build(
        workflow(
            "wait",
            {
                "wait": {"type": "wait", "for": "PT1H", "next": "work"},
                "work": {"type": "task", "assign": {"user": "{{ who }}"}, "next": "done"},
                "done": {"type": "end"},
            },
        )
    )
    state = start(flow, {"who": "dan"}, MONDAY).state
    (timer,) = state.timers
    opened = fire(flow, state, timer)
    (task,) = [effect.task for effect in opened.effects if isinstance(effect, OpenTask)]

    refused = fire(flow, state, timer, refused={("open_task", task): "dan cannot sign in"})

    assert stopped_runs(refused.state) == {"work": "step 'work' stopped: dan cannot sign in"}
    assert refused.state.tasks == {}


# Raising the priority of a dotted field -------------------------------------------------------


def test_raising_a_dotted_priority_field_writes_it_nested_where_the_clocks_read_it(
    calendars: Mapping[str, Calendar],
) -> None:
    flow = build(
        workflow(
            "work",
            {
                "work": {
                    "type": "task",
                    "assign": {"group": "desk"},
                    "escalate": [{"after": "PT1H", "do": [{"raise_priority": True}]}],
                    "next": "done",
                },
                "done": {"type": "end"},
            },
            priorities=["P1", "P2"],
            sla={
                "calendar": "office",
                "targets_by": "ticket.priority",
                "targets": {"P1": {"resolution": "PT4H"}, "P2": {"resolution": "PT8H"}},
            },
        )
    )
    begun = start(flow, {"ticket": {"priority": "P2", "id": 7}}, MONDAY, calendars=calendars)
    (rung,) = [key for key, timer in begun.state.timers.items() if timer.sla is None]

    raised = fire(flow, begun.state, rung, calendars=calendars)

    assert raised.state.data == {"ticket": {"priority": "P1", "id": 7}}
    assert raised.state.sla is not None
    assert raised.state.sla["resolution"].level == "P1"  # the clock read the new level


def test_a_retry_carries_out_the_rest_of_the_breach_actions_once(
    calendars: Mapping[str, Calendar],
) -> None:
    on_breach = [
        {"raise_priority": True},
        {"reassign": {"user": "dan"}},
        {"remind": "assignee"},
    ]
    flow = with_sla(on_breach=on_breach, warn_at=0.99)
    begun = start(flow, {"priority": "P2"}, MONDAY, calendars=calendars)
    (task,) = begun.state.tasks
    warned = fire(flow, begun.state, sla_timer(begun.state), calendars=calendars)
    breach = sla_timer(warned.state)
    refused = {("reassign_task", task): "dan cannot sign in"}

    breached = fire(flow, warned.state, breach, calendars=calendars, refused=refused)

    assert breached.state.data["priority"] == "P1"  # the action before it stands
    assert incidents(breached) == ["an action on the resolution breach failed: dan cannot sign in"]
    assert not [effect for effect in breached.effects if isinstance(effect, ReassignTask)]
    assert stopped_runs(breached.state) == {}  # the task stays open, as it was
    assert list(breached.state.stopped_breaches) == ["resolution"]
    assert InstanceState.from_dict(breached.state.to_dict()) == breached.state

    later = datetime.fromisoformat(warned.state.timers[breach].at) + timedelta(hours=1)
    retried = advance(flow, breached.state, Retried("ada"), later, calendars=calendars)

    assert [(event.kind, event.step) for event in retried.audit][:1] == [("retried", "sla")]
    assert [effect.assign for effect in retried.effects if isinstance(effect, ReassignTask)] == [
        {"user": "dan"}
    ]
    assert [effect.template for effect in retried.effects if isinstance(effect, Notify)] == [
        "reminder"
    ]
    assert "priority_changed" not in [event.kind for event in retried.audit]  # not done twice
    assert retried.state.stopped_breaches == {}
    assert retried.state.tasks[task].assign == {"user": "dan"}
