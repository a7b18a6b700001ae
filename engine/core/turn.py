"""What steps and SLA policies see of a transition in progress: the runtime's side of the contract.

Step types (`engine.core.steps`), SLA policies (`engine.core.sla`) and assignments
(`engine.core.assignment`) act through a `Turn`; `engine.core.runtime` provides it. The
contract lives here, below all of them, so none of them imports the runtime and the
runtime imports each of them: the arrows between the core's modules point one way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol

from engine.core.calendars import Calendar
from engine.core.effects import Effect
from engine.core.errors import ExpressionError, Unassignable, UnknownCalendar
from engine.core.state import InstanceState, Run, Timer
from engine.core.tables import DecisionTable

#: What a step's work (or an SLA policy's) may fail with at run time: each becomes an
#: incident, never a failed event.
STEP_FAILURES = (ExpressionError, UnknownCalendar, Unassignable)


class Plan(Protocol):
    """What a running step may read of the workflow it belongs to."""

    @property
    def key(self) -> str: ...

    @property
    def sla(self) -> Mapping[str, Any] | None: ...

    @property
    def priorities(self) -> tuple[str, ...]: ...

    @property
    def priority_field(self) -> str: ...

    @property
    def tables(self) -> Mapping[str, DecisionTable]: ...


class Turn(Protocol):
    """One transition in progress: the state being changed, the time, and what to do next."""

    @property
    def workflow(self) -> Plan: ...

    @property
    def state(self) -> InstanceState: ...

    @property
    def at(self) -> datetime: ...

    @property
    def now(self) -> str: ...

    @property
    def calendars(self) -> Mapping[str, Calendar]: ...

    def emit(self, *effects: Effect) -> None:
        """Ask the world to do things once the transition is saved.

        Raise `Unassignable` if the service refused any of them, and then ask for none:
        an action that gives several tasks away gives all of them or none.
        """

    def record(
        self, kind: str, step: str | None = None, why: str | None = None, **detail: Any
    ) -> None:
        """Append an audit event: what happened, where, and why in words."""

    def incident(self, step: str, message: str, run: Run | None = None) -> None:
        """Record that a step could not do its work; with `run`, the run waits for a retry."""

    def context(self) -> dict[str, Any]:
        """Return what expressions see: the data fields, `data` and `instance`."""

    def add(self, start: datetime, duration: timedelta, calendar: str | None) -> datetime:
        """Add wall time, or the working time of a named calendar."""

    def set_status(self, status: str, step: str) -> None:
        """Set the instance's status, recording the change."""

    def enter(self, step_id: str, parent: int | None, branch: str | None) -> None:
        """Queue a step to begin."""

    def leave(self, run: Run, to: str, why: str, outcome: str | None = None) -> None:
        """Finish a run and go on to step `to`, recording why this route was taken."""

    def end_branch(self, run: Run) -> None:
        """A branch of a parallel step reached its end."""

    def end_instance(self, status: str, outcome: str, why: str, step: str | None) -> None:
        """End the instance: withdraw everything still active."""

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
        """Open a task of a run; return its key."""

    def close_task(self, task: str) -> None:
        """Take a task out of the state (completed or withdrawn)."""

    def schedule(
        self,
        run: Run | None,
        at: datetime,
        rung: int | None = None,
        count: int = 0,
        sla: str | None = None,
    ) -> str:
        """Set a timer for a run, or for an SLA clock; return its key."""

    def cancel_timers(self, which: Callable[[Timer], bool]) -> None:
        """Withdraw the pending timers `which` picks."""
