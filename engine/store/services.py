"""The service catalogue, monitoring integrations, and the alerts they deliver.

A `Service` is what incidents are about (payments, the VPN); an `Integration` is one
sender's door into it (an Alertmanager receiver, a PagerDuty routing key), holding only
its token's hash. An `AlertKey` ties a sender's de-duplication key (a group key, a
`dedup_key`) to the incident it currently feeds; an `Alert` keeps each accepted
payload, raw, on its incident. See migration 0017.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from engine.store.base import Base, Id

#: What a service does when an alert fires again after its incident ended.
REFIRE_POLICIES = ("new", "reopen")
#: The payload formats an integration accepts.
INTEGRATION_KINDS = ("alertmanager", "grafana", "pagerduty", "generic")


class Service(Base):
    """A service incidents are about, with who owns it and how its incidents start."""

    __tablename__ = "services"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    key: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(String(2000), default="")
    owner_group: Mapped[str | None] = mapped_column(String(80))
    #: On-call schedule and escalation policy, by key (kept by the on-call part).
    schedule_key: Mapped[str | None] = mapped_column(String(80))
    policy_key: Mapped[str | None] = mapped_column(String(80))
    calendar: Mapped[str | None] = mapped_column(String(80))
    workflow_key: Mapped[str] = mapped_column(String(80))
    #: Sender severity -> the workflow's priority level ({"critical": "P1"}).
    severity_rules: Mapped[dict[str, Any]]
    #: Start form values an alert's incident starts with (title and text come from it).
    start_data: Mapped[dict[str, Any]]
    refire: Mapped[str] = mapped_column(String(10), default="new")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Integration(Base):
    """A sender's token into one service, for one payload kind; only its hash is kept."""

    __tablename__ = "integrations"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    service_id: Mapped[int] = mapped_column(
        ForeignKey("services.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(120))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: Grafana's HMAC secret (the sender holds it too, so it is kept as given).
    secret: Mapped[str | None] = mapped_column(String(200))
    #: The generic kind's mapping template (JSON pointers or small templates per field).
    mapping: Mapped[dict[str, Any] | None]
    created_by: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class AlertKey(Base):
    """A sender's de-duplication key and the incident it feeds now, with the alert's state."""

    __tablename__ = "alert_keys"
    __table_args__ = (UniqueConstraint("integration_id", "dedup_key"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    integration_id: Mapped[int] = mapped_column(ForeignKey("integrations.id", ondelete="CASCADE"))
    dedup_key: Mapped[str] = mapped_column(String(255))
    instance_id: Mapped[int] = mapped_column(
        ForeignKey("instances.id", ondelete="CASCADE"), index=True
    )
    #: firing, acknowledged or resolved.
    state: Mapped[str] = mapped_column(String(20))
    updated_at: Mapped[datetime]


class Alert(Base):
    """One accepted payload, raw, on the incident it went to."""

    __tablename__ = "alerts"
    __table_args__ = (
        Index("ix_alerts_instance_id", "instance_id", "id"),
        Index("ix_alerts_integration_key", "integration_id", "dedup_key", "id"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"))
    integration_id: Mapped[int] = mapped_column(ForeignKey("integrations.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    dedup_key: Mapped[str] = mapped_column(String(255))
    #: trigger, acknowledge or resolve: what the payload asked.
    action: Mapped[str] = mapped_column(String(20))
    severity: Mapped[str | None] = mapped_column(String(40))
    summary: Mapped[str] = mapped_column(String(500))
    #: SHA-256 of the raw body: a payload equal to its key's last one is a retry, ignored.
    digest: Mapped[str] = mapped_column(String(64))
    body: Mapped[dict[str, Any]]
    received_at: Mapped[datetime]
