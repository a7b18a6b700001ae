"""The filter language of the instance list: filters, sorts and cursors, read and checked.

The filter language is read here, once, for every door: the list page's form, the REST
API's query parameters, a saved view's filters and `flowdesk list` all hand this module
the same mapping of filter names to values (or a search line, `parse_search`), and get
the same answers and the same errors, each naming its filter. The language is written
out in `docs/service-desk.md` ("Finding incidents").

A cursor says where the last page ended (its sort value and id); `engine.service.finder`
reads the page after it.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from engine.core.errors import Problem
from engine.service.errors import InvalidInput

#: The filters of the language, in the order they are written out.
FILTERS = (
    "workflow",
    "service",
    "status",
    "step",
    "priority",
    "assignee",
    "group",
    "requester",
    "sla",
    "created",
    "updated",
    "ended",
    "text",
)
#: Columns a list may be sorted by (a leading "-" sorts newest or highest first).
SORTS = ("number", "created", "updated", "priority", "status")
DEFAULT_SORT = "-created"
#: SLA states, with the words people also use for them.
SLA_WORDS = {
    "breached": "breached",
    "due_soon": "due_soon",
    "at_risk": "due_soon",
    "on_track": "on_track",
    "ok": "on_track",
    "none": "none",
}
SLA_KINDS = ("response", "resolution")
#: The most values one filter takes (a comma list), and the longest value.
MAX_VALUES = 20
MAX_VALUE = 80
MAX_TEXT = 200

_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,79}$")
_STEP = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,79}$")
_PLAIN = re.compile(r"^[^\x00-\x1f,]{1,40}$")
_RELATIVE = re.compile(r"^-(\d{1,4})([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class BadFilter(InvalidInput):
    """A filter, sort or cursor that cannot be read; `filter` names it."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"the filter '{name}' {message}", [Problem(f"/{name}", message)])
        self.filter = name


@dataclass(frozen=True, slots=True)
class Range:
    """From `start` (included) to `end` (excluded); either may be open."""

    start: datetime | None
    end: datetime | None


@dataclass(frozen=True, slots=True)
class Query:
    """A list's filters, read and checked; `filters` keeps them as written (for views)."""

    filters: dict[str, str] = field(default_factory=dict)
    workflow: tuple[str, ...] = ()
    service: tuple[str, ...] = ()
    status: tuple[str, ...] = ()
    step: tuple[str, ...] = ()
    priority: tuple[str, ...] = ()
    assignee: tuple[str, ...] = ()
    group: tuple[str, ...] = ()
    requester: tuple[str, ...] = ()
    sla: tuple[tuple[str | None, str], ...] = ()
    created: Range | None = None
    updated: Range | None = None
    ended: Range | None = None
    text: str = ""


# Reading the language ---------------------------------------------------------------------


def parse(raw: Mapping[str, Any], at: datetime) -> Query:
    """Read filters by name (values as written); raise `BadFilter` naming the first bad one.

    Empty values are no filter. Relative dates (`-7d`, `today`) are read against `at`.
    """
    written: dict[str, str] = {}
    for name, value in raw.items():
        if name not in FILTERS:
            known = ", ".join(FILTERS)
            raise BadFilter(name, f"does not exist; the filters are {known}")
        if value is None:
            continue
        if not isinstance(value, str):
            raise BadFilter(name, "must be text")
        if value.strip():
            written[name] = value.strip()
    found: dict[str, Any] = {"filters": written}
    for name, value in written.items():
        found[name] = _READERS[name](name, value, at)
    return Query(**found)


def parse_search(line: str, at: datetime) -> Query:
    """Read a search line: `name:value` words are filters, the other words the text.

    `status:open priority:P1,P2 printer jam` is the same as the filters status=open,
    priority=P1,P2 and text "printer jam". A filter named twice takes both values.
    """
    raw: dict[str, str] = {}
    text: list[str] = []
    for word in _split(line):
        name, colon, value = word.partition(":")
        if colon and name in FILTERS and name != "text":
            raw[name] = f"{raw[name]},{value}" if name in raw else value
        else:
            text.append(word)
    if text:
        raw["text"] = " ".join(text)
    return parse(raw, at)


