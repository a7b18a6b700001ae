"""Small workflow documents for the runtime tests, and ways to look inside an instance.

The documents are plain data, written the way a process owner would; `build`
refuses one the static checker would refuse, so no test runs a flow that could
never be published.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from engine.core.checker import check_workflow
from engine.core.definition import Workflow
from engine.core.state import InstanceState

#: Friday 27 November 2026, 16:00 in Amsterdam (15:00 UTC): one office hour is left.
FRIDAY_AFTERNOON = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)


def workflow(first: str, steps: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
    """Return a workflow document with the given steps."""
    return {
        "kind": "workflow",
        "format": 1,
        "key": "test",
        "title": "Test",
        "first": first,
        "steps": dict(steps),
        **extra,
    }


def build(doc: Mapping[str, Any]) -> Workflow:
    """Return the runnable workflow of a document the checker finds sound."""
    assert check_workflow(doc) == []
    return Workflow.from_document(doc)


def one_step(step: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
    """Return a workflow of one step named `work` whose every route ends the instance there."""
    steps: dict[str, Any] = {"work": dict(step)}
    targets = list(step["on"].values()) if "on" in step else [step["next"]]
    for target in targets:
        steps.setdefault(target, {"type": "end", "status": target})
    return workflow("work", steps, **extra)


def review(quorum: Any, reviewers: int = 3, **rules: Any) -> dict[str, Any]:
    """Return a workflow where `reviewers` people review a change before it is implemented."""
    return workflow(
        "review",
        {
            "review": {
                "type": "review",
                "title": "Review the change",
                "reviewers": [
                    {"role": f"reviewer {n}", "assign": {"user": f"user{n}"}}
                    for n in range(1, reviewers + 1)
                ],
                "quorum": quorum,
                "on": {"approved": "implement", "rejected": "rejected"},
                **rules,
            },
            "implement": {"type": "task", "assign": {"group": "ops"}, "next": "done"},
            "done": {"type": "end"},
            "rejected": {"type": "end", "status": "rejected"},
        },
    )


def tasks_at(state: InstanceState, step: str) -> list[str]:
    """Return the open tasks of a step, in the order they were opened."""
    return [task for run in state.runs.values() if run.step == step for task in run.tasks]


def task_at(state: InstanceState, step: str) -> str:
    """Return the one open task of a step."""
    (task,) = tasks_at(state, step)
    return task


def timers_at(state: InstanceState, step: str) -> list[str]:
    """Return the pending timers of a step, soonest first (SLA timers belong to no step)."""
    return sorted(
        (
            key
            for key, timer in state.timers.items()
            if timer.sla is None and state.runs[timer.run].step == step
        ),
        key=lambda key: (state.timers[key].at, key),
    )


def saved(state: InstanceState) -> Any:
    """Return the state as it would be stored: through JSON and back."""
    return json.loads(json.dumps(state.to_dict()))


def active_steps(state: InstanceState) -> set[str]:
    """Return the steps that have a run in progress."""
    return {run.step for run in state.runs.values()}
