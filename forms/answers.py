"""Form values in words: as controls hold them, as people read them, and the hints around them.

The helpers the rendering macros call to write a value into a control, show an
answer read-only, and say a rule or a file field's limits in words.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date, datetime
from typing import Any

from engine.core.conditions import describe
from forms.definition import DEFAULT_MAX_SIZE, all_fields, holds_value, option_value, size_words

Field = Mapping[str, Any]

#: The value a ticked checkbox sends, and the texts read as ticked (as `forms.coercion` does).
CHECKBOX_VALUE = "true"
TRUE_TEXTS = frozenset({"true", "on", "yes", "1"})
#: Whole numbers up to this size are exact as floats too, so `2.0` is written "2" (as JSON
#: and a browser write it): options 2 and 2.0 are the same choice on the form.
_EXACT = 2**53
#: Friendly names of common upload types, for the hint under a file field.
MIME_NAMES = {
    "application/pdf": "PDF", "image/png": "PNG", "image/jpeg": "JPEG", "image/gif": "GIF",
    "image/webp": "WebP", "image/*": "images", "text/plain": "text", "text/csv": "CSV",
    "application/zip": "ZIP", "application/json": "JSON",
}  # fmt: skip


def as_text(value: Any, kind: str = "text") -> str:
    """Write a value the way an HTML control holds it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < _EXACT:
        return str(int(value))
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if kind == "datetime" and isinstance(value, str) and len(value) > 16:
        # datetime-local takes no seconds or offset; show the wall time as stored.
        try:
            return datetime.fromisoformat(value).strftime("%Y-%m-%dT%H:%M")
        except ValueError:
            return value
    return str(value)


def texts(value: Any) -> list[str]:
    """Return the chosen option values of a choice field as texts, in their order."""
    if value is None or value == "":
        return []
    if isinstance(value, list | tuple | set | frozenset):
        return [as_text(item) for item in value]
    return [as_text(value)]


def is_ticked(value: Any) -> bool:
    """Tell whether a checkbox value (typed or as posted) means yes."""
    if isinstance(value, str):
        return value.strip().lower() in TRUE_TEXTS
    return value is True


def options(field: Field) -> list[tuple[str, str]]:
    """Return a choice field's options as (value text, label) pairs; a bare option is its label."""
    pairs = []
    for option in field.get("options", ()):
        value = as_text(option_value(option))
        pairs.append((value, str(option["label"]) if isinstance(option, Mapping) else value))
    return pairs


def lookup(values: Mapping[str, Any], path: str) -> Any:
    """Read a dotted path from values posted flat (`items.0.qty`) or nested; missing is None."""
    if path in values:
        return values[path]
    head, *rest = path.split(".")
    value: Any = values.get(head)
    for part in rest:
        if isinstance(value, Mapping):
            value = value.get(part)
        elif isinstance(value, list | tuple) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def file_names(value: Any) -> list[str]:
    """Return the names of uploaded files (names, or mappings with a `name`)."""
    items = value if isinstance(value, list | tuple) else [value]
    names = []
    for item in items:
        if isinstance(item, Mapping):
            names.append(str(item.get("name") or item.get("filename") or ""))
        elif item:
            names.append(str(item))
    return [name for name in names if name]


def display(field: Field, value: Any) -> str:
    """Say a stored value in words: option labels, Yes/No, file names."""
    kind = field["type"]
    if kind == "checkbox" or isinstance(value, bool):
        return "Yes" if is_ticked(value) else "No"
    if kind in ("select", "radio", "multiselect"):
        labels = dict(options(field))
        return ", ".join(labels.get(text, text) for text in texts(value))
    if kind == "file":
        return ", ".join(file_names(value))
    text = as_text(value, kind)
    return text.replace("T", " ", 1) if kind == "datetime" else text


def is_answered(value: Any) -> bool:
    """Tell whether a value says anything (False does; None, "" and [] do not)."""
    return value is not None and value != "" and value != [] and value != {}


def answers(
    form_doc: Mapping[str, Any], data: Mapping[str, Any], public_only: bool = False
) -> list[tuple[Field, Any]]:
    """Return the answered fields and their values, for a read-only list."""
    return [
        (field, data[field["key"]])
        for field in _value_fields(form_doc)
        if field["type"] != "hidden"
        and (field.get("public") is True or not public_only)
        and is_answered(data.get(field["key"]))
    ]


def table_values(value: Any) -> list[Mapping[str, Any]]:
    """Return the rows of a stored table value, skipping anything that is not a row."""
    rows = value if isinstance(value, list | tuple) else []
    return [row for row in rows if isinstance(row, Mapping)]


def file_hint(field: Field) -> str:
    """Say a file field's limits: how many files, how large, which types."""
    most = int(field.get("max_files", 1))
    words = f"Up to {most} files" if most > 1 else "One file"
    size = int(field.get("max_size", DEFAULT_MAX_SIZE))
    words += f", {'each ' if most > 1 else ''}at most {size_words(size)}"
    accept = field.get("accept")
    if accept:
        words += ". Allowed types: " + ", ".join(MIME_NAMES.get(t, t) for t in accept)
    return words + "."


def condition_words(condition: Any, fields: Mapping[str, Field]) -> str:
    """Say a condition in the requester's words: field labels and option labels."""
    return describe(_in_labels(condition, fields))


def _in_labels(condition: Any, fields: Mapping[str, Field]) -> Any:
    if isinstance(condition, str):
        return condition
    for joint in ("all", "any"):
        if joint in condition:
            return {joint: [_in_labels(part, fields) for part in condition[joint]]}
    if "not" in condition:
        return {"not": _in_labels(condition["not"], fields)}
    field = fields.get(condition["field"])
    if field is None:
        return condition
    named = {**condition, "field": f"the answer to “{field['label']}”"}
    if "value" in condition and "options" in field:
        labels = dict(options(field))
        value = condition["value"]
        named["value"] = (
            [labels.get(as_text(v), v) for v in value]
            if isinstance(value, list)
            else labels.get(as_text(value), value)
        )
    return named


def _value_fields(form_doc: Mapping[str, Any]) -> Iterator[Field]:
    for _pointer, fields in all_fields(form_doc):
        yield from (field for field in fields if holds_value(field))
