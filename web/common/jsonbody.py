"""JSON request bodies, read strictly: every key once, no NaN or infinity, bounded depth.

Flask's own reader takes `NaN` (and reads `1e9999` as infinity), keeps the last of two
equal keys without a word, and lets a deeply nested body reach a `RecursionError` (a
500). This reader refuses all of them with a 400 that says what is wrong, wherever a
view asks for `request.get_json()` (the designer's API included); `web.api.input.body`
reads the REST API's bodies with it.
Values that are JSON but cannot be kept (an integer too large to store, a control
character) are left to the checks of each field, which say where they are.
"""

from __future__ import annotations

import json
import math
from typing import Any, NoReturn

from flask import Flask
from flask.json.provider import DefaultJSONProvider

#: Deepest nesting of objects and lists in a request body (documents included).
MAX_BODY_DEPTH = 64
#: Most digits of a whole number: far past any value a field keeps (those stop at 2**63),
#: well short of the 4,300 past which Python will not read one.
MAX_INT_DIGITS = 400


class BadJson(ValueError):
    """A request body that is not JSON we accept; the message says where and why."""


def read_json(text: str | bytes) -> Any:
    """Parse a request body strictly; raise `BadJson` saying where and why it is refused."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise BadJson("the body is not text in UTF-8") from None
    try:
        value = json.loads(
            text,
            object_pairs_hook=_once_each,
            parse_constant=_no_constant,
            parse_float=_finite,
            parse_int=_whole,
        )
    except json.JSONDecodeError as error:
        raise BadJson(str(error)) from None
    except RecursionError:
        raise BadJson(f"it is nested more than {MAX_BODY_DEPTH} levels deep") from None
    if _deeper_than(value, MAX_BODY_DEPTH):
        raise BadJson(f"it is nested more than {MAX_BODY_DEPTH} levels deep")
    return value


def _once_each(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise BadJson(f"'{key}' is given twice in one object; give each name once")
        found[key] = value
    return found


def _no_constant(name: str) -> NoReturn:
    raise BadJson(f"{name} is not a JSON number")


def _whole(text: str) -> int:
    # Python refuses to read integers of more than 4,300 digits with a bare ValueError.
    if len(text) > MAX_INT_DIGITS:
        raise BadJson(f"a number of {len(text):,} digits is too long (at most {MAX_INT_DIGITS})")
    return int(text)


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise BadJson(f"{text[:40]} is too large for a number")
    return value


def _deeper_than(value: Any, limit: int) -> bool:
    """Tell whether objects and lists nest more than `limit` deep (without recursing)."""
    todo = [(value, 1)]
    while todo:
        node, depth = todo.pop()
        if isinstance(node, dict | list):
            if depth > limit:
                return True
            items = node.values() if isinstance(node, dict) else node
            todo.extend((item, depth + 1) for item in items if isinstance(item, dict | list))
    return False


class StrictJSONProvider(DefaultJSONProvider):
    """Flask's JSON, but bodies are read with `read_json`."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return read_json(s)


def init_app(app: Flask) -> None:
    app.json = StrictJSONProvider(app)
