"""Business calendars: working time across nights, weekends, holidays and daylight saving."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from engine.core.calendars import WEEKDAYS, Calendar, add_duration, check_calendar

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)


def amsterdam(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A moment given in Amsterdam wall-clock time."""
    return datetime(year, month, day, hour, minute, tzinfo=AMSTERDAM)


def calendar(hours: dict[str, list[str]], holidays: tuple[str, ...] = ()) -> Calendar:
    """An Amsterdam calendar document, read as the engine reads it."""
    doc = {"key": "test", "timezone": "Europe/Amsterdam", "hours": hours, "holidays": holidays}
    return Calendar.from_document(doc)


OFFICE = calendar(
    {day: ["08:30-17:30"] for day in ("mon", "tue", "wed", "thu")} | {"fri": ["08:30-17:00"]},
    holidays=("2026-12-25", "2026-12-26", "2027-01-01"),
)
NINE_TO_FIVE = calendar({day: ["09:00-17:00"] for day in ("mon", "tue", "wed", "thu", "fri")})
ALWAYS = calendar({day: ["00:00-24:00"] for day in WEEKDAYS})


# Nights, weekends, holidays -----------------------------------------------------------------


def test_add_within_one_working_day() -> None:
    assert OFFICE.add(amsterdam(2026, 11, 23, 9), 2 * HOUR) == amsterdam(2026, 11, 23, 11)


def test_add_that_ends_exactly_at_closing_time_ends_that_evening() -> None:
    assert OFFICE.add(amsterdam(2026, 11, 23, 16, 30), HOUR) == amsterdam(2026, 11, 23, 17, 30)


def test_add_carries_over_the_night() -> None:
    assert OFFICE.add(amsterdam(2026, 11, 23, 17), HOUR) == amsterdam(2026, 11, 24, 9)


def test_add_skips_the_weekend() -> None:
    assert OFFICE.add(amsterdam(2026, 11, 27, 16, 30), HOUR) == amsterdam(2026, 11, 30, 9)


def test_add_from_a_weekend_starts_on_monday_morning() -> None:
    assert OFFICE.add(amsterdam(2026, 11, 28, 12), 30 * MINUTE) == amsterdam(2026, 11, 30, 9)


def test_add_skips_holidays() -> None:
    # Thursday 24 December: half an hour left; Friday 25 and Saturday 26 are holidays.
    assert OFFICE.add(amsterdam(2026, 12, 24, 17), HOUR) == amsterdam(2026, 12, 28, 9)


def test_add_counts_working_days_not_calendar_days() -> None:
    # Three working days of 9 hours from Monday morning: Monday, Tuesday, Wednesday.
    start = amsterdam(2026, 11, 23, 8, 30)
    assert OFFICE.add(start, 27 * HOUR) == amsterdam(2026, 11, 25, 17, 30)


def test_between_counts_only_working_time() -> None:
    friday_noon, monday_noon = amsterdam(2026, 11, 27, 12), amsterdam(2026, 11, 30, 12)
    assert OFFICE.between(friday_noon, monday_noon) == 5 * HOUR + 3 * HOUR + 30 * MINUTE


def test_between_skips_holidays() -> None:
    assert OFFICE.between(amsterdam(2026, 12, 24, 17), amsterdam(2026, 12, 28, 9)) == HOUR


def test_between_is_zero_when_the_end_is_not_after_the_start() -> None:
    moment = amsterdam(2026, 11, 23, 10)
    assert OFFICE.between(moment, moment) == timedelta(0)
    assert OFFICE.between(moment, moment - HOUR) == timedelta(0)


def test_between_undoes_add() -> None:
    start = amsterdam(2026, 12, 23, 15, 10)
    assert OFFICE.between(start, OFFICE.add(start, 13 * HOUR)) == 13 * HOUR


def test_periods_listed_out_of_order_count_in_order() -> None:
    split = calendar({"mon": ["13:00-17:00", "09:00-12:00"]})
    monday = amsterdam(2026, 11, 23)
    assert split.add(monday, 5 * HOUR) == amsterdam(2026, 11, 23, 15)
    assert split.between(monday, amsterdam(2026, 11, 23, 14)) == 4 * HOUR


def test_24_00_ends_the_day_at_midnight() -> None:
    night = calendar({"mon": ["18:00-24:00"], "tue": ["00:00-06:00"]})
    assert night.between(amsterdam(2026, 11, 23), amsterdam(2026, 11, 24)) == 6 * HOUR
    assert night.add(amsterdam(2026, 11, 23, 23), 2 * HOUR) == amsterdam(2026, 11, 24, 1)
    assert night.between(amsterdam(2026, 11, 23, 23), amsterdam(2026, 11, 24, 1)) == 2 * HOUR


