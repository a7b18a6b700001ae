"""The dashboards: MTTA, MTTR and MTBF, SLA compliance, backlog, volume, top lists.

Every panel is read from grouped statements over the incident figures
(`incident_figures`, kept in step by `engine.service.figures`), the same on SQLite and
PostgreSQL, under the same filters: service, team, priority, category, workflow, and the
days the incidents started on (the backlog is what is open now, whenever it started).
The panels that sum the same incidents by service, team, priority or category, and the
SLA counts, share one statement (`_Tally`): one pass over the range, summed up here, where
a statement each read a year of 100,000 incidents six times over. Each panel answers as a
`Table` (columns with units, rows of plain values), which the page draws, the CSV export
writes and the API returns as they are. Definitions: docs/insight.md.

Who may look: the service desk (agents, members of a group) and admins.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar

from sqlalchemy import (
    ColumnElement,
    Connection,
    Float,
    case,
    func,
    literal,
    literal_column,
    or_,
    select,
)

from engine.core.errors import Problem
from engine.service.commands import Commands
from engine.service.definitions import incident_workflows
from engine.service.errors import InvalidInput, NotAllowed
from engine.service.figures import DAY_S, EPOCH, VIEW_BUDGET, bring_up_to_date, stale_count
from engine.service.insight_filters import LIST_FILTERS, Filters, read_filters
from engine.service.person import Person
from engine.store.insight import IncidentFigures
from engine.store.instances import Instance

#: The panels, in the order the page shows them.
PANELS = (
    "by_service",
    "by_team",
    "by_priority",
    "sla",
    "breaches",
    "backlog",
    "volume",
    "categories",
    "services",
)
#: Rows of a grouped panel, of a top list, and breaches listed.
MAX_GROUPS = 100
TOP = 10
MAX_BREACHES = 100
#: Age buckets of the backlog: label, and the age (in days) it starts at.
AGES = (
    ("under 1 day", 0),
    ("1-3 days", 1),
    ("3-7 days", 3),
    ("7-30 days", 7),
    ("over 30 days", 30),
)
#: A restoration time later than any incident, for one not restored yet (SQL has no infinity).
NEVER = 1e18
NONE_LABEL = "(none)"
#: What an SLA clock's outcome can be, as the figures keep it (`none`: no clock).
_OUTCOMES = ("met", "breached", "pending")

_f = IncidentFigures.__table__.c
_i = Instance.__table__.c


# Answers ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Column:
    """A column of a panel's table: its heading, its key, and what its values are.

    `unit`: text, count, seconds (a duration), percent, date (an ISO day).
    """

    key: str
    heading: str
    unit: str = "count"


@dataclass(frozen=True, slots=True)
class Table:
    """One panel's numbers: what the chart draws, the table lists and the CSV holds."""

    key: str
    title: str
    columns: tuple[Column, ...]
    rows: list[tuple[Any, ...]] = field(default_factory=list)

    def records(self) -> list[dict[str, Any]]:
        """Return the rows as objects keyed by column (for the API)."""
        return [dict(zip((c.key for c in self.columns), row, strict=True)) for row in self.rows]


@dataclass(frozen=True, slots=True)
class Dashboard:
    """The panels asked for, under the filters they were read with, as of `at`."""

    filters: Filters
    at: datetime
    panels: dict[str, Table]
    #: False while some incidents' figures are still to be read (after an upgrade, the
    #: first views read them `VIEW_BUDGET` at a time): the numbers leave those out.
    complete: bool = True


_TIMES = (
    Column("incidents", "Incidents"),
    Column("acknowledged", "Acknowledged"),
    Column("mtta_s", "MTTA", "seconds"),
    Column("resolved", "Resolved"),
    Column("mttr_s", "MTTR", "seconds"),
    Column("reopened", "Reopened"),
)


