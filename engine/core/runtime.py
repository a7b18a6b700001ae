"""The pure runtime: start an instance, advance it with an event, at a given time.

`start` and `advance` never read the clock and never touch the world. They
return a `Transition`: the new state, the effects to carry out (tasks, timers,
notifications) and the audit events that say what happened and why. The input
state is never changed.

A step that cannot do its work - an expression that fails or breaks a limit, a
calendar that is not there, a task the service found nobody can take (`refused`), a
loop past `MAX_AUTOMATIC_STEPS` - does not fail the event: its run records an
*incident* and waits where it is, on the timeline and on the instance page, until
someone fixes the cause and retries (`Retried`). So do the steps an instance waits at
when its SLA clocks cannot count (their calendar is not there). A title that cannot be
filled in falls back to the step's label, with the incident recorded.

An escalation action (or an SLA breach action) that cannot be carried out stops only the
rest of its rung (or breach): the step's tasks stay open, and a retry carries out the
actions left, once (`Step.retried`, `sla.retried`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from engine.core import sla
from engine.core.audit import AuditEvent
from engine.core.calendars import Calendar, add_duration
from engine.core.conditions import field_value, set_field_value
from engine.core.effects import (
    CancelSubflow,
    CancelTask,
    CancelTimer,
    Effect,
    OpenTask,
    ReassignTask,
    RetitleTask,
    ScheduleTimer,
)
from engine.core.errors import ExpressionError, InvalidEvent, Unassignable, UnknownCalendar
from engine.core.events import (
    Acknowledged,
    Cancelled,
    ClosedAsDuplicate,
    Event,
    PriorityChanged,
    Reopened,
    Retried,
    SubflowFailed,
    SubflowFinished,
    TaskCompleted,
    TimerFired,
)
from engine.core.sla import SLA_STEP
from engine.core.state import (
    InstanceState,
    PendingTask,
    Run,
    Timer,
    clone,
    copy_json,
    timestamp,
)
from engine.core.turn import STEP_FAILURES

if TYPE_CHECKING:
    from engine.core.definition import Workflow

__all__ = [
    "DEFAULT_STATUS",
    "MAX_AUTOMATIC_STEPS",
    "REOPENED_STATUS",
    "Refusals",
    "Transition",
    "Unassignable",
    "advance",
    "start",
    "timestamp",
]


#: What the service found cannot be done, by effect kind (`open_task`, `reassign_task`) and
#: task key, with the reason in words.
Refusals = Mapping[tuple[str, str], str]

#: Steps one transition may begin; the next one stops on an incident. The checker refuses
#: loops without a human step; this guards against the rest (through auto-approvals, say).
MAX_AUTOMATIC_STEPS = 1000

#: The status of an instance that is running and no step has named its status.
DEFAULT_STATUS = "open"
#: The status of an instance just reopened, before its step sets one.
REOPENED_STATUS = "reopened"


@dataclass(frozen=True, slots=True)
class Transition:
    """The outcome of `start` or `advance`."""

    state: InstanceState
    effects: tuple[Effect, ...]
    audit: tuple[AuditEvent, ...]


def start(
    workflow: Workflow,
    data: Mapping[str, Any],
    at: datetime,
    *,
    requester: str | None = None,
    number: str | None = None,
    calendars: Mapping[str, Calendar] | None = None,
) -> Transition:
    """Start an instance of `workflow` with the start form's `data` at time `at`."""
    state = InstanceState(
        workflow=workflow.key,
        started_at=timestamp(at),
        data=copy_json(dict(data)),
        status=DEFAULT_STATUS,
        requester=requester,
        number=number,
    )
    turn = Turn(workflow, state, at, calendars or {}, actor=requester)
    try:
        state.title = workflow.title_for(turn.context())
    except ExpressionError as error:
        state.title = workflow.title
        turn.incident("start", f"the title could not be filled in: {error}")
    turn.record("started", why=f"{workflow.title} started")
    turn.enter(workflow.first, None, None)
    turn.drain()
    turn.follow_sla(responded=False)
    return turn.result()


