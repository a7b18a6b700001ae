"""What the runtime asks the world to do; the service layer carries these out after commit.

Every effect is a frozen value with a `kind` and a JSON-ready `to_dict`, so the
service layer can write it to the outbox as it is.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar


@dataclass(frozen=True, slots=True)
class Effect:
    """Base of all effects."""

    kind: ClassVar[str] = "effect"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **asdict(self)}


@dataclass(frozen=True, slots=True)
class OpenTask(Effect):
    """Create a task for a person or a group's queue."""

    kind: ClassVar[str] = "open_task"
    task: str
    step: str
    title: str
    assign: dict[str, Any]
    outcomes: tuple[str, ...]
    form: str | None = None
    due: str | None = None
    role: str | None = None


@dataclass(frozen=True, slots=True)
class CancelTask(Effect):
    """Withdraw an open task that is no longer needed."""

    kind: ClassVar[str] = "cancel_task"
    task: str
    reason: str


@dataclass(frozen=True, slots=True)
class ReassignTask(Effect):
    """Give an open task to someone else (a user, a group, the next tier, a manager)."""

    kind: ClassVar[str] = "reassign_task"
    task: str
    assign: dict[str, Any]
    reason: str


@dataclass(frozen=True, slots=True)
class RetitleTask(Effect):
    """Give an open task the title its step's template gives now (the priority changed)."""

    kind: ClassVar[str] = "retitle_task"
    task: str
    title: str


@dataclass(frozen=True, slots=True)
class ScheduleTimer(Effect):
    """Fire `TimerFired(timer)` at `at` (an ISO 8601 UTC time)."""

    kind: ClassVar[str] = "schedule_timer"
    timer: str
    at: str
    step: str


@dataclass(frozen=True, slots=True)
class CancelTimer(Effect):
    """A pending timer is no longer wanted."""

    kind: ClassVar[str] = "cancel_timer"
    timer: str


@dataclass(frozen=True, slots=True)
class Notify(Effect):
    """Send a message: an email from `template` to `to`, or a webhook POST to `webhook`."""

    kind: ClassVar[str] = "notify"
    step: str
    to: Any = None
    template: str | None = None
    webhook: str | None = None
    tasks: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class StartSubflow(Effect):
    """Start another workflow; report back with `SubflowFinished(run)` if `wait`."""

    kind: ClassVar[str] = "start_subflow"
    run: int
    workflow: str
    data: dict[str, Any]
    wait: bool = True


#: The workflow an `OpenProblem` starts: the shipped problem management.
PROBLEM_WORKFLOW = "problem"


@dataclass(frozen=True, slots=True)
class OpenProblem(Effect):
    """Open a problem linked to this instance (an action's `open_problem`), after commit."""

    kind: ClassVar[str] = "open_problem"
    run: int
    step: str


@dataclass(frozen=True, slots=True)
class CancelSubflow(Effect):
    """The step that started a child instance was withdrawn: cancel the child too."""

    kind: ClassVar[str] = "cancel_subflow"
    run: int
    reason: str
