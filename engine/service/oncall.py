"""On-call schedules as every door manages them: layers, overrides, swaps, who is on call.

Admins create, change and delete schedules. Overrides ("I take Saturday") may be
added by an admin for anyone, or by a person for themselves when they are a member
of one of the schedule's layers; a swap is two overrides, made by an admin or by one
of the two people it swaps. Reading who is on call is open to every signed-in person
(the API and the desk decide who is signed in). The command line passes no actor: it
is the operator's tool. The math is `engine.core.oncall`; this module loads what it
needs and writes what a command changes, one unit of work per call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, delete, select
from sqlalchemy.orm import Session

from engine.core import oncall as math
from engine.core.errors import Problem
from engine.service.errors import InvalidInput, NotAllowed, NotFound
from engine.service.names import CONTROL, MAX_NAME, group_key_problems
from engine.service.permissions import require_admin
from engine.store.oncall import OnCallOverride, OnCallSchedule
from engine.store.people import User

if TYPE_CHECKING:
    from engine.service.shell import Shell
    from engine.store.repository import Repository
    from engine.store.uow import UnitOfWork

#: How far ahead the admin page and `next_handoffs` look for the next hand-offs.
HANDOFF_HORIZON = timedelta(days=62)
#: The longest span `shifts` answers for at once.
MAX_SPAN = timedelta(days=400)
#: Longest override, and longest reason given for one.
MAX_OVERRIDE = timedelta(days=62)
MAX_REASON = 2000

_schedules, _overrides, _users = (
    OnCallSchedule.__table__,
    OnCallOverride.__table__,
    User.__table__,
)


@dataclass(frozen=True, slots=True)
class Now:
    """Who is on call for a schedule at a moment, why, and until when."""

    schedule: str
    at: datetime
    person: str | None
    layer: str | None
    override: bool
    until: datetime | None

    def to_json(self) -> dict[str, Any]:
        return {
            "schedule": self.schedule,
            "at": self.at.isoformat(),
            "person": self.person,
            "layer": self.layer,
            "override": self.override,
            "until": self.until.isoformat() if self.until else None,
        }


@dataclass(frozen=True, slots=True)
class OverrideRow:
    id: int
    person: str
    starts: datetime
    ends: datetime
    reason: str
    created_by: str | None


@dataclass(frozen=True, slots=True)
class ScheduleView:
    """A schedule as the doors show it."""

    key: str
    name: str
    time_zone: str
    layers: list[dict[str, Any]]
    overrides: list[OverrideRow]

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "name": self.name,
            "time_zone": self.time_zone,
            "layers": self.layers,
            "overrides": [
                {
                    "id": o.id,
                    "person": o.person,
                    "starts": o.starts.isoformat(),
                    "ends": o.ends.isoformat(),
                    "reason": o.reason,
                }
                for o in self.overrides
            ],
        }


class Schedules:
    """On-call schedules: one read or one unit of work per call."""

    def __init__(self, shell: Shell) -> None:
        self.shell = shell

    # --- Reading ---------------------------------------------------------------------------

    def summaries(self) -> list[dict[str, str]]:
        """Return every schedule's key, name and time zone, by key."""
        return self.shell.read(
            lambda s: [
                {"key": key, "name": name, "time_zone": zone}
                for key, name, zone in s.execute(
                    select(
                        OnCallSchedule.key, OnCallSchedule.name, OnCallSchedule.time_zone
                    ).order_by(OnCallSchedule.key)
                )
            ]
        )

    def get(self, key: str) -> ScheduleView:
        """Return a schedule with its overrides that have not ended; NotFound if none."""
        at = self.shell.clock()

        def read(session: Session) -> ScheduleView:
            row = _row(session, key)
            overrides = session.scalars(
                select(OnCallOverride)
                .where(OnCallOverride.schedule_id == row.id, OnCallOverride.ends_at > at)
                .order_by(OnCallOverride.starts_at, OnCallOverride.id)
            )
            return ScheduleView(
                row.key,
                row.name,
                row.time_zone,
                list(row.layers),
                [
                    OverrideRow(o.id, o.username, o.starts_at, o.ends_at, o.reason, o.created_by)
                    for o in overrides
                ],
            )

        return self.shell.read(read)

    def now(self, key: str, at: datetime | None = None) -> Now:
        """Return who is on call for `key` at `at` (by default now), and until when."""
        moment = _aware(at) if at is not None else self.shell.clock()
        schedule = self.shell.read(lambda s: load(s.connection(), key, moment, moment))
        if schedule is None:
            raise NotFound(f"there is no on-call schedule '{key}'")
        return describe(schedule, moment)

    def shifts(self, key: str, start: datetime, end: datetime) -> list[math.Shift]:
        """Return the final shifts of `key` between two moments (at most 400 days apart)."""
        start, end = _aware(start), _aware(end)
        if end <= start:
            raise InvalidInput("the end must come after the start")
        if end - start > MAX_SPAN:
            raise InvalidInput(f"ask for at most {MAX_SPAN.days} days of shifts at once")
        schedule = self.shell.read(lambda s: load(s.connection(), key, start, end))
        if schedule is None:
            raise NotFound(f"there is no on-call schedule '{key}'")
        return math.shifts(schedule, start, end)

    def board(self) -> list[tuple[ScheduleView, Now, list[math.Shift]]]:
        """Return every schedule with who is on call now and its next few hand-offs."""
        at = self.shell.clock()
        found = []
        for key in (row["key"] for row in self.summaries()):
            view = self.get(key)
            schedule = self.shell.read(
                partial(_load_session, key=key, start=at, end=at + HANDOFF_HORIZON)
            )
            if schedule is None:
                continue  # deleted meanwhile
            upcoming = math.next_handoffs(schedule, at, 5, HANDOFF_HORIZON)
            found.append((view, describe(schedule, at), upcoming))
        return found

    # --- Writing ---------------------------------------------------------------------------

    def save(
        self,
        key: str,
        *,
        name: str = "",
        time_zone: str,
        layers: Any,
        actor: str | None,
    ) -> ScheduleView:
        """Create or replace a schedule (admins): its name, zone and every layer at once."""
        problems = group_key_problems(key) + _name_problems(name)
        zone = math.zone_problem(time_zone)
        problems += [zone] if zone else []

        def body(uow: UnitOfWork, at: datetime) -> None:
            _as_admin(uow.repository, actor, "change on-call schedules")
            active = _active_members(uow.session, layers)
            found = problems + math.layers_problems(layers, active)
            if found:
                raise InvalidInput(_said(found), found)
            row = uow.session.scalars(
                select(OnCallSchedule).where(OnCallSchedule.key == key)
            ).one_or_none()
            stored = math.normal_layers(layers)
            if row is None:
                row = OnCallSchedule(key=key, created_at=at)
                uow.session.add(row)
            row.name, row.time_zone, row.layers = name or key, time_zone, stored
            row.format, row.updated_at = math.FORMAT, at
            uow.session.flush()

        self.shell.execute("schedule", None, body)
        return self.get(key)

    def delete(self, key: str, *, actor: str | None) -> None:
        """Delete a schedule and its overrides (admins)."""

        def body(uow: UnitOfWork, at: datetime) -> None:
            _as_admin(uow.repository, actor, "change on-call schedules")
            row = _row(uow.session, key)
            uow.session.execute(delete(OnCallOverride).where(OnCallOverride.schedule_id == row.id))
            uow.session.delete(row)

        self.shell.execute("schedule", None, body)

    def add_override(
        self,
        key: str,
        person: str,
        starts: datetime,
        ends: datetime,
        *,
        reason: str = "",
        actor: str | None,
    ) -> int:
        """Put `person` on call for `key` from `starts` to `ends`; return the override's id.

        An admin may put anyone on; a member of the schedule's layers, themselves.
        """
        starts, ends = _aware(starts), _aware(ends)
        _check_span(starts, ends, reason)

        def body(uow: UnitOfWork, at: datetime) -> int:
            row = _row(uow.session, key)
            if actor is not None and actor != person:
                _as_admin(uow.repository, actor, "put someone else on call")
            elif (
                actor is not None
                and not _is_admin(uow.repository, actor)
                and person not in _members(row.layers)
            ):
                raise NotAllowed(f"only an admin or a member of '{key}' may take its shifts")
            if not uow.repository.active_users([person]):
                raise NotFound(f"there is no active user '{person}' to put on call")
            override = OnCallOverride(
                schedule_id=row.id,
                username=person,
                starts_at=starts,
                ends_at=ends,
                reason=reason,
                created_by=actor,
                created_at=at,
            )
            uow.session.add(override)
            uow.session.flush()
            return override.id

        return self.shell.execute("override", None, body)

    def remove_override(self, key: str, override_id: int, *, actor: str | None) -> None:
        """Remove an override: an admin, or whoever it puts on call."""

        def body(uow: UnitOfWork, at: datetime) -> None:
            row = _row(uow.session, key)
            override = uow.session.get(OnCallOverride, override_id)
            if override is None or override.schedule_id != row.id:
                raise NotFound(f"schedule '{key}' has no override {override_id}")
            if actor is not None and actor != override.username:
                _as_admin(uow.repository, actor, "remove someone else's override")
            uow.session.delete(override)

        self.shell.execute("override", None, body)

    def swap(
        self,
        key: str,
        first: tuple[datetime, datetime],
        second: tuple[datetime, datetime],
        *,
        reason: str = "",
        actor: str | None,
    ) -> tuple[int, int]:
        """Swap two shifts: whoever has all of `first` takes `second`, and the other way round.

        Each span must be held by one person throughout, and by different people; the
        actor is an admin or one of the two. The swap is two overrides.
        """
        spans = [(_aware(a), _aware(b)) for a, b in (first, second)]
        for a, b in spans:
            _check_span(a, b, reason)

        def body(uow: UnitOfWork, at: datetime) -> tuple[int, int]:
            row = _row(uow.session, key)
            lo, hi = min(a for a, _ in spans), max(b for _, b in spans)
            schedule = load(uow.connection, key, lo, hi)
            assert schedule is not None
            holders = [_holder(schedule, a, b, number) for number, (a, b) in enumerate(spans)]
            if holders[0] == holders[1]:
                raise InvalidInput(f"{holders[0]} holds both shifts: there is nothing to swap")
            if actor is not None and actor not in holders:
                _as_admin(uow.repository, actor, "swap other people's shifts")
            made = []
            for (a, b), person in zip(spans, reversed(holders), strict=True):
                override = OnCallOverride(
                    schedule_id=row.id,
                    username=person,
                    starts_at=a,
                    ends_at=b,
                    reason=reason or "swap",
                    created_by=actor,
                    created_at=at,
                )
                uow.session.add(override)
                uow.session.flush()
                made.append(override.id)
            return made[0], made[1]

        return self.shell.execute("override", None, body)