def advance(
    workflow: Workflow,
    state: InstanceState,
    event: Event,
    at: datetime,
    *,
    calendars: Mapping[str, Calendar] | None = None,
    refused: Refusals | None = None,
) -> Transition:
    """Apply one event to an instance at time `at`; `state` itself is left as it was.

    `refused` names the tasks the service found cannot go to whom this event gives them:
    a step that would open one stops on an incident instead, and an escalation that would
    reassign one is noted as an incident, the task left where it was. The runtime is
    deterministic, so the same event at the same time uses the same task keys again.
    """
    if isinstance(event, TimerFired) and event.timer not in state.timers:
        return Transition(state, (), ())  # already fired or withdrawn: firing is idempotent
    if state.ended and not isinstance(event, Reopened):
        raise InvalidEvent(f"{state.number or 'the instance'} has ended; nothing is left to do")
    if isinstance(event, Reopened) and not state.ended:
        raise InvalidEvent(f"{state.number or 'the instance'} has not ended; it is still open")
    actor = getattr(event, "actor", None)
    turn = Turn(workflow, clone(state), at, calendars or {}, actor=actor, refused=refused)
    turn.handle(event)
    turn.drain()
    turn.follow_sla(responded=isinstance(event, TaskCompleted | Acknowledged))
    return turn.result()


