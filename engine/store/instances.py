"""Instances and everything that hangs off them: runs, tasks, events, timers, comments, files."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    ForeignKey,
    Index,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    or_,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from engine.store.base import Base, Document, Id


class Counter(Base):
    """The last number given per prefix (`INC` -> 42), so numbers are unique and gap-free."""

    __tablename__ = "counters"

    prefix: Mapped[str] = mapped_column(String(10), primary_key=True)
    last: Mapped[int] = mapped_column(default=0)


class Instance(Base):
    """One running or finished case, pinned to the workflow version it started on.

    `state` is the runtime's state document (data included); the other columns
    repeat what lists and filters need, kept in step with `state` by the service.
    """

    __tablename__ = "instances"
    __table_args__ = (
        UniqueConstraint("prefix", "seq"),
        # The instance list sorts by these and pages by seek, so each ends in the id.
        Index("ix_instances_status", "status", "id"),
        Index("ix_instances_updated_at_id", "updated_at", "id"),
        Index("ix_instances_priority_id", "priority", "id"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    number: Mapped[str] = mapped_column(String(24), unique=True)
    prefix: Mapped[str] = mapped_column(String(10))
    seq: Mapped[int]
    workflow_key: Mapped[str] = mapped_column(String(80), index=True)
    workflow_version_id: Mapped[int] = mapped_column(
        ForeignKey("definition_versions.id", ondelete="RESTRICT")
    )
    title: Mapped[str] = mapped_column(String(500), default="")
    status: Mapped[str] = mapped_column(String(40))
    priority: Mapped[str | None] = mapped_column(String(40))  # indexed with the id, above
    requester: Mapped[str | None] = mapped_column(String(80), index=True)
    state: Mapped[dict[str, Any]]
    version: Mapped[int] = mapped_column(default=1)
    last_event: Mapped[int] = mapped_column(default=0)
    started_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    response_due_at: Mapped[datetime | None] = mapped_column(index=True)
    resolution_due_at: Mapped[datetime | None] = mapped_column(index=True)
    response_breached: Mapped[bool] = mapped_column(default=False, index=True)
    resolution_breached: Mapped[bool] = mapped_column(default=False, index=True)
    #: The instance whose `subflow` step started this one, and that step's run (None when
    #: the parent does not wait). No foreign key: see migration 0010.
    parent_id: Mapped[int | None] = mapped_column(Id, index=True)
    parent_run: Mapped[int | None]
    #: How the request reached the desk when an agent logged it (phone, email, chat,
    #: walk_in, sms), who logged it, and the caller without an account ({name, email,
    #: phone}); None for what requesters started themselves. See migration 0014.
    channel: Mapped[str | None] = mapped_column(String(20))
    logged_by: Mapped[str | None] = mapped_column(String(80))
    caller: Mapped[dict[str, Any] | None]
    #: The service (catalogue key) the instance is about; see migration 0017.
    service_key: Mapped[str | None] = mapped_column(String(80), index=True)


class StepRun(Base):
    """A finished activation of a step: when it began and ended.

    Appended when the run ends; the runs still active are in the instance's state.
    """

    __tablename__ = "step_runs"
    __table_args__ = (UniqueConstraint("instance_id", "run"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"))
    run: Mapped[int]
    step: Mapped[str] = mapped_column(String(80))
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime]


class Task(Base):
    """Work waiting on a person, or done by one."""

    __tablename__ = "tasks"
    __table_args__ = (
        UniqueConstraint("instance_id", "key"),
        Index("ix_tasks_assignee_status", "assignee", "status"),
        # A group's queue: only the open, unclaimed tasks, so the index stays small, in the
        # order the inbox lists them, so a page of it is a range of the index.
        Index(
            "ix_tasks_queue",
            "candidate_group",
            "sort_rank",
            "sort_at",
            "id",
            sqlite_where=text("status = 'open' AND assignee IS NULL"),
            postgresql_where=text("status = 'open' AND assignee IS NULL"),
        ),
        # "My tasks" includes those I delegated; few tasks are, so only they are indexed.
        Index(
            "ix_tasks_delegated_status",
            "delegated_by",
            "status",
            sqlite_where=text("delegated_by IS NOT NULL"),
            postgresql_where=text("delegated_by IS NOT NULL"),
        ),
        # The instance list's filters by current step and by group (claimed or not).
        Index(
            "ix_tasks_open_step",
            "step",
            "instance_id",
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
        Index(
            "ix_tasks_open_group",
            "candidate_group",
            "instance_id",
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
        # What someone outside the desk may see includes what they did (ADR 21): the list
        # looks their completed tasks up by who completed them.
        Index("ix_tasks_completed_by", "completed_by", "instance_id"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(20))
    step: Mapped[str] = mapped_column(String(80))
    title: Mapped[str] = mapped_column(String(500))
    form: Mapped[str | None] = mapped_column(String(80))
    #: The version of `form` the task opened with: its data is checked against that one.
    form_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("definition_versions.id", ondelete="RESTRICT")
    )
    role: Mapped[str | None] = mapped_column(String(200))
    outcomes: Mapped[list[str]] = mapped_column(Document)
    assignment: Mapped[dict[str, Any]]
    assignee: Mapped[str | None] = mapped_column(String(80))
    candidate_group: Mapped[str | None] = mapped_column(String(80))
    delegated_by: Mapped[str | None] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(20), default="open")
    outcome: Mapped[str | None] = mapped_column(String(80))
    due_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    completed_at: Mapped[datetime | None]
    completed_by: Mapped[str | None] = mapped_column(String(80))
    data: Mapped[dict[str, Any] | None]
    # Where the task sorts in the inbox, nearest SLA breach first (apply.sort_key):
    # copied from its instance's SLA clocks whenever they change, so that a page of a queue
    # is read in index order instead of sorting every queued task by a join.
    sort_rank: Mapped[int] = mapped_column(SmallInteger, default=3)
    sort_at: Mapped[datetime]
    #: Whom separation of duties keeps from the task, worked out as it opens (the requester
    #: of an approval, who did a step its `not_by` names): each name between spaces (a
    #: username has none), so a queue leaves the task out of their lists (`not_kept_apart`).
    #: Acting on it checks again (`permissions.require_separation`).
    kept_apart: Mapped[str | None] = mapped_column(Text)


def spaced_names(people: Iterable[str]) -> str | None:
    """The `kept_apart` column of a task that keeps `people` from it; None for nobody."""
    names = sorted(set(people))
    return f" {' '.join(names)} " if names else None


#: Who acted, when the requester acts through their tracking link: a name no user can take
#: (usernames start with a letter or a digit), so an answer, a comment or a file sent there
#: lets no account see the instance. Pages say "the requester".
REQUESTER = "~requester"


def names_of(kept_apart: str | None) -> frozenset[str]:
    """The people a `kept_apart` column names."""
    return frozenset((kept_apart or "").split())


def apart_pattern(username: str) -> str:
    """The LIKE pattern (escaped with '/') that finds `username` in a `kept_apart` column."""
    escaped = username.replace("/", "//").replace("%", "/%").replace("_", "/_")
    return f"% {escaped} %"


def not_kept_apart(column: Any, pattern: Any) -> ColumnElement[bool]:
    """The condition "the task's `kept_apart` column does not name whom `pattern` finds"."""
    return or_(column.is_(None), ~column.like(pattern, escape="/"))


class Event(Base):
    """An entry of the append-only audit trail: who, what, when and why."""

    __tablename__ = "events"
    __table_args__ = (UniqueConstraint("instance_id", "seq"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"))
    seq: Mapped[int]
    kind: Mapped[str] = mapped_column(String(40))
    step: Mapped[str | None] = mapped_column(String(80))
    at: Mapped[datetime]
    actor: Mapped[str | None] = mapped_column(String(80))
    why: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict[str, Any] | None]
    command: Mapped[str | None] = mapped_column(String(200))


class Timer(Base):
    """A timed step: due at `due_at`; fired, cancelled or still pending.

    A new timer is also its own outbox entry: `dispatched_at` stays empty until the relay
    has handed it to RQ after commit.
    """

    __tablename__ = "timers"
    __table_args__ = (
        UniqueConstraint("instance_id", "key"),
        # Only pending timers are ever looked for (by the sweep and the relay), and they
        # are few: a partial index keeps every other timer out of it.
        Index(
            "ix_timers_pending_due",
            "due_at",
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(20))
    step: Mapped[str] = mapped_column(String(80))
    due_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(20), default="pending")
    dispatched_at: Mapped[datetime | None]
    fired_at: Mapped[datetime | None]
    #: The web request whose command set this timer, for the worker's log lines.
    request_id: Mapped[str | None] = mapped_column(String(64))


class Outbox(Base):
    """An effect to carry out after commit: a message, a webhook, a timer to dispatch."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_id", "status", "id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
    #: The web request whose command wrote this message, for the worker's log lines.
    request_id: Mapped[str | None] = mapped_column(String(64))


