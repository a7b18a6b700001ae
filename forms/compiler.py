"""Compile a form into a JSON Schema (2020-12) document any client can validate with.

Every value field is a top-level property, so `additionalProperties: false` refuses unknown
keys while the conditional parts (`allOf` of `if`/`then`) still see every field (and it
costs any validator one look-up per key, where `unevaluatedProperties` costs `jsonschema`
a pass over every conditional part and a scan of every key per key).
Structured conditions compile to schemas that hold exactly when `engine.core.conditions`
says they do: a comparison that needs a value also requires the field, because in JSON
Schema `{"properties": {"impact": {"const": "high"}}}` holds when `impact` is missing.
Rules that cannot be said faithfully in JSON Schema (expressions, dates compared by order,
dotted paths, column rules that read the form) are listed under `x-flowdesk-rules`; the
server checks those in Python (`forms.validation`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any
from weakref import WeakKeyDictionary

from forms.definition import (
    DEFAULT_MAX_FILES,
    DEFAULT_MAX_SIZE,
    FORMAT,
    MAX_LINE_LENGTH,
    MAX_SERVICE_KEY,
    RULES,
    Form,
    holds_value,
    max_length,
    option_values,
)

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_ID = "https://flowdesk.dev/forms/{key}.schema.json"

#: A phone number: an optional '+', then digits with spaces, dots, dashes or brackets.
PHONE_PATTERN = r"^\+?[0-9(][0-9 ().-]{4,28}[0-9]$"

#: Characters with a meaning in a regular expression (ECMA-262 and Python alike).
_REGEX_SPECIALS = frozenset("\\^$.|?*+()[]{}/")

#: Values the condition language calls empty (`empty`, `not_empty`).
_EMPTY_VALUES: list[Any] = [None, "", [], {}]

_ORDERING = {"lt": "exclusiveMaximum", "le": "maximum", "gt": "exclusiveMinimum", "ge": "minimum"}

_compiled: WeakKeyDictionary[Form, dict[str, Any]] = WeakKeyDictionary()


def compile_schema(form: Form) -> dict[str, Any]:
    """Return the JSON Schema of a form's submissions, built once per form object."""
    schema = _compiled.get(form)
    if schema is None:
        schema = _compiled[form] = _form_schema(form)
    return schema


def _form_schema(form: Form) -> dict[str, Any]:
    rules: list[dict[str, Any]] = []
    schema: dict[str, Any] = {
        "$schema": SCHEMA_DIALECT,
        "$id": SCHEMA_ID.format(key=form.key),
        "title": form.title,
    }
    if form.doc.get("description"):
        schema["description"] = form.doc["description"]
    schema.update(_object_schema(form.fields, rules, ""))
    schema["x-flowdesk-format"] = form.doc.get("format", FORMAT)
    schema["x-flowdesk-rules"] = rules
    return schema


def _object_schema(
    fields: Collection[Mapping[str, Any]], rules: list[dict[str, Any]], prefix: str
) -> dict[str, Any]:
    """Compile a list of value fields (the form's, or a table's columns) to an object schema."""
    keys = {f["key"] for f in fields}
    properties = {}
    required = [f["key"] for f in fields if f.get("required") is True and "visible_if" not in f]
    conditional = []
    for field in fields:
        properties[field["key"]] = field_schema(field, rules, prefix)
        compiled = _requirement(field, keys, rules, prefix)
        if compiled is not None:
            conditional.append(compiled)
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    if conditional:
        schema["allOf"] = conditional
    schema["additionalProperties"] = False
    return schema


def _requirement(
    field: Mapping[str, Any], keys: Collection[str], rules: list[dict[str, Any]], prefix: str
) -> dict[str, Any] | None:
    """Compile when a field is required: shown (if it has a rule) and required (or its rule)."""
    parts: dict[str, Any] = {}
    faithful = True
    for rule in RULES:
        if rule not in field or (rule == "required_if" and field.get("required") is True):
            continue
        compiled = condition_schema(field[rule], keys)
        if compiled is None:
            faithful = False
            rules.append({"field": prefix + field["key"], "rule": rule, "condition": field[rule]})
        parts[rule] = compiled
    is_required = field.get("required") is True or "required_if" in field
    if not is_required or not faithful or (field.get("required") and "visible_if" not in field):
        return None
    conditions = [parts[rule] for rule in RULES if rule in parts]
    if len(conditions) == 2 and conditions[0] == conditions[1]:
        conditions.pop()  # shown and required on the same condition, as is common
    test = conditions[0] if len(conditions) == 1 else {"allOf": conditions}
    return {"if": test, "then": {"required": [field["key"]]}}