class Insight:
    """The dashboards over one database, for the service desk."""

    def __init__(self, commands: Commands) -> None:
        self.commands = commands

    def dashboard(
        self, person: Person, filters: Filters, panels: Sequence[str] = PANELS
    ) -> Dashboard:
        """Read the panels asked for; NotAllowed for anyone off the service desk."""
        require_desk(person)
        unknown = [name for name in panels if name not in PANELS]
        if unknown:
            choices = ", ".join(PANELS)
            raise InvalidInput(
                f"there is no panel '{unknown[0]}'; choose from {choices}",
                [Problem("/panel", f"there is no panel '{unknown[0]}'")],
            )
        read_now = bring_up_to_date(self.commands, VIEW_BUDGET)
        complete = read_now < VIEW_BUDGET or stale_count(self.commands) == 0
        at = self.commands.clock()

        def read(session: Any) -> dict[str, Table]:
            incidents = incident_workflows(session)
            keys = _tally_keys(panels)
            reading = _Reading(session.connection(), filters, at, incidents, keys)
            return {name: _READERS[name](reading) for name in panels}

        return Dashboard(filters, at, self.commands.read(read), complete)

    def choices(self, person: Person) -> dict[str, list[str]]:
        """Return the values each list filter can take (those the figures hold)."""
        require_desk(person)

        def read(session: Any) -> dict[str, list[str]]:
            connection = session.connection()
            incidents = _f.workflow_key.in_(incident_workflows(session))
            found = {}
            for name in LIST_FILTERS:
                column = _COLUMNS[name]
                rows = connection.execute(
                    select(column)
                    .where(column.is_not(None), incidents)
                    .distinct()
                    .order_by(column)
                    .limit(200)
                )
                found[name] = [str(row[0]) for row in rows]
            return found

        return self.commands.read(read)


def require_desk(person: Person) -> None:
    """Refuse the dashboards to anyone but the service desk and admins."""
    if not person.is_agent:
        raise NotAllowed(
            f"only the service desk sees the dashboards, and {person.username} does not"
        )


# The statements --------------------------------------------------------------------------

_COLUMNS: dict[str, Any] = {
    "service": _f.service_key,
    "team": _f.team,
    "priority": _f.priority,
    "category": _f.category,
    "workflow": _f.workflow_key,
}


#: The start as SQL that no index answers (SQLite's unary `+`): MTBF wants its rows in the
#: service index's order, and without statistics SQLite took the range of days from the
#: table instead and sorted it (MTBF over a year of 100,000 incidents: 120 ms; 77 ms from
#: the index).
_UNINDEXED_START = literal_column("+incident_figures.started_s", Float)


def _days(filters: Filters, start: Any) -> list[ColumnElement[bool]]:
    """The incidents started on the filters' days (`start`: the column, or `_UNINDEXED_START`)."""
    low = datetime.combine(filters.start, datetime.min.time(), UTC)
    high = datetime.combine(filters.end + timedelta(days=1), datetime.min.time(), UTC)
    return [start >= (low - EPOCH).total_seconds(), start < (high - EPOCH).total_seconds()]


def _where(
    filters: Filters, incidents: Sequence[str], *, dates: bool = True
) -> list[ColumnElement[bool]]:
    """The incidents a panel counts: of the incident workflows, under the filters."""
    found: list[ColumnElement[bool]] = [_f.workflow_key.in_(incidents)]
    if dates:
        found += _days(filters, _f.started_s)
    for name in LIST_FILTERS:
        values = getattr(filters, name)
        if values:
            found.append(_COLUMNS[name].in_(values))
    return found


def _count_if(condition: ColumnElement[bool]) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


