"""What a postmortem's draft is written from, read off an incident in the drafting transaction.

- **Timeline**: the incident's events that say what happened and who acted (declared,
  tasks opened, taken and completed, votes, escalations, acknowledgements, priority
  changes, SLA breaches, alerts, links, reopenings, the end), in order; the engine's own
  bookkeeping (routes, values set, clocks started) is left out.
- **SLA outcome**: response and resolution met or breached, and the open time to
  acknowledge and to resolve, from `engine.core.metrics.figures`: the very clocks the
  Insight dashboards read (docs/insight.md), over the same timeline and the same policy
  (the workflow's pause statuses and business calendar). Targets from its SLA table.
- **Linked alerts**: the monitoring alerts that reached the incident, and those of the
  incidents linked to it. **Linked incidents**: related ones, duplicates merged in, and
  the problem record it is linked to.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, or_, select

from engine.core import metrics
from engine.core.definition import Workflow
from engine.core.durations import parse_duration
from engine.service.commands import Commands
from engine.service.postmortem_text import AlertSeen, Facts, LinkedIncident, Moment
from engine.store.casework import InstanceLink
from engine.store.instances import Event, Instance
from engine.store.repository import InstanceRow, Repository
from engine.store.services import Alert

#: The most timeline lines and alerts a draft lists (a long incident is summarised by them).
MAX_MOMENTS = 400
MAX_ALERTS = 50

_e = Event.__table__.c
_i = Instance.__table__.c
_a = Alert.__table__.c
_l = InstanceLink.__table__.c

Words = Callable[[Any, Workflow], str]


def _label(event: Any, workflow: Workflow) -> str:
    step = workflow.steps.get(event.step) if event.step else None
    return f"“{step.label}”" if step is not None else f"“{event.step or 'a step'}”"


def _detail(event: Any, name: str) -> str:
    return str((event.detail or {}).get(name) or "").replace("_", " ")


def _why(event: Any) -> str:
    return f": {event.why}" if event.why else ""


#: What each timeline entry a postmortem keeps says; entries of other kinds are left out.
WORDS: Mapping[str, Words] = {
    "started": lambda e, w: "Declared",
    "status_changed": lambda e, w: f"Status: {_detail(e, 'status')}",
    "task_opened": lambda e, w: f"Task opened: {_label(e, w)}",
    "task_claimed": lambda e, w: f"Took {_label(e, w)}",
    "task_completed": lambda e, w: f"Completed {_label(e, w)}: {_detail(e, 'outcome')}",
    "task_reassigned": lambda e, w: f"Reassigned {_label(e, w)}{_why(e)}",
    "task_delegated": lambda e, w: f"Delegated {_label(e, w)}{_why(e)}",
    "voted": lambda e, w: f"Voted {_detail(e, 'vote')} on {_label(e, w)}",
    "escalated": lambda e, w: f"Escalated {_label(e, w)}{_why(e)}",
    "acknowledged": lambda e, w: "Acknowledged",
    "priority_changed": lambda e, w: f"Priority changed{_why(e)}",
    "sla_breached": lambda e, w: f"The {_detail(e, 'clock')} SLA breached",
    "incident": lambda e, w: f"Stopped on an incident{_why(e)}",
    "reopened": lambda e, w: f"Reopened{_why(e)}",
    "linked": lambda e, w: f"Linked{_why(e)}",
    "duplicate_added": lambda e, w: f"A duplicate was merged in{_why(e)}",
    "alert": lambda e, w: f"Alert{_why(e)}",
    "alert_refired": lambda e, w: f"Alert fired again{_why(e)}",
    "alerts_resolved": lambda e, w: f"Alert resolved{_why(e)}",
    "commented": lambda e, w: "Commented",
    "ended": lambda e, w: f"Ended: {_detail(e, 'status')}",
}


def gather(commands: Commands, repo: Repository, incident: InstanceRow, title: str) -> Facts:
    """Read what the draft says about an incident locked in the caller's transaction."""
    connection = repo.connection
    workflow = commands.registry.workflow(repo, incident.workflow_version_id)
    started_at = connection.execute(select(_i.started_at).where(_i.id == incident.id)).scalar_one()
    events = connection.execute(
        select(_e.kind, _e.at, _e.actor, _e.step, _e.why, _e.detail)
        .where(_e.instance_id == incident.id)
        .order_by(_e.seq)
    ).all()
    moments = [
        Moment(event.at, event.actor, WORDS[event.kind](event, workflow))
        for event in events
        if event.kind in WORDS
    ][:MAX_MOMENTS]
    found = metrics.figures(
        started_at,
        (metrics.Entry(e.at, e.kind, e.actor, e.detail) for e in events),
        _policy(commands, repo, workflow),
    )
    linked = _linked(connection, incident.id)
    return Facts(
        number=incident.number,
        title=title,
        workflow_title=workflow.title,
        priority=incident.priority,
        status=incident.status,
        started_at=started_at,
        ended_at=incident.ended_at,
        data=incident.state.get("data") or {},
        moments=moments,
        sla=found.sla,
        targets=_targets(workflow, incident.priority),
        time_to_acknowledge=found.time_to_acknowledge,
        time_to_resolve=found.time_to_resolve,
        alerts=_alerts(connection, [incident.id, *(row_id for row_id, _ in linked)]),
        linked=[item for _, item in linked],
    )