def test_calendar_without_working_time_cannot_add() -> None:
    with pytest.raises(ValueError, match="no working time in the next three years"):
        calendar({}).add(amsterdam(2026, 11, 23), HOUR)


def test_add_duration_is_wall_time_without_a_calendar() -> None:
    friday = amsterdam(2026, 11, 27, 16, 30)
    assert add_duration(friday, HOUR) == amsterdam(2026, 11, 27, 17, 30)
    assert add_duration(friday, HOUR, OFFICE) == amsterdam(2026, 11, 30, 9)


# Daylight saving in Europe/Amsterdam: 28 March 2027 (02:00 -> 03:00), 31 October 2027
# (03:00 -> 02:00) -------------------------------------------------------------------------


def test_working_hours_stay_local_across_spring_forward() -> None:
    friday = amsterdam(2027, 3, 26, 16)
    assert NINE_TO_FIVE.add(friday, 2 * HOUR) == amsterdam(2027, 3, 29, 10)
    assert amsterdam(2027, 3, 29, 10).astimezone(UTC).hour == 8  # summer time, UTC+2


def test_working_hours_stay_local_across_fall_back() -> None:
    friday = amsterdam(2027, 10, 29, 16)
    assert NINE_TO_FIVE.add(friday, 2 * HOUR) == amsterdam(2027, 11, 1, 10)
    assert amsterdam(2027, 11, 1, 10).astimezone(UTC).hour == 9  # winter time, UTC+1


def test_spring_forward_day_has_23_working_hours_round_the_clock() -> None:
    assert ALWAYS.between(amsterdam(2027, 3, 28), amsterdam(2027, 3, 29)) == 23 * HOUR
    assert ALWAYS.add(amsterdam(2027, 3, 28), 24 * HOUR) == amsterdam(2027, 3, 29, 1)


def test_fall_back_day_has_25_working_hours_round_the_clock() -> None:
    assert ALWAYS.between(amsterdam(2027, 10, 31), amsterdam(2027, 11, 1)) == 25 * HOUR
    assert ALWAYS.add(amsterdam(2027, 10, 31), 24 * HOUR) == amsterdam(2027, 10, 31, 23)


def test_hours_beginning_in_the_skipped_hour_begin_when_the_clock_jumps() -> None:
    sunday = calendar({"sun": ["02:30-04:00"]})
    assert sunday.between(amsterdam(2027, 3, 27), amsterdam(2027, 3, 29)) == HOUR
    assert sunday.add(amsterdam(2027, 3, 28), 30 * MINUTE) == amsterdam(2027, 3, 28, 3, 30)


def test_hours_ending_in_the_skipped_hour_end_when_the_clock_jumps() -> None:
    sunday = calendar({"sun": ["01:00-02:30"]})
    assert sunday.between(amsterdam(2027, 3, 27), amsterdam(2027, 3, 29)) == HOUR


def test_hours_inside_the_skipped_hour_give_no_working_time() -> None:
    sunday = calendar({"sun": ["02:15-02:45", "05:00-06:00"]})
    assert sunday.between(amsterdam(2027, 3, 27), amsterdam(2027, 3, 29)) == HOUR


def test_hours_in_the_repeated_hour_run_from_the_first_time_the_clock_reads_them() -> None:
    # 02:30 summer time to 04:00 winter time is two and a half hours of real time.
    sunday = calendar({"sun": ["02:30-04:00"]})
    assert sunday.between(amsterdam(2027, 10, 30), amsterdam(2027, 11, 1)) == 2 * HOUR + 30 * MINUTE
    assert (
        calendar({"sun": ["01:00-02:30"]}).between(amsterdam(2027, 10, 30), amsterdam(2027, 11, 1))
        == HOUR + 30 * MINUTE
    )


# check_calendar -------------------------------------------------------------------------------


def calendar_doc(**changes: Any) -> dict[str, Any]:
    doc = {
        "kind": "calendar",
        "format": 1,
        "key": "office",
        "timezone": "Europe/Amsterdam",
        "hours": {"mon": ["08:30-12:00", "13:00-17:30"], "fri": ["08:30-24:00"]},
        "holidays": ["2026-12-25"],
    }
    return doc | changes


def test_sound_calendar_has_no_problems() -> None:
    assert check_calendar(calendar_doc()) == []


