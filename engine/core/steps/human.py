"""Steps that wait on people: `task`, `approval` and `review`, with their escalation ladders."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from engine.core.assignment import notification, resolve_assignment
from engine.core.conditions import Condition, compile_condition, field_value
from engine.core.durations import describe_duration, parse_duration
from engine.core.effects import Notify, ReassignTask
from engine.core.errors import ExpressionError
from engine.core.expressions import compile_template
from engine.core.sla import raise_priority
from engine.core.state import ResumePoint, copy_json, timestamp
from engine.core.steps.base import Step
from engine.core.turn import STEP_FAILURES

if TYPE_CHECKING:
    from engine.core.events import TaskCompleted
    from engine.core.state import Run, Timer
    from engine.core.turn import Turn

APPROVAL_OUTCOMES = ("approved", "rejected")


def decision_reason(data: Mapping[str, Any]) -> str:
    """Return the reason given with a decision: the first filled text field ending in `comment`.

    The one rule for a decision's reason: what a rejection must give (unless a note comes
    with it) and what a reviewer's vote shows on the timeline. Fields are taken in the order
    of their keys, so `approval_comment` comes before `comment`.
    """
    for key in sorted(key for key in data if key.endswith("comment")):
        value = data[key]
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


@dataclass(frozen=True, slots=True)
class Rung:
    """One rung of an escalation ladder: after how long, how often again, what to do."""

    index: int
    after: timedelta
    calendar: str | None
    every: timedelta | None
    limit: int
    actions: tuple[Mapping[str, Any], ...]


class HumanStep(Step):
    """What tasks, approvals and reviews share: title, assignment, due time, escalations."""

    human = True
    __slots__ = ("_title", "calendar", "due", "rungs")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        doc = self.doc
        self._title = compile_template(doc.get("title") or self.label)
        self.calendar: str | None = doc.get("calendar")
        self.due = parse_duration(doc["due"]) if "due" in doc else None
        self.rungs = tuple(
            Rung(
                index,
                parse_duration(rung["after"]),
                rung.get("calendar", self.calendar),
                parse_duration(rung["repeat"]["every"]) if "repeat" in rung else None,
                rung["repeat"]["limit"] if "repeat" in rung else 0,
                tuple(rung["do"]),
            )
            for index, rung in enumerate(doc.get("escalate", ()))
        )

    def title(self, turn: Turn) -> str:
        """Fill in the task title; one that cannot be filled in falls back to the label."""
        try:
            return self._title(turn.context())
        except ExpressionError as error:
            turn.incident(self.id, f"the title could not be filled in: {error}")
            return self.label

    def due_at(self, turn: Turn) -> str | None:
        return timestamp(turn.add(turn.at, self.due, self.calendar)) if self.due else None

    def activate(self, turn: Turn, run: Run) -> None:
        if self.status:
            turn.set_status(self.status, self.id)
        self.open_tasks(turn, run)
        if run.id in turn.state.runs:  # auto-approval may already have finished the run
            for rung in self.rungs:
                turn.schedule(run, turn.add(turn.at, rung.after, rung.calendar), rung.index)

    def open_tasks(self, turn: Turn, run: Run) -> None:
        """Open this step's tasks."""
        raise NotImplementedError

    def finish(self, turn: Turn, run: Run, outcome: str, why: str) -> None:
        turn.leave(run, self.target(outcome), why, outcome)

    def timer_fired(self, turn: Turn, run: Run, timer_id: str, timer: Timer) -> None:
        rung = self.rungs[timer.rung or 0]
        turn.record("escalated", self.id, self._why(rung, timer.count), rung=rung.index + 1)
        self._carry_out(turn, run, ResumePoint(rung.index, timer.count, 0, timer.at))

    def retried(self, turn: Turn, run: Run) -> None:
        """Go on with the rungs that stopped part way, the tasks as they are; else start again.

        Each rung carries out the actions it had not, once, then schedules its next time
        as if it had not stopped: the times missed meanwhile are skipped.
        """
        if not run.resume:
            super().retried(turn, run)
            return
        points, run.resume, run.incident = run.resume, [], None
        for point in points:
            if run.id in turn.state.runs:  # a `complete` or `goto` may have ended the step
                self._carry_out(turn, run, point)

    def _carry_out(self, turn: Turn, run: Run, point: ResumePoint) -> None:
        """Carry out a rung's actions from `point` on, then schedule its next time.

        An action that cannot be carried out (or a next time that cannot be counted)
        stops the rung there, on an incident: the actions before it stand, the step's
        tasks stay open, and the run keeps where it stopped, for a retry (`retried`).
        """
        rung = self.rungs[point.rung]
        why = self._why(rung, point.count)
        done = point.action
        try:
            for action in rung.actions[point.action :]:
                ((kind, arg),) = action.items()
                if kind == "complete":
                    self.finish(turn, run, arg, f"completed as '{arg}' by escalation: {why}")
                    return
                if kind == "goto":
                    turn.leave(run, arg, f"moved on by escalation: {why}")
                    return
                self._escalation_action(turn, run, kind, arg, why)
                done += 1
            if rung.every:
                self._repeat(turn, run, rung, rung.every, point)
        except STEP_FAILURES as error:
            run.resume.append(ResumePoint(rung.index, point.count, done, point.at))
            turn.incident(self.id, f"an escalation of step '{self.id}' failed: {error}", run)

    def _why(self, rung: Rung, count: int) -> str:
        """Say in words why a rung acts for the `count`th time (0: the first)."""
        waited = describe_duration(rung.after + (rung.every or timedelta(0)) * count)
        calendar = f" of {rung.calendar} hours" if rung.calendar else ""
        why = f"no answer after {waited}{calendar} (escalation {rung.index + 1}"
        return why + (f", time {count + 1} of {rung.limit + 1})" if rung.every else ")")

    def _repeat(
        self, turn: Turn, run: Run, rung: Rung, every: timedelta, point: ResumePoint
    ) -> None:
        """Schedule the next time of a recurring rung that is still ahead, within its limit."""
        count = point.count + 1
        again = turn.add(datetime.fromisoformat(point.at), every, rung.calendar)
        # Times missed while this one fired late (or waited for a retry) are folded into
        # it, not sent in a burst.
        while again <= turn.at and count <= rung.limit:
            count += 1
            again = turn.add(again, every, rung.calendar)
        if count <= rung.limit:
            turn.schedule(run, again, rung.index, count)

    def _escalation_action(self, turn: Turn, run: Run, kind: str, arg: Any, why: str) -> None:
        if kind == "remind":
            turn.emit(Notify(self.id, to=arg, template="reminder", tasks=tuple(run.tasks)))
        elif kind == "notify":
            turn.emit(notification(turn, self.id, arg, tuple(run.tasks)))
        elif kind == "reassign":
            assign = {arg: True} if isinstance(arg, str) else resolve_assignment(arg, turn)
            turn.emit(*(ReassignTask(task, assign, why) for task in run.tasks))  # all or none
            for task in run.tasks:
                turn.state.tasks[task].assign = assign
                turn.record("task_reassigned", self.id, why, task=task, assign=assign)
        elif kind == "raise_priority":
            raise_priority(turn, self.id, arg, why)


