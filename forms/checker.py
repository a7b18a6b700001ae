"""Static checks of form documents: schema, keys, rules, limits, and fields never shown.

Every check is linear in the size of the document (see `forms.rules`), and none recurses
deeper than the document itself, which may nest at most `MAX_NESTING` levels: a form of
thousands of fields checks in well under a second, before any write transaction begins.
"""

from __future__ import annotations

import math
import re
from collections import ChainMap
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, cast

from engine.core.checker.words import wrong_kind
from engine.core.conditions import comparisons, expressions
from engine.core.errors import Problem
from engine.core.expressions import CONTEXT_NAMES
from engine.core.fields import TYPE_WORDS, literal_fits, type_of_literal
from forms.answers import as_text
from forms.definition import RULES, VALUE_TYPE_OF, all_fields, holds_value, option_values
from forms.limits import limit_problems
from forms.rules import Inspect, Inspector, Placed, rule_problems
from forms.validator import document_problems

#: How deeply a form document may nest objects and lists. A real form nests a dozen levels
#: (a table's column's rule of `all` of `any` of `not`); the cap keeps every check, the
#: schema's included, far from Python's recursion limit.
MAX_NESTING = 64

#: The fields a rule may read, by key: a table's columns, then the form's fields.
Known = Mapping[str, Mapping[str, Any]]

#: What the schema says about a field without a label, and what a process owner should read.
_MISSING = "this is required here but missing"
_NO_LABEL = "every field needs a label: the words shown next to it"

#: Where an option's value is: a bare option, or the `value` of a pair.
_OPTION_VALUE = re.compile(r"/options/\d+(/value)?$")


def check_form(doc: Any) -> list[Problem]:
    """Return every problem of a form document; an empty list means it is sound."""
    problems = _shape(doc) or [_plain(p, doc) for p in document_problems(doc)]
    if problems:
        return problems
    placed = [(f"{ptr}/{i}", f) for ptr, fields in all_fields(doc) for i, f in enumerate(fields)]
    inspect = Inspector()
    problems.extend(_keys(placed))
    problems.extend(_fields(placed, {}, inspect))
    problems.extend(limit_problems(placed))
    problems.extend(rule_problems(placed, inspect))
    return sorted(problems)


def _shape(doc: Any) -> list[Problem]:
    """Report the first place nested too deeply, or holding a number that is not finite."""
    stack: list[tuple[Any, str, int]] = [(doc, "", 0)]
    while stack:
        value, pointer, depth = stack.pop()
        if isinstance(value, float) and not math.isfinite(value):
            return [Problem(pointer, "must be a finite number, not NaN or Infinity")]
        if isinstance(value, Mapping):
            children = [(_step(pointer, key), item) for key, item in value.items()]
        elif isinstance(value, list):
            children = [(f"{pointer}/{index}", item) for index, item in enumerate(value)]
        else:
            continue
        if depth >= MAX_NESTING:
            return [
                Problem(
                    pointer,
                    f"this is nested too deeply (more than {MAX_NESTING} levels); simplify it",
                )
            ]
        stack.extend((item, where, depth + 1) for where, item in reversed(children))
    return []


def _step(pointer: str, key: Any) -> str:
    return f"{pointer}/" + str(key).replace("~", "~0").replace("/", "~1")


def _plain(problem: Problem, doc: Any) -> Problem:
    if problem.pointer.endswith("/label") and problem.message == _MISSING:
        return Problem(problem.pointer, _NO_LABEL)
    if _OPTION_VALUE.search(problem.pointer):
        value = _at(doc, problem.pointer)
        if isinstance(value, bool):
            # The schema would only say "must be a text or a number"; the newcomer who writes
            # true needs to hear that a yes-or-no question has a field type of its own.
            return Problem(
                problem.pointer,
                f"an option cannot be {as_text(value)}: for a yes-or-no question use a "
                'checkbox field, or give options as texts such as "yes" and "no"',
            )
    return problem


def _at(doc: Any, pointer: str) -> Any:
    """Return the value a JSON Pointer leads to, or None where it names a missing property."""
    value = doc
    for part in pointer.split("/")[1:]:
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        elif isinstance(value, Mapping) and part in value:
            value = value[part]
        else:
            return None
    return value