def field_schema(
    field: Mapping[str, Any], rules: list[dict[str, Any]] | None = None, prefix: str = ""
) -> dict[str, Any]:
    """Compile the value a field takes, with its label as title and its help as description."""
    schema: dict[str, Any] = {"title": field["label"]}
    if field.get("help"):
        schema["description"] = field["help"]
    schema.update(_VALUE[field["type"]](field, [] if rules is None else rules, prefix))
    if "default" in field and field["type"] != "calculated":
        schema["default"] = field["default"]
    return schema


def _text(field: Mapping[str, Any], *_: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    if "min_length" in field:
        schema["minLength"] = field["min_length"]
    schema["maxLength"] = max_length(field)  # a cap even when the form sets none
    preset = field.get("format")
    if preset == "email":
        schema["format"] = "email"
    elif preset == "url":
        schema["format"] = "uri"
    elif preset == "phone":
        schema["pattern"] = PHONE_PATTERN
    if "pattern" in field:
        # A preset and a pattern may both apply; each is checked on its own.
        schema.setdefault("allOf", []).append({"pattern": field["pattern"]})
    return schema


def _number(field: Mapping[str, Any], *_: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "integer" if field.get("integer") else "number"}
    if "min" in field:
        schema["minimum"] = field["min"]
    if "max" in field:
        schema["maximum"] = field["max"]
    return schema


def _moment(field: Mapping[str, Any], *_: Any) -> dict[str, Any]:
    # JSON Schema cannot order dates; the bounds are stated for clients, checked by the server.
    schema: dict[str, Any] = {
        "type": "string",
        "format": "date" if field["type"] == "date" else "date-time",
    }
    if "min" in field:
        schema["formatMinimum"] = field["min"]
    if "max" in field:
        schema["formatMaximum"] = field["max"]
    return schema


def _choice(field: Mapping[str, Any], *_: Any) -> dict[str, Any]:
    return {"enum": list(option_values(field) or ())}


def _choices(field: Mapping[str, Any], *_: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "array",
        "items": {"enum": list(option_values(field) or ())},
        "uniqueItems": True,
    }
    if "min_items" in field:
        schema["minItems"] = field["min_items"]
    if "max_items" in field:
        schema["maxItems"] = field["max_items"]
    return schema


def _checkbox(field: Mapping[str, Any], *_: Any) -> dict[str, Any]:
    # A required box is answered only when ticked: `false` is an answer JSON Schema counts.
    if field.get("required") is True:
        return {"type": "boolean", "const": True}
    return {"type": "boolean"}


def _file(field: Mapping[str, Any], *_: Any) -> dict[str, Any]:
    kind: dict[str, Any] = {"type": "string"}
    if "accept" in field:
        kind["pattern"] = accept_pattern(field["accept"])
    reference = {
        "type": "object",
        "required": ["name", "size", "type"],
        "properties": {
            "id": {"type": ["string", "integer"]},
            "name": {"type": "string", "minLength": 1, "maxLength": MAX_LINE_LENGTH},
            "size": {"type": "integer", "minimum": 0,
                     "maximum": field.get("max_size", DEFAULT_MAX_SIZE)},
            "type": kind,
        },
        "additionalProperties": False,
    }  # fmt: skip
    return {
        "type": "array",
        "items": reference,
        "minItems": 1,
        "maxItems": field.get("max_files", DEFAULT_MAX_FILES),
    }


def accept_pattern(accept: Collection[str]) -> str:
    """Return a regular expression matching the media types a file field accepts."""
    parts = [
        _escape(kind[:-1]) + "[^/]+" if kind.endswith("/*") else _escape(kind) for kind in accept
    ]
    return "^(" + "|".join(parts) + ")$"


def _escape(text: str) -> str:
    return "".join("\\" + c if c in _REGEX_SPECIALS else c for c in text)


def _user(*_: Any) -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "maxLength": MAX_LINE_LENGTH}


