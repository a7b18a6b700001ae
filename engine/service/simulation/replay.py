"""One simulated instance, replayed in memory on the real runtime, and the actions it takes."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from engine.core import runtime
from engine.core.audit import AuditEvent
from engine.core.calendars import Calendar
from engine.core.definition import Workflow
from engine.core.durations import parse_duration
from engine.core.effects import OpenTask, ReassignTask, StartSubflow
from engine.core.errors import DurationError, FlowdeskError
from engine.core.events import Cancelled, Event, SubflowFinished, TaskCompleted, TimerFired
from engine.core.sla import SLA_STEP
from engine.core.state import InstanceState, Timer
from engine.core.steps.base import Step
from engine.service.permissions import kept_apart
from engine.service.simulation.people import MADE_UP_REQUESTER, People, Picked
from engine.service.simulation.words import assign_words, describe_event, describe_rung
from engine.service.submissions import (
    DECISIONS,
    InvalidData,
    check,
    people_errors,
    require_reason,
    step_form,
    task_data,
)
from forms.definition import Form

if TYPE_CHECKING:
    pass


@dataclass(frozen=True, slots=True)
class Limits:
    """How much one simulation may do: actions asked for, steps run, and time taken."""

    max_actions: int = 500
    max_steps: int = 10_000
    max_seconds: float = 2.0


class Refused(FlowdeskError):
    """An action cannot be carried out; the replay stops there, saying why."""


# The replay --------------------------------------------------------------------------------


@dataclass(slots=True)
class OpenedTask:
    """What the replay knows of an open task beyond the runtime's state."""

    step: str
    title: str
    due: str | None
    picked: Picked


