"""The instance status follows the steps that name one; notifications reach real recipients."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from engine.core import runtime
from engine.core.calendars import Calendar
from engine.core.definition import Workflow
from engine.core.effects import Notify
from engine.core.events import Reopened, TaskCompleted, TimerFired


def flow(steps: dict[str, Any], **extra: Any) -> Workflow:
    return Workflow.from_document(
        {"kind": "workflow", "format": 1, "key": "t", "title": "T", "first": "a", "steps": steps}
        | extra
    )


def test_a_waiting_step_without_a_status_keeps_the_one_before(monday_morning: datetime) -> None:
    workflow = flow(
        {
            "a": {"type": "task", "status": "in_progress", "assign": {"user": "bob"}, "next": "b"},
            "b": {"type": "task", "assign": {"user": "bob"}, "next": "z"},
            "z": {"type": "end"},
        }
    )
    started = runtime.start(workflow, {}, monday_morning)
    assert started.state.status == "in_progress"
    (task,) = started.state.tasks
    moved = runtime.advance(workflow, started.state, TaskCompleted(task, "done"), monday_morning)
    assert moved.state.status == "in_progress"


def test_a_parallel_branch_without_a_status_does_not_reset_its_sibling(
    workflows: Mapping[str, Workflow], calendars: Mapping[str, Calendar], monday_morning: datetime
) -> None:
    major = workflows["major-incident"]
    data = {
        "summary": "Payments down",
        "services": ["payments"],
        "customer_impact": "x",
        "started_at": "2026-11-23T07:55:00Z",
        "service_owner": "sam",
    }
    state = runtime.start(major, data, monday_morning, calendars=calendars).state
    (plan,) = state.tasks
    state = runtime.advance(major, state, TaskCompleted(plan, "done"), monday_morning).state
    reviews = list(state.tasks)
    for review in reviews[:2]:
        state = runtime.advance(
            major, state, TaskCompleted(review, "approved"), monday_morning
        ).state
    assert state.status == "recovering"


def test_notification_recipients_are_filled_in(
    workflows: Mapping[str, Workflow], calendars: Mapping[str, Calendar], monday_morning: datetime
) -> None:
    incident = workflows["it-incident"]
    data = {"summary": "VPN down", "category": "network", "impact": "low", "urgency": "low"}
    state = runtime.start(
        incident, data, monday_morning, requester="ann", calendars=calendars
    ).state
    (work,) = state.tasks
    state = runtime.advance(
        incident, state, TaskCompleted(work, "resolved"), monday_morning, calendars=calendars
    ).state
    (confirm,) = state.tasks
    reopened = runtime.advance(
        incident, state, TaskCompleted(confirm, "rejected"), monday_morning, calendars=calendars
    )
    (notice,) = [e for e in reopened.effects if isinstance(e, Notify)]
    assert notice.to == {"group": "network"}
    assert notice.template == "incident-reopened"


def test_raising_an_unset_priority_changes_nothing(monday_morning: datetime) -> None:
    workflow = flow(
        {
            "a": {
                "type": "task",
                "assign": {"user": "bob"},
                "next": "z",
                "escalate": [{"after": "PT1H", "do": [{"raise_priority": True}]}],
            },
            "z": {"type": "end"},
        },
        priorities=["P1", "P2"],
    )
    state = runtime.start(workflow, {}, monday_morning).state
    (timer,) = state.timers
    fired = runtime.advance(workflow, state, TimerFired(timer), monday_morning)
    assert "priority" not in fired.state.data
    assert [e.kind for e in fired.audit] == ["timer_fired", "escalated"]


def test_a_reopened_instance_reads_reopened_until_its_step_sets_a_status(
    monday_morning: datetime,
) -> None:
    """Each status change names the status the instance had: closed -> reopened, then
    reopened -> in_progress (it read "open -> in_progress", a status it never showed)."""
    workflow = flow(
        {
            "a": {"type": "task", "status": "in_progress", "assign": {"user": "bob"}, "next": "z"},
            "z": {"type": "end", "status": "closed"},
        },
        reopen={"to": "a"},
    )
    state = runtime.start(workflow, {}, monday_morning).state
    (task,) = state.tasks
    state = runtime.advance(workflow, state, TaskCompleted(task, "done"), monday_morning).state
    assert (state.status, state.ended) == ("closed", True)
    reopened = runtime.advance(workflow, state, Reopened("a", "Back again", "ann"), monday_morning)
    said = [(e.kind, e.why) for e in reopened.audit if e.kind in ("reopened", "status_changed")]
    assert said == [
        ("reopened", "closed -> reopened: Back again"),
        ("status_changed", "reopened -> in_progress"),
    ]
    assert reopened.state.status == "in_progress"


def test_a_reopened_instance_whose_step_sets_no_status_stands_reopened(
    monday_morning: datetime,
) -> None:
    workflow = flow(
        {"a": {"type": "task", "assign": {"user": "bob"}, "next": "z"}, "z": {"type": "end"}},
        reopen={"to": "a"},
    )
    state = runtime.start(workflow, {}, monday_morning).state
    (task,) = state.tasks
    state = runtime.advance(workflow, state, TaskCompleted(task, "done"), monday_morning).state
    reopened = runtime.advance(workflow, state, Reopened("a", "Back", "ann"), monday_morning)
    assert reopened.state.status == "reopened"
    assert not reopened.state.ended