class _Tally:
    """What the time, SLA and top-list panels sum, per service, team, priority or category.

    One statement groups the range's incidents by the keys the panels asked for need, all
    at once (a few thousand groups at most, however many incidents); each panel adds the
    groups up by the one key it shows. Means are kept as sums and counts until then, so
    adding up loses nothing.
    """

    #: The keys a tally can group by, and the column each is.
    KEYS: ClassVar[dict[str, Any]] = {
        "service": _f.service_key,
        "team": _f.team,
        "priority": _f.priority,
        "category": _f.category,
    }
    #: The sums per group, in the statement's order after the keys.
    SUMS = (
        "incidents",
        "acknowledged",
        "ack_s",
        "resolved",
        "resolve_s",
        "reopened",
        *(f"{clock}_{outcome}" for clock in ("response", "resolution") for outcome in _OUTCOMES),
    )

    def __init__(self, reading: _Reading, keys: Sequence[str]) -> None:
        self.keys = tuple(keys)
        columns = [self.KEYS[key] for key in self.keys]
        kept = ~_f.discarded
        statement = (
            select(
                *columns,
                func.count(),
                func.count(_f.ack_s),
                func.coalesce(func.sum(_f.ack_s), 0.0),
                func.count(_f.resolve_s),
                func.coalesce(func.sum(_f.resolve_s), 0.0),
                _count_if(_f.reopenings > 0),
                *(
                    _count_if(kept & (_f[clock] == outcome))
                    for clock in ("response", "resolution")
                    for outcome in _OUTCOMES
                ),
            )
            .where(*reading.where())
            .group_by(*columns)
        )
        width = len(columns)
        self.groups = [
            (tuple(row[:width]), tuple(float(value) for value in row[width:]))
            for row in reading.connection.execute(statement)
        ]

    def by(self, key: str | None) -> dict[Any, dict[str, float]]:
        """Sum the groups by one of the keys (None: all of them as one), in no order."""
        index = self.keys.index(key) if key is not None else None
        totals: dict[Any, list[float]] = {}
        for keys, sums in self.groups:
            found = totals.setdefault(keys[index] if index is not None else None, [0.0] * len(sums))
            for position, value in enumerate(sums):
                found[position] += value
        return {k: dict(zip(self.SUMS, sums, strict=True)) for k, sums in totals.items()}


#: The key of the tally each panel adds up by (None: the whole tally, as one).
_TALLIED = {
    "by_service": "service",
    "by_team": "team",
    "by_priority": "priority",
    "categories": "category",
    "services": "service",
    "sla": None,
}


def _tally_keys(panels: Sequence[str]) -> tuple[str, ...]:
    """The keys the tally of a read of `panels` groups by: those the panels add up by."""
    wanted = {_TALLIED[name] for name in panels if name in _TALLIED}
    return tuple(key for key in _Tally.KEYS if key in wanted)


class _Reading:
    """One dashboard read: the connection, the filters, the moment, the incident workflows,
    and the tally the panels share (grouped by `keys`)."""

    def __init__(
        self,
        connection: Connection,
        filters: Filters,
        at: datetime,
        incidents: Sequence[str],
        keys: Sequence[str],
    ) -> None:
        self.connection = connection
        self.filters = filters
        self.at = at
        self.incidents = tuple(incidents)
        self.keys = tuple(keys)
        self._tally: _Tally | None = None

    def where(self, *, dates: bool = True) -> list[ColumnElement[bool]]:
        """The conditions of this read's incidents (see `_where`)."""
        return _where(self.filters, self.incidents, dates=dates)

    @property
    def tally(self) -> _Tally:
        if self._tally is None:
            self._tally = _Tally(self, self.keys)
        return self._tally


def _largest_first(
    sums: dict[Any, dict[str, float]], most: int
) -> list[tuple[Any, dict[str, float]]]:
    """The groups with the most incidents first, ties by key (none last), at most `most`."""
    ordered = sorted(
        ((key, found) for key, found in sums.items() if found["incidents"]),
        key=lambda pair: (-pair[1]["incidents"], pair[0] is None, pair[0] or ""),
    )
    return ordered[:most]


def _times(name: str, title: str, key: str) -> Callable[[_Reading], Table]:
    def read(reading: _Reading) -> Table:
        rows = [
            _times_row(group, found)
            for group, found in _largest_first(reading.tally.by(key), MAX_GROUPS)
        ]
        return Table(
            name,
            title,
            (Column("key", title.split(" by ")[-1].capitalize(), "text"), *_TIMES),
            rows,
        )

    return read


