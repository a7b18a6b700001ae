"""Users, groups and who belongs to which group; their API tokens and sign-in sessions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from engine.store.base import Base, Document, Id


class User(Base):
    """A person who signs in, requests, works on tasks or approves."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str | None] = mapped_column(String(320))
    roles: Mapped[list[str]] = mapped_column(Document, default=list)
    manager_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    active: Mapped[bool] = mapped_column(default=True)
    password_hash: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime]
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: How pages say times to this person: an IANA zone ("Europe/Amsterdam") and a locale
    #: ("nl_NL"); None: as their browser says (see `web.common.moments`).
    time_zone: Mapped[str | None] = mapped_column(String(64))
    locale: Mapped[str | None] = mapped_column(String(35))


class Group(Base):
    """A team whose members share a queue; `next_tier` is where escalations go."""

    __tablename__ = "groups"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    key: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    next_tier_id: Mapped[int | None] = mapped_column(ForeignKey("groups.id", ondelete="SET NULL"))
    # The member who got the last round-robin task, so the next one goes to the next member.
    last_assigned: Mapped[str | None] = mapped_column(String(80))


class Membership(Base):
    """A user belongs to a group."""

    __tablename__ = "memberships"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    group_id: Mapped[int] = mapped_column(
        ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class OnCallShift(Base):
    """Who answers for an on-call schedule (`network-on-call`) from `starts_at` to `ends_at`."""

    __tablename__ = "on_call_shifts"
    __table_args__ = (Index("ix_on_call_shifts_schedule_starts", "schedule", "starts_at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    schedule: Mapped[str] = mapped_column(String(80))
    username: Mapped[str] = mapped_column(String(80))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]


class ApiToken(Base):
    """A user's key to the REST API. Only its SHA-256 is kept; revoked ones stay for the record."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class SignInSession(Base):
    """One sign-in of a person in one browser, until they sign out or it is ended for them.

    The browser keeps a random secret in its session cookie; only its SHA-256 is kept
    here, so a copy of the database signs no one in. `ended_at` is set at sign-out, when
    the person's password changes (their other sessions) and when they are deactivated.
    A session also ends, with no write, when unused for 14 days or 30 days after sign-in
    (`engine.settings`); rows stay for the record 90 days after, then the worker deletes them.
    """

    __tablename__ = "sign_in_sessions"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
