"""Reading JSON text the way a document's author means it: every key once, finite numbers.

Python's `json.loads` keeps the last of two equal keys and drops the first without a
word: a step copied and not renamed silently replaces the one before it. It also takes
`NaN` and `Infinity`, which JSON does not have. `load_json` reads the text and reports
each of these at its JSON Pointer, for documents read from files, uploads and request
bodies alike.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from engine.core.errors import Problem

__all__ = ["load_json", "pointer_to"]

#: What `Infinity`, `-Infinity` and `NaN` are called when they are refused.
_NOT_FINITE = "a number JSON does not have"


class _NotFinite(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def load_json(text: str) -> tuple[Any, list[Problem]]:
    """Parse JSON text; return the value (None if unreadable) and the problems found in it.

    The value is what `json.loads` gives (a later key wins), so a caller that only
    warns about duplicate keys can still use it; text that is not JSON at all gives
    None and one problem at `/`.
    """
    # Objects with a key given twice, by id; each is kept alive here so that its id
    # cannot pass to another object when the value holding it is dropped (a later key).
    twice: dict[int, tuple[dict[str, Any], list[str]]] = {}

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in items:
            if key in result:
                twice.setdefault(id(result), (result, []))[1].append(key)
            result[key] = value
        return result

    def constant(name: str) -> Any:
        raise _NotFinite(name)

    try:
        value = json.loads(text, object_pairs_hook=pairs, parse_constant=constant)
    except json.JSONDecodeError as exc:
        return None, [Problem("", f"this is not valid JSON ({_decode_words(exc)})")]
    except _NotFinite as exc:
        return None, [Problem("", f"this is not valid JSON: {exc.name} is {_NOT_FINITE}")]
    except RecursionError:
        return None, [Problem("", "this is not valid JSON: it is nested too deeply")]
    if not twice:
        return value, []
    problems = [
        Problem(pointer, f"'{key}' is given twice in this object; only the last one would count")
        for pointer, node in _objects(value, "")
        if id(node) in twice and twice[id(node)][0] is node
        for key in dict.fromkeys(twice[id(node)][1])
    ]
    return value, sorted(problems)


def _decode_words(exc: json.JSONDecodeError) -> str:
    """Say where text stops being JSON, and why in words for what people write by habit."""
    text, pos = exc.doc, exc.pos
    before = text[:pos].rstrip()
    if before.endswith(",") and text[pos : pos + 1] in ("}", "]"):
        comma = len(before) - 1
        return f"{_place(text, comma)}: JSON allows no comma after the last item; remove it"
    if text[pos : pos + 2] in ("//", "/*"):
        return f"{_place(text, pos)}: JSON has no comments; remove the comment"
    if text[pos : pos + 1] == "'":
        return f"{_place(text, pos)}: JSON writes names and texts in double quotes, not single"
    return f"line {exc.lineno}, column {exc.colno}: {exc.msg}"


def _place(text: str, pos: int) -> str:
    """Say where a character is, as `json` does: line and column, counted from 1."""
    line = text.count("\n", 0, pos) + 1
    column = pos - text.rfind("\n", 0, pos)
    return f"line {line}, column {column}"


def _objects(value: Any, pointer: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield every object in a JSON value with its pointer, without recursing in Python."""
    todo = [(pointer, value)]
    while todo:
        here, node = todo.pop()
        if isinstance(node, dict):
            yield here, node
            todo.extend((f"{here}/{pointer_to(key)}", item) for key, item in node.items())
        elif isinstance(node, list):
            todo.extend((f"{here}/{index}", item) for index, item in enumerate(node))


def pointer_to(key: str) -> str:
    """Escape one key for a JSON Pointer (`a/b` -> `a~1b`)."""
    return key.replace("~", "~0").replace("/", "~1")
