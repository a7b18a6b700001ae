"""Forms no input can hurt: catastrophic patterns on long answers, and a 6,000-field form.

Two sets of figures, each the median of several rounds, printed as one JSON line with the
commit they were measured on:

- `pattern_<name>_ms`: a pattern that takes a backtracking engine exponential time, on an
  answer of `--pattern-kb` KB that almost matches, matched with RE2 as validation does
  (`forms.patterns.matches`; the pattern compiled once, as the cache keeps it);
- for `tests/unit/forms/large.py`'s form of `--fields` fields (a realistic mix, with a chain
  of follow-on questions): `check_ms` (`forms.checker.check_form`, what save and publish
  run), `schema_only_ms` (its schema validation with `jsonschema` alone, the part the
  `jsonschema-rs` first pass saves), `compile_ms` (`compile_schema` of a fresh `Form`),
  `first_validate_ms` (a sound submission on a fresh `Form`: compiling its rules and its
  validator included) and `validate_ms` (the next submission).

    python bench/forms.py [--fields 6000] [--rounds 5] [--pattern-kb 100]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.core.schema import schema_problems  # noqa: E402
from forms.checker import check_form  # noqa: E402
from forms.compiler import compile_schema  # noqa: E402
from forms.definition import Form  # noqa: E402
from forms.patterns import compiled, matches  # noqa: E402
from forms.validation import validate  # noqa: E402
from forms.validator import document_validator  # noqa: E402
from tests.unit.forms.large import large_answers, large_form  # noqa: E402

#: Name -> (pattern, how to build an answer of n characters that almost matches it).
CATASTROPHIC: dict[str, tuple[str, Callable[[int], str]]] = {
    "nested_plus": (r"^(a+)+$", lambda n: "a" * (n - 1) + "!"),
    "xx_plus_y": (r"(x+x+)+y", lambda n: "x" * n),
    "words": (r"^(\w+\s?)*$", lambda n: "word " * (n // 5 - 1) + "word!"),
    "alternation": (r"^(a|aa)+$", lambda n: "a" * (n - 1) + "b"),
}


def commit() -> dict[str, Any]:
    """Return the commit measured, and whether the working tree had changes on top of it."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip()

    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain"))}


def ms(action: Callable[[], Any]) -> float:
    began = time.perf_counter()
    action()
    return (time.perf_counter() - began) * 1000


def pattern_round(length: int) -> dict[str, float]:
    figures = {}
    for name, (pattern, answer) in CATASTROPHIC.items():
        text = answer(length)
        compiled(pattern)
        figures[f"pattern_{name}_ms"] = ms(lambda p=pattern, t=text: matches(p, t))
    return figures


def form_round(doc: dict[str, Any], answers: dict[str, Any]) -> dict[str, float]:
    form = Form.from_document(doc)
    fresh = Form.from_document(doc)
    figures = {
        "check_ms": ms(lambda: check_form(doc)),
        "schema_only_ms": ms(lambda: schema_problems(document_validator(), doc)),
        "compile_ms": ms(lambda: compile_schema(form)),
        "first_validate_ms": ms(lambda: validate(fresh, answers)),
        "validate_ms": ms(lambda: validate(fresh, answers)),
    }
    problems = check_form(doc)
    errors = validate(fresh, answers).errors
    if problems or errors:
        raise RuntimeError(f"the bench form is not sound: {problems[:3]} {errors[:3]}")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fields", type=int, default=6000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--pattern-kb", type=int, default=100)
    args = parser.parse_args()
    doc = large_form(args.fields)
    answers = large_answers(doc)
    form_round(doc, answers)  # warm: imports, the document validator, compiled expressions
    rounds = [
        {**pattern_round(args.pattern_kb * 1000), **form_round(doc, answers)}
        for _ in range(args.rounds)
    ]
    figures: dict[str, Any] = commit()
    figures.update(fields=args.fields, rounds=args.rounds, pattern_kb=args.pattern_kb)
    figures.update(
        {key: round(statistics.median(r[key] for r in rounds), 3) for key in rounds[0]},
        statistic="median",
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
