"""Escalation policies run on incidents: who is paged, and when the next level is.

When an incident opens under a service that names a policy (an alert's, a mailbox's, or the
one its start form's service field names), `begin` pages level 1 in the same transaction:
each person it names gets a `paged` notification (and a mail if their settings ask for it),
and the incident's first open task goes to the first of them who may hold it (a
reassignment the timeline records, actor `policy:KEY`). The next page
(`engine.core.escalation_policies.pages`: the levels' waits and the policy's repeats) is
kept in `pages`, pending until due.

The worker's `paging` job carries out the due pages, each in its own transaction, under the
incident's lock: a page already done or stopped changes nothing, so carrying one out twice
pages once. A page finds the policy's work over when a person has the incident: someone
claimed or completed one of its tasks, or it ended. Then the page and the rest of the policy
stop, and the ITIL assignment rules (the workflow's) go on alone. An acknowledgement stops the
run too; with the policy's `acknowledge_within`, the next run's first page waits for the
moment it runs out (`core.unacknowledged_at`), and pages level 1 again unless a person has the
incident by then or acknowledged it anew.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, cast

from sqlalchemy import Table, insert, select, update
from sqlalchemy.orm import Session

from engine.core import escalation_policies as core
from engine.service.apply import record_events
from engine.service.errors import NotAllowed, ServiceError
from engine.service.escalation_policies import paged
from engine.service.notifications import Note, tell
from engine.service.permissions import require_separation
from engine.store.instances import Event, Instance, Task
from engine.store.oncall import EscalationPolicy
from engine.store.paging import Page
from engine.store.repository import InstanceRow, Repository
from engine.store.services import AlertKey, Service

if TYPE_CHECKING:
    from engine.service.definitions import Registry
    from engine.service.shell import Shell
    from engine.store.uow import UnitOfWork

log = logging.getLogger(__name__)

pages = cast(Table, Page.__table__)
events = cast(Table, Event.__table__)
tasks = cast(Table, Task.__table__)
policies = cast(Table, EscalationPolicy.__table__)
alert_keys = cast(Table, AlertKey.__table__)

#: What on the timeline says a person has the incident for good: the policy hands over to
#: the workflow's assignment rules. An acknowledgement stops it too, until it runs out.
HANDED_OVER = ("task_claimed", "task_completed")
#: The most due pages one run of the job carries out (the rest wait for the next run).
BATCH = 200


@dataclass(frozen=True, slots=True)
class PageView:
    """One page of a policy on an incident, as `Paging.of` reads it."""

    id: int
    policy_key: str
    run: int
    level: int
    round: int
    due_at: datetime
    status: str
    paged: list[str]


@dataclass(frozen=True, slots=True)
class _Run:
    """Where a page stands: its policy's run, and the timeline event it looks after."""

    instance_id: int
    policy_key: str
    run: int
    after_event: int


def actor(policy_key: str) -> str:
    """Who the timeline says acted: the policy."""
    return f"policy:{policy_key}"[:80]


def begin(
    registry: Registry, repo: Repository, instance: InstanceRow, policy_key: str, at: datetime
) -> list[str]:
    """Run policy `policy_key` on an incident just opened (by an alert or a mail), in the
    transaction that opened it: page level 1 now and keep the next page. Returns whom level 1
    paged. A policy that is gone pages nobody."""
    policy = _policy(repo, policy_key)
    if policy is None:
        log.warning("escalation policy %r is gone: %s pages nobody", policy_key, instance.number)
        return []
    run = _Run(instance.id, policy_key, 0, 0)
    schedule = core.pages(policy, at)
    page_id = _add(repo, run, schedule[0])
    people = _page(registry, repo, instance, policy_key, 0, at)
    _finish(repo, page_id, "done", people, at)
    _keep_next(repo, run, schedule, schedule[0])
    return people


def begin_for_service(
    registry: Registry, repo: Repository, instance: InstanceRow, at: datetime
) -> list[str]:
    """Run the escalation policy of the service an incident was just filed under, if it
    names one (ADR 70): the service its mailbox or its start form's service field gave it.
    Returns whom level 1 paged."""
    policy_key = repo.connection.scalar(
        select(Service.policy_key)
        .join(Instance, Instance.service_key == Service.key)
        .where(Instance.id == instance.id)
    )
    return begin(registry, repo, instance, str(policy_key), at) if policy_key else []


