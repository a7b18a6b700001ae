"""Simulating a workflow before it is published: a stateless replay on the real runtime.

The designer's simulation panel and `flowdesk play` share this core. A replay starts
an instance in memory and applies actions one by one - complete a task, move the clock,
fire the next timer - with `engine.core.runtime`, the runtime published workflows run
on: there is no second interpreter. The page keeps the list of actions; stepping on is
adding one, going back is dropping the last, so nothing is kept between calls.

Nothing is written. Who a task would go to is read from the directory, in a reading
session, and said in words ("round robin in service-desk: next would be ann"); a pick
is worked out as the service makes it, but no group's turn moves. Data is checked as
the service checks it (`engine.service.submissions`), so the simulation refuses what
a real submission would.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from engine.catalog import Document
from engine.core import runtime
from engine.core.audit import AuditEvent
from engine.core.calendars import Calendar
from engine.core.definition import Workflow
from engine.core.durations import parse_duration
from engine.core.effects import OpenTask, ReassignTask, StartSubflow
from engine.core.errors import DurationError, FlowdeskError, Problem
from engine.core.events import Cancelled, Event, SubflowFinished, TaskCompleted, TimerFired
from engine.core.sla import SLA_STEP
from engine.core.state import InstanceState, Timer
from engine.core.steps.base import Step
from engine.service.assignment import Assignee
from engine.service.definitions import directory_names, published_catalog
from engine.service.errors import InvalidInput
from engine.service.permissions import kept_apart
from engine.service.submissions import InvalidData, check, people_errors, step_form, task_data
from engine.service.workflow_context import references
from engine.service.workflow_drafts import workflow_problems
from engine.store.repository import Repository
from forms.definition import Form, option_values

if TYPE_CHECKING:
    from engine.service.shell import Shell

#: Who starts a simulated instance when the caller names nobody: made up, in no group.
MADE_UP_REQUESTER = "requester"


@dataclass(frozen=True, slots=True)
class Limits:
    """How much one simulation may do: actions asked for, steps run, and time taken."""

    max_actions: int = 500
    max_steps: int = 10_000
    max_seconds: float = 2.0


class Refused(FlowdeskError):
    """An action cannot be carried out; the replay stops there, saying why."""


# Sample data -------------------------------------------------------------------------------


def sample_data(
    form: Form | None, given: Mapping[str, Any], today: date, user: str = "alice"
) -> dict[str, Any]:
    """Fill in a start form the way a careful requester might, keeping what was given.

    A field that names a person gets `user`: the service refuses a name nobody has.
    """
    data: dict[str, Any] = {}
    for spec in form.fields if form else []:
        key, kind = spec["key"], spec["type"]
        options = option_values(spec)
        if "default" in spec:
            data[key] = spec["default"]
        elif options:
            data[key] = [options[0]] if kind == "multiselect" else options[0]
        elif kind == "number":
            data[key] = spec.get("min", 1)
        elif kind == "checkbox":
            data[key] = False
        elif kind == "date":
            data[key] = today.isoformat()
        elif kind == "datetime":
            data[key] = f"{today.isoformat()}T09:00:00+00:00"
        elif kind == "user":
            data[key] = user
        elif spec.get("format") == "email":
            data[key] = "requester@example.org"
        elif kind in ("text", "textarea"):
            data[key] = f"Example {spec['label'].lower()}"
    data.update(given)
    return data


# Words -------------------------------------------------------------------------------------


def describe_event(event: AuditEvent) -> str:
    """Say what one audit event did, and why: `-> work: otherwise: no condition matched`."""
    detail = event.detail
    what = event.kind.replace("_", " ")
    if event.kind == "routed":
        what = f"-> {detail['to']}"
    elif event.kind == "data_set":
        what = f"set {detail['field']} = {detail['value']!r}"
    elif event.kind == "task_completed":
        what = f"task completed as '{detail.get('outcome')}'"
        if event.actor:
            what += f" by {event.actor}"
    elif event.kind == "voted":
        what = f"voted '{detail.get('vote')}'" + (f" ({event.actor})" if event.actor else "")
    elif event.kind == "timer_fired" and detail.get("sla"):
        what = f"SLA timer fired ({str(detail['sla']).replace(':', ' ')})"
    why = f": {event.why}" if event.why else ""
    return f"{what}{why}"


def describe_rung(step: Step, rung: int, count: int) -> str:
    """Say what an escalation rung of a step does: 'escalation 1 of 'Work': remind assignee'."""
    ladder = step.doc.get("escalate", ())
    spec = ladder[rung] if rung < len(ladder) else {}
    actions = "; ".join(_action_words(action) for action in spec.get("do", ()))
    times = ""
    if "repeat" in spec:
        times = f", time {count + 1} of {spec['repeat']['limit'] + 1}"
    return f"escalation {rung + 1} of '{step.label}'{times}: {actions}"


def _action_words(action: Mapping[str, Any]) -> str:
    ((kind, arg),) = action.items()
    if kind == "complete":
        return f"complete it as '{arg}'"
    if kind == "goto":
        return f"move on to '{arg}'"
    if kind == "remind":
        return f"remind {arg}"
    if kind == "reassign":
        if arg == "next_tier":
            return "reassign to the next tier"
        if arg == "manager":
            return "reassign to the manager"
        return f"reassign to {_assign_words(arg)}"
    if kind == "raise_priority":
        return "raise the priority"
    if kind == "notify":
        return "send a notification"
    return kind.replace("_", " ")


def _assign_words(assign: Any) -> str:
    """Say an `assign` block as written, before anyone is picked."""
    if not isinstance(assign, Mapping):
        return str(assign)
    if assign.get("requester"):
        return "the requester"
    if "user" in assign:
        return f"user {assign['user']}"
    if "group" in assign:
        return f"group {assign['group']}"
    if "on_call" in assign:
        return f"whoever is on call on schedule {assign['on_call']}"
    if "manager_of" in assign:
        return f"the manager of {assign['manager_of']}"
    return ", ".join(f"{key}={value}" for key, value in assign.items())


# Who a task goes to ------------------------------------------------------------------------


@dataclass(slots=True)
class Picked:
    """Who a task goes to, as the service would store it, and the same in words."""

    who: Assignee
    words: str


class People:
    """Whom an assignment gives a task to, read from the directory and never written.

    Without a directory (`flowdesk play` has no database) the words say the rule alone:
    "round robin in network". A round-robin pick moves on in memory only, so the next
    task of the same group in the replay goes to the next member, as it would.
    """

    def __init__(self, directory: Repository | None, requester: str | None) -> None:
        self.directory = directory
        self.requester = requester
        self._turns: dict[str, str | None] = {}

    def pick(
        self,
        assign: Mapping[str, Any],
        at: datetime,
        current: Assignee | None = None,
        apart: frozenset[str] = frozenset(),
    ) -> Picked:
        """Resolve an effect's `assign` block as `assignment.resolve` does, and say it."""
        current = current or Assignee()
        if assign.get("next_tier"):
            return self._next_tier(current)
        if assign.get("manager"):
            if current.user is None:
                return Picked(current, "unchanged: the task has no holder whose manager to ask")
            boss, words = self._manager(current.user)
            return Picked(Assignee(boss, current.group) if boss else current, words)
        if assign.get("requester"):
            return self._requester(apart)
        if "manager_of" in assign:
            named = str(assign["manager_of"] or "")
            if not named:
                return Picked(Assignee(), "nobody: the manager's employee came out empty")
            boss, words = self._manager(named)
            return Picked(Assignee(boss), words)
        if "user" in assign:
            return self._user(str(assign["user"] or ""), apart)
        if "group" in assign:
            return self._group(str(assign["group"]), assign.get("strategy", "claim"), apart)
        if "on_call" in assign:
            return self._on_call(str(assign["on_call"]), at, apart)
        return Picked(Assignee(), "nobody: the assignment names no one")

    def _requester(self, apart: frozenset[str]) -> Picked:
        name = self.requester
        if name is None or name == MADE_UP_REQUESTER:
            return Picked(Assignee(name), "the requester")
        note = _passed_over(name) if name in apart else ""
        return Picked(Assignee(name), f"the requester, {name}{note}")

    def _user(self, name: str, apart: frozenset[str]) -> Picked:
        if not name:
            return Picked(Assignee(), "nobody: the user name came out empty")
        if self.directory is not None and not self.directory.active_users([name]):
            return Picked(Assignee(name), f"user '{name}' does not exist or cannot sign in")
        if name in apart:
            return Picked(
                Assignee(name),
                f"{name}, whom separation of duties keeps from this step: the task cannot "
                "be opened for them",
            )
        return Picked(Assignee(name), name)

    def _manager(self, employee: str) -> tuple[str | None, str]:
        if self.directory is None:
            return None, f"the manager of {employee}"
        if employee == MADE_UP_REQUESTER:
            return None, (
                f"the manager of {employee}: the simulated requester has none; name a "
                "real requester to see who"
            )
        boss = self.directory.manager_of(employee)
        if boss is None:
            return None, f"the manager of {employee}: {employee} has no manager, so nobody"
        return boss, f"the manager of {employee}: {boss}"

    def _members(self, group: str, apart: frozenset[str]) -> tuple[list[str], list[str]] | None:
        """Return a group's active members who may take the task, and those passed over;
        None when the group does not exist."""
        assert self.directory is not None
        if not self.directory.known_groups([group]):
            return None
        members = self.directory.members(group)
        return [p for p in members if p not in apart], [p for p in members if p in apart]

    def _group(self, group: str, strategy: str, apart: frozenset[str]) -> Picked:
        queue = Assignee(None, group)
        if not group:
            return Picked(Assignee(), "nobody: the group came out empty")
        if self.directory is None:
            rule = {"round_robin": "round robin in", "least_loaded": "the least loaded of"}
            return Picked(queue, f"{rule.get(strategy, 'the queue of group')} {group}")
        found = self._members(group, apart)
        if found is None:
            return Picked(queue, f"group '{group}' does not exist")
        people, skipped = found
        note = "".join(_passed_over(person) for person in skipped)
        if strategy == "claim" or not people:
            names = ", ".join(people) if people else "nobody can take it yet"
            return Picked(queue, f"the queue of group {group} ({names}){note}")
        if strategy == "least_loaded":
            load = self.directory.open_load(people)
            chosen = min(people, key=lambda person: (load.get(person, 0), person))
            count = load.get(chosen, 0)
            tasks = "open task" if count == 1 else "open tasks"
            return Picked(
                Assignee(chosen, group),
                f"the least loaded in {group}: {chosen} ({count} {tasks}){note}",
            )
        if group not in self._turns:
            row = self.directory.group(group)
            self._turns[group] = row.last_assigned if row is not None else None
        last = self._turns[group]
        chosen = next((p for p in people if last is None or p > last), people[0])
        self._turns[group] = chosen
        return Picked(
            Assignee(chosen, group), f"round robin in {group}: next would be {chosen}{note}"
        )

    def _on_call(self, schedule: str, at: datetime, apart: frozenset[str]) -> Picked:
        said = f"whoever is on call on schedule {schedule} at that time"
        if self.directory is None:
            return Picked(Assignee(None, schedule), said)
        person = self.directory.on_call(schedule, at)
        if person is None:
            return Picked(
                Assignee(None, schedule), f"{said}: nobody, so the queue of group {schedule}"
            )
        if person in apart:
            return Picked(
                Assignee(None, schedule),
                f"{said}: {person}, passed over (separation of duties), so the queue of "
                f"group {schedule}",
            )
        return Picked(Assignee(person, schedule), f"{said}: {person}")

    def _next_tier(self, current: Assignee) -> Picked:
        group = current.group
        if group is None:
            return Picked(current, "unchanged: the task is in no group with a next tier")
        if self.directory is None:
            return Picked(current, f"the next tier after {group}")
        row = self.directory.group(group)
        tier = self.directory.group_key(row.next_tier_id) if row and row.next_tier_id else None
        if tier is None:
            return Picked(Assignee(None, group), f"the queue of group {group}: it has no next tier")
        return Picked(
            Assignee(None, tier), f"the queue of group {tier}, the next tier after {group}"
        )


