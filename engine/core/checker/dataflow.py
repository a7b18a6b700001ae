"""Checks on data: which fields exist at each step, and whether conditions use them right.

A field exists at a step when the start form or a step on some route leading
there fills it in. Conditions, expressions, templates and table lookups are
checked against the fields that exist where they run, and comparisons against
the kind of value (and the options) of the field.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from engine.core.checker.graph import routes
from engine.core.conditions import UNARY, comparisons, expressions
from engine.core.errors import Problem
from engine.core.expressions import inspect_expression, inspect_template, is_template
from engine.core.fields import FieldInfo, literal_fits, merge_types, type_of_literal
from engine.core.schema import iter_steps

Fields = dict[str, FieldInfo]

TYPE_WORDS = {
    "string": "text", "number": "a number", "boolean": "yes or no", "date": "a date",
    "datetime": "a date and time", "list": "a list", "file": "a file", "table": "a table",
}  # fmt: skip


class Flow:
    """The fields known on entry to every step, computed once for a workflow."""

    def __init__(self, doc: Mapping[str, Any], forms: Mapping[str, tuple[FieldInfo, ...]] | None):
        self.doc = doc
        self.forms = forms
        start_form = doc.get("start", {}).get("form")
        self.open = forms is None or start_form is None or start_form not in forms
        self.steps = {sid: (step, ptr) for sid, step, ptr, _p, _b in iter_steps(doc["steps"])}
        self.entry: dict[str, Fields] = {sid: {} for sid in self.steps}
        self._propagate(self._form_fields(start_form))

    def _form_fields(self, key: str | None) -> Fields:
        if key is None or self.forms is None:
            return {}
        if key not in self.forms:
            self.open = True  # reported as an unknown form; do not pile on
            return {}
        return {info.key: info for info in self.forms[key]}

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


def check_data(
    doc: Mapping[str, Any], forms: Mapping[str, tuple[FieldInfo, ...]] | None
) -> list[Problem]:
    """Check every condition, expression, template and lookup against the fields it can see."""
    flow = Flow(doc, forms)
    problems: list[Problem] = []
    start_form = doc.get("start", {}).get("form")
    start_fields = flow._form_fields(start_form) if start_form else {}
    if "title" in doc.get("start", {}):
        problems += _template(doc["start"]["title"], "/start/title", start_fields, flow.open)
    for step_id, (step, pointer) in flow.steps.items():
        problems += _step(flow, step_id, step, pointer)
    problems += _tables(doc, flow)
    sla = doc.get("sla")
    if sla and not flow.open:
        field = sla.get("targets_by", "priority")
        if field not in flow.everywhere():
            problems.append(
                Problem(
                    "/sla/targets_by",
                    f"no form or step fills in '{field}', so no SLA target could ever be chosen",
                )
            )
    return problems


def _step(flow: Flow, step_id: str, step: Mapping[str, Any], pointer: str) -> list[Problem]:
    fields, open_world = flow.known(step_id), flow.open
    problems: list[Problem] = []
    for key in ("title",):
        if key in step:
            problems += _template(step[key], f"{pointer}/{key}", fields, open_world)
    problems += _assign(step.get("assign"), f"{pointer}/assign", fields, open_world)
    for index, reviewer in enumerate(
        step.get("reviewers", []) if isinstance(step.get("reviewers"), list) else []
    ):
        problems += _assign(
            reviewer["assign"], f"{pointer}/reviewers/{index}/assign", fields, open_world
        )
    if "auto_approve" in step:
        problems += _condition(step["auto_approve"], f"{pointer}/auto_approve", fields, open_world)
    for index, branch in enumerate(step.get("branches", []) if step["type"] == "decision" else []):
        problems += _condition(
            branch["when"], f"{pointer}/branches/{index}/when", fields, open_world
        )
    growing = dict(fields)
    for name, spec in step.get("set", {}).items():
        if "expr" in spec:
            problems += _expression(spec["expr"], f"{pointer}/set/{name}/expr", growing, open_world)
        growing[name] = FieldInfo(name)
    if step["type"] == "wait" and "until" in step:
        problems += _field_of(
            step["until"],
            ("date", "datetime", "string", "any"),
            f"{pointer}/until",
            fields,
            open_world,
            "a date",
        )
    if step["type"] == "review" and isinstance(step.get("reviewers"), dict):
        problems += _field_of(
            step["reviewers"]["from"],
            ("list", "any"),
            f"{pointer}/reviewers/from",
            fields,
            open_world,
            "a list of users",
        )
    for child, mine in step.get("data", {}).items():
        problems += _field_of(mine, None, f"{pointer}/data/{child}", fields, open_world, "")
    return problems


def _missing(name: str, fields: Fields) -> str:
    known = ", ".join(sorted(fields)) or "none"
    return (
        f"there is no field '{name}' at this point of the flow: neither the start form nor "
        f"a step before this one fills it in (fields here: {known})"
    )


def _field_of(
    name: str,
    kinds: tuple[str, ...] | None,
    pointer: str,
    fields: Fields,
    open_world: bool,
    wanted: str,
) -> list[Problem]:
    root = name.split(".")[0]
    info = fields.get(root)
    if info is None:
        return [] if open_world else [Problem(pointer, _missing(root, fields))]
    if kinds and info.type not in kinds:
        return [
            Problem(
                pointer,
                f"'{name}' holds {TYPE_WORDS.get(info.type, info.type)}, "
                f"but {wanted} is needed here",
            )
        ]
    return []


def _assign(assign: Any, pointer: str, fields: Fields, open_world: bool) -> list[Problem]:
    if not isinstance(assign, Mapping):
        return []
    problems = []
    for key, value in assign.items():
        if isinstance(value, str):
            problems += _template(value, f"{pointer}/{key}", fields, open_world)
    return problems


def _template(source: str, pointer: str, fields: Fields, open_world: bool) -> list[Problem]:
    if not is_template(source):
        return []
    inspection = inspect_template(source)
    return _inspected(inspection.problems, inspection.fields, pointer, fields, open_world)


def _expression(source: str, pointer: str, fields: Fields, open_world: bool) -> list[Problem]:
    inspection = inspect_expression(source)
    return _inspected(inspection.problems, inspection.fields, pointer, fields, open_world)


def _inspected(
    messages: tuple[str, ...],
    names: frozenset[str],
    pointer: str,
    fields: Fields,
    open_world: bool,
) -> list[Problem]:
    problems = [Problem(pointer, message) for message in messages]
    if not open_world:
        problems += [
            Problem(pointer, _missing(name, fields)) for name in sorted(names - set(fields))
        ]
    return problems


def _condition(condition: Any, pointer: str, fields: Fields, open_world: bool) -> list[Problem]:
    problems: list[Problem] = []
    for where, source in expressions(condition, pointer):
        problems += _expression(source, where, fields, open_world)
    for where, comparison in comparisons(condition, pointer):
        problems += list(_comparison(comparison, where, fields, open_world))
    return problems


def _comparison(
    comparison: Mapping[str, Any], pointer: str, fields: Fields, open_world: bool
) -> Iterator[Problem]:
    name, op = comparison["field"], comparison["op"]
    info = fields.get(name.split(".")[0])
    if info is None:
        if not open_world:
            yield Problem(f"{pointer}/field", _missing(name.split(".")[0], fields))
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
                f"it with {item!r} can never be right",
            )
        elif _not_an_option(info, op, item):
            options = ", ".join(repr(o) for o in info.options or ())
            yield Problem(
                f"{pointer}/value", f"'{name}' is never {item!r}: its options are {options}"
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
            fields = flow.known(step_id)
            for column, field_name in enumerate(table["inputs"]):
                info = fields.get(field_name.split(".")[0])
                if info is None:
                    if not flow.open:
                        yield Problem(
                            f"{pointer}/set/{name}/lookup",
                            f"table '{spec['lookup']}' reads '{field_name}': "
                            + _missing(field_name, fields),
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
                    f"so {value!r} can never match",
                )
            elif info.options is not None and value not in info.options:
                options = ", ".join(repr(o) for o in info.options)
                yield Problem(where, f"'{info.key}' is never {value!r}: its options are {options}")
