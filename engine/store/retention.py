"""Retention policies per workflow, and the archive of instances taken out of the hot tables.

A workflow with no policy keeps its instances forever. An archived instance is one row
here: its number (how it is found again), a few columns to list it by, and the instance
with all its history as one compressed JSON document (`engine.service.archive`).

Removing an instance leans on the foreign keys' ON DELETE CASCADE; two of the tables
that cascade had no index on their `instance_id`, so every deleted instance cost a full
scan of each on both databases. The indexes below (migration 0022) make it a look-up.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from engine.store.base import Base, Id
from engine.store.instances import Command, Outbox

#: What a policy does once an ended instance is old enough.
RETENTION_ACTIONS = ("archive", "delete")

Index("ix_outbox_instance_id", Outbox.__table__.c.instance_id)
Index("ix_commands_instance_id", Command.__table__.c.instance_id)


class RetentionPolicy(Base):
    """What becomes of a workflow's instances `after_days` days after they ended."""

    __tablename__ = "retention_policies"

    workflow_key: Mapped[str] = mapped_column(String(80), primary_key=True)
    action: Mapped[str] = mapped_column(String(10))
    after_days: Mapped[int]
    updated_at: Mapped[datetime]
    updated_by: Mapped[str | None] = mapped_column(String(80))


class ArchivedInstance(Base):
    """An instance taken out of the hot tables: its record, zlib-compressed JSON."""

    __tablename__ = "archived_instances"

    number: Mapped[str] = mapped_column(String(24), primary_key=True)
    #: The id it had, so a restored link or an old export can still be matched.
    instance_id: Mapped[int] = mapped_column(Id)
    workflow_key: Mapped[str] = mapped_column(String(80), index=True)
    title: Mapped[str] = mapped_column(String(500), default="")
    status: Mapped[str] = mapped_column(String(40))
    ended_at: Mapped[datetime]
    archived_at: Mapped[datetime]
    record: Mapped[bytes] = mapped_column(LargeBinary)
