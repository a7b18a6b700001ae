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
from engine.core.checker.points import At
from engine.core.fields import FieldInfo
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
    #: What each option says on its form, in the order of `options` (see `FieldInfo`).
    option_labels: tuple[str, ...] | None = None

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
            if self.option_labels is not None:
                found["option_labels"] = list(self.option_labels)
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
    return fields_of(flow) if flow is not None else {}


def fields_of(flow: Flow) -> dict[str, list[FieldAt]]:
    """Return the fields that may be read at the start and at every step of a flow."""
    fields = _Fields(flow)
    found = {START: fields.at(flow.start)}
    for step_id in flow.steps:
        found[step_id] = fields.at(flow.entry.get(step_id, 0))
    return found


class _Fields:
    """The fields of one flow at any point, each worked out once.

    What a point says of a field depends only on the field's definitions reaching it and on
    whether it may be missing there; along a chain of steps those rarely change, so a field
    is described once and the same answer is shared by every point it reaches unchanged.
    That keeps a flow of hundreds of steps linear in its steps and fields.
    """

    def __init__(self, flow: Flow) -> None:
        self.flow = flow
        #: Every field a step or the start form writes (not a dotted path), by name: the bits
        #: of the definitions that write it, and the bit of the one that says it is missing.
        self.written = sorted(
            (name, bits & ~flow.absent.get(name, 0), flow.absent.get(name, 0))
            for name, bits in flow.of_field.items()
            if "." not in name
        )
        self.made: dict[tuple[str, int, bool], FieldAt | None] = {}

    def at(self, bits: int) -> list[FieldAt]:
        """Return the fields that exist at a point of the flow (its reaching definitions)."""
        found = []
        point = At(self.flow, bits)
        sure = point.open  # nothing is said to be missing where unknown fields pass unseen
        for name, written, absent in self.written:
            reaching = written & bits
            if not reaching:
                continue
            # As `point.may_be_missing(name)` says, without a call per field and step.
            known = (name, reaching, not sure and bool(absent & bits))
            if known not in self.made:
                self.made[known] = _field(point, name)
            field = self.made[known]
            if field is not None:
                found.append(field)
        return found


def _field(at: At, name: str) -> FieldAt | None:
    info = at.info(name)
    if info is None:
        return None
    return FieldAt(
        name,
        info.label or name,
        info.type,
        info.options,
        _filled_by(at, name),
        at.may_be_missing(name),
        info.form_type,
        _labels(info),
    )


def _labels(info: FieldInfo) -> tuple[str, ...] | None:
    """The option labels of a field, when they say each of its options."""
    labels, options = info.option_labels, info.options
    if labels is None or options is None or len(labels) != len(options):
        return None
    return labels


def _filled_by(at: At, name: str) -> str | None:
    """Return the step that fills in a field reaching this point last in the document's
    order (None: only the start form does)."""
    steps = [d.step for d in at.flow.definitions_of(name, at.bits) if not d.absent]
    named = [step for step in steps if step is not None]
    return named[-1] if named else None
