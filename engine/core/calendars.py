"""Business calendars: working hours per weekday in a time zone, and holidays.

Durations in `due`, escalations and SLA targets count either wall time or the
working time of a named calendar. In working time, a day (`P1D`) is one working
day: the calendar's `day_length`, by default the length of its most usual working
day, so "P3D" means three working days, not 72 working hours. All arithmetic is
on aware datetimes; local working hours are converted with `zoneinfo`, so
daylight saving is handled.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from engine.core.durations import parse_duration
from engine.core.errors import DurationError, Problem
from engine.core.schema import shipped_problems

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

ONE_DAY = timedelta(days=1)

#: How far ahead to look for working time before deciding a calendar has none.
MAX_DAYS_AHEAD = 3 * 366


@dataclass(frozen=True, slots=True)
class Calendar:
    """Working hours per weekday (local times) in `timezone`, minus `holidays`."""

    key: str
    timezone: str = "UTC"
    hours: tuple[tuple[tuple[time, time], ...], ...] = ((),) * 7
    holidays: frozenset[date] = field(default_factory=frozenset)
    day_length: timedelta | None = None
    #: A country's public holidays (ISO 3166 code, optionally "-" and a subdivision).
    country: str | None = None
    #: Each day's working periods in UTC and their total, worked out once: every due time,
    #: timer and SLA clock asks. Kept on the calendar, not in an `lru_cache` keyed by it,
    #: because hashing the calendar's hours on every lookup cost more than the lookup.
    _days: dict[date, tuple[tuple[tuple[datetime, datetime], ...], timedelta]] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> Calendar:
        """Build a calendar from its (schema-valid) JSON."""
        hours = tuple(
            tuple(sorted(_interval(text) for text in doc.get("hours", {}).get(day, ())))
            for day in WEEKDAYS
        )
        holidays = frozenset(date.fromisoformat(text) for text in doc.get("holidays", ()))
        length = parse_duration(doc["day_length"]) if "day_length" in doc else _usual_day(hours)
        country = doc.get("country")
        return cls(doc["key"], doc.get("timezone", "UTC"), hours, holidays, length, country)

    @property
    def working_day(self) -> timedelta:
        """Return how much working time one business day (`P1D`) stands for."""
        return self.day_length if self.day_length is not None else _usual_day(self.hours)

    def span(self, duration: timedelta) -> timedelta:
        """Return the working time a duration means: its days count as working days."""
        return self.working_day * duration.days + (duration - timedelta(days=duration.days))

    def working_periods(self, start: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Yield the working periods (in UTC) that end after `start`, in order."""
        day = start.astimezone(ZoneInfo(self.timezone)).date()
        for _ in range(MAX_DAYS_AHEAD):
            for low, high in _day(self, day)[0]:
                if high > start:
                    yield max(low, start), high
            day += timedelta(days=1)

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """Return the moment `duration` of working time after `start`."""
        remaining = duration
        day = start.astimezone(ZoneInfo(self.timezone)).date()
        for _ in range(MAX_DAYS_AHEAD):
            periods, whole = _day(self, day)
            if periods and periods[0][0] >= start and whole < remaining:
                remaining -= whole  # the whole day counts: no need to walk its periods
            else:
                for low, high in periods:
                    if high <= start:
                        continue
                    low = max(low, start)
                    if high - low >= remaining:
                        return low + remaining
                    remaining -= high - low
            day += ONE_DAY
        raise ValueError(f"calendar '{self.key}' has no working time in the next three years")

    def between(self, start: datetime, end: datetime) -> timedelta:
        """Return the working time between two moments (zero if `end` is not after `start`)."""
        total = timedelta(0)
        if end <= start:
            return total
        zone = ZoneInfo(self.timezone)
        day, last = start.astimezone(zone).date(), end.astimezone(zone).date()
        while day <= last:
            periods, whole = _day(self, day)
            if periods and periods[0][0] >= start and periods[-1][1] <= end:
                total += whole
            else:
                for low, high in periods:
                    if low < end and high > start:
                        total += min(high, end) - max(low, start)
            day += ONE_DAY
        return total


@lru_cache(maxsize=256)
def public_holidays(country: str, year: int) -> frozenset[date]:
    """Return a country's public holidays of one year, from the `holidays` package."""
    import holidays  # imported on first use: its country tables take a moment to load

    code, _, subdivision = country.partition("-")
    found = holidays.country_holidays(code, subdiv=subdivision or None, years=year)
    return frozenset(found)


#: Days of working periods a calendar keeps worked out (about ten years' worth).
DAYS_KEPT = 4096


