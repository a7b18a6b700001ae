"""Checks on data: which fields exist at each step, and whether conditions use them right.

A field exists at a step when the start form or a step on some route leading
there fills it in. Conditions, expressions, templates and table lookups are
checked against the fields that exist where they run, and comparisons against
the kind of value (and the options) of the field.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.core.checker.graph import routes
from engine.core.conditions import UNARY, comparisons, expressions
from engine.core.errors import Problem
from engine.core.expressions import inspect_expression, inspect_template, is_template
from engine.core.fields import FieldInfo, literal_fits, merge_types, type_of_literal
from engine.core.schema import iter_steps

Fields = dict[str, FieldInfo]

#: Form key -> the fields it fills in; None for a form too broken to read (reported itself).
Forms = Mapping[str, tuple[FieldInfo, ...] | None]

TYPE_WORDS = {
    "string": "text", "number": "a number", "boolean": "yes or no", "date": "a date",
    "datetime": "a date and time", "list": "a list", "file": "a file", "table": "a table",
}  # fmt: skip


class Flow:
    """The fields known on entry to every step, computed once for a workflow."""

    def __init__(self, doc: Mapping[str, Any], forms: Forms | None):
        self.doc = doc
        self.forms = forms
        start_form = doc.get("start", {}).get("form")
        self.open = forms is None or start_form is None or start_form not in forms
        self.steps = {sid: (step, ptr) for sid, step, ptr, _p, _b in iter_steps(doc["steps"])}
        self.entry: dict[str, Fields] = {sid: {} for sid in self.steps}
        self.reached: set[str] = set()
        self._filled_by: dict[str, tuple[str, ...]] | None = None
        self._propagate(self._form_fields(start_form))

    def _form_fields(self, key: str | None) -> Fields:
        if key is None or self.forms is None:
            return {}
        infos = self.forms.get(key)
        if infos is None:
            self.open = True  # reported as an unknown or broken form; do not pile on
            return {}
        return {info.key: info for info in infos}

    def writes(self, step_id: str) -> Fields:
        """Return the fields a step fills in (for a parallel step: all its branches')."""
        step, _pointer = self.steps[step_id]
        written: Fields = {}
        if "form" in step:
            written.update(self._form_fields(step["form"]))
        for name, spec in step.get("set", {}).items():
            written[name] = FieldInfo(name, self._type_of(spec))
        if step["type"] == "parallel":
            for branch in step["branches"].values():
                for inner in branch["steps"]:
                    written = _union(written, self.writes(inner))
        return written

    def _type_of(self, spec: Mapping[str, Any]) -> str:
        if "value" in spec:
            return type_of_literal(spec["value"])
        table = self.doc.get("tables", {}).get(spec.get("lookup"))
        if table:
            kinds = {type_of_literal(row["then"]) for row in table["rows"]}
            if "default" in table and table["default"] is not None:
                kinds.add(type_of_literal(table["default"]))
            return kinds.pop() if len(kinds) == 1 else "any"
        return "any"

    def _propagate(self, start: Fields) -> None:
        todo = [(self.doc["first"], start)]
        visited: set[str] = set()
        while todo:
            step_id, incoming = todo.pop()
            if step_id not in self.steps:
                continue  # an unknown step: reported by the graph checks
            merged = _union(self.entry[step_id], incoming)
            if step_id in visited and merged == self.entry[step_id]:
                continue
            visited.add(step_id)
            self.reached.add(step_id)
            self.entry[step_id] = merged
            step, pointer = self.steps[step_id]
            leaving = _union(merged, self.writes(step_id))
            for target, _ref in routes(step, pointer):
                todo.append((target, leaving))
            if step["type"] == "parallel":
                for branch in step["branches"].values():
                    todo.append((branch["first"], merged))

    def known(self, step_id: str) -> Fields:
        return self.entry.get(step_id, {})

    def open_at(self, step_id: str) -> bool:
        """Tell whether unknown fields go unreported at a step.

        They do when the start form is unknown, and at a step no route leads to: what
        it sees depends on the route still to be drawn (the step is reported already).
        """
        return self.open or step_id not in self.reached

    def at(self, step_id: str) -> At:
        """Return what checks of a step see: the fields known on entry to it."""
        return At(self.known(step_id), self.open_at(step_id), self.filled_by())

    def filled_by(self) -> dict[str, tuple[str, ...]]:
        """Return, for every field a step fills in, the steps that do."""
        if self._filled_by is None:
            found: dict[str, list[str]] = {}
            for step_id, (step, _pointer) in self.steps.items():
                if step["type"] == "parallel":
                    continue  # its branches' steps are named themselves
                for name in self.writes(step_id):
                    found.setdefault(name, []).append(step_id)
            self._filled_by = {name: tuple(steps) for name, steps in found.items()}
        return self._filled_by

    def everywhere(self) -> Fields:
        """Return every field the start form or any step fills in."""
        fields: Fields = {}
        for step_id in self.steps:
            fields = _union(fields, _union(self.entry[step_id], self.writes(step_id)))
        return fields


def _union(left: Fields, right: Fields) -> Fields:
    if not right:
        return left
    merged = dict(left)
    for key, info in right.items():
        old = merged.get(key)
        if old is None:
            merged[key] = info
        elif old != info:
            options = old.options if old.options == info.options else None
            merged[key] = FieldInfo(key, merge_types(old.type, info.type), options, old.label)
    return merged


@dataclass(frozen=True, slots=True)
class At:
    """What a check sees at one point of the flow: the fields there, and who fills in others."""

    fields: Fields
    open: bool = False  # unknown fields go unreported (see `Flow.open_at`)
    filled_by: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def with_fields(self, fields: Fields) -> At:
        return At(fields, self.open, self.filled_by)

    def missing(self, name: str) -> str:
        """Say why a field does not exist here, naming the steps that fill it in elsewhere."""
        known = ", ".join(sorted(self.fields)) or "none"
        later = self.filled_by.get(name)
        if later:
            steps = " or ".join(f"'{step_id}'" for step_id in later)
            why = f"only step {steps} fills it in, and no route leads from there to here"
        else:
            why = "neither the start form nor a step before this one fills it in"
        return f"there is no field '{name}' at this point of the flow: {why} (fields here: {known})"


def check_data(doc: Mapping[str, Any], forms: Forms | None) -> list[Problem]:
    """Check every condition, expression, template and lookup against the fields it can see."""
    flow = Flow(doc, forms)
    problems: list[Problem] = []
    start_form = doc.get("start", {}).get("form")
    start_fields = flow._form_fields(start_form) if start_form else {}
    if "title" in doc.get("start", {}):
        at = At(start_fields, flow.open, flow.filled_by())
        problems += _template(doc["start"]["title"], "/start/title", at)
    for step_id, (step, pointer) in flow.steps.items():
        problems += _step(flow.at(step_id), step, pointer)
    problems += _tables(doc, flow)
    sla = doc.get("sla")
    if sla and not flow.open:
        field_name = sla.get("targets_by", "priority")
        if field_name not in flow.everywhere():
            problems.append(
                Problem(
                    "/sla/targets_by",
                    f"no form or step fills in '{field_name}', "
                    "so no SLA target could ever be chosen",
                )
            )
    return problems


def _step(at: At, step: Mapping[str, Any], pointer: str) -> list[Problem]:
    problems: list[Problem] = []
    if "title" in step:
        problems += _template(step["title"], f"{pointer}/title", at)
    problems += _assign(step.get("assign"), f"{pointer}/assign", at)
    for index, reviewer in enumerate(
        step.get("reviewers", []) if isinstance(step.get("reviewers"), list) else []
    ):
        problems += _assign(reviewer["assign"], f"{pointer}/reviewers/{index}/assign", at)
    if "auto_approve" in step:
        problems += _condition(step["auto_approve"], f"{pointer}/auto_approve", at)
    for index, name in enumerate(step.get("show", ())):
        problems += _field_of(name, None, f"{pointer}/show/{index}", at, "")
    for index, branch in enumerate(step.get("branches", []) if step["type"] == "decision" else []):
        problems += _condition(branch["when"], f"{pointer}/branches/{index}/when", at)
    growing = dict(at.fields)
    for name, spec in step.get("set", {}).items():
        if "expr" in spec:
            problems += _expression(
                spec["expr"], f"{pointer}/set/{name}/expr", at.with_fields(dict(growing))
            )
        growing[name] = FieldInfo(name)
    if step["type"] == "wait" and "until" in step:
        problems += _field_of(
            step["until"], ("date", "datetime", "string", "any"), f"{pointer}/until", at, "a date"
        )
    if step["type"] == "review" and isinstance(step.get("reviewers"), dict):
        problems += _field_of(
            step["reviewers"]["from"],
            ("list", "any"),
            f"{pointer}/reviewers/from",
            at,
            "a list of users",
        )
    for child, mine in step.get("data", {}).items():
        problems += _field_of(mine, None, f"{pointer}/data/{child}", at, "")
    return problems


def _field_of(
    name: str, kinds: tuple[str, ...] | None, pointer: str, at: At, wanted: str
) -> list[Problem]:
    root = name.split(".")[0]
    info = at.fields.get(root)
    if info is None:
        return [] if at.open else [Problem(pointer, at.missing(root))]
    if kinds and info.type not in kinds:
        return [
            Problem(
                pointer,
                f"'{name}' holds {TYPE_WORDS.get(info.type, info.type)}, "
                f"but {wanted} is needed here",
            )
        ]
    return []


def _assign(assign: Any, pointer: str, at: At) -> list[Problem]:
    if not isinstance(assign, Mapping):
        return []
    problems = []
    for key, value in assign.items():
        if isinstance(value, str):
            problems += _template(value, f"{pointer}/{key}", at)
    return problems


def _template(source: str, pointer: str, at: At) -> list[Problem]:
    if not is_template(source):
        return []
    inspection = inspect_template(source)
    return _inspected(inspection.problems, inspection.fields, pointer, at)


def _expression(source: str, pointer: str, at: At) -> list[Problem]:
    inspection = inspect_expression(source)
    return _inspected(inspection.problems, inspection.fields, pointer, at)


def _inspected(
    messages: tuple[str, ...], names: frozenset[str], pointer: str, at: At
) -> list[Problem]:
    problems = [Problem(pointer, message) for message in messages]
    if not at.open and not messages:  # a refused expression's names mean nothing yet
        problems += [Problem(pointer, at.missing(name)) for name in sorted(names - set(at.fields))]
    return problems


def _condition(condition: Any, pointer: str, at: At) -> list[Problem]:
    problems: list[Problem] = []
    for where, source in expressions(condition, pointer):
        problems += _expression(source, where, at)
    for where, comparison in comparisons(condition, pointer):
        problems += list(_comparison(comparison, where, at))
    return problems


def _comparison(comparison: Mapping[str, Any], pointer: str, at: At) -> Iterator[Problem]:
    name, op = comparison["field"], comparison["op"]
    info = at.fields.get(name.split(".")[0])
    if info is None:
        if not at.open:
            yield Problem(f"{pointer}/field", at.missing(name.split(".")[0]))
        return
    if op in UNARY or "." in name:
        return
    value = comparison["value"]
    values = value if isinstance(value, list) and op in ("in", "not_in") else [value]
    if op == "contains" and info.type in ("list", "table"):
        return
    for item in values:
        if not literal_fits(info.type, item):
            yield Problem(
                f"{pointer}/value",
                f"'{name}' holds {TYPE_WORDS.get(info.type, info.type)}, so comparing "
                f"it with {_literal(item)} can never be right",
            )
        elif _not_an_option(info, op, item):
            yield Problem(
                f"{pointer}/value",
                f"'{name}' is never {_literal(item)}: its options are {_options(info)}",
            )


def _not_an_option(info: FieldInfo, op: str, item: Any) -> bool:
    if info.options is None or op in ("lt", "le", "gt", "ge", "contains"):
        return False
    return item is not None and item not in info.options


def _tables(doc: Mapping[str, Any], flow: Flow) -> Iterator[Problem]:
    tables = doc.get("tables", {})
    for key, table in tables.items():
        width = len(table["inputs"])
        for index, row in enumerate(table["rows"]):
            if len(row["when"]) != width:
                yield Problem(
                    f"/tables/{key}/rows/{index}/when",
                    f"this row has {len(row['when'])} cells but the table has "
                    f"{width} inputs ({', '.join(table['inputs'])})",
                )
    for step_id, (step, pointer) in flow.steps.items():
        for name, spec in step.get("set", {}).items():
            if "lookup" not in spec or spec["lookup"] not in tables:
                continue
            table = tables[spec["lookup"]]
            at = flow.at(step_id)
            for column, field_name in enumerate(table["inputs"]):
                info = at.fields.get(field_name.split(".")[0])
                if info is None:
                    if not at.open:
                        yield Problem(
                            f"{pointer}/set/{name}/lookup",
                            f"table '{spec['lookup']}' reads '{field_name}': "
                            + at.missing(field_name),
                        )
                    continue
                yield from _cells(spec["lookup"], table, column, info)


def _cells(key: str, table: Mapping[str, Any], column: int, info: FieldInfo) -> Iterator[Problem]:
    for index, row in enumerate(table["rows"]):
        if column >= len(row["when"]):
            continue
        cell = row["when"][column]
        for value in cell if isinstance(cell, list) else [cell]:
            if value == "-":
                continue
            where = f"/tables/{key}/rows/{index}/when/{column}"
            if not literal_fits(info.type, value):
                yield Problem(
                    where,
                    f"'{info.key}' holds {TYPE_WORDS.get(info.type, info.type)}, "
                    f"so {_literal(value)} can never match",
                )
            elif info.options is not None and value not in info.options:
                yield Problem(
                    where,
                    f"'{info.key}' is never {_literal(value)}: its options are {_options(info)}",
                )


def _literal(value: Any) -> str:
    """Show a value the way the document writes it: 'text', 500, true, null."""
    return f"'{value}'" if isinstance(value, str) else json.dumps(value)


def _options(info: FieldInfo) -> str:
    return ", ".join(_literal(option) for option in info.options or ())