@pytest.mark.parametrize("day", ["mon\n", "Mon", "monday", "mon "])
def test_check_calendar_takes_only_the_short_names_of_days(day: str) -> None:
    (problem,) = check_calendar(calendar_doc(hours={day: ["09:00-17:00"]}))
    assert problem.pointer == f"/hours/{day}"
    assert "mon" in problem.message
    assert "sun" in problem.message


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "Europe", "europe/amsterdam ", "../etc"])
def test_check_calendar_catches_a_bad_time_zone(zone: str) -> None:
    (problem,) = check_calendar(calendar_doc(timezone=zone))
    assert problem.pointer == "/timezone"
    assert problem.message == (
        f"'{zone}' is not a time zone; use a name like Europe/Paris or America/New_York"
    )


@pytest.mark.parametrize("period", ["17:00-09:00", "09:00-09:00"])
def test_check_calendar_catches_an_interval_that_ends_before_it_begins(period: str) -> None:
    problems = check_calendar(calendar_doc(hours={"mon": ["08:00-08:30", period]}))
    assert [(p.pointer, p.message) for p in problems] == [
        ("/hours/mon/1", f"'{period}' ends before it begins")
    ]


def test_check_calendar_catches_no_working_hours() -> None:
    problems = check_calendar(calendar_doc(hours={"mon": [], "tue": []}))
    assert [(p.pointer, p.message) for p in problems] == [
        ("/hours", "the calendar has no working hours at all")
    ]


def test_check_calendar_catches_overlapping_hours() -> None:
    problems = check_calendar(calendar_doc(hours={"tue": ["08:00-17:00", "12:00-13:00"]}))
    assert [(p.pointer, p.message) for p in problems] == [
        ("/hours/tue/1", "'12:00-13:00' overlaps '08:00-17:00'")
    ]


@pytest.mark.parametrize(
    ("changes", "pointer"),
    [
        ({"hours": {"mon": ["9-5"]}}, "/hours/mon/0"),
        ({"hours": {"monday": ["09:00-17:00"]}}, "/hours/monday"),
        ({"holidays": ["25-12-2026"]}, "/holidays/0"),
        ({"timezone": ""}, "/timezone"),
    ],
)
def test_check_calendar_points_at_schema_problems(changes: dict[str, Any], pointer: str) -> None:
    assert pointer in [p.pointer for p in check_calendar(calendar_doc(**changes))]


# Property: add and between agree with counting working minutes one by one ----------------------

#: Zones with daylight saving repeat an hour in autumn. There a period's begin or end means the
#: first time the clock reads it (tested above), which a minute-by-minute count cannot tell
#: from the second time; so random hours in those zones never begin or end between 01:00 and
#: 03:00 exclusive.
ZONES = ("UTC", "Asia/Kolkata", "Europe/Amsterdam", "America/New_York")
DAYLIGHT_SAVING = frozenset({"Europe/Amsterdam", "America/New_York"})
FIRST_DAY = datetime(2027, 1, 1, tzinfo=UTC)


def _clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


@st.composite
def calendars(draw: st.DrawFn) -> tuple[Calendar, Callable[[datetime], bool], int]:
    """A random calendar, a brute-force test of whether a moment is working time, and the
    working minutes in a week without holidays (at least one)."""
    zone_name = draw(st.sampled_from(ZONES))
    marks = st.integers(0, 24 * 60)
    if zone_name in DAYLIGHT_SAVING:
        marks = marks.filter(lambda minute: not 60 < minute < 180)
    hours: dict[str, list[str]] = {}
    periods: list[list[tuple[int, int]]] = []
    for day in WEEKDAYS:
        points = sorted(draw(st.sets(marks, max_size=4)))
        pairs = list(zip(points[::2], points[1::2], strict=False))
        periods.append(pairs)
        if pairs:
            hours[day] = draw(st.permutations([f"{_clock(a)}-{_clock(b)}" for a, b in pairs]))
    weekly = sum(b - a for pairs in periods for a, b in pairs)
    assume(weekly > 0)
    holidays = {
        date(2027, 1, 1) + timedelta(days=n)
        for n in draw(st.sets(st.integers(0, 364), max_size=30))
    }
    doc = {"key": "random", "timezone": zone_name, "hours": hours}
    doc["holidays"] = [day.isoformat() for day in sorted(holidays)]
    zone = ZoneInfo(zone_name)

    def working(moment: datetime) -> bool:
        local = moment.astimezone(zone)
        if local.date() in holidays:
            return False
        minute = local.hour * 60 + local.minute
        return any(a <= minute < b for a, b in periods[local.weekday()])

    return Calendar.from_document(doc), working, weekly


def _starts() -> st.SearchStrategy[datetime]:
    return st.integers(0, 340 * 24 * 60).map(lambda n: FIRST_DAY + n * MINUTE)