class Comment(Base):
    """A message on an instance; `public` ones are shown to the requester."""

    __tablename__ = "comments"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    instance_id: Mapped[int] = mapped_column(
        ForeignKey("instances.id", ondelete="CASCADE"), index=True
    )
    author: Mapped[str | None] = mapped_column(String(80))
    body: Mapped[str] = mapped_column(Text)
    public: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]


class Attachment(Base):
    """A file attached to an instance; the bytes live outside the database."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    instance_id: Mapped[int] = mapped_column(
        ForeignKey("instances.id", ondelete="CASCADE"), index=True
    )
    field: Mapped[str | None] = mapped_column(String(80))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(120))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(255))
    uploaded_by: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[datetime]


class TrackingLink(Base):
    """A requester's secret link to follow an instance without an account.

    Only a hash of the token is kept: a copy of the database does not open anyone's link.
    """

    __tablename__ = "tracking_links"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    instance_id: Mapped[int] = mapped_column(
        ForeignKey("instances.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]


class Command(Base):
    """A command already carried out, by idempotency key, with the answer it gave."""

    __tablename__ = "commands"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"))
    result: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    #: SHA-256 (hex) of what the command was asked (its target and values), so a key sent
    #: again with a different request is refused; none for keys kept before it was recorded.
    fingerprint: Mapped[str | None] = mapped_column(String(64))
