"""The dashboards' filters: read from a query string, checked, each problem saying where.

The page's GET form, the CSV links and the API send the same query (`from`, `to`,
`bucket`, and the list filters, each repeatable); `read_filters` reads it once for all
of them, and `Filters.query` writes it back for links.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from engine.core.errors import Problem
from engine.service.errors import InvalidInput

#: The filters that take a list of values, and the column each one matches.
LIST_FILTERS = ("service", "team", "priority", "category", "workflow")
#: The longest range of days a dashboard covers, and how many days it covers by default.
MAX_DAYS = 3 * 366
DEFAULT_DAYS = 30
#: The days a filter may name (times are kept as seconds since 1970).
EARLIEST, LATEST = date(1970, 2, 1), date(9000, 12, 31)
#: The most values one filter takes, and the longest value.
MAX_VALUES = 50
MAX_VALUE_CHARS = 80


@dataclass(frozen=True, slots=True)
class Filters:
    """What a dashboard looks at: the days incidents started on (inclusive), and values."""

    start: date
    end: date
    service: tuple[str, ...] = ()
    team: tuple[str, ...] = ()
    priority: tuple[str, ...] = ()
    category: tuple[str, ...] = ()
    workflow: tuple[str, ...] = ()
    #: Volume per "day" or per "week" (weeks start on Monday).
    bucket: str = "day"

    def query(self) -> dict[str, list[str]]:
        """Return the filters as the query string that asks for them (for links)."""
        out: dict[str, list[str]] = {
            "from": [self.start.isoformat()],
            "to": [self.end.isoformat()],
            "bucket": [self.bucket],
        }
        for name in LIST_FILTERS:
            if getattr(self, name):
                out[name] = list(getattr(self, name))
        return out


def read_filters(args: Mapping[str, Sequence[str]], today: date) -> Filters:
    """Read filters from a query string (each name to its values); InvalidInput saying where.

    Missing dates give the `DEFAULT_DAYS` up to `today`. Every problem is reported, and
    nothing is read on a filter with one.
    """
    problems: list[Problem] = []
    known = {*LIST_FILTERS, "from", "to", "bucket", "panel"}
    for name in sorted(set(args) - known):
        problems.append(Problem(f"/{name}", f"there is no filter '{name}'"))
    end = _date(args, "to", today, problems)
    start = _date(args, "from", end - timedelta(days=DEFAULT_DAYS - 1), problems)
    if start > end:
        problems.append(Problem("/from", f"the range starts ({start}) after it ends ({end})"))
    elif (end - start).days + 1 > MAX_DAYS:
        problems.append(Problem("/from", f"the range is longer than {MAX_DAYS} days"))
    bucket = _one(args, "bucket") or "day"
    if bucket not in ("day", "week"):
        problems.append(Problem("/bucket", f"'{bucket}' is not a bucket; choose day or week"))
    values: dict[str, tuple[str, ...]] = {}
    for name in LIST_FILTERS:
        given = [v.strip() for v in args.get(name, ()) if v.strip()]
        if len(given) > MAX_VALUES:
            problems.append(Problem(f"/{name}", f"at most {MAX_VALUES} values, not {len(given)}"))
        for index, value in enumerate(given):
            if len(value) > MAX_VALUE_CHARS:
                message = f"a value is at most {MAX_VALUE_CHARS} characters"
                problems.append(Problem(f"/{name}/{index}", message))
            elif any(ord(char) < 32 or ord(char) == 127 for char in value):
                message = "a value holds a control character (no key or name does)"
                problems.append(Problem(f"/{name}/{index}", message))
        values[name] = tuple(dict.fromkeys(given))
    if problems:
        raise InvalidInput(f"the filters cannot be read: {problems[0]}", problems)
    return Filters(start, end, bucket=bucket, **values)


def _one(args: Mapping[str, Sequence[str]], name: str) -> str | None:
    given = [v for v in args.get(name, ()) if v.strip()]
    return given[-1].strip() if given else None


def _date(args: Mapping[str, Sequence[str]], name: str, default: date, out: list[Problem]) -> date:
    text = _one(args, name)
    if text is None:
        return default
    try:
        found = date.fromisoformat(text)
    except ValueError:
        out.append(Problem(f"/{name}", f"'{text[:40]}' is not a date like 2026-12-31"))
        return default
    if not EARLIEST <= found <= LATEST:
        out.append(Problem(f"/{name}", f"a date is from {EARLIEST} to {LATEST}, not {found}"))
        return default
    return found