def _passed_over(person: str) -> str:
    return f"; {person} is passed over (separation of duties)"


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
        self, task: str, outcome: str, data: Mapping[str, Any], by: str | None = None
    ) -> None:
        """Complete an open task with an outcome and the data of its form, now."""
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
        if form is not None:
            self._people_in(form, clean)
        if by is not None:
            self._may_act(step, by)
        actor = by or (self.opened[task].picked.who.user if task in self.opened else None)
        self._apply(TaskCompleted(task, outcome, clean, actor=actor), self.now)
        if actor:
            self.completers.setdefault(step.id, set()).add(actor)

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
        """Refuse data naming a person who cannot sign in, as the service does."""
        directory = self.people.directory
        if directory is None:
            return
        errors = people_errors(directory, form, data)
        if errors:
            raise InvalidData("some of the data names nobody who can sign in", errors)

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
                    "goes_to": task.picked.words if task else _assign_words(pending.assign),
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
        data, by = action.get("data", {}), action.get("by")
        if not isinstance(task, str) or not isinstance(outcome, str):
            raise Refused("say which task to complete and with which outcome, as text")
        if not isinstance(data, Mapping):
            raise Refused("the data of a task is a JSON object")
        if by is not None and not isinstance(by, str):
            raise Refused("'by' is a user name")
        replay.complete(task, outcome, data, by)
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


