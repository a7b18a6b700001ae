"""Retention: how long a workflow's ended instances stay, and the job that applies it.

A policy belongs to a workflow key (not to the workflow document: see
docs/adr/0055-retention-is-an-admin-policy-per-workflow-key.md). Without one, instances
are kept forever. `archive` moves an instance that ended `after_days` days ago, with all
its history, into one compressed record of `archived_instances`, found again by its
number; `delete` removes it. Instances still running are never touched, nor a parent
whose child instance still runs.

The worker applies the policies periodically, in batches of `BATCH` instances, each
batch one transaction. It is safe to run twice at once: on PostgreSQL a batch takes its
instances with `FOR UPDATE SKIP LOCKED`, so two workers take different ones (and a
command on one of them waits, then finds it gone); on SQLite writers take turns. Run
again, it finds nothing left to do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Table, and_, exists, select
from sqlalchemy.orm import Session, aliased

from engine.core.errors import Problem
from engine.service import archive
from engine.service.errors import InvalidInput, NotAllowed, NotFound
from engine.service.permissions import require_admin
from engine.store.definitions import Definition
from engine.store.instances import Instance
from engine.store.people import User
from engine.store.retention import RETENTION_ACTIONS, ArchivedInstance, RetentionPolicy

if TYPE_CHECKING:
    from engine.service.shell import Shell
    from engine.store.uow import UnitOfWork

#: Instances archived or deleted per transaction: on SQLite a batch holds the write lock
#: (the whole database), and archiving 50 took a median 72 ms on a loaded 2-core machine.
BATCH = 50
#: Batches one run of the job takes at most; the next run goes on where it stopped.
MAX_BATCHES = 200
#: The longest retention a policy may state (100 years), and the shortest.
MAX_DAYS = 36_500
MIN_DAYS = 1
#: What a policy may say; `keep` is the default, stored as no policy.
ACTIONS = ("keep", *RETENTION_ACTIONS)


@dataclass(frozen=True, slots=True)
class PolicyRow:
    """A workflow's retention policy as the doors show it."""

    workflow_key: str
    action: str
    after_days: int | None
    updated_at: datetime | None
    updated_by: str | None


@dataclass(slots=True)
class Applied:
    """What one run of the retention job did."""

    archived: list[str]
    deleted: list[str]

    def to_dict(self) -> dict[str, list[str]]:
        return {"archived": self.archived, "deleted": self.deleted}


class Retention:
    """Retention policies (admins set them) and their application (the worker runs it)."""

    def __init__(self, shell: Shell) -> None:
        self.shell = shell

    # Policies ------------------------------------------------------------------------------

    def policies(self) -> list[PolicyRow]:
        """Every policy, by workflow key (workflows without one keep everything)."""
        return self.shell.read(
            lambda session: [
                _row(p)
                for p in session.scalars(
                    select(RetentionPolicy).order_by(RetentionPolicy.workflow_key)
                )
            ]
        )

    def overview(self) -> list[PolicyRow]:
        """Every workflow with its policy (`keep` for those without), by key."""

        def body(session: Session) -> list[PolicyRow]:
            found = {p.workflow_key: _row(p) for p in session.scalars(select(RetentionPolicy))}
            keys = session.scalars(
                select(Definition.key).where(Definition.kind == "workflow").order_by(Definition.key)
            )
            return [found.get(key) or PolicyRow(key, "keep", None, None, None) for key in keys]

        return self.shell.read(body)

    def policy(self, workflow_key: str) -> PolicyRow:
        """A workflow's policy; `keep` (forever) when it has none."""

        def body(session: Session) -> PolicyRow:
            found = session.get(RetentionPolicy, workflow_key)
            if found is None:
                _require_workflow(session, workflow_key)
                return PolicyRow(workflow_key, "keep", None, None, None)
            return _row(found)

        return self.shell.read(body)

    def set_policy(
        self, workflow_key: str, action: str, after_days: int | None, *, actor: str | None
    ) -> PolicyRow:
        """Set a workflow's policy (`keep` removes it); bad values change nothing.

        `actor` None is the operator at the command line; anyone else must be an admin.
        """
        problems = policy_problems(action, after_days)
        if problems:
            raise InvalidInput(problems[0].message, problems)

        def body(uow: UnitOfWork, at: datetime) -> PolicyRow:
            if actor is not None:
                require_admin(uow.repository, actor, "change retention policies")
            session = uow.session
            _require_workflow(session, workflow_key)
            found = session.get(RetentionPolicy, workflow_key)
            if action == "keep":
                if found is not None:
                    session.delete(found)
                return PolicyRow(workflow_key, "keep", None, at, actor)
            assert after_days is not None  # policy_problems said so
            row = found or RetentionPolicy(workflow_key=workflow_key)
            row.action, row.after_days, row.updated_at, row.updated_by = (
                action,
                after_days,
                at,
                actor,
            )
            if found is None:
                session.add(row)
            session.flush()
            return _row(row)

        return self.shell.execute("retention policy", None, body)

    # The archive ---------------------------------------------------------------------------

    def archived(self, number: str, *, actor: str | None = None) -> dict[str, Any]:
        """The record of an archived instance, by number; NotFound when none is archived.

        The record holds everything, internal notes included: only admins read it
        (`actor` None is the operator at the command line).
        """

        def body(session: Session) -> dict[str, Any]:
            _require_admin_reading(session, actor)
            found = session.get(ArchivedInstance, number.strip().upper())
            if found is None:
                raise NotFound(f"no instance {number} is in the archive")
            return archive.decompress(found.record)

        return self.shell.read(body)

    def archived_numbers(
        self, workflow_key: str | None = None, limit: int = 100, *, actor: str | None = None
    ) -> list[str]:
        """Numbers of archived instances (of one workflow), latest archived first (admins)."""
        query = select(ArchivedInstance.number).order_by(
            ArchivedInstance.archived_at.desc(), ArchivedInstance.number.desc()
        )
        if workflow_key is not None:
            query = query.where(ArchivedInstance.workflow_key == workflow_key)

        def body(session: Session) -> list[str]:
            _require_admin_reading(session, actor)
            return list(session.scalars(query.limit(max(1, min(limit, 10_000)))))

        return self.shell.read(body)

    # Applying ------------------------------------------------------------------------------

    def apply(self, *, batch: int = BATCH, max_batches: int = MAX_BATCHES) -> Applied:
        """Archive or delete, per policy, the ended instances old enough; say which.

        Each batch is one transaction; at most `max_batches` run, the rest waits for the
        next run. Safe to run in several workers at once, and to run again.
        """
        done = Applied([], [])
        policies = self.policies()
        batches = 0
        for policy in policies:
            assert policy.after_days is not None
            while batches < max_batches:
                batches += 1
                taken = self.shell.execute(
                    "retention",
                    None,
                    _batch_body(policy.workflow_key, policy.action, policy.after_days, batch),
                    repeatable=True,
                )
                (done.archived if policy.action == "archive" else done.deleted).extend(taken)
                if len(taken) < batch:
                    break
        return done


