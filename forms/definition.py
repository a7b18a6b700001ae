"""Form definitions: fields, the kind of value each holds, and the conditions on them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.core.fields import FieldInfo

#: Form field type -> the kind of value it stores (see `engine.core.fields.VALUE_TYPES`).
VALUE_TYPE_OF = {
    "text": "string", "textarea": "string", "number": "number", "date": "date",
    "datetime": "datetime", "select": "string", "multiselect": "list", "radio": "string",
    "checkbox": "boolean", "file": "file", "user": "string", "table": "table",
    "hidden": "string", "calculated": "any",
}  # fmt: skip

#: Field types that lay out the form but hold no value.
LAYOUT_TYPES = frozenset({"section"})


def option_values(field: Mapping[str, Any]) -> tuple[Any, ...] | None:
    """Return the values a choice field allows, or None when it takes any value."""
    options = field.get("options")
    if options is None:
        return None
    return tuple(o if isinstance(o, str) else o["value"] for o in options)


@dataclass(frozen=True, slots=True)
class Form:
    """A form document, read once; `doc` is the JSON it came from."""

    key: str
    title: str
    doc: Mapping[str, Any]

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> Form:
        return cls(doc["key"], doc["title"], doc)

    @property
    def fields(self) -> list[Mapping[str, Any]]:
        return [f for f in self.doc["fields"] if f["type"] not in LAYOUT_TYPES]

    def field_infos(self) -> tuple[FieldInfo, ...]:
        """Describe the fields this form fills in, as workflow conditions see them."""
        return tuple(
            FieldInfo(f["key"], VALUE_TYPE_OF[f["type"]], option_values(f), f["label"])
            for f in self.fields
        )
