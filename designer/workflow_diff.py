"""A readable difference between two versions of a workflow: what a process owner would say.

Steps are matched by id, those inside parallel branches too. A step whose id disappeared
is taken as *renamed* to a new id of the same type in the same place (the same branch,
and the same position or the same steps leading to it); otherwise it is removed and the
other one added. Routes to a renamed step are not reported as changed. Then, per step,
each property that changed, in words (assignment, form, outcomes and routes, escalation
ladder, conditions, due time...); and the workflow's own settings: start form, public,
number prefix, SLA, decision tables row by row, title template, what the requester sees.
Pure: plain data in, sentences out.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from designer.workflow_words import (
    as_list,
    assign_words,
    condition_words,
    mapping,
    rung_words,
    value_words,
)
from engine.core.tables import range_words

#: How step properties are named in the sentences.
PROPERTY_WORDS = {
    "type": "type",
    "label": "label",
    "title": "title",
    "description": "description",
    "instructions": "instructions",
    "status": "status",
    "due": "due time",
    "calendar": "calendar",
    "show": "fields shown",
    "buttons": "buttons",
    "not_by": "who is kept apart",
    "quorum": "quorum",
    "reject": "rule for rejecting",
    "reviewers": "reviewers",
    "join": "join",
    "set": "data it sets",
    "notify": "notification",
    "for": "wait",
    "until": "wait until",
    "workflow": "subflow",
    "data": "data passed to the subflow",
    "result": "data taken back from the subflow",
    "wait": "waits for the subflow",
    "outcome": "outcome",
}
#: Properties of `start`, in words.
START_WORDS = {
    "form": "the start form",
    "public": "public",
    "number_prefix": "the number prefix",
    "title": "the title template",
    "confirm_to": "the field the tracking link is sent to",
}


@dataclass(frozen=True, slots=True)
class Change:
    """One difference: its kind (added, removed, renamed, changed, workflow, table), in words.

    `step` names the step it is about ("" for the workflow's own settings and its tables).
    """

    kind: str
    step: str
    text: str

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind, "step": self.step, "text": self.text}


@dataclass(frozen=True, slots=True)
class _Placed:
    """A step where it stands: its branch (parallel step, branch name) and its position there."""

    step: Mapping[str, Any]
    scope: tuple[str, str] | None
    index: int


def diff_workflows(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    """Return the differences from `old` to `new`: steps first, then the workflow's settings."""
    before, after = _steps(old), _steps(new)
    renamed = _renames(before, after, _leading(before), _leading(after))
    changes = []
    for step_id in before:
        if step_id in renamed:
            text = f"step '{step_id}' was renamed to '{renamed[step_id]}'"
            changes.append(Change("renamed", renamed[step_id], text))
        elif step_id not in after:
            changes.append(Change("removed", step_id, f"step '{step_id}' was removed"))
    taken = set(renamed.values())
    leading = _leading(after)
    for step_id, placed in after.items():
        if step_id not in before and step_id not in taken:
            changes.append(Change("added", step_id, _added(new, step_id, placed, leading)))
    same = {step_id: step_id for step_id in before if step_id in after}
    for old_id, new_id in {**same, **renamed}.items():
        for text in _step_changes(before[old_id].step, after[new_id].step, renamed):
            changes.append(Change("changed", new_id, f"step '{new_id}': {text}"))
    changes += [Change("workflow", "", text) for text in _workflow_changes(old, new, renamed)]
    changes += [Change("table", "", text) for text in _table_changes(old, new)]
    changes += [Change("workflow", "", text) for text in _message_changes(old, new)]
    return changes


# Steps and where they stand ---------------------------------------------------------------


def _steps(doc: Mapping[str, Any]) -> dict[str, _Placed]:
    """Return every step by id, those inside parallel branches too, in the document's order."""
    found: dict[str, _Placed] = {}

    def walk(steps: Any, scope: tuple[str, str] | None) -> None:
        for index, (step_id, step) in enumerate(mapping(steps).items()):
            if not isinstance(step, Mapping) or step_id in found:
                continue
            found[step_id] = _Placed(step, scope, index)
            for name, branch in mapping(step.get("branches")).items():
                walk(mapping(branch).get("steps"), (step_id, name))

    walk(doc.get("steps"), None)
    return found


def _targets(step: Mapping[str, Any]) -> Iterator[str]:
    """Yield the steps a step may go on to."""
    for name in ("next", "otherwise"):
        if isinstance(step.get(name), str):
            yield step[name]
    yield from (t for t in mapping(step.get("on")).values() if isinstance(t, str))
    for branch in as_list(step.get("branches")):
        if isinstance(mapping(branch).get("next"), str):
            yield branch["next"]
    for branch in mapping(step.get("branches")).values():
        if isinstance(mapping(branch).get("first"), str):
            yield branch["first"]
    for rung in as_list(step.get("escalate")):
        for action in as_list(mapping(rung).get("do")):
            if isinstance(mapping(action).get("goto"), str):
                yield action["goto"]


def _leading(steps: Mapping[str, _Placed]) -> dict[str, list[str]]:
    """Return, for each step, the steps that lead to it, in the document's order."""
    found: dict[str, list[str]] = {}
    for step_id, placed in steps.items():
        for target in dict.fromkeys(_targets(placed.step)):
            found.setdefault(target, []).append(step_id)
    return found


def _renames(
    before: Mapping[str, _Placed],
    after: Mapping[str, _Placed],
    led_before: Mapping[str, list[str]],
    led_after: Mapping[str, list[str]],
) -> dict[str, str]:
    """Match removed ids with added ones of the same type in the same place."""
    gone = [step_id for step_id in before if step_id not in after]
    fresh = [step_id for step_id in after if step_id not in before]
    found: dict[str, str] = {}
    for old_id in gone:
        was = before[old_id]
        for new_id in fresh:
            now = after[new_id]
            if new_id in found.values() or was.step.get("type") != now.step.get("type"):
                continue
            if was.scope != now.scope:
                continue
            # The same steps lead to it, in any order (a draft may keep its steps in another
            # order than the version it came from); or it leads to the same steps and a step
            # that led to it leads to it still (two unrelated steps to one end are no rename).
            led, led_now = set(led_before.get(old_id) or ()), set(led_after.get(new_id) or ())
            goes = set(_targets(was.step))
            if (
                was.index == now.index
                or (led and led == led_now)
                or (goes and goes == set(_targets(now.step)) and bool(led & led_now))
            ):
                found[old_id] = new_id
                break
    return found


def _added(doc: Mapping[str, Any], step_id: str, placed: _Placed, leading: Any) -> str:
    kind = placed.step.get("type", "step")
    where = f" in branch '{placed.scope[1]}' of '{placed.scope[0]}'" if placed.scope else ""
    before = leading.get(step_id) or []
    if before:
        return f"step '{step_id}' ({kind}) was added after '{before[0]}'{where}"
    if doc.get("first") == step_id:
        return f"step '{step_id}' ({kind}) was added at the start"
    return f"step '{step_id}' ({kind}) was added{where}; no step leads to it yet"


# One step's properties ----------------------------------------------------------------------


def _step_changes(
    old: Mapping[str, Any], new: Mapping[str, Any], renamed: Mapping[str, str]
) -> Iterator[str]:
    def to(target: Any) -> Any:
        return renamed.get(target, target) if isinstance(target, str) else target

    for prop in sorted(set(old) | set(new)):
        was, now = old.get(prop), new.get(prop)
        if prop in ("next", "otherwise"):
            was = to(was)
        if was == now:
            continue
        if prop == "assign":
            yield _changed("assignment", assign_words(was), assign_words(now))
        elif prop == "form":
            yield _changed("form", value_words(was), value_words(now))
        elif prop in ("next", "otherwise"):
            yield _goes("goes on to" if prop == "next" else "otherwise goes to", was, now)
        elif prop == "on":
            yield from _route_changes(mapping(was), mapping(now), to)
        elif prop == "escalate":
            yield from _ladder_changes(as_list(was), as_list(now))
        elif prop == "auto_approve":
            yield _changed("auto-approve rule", condition_words(was), condition_words(now))
        elif prop == "branches" and isinstance(now, list):
            yield from _branch_changes(as_list(was), now, to)
        elif prop == "branches":
            yield from _keyed_changes("branch", mapping(was), mapping(now))
        elif prop == "fields":
            yield from _permission_changes(mapping(was), mapping(now))
        else:
            words = PROPERTY_WORDS.get(prop, prop.replace("_", " "))
            yield _changed(words, value_words(was), value_words(now))


def _goes(what: str, was: Any, now: Any) -> str:
    return f"{what} {value_words(now)} (was {value_words(was)})"


def _changed(what: str, was: str | None, now: str | None) -> str:
    if was is None:
        return f"{what} set to {now}"
    if now is None:
        return f"{what} removed (it was {was})"
    return f"{what} changed from {was} to {now}"


def _route_changes(was: Mapping[str, Any], now: Mapping[str, Any], to: Any) -> Iterator[str]:
    for outcome in dict.fromkeys([*was, *now]):
        if outcome not in now:
            yield f"outcome '{outcome}' removed"
        elif outcome not in was:
            yield f"outcome '{outcome}' added, going to {value_words(now[outcome])}"
        elif to(was[outcome]) != now[outcome]:
            yield _goes(f"outcome '{outcome}' now goes to", was[outcome], now[outcome])


def _branch_changes(was: list[Any], now: list[Any], to: Any) -> Iterator[str]:
    for index in range(max(len(was), len(now))):
        name = f"branch {index + 1}"
        if index >= len(now):
            yield f"{name} removed (when {condition_words(mapping(was[index]).get('when'))})"
            continue
        after = mapping(now[index])
        if index >= len(was):
            yield (
                f"{name} added: when {condition_words(after.get('when'))}, "
                f"go to {value_words(after.get('next'))}"
            )
            continue
        before = mapping(was[index])
        if before.get("when") != after.get("when"):
            condition = _changed(
                "condition",
                condition_words(before.get("when")),
                condition_words(after.get("when")),
            )
            yield f"{name}: {condition}"
        if to(before.get("next")) != after.get("next"):
            yield _goes(f"{name} now goes to", before.get("next"), after.get("next"))
        if before.get("label") != after.get("label"):
            label = _changed(
                "label", value_words(before.get("label")), value_words(after.get("label"))
            )
            yield f"{name}: {label}"


def _keyed_changes(what: str, was: Mapping[str, Any], now: Mapping[str, Any]) -> Iterator[str]:
    for name in dict.fromkeys([*was, *now]):
        if name not in now:
            yield f"{what} '{name}' removed"
        elif name not in was:
            yield f"{what} '{name}' added"
        elif mapping(was[name]).get("first") != mapping(now[name]).get("first"):
            yield f"{what} '{name}' now starts at {value_words(mapping(now[name]).get('first'))}"


def _permission_changes(was: Mapping[str, Any], now: Mapping[str, Any]) -> Iterator[str]:
    for name in dict.fromkeys([*was, *now]):
        before, after = was.get(name, "editable"), now.get(name, "editable")
        if before != after:
            yield f"field '{name}' is now {_rule(after)} (was {_rule(before)})"


def _rule(rule: Any) -> str:
    return str(rule).replace("_", "-")


def _ladder_changes(was: list[Any], now: list[Any]) -> Iterator[str]:
    for index in range(max(len(was), len(now))):
        name = f"escalation {index + 1}"
        if index >= len(now):
            yield f"{name} removed ({rung_words(was[index])})"
        elif index >= len(was):
            yield f"{name} added: {rung_words(now[index])}"
        elif was[index] != now[index]:
            yield f"{name} changed from ({rung_words(was[index])}) to ({rung_words(now[index])})"


# The workflow's own settings ----------------------------------------------------------------


def _workflow_changes(
    old: Mapping[str, Any], new: Mapping[str, Any], renamed: Mapping[str, str]
) -> Iterator[str]:
    for name in ("title", "description", "team"):
        if old.get(name) != new.get(name):
            yield _changed(
                f"the workflow's {name}", value_words(old.get(name)), value_words(new.get(name))
            )
    was_start, now_start = mapping(old.get("start")), mapping(new.get("start"))
    for name, what in START_WORDS.items():
        was, now = was_start.get(name), now_start.get(name)
        if was == now:
            continue
        if name == "public":
            yield "the workflow is now public" if now else "the workflow is no longer public"
        else:
            yield _changed(what, value_words(was), value_words(now))
    first = old.get("first")
    if first != new.get("first") and renamed.get(str(first)) != new.get("first"):
        yield _goes("the flow now starts at", old.get("first"), new.get("first"))
    for name, what in (
        ("priorities", "the priority levels"),
        ("requester_sees", "what the requester sees"),
    ):
        if old.get(name) != new.get(name):
            yield _changed(what, value_words(old.get(name)), value_words(new.get(name)))
    yield from _sla_changes(mapping(old.get("sla")), mapping(new.get("sla")))


def _sla_changes(was: Mapping[str, Any], now: Mapping[str, Any]) -> Iterator[str]:
    if bool(was) != bool(now):
        yield "the SLA was added" if now else "the SLA was removed"
        return
    was_targets, now_targets = mapping(was.get("targets")), mapping(now.get("targets"))
    for level in dict.fromkeys([*was_targets, *now_targets]):
        before, after = mapping(was_targets.get(level)), mapping(now_targets.get(level))
        for kind in dict.fromkeys([*before, *after]):
            if before.get(kind) != after.get(kind):
                yield _changed(
                    f"the SLA {kind} target for {level}",
                    value_words(before.get(kind)),
                    value_words(after.get(kind)),
                )
    for name in sorted((set(was) | set(now)) - {"targets"}):
        if was.get(name) != now.get(name):
            what = f"the SLA {name.replace('_', ' ')}"
            yield _changed(what, value_words(was.get(name)), value_words(now.get(name)))


def _table_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> Iterator[str]:
    was_tables, now_tables = mapping(old.get("tables")), mapping(new.get("tables"))
    for name in dict.fromkeys([*was_tables, *now_tables]):
        if name not in now_tables:
            yield f"table '{name}' was removed"
            continue
        if name not in was_tables:
            yield f"table '{name}' was added"
            continue
        was, now = mapping(was_tables[name]), mapping(now_tables[name])
        for prop in ("inputs", "output", "default", "description"):
            if was.get(prop) != now.get(prop):
                yield f"table '{name}': " + _changed(
                    prop, value_words(was.get(prop)), value_words(now.get(prop))
                )
        rows_was, rows_now = as_list(was.get("rows")), as_list(now.get("rows"))
        for index in range(max(len(rows_was), len(rows_now))):
            if index >= len(rows_now):
                yield f"table '{name}': row {index + 1} removed"
            elif index >= len(rows_was):
                yield f"table '{name}': row {index + 1} added ({_row_words(rows_now[index])})"
            elif rows_was[index] != rows_now[index]:
                yield (
                    f"table '{name}': row {index + 1} changed from ({_row_words(rows_was[index])}) "
                    f"to ({_row_words(rows_now[index])})"
                )


def _message_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> Iterator[str]:
    was_messages, now_messages = mapping(old.get("messages")), mapping(new.get("messages"))
    for name in dict.fromkeys([*was_messages, *now_messages]):
        if name not in now_messages:
            yield f"message '{name}' was removed"
        elif name not in was_messages:
            yield f"message '{name}' was added"
        else:
            was, now = mapping(was_messages[name]), mapping(now_messages[name])
            parts = [part for part in ("subject", "body") if was.get(part) != now.get(part)]
            if parts:
                yield f"message '{name}': its {' and '.join(parts)} changed"


def _row_words(row: Any) -> str:
    spec = mapping(row)
    when = ", ".join(
        " or ".join(str(v) for v in cell)
        if isinstance(cell, list)
        else range_words(cell)
        if isinstance(cell, dict)
        else str(cell)
        for cell in as_list(spec.get("when"))
    )
    return f"{when} gives {spec.get('then')}"
