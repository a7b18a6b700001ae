"""ISO 8601 durations (`PT30M`, `P3D`, `P1W`), parsed into exact lengths of time."""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache

import isodate

from engine.core.errors import DurationError


@lru_cache(maxsize=1024)
def parse_duration(text: str) -> timedelta:
    """Return the length of an ISO 8601 duration; years and months are refused as inexact."""
    not_one = DurationError(
        f"'{text}' is not a duration; write it in ISO 8601, like PT30M (30 minutes), "
        "PT4H (4 hours) or P3D (3 days)"
    )
    if not isinstance(text, str) or text != text.strip():
        raise not_one
    bare = _bare_time_designator(text)
    if bare is not None:
        raise bare
    try:
        value = isodate.parse_duration(text)
    except (isodate.ISO8601Error, ValueError, TypeError, OverflowError):
        raise not_one from None
    if isinstance(value, isodate.Duration):
        raise DurationError(
            f"'{text}' counts months or years, which have no fixed length; use days or weeks"
        )
    if not isinstance(value, timedelta) or value <= timedelta(0):
        raise DurationError(f"'{text}' must be longer than zero")
    return value


def _bare_time_designator(text: str) -> DurationError | None:
    """Say what a duration of days ending in T lacks: ISO 8601 wants a time after the T.

    isodate reads `P1DT` as one day; `PT` it reads as nothing, refused as such.
    """
    days = text[:-1]
    if not text.endswith("T") or not any(char.isdigit() for char in days):
        return None
    return DurationError(
        f"'{text}' is not a duration: nothing follows the T, which starts the hours, minutes "
        f"and seconds; write {days}, or add the time, like {days}T4H"
    )


def whole_units(value: timedelta) -> tuple[int, int, int]:
    """Split a duration (its size, whatever its sign) into whole days, hours and minutes."""
    minutes = int(abs(value).total_seconds() // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    return days, hours, minutes


def describe_duration(value: timedelta) -> str:
    """Say a duration the way a person would: '1d 2h', '8h', '1h10', '45 min', '5 s'."""
    if value < timedelta(minutes=1):
        return f"{int(value.total_seconds())} s"
    days, hours, minutes = whole_units(value)
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h{minutes:02d}" if minutes else f"{hours}h"
    return f"{minutes} min"
