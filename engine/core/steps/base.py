"""The step contract: an immutable spec plus the hooks the runtime calls.

Each step type subclasses `Step` and overrides the hooks it needs, the way
SpiffWorkflow's task specs do: `activate` when a run of the step begins,
`task_completed`, `timer_fired` and `subflow_finished` as things happen to it, and
`retried` when an admin retries a run stopped on an incident.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from engine.core.errors import InvalidEvent

if TYPE_CHECKING:
    from engine.core.events import SubflowFinished, TaskCompleted
    from engine.core.state import Run, Timer
    from engine.core.turn import Turn


class Step:
    """A step of a workflow, parsed once from its JSON and never changed."""

    type: ClassVar[str] = ""
    #: Whether the step waits for people (and so may have tasks, `due` and escalations).
    human: ClassVar[bool] = False

    __slots__ = ("branch", "doc", "id", "label", "parallel", "pointer", "status")

    def __init__(
        self,
        step_id: str,
        doc: Mapping[str, Any],
        pointer: str,
        parallel: str | None = None,
        branch: str | None = None,
    ) -> None:
        self.id = step_id
        self.doc = doc
        self.pointer = pointer
        self.parallel = parallel
        self.branch = branch
        self.label: str = doc.get("label") or step_id.replace("_", " ").capitalize()
        self.status: str | None = doc.get("status")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.id}>"

    def routes(self) -> dict[str, str]:
        """Return where this step can go next: a label (outcome, branch) -> step id."""
        routes = dict(self.doc.get("on", {}))
        if "next" in self.doc:
            routes["next"] = self.doc["next"]
        return routes

    def outcomes(self) -> tuple[str, ...]:
        """Return the outcomes a person can choose to finish this step's tasks."""
        return tuple(self.doc.get("on", {})) or ("done",)

    def target(self, outcome: str) -> str:
        """Return the step an outcome leads to."""
        routes: Mapping[str, str] = self.doc.get("on", {})
        return routes.get(outcome) or self.doc["next"]

    # Hooks -------------------------------------------------------------------------------

    def activate(self, turn: Turn, run: Run) -> None:
        """Begin a run of this step."""
        raise NotImplementedError

    def task_completed(self, turn: Turn, run: Run, event: TaskCompleted) -> None:
        """React to one of this run's tasks being completed."""
        raise InvalidEvent(f"step '{self.id}' has no tasks to complete")

    def timer_fired(self, turn: Turn, run: Run, timer_id: str, timer: Timer) -> None:
        """React to one of this run's timers coming due."""

    def subflow_finished(self, turn: Turn, run: Run, event: SubflowFinished) -> None:
        """React to the end of a child instance this run waits for."""
        raise InvalidEvent(f"step '{self.id}' does not wait for another workflow")

    def retried(self, turn: Turn, run: Run) -> None:
        """Try again a run stopped on an incident: begin the step afresh, as a new run.

        The stopped run has withdrawn what it had begun (see `runtime.Turn.stopped`), so
        nothing of it is left to keep.
        """
        turn.state.runs.pop(run.id, None)
        turn.enter(self.id, run.parent, run.branch)
