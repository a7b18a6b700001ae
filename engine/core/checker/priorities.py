"""Checks on priority levels: once `priorities` lists them, the priority field holds no other.

The priority field (the SLA's `targets_by`, `priority` by default) is written by a
`set` value, by a decision table, by a form, and read by the SLA and by
`raise_priority`. A level that is not declared gets no SLA targets and cannot be
raised from, so every value written there must be one of `priorities`. (Comparisons
with an undeclared level are reported with the conditions, see `reads`.)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from engine.core.checker.dataflow import Flow
from engine.core.checker.words import literal, not_a_level
from engine.core.errors import Problem


def check_priorities(doc: Mapping[str, Any], flow: Flow) -> Iterator[Problem]:
    """Report every undeclared level written to the priority field, or given SLA targets."""
    levels = flow.declared
    if not levels:
        return
    field = flow.priority_field
    for level in doc.get("sla", {}).get("targets", {}):
        if level not in levels:
            yield Problem(f"/sla/targets/{level}", not_a_level(level, levels))
    tables = doc.get("tables", {})
    feeding = {key for key, table in tables.items() if table["output"] == field}
    for _step_id, (step, pointer) in flow.steps.items():
        spec = step.get("set", {}).get(field)
        if spec is not None and "value" in spec and spec["value"] is not None:
            if spec["value"] not in levels:
                yield Problem(f"{pointer}/set/{field}/value", not_a_level(spec["value"], levels))
        elif spec is not None and spec.get("lookup") in tables:
            feeding.add(spec["lookup"])
        if "form" in step and step["type"] in ("task", "approval"):
            yield from _form(flow, step["form"], f"{pointer}/form", field, levels)
    if "form" in doc.get("start", {}):
        yield from _form(flow, doc["start"]["form"], "/start/form", field, levels)
    for key in sorted(feeding):
        table = tables[key]
        for index, row in enumerate(table["rows"]):
            if row["then"] is not None and row["then"] not in levels:
                yield Problem(f"/tables/{key}/rows/{index}/then", not_a_level(row["then"], levels))
        default = table.get("default")
        if default is not None and default not in levels:
            yield Problem(f"/tables/{key}/default", not_a_level(default, levels))


def _form(
    flow: Flow, key: str, pointer: str, field: str, levels: tuple[str, ...]
) -> Iterator[Problem]:
    for info in flow.form_fields(key) or ():
        if info.key != field or info.options is None:
            continue
        wrong = [option for option in info.options if option not in levels]
        if wrong:
            yield Problem(
                pointer,
                f"the form '{key}' offers {literal(wrong[0])} for '{field}', which is not a "
                f"priority; the priorities are: {', '.join(levels)}",
            )