@dataclass(frozen=True, slots=True)
class Scenario:
    """What a simulation is asked to run: start data, start time, requester and actions."""

    data: Mapping[str, Any]
    start_at: datetime
    requester: str | None
    actions: list[Any]


def read_scenario(body: Mapping[str, Any], now: datetime, limits: Limits) -> Scenario:
    """Read what a page asks to simulate; refuse a request that cannot be replayed at all."""
    data = body.get("data", {})
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise InvalidInput("the start data is a JSON object", [Problem("/data", "not an object")])
    actions = body.get("actions", [])
    if not isinstance(actions, list):
        raise InvalidInput("the actions are a list", [Problem("/actions", "not a list")])
    if len(actions) > limits.max_actions:
        message = f"at most {limits.max_actions} actions are simulated; {len(actions)} were sent"
        raise InvalidInput(message, [Problem("/actions", message)])
    requester = body.get("requester")
    if requester is not None and (not isinstance(requester, str) or not requester.strip()):
        raise InvalidInput("the requester is a user name", [Problem("/requester", "not a name")])
    return Scenario(data, _start_at(body.get("start_at"), now), requester, actions)


def _start_at(raw: Any, now: datetime) -> datetime:
    if raw is None or raw == "":
        return now.replace(second=0, microsecond=0)
    message = "the start time is an ISO 8601 time with its zone, like 2026-11-23T09:00:00+01:00"
    if not isinstance(raw, str):
        raise InvalidInput(message, [Problem("/start_at", message)])
    try:
        at = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(message, [Problem("/start_at", message)]) from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