class Paging:
    """The pages' side of the worker, and what tests read: over the commands' shell (and
    their published workflows: a page hands a task on only to whom it may go)."""

    def __init__(self, commands: Shell, registry: Registry) -> None:
        self.commands = commands
        self.registry = registry

    def due(self, at: datetime | None = None) -> list[int]:
        """Return the pending pages due by `at` (now), oldest first."""
        moment = at or self.commands.clock()
        return self.commands.read(
            lambda session: [
                int(page_id)
                for page_id in session.scalars(
                    select(pages.c.id)
                    .where(pages.c.status == "pending", pages.c.due_at <= moment)
                    .order_by(pages.c.due_at, pages.c.id)
                    .limit(BATCH)
                )
            ]
        )

    def carry_out_due(self) -> list[int]:
        """Carry out every page due now, each in its own transaction; return those that paged.

        A page the service refuses is logged and left pending for the next run."""
        done = []
        for page_id in self.due():
            try:
                if self.carry_out(page_id) == "done":
                    done.append(page_id)
            except ServiceError:
                log.exception("page %s could not be carried out; it is tried again", page_id)
        return done

    def carry_out(self, page_id: int) -> str:
        """Carry out one page if it is still pending; return its status after.

        Under the incident's lock, so two workers carrying out the same page page once."""

        def body(uow: UnitOfWork, at: datetime) -> str:
            repo = uow.repository
            row = _page_row(repo, page_id)
            if row is None:
                return "gone"
            instance = repo.lock_instance(int(row.instance_id))
            row = _page_row(repo, page_id)  # as it is now we hold the lock
            if instance is None or row is None:
                return "gone"
            if row.status != "pending":
                return str(row.status)
            run = _Run(instance.id, row.policy_key, int(row.run), int(row.after_event))
            policy = _policy(repo, row.policy_key)
            if policy is None or instance.ended_at is not None:
                _stop(repo, instance.id, at)
                return "stopped"
            handed, acknowledged = _timeline(repo, run)
            if handed:
                _stop(repo, instance.id, at)
                return "stopped"
            if acknowledged is not None:
                _stop(repo, instance.id, at)
                _rerun_when_it_runs_out(repo, policy, run, acknowledged)
                return "stopped"
            if int(row.run) > 0 and (row.round, row.level) == (0, 0):
                _unacknowledge(repo, instance, row.policy_key, policy, at)
            people = _page(self.registry, repo, instance, row.policy_key, int(row.level), at)
            _finish(repo, page_id, "done", people, at)
            this = core.Page(row.due_at, int(row.level), int(row.round))
            schedule = core.pages(policy, _start(repo, run))
            _keep_next(repo, run, schedule, this)
            return "done"

        return self.commands.execute("page", None, body)

    def of(self, number: str) -> list[PageView]:
        """Return the pages of an incident, in order."""

        def read(session: Session) -> list[PageView]:
            rows = session.execute(
                select(pages)
                .join(Instance, Instance.id == pages.c.instance_id)
                .where(Instance.number == number)
                .order_by(pages.c.run, pages.c.round, pages.c.level)
            ).all()
            return [
                PageView(
                    row.id,
                    row.policy_key,
                    row.run,
                    row.level,
                    row.round,
                    row.due_at,
                    row.status,
                    [name for name in row.paged.split(",") if name],
                )
                for row in rows
            ]

        return self.commands.read(read)


# Inside a transaction ----------------------------------------------------------------------


def _policy(repo: Repository, key: str) -> core.Policy | None:
    row = repo.connection.execute(select(policies.c.document).where(policies.c.key == key)).first()
    return core.policy_from_document(key, row.document) if row is not None else None


def _page_row(repo: Repository, page_id: int) -> Page | None:
    row = repo.connection.execute(select(pages).where(pages.c.id == page_id)).first()
    return row  # type: ignore[return-value]  # a Row with Page's columns


def _add(repo: Repository, run: _Run, page: core.Page) -> int:
    result = repo.connection.execute(
        insert(pages).returning(pages.c.id),
        {
            "instance_id": run.instance_id,
            "policy_key": run.policy_key,
            "run": run.run,
            "level": page.level,
            "round": page.round,
            "after_event": run.after_event,
            "due_at": page.at,
            "status": "pending",
            "paged": "",
            "done_at": None,
        },
    )
    return int(result.scalar_one())


def _keep_next(repo: Repository, run: _Run, schedule: list[core.Page], this: core.Page) -> None:
    """Keep the page after `this` pending, unless the policy ends with it or it is kept."""
    after = [p for p in schedule if (p.round, p.level) > (this.round, this.level)]
    if not after:
        return
    following = after[0]
    exists = repo.connection.scalar(
        select(pages.c.id).where(
            pages.c.instance_id == run.instance_id,
            pages.c.run == run.run,
            pages.c.round == following.round,
            pages.c.level == following.level,
        )
    )
    if exists is None:
        _add(repo, run, following)


