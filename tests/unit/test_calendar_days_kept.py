"""A calendar keeps each day's working periods once worked out; what it keeps is bounded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine.core import calendars
from engine.core.calendars import Calendar

DOC = {
    "key": "office",
    "timezone": "Europe/Amsterdam",
    "hours": {day: ["09:00-17:00"] for day in ("mon", "tue", "wed", "thu", "fri")},
    "holidays": ["2026-12-25"],
}
START = datetime(2026, 11, 2, 8, tzinfo=UTC)


def due_times(calendar: Calendar) -> list[datetime]:
    """Due times one, thirty and 250 working days (of 8 hours) from the start."""
    return [calendar.add(START, timedelta(hours=8 * days)) for days in (1, 30, 250)]


def test_a_calendar_that_forgot_the_days_it_kept_answers_as_a_fresh_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    expected = due_times(Calendar.from_document(DOC))
    monkeypatch.setattr(calendars, "DAYS_KEPT", 7)  # forgets every week or so
    forgetful = Calendar.from_document(DOC)

    assert due_times(forgetful) == expected
    assert len(forgetful._days) <= 7
    assert forgetful.between(START, expected[-1]) == timedelta(hours=8 * 250)


def test_equal_calendars_are_equal_whatever_days_each_has_worked_out() -> None:
    used, fresh = Calendar.from_document(DOC), Calendar.from_document(DOC)
    due_times(used)

    assert used == fresh
    assert hash(used) == hash(fresh)
