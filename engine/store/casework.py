"""Links between instances: related incidents, a duplicate merged into its original, and an
incident's problem."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from engine.store.base import Base, Id

#: The kinds of link: `related` reads the same both ways; `duplicate` goes from the
#: duplicate (`instance_id`) to its original (`other_id`); `problem` from an incident
#: (`instance_id`) to its problem (`other_id`), at most one per incident (migration 0025).
LINK_KINDS = ("related", "duplicate", "problem")


class InstanceLink(Base):
    """One link between two instances, stored once and shown on both."""

    __tablename__ = "instance_links"
    __table_args__ = (
        UniqueConstraint("instance_id", "other_id", "kind"),
        Index("ix_instance_links_other_id", "other_id"),
        Index(
            "ix_instance_links_one_problem",
            "instance_id",
            unique=True,
            sqlite_where=text("kind = 'problem'"),
            postgresql_where=text("kind = 'problem'"),
        ),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"))
    other_id: Mapped[int] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime]