# --- The command path: assignment ------------------------------------------------------


def on_call_now(repo: Repository, key: str, at: datetime) -> str | None:
    """Return who answers `key` at `at` in a command: its schedule's person on call who
    can sign in, or, when no schedule has that key, whoever the on-call shifts name."""
    schedule = load(repo.connection, key, at, at)
    if schedule is None:
        return repo.on_call(key, at)
    people = {o.person for o in schedule.overrides} | _members_of(schedule)
    active = repo.active_users(sorted(people))
    return math.on_call(schedule, at, absent=people - active).person


def load(connection: Connection, key: str, start: datetime, end: datetime) -> math.Schedule | None:
    """Load schedule `key` with the overrides that touch [start, end]; None if none."""
    row = connection.execute(
        select(_schedules.c.id, _schedules.c.time_zone, _schedules.c.layers).where(
            _schedules.c.key == key
        )
    ).first()
    if row is None:
        return None
    overrides = connection.execute(
        select(_overrides.c.starts_at, _overrides.c.ends_at, _overrides.c.username)
        .where(
            _overrides.c.schedule_id == row.id,
            _overrides.c.starts_at <= end,
            _overrides.c.ends_at > start,
        )
        .order_by(_overrides.c.id)
    )
    return math.Schedule(
        key,
        row.time_zone,
        tuple(math.layer_from_document(doc) for doc in row.layers),
        tuple(math.Override(a, b, person) for a, b, person in overrides),
    )


