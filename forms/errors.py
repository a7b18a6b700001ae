"""Errors of the forms package: problems with form documents, and errors in submissions.

Problems with documents use the core's `Problem`. An error in a submission is a
`FieldError`, said in words the requester understands.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.core.errors import DefinitionError, FlowdeskError, Problem
from forms.addresses import EMAIL_EXAMPLE, address_problem
from forms.compiler import PHONE_PATTERN

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError

__all__ = [
    "ERROR_RANK",
    "DefinitionError",
    "FieldError",
    "FlowdeskError",
    "Problem",
    "message_for",
    "required_message",
]


@dataclass(frozen=True, slots=True)
class FieldError:
    """What is wrong with one field: `field` is a dotted path ("items.0.qty"), "" the form."""

    field: str
    message: str

    @property
    def pointer(self) -> str:
        """Return the JSON Pointer of the field ("/items/0/qty")."""
        if not self.field:
            return ""
        return "".join(
            "/" + part.replace("~", "~0").replace("/", "~1") for part in self.field.split(".")
        )

    def to_json(self) -> dict[str, str]:
        return {"field": self.field, "pointer": self.pointer, "message": self.message}


# Messages -----------------------------------------------------------------------------------

#: How useful each kind of error is to the requester, most useful first (others rank 3): a
#: missing answer (0) says more than a wrong kind of value (1), which says more than a
#: value outside the options or the expected form (2), which says more than a limit.
ERROR_RANK = {"required": 0, "type": 1, "enum": 2, "const": 2, "format": 2, "pattern": 2}

_FORMATS = {
    "date": "Enter a date like 2026-03-01",
    "date-time": "Enter a date and time like 2026-03-01 14:30",
    "email": EMAIL_EXAMPLE,
    "uri": "Enter a web address like https://example.org",
}  # fmt: skip

_TYPES = {
    "integer": "Enter a whole number", "number": "Enter a number", "string": "Enter text",
    "boolean": "Answer yes or no", "object": "Fill in the cells of this row",
}  # fmt: skip


def required_message(field: Mapping[str, Any] | None) -> str:
    """Say that a field must be filled in, the way its kind of input is filled in."""
    kind = field["type"] if field else ""
    if kind == "file":
        return "Attach a file"
    if kind in ("select", "radio", "multiselect"):
        return "Choose an option"
    if kind == "user":
        return "Choose a person"
    if kind == "service":
        return "Choose a service"
    if kind == "checkbox":
        return "Tick this box to go on"
    if kind == "table":
        return "Add at least one row"
    return "Fill in this field"


def message_for(error: ValidationError, field: Mapping[str, Any] | None) -> str:
    """Say in plain words what a jsonschema error means for the field it is about."""
    kind, limit = error.validator, error.validator_value
    field_type = field["type"] if field else ""
    if kind in ("enum", "const"):
        return "Choose one of the options"
    if kind == "format":
        if limit == "email" and isinstance(error.instance, str):
            return address_problem(error.instance) or EMAIL_EXAMPLE
        return _FORMATS.get(limit, f"Enter a valid {limit}")
    if kind == "type":
        return _type_message(limit, field_type)
    if kind == "pattern":
        return _pattern_message(field, error)
    if kind == "minLength":
        return "Fill in this field" if limit == 1 else f"Enter at least {limit} characters"
    if kind == "maxLength":
        return f"Enter at most {limit} characters (this has {len(error.instance)})"
    if kind in ("minimum", "maximum"):
        return _bound_message(kind, limit, error)
    if kind in ("minItems", "maxItems"):
        return _count_message(kind, limit, field_type)
    if kind == "uniqueItems":
        return "Choose each option only once"
    return "This answer is not allowed here"


def _type_message(wanted: Any, field_type: str) -> str:
    if wanted == "string" and field_type in ("user", "service"):  # a number, a list...
        return required_message({"type": field_type})
    if wanted == "array":
        return {"file": "Attach a file", "table": "Enter the rows of this table"}.get(
            field_type, "Choose from the options"
        )
    return _TYPES.get(wanted, "This answer is not allowed here")


def _pattern_message(field: Mapping[str, Any] | None, error: ValidationError) -> str:
    if field is not None and field["type"] == "file":
        return "This kind of file is not accepted; use " + " or ".join(field.get("accept", ()))
    if error.validator_value == PHONE_PATTERN:
        return "Enter a phone number like +44 20 7946 0958"
    hint = field.get("help") if field else None
    return (
        f"This is not in the expected form: {hint}" if hint else "This is not in the expected form"
    )


def _bound_message(kind: str, limit: Any, error: ValidationError) -> str:
    if list(error.absolute_path)[-1:] == ["size"]:
        return f"The file is too large: it may be at most {_size(limit)}"
    return f"Enter a number of {'at least' if kind == 'minimum' else 'at most'} {limit}"


def _count_message(kind: str, limit: int, field_type: str) -> str:
    bound = "at least" if kind == "minItems" else "at most"
    if field_type == "file":
        return (
            "Attach a file"
            if (kind, limit) == ("minItems", 1)
            else (f"Attach {bound} {_plural(limit, 'file')}")
        )
    if field_type == "table":
        return f"Add {bound} {_plural(limit, 'row')}"
    return f"Choose {bound} {_plural(limit, 'option')}"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _size(limit: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if limit >= scale and limit % scale == 0:
            return f"{limit // scale} {unit}"
    return _plural(limit, "byte")
