"""Incidents: a step that cannot do its work waits on the timeline instead of failing the event.

Also the subflow's way back (results, routes by the child's outcome, cancelling the
child with the parent) and the upgrade of a state saved by the previous release.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from engine.catalog import Catalog
from engine.core.calendars import Calendar
from engine.core.definition import Workflow
from engine.core.effects import CancelSubflow, CancelTask, OpenTask
from engine.core.errors import InvalidEvent
from engine.core.events import Cancelled, Retried, SubflowFinished, TaskCompleted
from engine.core.runtime import Transition, advance, start
from engine.core.state import FORMAT, InstanceState
from tests.unit.flows import build, workflow

AT = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]


def incidents(transition: Transition) -> list[tuple[str | None, str | None]]:
    return [(event.step, event.why) for event in transition.audit if event.kind == "incident"]


def stopped_runs(state: InstanceState) -> dict[str, str]:
    return {run.step: run.incident for run in state.runs.values() if run.incident is not None}


def ratio_decision() -> Workflow:
    """Route by a ratio of two fields: a zero count cannot be divided by."""
    return build(
        workflow(
            "route",
            {
                "route": {
                    "type": "decision",
                    "branches": [{"when": "cost / people > 100", "next": "big"}],
                    "otherwise": "small",
                },
                "big": {"type": "end", "status": "big"},
                "small": {"type": "end", "status": "small"},
            },
        )
    )


def test_a_condition_that_fails_stops_its_decision_instead_of_reading_as_false() -> None:
    begun = start(ratio_decision(), {"cost": 500, "people": 0}, AT)

    assert not begun.state.ended  # neither 'big' nor 'small': nobody decided
    (why,) = stopped_runs(begun.state).values()
    assert "step 'route' stopped" in why
    assert "division by zero" in why
    assert incidents(begun) == [("route", why)]


def test_a_retry_runs_a_stopped_step_again_and_it_fails_again_on_the_same_data() -> None:
    flow = ratio_decision()
    begun = start(flow, {"cost": 500, "people": 0}, AT)

    again = advance(flow, begun.state, Retried("admin"), AT + timedelta(minutes=5))

    assert [event.kind for event in again.audit][:1] == ["retried"]
    assert list(stopped_runs(again.state)) == ["route"]
    assert begun.state.runs != again.state.runs  # a fresh run of the step, not the old one


def test_a_retry_once_the_calendar_exists_lets_the_instance_go_on() -> None:
    flow = build(
        workflow(
            "work",
            {
                "work": {"type": "task", "due": "PT4H", "calendar": "office", "next": "done"},
                "done": {"type": "end"},
            },
        )
    )
    begun = start(flow, {}, AT)
    assert list(stopped_runs(begun.state)) == ["work"]
    office = Calendar.from_document(
        json.loads((ROOT / "workflows" / "calendars" / "office.json").read_text())
    )

    retried = advance(flow, begun.state, Retried("admin"), AT, calendars={"office": office})

    assert stopped_runs(retried.state) == {}
    (task,) = [effect for effect in retried.effects if isinstance(effect, OpenTask)]
    assert task.step == "work"
    assert task.due is not None


def test_retry_with_nothing_stopped_is_refused() -> None:
    flow = ratio_decision()
    ended = start(flow, {"cost": 5, "people": 1}, AT)
    assert ended.state.ended
    with pytest.raises(InvalidEvent):
        advance(flow, ended.state, Retried("admin"), AT)


def test_an_action_stopped_midway_has_set_nothing() -> None:
    flow = build(
        workflow(
            "compute",
            {
                "compute": {
                    "type": "action",
                    "set": {"first": {"value": "kept?"}, "share": {"expr": "cost / people"}},
                    "next": "done",
                },
                "done": {"type": "end"},
            },
        )
    )

    begun = start(flow, {"cost": 10, "people": 0}, AT)

    assert "first" not in begun.state.data
    assert [event.kind for event in begun.audit if event.kind == "data_set"] == []
    assert list(stopped_runs(begun.state)) == ["compute"]


def test_a_title_that_cannot_be_filled_in_falls_back_to_the_label_and_the_task_opens() -> None:
    flow = build(
        workflow(
            "work",
            {
                "work": {
                    "type": "task",
                    "label": "Check the order",
                    "title": "Check {{ cost / people }} per person",
                    "next": "done",
                },
                "done": {"type": "end"},
            },
        )
    )

    begun = start(flow, {"cost": 10, "people": 0}, AT)

    (task,) = [effect for effect in begun.effects if isinstance(effect, OpenTask)]
    assert task.title == "Check the order"
    ((step, why),) = incidents(begun)
    assert step == "work"
    assert why is not None
    assert "the title could not be filled in" in why
    assert stopped_runs(begun.state) == {}


def test_an_assignment_that_cannot_be_worked_out_stops_the_step_with_no_task_left_open() -> None:
    flow = build(
        workflow(
            "review",
            {
                "review": {
                    "type": "review",
                    "reviewers": [
                        {"assign": {"user": "ann"}},
                        {"assign": {"user": "{{ cost / people }}"}},
                    ],
                    "quorum": "all",
                    "on": {"approved": "done", "rejected": "done"},
                },
                "done": {"type": "end"},
            },
        )
    )

    begun = start(flow, {"cost": 10, "people": 0}, AT)

    assert begun.state.tasks == {}
    assert list(stopped_runs(begun.state)) == ["review"]


# Subflows: what comes back from the child, and what happens to it -------------------------


def problem_step(**extra: Any) -> Workflow:
    return build(
        workflow(
            "problem",
            {
                "problem": {
                    "type": "subflow",
                    "workflow": "problem-record",
                    "data": {"summary": "summary"},
                    "next": "work",
                    **extra,
                },
                "work": {"type": "task", "next": "done"},
                "done": {"type": "end"},
                **({"known": {"type": "end", "status": "known_error"}} if "on" in extra else {}),
            },
        )
    )


def test_a_finished_child_hands_its_result_fields_back_and_its_outcome_picks_the_route() -> None:
    flow = problem_step(
        result={"root_cause": "cause", "workaround": "fix.text"}, on={"known": "known"}
    )
    begun = start(flow, {"summary": "Mail down"}, AT)
    (run,) = begun.state.runs

    child = {"cause": "disk full", "fix": {"text": "free space"}}
    finished = advance(
        flow, begun.state, SubflowFinished(run, "closed", child, "known", "PRB-000001"), AT
    )

    assert finished.state.data["root_cause"] == "disk full"
    assert finished.state.data["workaround"] == "free space"
    assert finished.state.status == "known_error"
    (routed,) = [event for event in finished.audit if event.kind == "routed"]
    assert routed.why == "PRB-000001 ended as closed (outcome 'known'); 'known' leads on to known"


def test_a_child_outcome_without_a_route_goes_to_next() -> None:
    flow = problem_step(on={"known": "known"})
    begun = start(flow, {"summary": "Mail down"}, AT)
    (run,) = begun.state.runs

    finished = advance(flow, begun.state, SubflowFinished(run, "closed", {}, "solved"), AT)

    assert {r.step for r in finished.state.runs.values()} == {"work"}


def test_cancelling_the_parent_cancels_the_child_it_waits_for() -> None:
    flow = problem_step()
    begun = start(flow, {"summary": "Mail down"}, AT)
    (run,) = begun.state.runs

    cancelled = advance(flow, begun.state, Cancelled("duplicate", "ann"), AT)

    assert [e for e in cancelled.effects if isinstance(e, CancelSubflow)] == [
        CancelSubflow(run, "duplicate")
    ]


def test_a_child_that_finished_or_runs_on_its_own_is_not_cancelled() -> None:
    waited = problem_step()
    begun = start(waited, {"summary": "Mail down"}, AT)
    (run,) = begun.state.runs
    finished = advance(waited, begun.state, SubflowFinished(run, "closed"), AT)
    assert not [e for e in finished.effects if isinstance(e, CancelSubflow)]

    detached = problem_step(wait=False)
    started = start(detached, {"summary": "Mail down"}, AT)
    assert not [e for e in started.effects if isinstance(e, CancelSubflow)]
    done = advance(detached, started.state, Cancelled("no longer needed"), AT)
    assert not [e for e in done.effects if isinstance(e, CancelSubflow)]


# States saved by earlier releases --------------------------------------------------------


def it_incident() -> tuple[Workflow, dict[str, Calendar]]:
    """Return the shipped `it-incident` workflow and the calendar it counts in."""
    catalog = Catalog.read([ROOT / "workflows"])
    documents = {document.key: document.content for document in catalog.documents}
    flow = Workflow.from_document(documents["it-incident"])
    return flow, {"office": Calendar.from_document(documents["office"])}


def saved_state(name: str) -> dict[str, Any]:
    saved: dict[str, Any] = json.loads((Path(__file__).parent / "states" / name).read_text())
    return saved


def test_a_state_saved_in_format_1_loads_runs_to_the_end_and_saves_in_the_current_format() -> None:
    saved = saved_state("it-incident-format-1.json")
    assert saved["format"] == 1
    flow, calendars = it_incident()

    state = InstanceState.from_dict(saved)
    (task,) = state.tasks
    resolved = advance(
        flow,
        state,
        TaskCompleted(task, "resolved", {"resolution": "Cleared the jam"}, "bob"),
        AT + timedelta(hours=1),
        calendars=calendars,
    )
    (confirm,) = resolved.state.tasks
    closed = advance(
        flow,
        resolved.state,
        TaskCompleted(confirm, "approved", {}, "alice"),
        AT + timedelta(hours=2),
        calendars=calendars,
    )

    assert closed.state.ended
    assert closed.state.status == "closed"
    assert closed.state.data["resolution"] == "Cleared the jam"
    assert closed.state.to_dict()["format"] == FORMAT == 3
    assert not [e for e in resolved.effects if isinstance(e, CancelTask) and e.task != task]


def test_a_step_stopped_in_format_2_starts_again_on_a_retry_and_runs_to_the_end() -> None:
    # Saved by the previous release: the requester answered, and the desk's task could not
    # go back to its group; the step `work` waits on its incident, nothing open.
    saved = saved_state("it-incident-format-2.json")
    assert saved["format"] == 2
    flow, calendars = it_incident()

    state = InstanceState.from_dict(saved)
    assert stopped_runs(state) == {
        "work": "step 'work' stopped: there is no group 'desktop-support' to take its task"
    }
    assert state.tasks == {}
    retried = advance(flow, state, Retried("ada"), AT + timedelta(hours=2), calendars=calendars)

    # No resume point in format 2: the step begins again, its task and its ladder anew.
    assert stopped_runs(retried.state) == {}
    (work,) = [effect for effect in retried.effects if isinstance(effect, OpenTask)]
    assert (work.step, work.assign["group"]) == ("work", "desktop-support")
    resolved = advance(
        flow,
        retried.state,
        TaskCompleted(work.task, "resolved", {"resolution": "Cleared the jam"}, "bob"),
        AT + timedelta(hours=3),
        calendars=calendars,
    )
    (confirm,) = resolved.state.tasks
    closed = advance(
        flow,
        resolved.state,
        TaskCompleted(confirm, "approved", {}, "alice"),
        AT + timedelta(hours=4),
        calendars=calendars,
    )

    assert closed.state.ended
    assert closed.state.status == "closed"
    assert closed.state.to_dict()["format"] == FORMAT == 3
