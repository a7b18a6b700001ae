"""Checks on separation of duties (`not_by`): whom it keeps out, and whether anyone is left.

Who a step keeps out mirrors the engine (engine.service.permissions.kept_apart):
its `not_by`, or, without one, the requester for approvals and reviews that are not
given to the requester. A step id keeps out whoever completed that step's tasks, so
it only keeps someone out when that step can have run before this one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from engine.core.checker.dataflow import Flow
from engine.core.checker.graph import routes
from engine.core.errors import Problem

#: Step types whose tasks are decisions: they keep the requester out by default.
DECISIONS = ("approval", "review")


def given_to_requester(step: Mapping[str, Any]) -> bool:
    """Tell whether a step's task goes to the requester: by its `assign`, or a task without one."""
    if "assign" not in step:
        return bool(step["type"] == "task")
    return bool(step["assign"].get("requester"))


def kept_apart(step: Mapping[str, Any]) -> tuple[str, ...]:
    """Return who may not act on a step's tasks, as the engine computes it."""
    if "not_by" in step:
        return tuple(step["not_by"])
    given = bool(step.get("assign", {}).get("requester"))
    return ("requester",) if step["type"] in DECISIONS and not given else ()


def requester_kept_out(step: Mapping[str, Any], where: str) -> Iterator[Problem]:
    """Report a `not_by` "requester" (at `where`) on a step whose task goes to the requester."""
    if given_to_requester(step):
        whose = "this step's task" if "assign" in step else "a task without 'assign'"
        yield Problem(
            where, f"{whose} goes to the requester, whom 'not_by' keeps out: nobody could act on it"
        )
    elif step["type"] == "review" and isinstance(step["reviewers"], list):
        for index in _requester_reviewers(step):
            role = step["reviewers"][index].get("role", "")
            who = f"the reviewer '{role}'" if role else f"reviewer {index + 1}"
            yield Problem(
                where,
                f"{who} of this step is the requester, whom 'not_by' keeps out: they could "
                "never vote",
            )


#: A user name filled in with the instance's requester: `{{ instance.requester }}`.
_REQUESTER_TEMPLATE = re.compile(r"\{\{-?\s*instance\.requester\s*-?\}\}")


def _requester_by_name(assign: Any) -> bool:
    """Tell whether an assignment names the requester by the template of their user name."""
    user = assign.get("user") if isinstance(assign, Mapping) else None
    return isinstance(user, str) and _REQUESTER_TEMPLATE.fullmatch(user.strip()) is not None


def check_separation(flow: Flow) -> Iterator[Problem]:
    """Report requester reviewers that reviews keep out by default, approvals given to the
    requester by name that keep them out, and `not_by` entries naming a step that never
    runs before this one."""
    order = _Order(flow)
    for step_id, (step, pointer) in flow.steps.items():
        if step["type"] in DECISIONS and "requester" in kept_apart(step):
            named = [("/assign/user", step.get("assign"))]
            if step["type"] == "review" and isinstance(step.get("reviewers"), list):
                named = [
                    (f"/reviewers/{i}/assign/user", r.get("assign"))
                    for i, r in enumerate(step["reviewers"])
                ]
            for where, assign in named:
                if not _requester_by_name(assign):
                    continue
                if step["type"] == "approval":
                    why = (
                        "this is the requester, whom an approval keeps out (separation of "
                        "duties): the command that reaches this step would be refused; for the "
                        'requester to decide, as when they confirm a fix, write "assign": '
                        '{"requester": true}'
                    )
                else:
                    why = (
                        "this is the requester, whom a review keeps out unless its 'not_by' "
                        "says otherwise: the command that reaches this step would be refused; "
                        'add "not_by": [] to let the requester review, or name another reviewer'
                    )
                yield Problem(f"{pointer}{where}", why)
        if step["type"] == "review" and "not_by" not in step and "requester" in kept_apart(step):
            for index in _requester_reviewers(step):
                yield Problem(
                    f"{pointer}/reviewers/{index}/assign/requester",
                    "a review keeps the requester out unless its 'not_by' says otherwise, so "
                    'this reviewer could never vote; add "not_by": [] to let the requester '
                    "review, or name another reviewer",
                )
        for index, name in enumerate(step.get("not_by", ())):
            if _human(flow, name) and name != step_id and order.never_before(name, step_id):
                instead = f'"not_by": ["{step_id}"]'
                yield Problem(
                    f"{pointer}/not_by/{index}",
                    f"'{name}' never runs before this step (no route leads from it to here), so "
                    "nobody has done it when this step's tasks open: it keeps nobody out; to keep "
                    f"whoever does this step out of '{name}', put {instead} on '{name}'",
                )


def _human(flow: Flow, step_id: str) -> bool:
    """Tell whether a step is one people act on (others are reported as such)."""
    found = flow.steps.get(step_id)
    return found is not None and found[0]["type"] in ("task", "approval", "review")


def _requester_reviewers(step: Mapping[str, Any]) -> Iterator[int]:
    reviewers = step.get("reviewers")
    if not isinstance(reviewers, list):
        return
    for index, reviewer in enumerate(reviewers):
        if reviewer["assign"].get("requester"):
            yield index


class _Order:
    """Which steps can run before which: routes, parallel branches and their joins.

    A parallel step leads to the first step of each branch, a branch's end to the
    parallel's join, the join to its `next`. Steps in different branches of one
    parallel run side by side, so either may come first.
    """

    def __init__(self, flow: Flow) -> None:
        self.flow = flow
        self.succs: dict[str, list[str]] = {}
        for step_id, (step, pointer) in flow.steps.items():
            out = self.succs.setdefault(step_id, [])
            parallel, _branch = flow.scope[step_id]
            if step["type"] == "parallel":
                out.extend(b["first"] for b in step["branches"].values())
                self.succs.setdefault(f"{step_id}>", []).append(step["next"])
            elif step["type"] == "end" and parallel is not None:
                out.append(f"{parallel}>")
            else:
                out.extend(target for target, _ref in routes(step, pointer))
        self.reached = self._reach(flow.doc["first"], include_start=True)

    def _reach(self, start: str, include_start: bool = False) -> set[str]:
        seen = {start} if include_start else set()
        todo = [start]
        while todo:
            for target in self.succs.get(todo.pop(), ()):
                if target not in seen and target in self.succs:
                    seen.add(target)
                    todo.append(target)
        return seen

    def never_before(self, earlier: str, later: str) -> bool:
        """Tell whether step `earlier` surely never runs before step `later` starts."""
        if earlier not in self.reached or later not in self.reached:
            return False  # reported as unreachable, or no route yet: do not guess
        if self._side_by_side(earlier, later):
            return False
        return later not in self._reach(earlier)

    def _side_by_side(self, first: str, second: str) -> bool:
        """Tell whether two steps are in different branches of one parallel step."""
        mine = self._branches(first)
        for parallel, branch in self._branches(second).items():
            if parallel in mine and mine[parallel] != branch:
                return True
        return False

    def _branches(self, step_id: str) -> dict[str, str]:
        found: dict[str, str] = {}
        parallel, branch = self.flow.scope[step_id]
        while parallel is not None and branch is not None:
            found[parallel] = branch
            parallel, branch = self.flow.scope.get(parallel, (None, None))
        return found