def _service(*_: Any) -> dict[str, Any]:
    # Which keys the catalogue holds is the service layer's to check (`service_errors`).
    return {"type": "string", "minLength": 1, "maxLength": MAX_SERVICE_KEY}


def _table(field: Mapping[str, Any], rules: list[dict[str, Any]], prefix: str) -> dict[str, Any]:
    columns = [column for column in field["columns"] if holds_value(column)]
    schema: dict[str, Any] = {
        "type": "array",
        "items": _object_schema(columns, rules, f"{prefix}{field['key']}.*."),
    }
    if "min_rows" in field:
        schema["minItems"] = field["min_rows"]
    if "max_rows" in field:
        schema["maxItems"] = field["max_rows"]
    return schema


def _hidden(field: Mapping[str, Any], *_: Any) -> dict[str, Any]:
    default = field.get("default")
    if isinstance(default, bool):
        return {"type": "boolean"}
    if isinstance(default, int | float):
        return {"type": "number"}
    return {"type": "string", "maxLength": MAX_LINE_LENGTH}


def _calculated(*_: Any) -> dict[str, Any]:
    # Whatever a client sends, the server computes the value again.
    return {"readOnly": True}


_VALUE = {
    "text": _text, "textarea": _text, "number": _number, "date": _moment, "datetime": _moment,
    "select": _choice, "radio": _choice, "multiselect": _choices, "checkbox": _checkbox,
    "file": _file, "user": _user, "table": _table, "hidden": _hidden, "calculated": _calculated,
    "service": _service,
}  # fmt: skip


# Conditions ---------------------------------------------------------------------------------


def condition_schema(condition: Any, fields: Collection[str]) -> dict[str, Any] | None:
    """Compile a condition over `fields` to a schema valid exactly when it holds, or None.

    None means JSON Schema cannot say it faithfully: an expression, a dotted path, a field
    outside `fields`, or an order comparison with anything but a number.
    """
    if isinstance(condition, str):
        return None
    for combinator, keyword in (("all", "allOf"), ("any", "anyOf")):
        if combinator in condition:
            parts = [condition_schema(part, fields) for part in condition[combinator]]
            return None if None in parts else {keyword: parts}
    if "not" in condition:
        inner = condition_schema(condition["not"], fields)
        return None if inner is None else {"not": inner}
    return _comparison(condition["field"], condition["op"], condition.get("value"), fields)


def _comparison(name: str, op: str, value: Any, fields: Collection[str]) -> dict[str, Any] | None:
    if name not in fields:
        return None
    if op in ("eq", "ne"):
        schema = _is(name, {"const": value}, when_missing=value is None)
        return schema if op == "eq" else {"not": schema}
    if op in ("in", "not_in"):
        schema = _is(name, {"enum": value}, when_missing=None in value)
        return schema if op == "in" else {"not": schema}
    if op in ("empty", "not_empty"):
        schema = _is(name, {"enum": _EMPTY_VALUES}, when_missing=True)
        return schema if op == "empty" else {"not": schema}
    if op == "contains":
        kinds: list[dict[str, Any]] = [{"type": "array", "contains": {"const": value}}]
        if isinstance(value, str):
            kinds.insert(0, {"type": "string", "pattern": _escape(value)})
        return _is(name, {"anyOf": kinds}, when_missing=False)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None  # dates and texts are ordered by the server
    return _is(name, {"type": "number", _ORDERING[op]: value}, when_missing=False)


def _is(name: str, value: dict[str, Any], *, when_missing: bool) -> dict[str, Any]:
    """Say "the field's value matches"; a missing field reads as null, as in conditions."""
    present = {"properties": {name: value}}
    if when_missing:
        return {"anyOf": [{"not": {"required": [name]}}, present]}
    return {"required": [name], **present}
