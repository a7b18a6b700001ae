"""SLA clocks: one target counted in working time, with pauses, as plain data.

A clock's due time is always worked out the same way: the start time plus the target
plus the time spent paused, counted in a business calendar (or wall time without one).
So a pause moves the due time out by exactly the paused working time, and a new target
keeps the working time already spent. Nothing here reads the clock: `at` is given.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from engine.core.calendars import Calendar
from engine.core.durations import describe_duration, parse_duration

#: The fraction of a target after which a clock is in warning, unless the policy says.
DEFAULT_WARN_AT = 0.75

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(slots=True)
class Clock:
    """One SLA clock: its target for a priority level, pauses, and where it stands."""

    level: str
    target: str
    calendar: str | None
    started_at: str
    paused: float = 0.0  # seconds of working time spent paused, pauses that ended
    paused_since: str | None = None
    paused_while: list[str] = field(default_factory=list)
    due_at: str = ""
    warn_at: str = ""
    warned: bool = False
    breached: bool = False
    stopped_at: str | None = None

    @property
    def running(self) -> bool:
        """Tell whether the clock counts time now (neither stopped nor paused)."""
        return self.stopped_at is None and self.paused_since is None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "level": self.level,
            "target": self.target,
            "started_at": self.started_at,
            "due_at": self.due_at,
            "warn_at": self.warn_at,
        }
        if self.calendar is not None:
            out["calendar"] = self.calendar
        if self.paused:
            out["paused"] = self.paused
        if self.paused_since is not None:
            out["paused_since"] = self.paused_since
        if self.paused_while:
            out["paused_while"] = list(self.paused_while)
        for name in ("warned", "breached"):
            if getattr(self, name):
                out[name] = True
        if self.stopped_at is not None:
            out["stopped_at"] = self.stopped_at
        return out

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Clock:
        return cls(
            raw["level"],
            raw["target"],
            raw.get("calendar"),
            raw["started_at"],
            raw.get("paused", 0.0),
            raw.get("paused_since"),
            list(raw.get("paused_while", ())),
            raw["due_at"],
            raw["warn_at"],
            raw.get("warned", False),
            raw.get("breached", False),
            raw.get("stopped_at"),
        )

    def copy(self) -> Clock:
        """Return an independent copy (the state of a transition never changes its input)."""
        return Clock(
            self.level,
            self.target,
            self.calendar,
            self.started_at,
            self.paused,
            self.paused_since,
            list(self.paused_while),
            self.due_at,
            self.warn_at,
            self.warned,
            self.breached,
            self.stopped_at,
        )


# Pure clock arithmetic -------------------------------------------------------------------


def working(start: datetime, end: datetime, calendar: Calendar | None) -> timedelta:
    """Return the working time (wall time without a calendar) from `start` to `end`."""
    if calendar is None:
        return max(end - start, timedelta(0))
    return calendar.between(start, end)


def later(start: datetime, amount: timedelta, calendar: Calendar | None) -> datetime:
    """Return the moment `amount` of working time (wall time without a calendar) after `start`."""
    return start + amount if calendar is None else calendar.add(start, amount)


def target_span(clock: Clock, calendar: Calendar | None) -> timedelta:
    """Return the working time a clock's target stands for (its days are working days)."""
    target = parse_duration(clock.target)
    return target if calendar is None else calendar.span(target)


def new_clock(
    level: str,
    target: str,
    calendar_name: str | None,
    at: datetime,
    calendar: Calendar | None,
    warn_at: float = DEFAULT_WARN_AT,
) -> Clock:
    """Return a clock started at `at` for a level's target, its due and warning times set."""
    return reckon(Clock(level, target, calendar_name, _iso(at)), calendar, warn_at)


def reckon(clock: Clock, calendar: Calendar | None, warn_at: float) -> Clock:
    """Work out the due and warning times: start + (target, or its fraction) + paused time."""
    span = target_span(clock, calendar)
    started = datetime.fromisoformat(clock.started_at)
    paused = timedelta(seconds=clock.paused)
    clock.due_at = _iso(later(started, span + paused, calendar))
    clock.warn_at = _iso(later(started, span * warn_at + paused, calendar))
    return clock