def _times_row(key: Any, found: dict[str, float]) -> tuple[Any, ...]:
    acked, resolved = int(found["acknowledged"]), int(found["resolved"])
    return (
        key if key is not None else NONE_LABEL,
        int(found["incidents"]),
        acked,
        found["ack_s"] / acked if acked else None,
        resolved,
        found["resolve_s"] / resolved if resolved else None,
        int(found["reopened"]),
    )


def _by_service(reading: _Reading) -> Table:
    """MTTA and MTTR per service, with MTBF beside them (see `_mtbf`)."""
    table = _times("by_service", "Times by service", "service")(reading)
    mtbf = _mtbf(reading)
    columns = (
        Column("key", "Service", "text"),
        *_TIMES,
        Column("mtbf_s", "MTBF", "seconds"),
        Column("failures", "Failures"),
    )
    rows = [(*row, *mtbf.get(row[0], (None, 0))) for row in table.rows]
    return Table(table.key, table.title, columns, rows)


def _mtbf(reading: _Reading) -> dict[str, tuple[float | None, int]]:
    """Mean uptime before each failure, per service (engine.core.metrics' definition).

    For each incident, the latest restoration of the service's earlier incidents (one
    still open: `NEVER`); it is a failure when it starts at or after that moment.
    """
    restored = func.coalesce(_f.restored_s, literal(NEVER, Float))
    previous = (
        func.max(restored)
        .over(
            partition_by=_f.service_key,
            order_by=(_f.started_s, _f.instance_id),
            rows=(None, -1),
        )
        .label("previous")
    )
    sqlite = reading.connection.dialect.name == "sqlite"
    start = _UNINDEXED_START if sqlite else _f.started_s  # PostgreSQL has its statistics
    inner = (
        select(_f.service_key.label("service"), _f.started_s.label("started"), previous)
        .where(*reading.where(dates=False), *_days(reading.filters, start))
        .where(_f.service_key.is_not(None), ~_f.discarded)
        .subquery()
    )
    statement = (
        select(inner.c.service, func.avg(inner.c.started - inner.c.previous), func.count())
        .where(inner.c.previous.is_not(None), inner.c.started >= inner.c.previous)
        .group_by(inner.c.service)
    )
    return {
        str(service): (float(mean) if mean is not None else None, int(count))
        for service, mean, count in reading.connection.execute(statement)
    }


def _sla(reading: _Reading) -> Table:
    found = reading.tally.by(None).get(None)
    columns = (
        Column("clock", "SLA clock", "text"),
        Column("met", "Met"),
        Column("breached", "Breached"),
        Column("pending", "Still counting"),
        Column("compliance", "Compliance", "percent"),
    )
    rows = []
    for clock in ("response", "resolution"):
        met, breached, pending = (
            int(found[f"{clock}_{outcome}"]) if found else 0 for outcome in _OUTCOMES
        )
        share = 100.0 * met / (met + breached) if met + breached else None
        rows.append((clock, met, breached, pending, share))
    return Table("sla", "SLA compliance", columns, rows)


def _breaches(reading: _Reading) -> Table:
    statement = (
        select(
            _i.number,
            _i.title,
            _f.service_key,
            _f.priority,
            _f.started_at,
            _f.response,
            _f.resolution,
        )
        .select_from(IncidentFigures.__table__.join(Instance.__table__, _i.id == _f.instance_id))
        .where(
            *reading.where(),
            ~_f.discarded,
            or_(_f.response == "breached", _f.resolution == "breached"),
        )
        .order_by(_f.started_s.desc(), _f.instance_id.desc())
        .limit(MAX_BREACHES)
    )
    columns = (
        Column("number", "Number", "text"),
        Column("title", "Title", "text"),
        Column("service", "Service", "text"),
        Column("priority", "Priority", "text"),
        Column("started", "Started (UTC)", "date"),
        Column("response", "Response", "text"),
        Column("resolution", "Resolution", "text"),
    )
    rows = [
        (n, t, s or NONE_LABEL, p or NONE_LABEL, started.strftime("%Y-%m-%d %H:%M"), r, z)
        for n, t, s, p, started, r, z in reading.connection.execute(statement)
    ]
    return Table("breaches", f"SLA breaches (latest {MAX_BREACHES})", columns, rows)