class Turn:
    """One transition in progress: the state being changed and what it produced so far."""

    def __init__(
        self,
        workflow: Workflow,
        state: InstanceState,
        at: datetime,
        calendars: Mapping[str, Calendar],
        actor: str | None = None,
        refused: Refusals | None = None,
    ) -> None:
        self.workflow = workflow
        self.state = state
        self.at = at
        self.now = timestamp(at)
        self.calendars = calendars
        self.actor = actor
        self.refused: Refusals = refused or {}
        self.effects: list[Effect] = []
        self.audit: list[AuditEvent] = []
        self._queue: deque[tuple[str, int | None, str | None]] = deque()

    def result(self) -> Transition:
        if any(entry.kind == "priority_changed" for entry in self.audit):
            self._retitle()
        return Transition(self.state, tuple(self.effects), tuple(self.audit))

    def _retitle(self) -> None:
        """Fill in the titles of the open tasks again: a title often names the priority
        ("INC-000007 P1: ..."), and the inbox, the bell and the task page read it."""
        for task, pending in self.state.tasks.items():
            run = self.state.runs.get(pending.run)
            step = self.workflow.steps.get(run.step) if run is not None else None
            title_of = getattr(step, "title", None)
            if step is None or not callable(title_of):
                continue
            title = title_of(self)
            named = f"{title} ({pending.role})" if pending.role else title
            self.effects.append(RetitleTask(task, named))

    # Recording ---------------------------------------------------------------------------

    def emit(self, *effects: Effect) -> None:
        for effect in effects:  # every one vetted before any is asked for
            if isinstance(effect, ReassignTask):
                self._vetted(effect.kind, effect.task)
        self.effects.extend(effects)

    def _vetted(self, kind: str, task: str) -> None:
        """Raise `Unassignable` if the service refused this task effect (see `advance`)."""
        reason = self.refused.get((kind, task))
        if reason is not None:
            raise Unassignable(reason)

    def record(
        self, kind: str, step: str | None = None, why: str | None = None, **detail: Any
    ) -> None:
        self.audit.append(AuditEvent(kind, self.now, step, why, self.actor, detail))

    def incident(self, step: str, message: str, run: Run | None = None) -> None:
        """Record that a step could not do its work; with `run`, the run waits for a retry."""
        if run is not None:
            run.incident = message
            self.record("incident", step, message, run=run.id, waiting=True)
        else:
            self.record("incident", step, message)

    def context(self) -> dict[str, Any]:
        """Return what expressions see: the data fields, `data` and `instance`."""
        state = self.state
        context: dict[str, Any] = dict(state.data)
        context["data"] = state.data
        context["instance"] = {
            "number": state.number,
            "title": state.title,
            "status": state.status,
            "requester": state.requester,
            "started_at": state.started_at,
            "team": self.workflow.team,
        }
        return context

    def add(self, start: datetime, duration: timedelta, calendar: str | None) -> datetime:
        """Add wall time, or the working time of a named calendar."""
        if calendar is None:
            return start + duration
        if calendar not in self.calendars:
            raise UnknownCalendar(f"the business calendar '{calendar}' is not known here")
        return add_duration(start, duration, self.calendars[calendar])

    def set_status(self, status: str, step: str) -> None:
        if self.state.status != status:
            self.record("status_changed", step, f"{self.state.status} -> {status}", status=status)
            self.state.status = status

    # Moving through steps ----------------------------------------------------------------

    def enter(self, step_id: str, parent: int | None, branch: str | None) -> None:
        """Queue a step to begin (in the same parallel branch as the step that led here)."""
        self._queue.append((step_id, parent, branch))

    def drain(self) -> None:
        """Begin every queued step, and whatever automatic steps lead on from them."""
        passed = 0
        while self._queue:
            step_id, parent, branch = self._queue.popleft()
            if parent is not None and parent not in self.state.runs:
                continue  # the parallel step joined or was withdrawn before this branch began
            passed += 1
            run = Run(self.state.next_id(), step_id, self.now, parent, branch)
            self.state.runs[run.id] = run
            if passed > MAX_AUTOMATIC_STEPS:
                # A loop the checker cannot see (through auto-approvals or empty reviews):
                # the step waits here for someone to look, rather than the event failing.
                self.stopped(
                    run,
                    f"the instance passed {MAX_AUTOMATIC_STEPS} steps in one go without "
                    "waiting for anyone; it may be going round in a loop",
                )
                continue
            try:
                self.workflow.steps[step_id].activate(self, run)
            except STEP_FAILURES as error:
                self.stopped(run, error)

    def stopped(self, run: Run, error: Exception | str) -> None:
        """A step failed at its work: withdraw what it began, and let its run wait there."""
        if run.id not in self.state.runs:  # it had moved on already: nothing waits there
            self.incident(run.step, f"step '{run.step}' failed: {error}")
            return
        for child in [r for r in self.state.runs.values() if r.parent == run.id]:
            self.withdraw(child, "the step stopped on an incident")
        for task in list(run.tasks):
            self.close_task(task)
            self.emit(CancelTask(task, "the step stopped on an incident"))
        self.cancel_timers(lambda timer: timer.run == run.id)
        run.resume.clear()  # nothing is left to go on with: a retry starts the step again
        self.incident(run.step, f"step '{run.step}' stopped: {error}", run)

    def follow_sla(self, responded: bool) -> None:
        """Bring the SLA clocks in line at the end of the turn (see `sla.follow`).

        Clocks that cannot count (their calendar is not there) are left as they were, and
        the steps the instance waits at stop on an incident, so an admin retries them once
        the calendar is published. A step waiting for a child instance goes on waiting:
        stopping it would leave the child's end with nobody to take it in.
        """
        problem = sla.blocked(self)
        if problem is None:
            sla.follow(self, responded)
            return
        if self.state.ended:
            return  # `end_instance` noted that its clocks could not be stopped
        runs = self.state.runs.values()
        waiting = [
            run
            for run in runs
            if run.incident is None
            and not any(child.parent == run.id for child in runs)
            and self.workflow.steps[run.step].type != "subflow"
        ]
        if not waiting:
            self.incident(SLA_STEP, f"the SLA clocks could not be followed: {problem}")
        for run in waiting:
            self.stopped(run, problem)

    def leave(self, run: Run, to: str, why: str, outcome: str | None = None) -> None:
        """Finish a run and go on to step `to`, recording why this route was taken."""
        self.withdraw(run, "the step is finished", finished=True)
        detail: dict[str, Any] = {"to": to}
        if outcome:
            detail["outcome"] = outcome
        self.record("routed", run.step, why, **detail)
        self.enter(to, run.parent, run.branch)

    def withdraw(self, run: Run, reason: str, *, finished: bool = False) -> None:
        """End a run and everything under it: cancel its open tasks, timers and branches.

        A run withdrawn before it `finished` also cancels the child instance it waits for.
        """
        for child in [r for r in self.state.runs.values() if r.parent == run.id]:
            self.withdraw(child, reason)
        for task in list(run.tasks):  # close_task removes it from run.tasks
            self.close_task(task)
            self.emit(CancelTask(task, reason))
            self.record("task_cancelled", run.step, reason, task=task)
        run.tasks.clear()
        for timer_id in [t for t, timer in self.state.timers.items() if timer.run == run.id]:
            del self.state.timers[timer_id]
            self.emit(CancelTimer(timer_id))
        step = self.workflow.steps[run.step]
        if not finished and step.type == "subflow" and step.doc.get("wait", True):
            self.emit(CancelSubflow(run.id, reason))
        self.state.runs.pop(run.id, None)

    def end_branch(self, run: Run) -> None:
        """A branch of a parallel step reached its end: join if enough branches are done."""
        self.state.runs.pop(run.id, None)
        assert run.parent is not None
        parallel = self.state.runs[run.parent]
        parallel.done.append(run.branch or "")
        self.record("branch_finished", run.step, f"branch '{run.branch}' finished", run=parallel.id)
        if len(parallel.done) >= parallel.needed:
            done = ", ".join(parallel.done)
            self.leave(
                parallel,
                self.workflow.steps[parallel.step].target("next"),
                f"joined: {len(parallel.done)} of {parallel.needed} branches needed "
                f"finished ({done})",
            )

    def end_instance(self, status: str, outcome: str, why: str, step: str | None) -> None:
        for run in [r for r in self.state.runs.values() if r.parent is None]:
            self.withdraw(run, why)
        self.state.status = status
        self.state.outcome = outcome
        self.state.ended_at = self.now
        self.state.stopped_breaches.clear()  # nothing is left to act on
        self._queue.clear()
        problem = sla.blocked(self)
        if problem is None:
            sla.end(self, f"the instance ended ({status})")
        else:
            self.incident(SLA_STEP, f"the SLA clocks could not be stopped: {problem}")
        self.record("ended", step, why, status=status, outcome=outcome)

    # Tasks and timers --------------------------------------------------------------------

    def open_task(
        self,
        run: Run,
        step: str,
        outcomes: tuple[str, ...],
        title: str,
        assign: dict[str, Any],
        *,
        form: str | None = None,
        due: str | None = None,
        role: str | None = None,
    ) -> str:
        task = f"t{self.state.next_id()}"
        self._vetted(OpenTask.kind, task)
        run.tasks.append(task)
        self.state.tasks[task] = PendingTask(run.id, assign, role)
        self.emit(OpenTask(task, step, title, assign, outcomes, form, due, role))
        self.record("task_opened", step, title, task=task, assign=assign)
        return task

    def close_task(self, task: str) -> None:
        pending = self.state.tasks.pop(task, None)
        if pending is not None:
            run = self.state.runs.get(pending.run)
            if run is not None and task in run.tasks:
                run.tasks.remove(task)

    def schedule(
        self,
        run: Run | None,
        at: datetime,
        rung: int | None = None,
        count: int = 0,
        sla: str | None = None,
    ) -> str:
        """Set a timer for a run, or (`run` None, `sla` set) for an SLA clock."""
        timer = f"x{self.state.next_id()}"
        owner, step = (run.id, run.step) if run is not None else (0, SLA_STEP)
        due = timestamp(at)
        self.state.timers[timer] = Timer(owner, due, rung, count, sla)
        self.emit(ScheduleTimer(timer, due, step))
        return timer

    def cancel_timers(self, which: Callable[[Timer], bool]) -> None:
        """Withdraw the pending timers `which` picks."""
        for timer_id in [key for key, timer in self.state.timers.items() if which(timer)]:
            del self.state.timers[timer_id]
            self.emit(CancelTimer(timer_id))

    # Events ------------------------------------------------------------------------------

    def handle(self, event: Event) -> None:
        if isinstance(event, TaskCompleted):
            self._task_completed(event)
        elif isinstance(event, TimerFired):
            timer = self.state.timers.pop(event.timer)
            if timer.sla is not None:
                self.record("timer_fired", None, None, timer=event.timer, sla=timer.sla)
                if sla.blocked(self) is None:  # else `follow_sla` stops the waiting steps
                    sla.timer_fired(self, event.timer, timer)
                return
            run = self.state.runs[timer.run]
            self.record("timer_fired", run.step, None, timer=event.timer)
            try:
                # An escalation that fails is the step's own to note (its tasks stay
                # open); a step that fails otherwise stops.
                self.workflow.steps[run.step].timer_fired(self, run, event.timer, timer)
            except STEP_FAILURES as error:
                self.stopped(run, error)
        elif isinstance(event, Cancelled):
            self.end_instance("cancelled", "cancelled", event.reason, None)
        elif isinstance(event, SubflowFinished):
            waiting = self.state.runs.get(event.run)
            if waiting is None or waiting.incident is not None:
                raise InvalidEvent(
                    f"no step is waiting for the workflow started by run {event.run}"
                )
            self.workflow.steps[waiting.step].subflow_finished(self, waiting, event)
        elif isinstance(event, SubflowFailed):
            waiting = self.state.runs.get(event.run)
            if waiting is None or waiting.incident is not None:
                raise InvalidEvent(f"no step is waiting for a workflow started by run {event.run}")
            self.stopped(waiting, event.reason)
        elif isinstance(event, Retried):
            self._retry(event)
        elif isinstance(event, PriorityChanged):
            self._set_priority(event)
        elif isinstance(event, Reopened):
            self._reopen(event)
        elif isinstance(event, ClosedAsDuplicate):
            why = f"a duplicate of {event.original}: {event.reason}"
            self.end_instance("duplicate", "duplicate", why, None)
        elif isinstance(event, Acknowledged):
            self.record("acknowledged", None, event.reason)
        else:  # pragma: no cover - the Event union is closed
            raise InvalidEvent(f"unknown event {event!r}")

    def _retry(self, event: Retried) -> None:
        """Try again every step stopped on an incident, and the SLA breach actions that were,
        once the data the event corrects is set (each value on the timeline)."""
        stopped = [run for run in self.state.runs.values() if run.incident is not None]
        if not stopped and not self.state.stopped_breaches:
            raise InvalidEvent(
                f"{self.state.number or 'the instance'} has no step stopped on an incident"
            )
        for name, value in event.data.items():
            set_field_value(self.state.data, name, copy_json(value))
            self.record("data_set", None, "corrected for the retry", field=name, value=value)
        for run in stopped:
            self.record("retried", run.step, f"retry after: {run.incident}", run=run.id)
            self.workflow.steps[run.step].retried(self, run)
        if self.state.stopped_breaches:
            sla.retried(self)

    def _set_priority(self, event: PriorityChanged) -> None:
        """Set the priority field; `follow_sla` then re-targets the clocks to the new level."""
        levels = self.workflow.priorities
        if event.level not in levels:
            choices = ", ".join(levels) or "none: the workflow declares no priorities"
            raise InvalidEvent(f"'{event.level}' is not a priority here; choose one of: {choices}")
        name = self.workflow.priority_field
        current = field_value(self.state.data, name)
        if current == event.level:
            raise InvalidEvent(f"the priority is {event.level} already")
        set_field_value(self.state.data, name, event.level)
        why = f"{current or 'none'} -> {event.level}: {event.reason}"
        self.record("priority_changed", None, why, priority=event.level)

    def _reopen(self, event: Reopened) -> None:
        """Send an instance that ended back to work at `event.to`; its SLA counts afresh."""
        if event.to not in self.workflow.steps:
            raise InvalidEvent(f"there is no step '{event.to}' to reopen at")
        state = self.state
        was = state.status
        state.ended_at = None
        state.outcome = None
        # Reopened until the step it goes back to says otherwise: the timeline then reads
        # "closed -> reopened", "reopened -> in_progress", each status as the instance had it.
        state.status = REOPENED_STATUS
        # The clocks stopped at the end; a reopened instance is measured from now on.
        state.sla = None
        self.record("reopened", None, f"{was} -> reopened: {event.reason}", to=event.to)
        self.enter(event.to, None, None)

    def _task_completed(self, event: TaskCompleted) -> None:
        pending = self.state.tasks.get(event.task)
        if pending is None:
            raise InvalidEvent(
                f"task {event.task} is not open: it was already completed or withdrawn"
            )
        run = self.state.runs[pending.run]
        step = self.workflow.steps[run.step]
        if event.outcome not in step.outcomes():
            choices = ", ".join(step.outcomes())
            raise InvalidEvent(
                f"'{event.outcome}' is not an outcome of step '{step.id}'; choose one of: {choices}"
            )
        step.task_completed(self, run, event)
