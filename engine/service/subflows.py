"""Child instances: started, awaited and cancelled through the outbox, exactly once each;
and the problems an action's `open_problem` opens, the same way.

A `subflow` step writes `start_subflow` to the outbox in its instance's transaction; a
child that ends writes `subflow_finished`; a parent that withdraws a waiting step writes
`cancel_subflow`. `Subflows.carry_out` does what one row asks in one transaction that
also marks the row done, so a crash before the commit leaves the row to do again and
one after it leaves nothing to do twice. The child's data must fill in its start form;
when it does not (or the child workflow is not published), the parent's step stops on
an incident that says why, and the row becomes a dead letter with that reason. So does
a parent that cannot take in its child's end: its step waits on the incident, and an
admin's retry starts it again, with a new child.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from engine.core.events import Cancelled, SubflowFailed, SubflowFinished
from engine.core.state import InstanceState
from engine.service import problems
from engine.service.apply import record_events
from engine.service.commands import Commands
from engine.service.errors import ServiceError
from engine.store.instances import Outbox
from engine.store.repository import InstanceRow, OutboxRow
from engine.store.uow import UnitOfWork

#: The outbox rows this module carries out (the relay in `engine.jobs` does the messages).
KINDS = ("start_subflow", "subflow_finished", "cancel_subflow", "open_problem")
#: Rows one call of `carry_out_pending` takes.
BATCH = 50


class Subflows:
    """The use cases of child instances, over the commands' database."""

    def __init__(self, commands: Commands) -> None:
        self.commands = commands

    def pending(self, limit: int = BATCH) -> list[int]:
        """Return the ids of the oldest outbox rows about child instances still to do."""
        found: list[int] = self.commands.read(
            lambda session: list(
                session.scalars(
                    select(Outbox.id)
                    .where(Outbox.status == "pending", Outbox.kind.in_(KINDS))
                    .order_by(Outbox.id)
                    .limit(limit)
                )
            )
        )
        return found

    def carry_out_pending(self, limit: int = BATCH) -> list[int]:
        """Carry out the pending rows, oldest first; return the ids done."""
        done = []
        for item in self.pending(limit):
            if self.carry_out(item):
                done.append(item)
        return done

    def carry_out(self, item: int) -> bool:
        """Do what one outbox row asks; False if it was done already (or is not ours)."""
        try:
            # Repeatable: a row done (or failed) is no longer pending, and then nothing is done.
            done: bool = self.commands.execute(
                "subflow", None, lambda uow, at: self._do(uow, at, item), repeatable=True
            )
        except ServiceError as error:
            # Nothing of it was kept; the row becomes a dead letter with the reason, and a
            # parent waiting for a child that could not start stops on an incident.
            reason = error.message
            return bool(
                self.commands.execute(
                    "subflow",
                    None,
                    lambda uow, at: self._failed(uow, at, item, reason),
                    repeatable=True,
                )
            )
        return done

    def _do(self, uow: UnitOfWork, at: datetime, item: int) -> bool:
        repo = uow.repository
        row = repo.outbox_item(item)
        if row is None or row.status != "pending" or row.kind not in KINDS:
            return False
        if row.kind == "subflow_finished":  # the row is the child's; only the parent is locked
            note = self._finished(uow, at, row)
        else:
            parent = repo.lock_instance(row.instance_id) if row.instance_id is not None else None
            if row.kind == "start_subflow":
                note = self._start(uow, at, row, parent)
            elif row.kind == "open_problem":
                note = self._open_problem(uow, at, row, parent)
            else:
                note = self._cancel(uow, at, row, parent)
        repo.finish_outbox(item, "sent", at, note, 1)
        return True

    def _start(
        self, uow: UnitOfWork, at: datetime, row: OutboxRow, parent: InstanceRow | None
    ) -> str | None:
        payload = row.payload
        run, wait = int(payload["run"]), bool(payload.get("wait", True))
        if parent is None:
            return "not started: its parent is gone"
        # A child the parent does not wait for was started when the parent passed its step,
        # as a mail is sent: what the parent did since (it may have ended) does not undo it.
        if wait and parent.ended_at is not None:
            return "not started: its parent has ended"
        if wait and not _waiting(parent, run):
            return "not started: its parent no longer waits for it"
        child = self.commands.begin(
            uow,
            at,
            str(payload["workflow"]),
            dict(payload.get("data") or {}),
            parent=(parent.id, run if wait else None),
        )
        event = {
            "kind": "subflow_started",
            "at": at,
            "step": _step_of(parent, run),
            "why": f"started {child['number']}",
            "detail": {"child": child["number"], "run": run},
        }
        record_events(uow.repository, parent, [event], None, at)
        return None

    def _open_problem(
        self, uow: UnitOfWork, at: datetime, row: OutboxRow, instance: InstanceRow | None
    ) -> str | None:
        if instance is None:
            return "not opened: its instance is gone"
        by = row.payload.get("by")
        note = problems.open_for_step(self.commands, uow, at, instance, str(by) if by else None)
        if note is not None:  # said on the timeline too, where the desk looks for the problem
            step = str(row.payload.get("step") or "") or None
            event = {"kind": "problem_not_opened", "at": at, "step": step, "why": note}
            record_events(uow.repository, instance, [event], None, at)
        return note

    def _finished(self, uow: UnitOfWork, at: datetime, row: OutboxRow) -> str | None:
        repo = uow.repository
        child = repo.instance(int(row.payload["child"]))
        if child is None or child.parent_id is None or child.parent_run is None:
            return "nobody waits for it"
        parent = repo.lock_instance(child.parent_id)
        if parent is None or parent.ended_at is not None or not _waiting(parent, child.parent_run):
            return "its parent no longer waits for it"
        state = InstanceState.from_dict(child.state)
        event = SubflowFinished(
            child.parent_run, child.status, state.data, state.outcome, child.number
        )
        self.commands.advance(uow, parent, event, at, None)
        return None

    def _cancel(
        self, uow: UnitOfWork, at: datetime, row: OutboxRow, parent: InstanceRow | None
    ) -> str | None:
        repo = uow.repository
        if parent is None:
            return "its parent is gone"
        reason = f"{parent.number} no longer needs it: {row.payload.get('reason', 'cancelled')}"
        for child_id in repo.children(parent.id, int(row.payload["run"])):
            child = repo.lock_instance(child_id)
            if child is not None and child.ended_at is None:
                self.commands.advance(uow, child, Cancelled(reason, None), at, None)
        return None

    def _failed(self, uow: UnitOfWork, at: datetime, item: int, reason: str) -> bool:
        repo = uow.repository
        row = repo.outbox_item(item)
        if row is None or row.status != "pending":
            return False
        parent_id, run = row.instance_id, int(row.payload.get("run", 0))
        child = None
        if row.kind == "subflow_finished":
            child = repo.instance(int(row.payload["child"]))
            parent_id = child.parent_id if child is not None else None
            run = child.parent_run or 0 if child is not None else 0
        parent = repo.lock_instance(parent_id) if parent_id is not None else None
        what = _what_failed(row, child)
        waits = row.kind == "subflow_finished" or (
            row.kind == "start_subflow" and row.payload.get("wait", True)
        )
        if parent is not None and parent.ended_at is None and waits and _waiting(parent, run):
            # The step waiting for the child stops on an incident: a retry starts it again.
            self.commands.advance(uow, parent, SubflowFailed(run, f"{what}: {reason}"), at, None)
        elif parent is not None:
            event = {"kind": "incident", "at": at, "step": _step_of(parent, run)}
            record_events(repo, parent, [{**event, "why": f"{what}: {reason}"}], None, at)
        repo.finish_outbox(item, "failed", at, reason[:2000], 1)
        return True


def _what_failed(row: OutboxRow, child: InstanceRow | None) -> str:
    """Say in words what an outbox row about a child instance could not do."""
    if row.kind == "start_subflow":
        return f"the workflow '{row.payload.get('workflow')}' could not start"
    if row.kind == "subflow_finished":
        number = child.number if child is not None else "its child"
        return f"the end of {number} could not be taken in"
    if row.kind == "open_problem":
        return "a problem could not be opened"
    return "a child instance could not be cancelled"


def _waiting(parent: InstanceRow, run: int) -> bool:
    for found in parent.state.get("runs", ()):
        if found.get("id") == run:
            return found.get("incident") is None
    return False


def _step_of(parent: InstanceRow, run: int) -> str | None:
    for found in parent.state.get("runs", ()):
        if found.get("id") == run:
            return str(found.get("step"))
    return None
