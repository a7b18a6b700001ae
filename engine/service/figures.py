"""Keep each incident's figures (`incident_figures`) in step with its timeline.

The incidents are the instances of the workflows that say so (`"incident": true`, see
`engine.service.definitions.incident_workflows`); no other instance has figures.

The dashboards group and average figures that only a walk over a timeline can give
(time on a business calendar, minus pauses: `engine.core.metrics`), so each instance's
figures are read once and kept, and read again when its timeline grows. An instance is
out of date when its count of timeline entries (`last_event`) is not the one its figures
were read at; every command that adds to a timeline bumps that count and `updated_at`,
so the instances to look at are those updated since the newest figures (less a margin
for web processes whose clocks and commits are a little apart).

`bring_up_to_date` runs before a dashboard reads, in batches of `BATCH` instances, one
transaction each; two processes doing it at once both end with the same rows (the loser
of an insert race is retried by the shell, finds nothing left to do, and stops).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import Connection, delete, func, insert, or_, select
from sqlalchemy.orm import Session

from engine.core import metrics
from engine.core.definition import Workflow
from engine.service.commands import Commands
from engine.service.definitions import incident_workflows
from engine.store.directory import Directory
from engine.store.insight import IncidentFigures
from engine.store.instances import Event, Instance
from engine.store.repository import Repository
from engine.store.services import Service
from engine.store.uow import UnitOfWork

#: Instances whose figures are read in one transaction.
BATCH = 500
#: The most instances one dashboard view reads the figures of before it answers: the
#: first view after an upgrade would otherwise read every incident (a minute or two per
#: 100,000), longer than a web worker may take.
VIEW_BUDGET = 5_000
#: How far before the newest figures to look for instances updated since.
MARGIN = timedelta(minutes=5)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DAY_S = 86_400

_f = IncidentFigures.__table__
_F = IncidentFigures
_i = Instance.__table__.c
_e = Event.__table__.c
_s = Service.__table__.c


def bring_up_to_date(commands: Commands, most: int | None = None) -> int:
    """Read the figures of every instance whose timeline grew since; return how many.

    With `most`, stop once that many are read (a dashboard view answers with what is
    read so far, and the views after it read on).
    """
    done = 0
    after = 0
    since, workflows = commands.read(_since_and_workflows)
    while most is None or done < most:
        limit = BATCH if most is None else min(BATCH, most - done)
        read = partial(_stale_ids, workflows=workflows, since=since, after=after, limit=limit)
        ids = commands.read(read)
        if not ids:
            return done

        def body(uow: UnitOfWork, at: datetime, ids: list[int] = ids) -> int:
            return _read_figures(commands, uow.repository, ids)

        done += commands.execute("insight_figures", None, body, repeatable=True)
        after = ids[-1]
    return done


def stale_count(commands: Commands) -> int:
    """Return how many instances' figures are out of date (for tests and the bench)."""
    return commands.read(
        lambda session: len(
            _stale(session.connection(), incident_workflows(session), None, 0, None)
        )
    )


def _since_and_workflows(session: Session) -> tuple[datetime | None, tuple[str, ...]]:
    workflows = incident_workflows(session)
    return _since(session.connection(), workflows), workflows


def _since(connection: Connection, workflows: Sequence[str]) -> datetime | None:
    """Where to look for incidents whose figures are out of date: those updated since the
    newest figures read (less a margin), or every incident (None) while some incident has
    no figures at all. An incident's timeline growing bumps its `updated_at`, but one never
    read is found only by looking at them all: after an upgrade, after a read that stopped
    at its budget, and when a workflow has just started saying its instances are incidents
    (its old instances were updated long ago)."""
    incidents = _i.workflow_key.in_(workflows)
    counted = connection.execute(
        select(func.count()).select_from(Instance.__table__).where(incidents)
    ).scalar_one()
    read = connection.execute(
        select(func.count()).select_from(_f).where(_f.c.workflow_key.in_(workflows))
    ).scalar_one()
    if read < counted:
        return None
    newest = connection.execute(select(func.max(_f.c.updated_at))).scalar()
    if newest is None:
        return None
    if isinstance(newest, str):  # SQLite hands an aggregate back as its stored text
        newest = datetime.fromisoformat(newest).replace(tzinfo=UTC)
    return newest - MARGIN


def _stale_ids(
    session: Session, *, workflows: Sequence[str], since: datetime | None, after: int, limit: int
) -> list[int]:
    return _stale(session.connection(), workflows, since, after, limit)


