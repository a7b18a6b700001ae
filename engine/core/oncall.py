"""On-call schedules: rotation layers, restrictions and overrides, and who is on call when.

A schedule lives in one IANA time zone. Each layer rotates its members in order: the
first hand-off is at the layer's `handoff` local time on its `start` date, and the next
ones every `every` hours, days or weeks of the local clock after it, so a daily rotation
at 09:00 hands off at 09:00 on both sides of a daylight-saving change (that day's shift
is 23 or 25 hours long). A hand-off whose local time the clocks skip happens at the
jump; one whose local time happens twice happens the first time. A restriction keeps a
layer to some weekdays and a window of local hours (one that ends before it begins runs
past midnight, counted on the weekday it begins). Layers stack: where a later layer is
active it wins. An override (a person for a span of time) wins over every layer; a swap
is two overrides.

Pure: no database and no clock. Time is a parameter, always an aware datetime.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from engine.core.errors import Problem

#: The format of a schedule's stored document; bump it with an upgrade function.
FORMAT = 1

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
UNITS = {"hours": timedelta(hours=1), "days": timedelta(days=1), "weeks": timedelta(weeks=1)}
#: The longest rotation, per unit: a year.
MAX_EVERY = {"hours": 24 * 366, "days": 366, "weeks": 53}
NAMED_ROTATIONS = {"daily": {"every": 1, "unit": "days"}, "weekly": {"every": 1, "unit": "weeks"}}
MAX_LAYERS = 20
#: The years a layer may start in: far enough either way, and clear of datetime's limits.
FIRST_YEAR, LAST_YEAR = 1970, 2200
MAX_MEMBERS = 200
_CLOCK = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")


@dataclass(frozen=True, slots=True)
class Restriction:
    """Where a layer is active: some weekdays (0 is Monday), from `start` to `end` local time.

    An `end` at or before `start` runs past midnight; `start == end` is the whole day.
    """

    weekdays: frozenset[int] = frozenset(range(7))
    start: time = time(0)
    end: time = time(0)

    def allows(self, local: datetime) -> bool:
        """Tell whether a local (wall-clock) moment falls in the restriction."""
        clock, day = local.time().replace(tzinfo=None), local.date()
        if self.start < self.end:
            return day.weekday() in self.weekdays and self.start <= clock < self.end
        if clock >= self.start:
            return day.weekday() in self.weekdays
        if clock < self.end:
            return (day - timedelta(days=1)).weekday() in self.weekdays
        return False


@dataclass(frozen=True, slots=True)
class Layer:
    """Members taking turns, in order, from `start` at `handoff` local time."""

    name: str
    members: tuple[str, ...]
    every: int
    unit: str
    handoff: time
    start: date
    restriction: Restriction | None = None

    @property
    def length(self) -> timedelta:
        """Return one turn, on the local clock."""
        return self.every * UNITS[self.unit]


@dataclass(frozen=True, slots=True, order=True)
class Override:
    """`person` is on call from `starts` to `ends`, whatever the layers say."""

    starts: datetime
    ends: datetime
    person: str


@dataclass(frozen=True, slots=True)
class Schedule:
    """Layers (the last on top) and overrides in one time zone."""

    key: str
    zone: str
    layers: tuple[Layer, ...]
    overrides: tuple[Override, ...] = field(default=())

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.zone)


@dataclass(frozen=True, slots=True)
class OnCall:
    """Who is on call at a moment, and why: an override, or a layer (its index)."""

    person: str | None
    layer: int | None = None
    override: bool = False


@dataclass(frozen=True, slots=True)
class Shift:
    """One person on call without a break, from `starts` to `ends`."""

    person: str
    starts: datetime
    ends: datetime


# --- Local time ---------------------------------------------------------------------------


def instant(local: datetime, zone: ZoneInfo) -> datetime:
    """Return (in UTC) when the clocks of `zone` first read the naive `local`.

    A reading the clocks skip (they go forward) means the moment of the jump; a reading
    they show twice (they go back) means its first time round. Later readings never map
    to earlier moments.
    """
    moment = local.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if moment.astimezone(zone).replace(tzinfo=None) == local:
        return moment
    before, after = local.replace(tzinfo=zone, fold=1).astimezone(UTC), moment
    while after - before > timedelta(seconds=1):
        middle = before + timedelta(seconds=(after - before).total_seconds() // 2)
        if middle.astimezone(zone).utcoffset() == before.astimezone(zone).utcoffset():
            before = middle
        else:
            after = middle
    return after


def _local(moment: datetime, zone: ZoneInfo) -> datetime:
    return moment.astimezone(zone).replace(tzinfo=None)


# --- One layer ----------------------------------------------------------------------------


def handoff(layer: Layer, zone: ZoneInfo, turn: int) -> datetime:
    """Return (in UTC) when turn number `turn` (0 is the first) of the layer begins."""
    return instant(datetime.combine(layer.start, layer.handoff) + turn * layer.length, zone)


def turn_at(layer: Layer, zone: ZoneInfo, at: datetime) -> int | None:
    """Return the number of the turn running at `at`; None before the layer starts."""
    base = datetime.combine(layer.start, layer.handoff)
    turn = (_local(at, zone) - base) // layer.length
    while handoff(layer, zone, turn + 1) <= at:
        turn += 1
    while turn >= 0 and handoff(layer, zone, turn) > at:
        turn -= 1
    return turn if turn >= 0 else None


def layer_on_call(layer: Layer, zone: ZoneInfo, at: datetime) -> str | None:
    """Return who the layer puts on call at `at`: one member where it is active, else None."""
    if layer.restriction is not None and not layer.restriction.allows(at.astimezone(zone)):
        return None
    turn = turn_at(layer, zone, at)
    return None if turn is None else layer.members[turn % len(layer.members)]


# --- The whole schedule -------------------------------------------------------------------


def on_call(schedule: Schedule, at: datetime, absent: Collection[str] = ()) -> OnCall:
    """Return who is on call at `at`: the latest override covering it, else the top active
    layer's member, else nobody. The people in `absent` (who cannot sign in) are passed
    over: the next override or layer down answers for them."""
    for override in reversed(schedule.overrides):
        if override.starts <= at < override.ends and override.person not in absent:
            return OnCall(override.person, override=True)
    zone = schedule.tz
    for index in range(len(schedule.layers) - 1, -1, -1):
        person = layer_on_call(schedule.layers[index], zone, at)
        if person is not None and person not in absent:
            return OnCall(person, layer=index)
    return OnCall(None)


def shifts(schedule: Schedule, start: datetime, end: datetime) -> list[Shift]:
    """Return the schedule's final shifts overlapping [start, end), cut to it, in order.

    A shift is one person on call without a break, whichever layers and overrides put
    them there; times when nobody is on call are left out.
    """
    cuts = sorted({start, *(at for at in _changes(schedule, start, end) if start < at < end)})
    found: list[Shift] = []
    for begins, ends in zip(cuts, [*cuts[1:], end], strict=True):
        person = on_call(schedule, begins).person
        if person is None:
            continue
        if found and found[-1].person == person and found[-1].ends == begins:
            found[-1] = Shift(person, found[-1].starts, ends)
        else:
            found.append(Shift(person, begins, ends))
    return found


def _changes(schedule: Schedule, start: datetime, end: datetime) -> Iterable[datetime]:
    """Yield every moment who is on call may change in [start, end) (and maybe others)."""
    zone = schedule.tz
    for override in schedule.overrides:
        yield override.starts
        yield override.ends
    first_day = _local(start, zone).date() - timedelta(days=1)
    last_day = _local(end, zone).date() + timedelta(days=1)
    for layer in schedule.layers:
        turn = max(turn_at(layer, zone, start) or 0, 0)
        while (moment := handoff(layer, zone, turn)) < end:
            yield moment
            turn += 1
        if layer.restriction is not None:
            day = first_day
            while day <= last_day:
                yield instant(datetime.combine(day, layer.restriction.start), zone)
                yield instant(datetime.combine(day, layer.restriction.end), zone)
                day += timedelta(days=1)


def next_handoffs(schedule: Schedule, at: datetime, count: int, horizon: timedelta) -> list[Shift]:
    """Return up to `count` shifts that begin after `at`, within `horizon` of it."""
    return [s for s in shifts(schedule, at, at + horizon) if s.starts > at][:count]


# --- Documents ----------------------------------------------------------------------------


def zone_problem(zone: Any, pointer: str = "/time_zone") -> Problem | None:
    """Say why `zone` is not an IANA time zone, or None if it is."""
    if not isinstance(zone, str) or not zone or zone != zone.strip():
        return Problem(pointer, "give an IANA time zone, like Europe/Amsterdam")
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder, like 'Europe'
        return Problem(pointer, f"'{zone}' is not a time zone; write one like Europe/Amsterdam")
    return None


def layers_problems(layers: Any, known_people: Iterable[str] | None = None) -> list[Problem]:
    """Say what is wrong with a schedule's layers (a list of layer documents)."""
    if not isinstance(layers, list):
        return [Problem("/layers", "layers must be a list")]
    if len(layers) > MAX_LAYERS:
        return [Problem("/layers", f"a schedule has at most {MAX_LAYERS} layers")]
    known = set(known_people) if known_people is not None else None
    problems: list[Problem] = []
    for index, doc in enumerate(layers):
        problems += _layer_problems(f"/layers/{index}", doc, known)
    return problems


