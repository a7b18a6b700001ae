"""The JSON Schema validator forms use: Draft 2020-12, patterns on RE2, formats checked strictly.

Some keywords and one format differ from `jsonschema`'s own, each to keep every answer
cheap and every check strict:

- `pattern` matches with RE2 (`forms.patterns`), never with Python's backtracking `re`;
- `uniqueItems` compares items by hashing, in linear time (`jsonschema` falls back to
  comparing every pair when items are of mixed kinds: a list of 100,000 would take hours);
- `anyOf`, `oneOf` and `not` say the same, but quote only the start of the value
  (`jsonschema` quotes all of it: in the rules of a 6,000-field form, all the answers, for
  every rule that does not hold);
- the `email` format takes exactly one address (`forms.addresses`), where `jsonschema`
  only looks for an `@`.

The form documents themselves are validated with the same class, after a first pass with
`jsonschema-rs` (Rust, when installed): it says in milliseconds whether a document is valid,
where `jsonschema` takes a second for 6,000 fields; only a document it refuses goes through
`jsonschema`, whose errors `engine.core.schema` turns into plain words.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

from engine.core.errors import Problem
from engine.core.schema import load_schema, schema_problems
from forms.addresses import is_address
from forms.patterns import matches

if TYPE_CHECKING:
    from collections.abc import Callable

    from jsonschema import Draft202012Validator, FormatChecker


def validator_for(schema: Mapping[str, Any]) -> Draft202012Validator:
    """Return a validator of a schema with the keywords and format checks described above."""
    return _validator_class()(schema, format_checker=format_checker())


def document_problems(doc: Any) -> list[Problem]:
    """Validate a form document against the form schema; return its problems in words."""
    valid = _fast_document_check()
    if valid is not None:
        try:
            if valid(doc):
                return []
        except (ValueError, TypeError, OverflowError):
            pass  # a value the fast validator cannot read (a huge integer): the full one says
    return schema_problems(document_validator(), doc)


@cache
def _fast_document_check() -> Callable[[Any], bool] | None:
    """Return `jsonschema-rs`'s check of form documents, or None when it is not installed."""
    try:
        import jsonschema_rs
    except ImportError:
        return None
    schema = load_schema("form", "forms")
    # The `regex` crate, linear-time like RE2, rather than the default backtracking one.
    fast = jsonschema_rs.validator_for(
        schema, validate_formats=True, pattern_options=jsonschema_rs.RegexOptions()
    )
    check: Callable[[Any], bool] = fast.is_valid
    return check


@cache
def document_validator() -> Draft202012Validator:
    """Return the validator of form documents (`forms/schema/form.schema.json`)."""
    schema = load_schema("form", "forms")
    _validator_class().check_schema(schema)
    return validator_for(schema)


@cache
def format_checker() -> FormatChecker:
    """Return the format checks of Draft 2020-12, with `email` checked strictly."""
    from jsonschema import Draft202012Validator, FormatChecker

    checker = FormatChecker(())
    checker.checkers = dict(Draft202012Validator.FORMAT_CHECKER.checkers)
    checker.checks("email")(is_address)
    return checker


@cache
def _validator_class() -> Any:
    from jsonschema import Draft202012Validator, validators
    from jsonschema.exceptions import ValidationError

    def pattern(validator: Any, wanted: str, instance: Any, schema: Any) -> Iterator[Any]:
        if validator.is_type(instance, "string") and not matches(wanted, instance):
            yield ValidationError(f"{_short(instance)} does not match {wanted!r}")

    def unique_items(validator: Any, unique: bool, instance: Any, schema: Any) -> Iterator[Any]:
        if unique and validator.is_type(instance, "array") and not all_different(instance):
            yield ValidationError(f"{_short(instance)} has non-unique elements")

    # `jsonschema`'s own anyOf, oneOf and not write the whole instance into their message:
    # inside the `if` of a rule, that is every answer of the form, once per rule.
    def any_of(validator: Any, schemas: list[Any], instance: Any, schema: Any) -> Iterator[Any]:
        errors: list[Any] = []
        for index, subschema in enumerate(schemas):
            found = list(validator.descend(instance, subschema, schema_path=index))
            if not found:
                return
            errors.extend(found)
        yield ValidationError(
            f"{_short(instance)} is not valid under any of the given schemas", context=errors
        )

    def one_of(validator: Any, schemas: list[Any], instance: Any, schema: Any) -> Iterator[Any]:
        errors: list[Any] = []
        valid: list[Any] = []
        for index, subschema in enumerate(schemas):
            found = list(validator.descend(instance, subschema, schema_path=index))
            if found and not valid:
                errors.extend(found)
            elif not found:
                valid.append(subschema)
        if not valid:
            yield ValidationError(
                f"{_short(instance)} is not valid under any of the given schemas", context=errors
            )
        elif len(valid) > 1:
            yield ValidationError(f"{_short(instance)} is valid under {len(valid)} of the schemas")

    def not_(validator: Any, negated: Any, instance: Any, schema: Any) -> Iterator[Any]:
        if validator.evolve(schema=negated).is_valid(instance):
            yield ValidationError(f"{_short(instance)} should not be valid under {negated!r}")

    return validators.extend(
        Draft202012Validator,
        {
            "pattern": pattern,
            "uniqueItems": unique_items,
            "anyOf": any_of,
            "oneOf": one_of,
            "not": not_,
        },
    )


def all_different(items: list[Any]) -> bool:
    """Tell whether no two items of a list are equal as JSON values (1 == 1.0, true != 1)."""
    seen: set[Any] = set()
    for item in items:
        try:
            key = _key(item)
        except RecursionError:
            continue  # nested too deeply to compare; validation refuses it on other grounds
        if key in seen:
            return False
        seen.add(key)
    return True


def _key(value: Any) -> Any:
    """Return a hashable stand-in for a JSON value, equal exactly when the values are."""
    if value is None:
        return ("null",)
    if isinstance(value, bool):
        return ("boolean", value)
    if isinstance(value, int | float):
        return ("number", value)
    if isinstance(value, str):
        return ("string", value)
    if isinstance(value, list):
        return ("array", tuple(_key(item) for item in value))
    if isinstance(value, Mapping):
        return ("object", frozenset((key, _key(item)) for key, item in value.items()))
    return ("other", id(value))


def _short(instance: Any) -> str:
    """Quote a value for a message in a few dozen characters, in time that does not grow."""
    if isinstance(instance, Mapping):
        return f"an object of {len(instance)} properties"
    if isinstance(instance, list):
        return f"a list of {len(instance)} items"
    if isinstance(instance, str) and len(instance) > 60:
        return repr(instance[:57]) + "..."
    return repr(instance)