def _backlog(reading: _Reading) -> Table:
    now_s = (reading.at - EPOCH).total_seconds()
    # Oldest first: the first bucket whose lower bound the age passes.
    bucket = case(
        *[
            (_f.started_s <= now_s - days * DAY_S, literal(index))
            for index, (_, days) in reversed(list(enumerate(AGES)))
            if days
        ],
        else_=literal(0),
    )
    statement = (
        select(_f.priority, bucket.label("age"), func.count())
        .where(_f.open, *reading.where(dates=False))
        .group_by(_f.priority, "age")
    )
    counts: dict[str, list[int]] = {}
    for priority, age, count in reading.connection.execute(statement):
        counts.setdefault(priority or NONE_LABEL, [0] * len(AGES))[int(age)] += int(count)
    columns = (
        Column("priority", "Priority", "text"),
        *(Column(f"age_{i}", label) for i, (label, _) in enumerate(AGES)),
        Column("total", "Open"),
    )
    rows = [(key, *ages, sum(ages)) for key, ages in sorted(counts.items())]
    return Table("backlog", "Backlog by priority and age (open now)", columns, rows)


def _volume(reading: _Reading) -> Table:
    filters = reading.filters
    weekly = filters.bucket == "week"
    # Day 0 (1970-01-01) was a Thursday: (day + 3) // 7 counts Monday-started weeks.
    group = (_f.started_day + 3) // 7 if weekly else _f.started_day
    statement = (
        select(group.label("bucket"), func.count(), func.count(_f.restored_s))
        .where(*reading.where())
        .group_by("bucket")
    )
    counts = {int(b): (int(n), int(r)) for b, n, r in reading.connection.execute(statement)}
    rows = []
    for first in _buckets(filters):
        index = ((first - EPOCH.date()).days + 3) // 7 if weekly else (first - EPOCH.date()).days
        rows.append((first.isoformat(), *counts.get(index, (0, 0))))
    columns = (
        Column("start", "Week of" if weekly else "Day", "date"),
        Column("opened", "Opened"),
        Column("resolved", "Resolved since"),
    )
    return Table("volume", f"Incidents opened per {filters.bucket}", columns, rows)


def _buckets(filters: Filters) -> Iterator[date]:
    day = filters.start
    if filters.bucket == "week":
        day -= timedelta(days=day.weekday())
    step = timedelta(days=7 if filters.bucket == "week" else 1)
    while day <= filters.end:
        yield day
        day += step


def _top(name: str, title: str, key: str) -> Callable[[_Reading], Table]:
    def read(reading: _Reading) -> Table:
        rows = [
            (group or NONE_LABEL, int(found["incidents"]))
            for group, found in _largest_first(reading.tally.by(key), TOP)
        ]
        heading = title.removeprefix("Top ").capitalize()
        return Table(
            name, title, (Column("key", heading, "text"), Column("incidents", "Incidents")), rows
        )

    return read


_READERS: dict[str, Callable[[_Reading], Table]] = {
    "by_service": _by_service,
    "by_team": _times("by_team", "Times by team", "team"),
    "by_priority": _times("by_priority", "Times by priority", "priority"),
    "sla": _sla,
    "breaches": _breaches,
    "backlog": _backlog,
    "volume": _volume,
    "categories": _top("categories", "Top categories", "category"),
    "services": _top("services", "Top services", "service"),
}

__all__ = [
    "LIST_FILTERS",
    "PANELS",
    "Column",
    "Dashboard",
    "Filters",
    "Insight",
    "Table",
    "read_filters",
]