# The service's side ------------------------------------------------------------------------


def draft_problems(session: Session, key: str, document: Any) -> list[Problem]:
    """Check a draft as the designer's check does: against what is published and the people
    who exist, its key against the one it is saved as."""
    refs = references(session, document) if isinstance(document, dict) else None
    return workflow_problems(key, document, refs)


def simulate(
    session: Session,
    key: str,
    document: Any,
    body: Mapping[str, Any],
    now: datetime,
    limits: Limits | None = None,
) -> dict[str, Any]:
    """Replay a draft workflow with sample data and a fake clock, in a reading session.

    A draft with problems is answered with them, not simulated. An action that cannot be
    carried out stops the replay there: `error` says which (its index) and why, and the
    answer holds everything up to it. Nothing is written.
    """
    limits = limits or Limits()
    scenario = read_scenario(body, now, limits)
    problems = draft_problems(session, key, document)
    if problems:
        return {"ok": False, "problems": [_problem(p) for p in problems]}
    directory = Repository(session.connection(), row_locks=False)
    requester = scenario.requester or MADE_UP_REQUESTER
    if scenario.requester is not None and not directory.active_users([requester]):
        message = f"there is no active user '{requester}' to start the instance as"
        raise InvalidInput(message, [Problem("/requester", message)])
    workflow = Workflow(document)  # the checker ran the schema: no need to run it twice
    catalog = published_catalog(session)
    replay = Replay(
        workflow,
        _calendars(catalog.of_kind("calendar"), workflow),
        scenario.start_at,
        forms=_forms(catalog.of_kind("form"), workflow),
        people=People(directory, requester),
        limits=limits,
    )
    start_form = replay.forms.get(workflow.start.get("form", ""))
    sample_user = scenario.requester or min(directory_names(session)[1] or {"alice"})
    data = sample_data(start_form, scenario.data, scenario.start_at.date(), sample_user)
    try:
        replay.start(data)
    except Refused as error:  # a start past the limits: data that does not fit is a 422
        return {**replay.answer(), "error": {"action": None, "message": str(error)}}
    for index, action in enumerate(scenario.actions):
        try:
            carry_out(replay, action)
        except (Refused, InvalidInput, FlowdeskError) as error:
            answer = replay.answer()
            answer["error"] = {"action": index, "message": _message(error)}
            return answer
    return replay.answer()


def _message(error: Exception) -> str:
    return error.message if isinstance(error, InvalidInput) else str(error)


def _problem(problem: Problem) -> dict[str, str]:
    return {"pointer": problem.pointer, "message": problem.message}


def _forms(documents: Iterable[Document], workflow: Workflow) -> dict[str, Form]:
    """The published forms the workflow uses, ready to check data against."""
    used = {workflow.start.get("form")} | {s.doc.get("form") for s in workflow.steps.values()}
    return {d.key: Form.from_document(d.content) for d in documents if d.key and d.key in used}


def _calendars(documents: Iterable[Document], workflow: Workflow) -> dict[str, Calendar]:
    return {
        d.key: Calendar.from_document(d.content)
        for d in documents
        if d.key and d.key in workflow.calendars
    }


class Simulations:
    """The designer's simulation: one reading session per call, nothing written."""

    def __init__(self, shell: Shell, limits: Limits | None = None) -> None:
        self.shell = shell
        self.limits = limits or Limits()

    def run(self, key: str, document: Any, body: Mapping[str, Any]) -> dict[str, Any]:
        """Check a draft and replay it (see `simulate`)."""
        now = self.shell.clock()
        return self.shell.read(
            lambda session: simulate(session, key, document, body, now, self.limits)
        )
