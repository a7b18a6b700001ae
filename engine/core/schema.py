"""The JSON Schemas that ship with the engine, and schema problems in plain words."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Iterator, Mapping
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any, cast

from engine.core.errors import Problem

if TYPE_CHECKING:
    # jsonschema is imported when a document is first validated, not with the runtime:
    # its format checkers take a second to import, which every worker would pay.
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError


@cache
def load_schema(name: str, package: str = "engine.core") -> dict[str, Any]:
    """Return a schema shipped in a package's `schema/` folder (e.g. `workflow`)."""
    text = resources.files(package).joinpath(f"schema/{name}.schema.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def validator(name: str, package: str = "engine.core") -> Draft202012Validator:
    """Return a validator (with format checking on) for a shipped schema."""
    from jsonschema import Draft202012Validator, validators

    schema = load_schema(name, package)
    Draft202012Validator.check_schema(schema)
    strict = validators.extend(Draft202012Validator, {"pattern": _pattern})
    return cast(
        "Draft202012Validator",
        strict(schema, format_checker=Draft202012Validator.FORMAT_CHECKER),
    )


def shipped_problems(name: str, document: Any) -> list[Problem]:
    """Validate a document against a shipped schema (`workflow`, `calendar`) in plain words.

    `jsonschema-rs` answers first, in a fraction of the time (a 100-step workflow: 50 ms
    down to under 1 ms): most documents are sound, and the designer checks on every edit.
    Only a document it finds wrong goes through jsonschema, for the problems in words.
    """
    fast = _fast_validator(name)
    if fast is not None:
        try:
            if fast(document):
                return []
        except (ValueError, TypeError, OverflowError):
            pass  # a value the fast validator cannot read (a huge integer): the full one says
    return schema_problems(validator(name), document)


@cache
def _fast_validator(name: str) -> Callable[[Any], bool] | None:
    """Return `jsonschema-rs`'s check of a shipped schema, or None when it is not installed."""
    try:
        import jsonschema_rs
    except ImportError:
        return None
    # The `regex` crate: linear time, and `$` is the end of the text, as the schema means it.
    fast = jsonschema_rs.validator_for(
        load_schema(name), validate_formats=True, pattern_options=jsonschema_rs.RegexOptions()
    )
    check: Callable[[Any], bool] = fast.is_valid
    return check


def _pattern(validator: Any, wanted: str, instance: Any, schema: Any) -> Iterator[Any]:
    """JSON Schema's `pattern`, with `$` meaning the end of the text, as in JavaScript.

    Python's `$` also matches before a final line break, so `"^[a-z]+$"` would take
    "closed" followed by a line break as a step or a key. Only the patterns of the shipped
    schemas run here (a form's own patterns run on RE2, in `forms.patterns`).
    """
    from jsonschema.exceptions import ValidationError

    if validator.is_type(instance, "string") and not _ecma(wanted).search(instance):
        yield ValidationError(f"{instance!r} does not match {wanted!r}")


@cache
def _ecma(pattern: str) -> re.Pattern[str]:
    return re.compile(re.sub(r"(?<!\\)\$", r"\\Z", pattern))


def schema_problems(validator: Draft202012Validator, document: Any) -> list[Problem]:
    """Validate a document; return one plain-words problem per place that is wrong."""
    problems: dict[str, Problem] = {}
    for error in validator.iter_errors(document):
        for problem in _problems(_most_relevant(error), validator.schema):
            problems.setdefault(problem.pointer, problem)
    return sorted(problems.values())


def _problems(error: ValidationError, root: Mapping[str, Any]) -> Iterator[Problem]:
    if error.validator in ("additionalProperties", "unevaluatedProperties"):
        # Name each property that is not allowed, at its own place. With none, the error
        # only echoes a mistake inside a property, which is reported by itself.
        names, patterns = _declared(error.schema, root)
        allowed = ", ".join(sorted(name for name in names if not name.startswith("$")))
        allowed = allowed or "names matching " + " or ".join(patterns)
        for key in error.instance if isinstance(error.instance, Mapping) else ():
            if key not in names and not any(re.search(p, key) for p in patterns):
                yield Problem(
                    _encode([*error.absolute_path, key]),
                    f"'{key}' is not something this can have; it can have: {allowed}",
                )
        return
    yield Problem(_pointer(error), _words(error, _WORDS_BY_SCHEMA.get(str(root.get("$id")), {})))


def _declared(schema: Mapping[str, Any], root: Mapping[str, Any]) -> tuple[set[str], list[str]]:
    """Return the property names and name patterns a schema (with its parts) declares."""
    names = set(schema.get("properties", {}))
    patterns = list(schema.get("patternProperties", {}))
    parts = [part for key in ("allOf", "anyOf", "oneOf") for part in schema.get(key, ())]
    ref = schema.get("$ref", "")
    if ref.startswith("#/$defs/"):
        parts.append(root["$defs"][ref.removeprefix("#/$defs/")])
    for part in parts:
        if isinstance(part, Mapping):
            more_names, more_patterns = _declared(part, root)
            names |= more_names
            patterns += more_patterns
    return names, patterns


def _most_relevant(error: ValidationError) -> ValidationError:
    # For oneOf/anyOf, follow the alternative meant for this kind of value that fails in the
    # fewest places: an object that breaks the structured condition is about the structure,
    # not about "must be a text".
    while error.context and _chosen_alternatives(error) is None:
        branches: dict[Any, list[ValidationError]] = {}
        for sub in error.context:
            branch = sub.relative_schema_path[0] if sub.relative_schema_path else None
            branches.setdefault(branch, []).append(sub)
        fitting = [
            errors
            for errors in branches.values()
            if not any(_wrong_kind(sub, error) for sub in errors)
        ]
        if not fitting:
            break
        fewest = min(fitting, key=len)
        error = max(fewest, key=_relevance)
    return error


def _relevance(error: ValidationError) -> tuple[Any, ...]:
    # Between a missing property and an unknown one, the unknown one is likely a misspelling.
    from jsonschema.exceptions import relevance

    return (*relevance(error), error.validator in ("additionalProperties", "unevaluatedProperties"))


def _wrong_kind(error: ValidationError, parent: ValidationError) -> bool:
    """Tell whether an alternative wants another kind of value altogether (text, object...)."""
    if len(error.absolute_path) != len(parent.absolute_path):
        return False
    if error.validator == "type":
        return True
    if error.validator in ("enum", "const"):
        values = error.validator_value if error.validator == "enum" else [error.validator_value]
        return all(_json_type(value) != _json_type(error.instance) for value in values)
    return False


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def _alternatives(error: ValidationError) -> list[str] | None:
    """For a oneOf/anyOf whose every branch requires a property, return the first of each."""
    branches = error.validator_value
    if error.validator not in ("oneOf", "anyOf") or not all(
        isinstance(b, Mapping) and b.get("required") for b in branches
    ):
        return None
    return list(dict.fromkeys(branch["required"][0] for branch in branches))


def _chosen_alternatives(error: ValidationError) -> list[str] | None:
    """Return which of the alternative properties an object has, if it has none or several."""
    names = _alternatives(error)
    instance = error.instance
    if names is None or not isinstance(instance, Mapping):
        return None
    present = [name for name in names if name in instance]
    return present if len(present) != 1 else None


def _pointer(error: ValidationError) -> str:
    path = list(error.absolute_path)
    if error.validator == "required":
        missing = _missing_property(error)
        if missing:
            path.append(missing)
    if "propertyNames" in error.schema_path and isinstance(error.instance, str):
        path.append(error.instance)  # the name itself is wrong: point at it
    return _encode(path)


def _encode(path: list[Any]) -> str:
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in path)