def _day(calendar: Calendar, day: date) -> tuple[tuple[tuple[datetime, datetime], ...], timedelta]:
    """Return a day's working periods in UTC and their total (kept on the calendar)."""
    found = calendar._days.get(day)
    if found is None:
        if len(calendar._days) >= DAYS_KEPT:
            calendar._days.clear()
        periods = _day_periods(calendar, day)
        whole = sum((high - low for low, high in periods), timedelta(0))
        found = calendar._days[day] = (periods, whole)
    return found


def _day_periods(calendar: Calendar, day: date) -> tuple[tuple[datetime, datetime], ...]:
    """Return a day's working periods in UTC."""
    if day in calendar.holidays or (
        calendar.country and day in public_holidays(calendar.country, day.year)
    ):
        return ()
    zone = ZoneInfo(calendar.timezone)
    periods = []
    for begin, end in calendar.hours[day.weekday()]:
        low, high = _moment(day, begin, zone), _moment(day, end, zone)
        if high > low:
            periods.append((low, high))
    return tuple(periods)


def _usual_day(hours: tuple[tuple[tuple[time, time], ...], ...]) -> timedelta:
    """Return the most usual length of a working day (on a tie, the longer one)."""
    lengths = [_length(periods) for periods in hours if periods]
    if not lengths:
        return timedelta(hours=24)
    return max(lengths, key=lambda length: (lengths.count(length), length))


def _length(periods: tuple[tuple[time, time], ...]) -> timedelta:
    day = date(2001, 1, 1)  # any day: only the length of the clock readings matters here
    total = timedelta(0)
    for begin, end in periods:
        high = (
            datetime.combine(day + timedelta(days=1), time(0))
            if end == time.max
            else (datetime.combine(day, end))
        )
        total += high - datetime.combine(day, begin)
    return total


def _interval(text: str) -> tuple[time, time]:
    begin, end = text.split("-")
    return time.fromisoformat(begin.strip()), _clock(end.strip())


def _clock(text: str) -> time:
    # "24:00" is a valid end of day for a person, not for `time`.
    return time.max if text == "24:00" else time.fromisoformat(text)


def _moment(day: date, clock: time, zone: ZoneInfo) -> datetime:
    """Return (in UTC) when the local clock first reads `clock` on `day`.

    When clocks go back, a reading in the repeated hour means its first time round;
    when they go forward, a reading in the skipped hour means the moment of the jump.
    """
    if clock == time.max:
        day, clock = day + timedelta(days=1), time(0)
    local = datetime.combine(day, clock, zone)
    moment = local.astimezone(UTC)
    if moment.astimezone(zone).replace(tzinfo=None) == local.replace(tzinfo=None):
        return moment
    # The clock skips this reading: the jump lies between its two possible meanings.
    before, after = local.replace(fold=1).astimezone(UTC), moment
    while after - before > timedelta(seconds=1):
        middle = before + timedelta(seconds=(after - before).total_seconds() // 2)
        if middle.astimezone(zone).utcoffset() == before.astimezone(zone).utcoffset():
            before = middle
        else:
            after = middle
    return after


def add_duration(
    start: datetime, duration: timedelta, calendar: Calendar | None = None
) -> datetime:
    """Add wall time, or business time (days being working days) when a calendar is given."""
    return start + duration if calendar is None else calendar.add(start, calendar.span(duration))


def check_calendar(doc: Any) -> list[Problem]:
    """Return every problem of a calendar document; an empty list means it is sound."""
    problems = shipped_problems("calendar", doc)
    if problems:
        return problems
    try:
        ZoneInfo(doc["timezone"])
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder, like 'Europe'
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
        problems.extend(_overlaps(day, periods))
    if "day_length" in doc:
        try:
            if parse_duration(doc["day_length"]) > timedelta(hours=24):
                problems.append(Problem("/day_length", "a working day cannot be longer than 24h"))
        except DurationError as error:
            problems.append(Problem("/day_length", str(error)))
    if "country" in doc:
        try:
            public_holidays(doc["country"], 2026)
        except NotImplementedError:
            problems.append(
                Problem(
                    "/country",
                    f"there are no public holidays for "
                    f"'{doc['country']}'; use a code like NL, DE or US-CA",
                )
            )
    if not any(doc["hours"].values()):
        problems.append(Problem("/hours", "the calendar has no working hours at all"))
    return sorted(problems)


def _overlaps(day: str, periods: list[str]) -> Iterator[Problem]:
    # Overlapping periods would count the shared time twice.
    latest: tuple[time, str] | None = None
    for (begin, end), index, text in sorted(
        (_interval(text), index, text) for index, text in enumerate(periods)
    ):
        if latest and begin < latest[0]:
            yield Problem(f"/hours/{day}/{index}", f"'{text}' overlaps '{latest[1]}'")
        if latest is None or end > latest[0]:
            latest = (end, text)
