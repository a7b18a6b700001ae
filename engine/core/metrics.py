"""The clocks of an incident, read from its history: time to acknowledge, time to resolve.

Pure: a history (the instance's timeline entries, in order) goes in, `Figures` come out;
no database, no clock reading. Every definition here is the one docs/insight.md states:

- The *open clock* runs from the incident's creation while it is open: not while its
  status is one its SLA pauses in (`pause_while`), not while it stands resolved (a
  status in `resolved`, or ended), and only in working time when the SLA counts in a
  business calendar (wall time otherwise). Both figures below are read off that clock.
- *Time to acknowledge* (MTTA's term): the open clock at the first acknowledgement, the
  first of `acknowledged`, `task_claimed`, or `task_completed` by a person. Reopenings
  do not start it again: an incident is acknowledged once.
- *Time to resolve* (MTTR's term): the open clock at the incident's last resolution, set
  only while it stands resolved; an incident that ended cancelled or as a duplicate was
  never resolved (`discarded`) and has none.
- A *reopening* is every return to work from resolved or ended: a `reopened` entry, or a
  status change from a resolved status to one that is not.
- SLA outcomes per clock kind: `breached` if any of its clocks breached (reopening starts
  fresh clocks, each may breach), else `met` if one stopped, else `pending` while one
  counts, else `none`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from engine.core.calendars import Calendar
from engine.core.runtime import DEFAULT_STATUS, REOPENED_STATUS

#: Timeline entries that acknowledge an incident (a task completed counts when a person
#: completed it: an escalation's `complete` has no actor).
ACKNOWLEDGING = frozenset({"acknowledged", "task_claimed", "task_completed"})
#: Statuses in which an incident stands resolved before it ends.
RESOLVED_STATUSES = frozenset({"resolved"})
#: End statuses that are not resolutions: the incident was not a failure to restore.
DISCARDED = frozenset({"cancelled", "duplicate"})
#: The status every instance starts in (the runtime's default).
OPEN_STATUS = DEFAULT_STATUS
#: The SLA clock kinds, as the runtime names them.
SLA_KINDS = ("response", "resolution")
#: Timeline entry kinds the figures read; a store may fetch only these.
READ_KINDS = frozenset(
    {
        *ACKNOWLEDGING,
        "started",
        "status_changed",
        "ended",
        "reopened",
        "sla_started",
        "sla_stopped",
        "sla_breached",
    }
)


@dataclass(frozen=True, slots=True)
class Entry:
    """A timeline entry as the figures read it: what, when, who, and its detail."""

    at: datetime
    kind: str
    actor: str | None = None
    detail: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Policy:
    """How an incident's clock counts: the statuses that pause it, and its calendar."""

    pause_while: frozenset[str] = frozenset()
    calendar: Calendar | None = None
    resolved: frozenset[str] = RESOLVED_STATUSES


@dataclass(frozen=True, slots=True)
class Figures:
    """What one incident's history says: its clocks, reopenings and SLA outcomes."""

    created_at: datetime
    status: str
    #: When it was first acknowledged, and the open clock then (None: not yet).
    acknowledged_at: datetime | None
    time_to_acknowledge: timedelta | None
    #: When it was last resolved and the open clock then (None unless it stands resolved).
    resolved_at: datetime | None
    time_to_resolve: timedelta | None
    reopenings: int
    #: Ended cancelled or as a duplicate (and not reopened since).
    discarded: bool
    #: Ended (not reopened since); an incident not ended is in the backlog.
    ended: bool
    #: "met", "breached", "pending" or "none", per SLA kind.
    sla: Mapping[str, str]


def figures(created_at: datetime, history: Iterable[Entry], policy: Policy) -> Figures:
    """Read an incident's figures from its timeline (entries in the order they happened)."""
    walk = _Walk(created_at, policy)
    for entry in history:
        walk.take(entry)
    return walk.result()


