"""Postmortems of major incidents: the Markdown the team edits, and every saved revision."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from engine.store.base import Base, Id


class Postmortem(Base):
    """An incident's postmortem as it stands: its Markdown and the revision it is at.

    `revision` grows by one with each save, and a save names the revision it started
    from (optimistic concurrency, as drafts of definitions do): two people saving over
    each other get a conflict instead of a silent loss.
    """

    __tablename__ = "postmortems"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    instance_id: Mapped[int] = mapped_column(
        ForeignKey("instances.id", ondelete="CASCADE"), unique=True
    )
    body: Mapped[str] = mapped_column(Text)
    revision: Mapped[int] = mapped_column(default=1)
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(String(80))
    updated_at: Mapped[datetime]


class PostmortemRevision(Base):
    """One saved revision of a postmortem: its whole text, who saved it and when."""

    __tablename__ = "postmortem_revisions"
    __table_args__ = (UniqueConstraint("postmortem_id", "revision"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    postmortem_id: Mapped[int] = mapped_column(ForeignKey("postmortems.id", ondelete="CASCADE"))
    revision: Mapped[int]
    body: Mapped[str] = mapped_column(Text)
    saved_by: Mapped[str] = mapped_column(String(80))
    saved_at: Mapped[datetime]
