"""Invariants of the runtime, on the shipped workflows, under random people and timers.

Each example starts an instance with random valid start data (drawn from the
start form's field types and options), then takes up to `MAX_ACTIONS` random
valid actions: complete an open task with one of its step's outcomes and
plausible form data, fire a pending timer at its due time (or later, when the
clock has passed it), finish a subflow the instance waits for; some examples
cancel the instance along the way. Time only moves forward. The invariants are
checked after every action.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.catalog import Catalog
from engine.core.calendars import Calendar
from engine.core.conditions import compile_condition, field_value
from engine.core.definition import Workflow
from engine.core.effects import CancelTask, CancelTimer, OpenTask, ScheduleTimer
from engine.core.events import Cancelled, Event, SubflowFinished, TaskCompleted, TimerFired
from engine.core.runtime import Transition, advance, start
from engine.core.state import InstanceState
from engine.core.steps.flow import ParallelStep, SubflowStep, WaitStep
from engine.core.steps.human import HumanStep, ReviewStep, reviewer_names
from forms.definition import LAYOUT_TYPES, option_values

SHIPPED = ("it-incident", "major-incident", "service-request")

#: Actions taken after the start, at most, in one example.
MAX_ACTIONS = 30

#: Everyone who can be picked in a user field.
USERS = ("ann", "bob", "chen", "dara")

#: Deterministic in CI: the same examples every run, nothing read from or written to disk.
RUNS = settings(max_examples=80, derandomize=True, database=None, deadline=None)

BEGINNING = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


# Drawing valid input ---------------------------------------------------------------------


def values_of(field: Mapping[str, Any]) -> st.SearchStrategy[Any]:
    """Return the values a person could enter in a form field."""
    kind = field["type"]
    options = option_values(field)
    if options is not None:
        if kind == "multiselect":
            return st.lists(st.sampled_from(options), min_size=1, unique=True)
        return st.sampled_from(options)
    if kind == "number":
        low, high = field.get("min", -10_000), field.get("max", 10_000)
        return st.integers(low, high) | st.floats(low, high, allow_nan=False)
    if kind == "checkbox":
        return st.booleans()
    if kind == "date":
        return st.dates(date(2026, 1, 1), date(2027, 12, 31)).map(date.isoformat)
    if kind == "datetime":
        moments = st.datetimes(datetime(2026, 1, 1), datetime(2027, 12, 31), timezones=st.just(UTC))
        return moments.map(datetime.isoformat)
    if kind == "user":
        return st.sampled_from(USERS)
    if kind == "hidden":
        return st.just(field.get("default", ""))
    if field.get("format") == "email":
        return st.sampled_from(USERS).map(lambda user: f"{user}@example.com")
    return st.text(min_size=1, max_size=min(field.get("max_length", 40), 40))


def form_data(
    data: st.DataObject, form: Mapping[str, Any] | None, outcome: str | None = None
) -> dict[str, Any]:
    """Fill in a form the way a person may: required fields always, others at random."""
    values: dict[str, Any] = {}
    for field in form["fields"] if form else ():
        if field["type"] in LAYOUT_TYPES:
            continue
        context = {**values, "data": values, "outcome": outcome}
        if "visible_if" in field and not compile_condition(field["visible_if"]).holds(context):
            continue
        required = field.get("required") or (
            "required_if" in field and compile_condition(field["required_if"]).holds(context)
        )
        if required or data.draw(st.booleans(), label=f"fill in {field['key']}"):
            values[field["key"]] = data.draw(values_of(field), label=field["key"])
    return values


# Driving an instance ---------------------------------------------------------------------


@dataclass(frozen=True)
class Move:
    """One transition: the state before it (None at the start), its saved form, the event."""

    before: InstanceState | None
    saved_before: Any
    event: Event | None
    at: datetime
    transition: Transition


class Drive:
    """Random valid actions on one shipped workflow."""

    def __init__(
        self,
        data: st.DataObject,
        flow: Workflow,
        forms: Mapping[str, Mapping[str, Any]],
        calendars: Mapping[str, Calendar],
    ) -> None:
        self.data = data
        self.flow = flow
        self.forms = forms
        self.calendars = calendars

    def moves(self) -> Iterator[Move]:
        """Start an instance, then act on it until it ends or `MAX_ACTIONS` were taken."""
        form = self.forms.get(self.flow.start.get("form", ""))
        now = BEGINNING
        number = f"{self.flow.number_prefix}-000001"
        begun = start(
            self.flow,
            form_data(self.data, form),
            now,
            requester="ann",
            number=number,
            calendars=self.calendars,
        )
        yield Move(None, None, None, now, begun)
        state = begun.state
        # Most instances run their course; some are cancelled along the way.
        cancel_at = self.data.draw(st.integers(0, 3 * MAX_ACTIONS), label="cancel at action")
        for action in range(MAX_ACTIONS):
            if state.ended:
                return
            if action == cancel_at:
                event: Event = Cancelled("no longer needed", actor="bob")
            else:
                event, now = self.next_event(state, now)
            saved_before = json.loads(json.dumps(state.to_dict()))
            moved = advance(self.flow, state, event, now, calendars=self.calendars)
            yield Move(state, saved_before, event, now, moved)
            state = moved.state

    def next_event(self, state: InstanceState, now: datetime) -> tuple[Event, datetime]:
        draw = self.data.draw
        subflows = [run.id for run in state.runs.values() if self.step(run.step, SubflowStep)]
        kinds = [
            kind
            for kind, possible in (
                ("complete", state.tasks),
                ("fire", state.timers),
                ("subflow", subflows),
            )
            if possible
        ]
        kind = draw(st.sampled_from(kinds), label="action")
        if kind == "fire":
            timers = sorted(state.timers, key=lambda key: (state.timers[key].at, key))
            timer = timers[draw(st.integers(0, len(timers) - 1), label="timer")]
            return TimerFired(timer), max(now, datetime.fromisoformat(state.timers[timer].at))
        later = now + timedelta(minutes=draw(st.integers(0, 240), label="minutes later"))
        if kind == "subflow":
            run = draw(st.sampled_from(subflows), label="subflow")
            status = draw(st.sampled_from(["completed", "cancelled"]), label="status")
            return SubflowFinished(run, status), later
        task = draw(st.sampled_from(sorted(state.tasks)), label="task")
        step = self.flow.steps[state.runs[state.tasks[task].run].step]
        outcome = draw(st.sampled_from(step.outcomes()), label="outcome")
        filled = form_data(self.data, self.forms.get(step.doc.get("form", "")), outcome)
        actor = draw(st.sampled_from(USERS), label="actor")
        return TaskCompleted(task, outcome, filled, actor), later

    def step(self, step_id: str, kind: type) -> bool:
        return isinstance(self.flow.steps[step_id], kind)


@pytest.fixture(scope="session")
def forms(catalog: Catalog) -> dict[str, Any]:
    """The shipped forms by key, as documents."""
    return {doc.key: doc.content for doc in catalog.of_kind("form") if doc.key}


def drive(
    data: st.DataObject,
    key: str,
    workflows: Mapping[str, Workflow],
    forms: Mapping[str, Mapping[str, Any]],
    calendars: Mapping[str, Calendar],
) -> Iterator[Move]:
    return Drive(data, workflows[key], forms, calendars).moves()


# Invariants ------------------------------------------------------------------------------


def waiting_on(flow: Workflow, state: InstanceState, run_id: int) -> bool:
    """Tell whether a run waits for something that will come: a task, a timer, a child."""
    run = state.runs[run_id]
    step = flow.steps[run.step]
    if isinstance(step, HumanStep):
        return bool(run.tasks)
    if isinstance(step, WaitStep):
        return any(timer.run == run_id for timer in state.timers.values())
    if isinstance(step, ParallelStep):
        return any(other.parent == run_id for other in state.runs.values())
    return isinstance(step, SubflowStep)


@pytest.mark.parametrize("key", SHIPPED)
@RUNS
@given(data=st.data())
def test_instance_always_ends_or_waits_for_a_person_a_timer_or_another_workflow(
    key: str,
    data: st.DataObject,
    workflows: Mapping[str, Workflow],
    forms: Mapping[str, Mapping[str, Any]],
    calendars: Mapping[str, Calendar],
) -> None:
    flow = workflows[key]
    for move in drive(data, key, workflows, forms, calendars):
        state = move.transition.state
        if state.ended:
            assert (state.runs, state.tasks, state.timers) == ({}, {}, {})
            continue
        assert state.runs
        stuck = [run.step for run in state.runs.values() if not waiting_on(flow, state, run.id)]
        assert stuck == [], f"steps waiting for nothing: {stuck}"


@pytest.mark.parametrize("key", SHIPPED)
@RUNS
@given(data=st.data())
def test_every_task_and_timer_opened_is_closed_again_by_the_end(
    key: str,
    data: st.DataObject,
    workflows: Mapping[str, Workflow],
    forms: Mapping[str, Mapping[str, Any]],
    calendars: Mapping[str, Calendar],
) -> None:
    tasks: set[str] = set()
    timers: set[str] = set()
    for move in drive(data, key, workflows, forms, calendars):
        if isinstance(move.event, TaskCompleted):
            tasks.remove(move.event.task)
        if isinstance(move.event, TimerFired) and move.event.timer in timers:
            timers.remove(move.event.timer)
        for effect in move.transition.effects:
            if isinstance(effect, OpenTask):
                tasks.add(effect.task)
            elif isinstance(effect, CancelTask):
                tasks.remove(effect.task)
            elif isinstance(effect, ScheduleTimer):
                assert datetime.fromisoformat(effect.at) >= move.at, "a timer due in the past"
                timers.add(effect.timer)
            elif isinstance(effect, CancelTimer):
                timers.remove(effect.timer)
        state = move.transition.state
        assert tasks == set(state.tasks)
        assert timers == set(state.timers)
        for task, pending in state.tasks.items():
            assert task in state.runs[pending.run].tasks
        for timer in state.timers.values():
            assert timer.sla is not None or timer.run in state.runs
        for run in state.runs.values():
            assert run.parent is None or run.parent in state.runs
    if state.ended:
        assert tasks == timers == set()


@pytest.mark.parametrize("key", SHIPPED)
@RUNS
@given(data=st.data())
def test_review_never_counts_more_votes_than_it_has_reviewers(
    key: str,
    data: st.DataObject,
    workflows: Mapping[str, Workflow],
    forms: Mapping[str, Mapping[str, Any]],
    calendars: Mapping[str, Calendar],
) -> None:
    flow = workflows[key]
    for move in drive(data, key, workflows, forms, calendars):
        state = move.transition.state
        for run in state.runs.values():
            step = flow.steps[run.step]
            if not isinstance(step, ReviewStep):
                continue
            spec = step.doc["reviewers"]
            reviewers = (
                len(spec)
                if isinstance(spec, list)
                else len(reviewer_names(spec["from"], field_value(state.data, spec["from"])))
            )
            approvals = sum(1 for vote in run.votes.values() if vote == "approved")
            assert len(run.votes) + len(run.tasks) == reviewers
            assert set(run.votes).isdisjoint(run.tasks)
            assert approvals < run.needed <= reviewers, "a decided review is still open"


@pytest.mark.parametrize("key", SHIPPED)
@RUNS
@given(data=st.data())
def test_saving_and_reloading_mid_run_changes_nothing_and_continues_alike(
    key: str,
    data: st.DataObject,
    workflows: Mapping[str, Workflow],
    forms: Mapping[str, Mapping[str, Any]],
    calendars: Mapping[str, Calendar],
) -> None:
    flow = workflows[key]
    for move in drive(data, key, workflows, forms, calendars):
        after = move.transition.state.to_dict()
        reloaded = InstanceState.from_dict(json.loads(json.dumps(after)))
        assert reloaded.to_dict() == after
        # Field by field too: a field `to_dict` forgot would vanish from both dicts alike.
        assert reloaded == move.transition.state
        if move.before is None or move.event is None:
            continue
        assert move.before.to_dict() == move.saved_before, "advance changed its input state"
        restored = InstanceState.from_dict(move.saved_before)
        again = advance(flow, restored, move.event, move.at, calendars=calendars)
        assert again.state.to_dict() == after
        assert again.effects == move.transition.effects
        assert again.audit == move.transition.audit