def _layer_problems(at: str, doc: Any, known: set[str] | None) -> list[Problem]:
    if not isinstance(doc, Mapping):
        return [Problem(at, "a layer must be an object")]
    problems: list[Problem] = []
    unknown = sorted(set(doc) - {"name", "members", "rotation", "handoff", "start", "restrict"})
    if unknown:
        problems.append(Problem(at, f"unknown {', '.join(map(repr, unknown))} in a layer"))
    members = doc.get("members")
    if not isinstance(members, list) or not members:
        problems.append(Problem(f"{at}/members", "a layer needs at least one member"))
    elif len(members) > MAX_MEMBERS:
        problems.append(Problem(f"{at}/members", f"a layer has at most {MAX_MEMBERS} members"))
    else:
        for number, person in enumerate(members):
            if not isinstance(person, str) or not person.strip():
                problems.append(Problem(f"{at}/members/{number}", "a member is a user name"))
            elif known is not None and person not in known:
                problems.append(
                    Problem(f"{at}/members/{number}", f"there is no active user '{person}'")
                )
    problems += _rotation_problems(f"{at}/rotation", doc.get("rotation"))
    if not _is_clock(doc.get("handoff")):
        problems.append(Problem(f"{at}/handoff", "write the hand-off time as HH:MM, like 09:00"))
    if not _is_date(doc.get("start")):
        problems.append(
            Problem(
                f"{at}/start",
                f"write the start date as YYYY-MM-DD, from {FIRST_YEAR} to {LAST_YEAR}",
            )
        )
    if "restrict" in doc:
        problems += _restriction_problems(f"{at}/restrict", doc["restrict"])
    return problems


