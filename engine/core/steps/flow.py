"""Steps that run by themselves: `decision`, `action`, `parallel`, `wait`, `subflow`, `end`."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING, Any

from engine.core.assignment import notification
from engine.core.conditions import Condition, compile_condition, field_value, set_field_value
from engine.core.durations import parse_duration
from engine.core.effects import OpenProblem, StartSubflow
from engine.core.expressions import compile_expression
from engine.core.state import copy_json
from engine.core.steps.base import Step

if TYPE_CHECKING:
    from engine.core.events import SubflowFinished
    from engine.core.state import Run, Timer
    from engine.core.turn import Turn


class DecisionStep(Step):
    """Ordered conditions to next steps; the first that holds wins, else `otherwise`."""

    type = "decision"
    __slots__ = ("branches",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.branches: tuple[tuple[Condition, str, str | None], ...] = tuple(
            (compile_condition(b["when"]), b["next"], b.get("label")) for b in self.doc["branches"]
        )

    def routes(self) -> dict[str, str]:
        routes = {f"branch {i + 1}": b["next"] for i, b in enumerate(self.doc["branches"])}
        routes["otherwise"] = self.doc["otherwise"]
        return routes

    def activate(self, turn: Turn, run: Run) -> None:
        context = turn.context()
        for index, (condition, target, label) in enumerate(self.branches):
            if condition.decide(context):
                name = f"'{label}'" if label else f"branch {index + 1}"
                turn.leave(run, target, f"{name} matched: {condition.text}")
                return
        turn.leave(run, self.doc["otherwise"], "otherwise: no condition matched")


class ActionStep(Step):
    """Automatic work: set data from values, expressions and decision tables; notify;
    open a problem linked to the instance."""

    type = "action"
    __slots__ = ()

    def activate(self, turn: Turn, run: Run) -> None:
        # Everything that can fail is worked out before anything changes, so a step
        # stopped by an incident has set nothing and sent nothing; a retry starts clean.
        # Each value sees the ones set before it, as the step's reader expects.
        data = copy_json(turn.state.data)
        found = []
        for name, spec in self.doc.get("set", {}).items():
            value, why = self._value(turn, spec, data)
            set_field_value(data, name, copy_json(value))  # never share the definition's
            found.append((name, value, why))
        notify = self.doc.get("notify", ())
        messages = [
            notification(turn, self.id, message, data=data)
            for message in ([notify] if isinstance(notify, dict) else notify)
        ]
        turn.state.data = data
        for name, value, why in found:
            turn.record("data_set", self.id, why, field=name, value=value)
        for message in messages:
            turn.emit(message)
        if self.doc.get("open_problem"):
            turn.emit(OpenProblem(run.id, self.id))
        turn.leave(run, self.doc["next"], "next step")

    def _value(self, turn: Turn, spec: dict[str, Any], data: dict[str, Any]) -> tuple[Any, str]:
        if "lookup" in spec:
            table = turn.workflow.tables[spec["lookup"]]
            result = table.lookup(data)
            return result.value, table.describe(data, result)
        if "expr" in spec:
            context = {**turn.context(), **data, "data": data}
            return compile_expression(spec["expr"])(context), f"computed: {spec['expr']}"
        return spec["value"], "set"


class ParallelStep(Step):
    """Branches that run at once and join when all of them (or `join` of them) are done."""

    type = "parallel"
    __slots__ = ()

    def routes(self) -> dict[str, str]:
        routes = {f"branch {name}": b["first"] for name, b in self.doc["branches"].items()}
        routes["next"] = self.doc["next"]
        return routes

    def activate(self, turn: Turn, run: Run) -> None:
        branches = self.doc["branches"]
        join = self.doc.get("join", "all")
        run.needed = len(branches) if join == "all" else min(int(join), len(branches))
        for name, branch in branches.items():
            turn.enter(branch["first"], run.id, name)


class WaitStep(Step):
    """Wait for a length of time or until the date in a field."""

    type = "wait"
    __slots__ = ()

    def activate(self, turn: Turn, run: Run) -> None:
        if self.status:
            turn.set_status(self.status, self.id)
        if "for" in self.doc:
            at = turn.add(turn.at, parse_duration(self.doc["for"]), self.doc.get("calendar"))
        else:
            at = _moment(field_value(turn.state.data, self.doc["until"]), turn.at)
        turn.schedule(run, max(at, turn.at))

    def timer_fired(self, turn: Turn, run: Run, timer_id: str, timer: Timer) -> None:
        due = datetime.fromisoformat(timer.at)
        why = f"waited until {due.replace(microsecond=0).isoformat()}"
        if "until" in self.doc:
            field = self.doc["until"]
            value = field_value(turn.state.data, field)
            if _moment(value, due) < due:  # the date had passed: the step did not wait
                why = f"the date in '{field}' ({value}) had passed: no wait"
        turn.leave(run, self.doc["next"], why)


def _moment(value: Any, fallback: datetime) -> datetime:
    """Read a date or date-time field; a date means its start, a bad value means now."""
    if not isinstance(value, str):
        return fallback
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        try:
            moment = datetime.combine(date.fromisoformat(value), time(0))
        except ValueError:
            return fallback
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class SubflowStep(Step):
    """Start another workflow with some of this instance's data; wait for it if asked."""

    type = "subflow"
    __slots__ = ()

    def activate(self, turn: Turn, run: Run) -> None:
        data = {
            child: field_value(turn.state.data, mine)
            for child, mine in self.doc.get("data", {}).items()
        }
        wait = self.doc.get("wait", True)
        turn.emit(StartSubflow(run.id, self.doc["workflow"], data, wait))
        if not wait:
            turn.leave(run, self.doc["next"], f"started {self.doc['workflow']} without waiting")
        elif self.status:
            turn.set_status(self.status, self.id)

    def routes(self) -> dict[str, str]:
        routes = dict(self.doc.get("on", {}))
        routes["next"] = self.doc["next"]
        return routes

    def subflow_finished(self, turn: Turn, run: Run, event: SubflowFinished) -> None:
        """Copy the child's `result` fields back, then go on by its outcome (else `next`)."""
        for mine, child in self.doc.get("result", {}).items():
            value = field_value(event.data, child)
            set_field_value(turn.state.data, mine, copy_json(value))
            turn.record(
                "data_set", self.id, f"from {event.number or 'the child'}", field=mine, value=value
            )
        outcome = event.outcome or event.status
        routes = self.doc.get("on", {})
        why = f"{event.number or self.doc['workflow']} ended as {event.status}"
        if outcome != event.status:
            why += f" (outcome '{outcome}')"
        if outcome in routes:
            why += f"; '{outcome}' leads on to {routes[outcome]}"
        turn.leave(run, routes.get(outcome, self.doc["next"]), why, outcome)


class EndStep(Step):
    """The end of the instance, or of a parallel branch."""

    type = "end"
    __slots__ = ()

    def routes(self) -> dict[str, str]:
        return {}

    def activate(self, turn: Turn, run: Run) -> None:
        if run.parent is not None:
            turn.end_branch(run)
            return
        status = self.status or "completed"
        outcome = self.doc.get("outcome", self.id)
        turn.state.runs.pop(run.id, None)
        turn.end_instance(status, outcome, f"reached '{self.label}'", self.id)
