"""Validate a submission of a form: clean it, then say what is wrong, field by field.

The steps, always in this order:

1. Keep the form's value fields; an empty answer (`""`, `null`, `[]`) counts as not given.
   Declared defaults fill in missing fields that are not required.
2. Decide which fields are shown, field by field, each after the fields its rules read
   (dependency order, form order otherwise). A field hidden by its rule is dropped before
   any later rule reads it, so whatever depends on a hidden field sees it as missing.
3. Compute calculated fields from the cleaned data, whatever the client sent.
4. Check input hygiene (`forms.hygiene`: no control characters, finite numbers), validate
   with the compiled JSON Schema (`forms.validator`: patterns on RE2, format checks on),
   then check in Python what the schema cannot say (see `x-flowdesk-rules`, and date bounds).

Every step is linear in the size of the form and of the answers: a rule is evaluated with
the few names it reads, never with a copy of every answer.

`validate` never raises on user input: every problem is a `FieldError`.
"""

from __future__ import annotations

import copy
import re
from collections import ChainMap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast
from weakref import WeakKeyDictionary

from engine.core.conditions import Condition, compile_condition
from engine.core.errors import ExpressionError
from engine.core.expressions import Evaluator, compile_expression
from forms.compiler import compile_schema
from forms.definition import Form, holds_value
from forms.errors import ERROR_RANK, FieldError, message_for, required_message
from forms.hygiene import answer_problems, is_finite
from forms.limits import moment_bound
from forms.rules import Inspect, Inspector, dependencies
from forms.validator import validator_for

__all__ = ["FieldError", "Submission", "validate", "validator_of"]

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError


@dataclass(frozen=True, slots=True)
class Submission:
    """A validated submission: cleaned data, errors, and which fields are shown and required.

    `visible` and `required` hold the keys of the form's fields, and dotted paths
    ("items.0.serial") of table cells.
    """

    data: dict[str, Any]
    errors: tuple[FieldError, ...]
    visible: frozenset[str]
    required: frozenset[str]

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass(frozen=True, slots=True)
class _Scope:
    """The fields of a form (or a table's columns), ready to evaluate again and again."""

    order: tuple[Mapping[str, Any], ...]
    keys: frozenset[str]
    reads: Mapping[str, tuple[str, ...]]
    visible_if: Mapping[str, Condition]
    required_if: Mapping[str, Condition]
    exprs: Mapping[str, Evaluator]
    tables: Mapping[str, _Scope]


@dataclass(frozen=True, slots=True)
class _Prepared:
    scope: _Scope
    validator: Draft202012Validator
    fields: Mapping[str, Mapping[str, Any]]
    position: Mapping[str, int]


@dataclass(slots=True)
class _Outcome:
    visible: set[str]
    required: set[str]


_prepared: WeakKeyDictionary[Form, _Prepared] = WeakKeyDictionary()


def validate(
    form: Form, data: Mapping[str, Any], *, context: Mapping[str, Any] | None = None
) -> Submission:
    """Clean and validate a submission; `context` adds names expressions may read (`instance`)."""
    prepared = _prepare(form)
    given = data if isinstance(data, Mapping) else {}
    outcome = _Outcome(set(), set())
    cleaned = _resolve(prepared.scope, given, {}, dict(context or {}), outcome, "")
    instance = _with_unknown(prepared.scope, cleaned, given)
    errors: dict[str, tuple[int, str]] = {}
    if not isinstance(data, Mapping):
        errors[""] = (0, "The answers must be sent as a JSON object")
    for path, message in _hygiene(cleaned, prepared):
        _keep(errors, path, 1, message)
    for error in prepared.validator.iter_errors(instance):
        for path, rank, message in _mapped(error, prepared):
            _keep(errors, path, rank, message)
    for path in sorted(outcome.required):
        if _unanswered(_read(cleaned, path), _definition(path, prepared)):
            _keep(errors, path, 0, required_message(_definition(path, prepared)))
    for path, message in _bounds(cleaned, outcome.visible, prepared):
        _keep(errors, path, 3, message)
    return Submission(
        cleaned,
        tuple(FieldError(p, errors[p][1]) for p in sorted(errors, key=_sorter(prepared))),
        frozenset(outcome.visible),
        frozenset(outcome.required),
    )


def validator_of(form: Form) -> Draft202012Validator:
    """Return the (cached) validator of a form's compiled schema, format checks on."""
    return _prepare(form).validator


# Preparing a form once ----------------------------------------------------------------------


def _prepare(form: Form) -> _Prepared:
    prepared = _prepared.get(form)
    if prepared is None:
        fields = {f["key"]: f for f in form.fields}
        prepared = _prepared[form] = _Prepared(
            _scope(form.fields, Inspector()),
            validator_for(compile_schema(form)),
            fields,
            {key: index for index, key in enumerate(fields)},
        )
    return prepared