def _load_session(
    session: Session, *, key: str, start: datetime, end: datetime
) -> math.Schedule | None:
    return load(session.connection(), key, start, end)


def describe(schedule: math.Schedule, at: datetime) -> Now:
    """Say who is on call at `at`, from which layer or override, and until when."""
    found = math.on_call(schedule, at)
    upcoming = math.shifts(schedule, at, at + HANDOFF_HORIZON)
    until = upcoming[0].ends if upcoming and upcoming[0].starts == at and found.person else None
    if until is not None and until >= at + HANDOFF_HORIZON:
        until = None  # no hand-off within the horizon: not the end of their shift
    layer = schedule.layers[found.layer].name if found.layer is not None else None
    return Now(schedule.key, at, found.person, layer, found.override, until)


# --- Small rules ------------------------------------------------------------------------


def _row(session: Session, key: str) -> OnCallSchedule:
    row = session.scalars(select(OnCallSchedule).where(OnCallSchedule.key == key)).one_or_none()
    if row is None:
        raise NotFound(f"there is no on-call schedule '{key}'")
    return row


def _holder(schedule: math.Schedule, start: datetime, end: datetime, number: int) -> str:
    held = math.shifts(schedule, start, end)
    if len(held) != 1 or held[0].starts != start or held[0].ends != end:
        names = ", ".join(dict.fromkeys(s.person for s in held)) or "nobody"
        which = "first" if number == 0 else "second"
        raise InvalidInput(
            f"the {which} span is not one person's shift (held by {names}); "
            "give spans one person holds throughout"
        )
    return held[0].person


