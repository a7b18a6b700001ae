"""The JSON values Flowdesk keeps: plain, finite, bounded, with text free of control characters.

Every door (the web forms, the REST API, the command line) hands data to the service
layer, which checks it here before anything is stored, so a value that no database
keeps faithfully, or that would take the service down, is refused with the place it
is at (a JSON Pointer) and the reason, and nothing changes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from typing import Any

from engine.core.errors import Problem

#: Deepest nesting of objects and lists in a document people or scripts send.
MAX_DEPTH = 32
#: Largest whole number kept exactly (JavaScript and JSON parsers agree up to 2**53).
MAX_SAFE_INTEGER = 2**53 - 1
#: The largest id a row can have (a BIGINT): a larger number names no row, and a database
#: driver refuses it rather than finding nothing.
MAX_ID = 2**63 - 1


def is_row_id(value: int) -> bool:
    """Tell whether a whole number can be the id of a row (1 to `MAX_ID`)."""
    return 0 < value <= MAX_ID


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


def map_texts(value: Any, change: Callable[[str], str]) -> Any:
    """A JSON value with each of its texts (not its keys) given by `change`."""
    if isinstance(value, str):
        return change(value)
    if isinstance(value, dict):
        return {key: map_texts(item, change) for key, item in value.items()}
    if isinstance(value, list):
        return [map_texts(item, change) for item in value]
    return value


def keepable(value: Any, *, max_depth: int = MAX_DEPTH) -> Any:
    """Return a copy of a JSON value a machine sent, made fit to keep instead of refused.

    For what is kept as received (a monitoring tool's payload): texts and names lose their
    control characters (a lone surrogate becomes U+FFFD), a whole number past
    `MAX_SAFE_INTEGER` and a NaN or infinity become their text, and what is nested deeper
    than `max_depth` becomes a text saying so. What `value_problems` finds, fixed.
    """
    if isinstance(value, str):
        return _FORBIDDEN.sub(_replaced, value)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value if abs(value) <= MAX_SAFE_INTEGER else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dict | list):
        if max_depth <= 0:
            return "(nested too deeply to keep)"
        if isinstance(value, list):
            return [keepable(item, max_depth=max_depth - 1) for item in value]
        return {
            keepable(str(key)): keepable(item, max_depth=max_depth - 1)
            for key, item in value.items()
        }
    return str(value)


def _replaced(found: re.Match[str]) -> str:
    return "\ufffd" if 0xD800 <= ord(found.group()) <= 0xDFFF else ""