def _scope(fields: Sequence[Mapping[str, Any]], inspect: Inspect) -> _Scope:
    values = [f for f in fields if holds_value(f)]
    reads = {f["key"]: tuple(dependencies(f, inspect)) for f in values}
    return _Scope(
        _in_dependency_order(values, inspect),
        frozenset(f["key"] for f in values),
        {key: names for key, names in reads.items() if names},
        {f["key"]: compile_condition(f["visible_if"]) for f in values if "visible_if" in f},
        {f["key"]: compile_condition(f["required_if"]) for f in values if "required_if" in f},
        {f["key"]: compile_expression(f["expr"]) for f in values if f["type"] == "calculated"},
        {f["key"]: _scope(f["columns"], inspect) for f in values if f["type"] == "table"},
    )


def _in_dependency_order(
    fields: Sequence[Mapping[str, Any]], inspect: Inspect
) -> tuple[Mapping[str, Any], ...]:
    """Order fields so each comes after the fields it reads; form order otherwise.

    A depth-first walk with its own stack: a chain of thousands of fields, each reading
    the one before, is no deeper for it.
    """
    by_key = {f["key"]: f for f in fields}
    needs = {
        key: [d for d in _reads(f, inspect) if d in by_key and d != key]
        for key, f in by_key.items()
    }
    done: dict[str, Mapping[str, Any]] = {}
    visiting: set[str] = set()
    for root in by_key:
        if root in done:
            continue
        visiting.add(root)
        walks = [(root, iter(needs[root]))]
        while walks:
            key, pending = walks[-1]
            for other in pending:
                # A field already being visited closes a circle (reported by the checker):
                # the fields in it keep their form order.
                if other not in done and other not in visiting:
                    visiting.add(other)
                    walks.append((other, iter(needs[other])))
                    break
            else:
                walks.pop()
                visiting.discard(key)
                done[key] = by_key[key]
    return tuple(done.values())


def _reads(field: Mapping[str, Any], inspect: Inspect) -> list[str]:
    found = list(dependencies(field, inspect))
    for column in field.get("columns", ()) if field["type"] == "table" else ():
        found.extend(dependencies(column, inspect))
    return found


# Cleaning -----------------------------------------------------------------------------------


def _resolve(
    scope: _Scope,
    given: Mapping[str, Any],
    outer: Mapping[str, Any],
    extra: Mapping[str, Any],
    outcome: _Outcome,
    prefix: str,
) -> dict[str, Any]:
    """Return the cleaned values of one scope, noting which fields are shown and required."""
    data = {key: value for key, value in given.items() if key in scope.keys and not _empty(value)}
    for field in scope.order:
        key = field["key"]
        if field["type"] == "calculated":
            data.pop(key, None)
        elif key not in data and "default" in field and not field.get("required"):
            data[key] = copy.deepcopy(field["default"])
        elif field.get("integer") is True and _whole_float(data.get(key)):
            data[key] = int(data[key])  # 1e2 or 100.0 for a whole-number field is kept as 100
    view: Mapping[str, Any] = ChainMap(data, cast("dict[str, Any]", outer)) if outer else data
    for field in scope.order:
        key = field["key"]
        context = _context(scope.reads.get(key, ()), view, extra)
        rule = scope.visible_if.get(key)
        if rule is not None and not rule.holds(context):
            data.pop(key, None)
            continue
        outcome.visible.add(prefix + key)
        demand = scope.required_if.get(key)
        if field.get("required") is True or (demand is not None and demand.holds(context)):
            outcome.required.add(prefix + key)
        if key in scope.exprs:
            _calculate(data, key, scope.exprs[key], context)
        elif key in scope.tables and isinstance(data.get(key), list):
            data[key] = _rows(scope.tables[key], data[key], view, extra, outcome, prefix + key)
    return data


def _context(
    names: Sequence[str], view: Mapping[str, Any], extra: Mapping[str, Any]
) -> dict[str, Any]:
    """Return what a field's rules and calculation see: the answers they read, by name.

    Expressions see the names they use and `data` (all the answers, as a view, not a
    copy); structured rules read `data` only. So each field costs what its rules read.
    """
    context = {name: view[name] for name in names if name in view}
    context.update(extra)
    context["data"] = view
    return context


def _rows(
    scope: _Scope,
    rows: list[Any],
    form: Mapping[str, Any],
    extra: Mapping[str, Any],
    outcome: _Outcome,
    path: str,
) -> list[Any]:
    return [
        _resolve(scope, row, form, extra, outcome, f"{path}.{index}.")
        if isinstance(row, Mapping)
        else row
        for index, row in enumerate(rows)
    ]


def _with_unknown(scope: _Scope, cleaned: dict[str, Any], given: Mapping[str, Any]) -> Any:
    """Put back the keys that are no field of the form, or no column, for the schema to name."""
    instance = {**cleaned, **{k: v for k, v in given.items() if k not in scope.keys}}
    for key, columns in scope.tables.items():
        rows, sent = cleaned.get(key), given.get(key)
        if isinstance(rows, list) and isinstance(sent, list):
            instance[key] = [
                _with_unknown(columns, row, original) if isinstance(row, dict) else row
                for row, original in zip(rows, sent, strict=True)
            ]
    return instance


