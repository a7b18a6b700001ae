"""The JSON values Flowdesk keeps: plain, finite, bounded, with text free of control characters.

Every door (the web forms, the REST API, the command line) hands data to the service
layer, which checks it here before anything is stored, so a value that no database
keeps faithfully, or that would take the service down, is refused with the place it
is at (a JSON Pointer) and the reason, and nothing changes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import Any

from engine.core.errors import Problem

#: Deepest nesting of objects and lists in a document people or scripts send.
MAX_DEPTH = 32
#: Largest whole number kept exactly (JavaScript and JSON parsers agree up to 2**53).
MAX_SAFE_INTEGER = 2**53 - 1

#: Characters no text may hold: NUL and the other C0 and C1 controls but tab, line feed and
#: carriage return (multi-line answers), and lone surrogates (no database stores them).
_FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def pointer_of(path: tuple[str | int, ...]) -> str:
    """Return the JSON Pointer of a path of keys and indexes."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in path)


def value_problems(value: Any, *, max_depth: int = MAX_DEPTH, texts: bool = True) -> list[Problem]:
    """Return what makes a value unfit to keep, each at its pointer; [] when it is fine.

    `texts=False` leaves the characters of texts to be checked later, field by field.
    """
    return list(_walk(value, (), max_depth, texts))


def _walk(value: Any, path: tuple[str | int, ...], room: int, texts: bool) -> Iterator[Problem]:
    if isinstance(value, str):
        found = _FORBIDDEN.search(value) if texts else None
        if found is not None:
            yield Problem(pointer_of(path), f"{control_words(found.group())}; remove it")
        return
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            yield Problem(pointer_of(path), f"{value} is too large a number to keep exactly")
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            yield Problem(pointer_of(path), "this is not a number (NaN or infinity)")
        return
    if isinstance(value, dict | list):
        if room <= 0:
            yield Problem(pointer_of(path), "this is nested too deeply")
            return
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            if isinstance(value, dict):
                if not isinstance(key, str):
                    yield Problem(pointer_of(path), "object keys must be text")
                    return
                found = _FORBIDDEN.search(key) if texts else None
                if found is not None:
                    yield Problem(
                        pointer_of((*path, key)), f"the name {control_words(found.group())}"
                    )
                    return
            yield from _walk(item, (*path, key), room - 1, texts)
        return
    yield Problem(pointer_of(path), f"a {type(value).__name__} is not a JSON value")


def control_words(character: str) -> str:
    """Say which forbidden character a text holds, in words."""
    code = ord(character)
    if code == 0:
        return "this text holds a NUL character"
    if 0xD800 <= code <= 0xDFFF:
        return "this text holds half of a character (a lone surrogate)"
    return f"this text holds a control character (U+{code:04X})"