def pause(clock: Clock, at: datetime, status: str) -> None:
    """Stop counting from `at` on, while the instance is in `status`."""
    if clock.paused_since is None:
        clock.paused_since = _iso(at)
    if status not in clock.paused_while:
        clock.paused_while.append(status)


def resume(clock: Clock, at: datetime, calendar: Calendar | None, warn_at: float) -> None:
    """Count again from `at`: the paused working time moves the due time out by as much."""
    if clock.paused_since is None:
        return
    since = datetime.fromisoformat(clock.paused_since)
    clock.paused += working(since, at, calendar).total_seconds()
    clock.paused_since = None
    reckon(clock, calendar, warn_at)


def retarget(
    clock: Clock, level: str, target: str, calendar: Calendar | None, warn_at: float
) -> None:
    """Count towards another level's target, keeping the start and the paused time."""
    clock.level = level
    clock.target = target
    reckon(clock, calendar, warn_at)


def stop(clock: Clock, at: datetime, calendar: Calendar | None, warn_at: float) -> None:
    """Stop the clock for good at `at` (a pause in progress is folded in first)."""
    resume(clock, at, calendar, warn_at)
    clock.stopped_at = _iso(at)


def elapsed(clock: Clock, at: datetime, calendar: Calendar | None) -> timedelta:
    """Return the working time the clock has counted by `at`, pauses left out."""
    end = at
    if clock.stopped_at is not None:
        end = min(end, datetime.fromisoformat(clock.stopped_at))
    started = datetime.fromisoformat(clock.started_at)
    spent = working(started, end, calendar) - timedelta(seconds=clock.paused)
    if clock.paused_since is not None:
        spent -= working(datetime.fromisoformat(clock.paused_since), end, calendar)
    return max(spent, timedelta(0))


# Words for the timeline ------------------------------------------------------------------


def describe_target(target: str, calendar: str | None) -> str:
    """Say a target: '8 business hours', '3 business days', '4 hours' (wall time)."""
    value = parse_duration(target)
    hours, seconds = divmod(int((value - timedelta(days=value.days)).total_seconds()), 3600)
    parts = [
        (value.days, "day", "days"),
        (hours, "hour", "hours"),
        (seconds // 60, "minute", "minutes"),
    ]
    words = [f"{n} {one if n == 1 else many}" for n, one, many in parts if n]
    if calendar is not None and words:
        count, unit = words[0].split(" ", 1)
        words[0] = f"{count} business {unit}"
    return " ".join(words) or describe_duration(value)


def describe_moment(moment: str, now: datetime, calendar: Calendar | None) -> str:
    """Say a moment in the calendar's time zone, naming it: '14:00 Tue CET', with the date
    when far off ('14:00 Tue 8 Dec CET'). The zone is said because the pages and the CLI
    show times in the reader's zone beside it: '14:00 Tue' alone read as a contradiction."""
    when = datetime.fromisoformat(moment)
    local = when.astimezone(ZoneInfo(calendar.timezone) if calendar else UTC)
    text = f"{local:%H:%M} {_DAYS[local.weekday()]}"
    if abs(when - now) >= timedelta(days=6):
        text += f" {local.day} {_MONTHS[local.month - 1]}"
    zone = local.tzname() or (calendar.timezone if calendar else "UTC")
    return f"{text} {zone}"


def reason(kind: str, clock: Clock, now: datetime, calendar: Calendar | None) -> str:
    """Say when a clock is due and why: the level's target and the time spent paused."""
    why = f"{clock.level} = {describe_target(clock.target, clock.calendar)}"
    if clock.paused:
        statuses = " or ".join(s.replace("_", " ") for s in clock.paused_while)
        why += f", paused {describe_duration(timedelta(seconds=clock.paused))} {statuses}"
    return f"{kind} due at {describe_moment(clock.due_at, now, calendar)} because: {why}"


def _iso(at: datetime) -> str:
    return at.isoformat() if at.tzinfo is UTC else at.astimezone(UTC).isoformat()
