"""Pages an escalation policy has yet to make, or has made, on an incident (migration 0020).

One row per level and round of each run of the policy: the first is made when the incident
opens, each next one is kept `pending` until its `due_at`, when the worker carries it out
(`done`) or finds a person has the incident by then (`stopped`). An acknowledgement that
runs out (the policy's `acknowledge_within`) starts the next `run` from level 1.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from engine.store.base import Base, Id

#: What became of a page.
PAGE_STATES = ("pending", "done", "stopped")


class Page(Base):
    """Level `level` (0 is the first) of round `round` of run `run` of a policy, due at
    `due_at`; it looks at the incident's timeline after event `after_event` (an id)."""

    __tablename__ = "pages"
    __table_args__ = (
        UniqueConstraint("instance_id", "run", "round", "level"),
        Index("ix_pages_status_due_at", "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"))
    policy_key: Mapped[str] = mapped_column(String(80))
    run: Mapped[int] = mapped_column(default=0)
    level: Mapped[int]
    round: Mapped[int]
    after_event: Mapped[int] = mapped_column(Id, default=0)
    due_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(10), default="pending")
    #: Who it paged (user names), once done.
    paged: Mapped[str] = mapped_column(String(2000), default="")
    done_at: Mapped[datetime | None]
