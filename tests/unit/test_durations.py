"""ISO 8601 durations: exact lengths of time, and clear words for what cannot be counted."""

from __future__ import annotations

from datetime import timedelta

import pytest

from engine.core.durations import describe_duration, parse_duration
from engine.core.errors import DurationError


@pytest.mark.parametrize(
    ("text", "length"),
    [
        ("PT30M", timedelta(minutes=30)),
        ("PT4H", timedelta(hours=4)),
        ("PT1H30M", timedelta(hours=1, minutes=30)),
        ("P3D", timedelta(days=3)),
        ("P1W", timedelta(weeks=1)),
        ("P1DT12H", timedelta(days=1, hours=12)),
        ("PT90S", timedelta(seconds=90)),
    ],
)
def test_iso_duration_is_parsed_to_its_exact_length(text: str, length: timedelta) -> None:
    assert parse_duration(text) == length


@pytest.mark.parametrize("text", ["P1M", "P1Y", "P1Y2M", "P2MT1H"])
def test_months_and_years_are_refused_as_inexact(text: str) -> None:
    with pytest.raises(DurationError, match="months or years, which have no fixed length"):
        parse_duration(text)


@pytest.mark.parametrize("text", ["P0D", "PT0S", "PT0M", "-PT5M", "PT"])
def test_zero_and_negative_durations_are_refused(text: str) -> None:
    with pytest.raises(DurationError, match="must be longer than zero"):
        parse_duration(text)


@pytest.mark.parametrize(
    "text",
    [
        "garbage",
        "",
        "30 minutes",
        "PT30",
        "30M",
        "pt30m",
        "P",
        "P99999999999D",
        "PT1H2",
        " P1D",
        "P1D\n",
    ],
)
def test_garbage_is_refused_with_an_example_of_the_right_form(text: str) -> None:
    with pytest.raises(DurationError, match="is not a duration; write it in ISO 8601, like PT30M"):
        parse_duration(text)


@pytest.mark.parametrize(("text", "days"), [("P1DT", "P1D"), ("P2WT", "P2W")])
def test_a_t_with_no_time_after_it_is_refused_naming_the_fix(text: str, days: str) -> None:
    with pytest.raises(DurationError, match=f"nothing follows the T.*write {days}, or add"):
        parse_duration(text)


def test_duration_error_names_the_text() -> None:
    with pytest.raises(DurationError, match=r"^'P1M' counts months"):
        parse_duration("P1M")


@pytest.mark.parametrize(
    ("length", "words"),
    [
        (timedelta(minutes=45), "45 min"),
        (timedelta(hours=8), "8h"),
        (timedelta(hours=1, minutes=10), "1h10"),
        (timedelta(days=1, hours=2), "1d 2h"),
        (timedelta(days=3), "3d"),
    ],
)
def test_duration_is_said_the_way_a_person_would(length: timedelta, words: str) -> None:
    assert describe_duration(length) == words
