"""Business calendars: working hours per weekday in a time zone, and holidays.

Durations in `due`, escalations and SLA targets count either wall time or the
working time of a named calendar. All arithmetic is on aware datetimes; local
working hours are converted with `zoneinfo`, so daylight saving is handled.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from engine.core.errors import Problem
from engine.core.schema import schema_problems, validator

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

#: How far ahead to look for working time before deciding a calendar has none.
MAX_DAYS_AHEAD = 3 * 366


@dataclass(frozen=True, slots=True)
class Calendar:
    """Working hours per weekday (local times) in `timezone`, minus `holidays`."""

    key: str
    timezone: str = "UTC"
    hours: tuple[tuple[tuple[time, time], ...], ...] = ((),) * 7
    holidays: frozenset[date] = field(default_factory=frozenset)

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> Calendar:
        """Build a calendar from its (schema-valid) JSON."""
        hours = tuple(
            tuple(_interval(text) for text in doc.get("hours", {}).get(day, ())) for day in WEEKDAYS
        )
        holidays = frozenset(date.fromisoformat(text) for text in doc.get("holidays", ()))
        return cls(doc["key"], doc.get("timezone", "UTC"), hours, holidays)

    def working_periods(self, start: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Yield the working periods (in UTC) that end after `start`, in order."""
        zone = ZoneInfo(self.timezone)
        day = start.astimezone(zone).date()
        for _ in range(MAX_DAYS_AHEAD):
            if day not in self.holidays:
                for begin, end in self.hours[day.weekday()]:
                    low = datetime.combine(day, begin, zone).astimezone(UTC)
                    high = _end_of(day, end, zone)
                    if high > start and high > low:
                        yield max(low, start), high
            day += timedelta(days=1)

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """Return the moment `duration` of working time after `start`."""
        remaining = duration
        for low, high in self.working_periods(start):
            if high - low >= remaining:
                return low + remaining
            remaining -= high - low
        raise ValueError(f"calendar '{self.key}' has no working time in the next three years")

    def between(self, start: datetime, end: datetime) -> timedelta:
        """Return the working time between two moments (zero if `end` is not after `start`)."""
        total = timedelta(0)
        if end <= start:
            return total
        for low, high in self.working_periods(start):
            if low >= end:
                break
            total += min(high, end) - low
        return total


def _interval(text: str) -> tuple[time, time]:
    begin, end = text.split("-")
    return time.fromisoformat(begin.strip()), _clock(end.strip())


def _clock(text: str) -> time:
    # "24:00" is a valid end of day for a person, not for `time`.
    return time.max if text == "24:00" else time.fromisoformat(text)


def _end_of(day: date, end: time, zone: ZoneInfo) -> datetime:
    if end == time.max:
        return datetime.combine(day + timedelta(days=1), time(0), zone).astimezone(UTC)
    return datetime.combine(day, end, zone).astimezone(UTC)


def add_duration(
    start: datetime, duration: timedelta, calendar: Calendar | None = None
) -> datetime:
    """Add wall time, or working time when a calendar is given."""
    return start + duration if calendar is None else calendar.add(start, duration)


def check_calendar(doc: Any) -> list[Problem]:
    """Return every problem of a calendar document; an empty list means it is sound."""
    problems = schema_problems(validator("calendar"), doc)
    if problems:
        return problems
    try:
        ZoneInfo(doc["timezone"])
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(
            Problem(
                "/timezone",
                f"'{doc['timezone']}' is not a time zone; "
                "use a name like Europe/Paris or America/New_York",
            )
        )
    for day, periods in doc["hours"].items():
        for index, text in enumerate(periods):
            begin, end = _interval(text)
            if end != time.max and end <= begin:
                problems.append(Problem(f"/hours/{day}/{index}", f"'{text}' ends before it begins"))
    if not any(doc["hours"].values()):
        problems.append(Problem("/hours", "the calendar has no working hours at all"))
    return problems
