"""Incident figures against a brute force: a minute-by-minute walk of a generated history.

Each example draws a business calendar (a time zone, working periods per weekday,
holidays; or none: wall time), the statuses the SLA pauses in, and a history of
acknowledgements, status changes, pauses, resolutions, endings and reopenings at
whole minutes, some across a clock change. The walk below knows nothing of
`engine.core.metrics` or `Calendar`'s arithmetic: it steps a minute at a time, asks
the local clock whether that minute is working time, and counts the minutes the
incident was open.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core.calendars import WEEKDAYS, Calendar
from engine.core.metrics import Entry, Policy, figures, mean_time_between_failures

ZONES = ("UTC", "Europe/Amsterdam", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe")
MINUTE = timedelta(minutes=1)
#: Around the end of daylight saving time in Europe and the US (late Oct, early Nov 2026).
EARLIEST = datetime(2026, 10, 22, tzinfo=UTC)
WORKING_STATUSES = ("in_progress", "waiting_on_requester", "on_hold")
ACTIONS = ("ack", "claim", "complete", "system_complete", "status", "resolve", "end", "reopen")


@dataclass
class Drawn:
    calendar: dict[str, object] | None
    pause_while: frozenset[str]
    created: datetime
    entries: list[Entry]


@st.composite
def calendars(draw: st.DrawFn) -> dict[str, object] | None:
    if draw(st.booleans()):
        return None
    hours: dict[str, list[str]] = {}
    for day in WEEKDAYS:
        # Working hours between 05:00 and 24:00 local, so none falls in an hour that the
        # clocks skip or repeat (what that means is calendars.py's business, tested there).
        edges = sorted(draw(st.sets(st.integers(10, 48), max_size=4)))
        if len(edges) % 2:
            edges = edges[:-1]
        hours[day] = [f"{_half(edges[i])}-{_half(edges[i + 1])}" for i in range(0, len(edges), 2)]
    if not any(hours.values()):
        hours["mon"] = ["09:00-17:00"]
    holidays = draw(st.sets(st.integers(0, 14), max_size=3))
    return {
        "key": "office",
        "timezone": draw(st.sampled_from(ZONES)),
        "hours": hours,
        "holidays": [(EARLIEST.date() + timedelta(days=d)).isoformat() for d in holidays],
    }


def _half(index: int) -> str:
    hours, half = divmod(index, 2)
    return f"{hours:02d}:{30 * half:02d}"


@st.composite
def histories(draw: st.DrawFn) -> Drawn:
    calendar = draw(calendars())
    pause_while = frozenset(draw(st.sets(st.sampled_from(WORKING_STATUSES), max_size=2)))
    created = EARLIEST + timedelta(minutes=draw(st.integers(0, 5 * 24 * 60)))
    at, ended = created, False
    entries = [Entry(created, "started")]
    for _ in range(draw(st.integers(0, 12))):
        at += timedelta(minutes=draw(st.integers(0, 600)))
        action = draw(st.sampled_from(ACTIONS))
        if action == "reopen":
            if ended:
                entries.append(Entry(at, "reopened", "amir", {"to": "work"}))
                ended = False
        elif ended:
            continue  # an ended instance takes nothing but a reopening
        elif action == "ack":
            entries.append(Entry(at, "acknowledged", "amir"))
        elif action == "claim":
            entries.append(Entry(at, "task_claimed", "amir", {"task": "t1"}))
        elif action in ("complete", "system_complete"):
            actor = "amir" if action == "complete" else None
            entries.append(Entry(at, "task_completed", actor, {"task": "t1"}))
        elif action == "status":
            status = draw(st.sampled_from(WORKING_STATUSES))
            entries.append(Entry(at, "status_changed", None, {"status": status}))
        elif action == "resolve":
            entries.append(Entry(at, "status_changed", None, {"status": "resolved"}))
        else:
            status = draw(st.sampled_from(("closed", "closed", "cancelled", "duplicate")))
            entries.append(Entry(at, "ended", None, {"status": status}))
            ended = True
    return Drawn(calendar, pause_while, created, entries)


# The brute force --------------------------------------------------------------------------


def _working_minute(minute: datetime, calendar: dict[str, object] | None) -> bool:
    """Tell whether the minute starting at `minute` is working time, by the local clock."""
    if calendar is None:
        return True
    local = minute.astimezone(ZoneInfo(str(calendar["timezone"])))
    holidays = calendar["holidays"]
    assert isinstance(holidays, list)
    if local.date().isoformat() in holidays:
        return False
    hours = calendar["hours"]
    assert isinstance(hours, dict)
    reading = local.time()
    for period in hours[WEEKDAYS[local.weekday()]]:
        begin, end = period.split("-")
        low = time.fromisoformat(begin)
        if low <= reading and (end == "24:00" or reading < time.fromisoformat(end)):
            return True
    return False


@dataclass
class Walked:
    ack: tuple[datetime, int] | None = None
    resolved: tuple[datetime, int] | None = None
    reopenings: int = 0
    stands_resolved: bool = False
    discarded: bool = False


def _walk(drawn: Drawn) -> Walked:
    """Step a minute at a time, counting the open minutes; note each figure as it falls."""
    out = Walked()
    status, ended, counted = "open", False, 0
    pending = list(drawn.entries)
    minute = drawn.created
    last = pending[-1].at
    while True:
        while pending and pending[0].at <= minute:
            entry = pending.pop(0)
            detail = entry.detail or {}
            stopped_before = ended or status == "resolved"
            if entry.kind in ("acknowledged", "task_claimed") and out.ack is None:
                out.ack = (entry.at, counted)
            if entry.kind == "task_completed" and entry.actor and out.ack is None:
                out.ack = (entry.at, counted)
            if entry.kind == "status_changed":
                status = str(detail["status"])
            if entry.kind == "ended":
                status, ended = str(detail["status"]), True
            if entry.kind == "reopened":
                status, ended = "open", False
            stopped_after = ended or status == "resolved"
            if stopped_after and not stopped_before:
                out.resolved = (entry.at, counted)
            if stopped_before and not stopped_after:
                out.reopenings += 1
        if minute >= last:
            break
        open_now = not ended and status != "resolved" and status not in drawn.pause_while
        if open_now and _working_minute(minute, drawn.calendar):
            counted += 1
        minute += MINUTE
    out.stands_resolved = ended or status == "resolved"
    out.discarded = ended and status in ("cancelled", "duplicate")
    return out


def _policy(drawn: Drawn) -> Policy:
    calendar = Calendar.from_document(drawn.calendar) if drawn.calendar else None
    return Policy(drawn.pause_while, calendar)


@settings(max_examples=150, deadline=None)
@given(histories())
def test_time_to_acknowledge_is_the_open_minutes_before_the_first_acknowledgement(
    drawn: Drawn,
) -> None:
    found = figures(drawn.created, drawn.entries, _policy(drawn))
    walked = _walk(drawn)
    if walked.ack is None:
        assert found.acknowledged_at is None
        assert found.time_to_acknowledge is None
    else:
        assert found.acknowledged_at == walked.ack[0]
        assert found.time_to_acknowledge == walked.ack[1] * MINUTE


@settings(max_examples=150, deadline=None)
@given(histories())
def test_time_to_resolve_counts_open_working_minutes_up_to_the_last_resolution(
    drawn: Drawn,
) -> None:
    found = figures(drawn.created, drawn.entries, _policy(drawn))
    walked = _walk(drawn)
    assert found.reopenings == walked.reopenings
    assert found.discarded == walked.discarded
    if walked.stands_resolved and not walked.discarded:
        assert walked.resolved is not None
        assert found.resolved_at == walked.resolved[0]
        assert found.time_to_resolve == walked.resolved[1] * MINUTE
    else:
        assert found.resolved_at is None
        assert found.time_to_resolve is None


def test_a_pause_and_a_weekend_leave_the_resolution_clock_alone() -> None:
    calendar = Calendar.from_document(
        {"key": "office", "timezone": "Europe/Amsterdam", "hours": {"fri": ["09:00-17:00"]}}
    )
    friday = datetime(2026, 11, 6, 8, 0, tzinfo=UTC)  # 09:00 in Amsterdam
    entries = [
        Entry(friday, "started"),
        Entry(friday + timedelta(hours=1), "task_claimed", "amir"),
        Entry(friday + timedelta(hours=2), "status_changed", None, {"status": "waiting"}),
        Entry(friday + timedelta(hours=5), "status_changed", None, {"status": "in_progress"}),
        Entry(friday + timedelta(days=7, hours=1), "status_changed", None, {"status": "resolved"}),
        Entry(friday + timedelta(days=8), "ended", None, {"status": "closed"}),
    ]
    found = figures(friday, entries, Policy(frozenset({"waiting"}), calendar))
    assert found.time_to_acknowledge == timedelta(hours=1)
    # Friday: 2h before the pause + 3h after it (to 17:00); next Friday: 1h.
    assert found.time_to_resolve == timedelta(hours=6)
    assert found.resolved_at == friday + timedelta(days=7, hours=1)


def test_sla_outcomes_read_every_clock_a_reopening_started() -> None:
    start = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    met = {"clock": "resolution", "met": True}
    entries = [
        Entry(start, "sla_started", None, {"clock": "response"}),
        Entry(start, "sla_started", None, {"clock": "resolution"}),
        Entry(start, "sla_stopped", None, {"clock": "response", "met": True}),
        Entry(start, "sla_stopped", None, met),
        Entry(start, "ended", None, {"status": "closed"}),
        Entry(start, "reopened", "amir"),
        Entry(start, "sla_started", None, {"clock": "resolution"}),
        Entry(start, "sla_breached", None, {"clock": "resolution"}),
    ]
    found = figures(start, entries, Policy())
    assert found.sla == {"response": "met", "resolution": "breached"}
    assert found.reopenings == 1
    assert not found.ended


# MTBF ---------------------------------------------------------------------------------------


@st.composite
def outages(draw: st.DrawFn) -> list[tuple[datetime, datetime | None]]:
    starts = sorted(draw(st.sets(st.integers(0, 3000), min_size=0, max_size=8)))
    found: list[tuple[datetime, datetime | None]] = []
    for start in starts:
        length = draw(st.one_of(st.none(), st.integers(0, 600)))
        begin = EARLIEST + start * MINUTE
        found.append((begin, None if length is None else begin + length * MINUTE))
    return found


def _mtbf_walk(incidents: list[tuple[datetime, datetime | None]]) -> tuple[timedelta | None, int]:
    """A failure starts while no earlier incident covers its minute; its uptime is the run
    of minutes, back from its start, that no earlier incident covers or was restored after
    (one restored the minute it started covers none, yet the service was up only since)."""
    ups: list[int] = []
    for k, (start, _) in enumerate(incidents):
        earlier = incidents[:k]
        if not earlier:
            continue

        def down(
            minute: datetime, earlier: list[tuple[datetime, datetime | None]] = earlier
        ) -> bool:
            return any(b <= minute and (e is None or minute < e) for b, e in earlier)

        def restored_after(
            minute: datetime, earlier: list[tuple[datetime, datetime | None]] = earlier
        ) -> bool:
            return any(e is not None and e > minute for _, e in earlier)

        if down(start):
            continue
        run, minute = 0, start - MINUTE
        while minute >= incidents[0][0] and not down(minute) and not restored_after(minute):
            run += 1
            minute -= MINUTE
        ups.append(run)
    if not ups:
        return None, 0
    return sum(ups, 0) * MINUTE / len(ups), len(ups)


@settings(max_examples=200, deadline=None)
@given(outages())
def test_mtbf_is_the_mean_uptime_before_each_failure(
    incidents: list[tuple[datetime, datetime | None]],
) -> None:
    assert mean_time_between_failures(incidents) == _mtbf_walk(incidents)


def test_an_incident_during_an_outage_is_no_new_failure() -> None:
    day = datetime(2026, 11, 2, tzinfo=UTC)
    incidents = [
        (day, day + timedelta(hours=4)),
        (day + timedelta(hours=1), day + timedelta(hours=2)),  # during the first: no failure
        (day + timedelta(hours=10), day + timedelta(hours=11)),  # 6h after the restoration
        (day + timedelta(hours=13), None),  # 2h after
    ]
    assert mean_time_between_failures(incidents) == (timedelta(hours=4), 2)
