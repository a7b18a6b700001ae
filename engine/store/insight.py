"""Each incident's figures, read from its timeline and kept for the dashboards (migration 0024).

A row repeats what the dashboards group and filter by (service, team, priority, category,
when it started) beside the figures `engine.core.metrics` reads from the instance's
timeline: time to acknowledge, time to resolve, reopenings, SLA outcomes. Times are also
kept as seconds since 1970 (UTC), so the same arithmetic runs on SQLite and PostgreSQL.
`last_event` is the instance's count of timeline entries when the row was read: a row
whose count differs from its instance's is out of date and is read again.

Rows are kept in the order incidents started (the primary key begins with `started_s`,
and on SQLite the table is clustered on it: `WITHOUT ROWID`), so a dashboard's range of
days is one stretch of the table, read in order, instead of a lookup per row: over a
year of 100,000 incidents that was a third of the time.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, PrimaryKeyConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from engine.store.base import Base, Id


class IncidentFigures(Base):
    """One instance's figures for the dashboards, in step with its timeline."""

    __tablename__ = "incident_figures"
    __table_args__ = (
        PrimaryKeyConstraint("started_s", "instance_id"),
        Index("ix_incident_figures_instance_id", "instance_id", unique=True),
        # MTBF's window (service, start, id) read from the index alone (migration 0027).
        Index(
            "ix_incident_figures_service_started",
            "service_key",
            "started_s",
            "instance_id",
            "restored_s",
            "discarded",
            "workflow_key",
        ),
        Index("ix_incident_figures_updated_at", "updated_at"),
        # Whether every incident has its figures, counted on each view (migration 0030).
        Index("ix_incident_figures_workflow_key", "workflow_key"),
        Index("ix_incident_figures_open_priority", "open", "priority"),
        {"sqlite_with_rowid": False},
    )

    instance_id: Mapped[int] = mapped_column(Id, ForeignKey("instances.id", ondelete="CASCADE"))
    last_event: Mapped[int]
    #: The instance's `updated_at` when read: rows changed since are found through it.
    updated_at: Mapped[datetime]
    workflow_key: Mapped[str] = mapped_column(String(80))
    service_key: Mapped[str | None] = mapped_column(String(80))
    team: Mapped[str | None] = mapped_column(String(80))
    priority: Mapped[str | None] = mapped_column(String(40))
    category: Mapped[str | None] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(40))
    started_at: Mapped[datetime]
    started_s: Mapped[float] = mapped_column(Float)
    #: Days since 1970-01-01 (UTC) it started on: volume per day and per week.
    started_day: Mapped[int]
    open: Mapped[bool]
    discarded: Mapped[bool]
    #: Seconds on the open clock at the first acknowledgement and at the last resolution.
    ack_s: Mapped[float | None] = mapped_column(Float)
    resolve_s: Mapped[float | None] = mapped_column(Float)
    #: When it was last resolved (seconds since 1970), for MTBF.
    restored_s: Mapped[float | None] = mapped_column(Float)
    reopenings: Mapped[int]
    #: SLA outcome per clock: met, breached, pending or none.
    response: Mapped[str] = mapped_column(String(10))
    resolution: Mapped[str] = mapped_column(String(10))
