"""Checks on the shape of a workflow: unknown, unreachable and dead-end steps, loops."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Mapping
from typing import Any

from engine.core.checker.words import closest
from engine.core.errors import Problem
from engine.core.runtime import MAX_AUTOMATIC_STEPS
from engine.core.schema import iter_steps

#: Step types that finish by themselves, without waiting for a person or a timer.
AUTOMATIC = frozenset({"action", "decision"})


class Scope:
    """The steps of the top level or of one parallel branch: routes stay inside it."""

    def __init__(self, name: str, first: str, first_pointer: str, steps: dict[str, Any]) -> None:
        self.name = name
        self.first = first
        self.first_pointer = first_pointer
        self.steps = steps  # id -> (doc, pointer)


def scopes(doc: Mapping[str, Any]) -> list[Scope]:
    """Split a (schema-valid) workflow into its top level and its parallel branches."""
    result = [Scope("", doc["first"], "/first", {})]
    by_branch: dict[tuple[str, str], Scope] = {}
    for step_id, step, pointer, parallel, branch in iter_steps(doc["steps"]):
        if parallel is None or branch is None:
            result[0].steps[step_id] = (step, pointer)
            continue
        key = (parallel, branch)
        if key not in by_branch:
            branches = _branch_parent(doc, pointer)
            scope = Scope(
                f"{parallel}/{branch}",
                branches["first"],
                pointer.rsplit("/steps/", 1)[0] + "/first",
                {},
            )
            by_branch[key] = scope
            result.append(scope)
        by_branch[key].steps[step_id] = (step, pointer)
    return result


def _branch_parent(doc: Mapping[str, Any], pointer: str) -> Mapping[str, Any]:
    node: Any = doc
    for part in pointer.rsplit("/steps/", 1)[0].strip("/").split("/"):
        node = node[part]
    result: Mapping[str, Any] = node
    return result


def routes(step: Mapping[str, Any], pointer: str) -> Iterator[tuple[str, str]]:
    """Yield (target step id, pointer of the reference) for every way out of a step."""
    if "next" in step:
        yield step["next"], f"{pointer}/next"
    for outcome, target in step.get("on", {}).items():
        yield target, f"{pointer}/on/{outcome}"
    if step["type"] == "decision":
        for index, branch in enumerate(step["branches"]):
            yield branch["next"], f"{pointer}/branches/{index}/next"
        yield step["otherwise"], f"{pointer}/otherwise"
    for rung_index, rung in enumerate(step.get("escalate", ())):
        for action_index, action in enumerate(rung["do"]):
            if "goto" in action:
                yield action["goto"], f"{pointer}/escalate/{rung_index}/do/{action_index}/goto"


def check_graph(doc: Mapping[str, Any]) -> list[Problem]:
    """Report duplicate ids, unknown targets, unreachable steps, dead ends and busy loops."""
    problems = list(_duplicate_ids(doc))
    places = {
        step_id: (parallel, branch)
        for step_id, _step, _pointer, parallel, branch in iter_steps(doc["steps"])
        if parallel is not None and branch is not None
    }
    for scope in scopes(doc):
        problems.extend(_check_scope(scope, places))
    return problems


def _duplicate_ids(doc: Mapping[str, Any]) -> Iterator[Problem]:
    seen: dict[str, str] = {}
    for step_id, _step, pointer, _parallel, _branch in iter_steps(doc["steps"]):
        if step_id in seen:
            yield Problem(
                pointer,
                f"the step id '{step_id}' is already used at {seen[step_id]}; "
                "every step needs its own id",
            )
        seen.setdefault(step_id, pointer)


def _check_scope(
    scope: Scope, places: Mapping[str, tuple[str, str]] | None = None
) -> Iterator[Problem]:
    steps = scope.steps
    where = f" in branch '{scope.name.split('/')[1]}'" if scope.name else ""
    if scope.first not in steps:
        inside = _inside(scope.first, places or {}, scope, first=True)
        yield Problem(scope.first_pointer, inside or _unknown(scope.first, steps, where))
        return
    edges: dict[str, list[str]] = {step_id: [] for step_id in steps}
    # A route to an unknown step is reported as such; where it was meant to lead is
    # unknown, so the step is not also called a dead end.
    unknown_exits: set[str] = set()
    for step_id, (step, pointer) in steps.items():
        for target, ref in routes(step, pointer):
            if target not in steps:
                inside = _inside(target, places or {}, scope, first=False)
                yield Problem(ref, inside or _unknown(target, steps, where))
                unknown_exits.add(step_id)
            else:
                edges[step_id].append(target)
    reachable = _reach(scope.first, edges)
    for step_id, (_step, pointer) in steps.items():
        if step_id not in reachable:
            yield Problem(pointer, f"no route leads to step '{step_id}'; it can never run")
    ends = {sid for sid, (step, _p) in steps.items() if step["type"] == "end"}
    finishing = _reach_back(ends | unknown_exits, edges)
    yield from _dead_ends(scope, reachable, finishing, edges, where)
    loops = list(_busy_loops(steps, edges))
    yield from loops
    if not loops:
        yield from _long_runs(steps, edges)


def _dead_ends(
    scope: Scope,
    reachable: set[str],
    finishing: set[str],
    edges: Mapping[str, list[str]],
    where: str,
) -> Iterator[Problem]:
    """Report each step where instances enter a part of the flow that has no way to an end.

    The steps after it are stuck for the same reason, so they are named in the same
    problem rather than reported one by one.
    """
    stuck = reachable - finishing
    if not stuck:
        return
    entered = {target for source in reachable & finishing for target in edges[source]}
    inside = {step: [t for t in edges[step] if t in stuck] for step in stuck}
    for step_id, (_step, pointer) in scope.steps.items():
        if step_id not in stuck or (step_id != scope.first and step_id not in entered):
            continue
        after = sorted(_reach(step_id, inside))
        after.remove(step_id)
        beyond = f", only to {_names(after)}" if after else ""
        yield Problem(
            pointer,
            f"from step '{step_id}' there is no way to reach an end{where}{beyond}; "
            "instances would be stuck there forever",
        )


def _names(step_ids: list[str]) -> str:
    quoted = [f"'{step_id}'" for step_id in step_ids]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} and {quoted[-1]}"


def _inside(
    target: str, places: Mapping[str, tuple[str, str]], scope: Scope, *, first: bool
) -> str | None:
    """Say that a step named from outside its parallel branch is inside that branch."""
    if target not in places:
        return None
    parallel, branch = places[target]
    there = f"'{target}' is inside branch '{branch}' of the parallel step '{parallel}'"
    if first and not scope.name:
        return f"{there}, and 'first' must name a step at the top level, outside any branch"
    if first:
        return f"{there}; a branch's 'first' must name a step of the branch itself"
    if not scope.name:
        return (
            f"{there}; a step at the top level cannot lead into a branch; go to "
            f"'{parallel}', which starts it"
        )
    return f"{there}; a route inside a branch can only lead to a step of the same branch"


def _unknown(target: str, steps: Mapping[str, Any], where: str) -> str:
    meant = closest(target, steps)
    if meant is not None:
        return f"there is no step '{target}'{where}; did you mean '{meant}'?"
    known = ", ".join(sorted(steps))
    return f"there is no step '{target}'{where}; the steps here are: {known}"


def _reach(start: str, edges: Mapping[str, list[str]]) -> set[str]:
    seen, todo = {start}, [start]
    while todo:
        for target in edges[todo.pop()]:
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def _reach_back(targets: set[str], edges: Mapping[str, list[str]]) -> set[str]:
    back: dict[str, list[str]] = {step: [] for step in edges}
    for source, outs in edges.items():
        for target in outs:
            back[target].append(source)
    seen, todo = set(targets), list(targets)
    while todo:
        for source in back[todo.pop()]:
            if source not in seen:
                seen.add(source)
                todo.append(source)
    return seen


def _busy_loops(steps: Mapping[str, Any], edges: Mapping[str, list[str]]) -> Iterator[Problem]:
    """Find loops made only of automatic steps: they would spin without ever waiting.

    Each group of automatic steps that can reach one another (a strongly connected
    component) is one loop, reported once at its first step in alphabetical order.
    """
    automatic = {sid for sid, (step, _p) in steps.items() if step["type"] in AUTOMATIC}
    among = {sid: [t for t in edges[sid] if t in automatic] for sid in automatic}
    for component in _components(among):
        start = min(component)
        if len(component) == 1 and start not in among[start]:
            continue  # a single step that does not lead to itself
        path = _cycle_through(start, component, among)
        loop = " -> ".join([*path, path[0]])
        yield Problem(
            steps[start][1],
            f"the steps {loop} loop without waiting for anyone; add a task or a wait to the loop",
        )


def _long_runs(steps: Mapping[str, Any], edges: Mapping[str, list[str]]) -> Iterator[Problem]:
    """Find a run of more automatic steps one after another than an instance passes in one
    go (`MAX_AUTOMATIC_STEPS`): it published, and every instance stopped on an incident
    there. The automatic steps, without loops here, are walked longest first, without
    recursion."""
    automatic = {sid for sid, (step, _p) in steps.items() if step["type"] in AUTOMATIC}
    among = {sid: [t for t in edges[sid] if t in automatic] for sid in automatic}
    longest: dict[str, int] = {}
    for start in sorted(automatic):
        stack = [(start, False)]
        while stack:
            sid, done = stack.pop()
            if sid in longest:
                continue
            if done:
                longest[sid] = 1 + max((longest[t] for t in among[sid]), default=0)
                continue
            stack.append((sid, True))
            stack.extend((t, False) for t in among[sid] if t not in longest)
    for sid in sorted(automatic):
        if longest.get(sid, 0) > MAX_AUTOMATIC_STEPS and not any(
            sid in among[other] for other in automatic
        ):
            yield Problem(
                steps[sid][1],
                f"{longest[sid]} automatic steps follow one another from here; an instance "
                f"passes at most {MAX_AUTOMATIC_STEPS} without waiting for anyone, and stops "
                "there: join some of them, or put a task or a wait between them",
            )


def _components(edges: Mapping[str, list[str]]) -> list[set[str]]:
    """Return the strongly connected components of a graph (Tarjan's, without recursion)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, child = work.pop()
            if child == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            targets = edges[node]
            if child < len(targets):
                work.append((node, child + 1))
                target = targets[child]
                if target not in index:
                    work.append((target, 0))
                elif target in on_stack:
                    low[node] = min(low[node], index[target])
                continue
            for target in targets:
                if target in on_stack:
                    low[node] = min(low[node], low[target])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                found.append(component)
    return found


def _cycle_through(start: str, component: set[str], edges: Mapping[str, list[str]]) -> list[str]:
    """Return the shortest loop from `start` back to itself inside a component."""
    came_from: dict[str, str] = {}
    todo = deque([start])
    while todo:
        node = todo.popleft()
        for target in edges[node]:
            if target == start:
                path = [node]
                while path[-1] != start:
                    path.append(came_from[path[-1]])
                return path[::-1]
            if target in component and target not in came_from:
                came_from[target] = node
                todo.append(target)
    return [start]