class _Walk:
    """The incident as its timeline is read entry by entry."""

    def __init__(self, created_at: datetime, policy: Policy) -> None:
        self.policy = policy
        self.created_at = created_at
        self.status = OPEN_STATUS
        self.ended = False
        self.discarded = False
        self.counted = timedelta(0)  # open clock up to `since`
        self.since = created_at
        self.acknowledged: tuple[datetime, timedelta] | None = None
        self.resolved: tuple[datetime, timedelta] | None = None
        self.reopenings = 0
        self.clocks: dict[str, dict[str, bool]] = {kind: {} for kind in SLA_KINDS}

    @property
    def counting(self) -> bool:
        """Tell whether the open clock runs in the current state."""
        return not (
            self.ended
            or self.status in self.policy.pause_while
            or self.status in self.policy.resolved
        )

    @property
    def stands_resolved(self) -> bool:
        return self.ended or self.status in self.policy.resolved

    def clock_at(self, at: datetime) -> timedelta:
        """Return the open clock at `at` (not before the last change of state)."""
        if not self.counting or at <= self.since:
            return self.counted
        calendar = self.policy.calendar
        span = at - self.since if calendar is None else calendar.between(self.since, at)
        return self.counted + span

    def move_to(self, at: datetime) -> None:
        at = max(at, self.since)
        self.counted = self.clock_at(at)
        self.since = at

    def take(self, entry: Entry) -> None:
        at = max(entry.at, self.created_at)
        detail = entry.detail or {}
        kind = entry.kind
        by_person = kind != "task_completed" or entry.actor is not None
        if kind in ACKNOWLEDGING and self.acknowledged is None and by_person:
            self.acknowledged = (at, self.clock_at(at))
        if kind in ("status_changed", "ended", "reopened"):
            self.move_to(at)
            was_resolved = self.stands_resolved
            if kind == "reopened":
                self.ended, self.discarded, self.status = False, False, REOPENED_STATUS
            else:
                self.status = str(detail.get("status") or self.status)
                if kind == "ended":
                    self.ended = True
                    self.discarded = self.status in DISCARDED
            if self.stands_resolved and not was_resolved:
                self.resolved = (at, self.counted)
            elif was_resolved and not self.stands_resolved:
                self.reopenings += 1
                self.resolved = None
        elif kind.startswith("sla_"):
            self._sla(kind, detail)

    def _sla(self, kind: str, detail: Mapping[str, Any]) -> None:
        clock = detail.get("clock")
        if clock not in self.clocks:
            return
        seen = self.clocks[clock]
        if kind == "sla_started":
            seen["running"] = True
        elif kind == "sla_breached":
            seen["breached"] = True
        elif kind == "sla_stopped":
            seen["running"] = False
            seen["stopped"] = True
            if detail.get("met") is False:
                seen["breached"] = True

    def result(self) -> Figures:
        resolved = self.resolved if self.stands_resolved and not self.discarded else None
        return Figures(
            created_at=self.created_at,
            status=self.status,
            acknowledged_at=self.acknowledged[0] if self.acknowledged else None,
            time_to_acknowledge=self.acknowledged[1] if self.acknowledged else None,
            resolved_at=resolved[0] if resolved else None,
            time_to_resolve=resolved[1] if resolved else None,
            reopenings=self.reopenings,
            discarded=self.discarded and self.ended,
            ended=self.ended,
            sla={kind: _outcome(seen) for kind, seen in self.clocks.items()},
        )


def _outcome(seen: Mapping[str, bool]) -> str:
    if seen.get("breached"):
        return "breached"
    if seen.get("stopped") and not seen.get("running"):
        return "met"
    if seen.get("running"):
        return "pending"
    return "none"


def mean_time_between_failures(
    incidents: Iterable[tuple[datetime, datetime | None]],
) -> tuple[timedelta | None, int]:
    """Return a service's MTBF and how many failures it averages, from its incidents.

    `incidents` are (started, restored) pairs; restored is None while one is open. A
    failure is an incident that starts while none of the service's earlier incidents
    is open; its uptime is from the latest restoration before it to its start. An
    incident starting during an outage is part of that outage, not a new failure. The
    first incident has no uptime before it that we know of, so it is not averaged.
    """
    restored: datetime | None = None
    open_until_unknown = False
    total, failures, seen = timedelta(0), 0, False
    for started, ended in sorted(incidents, key=lambda pair: pair[0]):
        up = seen and not open_until_unknown and restored is not None and started >= restored
        if up and restored is not None:
            total += started - restored
            failures += 1
        seen = True
        if ended is None:
            open_until_unknown = True
        elif restored is None or ended > restored:
            restored = ended
    return (total / failures if failures else None), failures
