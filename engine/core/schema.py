"""The JSON Schemas that ship with the engine, and schema problems in plain words."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from engine.core.errors import Problem


@cache
def load_schema(name: str, package: str = "engine.core") -> dict[str, Any]:
    """Return a schema shipped in a package's `schema/` folder (e.g. `workflow`)."""
    text = resources.files(package).joinpath(f"schema/{name}.schema.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def validator(name: str, package: str = "engine.core") -> Draft202012Validator:
    """Return a validator (with format checking on) for a shipped schema."""
    schema = load_schema(name, package)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def schema_problems(validator: Draft202012Validator, document: Any) -> list[Problem]:
    """Validate a document; return one plain-words problem per place that is wrong."""
    problems: dict[str, Problem] = {}
    for error in validator.iter_errors(document):
        error = _most_relevant(error)
        pointer = _pointer(error)
        problems.setdefault(pointer, Problem(pointer, _words(error)))
    return sorted(problems.values())


def _most_relevant(error: ValidationError) -> ValidationError:
    # For oneOf/anyOf/if-then, the deepest sub-error says what is really wrong.
    while error.context:
        deeper = best_match(error.context)
        if len(deeper.absolute_path) < len(error.absolute_path):
            break
        error = deeper
    return error


def _pointer(error: ValidationError) -> str:
    path = list(error.absolute_path)
    if error.validator == "required":
        missing = _missing_property(error)
        if missing:
            path.append(missing)
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in path)


def _missing_property(error: ValidationError) -> str | None:
    message = str(error.message)
    if message.startswith("'") and "' is a required property" in message:
        return message[1 : message.index("' is a required property")]
    return None


def _words(error: ValidationError) -> str:
    kind = error.validator
    value = error.validator_value
    if kind == "required":
        return "this is required here but missing"
    if kind in ("additionalProperties", "unevaluatedProperties"):
        extra = _extra_names(error)
        return f"'{extra}' is not something this can have" if extra else str(error.message)
    if kind == "enum":
        options = ", ".join(json.dumps(v) for v in value)
        return f"{json.dumps(error.instance)} is not allowed; choose one of {options}"
    if kind == "const":
        return f"must be {json.dumps(value)}"
    if kind == "type":
        return f"must be {_type_words(value)}, not {json.dumps(error.instance)}"
    if kind == "pattern":
        return f"{json.dumps(error.instance)} is not in the expected form ({_pattern_hint(error)})"
    if kind in ("minItems", "minProperties"):
        return "must not be empty" if value == 1 else f"needs at least {value} entries"
    if kind == "minLength":
        return "must not be empty"
    if kind == "maxLength":
        return f"is too long (at most {value} characters)"
    if kind in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        return str(error.message)
    if kind == "not":
        return "has properties that cannot be used together here"
    if kind == "oneOf":
        return "does not match any of the allowed forms"
    return str(error.message)


def _extra_names(error: ValidationError) -> str:
    if isinstance(error.instance, Mapping):
        known = set(error.schema.get("properties", {}))
        extra = [key for key in error.instance if key not in known]
        if extra:
            return "', '".join(extra)
    return ""


def _type_words(value: Any) -> str:
    names = {"object": "an object", "array": "a list", "string": "a text",
             "integer": "a whole number", "number": "a number", "boolean": "true or false",
             "null": "null"}  # fmt: skip
    if isinstance(value, list):
        return " or ".join(names.get(v, str(v)) for v in value)
    return names.get(value, str(value))


def _pattern_hint(error: ValidationError) -> str:
    description = error.schema.get("description")
    if description:
        return str(description)
    return f"it must match {error.validator_value}"


def iter_steps(
    steps: Mapping[str, Any], pointer: str = "/steps"
) -> Iterator[tuple[str, Mapping[str, Any], str, str | None, str | None]]:
    """Yield (id, doc, pointer, parallel step, branch) for every step, nested ones too."""
    for step_id, doc in steps.items():
        if not isinstance(doc, Mapping):
            continue
        here = f"{pointer}/{step_id}"
        yield step_id, doc, here, None, None
        if doc.get("type") == "parallel" and isinstance(doc.get("branches"), Mapping):
            for name, branch in doc["branches"].items():
                if isinstance(branch, Mapping) and isinstance(branch.get("steps"), Mapping):
                    for inner in iter_steps(branch["steps"], f"{here}/branches/{name}/steps"):
                        sid, sdoc, spointer, parallel, bname = inner
                        yield sid, sdoc, spointer, parallel or step_id, bname or name