def _finish(repo: Repository, page_id: int, status: str, people: list[str], at: datetime) -> None:
    repo.connection.execute(
        update(pages)
        .where(pages.c.id == page_id)
        .values(status=status, paged=",".join(people)[:2000], done_at=at)
    )


def _stop(repo: Repository, instance_id: int, at: datetime) -> None:
    """Stop every pending page of an incident: a person has it, or it ended."""
    repo.connection.execute(
        update(pages)
        .where(pages.c.instance_id == instance_id, pages.c.status == "pending")
        .values(status="stopped", done_at=at)
    )


def _start(repo: Repository, run: _Run) -> datetime:
    """When the run began: its first page's time."""
    found = repo.connection.scalar(
        select(pages.c.due_at).where(
            pages.c.instance_id == run.instance_id,
            pages.c.run == run.run,
            pages.c.round == 0,
            pages.c.level == 0,
        )
    )
    assert found is not None  # every run begins with its first page
    return cast(datetime, found)


def _timeline(repo: Repository, run: _Run) -> tuple[bool, tuple[int, datetime] | None]:
    """Read the timeline since the run looked: has a person claimed or completed a task
    (the policy hands over for good), and the latest acknowledgement (its event id and
    time), if any."""
    found = repo.connection.execute(
        select(events.c.id, events.c.kind, events.c.at)
        .where(
            events.c.instance_id == run.instance_id,
            events.c.id > run.after_event,
            events.c.kind.in_((*HANDED_OVER, "acknowledged")),
        )
        .order_by(events.c.id)
    ).all()
    handed = any(row.kind in HANDED_OVER for row in found)
    acks = [(int(row.id), cast(datetime, row.at)) for row in found if row.kind == "acknowledged"]
    return handed, (acks[-1] if acks else None)


def _rerun_when_it_runs_out(
    repo: Repository, policy: core.Policy, run: _Run, acknowledged: tuple[int, datetime]
) -> None:
    """Keep the next run's first page for when the acknowledgement runs out, if it does."""
    event_id, at = acknowledged
    until = core.unacknowledged_at(policy, at)
    if until is not None:
        following = _Run(run.instance_id, run.policy_key, run.run + 1, event_id)
        _add(repo, following, core.Page(until, 0, 0))


def _unacknowledge(
    repo: Repository, instance: InstanceRow, policy_key: str, policy: core.Policy, at: datetime
) -> None:
    """The acknowledgement ran out: the timeline says so, its alerts fire again (so it may
    be acknowledged again)."""
    repo.connection.execute(
        update(alert_keys)
        .where(alert_keys.c.instance_id == instance.id, alert_keys.c.state == "acknowledged")
        .values(state="firing", updated_at=at)
    )
    within = policy.acknowledge_within
    entry = {
        "kind": "unacknowledged",
        "at": at,
        "actor": actor(policy_key),
        "why": f"nobody resolved it within {within} of the acknowledgement: paged again",
        "detail": {"policy": policy_key},
    }
    record_events(repo, instance, [entry], None, at)


def _page(
    registry: Registry,
    repo: Repository,
    instance: InstanceRow,
    policy_key: str,
    level: int,
    at: datetime,
) -> list[str]:
    """Page level `level`: tell each person, and give the first open task to the first of
    them who may hold it. Returns whom it paged."""
    people = paged(repo, policy_key, level, at) or []
    who = actor(policy_key)
    task = repo.connection.execute(
        select(tasks.c.id)
        .where(tasks.c.instance_id == instance.id, tasks.c.status == "open")
        .order_by(tasks.c.id)
        .limit(1)
    ).first()
    open_task = repo.task(int(task.id)) if task is not None else None
    summary = f"{instance.number}: level {level + 1} of the escalation policy {policy_key}"
    task_id, task_key = (open_task.id, open_task.key) if open_task else (None, None)
    tell(repo, instance, [Note(p, "paged", task_id, task_key, summary) for p in people], who, at)
    if open_task is None:
        return people
    workflow = registry.workflow(repo, instance.workflow_version_id)
    for person in people:
        if open_task.assignee == person:
            break
        try:
            require_separation(
                repo, workflow.steps.get(open_task.step), instance, person, workflow.steps
            )
        except NotAllowed:
            continue  # separation of duties keeps them from it: the next person paged
        open_task.assignee, open_task.delegated_by = person, None
        repo.assign_task(open_task)
        why = f"to {person}: paged by the escalation policy {policy_key}, level {level + 1}"
        entry = {
            "kind": "task_reassigned",
            "at": at,
            "actor": who,
            "step": open_task.step,
            "why": why,
            "detail": {"task": open_task.key},
        }
        record_events(repo, instance, [entry], None, at)
        break
    return people
