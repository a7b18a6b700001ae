"""The hostile corpus, and how the engine checks, compiles and runs each entry.

`hostile_expressions.json` holds expressions, templates and conditions written to hurt:
memory and CPU bombs, ways out of the sandbox, results that are no JSON values, odd
syntax, and bombs hidden in the instance data. Each entry has a `kind` (expression,
template or condition), a `source` (a condition may be a structured condition), a
`note` saying what it attacks, and optional `context` data. Large data is written
short, so the file stays readable:

- `{"$text": "ab", "times": 100000}`: the text repeated (here 200 KB);
- `{"$list": item, "times": 10000}`: a list of that many copies of the item;
- `{"$range": 10000}`: the numbers 0 to 9,999;
- `{"$strings": 10000}`: that many different texts;
- `{"$mapping": 12000}`: a mapping with that many keys;
- `{"$nest": 3000}`: lists nested that deep.

Used by `tests/unit/test_hostile_expressions.py` and `bench/hostile.py`.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.core.conditions import compile_condition, expressions
from engine.core.errors import ExpressionError
from engine.core.expressions import (
    compile_expression,
    compile_template,
    inspect_expression,
    inspect_template,
)

CORPUS: list[dict[str, Any]] = json.loads(
    Path(__file__).with_name("hostile_expressions.json").read_text(encoding="utf-8")
)


def build(value: Any) -> Any:
    """Expand the short forms of large data (see the module docstring)."""
    if isinstance(value, list):
        return [build(item) for item in value]
    if not isinstance(value, dict):
        return value
    if "$text" in value:
        return value["$text"] * value["times"]
    if "$list" in value:
        return [copy.deepcopy(value["$list"]) for _ in range(value["times"])]
    if "$range" in value:
        return list(range(value["$range"]))
    if "$strings" in value:
        return [f"item number {n}" for n in range(value["$strings"])]
    if "$mapping" in value:
        return {f"key {n:06}": n for n in range(value["$mapping"])}
    if "$nest" in value:
        nested: list[Any] = []
        for _ in range(value["$nest"]):
            nested = [nested]
        return nested
    return {key: build(item) for key, item in value.items()}


def context_of(entry: dict[str, Any]) -> dict[str, Any]:
    """Build what the runtime gives expressions: the fields, plus `data` and `instance`."""
    data = build(entry.get("context", {}))
    return {**data, "data": data, "instance": {"number": "INC-000042", "status": "active"}}


def problems_of(entry: dict[str, Any]) -> list[str]:
    """What the checker says about an entry, before anything runs."""
    source = entry["source"]
    if entry["kind"] == "template":
        return list(inspect_template(source).problems)
    if entry["kind"] == "condition":
        return [p for _, part in expressions(source, "") for p in inspect_expression(part).problems]
    return list(inspect_expression(source).problems)


def attempt(entry: dict[str, Any], context: dict[str, Any]) -> tuple[str, float, float]:
    """Check, compile and run an entry as the engine would.

    Returns how it was stopped ("refused" by the checker, "stopped" while running, or
    "ran"), the seconds checking and compiling took, and the seconds running took.
    """
    started = time.perf_counter()
    refused = bool(problems_of(entry))
    try:
        run = compiler(entry)(entry["source"])
    except ExpressionError:
        assert refused, "compiling refused what the checker let through"
        return "refused", time.perf_counter() - started, 0.0
    assert not refused, "the checker refused what compiles"
    checked = time.perf_counter()
    try:
        run(context)
    except ExpressionError:
        return "stopped", checked - started, time.perf_counter() - checked
    return "ran", checked - started, time.perf_counter() - checked


def compiler(entry: dict[str, Any]) -> Callable[[Any], Callable[[dict[str, Any]], Any]]:
    if entry["kind"] == "template":
        return compile_template
    if entry["kind"] == "condition":
        return lambda source: compile_condition(source).decide
    return compile_expression
