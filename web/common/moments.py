"""Time in words, the way every page says it: durations, countdowns, deadlines, moments."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from engine.core.durations import whole_units


def duration_words(delta: timedelta) -> str:
    """Say a duration for people in a hurry: '2 d 3 h', '1 h 20 min', '5 min'."""
    days, hours, minutes = whole_units(delta)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min" if minutes else "less than a minute"


def countdown(due: datetime | None, at: datetime) -> str:
    """Say the time left before `due`: '1 h 20 min left' or 'overdue by 5 min'."""
    if due is None:
        return "no deadline"
    if due > at:
        return f"{duration_words(due - at)} left"
    return f"overdue by {duration_words(at - due)}"


@dataclass(frozen=True, slots=True)
class Deadline:
    """A deadline as the lists say it: where it stands, the moment, and the time left."""

    state: str  # breached, due_soon, on_track or none (worklist.SLA_STATES)
    iso: str  # "" when there is no deadline
    when: str
    left: str


def deadline(due: datetime | None, state: str, at: datetime) -> Deadline:
    """Put a deadline in words once, in Python: a list shows fifty of them."""
    if due is None:
        return Deadline(state, "", "", "")
    return Deadline(state, due.isoformat(), when(due), countdown(due, at))


def when(value: datetime | str | None) -> str:
    """Say a moment in UTC, the way every page shows it."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.strftime("%d %b %Y, %H:%M UTC") if value is not None else ""


def iso(value: datetime | str | None) -> str:
    if isinstance(value, str):
        return value
    return value.isoformat() if value is not None else ""
