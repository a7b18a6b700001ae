"""Links between instances: related incidents, and a duplicate merged into its original."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from engine.store.base import Base, Id

#: The kinds of link: `related` reads the same both ways; `duplicate` goes from the
#: duplicate (`instance_id`) to its original (`other_id`).
LINK_KINDS = ("related", "duplicate")


class InstanceLink(Base):
    """One link between two instances, stored once and shown on both."""

    __tablename__ = "instance_links"
    __table_args__ = (
        UniqueConstraint("instance_id", "other_id", "kind"),
        Index("ix_instance_links_other_id", "other_id"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"))
    other_id: Mapped[int] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime]
