"""The fields a condition or template may read at each step, as the checker's dataflow knows them.

The workflow designer's pickers offer only these: the fields that exist at a step (some
route from where they are filled in leads there), what they hold, which step fills them
in, and whether some route to the step leaves them missing. `$start` is what the start
title sees: the start form's fields. Pure, like the checker it reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.core.checker import References
from engine.core.checker.dataflow import Flow
from engine.core.checker.kinds import kind_of_expression
from engine.core.checker.points import At, at_start, at_step
from engine.core.schema import shipped_problems

#: The key of the start form's fields in `fields_at`; no step id can take it.
START = "$start"


@dataclass(frozen=True, slots=True)
class FieldAt:
    """A field at one point of a flow: its type (see `VALUE_TYPES`), its options when they are
    known, the step that fills it in (None: the start form) and whether it may be missing."""

    key: str
    label: str
    type: str
    options: tuple[Any, ...] | None
    step: str | None
    maybe_missing: bool
    #: The form field's own type (`user`, `select`, `date`...) when every source of the
    #: field is a form field of that type; None when it is set otherwise (an action).
    form_type: str | None = None

    def to_json(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "key": self.key,
            "label": self.label,
            "type": self.type,
            "step": self.step,
            "maybe_missing": self.maybe_missing,
        }
        if self.options is not None:
            found["options"] = list(self.options)
        if self.form_type is not None:
            found["form_type"] = self.form_type
        return found


def flow_of(doc: Mapping[str, Any], references: References | None = None) -> Flow | None:
    """Return the dataflow of a workflow as `check_workflow` builds it; None if the schema fails."""
    references = references or References()
    if not schema_valid(doc):
        return None
    levels = tuple(doc.get("priorities") or doc.get("sla", {}).get("targets", {}))
    return Flow(doc, references.forms, levels, references.children, kind_of_expression)


def schema_valid(doc: Any) -> bool:
    """Tell whether a workflow document passes the schema."""
    return not shipped_problems("workflow", doc)


def fields_at(doc: Any, references: References | None = None) -> dict[str, list[FieldAt]]:
    """Return, for the start and for every step, the fields that may be read there.

    A document the schema refuses has no flow to speak of: the answer is empty.
    """
    flow = flow_of(doc, references) if isinstance(doc, Mapping) else None
    if flow is None:
        return {}
    found = {START: _fields(at_start(flow))}
    for step_id in flow.steps:
        found[step_id] = _fields(at_step(flow, step_id))
    return found


def _fields(at: At) -> list[FieldAt]:
    fields = []
    for name in at.names():
        info = at.info(name)
        if info is None:
            continue
        fields.append(
            FieldAt(
                name,
                info.label or name,
                info.type,
                info.options,
                _filled_by(at, name),
                at.may_be_missing(name),
                info.form_type,
            )
        )
    return fields


def _filled_by(at: At, name: str) -> str | None:
    """Return the step that fills in a field reaching this point last in the document's
    order (None: only the start form does)."""
    steps = [d.step for d in at.flow.definitions_of(name, at.bits) if not d.absent]
    named = [step for step in steps if step is not None]
    return named[-1] if named else None