def _calculate(data: dict[str, Any], key: str, expr: Evaluator, context: Mapping[str, Any]) -> None:
    try:
        value = expr(context)
    except ExpressionError:
        value = None  # a calculation that fails on these answers has no value
    if value is None or not is_finite(value):
        data.pop(key, None)  # e.g. 1e300 * 1e300: infinity is no number to keep
    else:
        data[key] = value


def _whole_float(value: Any) -> bool:
    """A float that is a whole number a float holds exactly (1e25 stays as sent: the
    integer it would make is no number the database keeps)."""
    return isinstance(value, float) and value.is_integer() and abs(value) <= 2**53


def _empty(value: Any) -> bool:
    """Tell whether an answer says nothing: none, blank text (only spaces), an empty list.

    The form page's answers come trimmed (`forms.coercion`); the API's and the intake's are
    read the same way here, so a required summary of three spaces is unanswered everywhere.
    """
    return value is None or value == [] or (isinstance(value, str) and not value.strip())


def _read(data: Mapping[str, Any], path: str) -> Any:
    value: Any = data
    for part in path.split("."):
        if isinstance(value, Mapping):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


# Errors -------------------------------------------------------------------------------------


def _unanswered(value: Any, field: Mapping[str, Any] | None) -> bool:
    """Tell whether a required field is left unanswered (a box must be ticked, not only sent)."""
    if value is None:
        return True
    return field is not None and field["type"] == "checkbox" and value is not True


def _keep(errors: dict[str, tuple[int, str]], path: str, rank: int, message: str) -> None:
    """Keep one error per field: the most useful (lowest rank; first found among equals)."""
    if path not in errors or rank < errors[path][0]:
        errors[path] = (rank, message)


def _mapped(error: ValidationError, prepared: _Prepared) -> Iterable[tuple[str, int, str]]:
    """Turn a jsonschema error into (field path, rank, message), at the field it is about."""
    path = list(error.absolute_path)
    instance = error.instance
    if error.validator == "required" and isinstance(instance, Mapping):
        # jsonschema reports a missing property on the object that lacks it.
        for name in error.validator_value:
            if name not in instance:
                where = _field_path([*path, name], prepared)
                yield where, 0, required_message(_definition(where, prepared))
        return
    if error.validator == "additionalProperties" and isinstance(instance, Mapping):
        declared = error.schema.get("properties", {})
        for name in instance:
            if name not in declared:
                # A name no field could have ("", "a.b") is reported on the object holding it.
                named = isinstance(name, str) and _FIELD_KEY.fullmatch(name)
                where = _field_path([*path, name] if named else path, prepared)
                owner = prepared.fields.get(str(path[0])) if path else None
                noun = (
                    "field of this form" if owner is None
                    else "part of a file" if owner["type"] == "file"
                    else "column of this table"
                )  # fmt: skip
                yield where, 1, f"'{name}' is not a {noun}"
        return
    where = _field_path(path, prepared)
    yield (
        where,
        ERROR_RANK.get(error.validator, 3),
        message_for(error, _definition(where, prepared)),
    )


_FIELD_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


def _field_path(path: Sequence[Any], prepared: _Prepared) -> str:
    """Return the dotted path of the field (or table cell) a schema path falls in."""
    if not path:
        return ""
    field = prepared.fields.get(str(path[0]))
    keep = 3 if field is not None and field["type"] == "table" else 1
    return ".".join(str(part) for part in path[:keep])


def _definition(path: str, prepared: _Prepared) -> Mapping[str, Any] | None:
    parts = path.split(".")
    field = prepared.fields.get(parts[0])
    if field is not None and field["type"] == "table" and len(parts) == 3:
        return next((c for c in field["columns"] if c.get("key") == parts[2]), None)
    return field


def _sorter(prepared: _Prepared) -> Any:
    def position(path: str) -> tuple[int, str]:
        top = path.split(".")[0]
        return (prepared.position.get(top, len(prepared.position)) if path else -1), path

    return position


def _bounds(
    cleaned: Mapping[str, Any], visible: set[str], prepared: _Prepared
) -> Iterable[tuple[str, str]]:
    """Check earliest and latest dates and moments, which JSON Schema cannot compare."""
    for key, field in prepared.fields.items():
        if field["type"] in ("date", "datetime") and key in visible:
            message = moment_bound(field, cleaned.get(key))
            if message is not None:
                yield key, message


def _hygiene(cleaned: Mapping[str, Any], prepared: _Prepared) -> Iterable[tuple[str, str]]:
    """Find what no answer may hold (`forms.hygiene`), each at the field or cell it is in."""
    for key, value in cleaned.items():
        field = prepared.fields.get(key)
        if field is None or field["type"] == "calculated":
            continue  # a calculation is the server's own
        for path, message in answer_problems(field, value):
            yield _field_path([key, *path], prepared), message