def _rotation_problems(at: str, rotation: Any) -> list[Problem]:
    if isinstance(rotation, str) and rotation in NAMED_ROTATIONS:
        return []
    said = 'the rotation is "daily", "weekly" or {"every": N, "unit": "hours" or "days"}'
    if not isinstance(rotation, Mapping) or set(rotation) != {"every", "unit"}:
        return [Problem(at, said)]
    unit, every = rotation["unit"], rotation["every"]
    if unit not in UNITS:
        return [Problem(f"{at}/unit", "the unit is hours, days or weeks")]
    if not isinstance(every, int) or isinstance(every, bool) or not 1 <= every <= MAX_EVERY[unit]:
        return [Problem(f"{at}/every", f"every is a whole number from 1 to {MAX_EVERY[unit]}")]
    return []


def _restriction_problems(at: str, doc: Any) -> list[Problem]:
    if not isinstance(doc, Mapping) or not set(doc) <= {"weekdays", "from", "to"}:
        return [Problem(at, 'a restriction has "weekdays" and/or "from" and "to" (HH:MM)')]
    problems: list[Problem] = []
    days = doc.get("weekdays", list(WEEKDAYS))
    if not isinstance(days, list) or not days or any(day not in WEEKDAYS for day in days):
        problems.append(Problem(f"{at}/weekdays", f"weekdays are among {', '.join(WEEKDAYS)}"))
    if ("from" in doc) != ("to" in doc):
        problems.append(Problem(at, 'give both "from" and "to", or neither'))
    for end in ("from", "to"):
        if end in doc and not _is_clock(doc[end]):
            problems.append(Problem(f"{at}/{end}", "write the time as HH:MM, like 18:00"))
    return problems


def _is_clock(value: Any) -> bool:
    return isinstance(value, str) and bool(_CLOCK.match(value))


def _is_date(value: Any) -> bool:
    if not isinstance(value, str) or len(value) != 10:
        return False
    try:
        day = date.fromisoformat(value)
    except ValueError:
        return False
    return FIRST_YEAR <= day.year <= LAST_YEAR


def normal_layers(layers: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Return valid layer documents as stored: named rotations spelled out, names given."""
    stored: list[dict[str, Any]] = []
    for index, doc in enumerate(layers):
        rotation = doc["rotation"]
        layer = {
            "name": str(doc.get("name") or f"Layer {index + 1}"),
            "members": list(doc["members"]),
            "rotation": dict(NAMED_ROTATIONS[rotation] if isinstance(rotation, str) else rotation),
            "handoff": doc["handoff"],
            "start": doc["start"],
        }
        if "restrict" in doc:
            layer["restrict"] = dict(doc["restrict"])
        stored.append(layer)
    return stored


def layer_from_document(doc: Mapping[str, Any]) -> Layer:
    """Build a layer from its (valid, normal) document."""
    rotation = doc["rotation"]
    if isinstance(rotation, str):
        rotation = NAMED_ROTATIONS[rotation]
    restriction = None
    if "restrict" in doc:
        spec = doc["restrict"]
        restriction = Restriction(
            frozenset(WEEKDAYS.index(day) for day in spec.get("weekdays", WEEKDAYS)),
            time.fromisoformat(spec.get("from", "00:00")),
            time.fromisoformat(spec.get("to", "00:00")),
        )
    return Layer(
        name=str(doc.get("name") or ""),
        members=tuple(doc["members"]),
        every=int(rotation["every"]),
        unit=str(rotation["unit"]),
        handoff=time.fromisoformat(doc["handoff"]),
        start=date.fromisoformat(doc["start"]),
        restriction=restriction,
    )