@dataclass(slots=True)
class Replay:
    """One simulated instance on a fake clock, driven through the real runtime.

    `forms` are the published forms by key; `people` says whom tasks go to. Each action
    that cannot be carried out raises `Refused`, leaving the replay as it was.
    """

    workflow: Workflow
    calendars: Mapping[str, Calendar]
    now: datetime
    forms: Mapping[str, Form] = field(default_factory=dict)
    people: People = field(default_factory=lambda: People(None, MADE_UP_REQUESTER))
    limits: Limits = field(default_factory=Limits)
    state: InstanceState | None = None
    path: list[str] = field(default_factory=list)
    timeline: list[dict[str, Any]] = field(default_factory=list)
    opened: dict[str, OpenedTask] = field(default_factory=dict)
    completers: dict[str, set[str]] = field(default_factory=dict)
    #: Who has voted in each run of a review: one person votes once, as the service says.
    voters: dict[int, set[str]] = field(default_factory=dict)
    #: Child instances a subflow step waits for, by the task id that stands for each.
    children: dict[str, StartSubflow] = field(default_factory=dict)
    #: Called with each audit event as it happens, and its words (`flowdesk play` prints).
    echo: Callable[[AuditEvent, str], None] | None = None
    started: float = field(default_factory=time.monotonic)

    @property
    def requester(self) -> str | None:
        return self.people.requester

    # Actions -----------------------------------------------------------------------------

    def start(self, data: Mapping[str, Any]) -> None:
        """Start the instance; raise `InvalidData` if the data does not fill in the start form."""
        form = self.forms.get(self.workflow.start.get("form", ""))
        clean = dict(data)
        if form is not None:
            clean = check(step_form(form, None), data)
            self._people_in(form, clean)
        result = runtime.start(
            self.workflow,
            clean,
            self.now,
            requester=self.requester,
            number=f"{self.workflow.number_prefix}-000001",
            calendars=self.calendars,
        )
        self._take(result)

    def complete(
        self,
        task: str,
        outcome: str,
        data: Mapping[str, Any],
        by: str | None = None,
        note: str | None = None,
    ) -> None:
        """Complete an open task with an outcome and the data of its form, now; `note` is
        the comment sent with it (what a rejection without a comment field needs)."""
        state = self._running()
        if task in self.children and self.children[task].run in state.runs:
            self._finish_child(self.children[task], outcome)
            return
        pending = state.tasks.get(task)
        if pending is None:
            open_ids = ", ".join(t["id"] for t in self.tasks()) or "none"
            raise Refused(f"there is no open task '{task}' (open tasks: {open_ids})")
        step = self.workflow.steps[state.runs[pending.run].step]
        if outcome not in step.outcomes():
            choices = ", ".join(step.outcomes())
            raise Refused(
                f"'{outcome}' is not an outcome of step '{step.id}'; choose one of: {choices}"
            )
        form = self.forms.get(step.doc.get("form", ""))
        clean = task_data(form, step.doc, data, outcome)
        if step.type in DECISIONS and outcome == "rejected":  # as the service asks
            require_reason(bool(pending.assign.get("requester")), clean, note, form)
        if form is not None:
            self._people_in(form, clean)
        if by is not None:
            self._may_act(step, by)
        actor = by or (self.opened[task].picked.who.user if task in self.opened else None)
        voted = self.voters.setdefault(pending.run, set()) if step.type == "review" else set()
        if actor and actor in voted:
            raise Refused(
                f"{actor} already has a vote in this review; one person votes once (a quorum "
                "counts people, not tasks), so this vote waits for someone else"
            )
        self._apply(TaskCompleted(task, outcome, clean, actor=actor, note=note), self.now)
        if actor:
            self.completers.setdefault(step.id, set()).add(actor)
            voted.add(actor)

    def _finish_child(self, child: StartSubflow, outcome: str) -> None:
        """End the child instance a subflow step waits for, as it would end, with `outcome`.

        Other workflows are not run in a simulation: the designer says how the child ends.
        """
        assert self.state is not None
        step = self.workflow.steps[self.state.runs[child.run].step]
        if outcome not in _child_outcomes(step):
            choices = ", ".join(_child_outcomes(step))
            raise Refused(
                f"'{outcome}' is not how '{step.id}' can end here; choose one of: {choices}"
            )
        number = f"{child.workflow} (simulated)"
        self._apply(SubflowFinished(child.run, "completed", {}, outcome, number), self.now)

    def advance(self, duration: timedelta) -> None:
        """Move the clock on by wall time, firing every timer that comes due meanwhile."""
        self._running()
        until = self.now + duration
        while (due := self.next_timer()) is not None and _at(due[1]) <= until:
            self._fire(*due)
            if self.state is not None and self.state.ended:
                break
        self.now = max(self.now, until)

    def fire_next(self) -> None:
        """Jump the clock to the next timer and fire it."""
        self._running()
        due = self.next_timer()
        if due is None:
            raise Refused("no timer is pending: there is nothing to fire")
        self._fire(*due)

    def fire(self, timer: str) -> None:
        """Jump the clock to one timer, firing the ones due before it first, in order."""
        state = self._running()
        if timer not in state.timers:
            raise Refused(f"there is no pending timer '{timer}'")
        self.advance(max(_at(state.timers[timer]) - self.now, timedelta(0)))

    def cancel(self, reason: str, actor: str | None = None) -> None:
        """Stop the instance, as someone cancelling it would."""
        self._apply(Cancelled(reason, actor), self.now)

    def next_timer(self) -> tuple[str, Timer] | None:
        """Return the pending timer that comes due first (the earliest set, on a tie)."""
        timers = self.state.timers if self.state is not None else {}
        if not timers:
            return None
        key = min(timers, key=lambda t: (timers[t].at, int(t.lstrip("x") or 0)))
        return key, timers[key]

    # The runtime -------------------------------------------------------------------------

    def _running(self) -> InstanceState:
        if self.state is None:
            raise Refused("the instance has not started")
        if self.state.ended:
            raise Refused(f"the instance has ended ({self.state.status}); nothing is left to do")
        return self.state

    def _fire(self, timer: str, pending: Timer) -> None:
        self.now = max(self.now, _at(pending))
        self._apply(TimerFired(timer), self.now)

    def _apply(self, event: Event, at: datetime) -> None:
        assert self.state is not None
        self._take(runtime.advance(self.workflow, self.state, event, at, calendars=self.calendars))

    def _take(self, result: runtime.Transition) -> None:
        """Keep a transition: the new state, the tasks it opened, and its timeline."""
        self.state = result.state
        for effect in result.effects:
            if isinstance(effect, OpenTask):
                apart = self._apart(effect.step)
                picked = self.people.pick(effect.assign, self.now, apart=apart)
                self.opened[effect.task] = OpenedTask(effect.step, effect.title, effect.due, picked)
            elif isinstance(effect, StartSubflow) and effect.wait:
                self.children[f"s{effect.run}"] = effect
            elif isinstance(effect, ReassignTask) and effect.task in self.opened:
                task = self.opened[effect.task]
                current = task.picked.who
                task.picked = self.people.pick(
                    effect.assign, self.now, current, self._apart(task.step)
                )
        for event in result.audit:
            self._record(event)
        self._within_limits()

    def _record(self, event: AuditEvent) -> None:
        if event.kind == "started":
            self._enter(self.workflow.first)
        elif event.kind == "routed":
            self._enter(event.detail["to"])
        text = describe_event(event)
        task = self.opened.get(str(event.detail.get("task", "")))
        if event.kind in ("task_opened", "task_reassigned") and task is not None:
            text += f" (goes to {task.picked.words})"
        step = event.step if event.step != SLA_STEP else None
        self.timeline.append({"at": event.at, "step": step, "kind": event.kind, "text": text})
        if self.echo is not None:
            self.echo(event, text)

    def _enter(self, step_id: str) -> None:
        """Add a step to the path, and the first steps of a parallel step's branches."""
        self.path.append(step_id)
        step = self.workflow.steps.get(step_id)
        if step is not None and step.type == "parallel":
            for branch in step.doc["branches"].values():
                self._enter(branch["first"])

    def _within_limits(self) -> None:
        if len(self.path) > self.limits.max_steps:
            raise Refused(
                f"the simulation stopped after {self.limits.max_steps} steps; the workflow "
                "may be going round in a loop"
            )
        if time.monotonic() - self.started > self.limits.max_seconds:
            raise Refused(
                f"the simulation stopped after {self.limits.max_seconds:g} s; "
                "simulate fewer actions at a time"
            )

    # Rules the service holds -------------------------------------------------------------

    def _apart(self, step_id: str) -> frozenset[str]:
        """Return who separation of duties keeps from a step on this simulated instance."""
        apart = kept_apart(self.workflow.steps.get(step_id))
        people: set[str] = set()
        for name in apart:
            if name == "requester":
                people.update([self.requester] if self.requester else [])
            else:
                people.update(self.completers.get(name, ()))
        return frozenset(people)

    def _may_act(self, step: Step, person: str) -> None:
        if person in self._apart(step.id):
            why = "requested it" if person == self.requester else "did an earlier step"
            raise Refused(f"{person} {why}, so separation of duties keeps them from '{step.label}'")
        directory = self.people.directory
        if (
            directory is not None
            and person != self.requester
            and not directory.active_users([person])
        ):
            raise Refused(f"there is no active user '{person}' to complete the task")

    def _people_in(self, form: Form, data: Mapping[str, Any]) -> None:
        """Refuse data naming a person who cannot sign in, or a service the catalogue does
        not hold, as the service does."""
        directory = self.people.directory
        if directory is None:
            return
        errors = people_errors(directory, form, data)
        if errors:
            raise InvalidData(
                "some of the data names a person who cannot sign in or a service the "
                "catalogue does not hold",
                errors,
            )

    # The answer --------------------------------------------------------------------------

    def tasks(self) -> list[dict[str, Any]]:
        """The open tasks: who they go to in words, their outcomes and due time."""
        state = self.state
        if state is None:
            return []
        found = []
        for key, pending in state.tasks.items():
            step = self.workflow.steps[state.runs[pending.run].step]
            task = self.opened.get(key)
            found.append(
                {
                    "id": key,
                    "step": step.id,
                    "label": step.label,
                    "title": task.title if task else step.label,
                    "outcomes": list(step.outcomes()),
                    "goes_to": task.picked.words if task else assign_words(pending.assign),
                    "due_at": task.due if task else None,
                }
            )
        for key, child in self.children.items():
            run = state.runs.get(child.run)
            if run is None or run.incident is not None:
                continue
            step = self.workflow.steps[run.step]
            found.append(
                {
                    "id": key,
                    "step": step.id,
                    "label": step.label,
                    "title": f"How {child.workflow} ends",
                    "outcomes": list(_child_outcomes(step)),
                    "goes_to": f"the workflow {child.workflow}, which a simulation does not run: "
                    "choose how it ends",
                    "due_at": None,
                }
            )
        return found

    def timers(self) -> list[dict[str, Any]]:
        """The pending timers (and the tasks' due times), soonest first, in words."""
        state = self.state
        if state is None or state.ended:
            return []
        found = []
        for key in state.timers:
            found.append(self.timer(key))
        for task in self.tasks():
            if task["due_at"]:
                text = f"'{task['label']}' is due; nothing happens by itself at that time"
                found.append(
                    {"at": task["due_at"], "step": task["step"], "kind": "due", "text": text}
                )
        return sorted(found, key=lambda timer: timer["at"])

    def timer(self, key: str) -> dict[str, Any]:
        """Say a pending timer: when, for which step, what kind, and what it will do."""
        assert self.state is not None
        state, pending = self.state, self.state.timers[key]
        if pending.sla is not None:
            clock, _, what = pending.sla.partition(":")
            if what == "warning":
                text = f"the {clock} SLA warns that its target is near"
            else:
                text = f"the {clock} SLA is breached"
            kind = "sla_warning" if what == "warning" else "sla_breach"
            return {"at": pending.at, "step": None, "kind": kind, "text": text}
        run = state.runs.get(pending.run)
        step = self.workflow.steps[run.step] if run is not None else None
        if step is None:
            return {"at": pending.at, "step": None, "kind": "wait", "text": "a timer"}
        if pending.rung is not None:
            text = describe_rung(step, pending.rung, pending.count)
            return {"at": pending.at, "step": step.id, "kind": "escalation", "text": text}
        text = f"'{step.label}' stops waiting and goes on"
        return {"at": pending.at, "step": step.id, "kind": "wait", "text": text}

    def answer(self) -> dict[str, Any]:
        """The replay as the contract says it: path, timeline, tasks, timers, status, data."""
        state = self.state
        return {
            "ok": True,
            "problems": [],
            "now": self.now.astimezone(UTC).isoformat(),
            "status": state.status if state else None,
            "outcome": state.outcome if state else None,
            "path": list(self.path),
            "timeline": list(self.timeline),
            "tasks": self.tasks(),
            "timers": self.timers(),
            "data": state.data if state else {},
        }