def policy_problems(action: str, after_days: int | None) -> list[Problem]:
    """What is wrong with a policy as given, each said where (`/action`, `/after_days`)."""
    if action not in ACTIONS:
        choices = ", ".join(ACTIONS)
        return [Problem("/action", f"the action must be one of {choices}, not '{action}'")]
    if action == "keep":
        if after_days is not None:  # said, and dropped without a word: a mistake somewhere
            return [Problem("/after_days", "keep holds instances for ever: give it no days")]
        return []
    if isinstance(after_days, bool) or not isinstance(after_days, int):
        return [Problem("/after_days", f"{action} needs a whole number of days")]
    if not MIN_DAYS <= after_days <= MAX_DAYS:
        return [Problem("/after_days", f"the days must be between {MIN_DAYS} and {MAX_DAYS}")]
    return []


def _batch_body(
    workflow_key: str, action: str, after_days: int, size: int
) -> Callable[[UnitOfWork, datetime], list[str]]:
    def body(uow: UnitOfWork, at: datetime) -> list[str]:
        connection = uow.connection
        cutoff = at - timedelta(days=after_days)
        child = aliased(Instance)
        running_child = exists().where(
            and_(child.parent_id == Instance.id, child.ended_at.is_(None))
        )
        query = (
            select(Instance.id, Instance.number)
            .where(
                Instance.workflow_key == workflow_key,
                Instance.ended_at.is_not(None),
                Instance.ended_at < cutoff,
                ~running_child,
            )
            .order_by(Instance.id)
            .limit(size)
        )
        if connection.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True, of=Instance)
        rows = connection.execute(query).all()
        ids = [row.id for row in rows]
        if not ids:
            return []
        if action == "archive":
            connection.execute(
                cast(Table, ArchivedInstance.__table__).insert(),
                [_archived(record, at) for record in archive.records(connection, ids)],
            )
        archive.remove(connection, ids)
        return [row.number for row in rows]

    return body


def _archived(record: dict[str, Any], at: datetime) -> dict[str, Any]:
    instance = record["instance"]
    return {
        "number": record["number"],
        "instance_id": instance["id"],
        "workflow_key": instance["workflow_key"],
        "title": instance["title"],
        "status": instance["status"],
        "ended_at": datetime.fromisoformat(instance["ended_at"]),
        "archived_at": at,
        "record": archive.compress(record),
    }


def archived_at(session: Session, number: str) -> datetime | None:
    """When the instance `number` was archived, or None when it is not in the archive."""
    found: datetime | None = session.scalar(
        select(ArchivedInstance.archived_at).where(
            ArchivedInstance.number == number.strip().upper()
        )
    )
    return found


def _require_admin_reading(session: Session, actor: str | None) -> None:
    if actor is None:
        return
    roles = session.scalar(select(User.roles).where(User.username == actor, User.active))
    if "admin" not in (roles or ()):
        raise NotAllowed("only an admin may read the archive")


def _require_workflow(session: Session, workflow_key: str) -> None:
    found = session.scalar(
        select(Definition.id).where(Definition.kind == "workflow", Definition.key == workflow_key)
    )
    if found is None:
        raise NotFound(f"there is no workflow '{workflow_key}'")


def _row(policy: RetentionPolicy) -> PolicyRow:
    return PolicyRow(
        policy.workflow_key, policy.action, policy.after_days, policy.updated_at, policy.updated_by
    )
