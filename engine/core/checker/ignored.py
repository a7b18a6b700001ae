"""Checks on properties the engine accepts but never acts on where they are written.

The schema lets every step carry a `status` and every `end` an `outcome`, but a step
that never waits shows no status, and an end inside a parallel branch ends only the
branch. A process owner who writes them expects something that will not happen.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from engine.core.errors import Problem
from engine.core.schema import iter_steps

#: Why a step type never shows its `status`.
PASSING = {
    "action": "an action never waits",
    "decision": "a decision never waits",
    "parallel": "a parallel step waits only through the steps of its branches",
}


def check_ignored(doc: Mapping[str, Any]) -> Iterator[Problem]:
    """Report statuses no one would ever see and ends whose status a branch drops."""
    for _step_id, step, pointer, parallel, _branch in iter_steps(doc["steps"]):
        kind = step["type"]
        if "status" in step and kind in PASSING:
            yield Problem(
                f"{pointer}/status",
                f"{PASSING[kind]}, so its status would never be shown; "
                "put the status on the step that waits",
            )
        elif "status" in step and kind == "subflow" and step.get("wait") is False:
            yield Problem(
                f"{pointer}/status",
                'a subflow with "wait": false moves on at once, so its status would never be shown',
            )
        if kind == "subflow" and step.get("wait") is False:
            for name in ("result", "on"):
                if name in step:
                    yield Problem(
                        f"{pointer}/{name}",
                        f'a subflow with "wait": false does not wait for the child to end, '
                        f"so its '{name}' is never used",
                    )
        if kind == "end" and parallel is not None:
            for name in ("status", "outcome"):
                if name in step:
                    yield Problem(
                        f"{pointer}/{name}",
                        f"an end inside a parallel branch only ends the branch, so its {name} "
                        "is ignored; put it on an end after the parallel step",
                    )
