"""Saving a transition: the instance row, its events, tasks, timers and the outbox, at once."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from engine.core.definition import Workflow
from engine.core.effects import (
    CancelTask,
    CancelTimer,
    Notify,
    OpenTask,
    ReassignTask,
    ScheduleTimer,
    StartSubflow,
)
from engine.core.runtime import Transition
from engine.core.state import InstanceState
from engine.service import assignment
from engine.store.instances import Event, Instance, Outbox, StepRun, Task, Timer


def sync_columns(
    instance: Instance, state: InstanceState, workflow: Workflow, at: datetime
) -> None:
    """Copy what lists and filters need from the state into the instance's columns."""
    instance.state = state.to_dict()
    instance.status = state.status
    instance.title = state.title[:500]
    priority = state.data.get(workflow.priority_field)
    instance.priority = str(priority) if priority is not None else None
    instance.ended_at = datetime.fromisoformat(state.ended_at) if state.ended_at else None
    instance.updated_at = at


def record_events(
    session: Session, instance: Instance, entries: list[dict[str, Any]], command: str | None
) -> None:
    """Append audit entries (kind, at, step, why, actor, detail) to the instance's trail."""
    if not entries:
        return
    rows = []
    for entry in entries:
        instance.last_event += 1
        rows.append(
            {
                "instance_id": instance.id,
                "seq": instance.last_event,
                "kind": entry["kind"],
                "step": entry.get("step"),
                "at": entry["at"],
                "actor": entry.get("actor"),
                "why": entry.get("why"),
                "detail": entry.get("detail") or None,
                "command": command,
            }
        )
    session.execute(insert(Event), rows)


def save_transition(
    session: Session,
    instance: Instance,
    before: InstanceState | None,
    transition: Transition,
    workflow: Workflow,
    at: datetime,
    command: str | None,
) -> list[int]:
    """Persist a transition; return the ids of the tasks it opened."""
    state = transition.state
    sync_columns(instance, state, workflow, at)
    instance.version += 1
    record_events(
        session,
        instance,
        [{**event.to_dict(), "at": datetime.fromisoformat(event.at)} for event in transition.audit],
        command,
    )
    _save_runs(session, instance, before, state, at)
    opened = []
    for effect in transition.effects:
        if isinstance(effect, OpenTask):
            opened.append(_open_task(session, instance, effect, at))
        elif isinstance(effect, CancelTask):
            session.execute(
                update(Task)
                .where(
                    Task.instance_id == instance.id, Task.key == effect.task, Task.status == "open"
                )
                .values(status="cancelled", completed_at=at)
            )
        elif isinstance(effect, ReassignTask):
            _reassign(session, instance, effect)
        elif isinstance(effect, ScheduleTimer):
            _schedule(session, instance, effect)
        elif isinstance(effect, CancelTimer):
            session.execute(
                update(Timer)
                .where(
                    Timer.instance_id == instance.id,
                    Timer.key == effect.timer,
                    Timer.status == "pending",
                )
                .values(status="cancelled")
            )
        elif isinstance(effect, Notify | StartSubflow):
            session.add(_outbox(instance, effect.kind, effect.to_dict(), at))
    return opened


def _outbox(instance: Instance, kind: str, payload: dict[str, Any], at: datetime) -> Outbox:
    payload = {**payload, "instance": instance.id, "number": instance.number}
    return Outbox(instance_id=instance.id, kind=kind, payload=payload, created_at=at)


def _open_task(session: Session, instance: Instance, effect: OpenTask, at: datetime) -> int:
    who = assignment.resolve(session, effect.assign)
    task = Task(
        instance_id=instance.id,
        key=effect.task,
        step=effect.step,
        title=effect.title[:500],
        form=effect.form,
        role=effect.role,
        outcomes=list(effect.outcomes),
        assignment=dict(effect.assign),
        assignee=who.user,
        candidate_group=who.group,
        status="open",
        due_at=datetime.fromisoformat(effect.due) if effect.due else None,
        created_at=at,
    )
    session.add(task)
    session.flush()
    return task.id


def _reassign(session: Session, instance: Instance, effect: ReassignTask) -> None:
    task = session.scalars(
        select(Task).where(Task.instance_id == instance.id, Task.key == effect.task)
    ).one_or_none()
    if task is None or task.status != "open":
        return
    who = assignment.resolve(
        session, effect.assign, assignment.Assignee(task.assignee, task.candidate_group)
    )
    task.assignment = dict(effect.assign)
    task.assignee, task.candidate_group, task.delegated_by = who.user, who.group, None


def _schedule(session: Session, instance: Instance, effect: ScheduleTimer) -> None:
    due = datetime.fromisoformat(effect.at)
    timer = Timer(instance_id=instance.id, key=effect.timer, step=effect.step, due_at=due)
    session.add(timer)
    session.flush()
    # Dispatching to Redis happens after commit, from the outbox; a lost dispatch is
    # found again by the sweep over pending timers, so Redis never holds the only copy.
    session.add(_outbox(instance, "dispatch_timer", {"timer": timer.id, "at": effect.at}, due))


def _save_runs(
    session: Session,
    instance: Instance,
    before: InstanceState | None,
    after: InstanceState,
    at: datetime,
) -> None:
    old = set(before.runs) if before else set()
    new = set(after.runs)
    for run_id in sorted(new - old):
        run = after.runs[run_id]
        session.add(
            StepRun(
                instance_id=instance.id,
                run=run_id,
                step=run.step,
                started_at=datetime.fromisoformat(run.since),
            )
        )
    ended = old - new
    if ended:
        session.execute(
            update(StepRun)
            .where(StepRun.instance_id == instance.id, StepRun.run.in_(ended))
            .values(ended_at=at)
        )