def _policy(commands: Commands, repo: Repository, workflow: Workflow) -> metrics.Policy:
    """How the incident's open clock counts: as Insight counts it (`engine.service.figures`)."""
    sla = workflow.sla or {}
    calendars = commands.registry.calendars(repo, workflow)
    return metrics.Policy(
        frozenset(sla.get("pause_while", ())),
        calendars.get(sla["calendar"]) if sla.get("calendar") else None,
    )


def _targets(workflow: Workflow, priority: str | None) -> dict[str, timedelta]:
    sla = workflow.sla or {}
    targets = (sla.get("targets") or {}).get(priority or "") or {}
    return {
        kind: parse_duration(value) for kind, value in targets.items() if kind in metrics.SLA_KINDS
    }


def _linked(connection: Connection, instance_id: int) -> list[tuple[int, LinkedIncident]]:
    """The incidents linked to this one: related ones, and duplicates merged into it."""
    links = connection.execute(
        select(_l.instance_id, _l.other_id, _l.kind)
        .where(or_(_l.instance_id == instance_id, _l.other_id == instance_id))
        .order_by(_l.id)
    ).all()
    hows: dict[int, str] = {}
    for link in links:
        there = link.other_id if link.instance_id == instance_id else link.instance_id
        if link.kind == "related":
            hows[there] = "related"
        elif link.kind == "duplicate" and link.other_id == instance_id:
            hows[there] = "duplicate"
        elif link.kind == "problem" and link.instance_id == instance_id:
            hows[there] = "problem"
    if not hows:
        return []
    rows = connection.execute(
        select(_i.id, _i.number, _i.title, _i.status).where(_i.id.in_(list(hows))).order_by(_i.id)
    )
    return [
        (row.id, LinkedIncident(row.number, row.title, row.status, hows[row.id])) for row in rows
    ]


def _alerts(connection: Connection, instance_ids: list[int]) -> list[AlertSeen]:
    rows = connection.execute(
        select(_a.received_at, _a.kind, _a.action, _a.severity, _a.summary, _i.number)
        .join(Instance.__table__, _i.id == _a.instance_id)
        .where(_a.instance_id.in_(instance_ids))
        .order_by(_a.received_at, _a.id)
        .limit(MAX_ALERTS)
    )
    return [
        AlertSeen(row.received_at, row.number, row.kind, row.action, row.severity, row.summary)
        for row in rows
    ]
