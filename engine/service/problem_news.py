"""When a problem ends, the owners of its incidents are told, on the command path that ended it.

Whatever ended the problem (its `fix` task completed on the task page, through the API or
`flowdesk problem resolve`, or a cancel), the transition is saved by
`engine.service.apply.save_transition`, which calls `tell_owners` once, in the same
transaction: one indexed look-up of the instance's incoming links of kind `problem`
(none, for anything but a problem), then, per linked incident, one notification per
owner (and a mail for those who asked for this kind by mail, as every notification).

An incident's owner, as the notifications say it: whoever holds its open tasks (the
assignee; a queued task's group members); an incident with no open task of the desk (it
ended, or waits on its requester) is owned by whoever completed its latest desk task. The
requester is not told here: the root cause is the desk's business, and the requester
hears when their incident itself is resolved.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select

from engine.core.state import InstanceState
from engine.service.notifications import Note, tell
from engine.store.casework import InstanceLink
from engine.store.instances import Instance, Task
from engine.store.repository import InstanceRow, Repository
from engine.store.statements import Prepared

#: The notification kind (see `engine.service.notifications.KINDS`).
KIND = "problem_resolved"
#: Who the notifications say acted when nobody did (an engine-ended problem).
NOBODY = "flowdesk"

#: The incidents linked to a problem: asked each time any instance ends, so prepared once.
_INCIDENTS = Prepared(
    select(Instance.id, Instance.number, Instance.requester, Instance.status)
    .join(InstanceLink, InstanceLink.instance_id == Instance.id)
    .where(InstanceLink.other_id == bindparam("problem"), InstanceLink.kind == "problem")
    .order_by(InstanceLink.id)
)


def tell_owners(
    repo: Repository, problem: InstanceRow, state: InstanceState, actor: str | None, at: datetime
) -> None:
    """Tell the owners of the incidents linked to `problem`, which has just ended."""
    incidents = _INCIDENTS.all(repo.connection, {"problem": problem.id})
    if not incidents:
        return
    summary = _summary(problem.number, state)
    for incident_id, number, requester, status in incidents:
        owners = _owners(repo, incident_id)
        notes = [Note(owner, KIND, summary=summary) for owner in sorted(owners)]
        if notes:
            row = InstanceRow(incident_id, number, 0, {}, 0, 0, requester, status, None)
            tell(repo, row, notes, actor or NOBODY, at)


def _summary(number: str, state: InstanceState) -> str:
    """Name the problem and how it ended: "PRB-000001 (VPN drops) is resolved: ..."."""
    data = state.data
    how = "is resolved" if state.status == "resolved" else f"ended ({state.status})"
    said = data.get("resolution") if state.status == "resolved" else None
    text = f"The problem {number} ({state.title}) {how}"
    return f"{text}: {' '.join(str(said).split())}" if said else text


def _owners(repo: Repository, incident_id: int) -> set[str]:
    rows = repo.connection.execute(
        select(Task.status, Task.assignee, Task.candidate_group, Task.assignment, Task.completed_by)
        .where(Task.instance_id == incident_id, Task.status.in_(("open", "completed")))
        .order_by(Task.id)
    ).all()
    desk = [row for row in rows if not _requesters(row.assignment)]
    holding: set[str] = set()
    for row in desk:
        if row.status != "open":
            continue
        if row.assignee:
            holding.add(row.assignee)
        elif row.candidate_group:
            holding.update(repo.members(row.candidate_group))
    if holding:
        return holding
    done = [row.completed_by for row in desk if row.status == "completed" and row.completed_by]
    return {done[-1]} if done else set()


def _requesters(assignment: Any) -> bool:
    return isinstance(assignment, dict) and bool(assignment.get("requester"))