def combine(*layers: Mapping[str, Any], line: str | None = None, at: datetime) -> Query:
    """Read filters given in layers, each over the one before: a saved view's, then the
    filters of a search line (`parse_search`), then those given one by one.

    An empty value in a later layer leaves the earlier one as it was.
    """
    raw: dict[str, Any] = {}
    for layer in layers[:1]:
        raw.update(layer)
    if line and line.strip():
        raw.update(parse_search(line, at).filters)
    for layer in layers[1:]:
        raw.update({name: value for name, value in layer.items() if value})
    return parse(raw, at)


def _split(line: str) -> list[str]:
    """Split a search line into words; "quoted words" stay one, and a value may be quoted."""
    return [match.group(0).replace('"', "") for match in re.finditer(r'(?:[^\s"]+|"[^"]*")+', line)]


def parse_sort(value: str | None) -> tuple[str, bool]:
    """Read a sort (`updated`, `-priority`): the column and whether it runs downwards."""
    value = (value or DEFAULT_SORT).strip()
    column = value.removeprefix("-")
    if column not in SORTS:
        raise BadFilter("sort", f"cannot be '{value[:40]}'; sort by one of {', '.join(SORTS)}")
    return column, value.startswith("-")


def _values(name: str, value: str, pattern: re.Pattern[str], what: str) -> tuple[str, ...]:
    items = [item.strip() for item in value.split(",") if item.strip()]
    if len(items) > MAX_VALUES:
        raise BadFilter(name, f"takes at most {MAX_VALUES} values")
    for item in items:
        if not pattern.match(item):
            raise BadFilter(name, f"cannot be '{item[:MAX_VALUE]}': {what}")
    return tuple(dict.fromkeys(items))


def _keys(name: str, value: str, _at: datetime) -> tuple[str, ...]:
    return _values(name, value, _KEY, "a key is lower case letters, digits, - and _")


def _statuses(name: str, value: str, _at: datetime) -> tuple[str, ...]:
    return _values(name, value, _KEY, "a status is a word like open, closed or cancelled")


def _steps(name: str, value: str, _at: datetime) -> tuple[str, ...]:
    return _values(name, value, _STEP, "a step is its id in the workflow, like triage")


def _priorities(name: str, value: str, _at: datetime) -> tuple[str, ...]:
    return _values(name, value, _PLAIN, "a priority is a short word, like P1")


def _people(name: str, value: str, _at: datetime) -> tuple[str, ...]:
    return _values(name, value, _NAME, "name a username, or me")


def _sla(name: str, value: str, _at: datetime) -> tuple[tuple[str | None, str], ...]:
    found = []
    for item in _values(name, value, _PLAIN, "see the SLA states"):
        kind, colon, state = item.lower().rpartition(":")
        if colon and kind not in SLA_KINDS:
            raise BadFilter(name, f"cannot be '{item}': name the response or resolution clock")
        if state not in SLA_WORDS:
            words = ", ".join(SLA_WORDS)
            raise BadFilter(name, f"cannot be '{item}': an SLA state is one of {words}")
        found.append((kind or None, SLA_WORDS[state]))
    return tuple(dict.fromkeys(found))


def _text(name: str, value: str, _at: datetime) -> str:
    if len(value) > MAX_TEXT:
        raise BadFilter(name, f"is {len(value)} characters; the most is {MAX_TEXT}")
    if any(ord(c) < 32 and c not in "\t" for c in value):
        raise BadFilter(name, "holds a control character")
    return value