def _stale(
    connection: Connection,
    workflows: Sequence[str],
    since: datetime | None,
    after: int,
    limit: int | None = BATCH,
) -> list[int]:
    """Return the ids (after `after`, in order) of the incidents (instances of `workflows`)
    whose figures are out of date.

    With `since`, only the instances updated since are looked at, through the index on
    `updated_at` (a handful, on every dashboard view), and sorted here: asking the
    database to order them by id made it walk every instance in id order instead.
    """
    join = Instance.__table__.outerjoin(_f, _f.c.instance_id == _i.id)
    out_of_date = or_(_f.c.last_event.is_(None), _f.c.last_event != _i.last_event)
    kept = set(workflows)
    if since is not None:
        # The workflow is sorted out here: asked of the database, SQLite walked every
        # incident through the index on it instead of the few updated since.
        statement = (
            select(_i.id, _i.workflow_key)
            .select_from(join)
            .where(_i.updated_at >= since, out_of_date)
        )
        found = sorted(int(row[0]) for row in connection.execute(statement) if row[1] in kept)
        found = [found_id for found_id in found if found_id > after]
        return found[:limit] if limit is not None else found
    incidents = _i.workflow_key.in_(workflows)
    statement = (
        select(_i.id).select_from(join).where(_i.id > after, incidents, out_of_date).order_by(_i.id)
    )
    if limit is not None:
        statement = statement.limit(limit)
    return [int(row[0]) for row in connection.execute(statement)]


def _read_figures(commands: Commands, repo: Repository, ids: Sequence[int]) -> int:
    """Read and keep the figures of instances `ids`, in the caller's transaction."""
    connection = repo.connection
    rows = connection.execute(
        select(
            _i.id,
            _i.workflow_key,
            _i.workflow_version_id,
            _i.status,
            _i.priority,
            _i.service_key,
            _i.state,
            _i.started_at,
            _i.updated_at,
            _i.last_event,
            _s.owner_group,
        )
        .select_from(Instance.__table__.outerjoin(Service.__table__, _s.key == _i.service_key))
        .where(_i.id.in_(ids))
    ).all()
    history: dict[int, list[metrics.Entry]] = {row.id: [] for row in rows}
    for event in connection.execute(
        select(_e.instance_id, _e.at, _e.kind, _e.actor, _e.detail)
        .where(_e.instance_id.in_(ids), _e.kind.in_(sorted(metrics.READ_KINDS)))
        .order_by(_e.instance_id, _e.seq)
    ):
        history[event.instance_id].append(
            metrics.Entry(event.at, event.kind, event.actor, event.detail)
        )
    policies: dict[int, metrics.Policy] = {}
    values = []
    for row in rows:
        policy = policies.get(row.workflow_version_id)
        if policy is None:
            policy = policies[row.workflow_version_id] = _policy(commands, repo, row)
        found = metrics.figures(row.started_at, history[row.id], policy)
        values.append(_row(row, found))
    connection.execute(delete(_F).where(_F.instance_id.in_(ids)))
    if values:
        connection.execute(insert(_F), values)
    return len(values)


def _policy(commands: Commands, repo: Directory, row: Any) -> metrics.Policy:
    """How an instance's clock counts: its workflow's SLA pause statuses and calendar.

    Without an SLA (or with a calendar not published here) the clock counts wall time.
    """
    workflow: Workflow = commands.registry.workflow(repo, row.workflow_version_id)
    sla = workflow.sla or {}
    calendars = commands.registry.calendars(repo, workflow)
    return metrics.Policy(
        frozenset(sla.get("pause_while", ())),
        calendars.get(sla["calendar"]) if sla.get("calendar") else None,
    )


def _row(row: Any, found: metrics.Figures) -> dict[str, Any]:
    data: Mapping[str, Any] = (row.state or {}).get("data") or {}
    started = found.created_at
    started_s = (started - EPOCH).total_seconds()
    resolved = found.resolved_at
    return {
        "instance_id": row.id,
        "last_event": row.last_event,
        "updated_at": row.updated_at,
        "workflow_key": row.workflow_key,
        "service_key": row.service_key,
        "team": _text(data.get("team"), 80) or row.owner_group,
        "priority": row.priority,
        "category": _text(data.get("category"), 80),
        "status": row.status,
        "started_at": started,
        "started_s": started_s,
        "started_day": int(started_s // DAY_S),
        "open": not found.ended,
        "discarded": found.discarded,
        "ack_s": _seconds(found.time_to_acknowledge),
        "resolve_s": _seconds(found.time_to_resolve),
        "restored_s": (resolved - EPOCH).total_seconds() if resolved else None,
        "reopenings": found.reopenings,
        "response": found.sla["response"],
        "resolution": found.sla["resolution"],
    }


def _seconds(value: timedelta | None) -> float | None:
    return value.total_seconds() if value is not None else None


def _text(value: Any, limit: int) -> str | None:
    return value[:limit] if isinstance(value, str) and value else None
