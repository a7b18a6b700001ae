"""What can happen to a running instance: the events `runtime.advance` accepts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class TaskCompleted:
    """A person (or the system) finished a task with an outcome and the task's data."""

    task: str
    outcome: str
    data: dict[str, Any] = field(default_factory=dict)
    actor: str | None = None
    #: The comment sent with it (`--comment`, the task page's): a vote's reason when the
    #: form has no comment field of its own.
    note: str | None = None


@dataclass(frozen=True, slots=True)
class TimerFired:
    """A timer came due. Firing one that is no longer pending changes nothing."""

    timer: str


@dataclass(frozen=True, slots=True)
class Cancelled:
    """Someone stopped the instance."""

    reason: str
    actor: str | None = None


@dataclass(frozen=True, slots=True)
class SubflowFinished:
    """A child instance started by a `subflow` step has ended, with its outcome and data."""

    run: int
    status: str
    data: dict[str, Any] = field(default_factory=dict)
    outcome: str | None = None
    number: str | None = None


@dataclass(frozen=True, slots=True)
class SubflowFailed:
    """The child instance a `subflow` step waits for failed it (`reason` says how).

    Either the child could not start, or it ended and the parent could not take in its
    end (its result would not fit, say).
    """

    run: int
    reason: str


@dataclass(frozen=True, slots=True)
class Retried:
    """Someone asks the steps stopped by an incident to try again (after a fix), having
    corrected some of the data first (`data`: field path -> value, set in that order)."""

    actor: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PriorityChanged:
    """Someone set the instance's priority to another level, for a reason."""

    level: str
    reason: str
    actor: str | None = None


@dataclass(frozen=True, slots=True)
class Reopened:
    """Someone sent an instance that ended back to work, at the step `to`, for a reason."""

    to: str
    reason: str
    actor: str | None = None


@dataclass(frozen=True, slots=True)
class ClosedAsDuplicate:
    """Someone found the instance repeats `original`: it ends, merged into that one."""

    original: str
    reason: str
    actor: str | None = None


@dataclass(frozen=True, slots=True)
class Acknowledged:
    """Someone (or their monitoring tool) took the instance up: the response clock stops."""

    reason: str
    actor: str | None = None


Event = (
    TaskCompleted
    | TimerFired
    | Cancelled
    | SubflowFinished
    | SubflowFailed
    | Retried
    | PriorityChanged
    | Reopened
    | ClosedAsDuplicate
    | Acknowledged
)
