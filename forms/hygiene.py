"""Input hygiene: what no answer may hold, whatever its field says.

Text holds no NUL or other control character (C0 or C1; a tab is allowed), and a line break
only in a textarea; no lone surrogate (half of a UTF-16 pair, which no encoding can store).
Numbers are finite: Python's `json` reads `NaN`, `Infinity` and `1e9999` (as infinity), and
JSON Schema's `number` takes them, but no comparison, sum or store treats them as numbers.
These hold anywhere in an answer: a table's cells, a file reference, a list.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from typing import Any

from engine.core.values import keepable

#: Characters no text may hold: C0 controls but tab, line feed and carriage return; DEL and
#: the C1 controls; lone surrogates.
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")

#: Line breaks: only a textarea holds several lines.
_LINE_BREAK = re.compile("[\n\r\u2028\u2029]")
#: A run of line breaks with the spaces around it, as one line puts it: one space.
_LINE_RUN = re.compile("\\s*[\n\r\u2028\u2029][\\s\n\r\u2028\u2029]*")

NOT_FINITE = "Enter a finite number (NaN and Infinity are not numbers here)"
ONE_LINE = "This text holds a line break; keep it on one line"

#: Where in an answer a problem is: () for the whole answer, (row,) or (row, column) in a table.
Path = tuple[int | str, ...]


def answer_problems(field: Mapping[str, Any], value: Any) -> Iterator[tuple[Path, str]]:
    """Yield (place in the answer, message) for what a field's answer must not hold.

    A table is read cell by cell, each by its column's rules (a textarea column takes
    line breaks); any other answer yields its first problem only, for the whole answer.
    """
    if field["type"] == "table" and isinstance(value, list):
        columns = {c["key"]: c for c in field.get("columns", ())}
        for index, row in enumerate(value):
            if not isinstance(row, Mapping):
                problem = first_problem(row, line_breaks=False)
                if problem is not None:
                    yield (index,), problem
                continue
            for key, cell in row.items():
                column = columns.get(key)
                if column is None or column["type"] == "calculated":
                    continue  # an unknown column is refused as such; a calculation is ours
                for place, message in answer_problems(column, cell):
                    yield (index, key, *place), message
        return
    problem = first_problem(value, line_breaks=field["type"] == "textarea")
    if problem is not None:
        yield (), problem


def text_problem(text: str, *, line_breaks: bool) -> str | None:
    """Say why a text cannot be kept, in the requester's words; None when it can."""
    bad = _FORBIDDEN.search(text)
    if bad is not None:
        code = ord(bad.group())
        if 0xD800 <= code <= 0xDFFF:
            return f"This text holds a broken character (U+{code:04X}); remove it"
        return f"This text holds a control character (U+{code:04X}); remove it"
    if not line_breaks and _LINE_BREAK.search(text):
        return ONE_LINE
    return None


def keepable_text(text: str, *, line_breaks: bool) -> str:
    """Return a text with what `text_problem` refuses taken out: for text a machine wrote.

    Control characters go, a lone surrogate becomes U+FFFD, and without `line_breaks` each
    run of line breaks and the spaces around them becomes one space. People are told what
    to fix instead (`text_problem`); a monitoring tool's multi-line annotation is not
    refused for it.
    """
    text = keepable(text)
    if not line_breaks:
        text = _LINE_RUN.sub(" ", text)
    return text.strip()


def first_problem(value: Any, *, line_breaks: bool) -> str | None:
    """Say what is wrong with the first bad text or number in a value (walked without recursion)."""
    stack = [value]
    while stack:
        item = stack.pop()
        problem = _problem(item, line_breaks)
        if problem is not None:
            return problem
        if isinstance(item, Mapping):
            for key, inner in reversed(list(item.items())):
                stack.extend((inner, key))  # the key is looked at first
        elif isinstance(item, list):
            stack.extend(reversed(item))
    return None


def _problem(value: Any, line_breaks: bool) -> str | None:
    if isinstance(value, str):
        return text_problem(value, line_breaks=line_breaks)
    if isinstance(value, float) and not math.isfinite(value):
        return NOT_FINITE
    return None


def is_finite(value: Any) -> bool:
    """Tell whether a value holds no NaN or infinity anywhere (walked without recursion)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return False
        if isinstance(item, Mapping):
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return True