def _range(name: str, value: str, at: datetime) -> Range:
    """Read a date range: `2026-12-01`, `2026-12-01..2026-12-31`, `>=-7d`, `..today`."""
    if ".." in value:
        first, _, last = value.partition("..")
        start = _moment(name, first, at, after=False) if first else None
        end = _moment(name, last, at, after=True) if last else None
        if start is None and end is None:
            raise BadFilter(name, "needs a date on at least one side of '..'")
        if start is not None and end is not None and end <= start:
            raise BadFilter(name, f"ends before it starts: '{value}'")
        return Range(start, end)
    # Which side a sign bounds, and whether that bound is the end of the day it names.
    for sign, lower, after in ((">=", True, False), ("<=", False, True), (">", True, True),
                               ("<", False, False)):  # fmt: skip
        if value.startswith(sign):
            moment = _moment(name, value[len(sign) :].strip(), at, after=after)
            return Range(moment, None) if lower else Range(None, moment)
    if _RELATIVE.match(value):  # `-7d` alone: since then
        return Range(_moment(name, value, at, after=False), None)
    return Range(_moment(name, value, at, after=False), _moment(name, value, at, after=True))


def _moment(name: str, word: str, at: datetime, *, after: bool) -> datetime:
    """Read one side of a range: a day (its start, or with `after` the next day's), a time,
    `today`, `yesterday`, or a time back from now (`-30m`, `-12h`, `-7d`, `-2w`). A moment
    at the ends of the calendar (9999-12-31, the day after it, or before year 1 in UTC) is
    refused, as Insight refuses it: it was an OverflowError, a 500, at every door."""
    try:
        return _moment_of(name, word, at, after=after)
    except OverflowError:
        raise BadFilter(
            name, f"'{word.strip()[:40]}' is too near the ends of the calendar to search by"
        ) from None


def _moment_of(name: str, word: str, at: datetime, *, after: bool) -> datetime:
    word = word.strip()
    midnight = at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    days = {"today": midnight, "yesterday": midnight - timedelta(days=1)}
    if word in days:
        return days[word] + timedelta(days=1 if after else 0)
    relative = _RELATIVE.match(word)
    if relative:
        return at - timedelta(**{_UNITS[relative.group(2)]: int(relative.group(1))})
    if len(word) == 10:
        try:
            day = datetime.strptime(word, "%Y-%m-%d").replace(tzinfo=UTC)
        except ValueError:
            pass
        else:
            return day + timedelta(days=1 if after else 0)
    try:
        moment = datetime.fromisoformat(word[:40])
    except ValueError:
        raise BadFilter(
            name,
            f"cannot read '{word[:40]}' as a date: write 2026-12-01, 2026-12-01T09:30Z, "
            "today, yesterday or -7d",
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


_READERS: dict[str, Any] = {
    "workflow": _keys,
    "service": _keys,
    "status": _statuses,
    "step": _steps,
    "priority": _priorities,
    "assignee": _people,
    "group": _people,
    "requester": _people,
    "sla": _sla,
    "created": _range,
    "updated": _range,
    "ended": _range,
    "text": _text,
}


# Cursors ---------------------------------------------------------------------------------------


def cursor_after(sort: str, value: Any, row_id: int) -> str:
    """The cursor of the page after the row with this sort value and id."""
    written = value.isoformat() if isinstance(value, datetime) else value
    raw = json.dumps([sort, written, row_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


#: The longest cursor a list gives (its sort value is at most 200 characters).
MAX_CURSOR = 400


def read_cursor(cursor: str, sort: str) -> tuple[Any, int]:
    """Read where the last page ended: its sort value and id (for the same sort only)."""
    if len(cursor) > MAX_CURSOR:  # every door: only the API checked its length
        raise BadFilter("cursor", "is not one this list gave")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        named, value, row_id = json.loads(raw)
    except (ValueError, binascii.Error, TypeError, RecursionError):
        raise BadFilter("cursor", "is not one this list gave") from None
    if named != sort or not isinstance(row_id, int) or isinstance(row_id, bool):
        raise BadFilter("cursor", "belongs to another sort or list; start from the first page")
    if not 0 < row_id < 2**63:  # a row id the database can hold; past it, a 500
        raise BadFilter("cursor", "is not one this list gave")
    if not isinstance(value, str | None) or (value is not None and len(value) > 200):
        raise BadFilter("cursor", "is not one this list gave")
    if sort.lstrip("-") in ("created", "updated") and value is not None:
        try:
            return datetime.fromisoformat(value), row_id
        except ValueError:
            raise BadFilter("cursor", "is not one this list gave") from None
    return value, row_id