def _fields(placed: Sequence[Placed], outer: Known, inspect: Inspect) -> Iterator[Problem]:
    """Check rules, options and calculations; a table's columns also see the form's fields."""
    # A view, not a copy: each table's columns see the form without copying its keys.
    own: dict[str, Mapping[str, Any]] = {}
    for _, field in placed:  # a key used twice is reported at the second: the first stands
        if holds_value(field):
            own.setdefault(field["key"], field)
    known: Known = ChainMap(own, cast("dict[str, Mapping[str, Any]]", outer))
    for here, field in placed:
        yield from _rules(field, here, known, inspect)
        yield from _options(field, here)
        if field["type"] == "calculated":
            yield from _expression(field["expr"], f"{here}/expr", known, inspect)
        if field["type"] == "table":
            yield from _fields(_columns(field, here), known, inspect)


def _columns(table: Mapping[str, Any], here: str) -> list[Placed]:
    return [(f"{here}/columns/{i}", column) for i, column in enumerate(table["columns"])]


def _keys(placed: Sequence[Placed]) -> Iterator[Problem]:
    seen: dict[str, Placed] = {}
    for here, field in placed:
        key = field["key"]
        if key in CONTEXT_NAMES:
            yield Problem(f"{here}/key", f"'{key}' is a reserved name; pick another key")
        if key in seen:
            first, other = seen[key]
            yield Problem(
                f"{here}/key",
                f"the key '{key}' is already used by the field '{other['label']}' "
                f"({first}); each field needs its own key",
            )
        seen.setdefault(key, (here, field))
        if field["type"] == "table":
            yield from _keys(_columns(field, here))


def _rules(
    field: Mapping[str, Any], pointer: str, known: Known, inspect: Inspect
) -> Iterator[Problem]:
    for rule in RULES:
        if rule not in field:
            continue
        for where, comparison in comparisons(field[rule], f"{pointer}/{rule}"):
            if comparison["field"] not in known:
                yield Problem(
                    f"{where}/field",
                    f"the rule uses '{comparison['field']}', which is not a field of this form",
                )
                continue
            for message in dict.fromkeys(_never(known[comparison["field"]], comparison)):
                yield Problem(f"{where}/value", message)
        for where, source in expressions(field[rule], f"{pointer}/{rule}"):
            yield from _expression(source, where, known, inspect)


def _never(field: Mapping[str, Any], comparison: Mapping[str, Any]) -> Iterator[str]:
    """Say why a rule's comparison can never hold, in the words the workflow checker uses:
    a checkbox compared with the text "true" keeps the field it shows hidden for good."""
    op, key = comparison["op"], field["key"]
    kind = VALUE_TYPE_OF.get(field["type"], "any")
    if field["type"] == "hidden":  # it holds what its default is (`compiler._hidden`)
        kind = type_of_literal(field["default"]) if field.get("default") is not None else "any"
    if op in ("empty", "not_empty") or kind in ("list", "table", "any"):
        return
    if option_values(field) is not None:
        return  # a value no option has: `forms.rules` says which field is never shown
    value = comparison.get("value")
    if op == "contains":
        if kind in ("number", "boolean"):
            yield f"'{key}' holds {TYPE_WORDS[kind]}, so 'contains' cannot look inside it"
        return
    for item in value if isinstance(value, list) and op in ("in", "not_in") else [value]:
        if item is not None and not literal_fits(kind, item):
            yield wrong_kind(key, kind, item) + (
                "; write true or false" if kind == "boolean" else ""
            )


def _expression(source: str, pointer: str, known: Known, inspect: Inspect) -> Iterator[Problem]:
    inspection = inspect(source)
    for message in inspection.problems:
        yield Problem(pointer, message)
    for name in sorted(name for name in inspection.fields if name not in known):
        yield Problem(pointer, f"the expression uses '{name}', which this form does not have")


def _options(field: Mapping[str, Any], pointer: str) -> Iterator[Problem]:
    """Report an option listed twice: as the form sends it, 1 is 1.0 and the text "1" too."""
    values = option_values(field)
    if values is None:
        return
    seen: dict[str, Any] = {}
    for index, value in enumerate(values):
        sent = as_text(value)
        if sent not in seen:
            seen[sent] = value
            continue
        first = seen[sent]
        twice = f"the option {value!r} is listed twice"
        if isinstance(first, str) != isinstance(value, str):
            twice += (
                f": the form sends the text '{sent}' and the number {sent} alike, so they are "
                "one option; keep one"
            )
        elif repr(first) != repr(value):
            twice += f": {value!r} and {first!r} are the same number"
        yield Problem(f"{pointer}/options/{index}", twice)
