"""Checks on the statuses a parallel step's branches set: an instance has only one.

The branches of a parallel step start one after the other, and each waiting step with
a `status` sets it in turn, so the last of them to start wins. Steps in different
branches that set different statuses leave the instance saying one of them, whichever
started last: not what the process owner expects (§10 of the language reference).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from engine.core.errors import Problem
from engine.core.schema import iter_steps

#: Step types that wait, and so set the instance's status while they are active.
WAITING = frozenset({"task", "approval", "review", "wait", "subflow"})


def check_statuses(doc: Mapping[str, Any]) -> Iterator[Problem]:
    """Report each status set in a later branch of a parallel step that no earlier one sets."""
    reported: set[str] = set()
    for step_id, step, pointer, _parallel, _branch in iter_steps(doc["steps"]):
        if step["type"] != "parallel":
            continue
        earlier: dict[str, str] = {}  # status -> the first branch that sets it
        for name, branch in step["branches"].items():
            mine = list(_statuses(branch["steps"], f"{pointer}/branches/{name}/steps"))
            for status, where in mine:
                if not earlier or status in earlier or where in reported:
                    continue
                reported.add(where)
                other, other_branch = next(iter(earlier.items()))
                yield Problem(
                    where,
                    f"steps in the branches of '{step_id}' set different statuses: "
                    f"'{other}' in branch '{other_branch}', '{status}' here; the instance "
                    "has one status, set by whichever of them starts last, so it will not say "
                    "what you expect: give the waiting steps inside a parallel the same status",
                )
            for status, _where in mine:
                earlier.setdefault(status, name)


def _statuses(steps: Mapping[str, Any], pointer: str) -> Iterator[tuple[str, str]]:
    """Yield (status, pointer to it) for every waiting step of a branch, nested ones too."""
    for _sid, step, where, _parallel, _branch in iter_steps(steps, pointer):
        if "status" not in step or step["type"] not in WAITING:
            continue
        if step["type"] == "subflow" and step.get("wait") is False:
            continue
        yield step["status"], f"{where}/status"
