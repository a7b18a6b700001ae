"""How the desk says what happened to an instance: one line per timeline event, in words.

The instance page and `flowdesk show` say the same things: a step by its label, a route by
where it went, an outcome as it was chosen, a vote with its tally.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.core.definition import Workflow
from engine.service.queries import TimelineEvent

#: Timeline entries in words; kinds not listed are spelled out from their name.
EVENT_WORDS = {
    "started": "Started",
    "routed": "Routed",
    "data_set": "Value set",
    "status_changed": "Status changed",
    "task_opened": "Task opened",
    "task_completed": "Task completed",
    "task_cancelled": "Task withdrawn",
    "task_claimed": "Task taken",
    "task_unclaimed": "Task given back",
    "task_reassigned": "Task reassigned",
    "task_delegated": "Task delegated",
    "voted": "Vote",
    "auto_approved": "Approved automatically",
    "escalated": "Escalated",
    "timer_fired": "Timer fired",
    "sla_started": "SLA clock started",
    "sla_changed": "SLA changed",
    "sla_paused": "SLA clock paused",
    "sla_resumed": "SLA clock resumed",
    "sla_stopped": "SLA clock stopped",
    "sla_warning": "SLA warning",
    "sla_breached": "SLA breached",
    "branch_finished": "Branch finished",
    "ended": "Ended",
    "commented": "Comment added",
    "attached": "Files added",
    "incident": "Incident",
    "retried": "Tried again",
    "subflow_started": "Linked workflow started",
    "delivery_failed": "Message not delivered",
    "logged": "Logged for a caller",
    "mailed": "Received by mail",
    "reopened": "Reopened",
    "priority_changed": "Priority changed",
    "linked": "Linked",
    "duplicate_added": "Duplicate merged into this one",
    "acknowledged": "Acknowledged",
    "alert": "Alert",
    "alert_refired": "Alert fired again",
    "alerts_resolved": "Alert resolved",
}


def event_text(event: TimelineEvent, workflow: Workflow) -> str:
    """Say what an event did, in words, without the reason (shown apart)."""
    detail = event.detail or {}
    what = EVENT_WORDS.get(event.kind) or event.kind.replace("_", " ").capitalize()
    if event.kind == "routed" and detail.get("to"):
        target = workflow.steps.get(detail["to"])
        what = f"Went on to {target.label if target else detail['to']}"
    elif event.kind == "data_set" and "field" in detail:
        what = f"{what}: {detail['field']} = {detail.get('value')}"
    elif event.kind in ("status_changed", "ended") and detail.get("status"):
        what = f"{what}: {str(detail['status']).replace('_', ' ')}"
    elif event.kind == "task_completed" and detail.get("outcome"):
        what = f"{what}: {str(detail['outcome']).replace('_', ' ')}"
    elif event.kind == "voted" and detail.get("vote"):
        what = vote_words(detail)
    step = workflow.steps.get(event.step) if event.step else None
    # "Ended: closed", not "Ended: closed (Closed)": a label the words say already is left out.
    if step is None or step.label.lower() in what.lower():
        return what
    return f"{what} ({step.label})"


def vote_words(detail: Mapping[str, Any]) -> str:
    """Say a vote with its direction and, when recorded, the tally against the quorum:
    "Voted to reject: 1 approved, 1 rejected, 2 of 3 needed to approve"."""
    vote = str(detail["vote"])
    direction = {"approved": "to approve", "rejected": "to reject"}.get(
        vote, vote.replace("_", " ")
    )
    if "needed" not in detail:  # recorded before votes kept their tally
        return f"Voted {direction}"
    return (
        f"Voted {direction}: {detail['approvals']} approved, {detail['rejections']} rejected, "
        f"{detail['needed']} of {detail['reviewers']} needed to approve"
    )
