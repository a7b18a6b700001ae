"""Runtime state of one instance: plain data, kept apart from the immutable definition.

The state holds only what is *active* (runs of steps, open tasks, pending
timers) plus the data document, so its size and the cost of a step never grow
with history; history lives in the audit trail. `to_dict`/`from_dict` give a
JSON-ready form carrying `FORMAT`; `UPGRADES` lifts older formats.

Format 2 marked a run with the `incident` that stopped it: a step whose expression or
calendar failed waits there for a retry instead of failing the command. Format 3 (this
one) adds where a retry goes on from: a run's escalation rungs that stopped part way
(`Run.resume`), and SLA breaches whose `on_breach` actions did (`stopped_breaches`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from engine.core.clocks import Clock
from engine.core.errors import StateFormatError

FORMAT = 3


def _from_format_1(raw: dict[str, Any]) -> dict[str, Any]:
    """Format 1 had no incidents: its runs read the same in format 2."""
    return {**raw, "format": 2}


def _from_format_2(raw: dict[str, Any]) -> dict[str, Any]:
    """Format 2 had no resume points: its runs read the same in format 3.

    A run it stopped on an incident has none, so a retry starts it again from the
    beginning, as format 2 did; an escalation that failed then was not kept for a retry.
    """
    return {**raw, "format": 3}


#: format -> function turning a state dict of that format into the next format.
UPGRADES: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {
    1: _from_format_1,
    2: _from_format_2,
}


def timestamp(at: datetime) -> str:
    """Return the UTC ISO 8601 text of an aware datetime, as the state keeps times."""
    if at.tzinfo is UTC:  # most are: spare the conversion
        return at.isoformat()
    if at.tzinfo is None:
        raise ValueError("times given to the runtime must be timezone-aware")
    return at.astimezone(UTC).isoformat()


@dataclass(frozen=True, slots=True)
class ResumePoint:
    """Where an escalation rung stopped on an incident: a retry carries out the rest.

    The rung's `count`th time (0: the first), which was due `at`: its later times count
    from there. `action` is the first of its actions not carried out; past the last one,
    only its next time is left to schedule.
    """

    rung: int
    count: int
    action: int
    at: str

    def to_dict(self) -> dict[str, Any]:
        return {"rung": self.rung, "count": self.count, "action": self.action, "at": self.at}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> ResumePoint:
        return cls(raw["rung"], raw["count"], raw["action"], raw["at"])


@dataclass(frozen=True, slots=True)
class StoppedBreach:
    """An SLA breach whose `on_breach` actions stopped on an incident at `action`.

    `why` is the breach in words, as the actions record it; `incident` why the action
    could not be carried out. A retry carries out the actions from `action` on.
    """

    action: int
    why: str
    incident: str

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "why": self.why, "incident": self.incident}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> StoppedBreach:
        return cls(raw["action"], raw["why"], raw["incident"])


@dataclass(slots=True)
class Run:
    """One activation of a step; `parent` is the parallel run whose `branch` it belongs to."""

    id: int
    step: str
    since: str
    parent: int | None = None
    branch: str | None = None
    tasks: list[str] = field(default_factory=list)
    votes: dict[str, str] = field(default_factory=dict)
    done: list[str] = field(default_factory=list)
    needed: int = 0
    #: Why the step could not do its work; the run waits for a retry (None: all is well).
    incident: str | None = None
    #: Escalation rungs that stopped part way, its tasks left open: a retry goes on with
    #: each. Without any, a retry starts the step again.
    resume: list[ResumePoint] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "step": self.step, "since": self.since}
        if self.parent is not None:
            out["parent"] = self.parent
            out["branch"] = self.branch
        if self.tasks:
            out["tasks"] = list(self.tasks)
        if self.votes:
            out["votes"] = dict(self.votes)
        if self.done:
            out["done"] = list(self.done)
        if self.needed:
            out["needed"] = self.needed
        if self.incident is not None:
            out["incident"] = self.incident
        if self.resume:
            out["resume"] = [point.to_dict() for point in self.resume]
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Run:
        return cls(
            raw["id"],
            raw["step"],
            raw["since"],
            raw.get("parent"),
            raw.get("branch"),
            list(raw.get("tasks", ())),
            dict(raw.get("votes", {})),
            list(raw.get("done", ())),
            raw.get("needed", 0),
            raw.get("incident"),
            [ResumePoint.from_dict(point) for point in raw.get("resume", ())],
        )


@dataclass(slots=True)
class PendingTask:
    """A task waiting on a person: which run it serves and whom it is assigned to."""

    run: int
    assign: dict[str, Any]
    role: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"run": self.run, "assign": dict(self.assign)}
        if self.role:
            out["role"] = self.role
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> PendingTask:
        return cls(raw["run"], dict(raw["assign"]), raw.get("role"))


@dataclass(slots=True)
class Timer:
    """A pending timer: `rung` of the run's escalation ladder (None: a wait), `count` repeats.

    An SLA timer belongs to no run (`run` is 0): `sla` says which clock and what it
    marks, like `resolution:warning` or `response:breach`.
    """

    run: int
    at: str
    rung: int | None = None
    count: int = 0
    sla: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"run": self.run, "at": self.at}
        if self.rung is not None:
            out["rung"] = self.rung
        if self.count:
            out["count"] = self.count
        if self.sla is not None:
            out["sla"] = self.sla
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Timer:
        return cls(raw["run"], raw["at"], raw.get("rung"), raw.get("count", 0), raw.get("sla"))


@dataclass(slots=True)
class InstanceState:
    """Everything the runtime needs to continue an instance, and nothing more."""

    workflow: str
    started_at: str
    data: dict[str, Any]
    status: str = "active"
    title: str = ""
    requester: str | None = None
    number: str | None = None
    ended_at: str | None = None
    outcome: str | None = None
    runs: dict[int, Run] = field(default_factory=dict)
    tasks: dict[str, PendingTask] = field(default_factory=dict)
    timers: dict[str, Timer] = field(default_factory=dict)
    seq: int = 0
    sla: dict[str, Clock] | None = None  # the SLA clocks by kind, once they started
    #: The SLA clocks (by kind) whose breach actions stopped on an incident, for a retry.
    stopped_breaches: dict[str, StoppedBreach] = field(default_factory=dict)

    @property
    def ended(self) -> bool:
        """Tell whether the instance has finished (ended or cancelled)."""
        return self.ended_at is not None

    def next_id(self) -> int:
        """Return a fresh number for a run, task or timer of this instance."""
        self.seq += 1
        return self.seq

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready form, with the format version."""
        out: dict[str, Any] = {
            "format": FORMAT,
            "workflow": self.workflow,
            "started_at": self.started_at,
            "status": self.status,
            "title": self.title,
            "data": self.data,
            "seq": self.seq,
        }
        if self.requester is not None:
            out["requester"] = self.requester
        if self.number is not None:
            out["number"] = self.number
        if self.ended_at is not None:
            out["ended_at"] = self.ended_at
        if self.outcome is not None:
            out["outcome"] = self.outcome
        if self.runs:
            out["runs"] = [run.to_dict() for run in self.runs.values()]
        if self.tasks:
            out["tasks"] = {key: task.to_dict() for key, task in self.tasks.items()}
        if self.timers:
            out["timers"] = {key: timer.to_dict() for key, timer in self.timers.items()}
        if self.sla is not None:
            out["sla"] = {kind: clock.to_dict() for kind, clock in self.sla.items()}
        if self.stopped_breaches:
            out["stopped_breaches"] = {
                kind: breach.to_dict() for kind, breach in self.stopped_breaches.items()
            }
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> InstanceState:
        """Load a state saved by `to_dict`, upgrading older formats first."""
        raw = upgrade(raw)
        try:
            return cls(
                workflow=raw["workflow"],
                started_at=raw["started_at"],
                data=raw["data"],
                status=raw["status"],
                title=raw.get("title", ""),
                requester=raw.get("requester"),
                number=raw.get("number"),
                ended_at=raw.get("ended_at"),
                outcome=raw.get("outcome"),
                runs={run["id"]: Run.from_dict(run) for run in raw.get("runs", ())},
                tasks={k: PendingTask.from_dict(v) for k, v in raw.get("tasks", {}).items()},
                timers={k: Timer.from_dict(v) for k, v in raw.get("timers", {}).items()},
                seq=raw["seq"],
                sla=(
                    {kind: Clock.from_dict(clock) for kind, clock in raw["sla"].items()}
                    if "sla" in raw
                    else None
                ),
                stopped_breaches={
                    kind: StoppedBreach.from_dict(breach)
                    for kind, breach in raw.get("stopped_breaches", {}).items()
                },
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise StateFormatError(f"the saved instance state is malformed: {exc!r}") from None


def upgrade(raw: dict[str, Any]) -> dict[str, Any]:
    """Bring a saved state up to `FORMAT`, one format at a time."""
    version = raw.get("format") if isinstance(raw, dict) else None
    # `type(...) is int`: JSON `true` is not format 1.
    if type(version) is not int or version > FORMAT or version < 1:
        raise StateFormatError(f"unknown instance state format {version!r}; expected {FORMAT}")
    while version < FORMAT:
        raw = UPGRADES[version](raw)
        version = raw["format"]
    return raw


#: The JSON values that are shared, not copied: they cannot be changed in place.
_SCALARS = frozenset({str, int, float, bool, type(None)})


def copy_json(value: Any) -> Any:
    """Return a deep copy of JSON-like data (dicts, lists, scalars), fast."""
    # Scalars are most of a data document: copied inline, they cost no call each.
    if isinstance(value, dict):
        return {
            key: item if type(item) in _SCALARS else copy_json(item) for key, item in value.items()
        }
    if isinstance(value, list):
        return [item if type(item) in _SCALARS else copy_json(item) for item in value]
    return value


def clone(state: InstanceState) -> InstanceState:
    """Return an independent copy of a state, so a transition never changes its input."""
    # Built field by field: dataclasses.replace costs several times more, on every event.
    return InstanceState(
        state.workflow,
        state.started_at,
        copy_json(state.data),
        state.status,
        state.title,
        state.requester,
        state.number,
        state.ended_at,
        state.outcome,
        {
            key: Run(
                run.id,
                run.step,
                run.since,
                run.parent,
                run.branch,
                list(run.tasks),
                dict(run.votes),
                list(run.done),
                run.needed,
                run.incident,
                list(run.resume),  # resume points are frozen: sharing them is safe
            )
            for key, run in state.runs.items()
        },
        {key: PendingTask(t.run, dict(t.assign), t.role) for key, t in state.tasks.items()},
        {key: Timer(t.run, t.at, t.rung, t.count, t.sla) for key, t in state.timers.items()},
        state.seq,
        None if state.sla is None else {kind: c.copy() for kind, c in state.sla.items()},
        dict(state.stopped_breaches),
    )