Drawn = tuple[Calendar, Callable[[datetime], bool], int]


@settings(max_examples=40, deadline=None)
@given(calendars(), _starts(), st.integers(0, 3 * 24 * 60))
def test_between_matches_a_minute_by_minute_count(
    drawn: Drawn, start: datetime, minutes: int
) -> None:
    cal, working, _ = drawn
    expected = sum(working(start + n * MINUTE) for n in range(minutes))
    assert cal.between(start, start + minutes * MINUTE) == expected * MINUTE


@settings(max_examples=40, deadline=None)
@given(calendars(), _starts(), st.data())
def test_add_matches_a_minute_by_minute_count(
    drawn: Drawn, start: datetime, data: st.DataObject
) -> None:
    cal, working, weekly = drawn
    # At most a week's work (and three days), so the answer is near and the count quick.
    minutes = data.draw(st.integers(1, min(weekly, 3 * 24 * 60)), label="minutes")
    found = cal.add(start, minutes * MINUTE)
    # Walk minute by minute from the start: the answer is the end of the minute in which the
    # working time reached the duration.
    moment, counted = start, 0
    while counted < minutes and moment < found:
        counted += working(moment)
        moment += MINUTE
    assert (moment, counted) == (found, minutes)
    assert working(found - MINUTE)


# Business days ---------------------------------------------------------------------------

OFFICE_DOC = {
    "kind": "calendar",
    "format": 1,
    "key": "office",
    "timezone": "Europe/Amsterdam",
    "hours": {day: ["08:30-17:30"] for day in ("mon", "tue", "wed", "thu")}
    | {"fri": ["08:30-17:00"]},
}


def test_a_business_day_is_the_most_usual_working_day() -> None:
    assert Calendar.from_document(OFFICE_DOC).working_day == timedelta(hours=9)


def test_a_business_day_can_be_set_explicitly() -> None:
    calendar = Calendar.from_document({**OFFICE_DOC, "day_length": "PT8H"})
    assert calendar.working_day == timedelta(hours=8)
    assert calendar.span(timedelta(days=2, hours=1)) == timedelta(hours=17)


def test_three_business_days_from_thursday_night_end_on_wednesday_morning() -> None:
    office = Calendar.from_document(OFFICE_DOC)
    thursday_night = datetime(2026, 11, 26, 23, 50, tzinfo=UTC)
    due = add_duration(thursday_night, timedelta(days=3), office)
    assert due.astimezone(ZoneInfo("Europe/Amsterdam")) == datetime(
        2026, 12, 2, 9, 0, tzinfo=ZoneInfo("Europe/Amsterdam")
    )


def test_one_business_day_from_monday_morning_is_tuesday_at_the_same_time() -> None:
    office = Calendar.from_document(OFFICE_DOC)
    monday = datetime(2026, 11, 23, 10, 0, tzinfo=ZoneInfo("Europe/Amsterdam"))
    assert add_duration(monday, timedelta(days=1), office) == monday + timedelta(days=1)


def test_hours_stay_working_hours() -> None:
    office = Calendar.from_document(OFFICE_DOC)
    friday = datetime(2026, 11, 27, 16, 0, tzinfo=ZoneInfo("Europe/Amsterdam"))
    monday = datetime(2026, 11, 30, 9, 30, tzinfo=ZoneInfo("Europe/Amsterdam"))
    assert add_duration(friday, timedelta(hours=2), office) == monday


def test_a_day_longer_than_a_day_is_refused() -> None:
    problems = check_calendar({**OFFICE_DOC, "day_length": "PT25H"})
    assert [(p.pointer, p.message) for p in problems] == [
        ("/day_length", "a working day cannot be longer than 24h")
    ]


# Public holidays of a country ------------------------------------------------------------


def test_a_countrys_public_holidays_are_days_off() -> None:
    dutch = Calendar.from_document({**OFFICE_DOC, "country": "NL"})
    kings_day = datetime(2027, 4, 27, 9, 0, tzinfo=ZoneInfo("Europe/Amsterdam"))  # a Tuesday
    assert dutch.between(kings_day, kings_day + timedelta(hours=8)) == timedelta(0)
    plain = Calendar.from_document(OFFICE_DOC)
    assert plain.between(kings_day, kings_day + timedelta(hours=8)) == timedelta(hours=8)


def test_an_unknown_country_is_refused() -> None:
    problems = check_calendar({**OFFICE_DOC, "country": "XX"})
    assert [p.pointer for p in problems] == ["/country"]
    assert "like NL, DE or US-CA" in problems[0].message
