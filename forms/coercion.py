"""Turn an HTML form post (name -> list of strings) into the typed answers of a form.

Coercion never refuses anything: what cannot be read as the field's type is kept as the
text that was sent, so validation reports it in words ("Enter a number").
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from forms.definition import Form, holds_value, option_values

#: What a ticked checkbox may send.
TICKED = frozenset({"on", "true", "1", "yes"})

_MISSING: Any = object()
#: A number as people type it: ASCII digits, no `_` between them (Python's float() takes
#: "1_000" and other scripts' digits; a form does not).
_INTEGER = re.compile(r"[+-]?[0-9]{1,15}")
_DECIMAL = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]{1,4})?")
#: A table cell's name; a row index of more digits than any table has rows is no cell.
_CELL = re.compile(r"(?P<row>[0-9]{1,6})\.(?P<column>[A-Za-z][A-Za-z0-9_]*)")

#: Fields whose value a post never carries: files arrive as uploads, calculations are redone.
NOT_POSTED = frozenset({"file", "calculated"})


def coerce_post(
    form: Form, post: Mapping[str, Sequence[str]], *, tz: str = "UTC"
) -> dict[str, Any]:
    """Return the typed answers in a post; `tz` is the zone of dates and times without one."""
    zone = ZoneInfo(tz)
    data: dict[str, Any] = {}
    for field in form.fields:
        key = field["key"]
        if field["type"] in NOT_POSTED:
            continue
        if field["type"] == "table":
            value = _rows(field, post, zone)
        else:
            value = coerce_value(field, post.get(key, ()), zone)
        if value is not _MISSING:
            data[key] = value
    return data


def coerce_value(field: Mapping[str, Any], values: Sequence[str], zone: ZoneInfo) -> Any:
    """Coerce the strings posted for one field; return `_MISSING` when nothing was given."""
    kind = field["type"]
    if kind == "checkbox":
        return any(value.strip().lower() in TICKED for value in values)
    if kind == "multiselect":
        chosen = [_option(field, value.strip()) for value in values if value.strip()]
        return chosen or _MISSING
    text = values[0] if values else ""
    if kind != "textarea":
        text = text.strip()
    if not text.strip():
        return _MISSING
    if kind in ("select", "radio"):
        return _option(field, text)
    if kind == "number":
        return _number(text)
    if kind == "datetime":
        return _moment(text, zone)
    if kind == "hidden":
        return _hidden(field, text)
    return text


def _option(field: Mapping[str, Any], text: str) -> Any:
    """Return the option whose value reads as this text: "2" and "2.0" are the number 2."""
    number = _number(text)
    for value in option_values(field) or ():
        if isinstance(value, str):
            if value == text:
                return value
        elif not isinstance(number, str) and not isinstance(value, bool) and value == number:
            return value
    return text


def _number(text: str) -> Any:
    """A number as typed; text the field's check then refuses ("Enter a number") when it is
    none, or none a number can hold (a 5,000-digit integer, 1e999)."""
    if _INTEGER.fullmatch(text):
        return int(text)
    if not _DECIMAL.fullmatch(text) or len(text) > MAX_NUMBER_TEXT:
        return text
    number = float(text)
    return number if math.isfinite(number) else text


#: The longest text read as a number: more digits than a double keeps mean nothing more.
MAX_NUMBER_TEXT = 40


def _moment(text: str, zone: ZoneInfo) -> str:
    """Read `datetime-local` input ("2026-03-01T14:30") as an RFC 3339 moment in `zone`."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return text
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.isoformat(timespec="seconds")


def _hidden(field: Mapping[str, Any], text: str) -> Any:
    default = field.get("default")
    if isinstance(default, bool):
        return text.lower() in TICKED
    if isinstance(default, int | float):
        return _number(text)
    return text


def _rows(table: Mapping[str, Any], post: Mapping[str, Sequence[str]], zone: ZoneInfo) -> Any:
    """Gather cells named `items.0.qty` into rows; rows left wholly empty are dropped."""
    prefix = table["key"] + "."
    columns = {c["key"]: c for c in table["columns"] if holds_value(c)}
    cells: dict[int, dict[str, Sequence[str]]] = {}
    for name, values in post.items():
        found = _CELL.fullmatch(name[len(prefix) :]) if name.startswith(prefix) else None
        if found and found["column"] in columns:
            cells.setdefault(int(found["row"]), {})[found["column"]] = values
    rows = []
    for index in sorted(cells):
        row = {}
        for key, column in columns.items():
            if column["type"] in NOT_POSTED:
                continue
            value = coerce_value(column, cells[index].get(key, ()), zone)
            if value is not _MISSING:
                row[key] = value
        if any(value is not False for value in row.values()):
            rows.append(row)
    return rows or _MISSING
