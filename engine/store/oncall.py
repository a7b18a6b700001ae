"""On-call schedules, their overrides and calendar feeds, and escalation policies."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from engine.store.base import Base, Document, Id


class OnCallSchedule(Base):
    """A rotation of people in one time zone: `layers` is the list of layer documents
    (`engine.core.oncall`), written and read whole; `format` is their format version."""

    __tablename__ = "oncall_schedules"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    key: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    time_zone: Mapped[str] = mapped_column(String(64))
    layers: Mapped[list[dict[str, Any]]] = mapped_column(Document, default=list)
    format: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class OnCallOverride(Base):
    """`username` takes the schedule from `starts_at` to `ends_at`, whatever its layers say."""

    __tablename__ = "oncall_overrides"
    __table_args__ = (Index("ix_oncall_overrides_schedule_ends", "schedule_id", "ends_at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    schedule_id: Mapped[int] = mapped_column(ForeignKey("oncall_schedules.id", ondelete="CASCADE"))
    username: Mapped[str] = mapped_column(String(80))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(String(2000), default="")
    created_by: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[datetime]


class OnCallFeed(Base):
    """A secret link to an iCalendar feed: one schedule's shifts, or one person's.

    Only the token's SHA-256 is kept, as for API tokens; revoked ones stay for the record.
    """

    __tablename__ = "oncall_feeds"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    schedule: Mapped[str | None] = mapped_column(String(80))
    username: Mapped[str | None] = mapped_column(String(80))
    created_by: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class EscalationPolicy(Base):
    """Who is paged, level after level (`engine.core.escalation_policies`): `document` holds
    levels, repeat and acknowledge_within."""

    __tablename__ = "escalation_policies"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    key: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    document: Mapped[dict[str, Any]] = mapped_column(Document, default=dict)
    format: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