def _missing_property(error: ValidationError) -> str | None:
    message = str(error.message)
    if message.startswith("'") and "' is a required property" in message:
        return message[1 : message.index("' is a required property")]
    return None


def _words(error: ValidationError, words: Mapping[str, str]) -> str:
    """Say an error in plain words; `words` says what the schema's properties are for."""
    kind = error.validator
    value = error.validator_value
    instance = error.instance
    if kind == "required":
        missing = _missing_property(error)
        if missing is not None and missing in words:
            return f"'{missing}' is missing: {words[missing]}"
        return "this is required here but missing"
    if kind == "enum":
        options = ", ".join(json.dumps(v) for v in value)
        return f"{_show(instance)} is not allowed; choose one of {options}{_or_a_kind(error)}"
    if kind == "const":
        return f"must be {json.dumps(value)}{_other_alternatives(error)}"
    if kind == "type":
        return f"must be {_type_words(value)}, not {_show(instance)}"
    if kind == "pattern":
        return f"{json.dumps(instance)} is not in the expected form ({_pattern_hint(error)})"
    if kind == "format":
        return _format_words(value, instance)
    if kind in ("minItems", "minProperties"):
        return "must not be empty" if value == 1 else f"needs at least {value} entries"
    if kind == "maxProperties" and isinstance(instance, Mapping):
        names = ", ".join(f"'{name}'" for name in instance)
        if value == 1:
            return f"can hold only one of {names}; give each its own entry"
        return f"can have at most {value} settings, not {len(instance)} ({names})"
    if kind == "uniqueItems" and isinstance(instance, list):
        twice = [item for i, item in enumerate(instance) if item in instance[:i]]
        return f"lists {_show(twice[0])} more than once" if twice else "lists a value twice"
    if kind == "minLength":
        return "must not be empty"
    if kind == "maxLength":
        return f"is too long (at most {value} characters)"
    if kind in _BOUNDS:
        return f"must be {_BOUNDS[kind]} {value}, not {_show(instance)}"
    if kind == "not":
        return _not_words(error)
    if kind in ("oneOf", "anyOf"):
        return _alternatives_words(error, words)
    return str(error.message)