class TaskStep(HumanStep):
    """Human work, optionally with a form; its outcome picks the route."""

    type = "task"
    __slots__ = ()

    def open_tasks(self, turn: Turn, run: Run) -> None:
        assign = resolve_assignment(self.doc.get("assign", {"requester": True}), turn)
        turn.open_task(
            run,
            self.id,
            self.outcomes(),
            self.title(turn),
            assign,
            form=self.doc.get("form"),
            due=self.due_at(turn),
        )

    def task_completed(self, turn: Turn, run: Run, event: TaskCompleted) -> None:
        turn.close_task(event.task)
        turn.state.data.update(copy_json(event.data))  # the event stays as it was given
        turn.record("task_completed", self.id, None, task=event.task, outcome=event.outcome)
        self.finish(turn, run, event.outcome, f"'{event.outcome}' chosen")


class ApprovalStep(TaskStep):
    """One approver decides; `auto_approve` skips the person when its condition holds."""

    type = "approval"
    __slots__ = ("auto_approve",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        rule = self.doc.get("auto_approve")
        self.auto_approve: Condition | None = compile_condition(rule) if rule else None

    def outcomes(self) -> tuple[str, ...]:
        return APPROVAL_OUTCOMES

    def activate(self, turn: Turn, run: Run) -> None:
        # Approved before anyone is asked: the step's status (awaiting the manager) is not
        # the instance's for a moment, as nobody waits on anyone.
        if not self._approved_at_once(turn, run):
            super().activate(turn, run)

    def open_tasks(self, turn: Turn, run: Run) -> None:
        if not self._approved_at_once(turn, run):
            super().open_tasks(turn, run)

    def _approved_at_once(self, turn: Turn, run: Run) -> bool:
        if not (self.auto_approve and self.auto_approve.decide(turn.context())):
            return False
        why = f"approved automatically because {self.auto_approve.text}"
        turn.record("auto_approved", self.id, why)
        self.finish(turn, run, "approved", why)
        return True


def reviewer_names(field: str, value: Any) -> list[str]:
    """Return the reviewers a field names: a user name, or a list of them, each once in order.

    Raise `ExpressionError`, which stops the step on an incident, when the value names
    nobody or is not user names, saying so in words.
    """
    where = f"the reviewers come from the field '{field}'"
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        what = "is not filled in" if value is None else f"holds {_kind(value)}"
        raise ExpressionError(f"{where}, which {what}; it should hold user names")
    for index, name in enumerate(value, 1):
        if not isinstance(name, str):
            raise ExpressionError(f"{where}, whose item {index} is {_kind(name)}, not a user name")
    names = [name for name in value if name.strip()]
    if not names:
        raise ExpressionError(f"{where}, which names nobody")
    return list(dict.fromkeys(names))


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a yes-or-no value"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, Mapping):
        return "an object"
    return "a list" if isinstance(value, list) else "nothing"


class ReviewStep(HumanStep):
    """Several reviewers vote at once; a quorum decides, and the other reviews are withdrawn."""

    type = "review"
    __slots__ = ()

    def outcomes(self) -> tuple[str, ...]:
        return APPROVAL_OUTCOMES

    def reviewers(self, turn: Turn) -> list[tuple[str | None, dict[str, Any]]]:
        spec = self.doc["reviewers"]
        if isinstance(spec, dict):
            names = reviewer_names(spec["from"], field_value(turn.state.data, spec["from"]))
            return [(None, {"user": name}) for name in names]
        found: list[tuple[str | None, dict[str, Any]]] = []
        people: set[str] = set()
        for item in spec:
            assign = resolve_assignment(item["assign"], turn)
            person = assign.get("user")
            if isinstance(person, str):
                if person in people:
                    continue  # one person votes once, however many ways they are named
                people.add(person)
            found.append((item.get("role"), assign))
        return found

    def needed(self, count: int) -> int:
        quorum = self.doc["quorum"]
        if quorum == "all":
            return count
        if quorum == "any":
            return min(1, count)
        if quorum == "majority":
            return count // 2 + 1
        return min(int(quorum), count)

    def open_tasks(self, turn: Turn, run: Run) -> None:
        reviewers = self.reviewers(turn)
        run.needed = self.needed(len(reviewers))
        title = self.title(turn)
        for role, assign in reviewers:
            turn.open_task(
                run,
                self.id,
                self.outcomes(),
                f"{title} ({role})" if role else title,
                assign,
                form=self.doc.get("form"),
                due=self.due_at(turn),
                role=role,
            )

    def task_completed(self, turn: Turn, run: Run, event: TaskCompleted) -> None:
        turn.close_task(event.task)
        run.votes[event.task] = event.outcome
        reason = decision_reason(event.data) or event.note or None
        approvals = sum(1 for vote in run.votes.values() if vote == "approved")
        rejections = len(run.votes) - approvals
        total = len(run.votes) + len(run.tasks)
        # The tally with the vote, so the timeline says where the review stood after it.
        turn.record(
            "voted", self.id, reason, task=event.task, vote=event.outcome,
            approvals=approvals, rejections=rejections, needed=run.needed, reviewers=total,
        )  # fmt: skip
        tally = f"{approvals} of {total} approved, {rejections} rejected, {run.needed} needed"
        if approvals >= run.needed:
            self.finish(turn, run, "approved", f"approved: {tally}")
        elif self._rejected(rejections, approvals + len(run.tasks), run.needed):
            self.finish(turn, run, "rejected", f"rejected: {tally}")

    def _rejected(self, rejections: int, reachable: int, needed: int) -> bool:
        rule = self.doc.get("reject", "unreachable")
        if reachable < needed:
            return True
        if rule == "first":
            return rejections >= 1
        if isinstance(rule, dict):
            return rejections >= int(rule["count"])
        return False