def _child_outcomes(step: Step) -> tuple[str, ...]:
    """How the child of a subflow step may end, as far as the step tells routes apart."""
    return tuple(dict.fromkeys((*step.doc.get("on", {}), "completed")))


def _at(timer: Timer) -> datetime:
    return datetime.fromisoformat(timer.at)


# Actions as the page sends them ------------------------------------------------------------


def carry_out(replay: Replay, action: Any) -> None:
    """Carry out one action as the page sends it, or raise `Refused` saying why."""
    if not isinstance(action, Mapping):
        raise Refused(
            'an action is an object: {"complete": task, "outcome": ...}, {"advance": "PT2H"} '
            'or {"fire": "next"}'
        )
    if "complete" in action:
        task, outcome = action.get("complete"), action.get("outcome")
        data, by, comment = action.get("data", {}), action.get("by"), action.get("comment")
        if not isinstance(task, str) or not isinstance(outcome, str):
            raise Refused("say which task to complete and with which outcome, as text")
        if comment is not None and not isinstance(comment, str):
            raise Refused("a task's 'comment' is text")
        if not isinstance(data, Mapping):
            raise Refused("the data of a task is a JSON object")
        if by is not None and not isinstance(by, str):
            raise Refused("'by' is a user name")
        replay.complete(task, outcome, data, by, comment)
    elif "advance" in action:
        try:
            duration = parse_duration(action["advance"])
        except DurationError as error:
            raise Refused(f"the clock cannot move on by that: {error}") from None
        replay.advance(duration)
    elif "fire" in action:
        if action["fire"] != "next":
            raise Refused('only the next timer can be fired: {"fire": "next"}')
        replay.fire_next()
    else:
        raise Refused(
            "an action completes a task ('complete'), moves the clock ('advance') "
            "or fires the next timer ('fire')"
        )