#: What the workflow language's properties are, in a process owner's words: a required one
#: missing is said with what it is for ("'otherwise' is missing: the step ..."), and each of
#: two ways to say something (`name?`), when neither is given ("needs 'next' (the step
#: after it) or 'on' (a step for each outcome)"). Each holds wherever the schema names it.
WORKFLOW_WORDS = {
    "after": "how long after the step starts this rung acts, like PT2H",
    "approved": "the step to go to when it is approved",
    "assign": "who does the work: a group, a user, the requester, whoever is on call, ...",
    "branches": "the decision's branches, each a condition and the step it leads to",
    "count": "how many rejections reject the review",
    "do": "what this rung does: remind, reassign, raise the priority, complete, ...",
    "every": "how often it repeats, like PT1H",
    "field": "the field the condition reads",
    "first": "the id of the step each instance starts at",
    "format": "the version of the workflow language: 1",
    "from": "the field that holds the reviewers' user names",
    "inputs": "the fields the table reads, in the order of its columns",
    "key": "the workflow's own key, like it-incident",
    "limit": "how many times it repeats at most",
    "on": "the steps to go to when it is approved and when it is rejected",
    "op": "how the condition compares: eq, ne, lt, in, contains, empty, ...",
    "otherwise": "the step the decision goes to when no branch's condition holds",
    "output": "the field the table's answer is written to",
    "quorum": "how many of the reviewers must approve: a number, all, any or majority",
    "rejected": "the step to go to when it is rejected",
    "reviewers": "who reviews: a list of people, or a field that holds them",
    "rows": "the table's rows, each a 'when' and a 'then'",
    "steps": "the workflow's steps, by id",
    "targets": "the SLA's response and resolution targets",
    "template": "the mail's template",
    "then": "what the row gives when its 'when' holds",
    "title": "the name people see",
    "to": "the step it goes back to",
    "type": "what kind of step it is: task, approval, review, decision, action, ...",
    "value": "what the field is compared with",
    "when": "the condition under which it applies",
    "workflow": "the key of the workflow it starts",
    "next?": "the step after it",
    "on?": "a step for each outcome",
    "for?": "how long to wait",
    "until?": "the time to wait for",
    "set?": "data to write",
    "notify?": "whom to tell",
    "open_problem?": "a problem to open",
}

_WORDS_BY_SCHEMA = {"https://flowdesk.dev/schema/workflow/1.json": WORKFLOW_WORDS}

_BOUNDS = {
    "minimum": "at least", "exclusiveMinimum": "more than",
    "maximum": "at most", "exclusiveMaximum": "less than",
}  # fmt: skip


