"""Invariants of on-call schedules around daylight-saving changes, in several zones.

Every example draws a moment a few days either side of a clock change of its zone
(Kolkata has none, Lord Howe's is half an hour), layers that began a little before
it (daily, weekly or a custom length, with hand-offs in the hours the clocks skip or
repeat too), restrictions and overrides.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core.oncall import (
    Layer,
    Override,
    Restriction,
    Schedule,
    handoff,
    layer_on_call,
    on_call,
    shifts,
    turn_at,
)

ZONES = (
    "Europe/Amsterdam",
    "America/New_York",
    "Australia/Sydney",
    "Asia/Kolkata",
    "Australia/Lord_Howe",
)
PEOPLE = ("ann", "bob", "cy", "dee", "eve")


def _changes(zone: str) -> list[datetime]:
    """Return the moments the clocks of `zone` change in 2025-2027."""
    tz = ZoneInfo(zone)
    found = []
    moment = datetime(2025, 1, 1, tzinfo=UTC)
    while moment < datetime(2028, 1, 1, tzinfo=UTC):
        after = moment + timedelta(hours=1)
        if moment.astimezone(tz).utcoffset() != after.astimezone(tz).utcoffset():
            before = moment
            while after - before > timedelta(seconds=1):
                middle = before + (after - before) / 2
                if middle.astimezone(tz).utcoffset() == before.astimezone(tz).utcoffset():
                    before = middle
                else:
                    after = middle
            found.append(after.replace(microsecond=0))
        moment += timedelta(hours=1)
    return found or [datetime(2026, 6, 1, tzinfo=UTC)]


CHANGES = {zone: _changes(zone) for zone in ZONES}


@st.composite
def moments(draw: st.DrawFn) -> tuple[str, datetime]:
    """A zone and a moment within four days of one of its clock changes."""
    zone = draw(st.sampled_from(ZONES))
    change = draw(st.sampled_from(CHANGES[zone]))
    seconds = draw(st.integers(-4 * 86400, 4 * 86400))
    return zone, change + timedelta(seconds=seconds)


clocks = st.builds(
    time,
    st.integers(0, 23),
    st.sampled_from([0, 15, 30, 45]),
)
rotations = st.one_of(
    st.just((1, "days")),
    st.just((1, "weeks")),
    st.tuples(st.integers(2, 5), st.just("days")),
    st.tuples(st.integers(3, 36), st.just("hours")),
)
restrictions = st.one_of(
    st.none(),
    st.builds(
        Restriction,
        st.frozensets(st.integers(0, 6), min_size=1),
        clocks,
        clocks,
    ),
)


@st.composite
def layers(draw: st.DrawFn, near: datetime) -> Layer:
    members = draw(st.lists(st.sampled_from(PEOPLE), min_size=1, max_size=4, unique=True))
    every, unit = draw(rotations)
    start = near.date() - timedelta(days=draw(st.integers(0, 30)))
    return Layer("layer", tuple(members), every, unit, draw(clocks), start, draw(restrictions))


@st.composite
def schedules(draw: st.DrawFn) -> tuple[Schedule, datetime]:
    zone, at = draw(moments())
    stack = tuple(draw(st.lists(layers(at), min_size=1, max_size=3)))
    overrides = []
    for _ in range(draw(st.integers(0, 3))):
        starts = at + timedelta(minutes=draw(st.integers(-3000, 3000)))
        length = timedelta(minutes=draw(st.integers(1, 3000)))
        overrides.append(Override(starts, starts + length, draw(st.sampled_from(PEOPLE))))
    return Schedule("s", zone, stack, tuple(overrides)), at


def _naive(layer: Layer, turn: int) -> datetime:
    return datetime.combine(layer.start, layer.handoff) + turn * layer.length


def _exists(local: datetime, zone: ZoneInfo) -> bool:
    moment = local.replace(tzinfo=zone).astimezone(UTC)
    return moment.astimezone(zone).replace(tzinfo=None) == local


@settings(max_examples=400, deadline=None)
@given(schedules())
def test_every_active_layer_puts_exactly_one_of_its_members_on_call(
    drawn: tuple[Schedule, datetime],
) -> None:
    schedule, at = drawn
    zone = schedule.tz
    for layer in schedule.layers:
        person = layer_on_call(layer, zone, at)
        started = at >= handoff(layer, zone, 0)
        allowed = layer.restriction is None or layer.restriction.allows(at.astimezone(zone))
        assert (person is not None) == (started and allowed)
        if person is not None:
            turn = turn_at(layer, zone, at)
            assert turn is not None
            assert handoff(layer, zone, turn) <= at < handoff(layer, zone, turn + 1)
            assert person == layer.members[turn % len(layer.members)]


@settings(max_examples=400, deadline=None)
@given(schedules())
def test_hand_offs_happen_at_the_stated_local_time(drawn: tuple[Schedule, datetime]) -> None:
    schedule, at = drawn
    zone = schedule.tz
    for layer in schedule.layers:
        turn = max(turn_at(layer, zone, at) or 0, 1)
        for number in range(turn - 2, turn + 3):
            moment, reading = handoff(layer, zone, number), _naive(layer, number)
            local = moment.astimezone(zone)
            if _exists(reading, zone):
                # The stated local time, and its first time round when the clocks go back.
                assert local.replace(tzinfo=None) == reading
                assert local.fold == 0
            else:
                # Skipped by the clocks: the moment they jump, just past the stated time.
                assert local.replace(tzinfo=None) > reading
                before = (moment - timedelta(seconds=1)).astimezone(zone)
                assert before.utcoffset() != local.utcoffset()
                assert before.replace(tzinfo=None) < reading
            assert handoff(layer, zone, number) <= handoff(layer, zone, number + 1)


@settings(max_examples=300, deadline=None)
@given(schedules())
def test_the_rotation_order_holds_across_each_hand_off(drawn: tuple[Schedule, datetime]) -> None:
    schedule, at = drawn
    zone = schedule.tz
    for layer in schedule.layers:
        bare = Layer(layer.name, layer.members, layer.every, layer.unit, layer.handoff, layer.start)
        turn = turn_at(bare, zone, at) or 0
        for number in range(max(turn - 3, 1), turn + 3):
            moment = handoff(bare, zone, number)
            if moment == handoff(bare, zone, number - 1):
                continue  # two readings inside one skipped hour: an empty turn
            members = bare.members
            assert layer_on_call(bare, zone, moment) == members[number % len(members)]
            earlier = layer_on_call(bare, zone, moment - timedelta(microseconds=1))
            previous = number - 1
            while previous > 0 and handoff(bare, zone, previous) == moment:
                previous -= 1
            assert earlier == members[previous % len(members)]


@settings(max_examples=400, deadline=None)
@given(schedules())
def test_overrides_win_over_every_layer(drawn: tuple[Schedule, datetime]) -> None:
    schedule, at = drawn
    found = on_call(schedule, at)
    covering = [o for o in schedule.overrides if o.starts <= at < o.ends]
    if covering:
        assert found.person == covering[-1].person
        assert found.override
    else:
        bare = Schedule(schedule.key, schedule.zone, schedule.layers)
        assert found == on_call(bare, at)
        tops = [layer_on_call(layer, schedule.tz, at) for layer in schedule.layers]
        assert found.person == next((p for p in reversed(tops) if p is not None), None)


@settings(max_examples=200, deadline=None)
@given(schedules(), st.lists(st.integers(0, 3 * 86400 - 1), min_size=1, max_size=20))
def test_the_shifts_say_who_is_on_call_at_every_moment(
    drawn: tuple[Schedule, datetime], probes: list[int]
) -> None:
    schedule, at = drawn
    start, end = at - timedelta(days=1), at + timedelta(days=2)
    found = shifts(schedule, start, end)
    for one, two in pairwise(found):
        assert one.starts < one.ends <= two.starts < two.ends
        assert one.ends < two.starts or one.person != two.person
    for seconds in probes:
        moment = start + timedelta(seconds=seconds)
        holder = next((s.person for s in found if s.starts <= moment < s.ends), None)
        assert holder == on_call(schedule, moment).person


def test_a_daily_rotation_hands_off_at_nine_on_both_sides_of_each_change() -> None:
    zone = ZoneInfo("Europe/Amsterdam")
    layer = Layer("primary", ("ann", "bob"), 1, "days", time(9), date(2026, 3, 26))
    moments = [handoff(layer, zone, turn) for turn in range(5)]
    assert [m.astimezone(zone).hour for m in moments] == [9] * 5
    # The night the clocks go forward (29 March 2026), that day's shift is 23 hours long.
    lengths = [later - earlier for earlier, later in pairwise(moments)]
    assert lengths == [timedelta(hours=h) for h in (24, 24, 23, 24)]
    autumn = Layer("primary", ("ann", "bob"), 1, "days", time(9), date(2026, 10, 24))
    assert handoff(autumn, zone, 1) - handoff(autumn, zone, 0) == timedelta(hours=25)


def test_a_hand_off_in_the_skipped_hour_happens_when_the_clocks_jump() -> None:
    zone = ZoneInfo("Europe/Amsterdam")
    layer = Layer("night", ("ann", "bob"), 1, "days", time(2, 30), date(2026, 3, 28))
    jump = handoff(layer, zone, 1)
    assert jump == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    assert jump.astimezone(zone).time() == time(3, 0)