def _check_span(starts: datetime, ends: datetime, reason: str) -> None:
    if ends <= starts:
        raise InvalidInput("an override must end after it starts", [Problem("/ends", "ends first")])
    if ends - starts > MAX_OVERRIDE:
        raise InvalidInput(f"an override lasts at most {MAX_OVERRIDE.days} days")
    if len(reason) > MAX_REASON or CONTROL.search(reason.replace("\n", "")):
        raise InvalidInput(f"a reason has at most {MAX_REASON} characters and no control codes")


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise InvalidInput("give a moment with its time zone, like 2026-12-24T09:00:00+01:00")
    if not math.FIRST_YEAR <= moment.year <= math.LAST_YEAR:
        raise InvalidInput(f"give a moment from {math.FIRST_YEAR} to {math.LAST_YEAR}")
    return moment.astimezone(UTC)


def _name_problems(name: str) -> list[Problem]:
    if len(name) > MAX_NAME or CONTROL.search(name):
        return [Problem("/name", f"a name has at most {MAX_NAME} characters, on one line")]
    return []


def _said(problems: Sequence[Problem]) -> str:
    return "the schedule cannot be saved: " + "; ".join(str(p) for p in problems[:5])


def _as_admin(repo: Repository, actor: str | None, what: str) -> None:
    if actor is not None:
        require_admin(repo, actor, what)


def _is_admin(repo: Repository, actor: str) -> bool:
    return "admin" in repo.roles_of(actor)


def _members(layers: Sequence[Mapping[str, Any]]) -> set[str]:
    return {person for layer in layers for person in layer.get("members", ())}


def _members_of(schedule: math.Schedule) -> set[str]:
    return {person for layer in schedule.layers for person in layer.members}


def _active_members(session: Session, layers: Any) -> set[str]:
    """Return which of the people the layers name are active users."""
    if not isinstance(layers, list):
        return set()
    named = {
        p
        for layer in layers
        if isinstance(layer, Mapping) and isinstance(layer.get("members"), list)
        for p in layer["members"]
        if isinstance(p, str)
    }
    if not named:
        return set()
    return set(session.scalars(select(User.username).where(User.username.in_(named), User.active)))