def _show(instance: Any) -> str:
    """Quote a value as JSON; say only what kind it is when it is an object or a list."""
    if isinstance(instance, Mapping):
        return "an object"
    if isinstance(instance, list):
        return "a list"
    return json.dumps(instance)


def _format_words(value: Any, instance: Any) -> str:
    if value == "date":
        return f"{_show(instance)} is not a date; write it like 2026-12-25"
    if value == "regex":
        return f"{_show(instance)} is not a valid regular expression"
    return f"{_show(instance)} is not a valid {value}"


def _not_words(error: ValidationError) -> str:
    negated = error.validator_value
    forbidden = negated.get("required", []) if isinstance(negated, Mapping) else []
    if isinstance(error.instance, Mapping) and forbidden:
        bad = " and ".join(f"'{name}'" for name in forbidden)
        given = " and ".join(f"'{name}'" for name in error.schema.get("required", ()))
        if given:
            return f"{bad} cannot be used together with {given}"
        if len(forbidden) > 1:
            return f"{bad} cannot be used together; keep one"
        return f"{bad} cannot be used here"
    return "has properties that cannot be used together here"


def _alternatives_words(error: ValidationError, words: Mapping[str, str]) -> str:
    present = _chosen_alternatives(error)
    if present:
        return f"use {_either(present)}, not {'both' if len(present) == 2 else 'several'}"
    if present == []:
        names = _alternatives(error) or []
        if names and all(f"{name}?" in words for name in names):
            said = _either([f"'{name}' ({words[f'{name}?']})" for name in names], quote=False)
            return f"needs {said}{_unknown_instead(error)}"
        return f"needs {_either(names)}{_unknown_instead(error)}"
    wanted: list[str] = []
    for sub in error.context:
        if _wrong_kind(sub, error):
            if sub.validator == "type":
                wanted.append(_type_words(sub.validator_value))
            elif sub.validator == "enum":
                wanted.append("one of " + ", ".join(json.dumps(v) for v in sub.validator_value))
            else:
                wanted.append(json.dumps(sub.validator_value))
    if error.context and wanted:
        kinds = _either(list(dict.fromkeys(wanted)), quote=False)
        return f"must be {kinds}, not {_show(error.instance)}"
    return "does not match any of the allowed forms"


def _unknown_instead(error: ValidationError) -> str:
    """Name a property given instead of the alternatives, and the one likely meant."""
    branches = error.validator_value
    if not all(branch.get("additionalProperties") is False for branch in branches):
        return ""  # the alternatives do not say all an object may have
    known = [name for branch in branches for name in branch.get("properties", {})]
    unknown = [key for key in error.instance if key not in known]
    if not unknown:
        return ""
    name = unknown[0]
    meant = [k for k in known if name.startswith(k) or k.startswith(name)]
    meant = meant or difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    hint = f": did you mean '{meant[0]}'?" if meant else ""
    return f"; '{name}' is not one of them{hint}"


def _other_alternatives(error: ValidationError) -> str:
    """For a constant that is one of several alternatives, say the others too (`join`)."""
    parent = error.parent
    if parent is None or parent.validator not in ("oneOf", "anyOf"):
        return ""
    others: list[str] = []
    for branch in parent.validator_value:
        if "const" in branch and branch["const"] != error.validator_value:
            others.append(json.dumps(branch["const"]))
        elif "type" in branch:
            others.append(_type_words(branch["type"]))
    if not others:
        return ""
    about = parent.schema.get("description")
    return f" or {_either(others, quote=False)}, not {_show(error.instance)}" + (
        f" ({about})" if about else ""
    )


def _or_a_kind(error: ValidationError) -> str:
    """For a word that is one way of several to say something, the others that are a kind
    of value (a quorum: "all", "any", "majority", or a whole number)."""
    parent = error.parent
    if parent is None or parent.validator not in ("oneOf", "anyOf"):
        return ""
    kinds = [
        _type_words(branch["type"])
        for branch in parent.validator_value
        if "type" in branch and "enum" not in branch
    ]
    return f", or {_either(kinds, quote=False)}" if kinds else ""


def _either(names: list[str], quote: bool = True) -> str:
    shown = [f"'{name}'" if quote else name for name in names]
    return shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} or {shown[-1]}"


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
