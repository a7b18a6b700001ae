"""the service catalogue, monitoring integrations and the alerts they deliver

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 19:00:00.000000

`services` is the catalogue incidents are about (owner group, on-call schedule and
escalation policy by key, calendar, workflow, severity -> priority rules, start data,
what a re-fired alert does). `integrations` are the senders' tokens, hashed, one kind
each. `alert_keys` maps a sender's de-duplication key to the incident it feeds now;
`alerts` keeps every accepted payload, raw. Instances name their service
(`instances.service_key`, indexed).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "services",
        sa.Column("id", ID, nullable=False),
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.String(length=2000), nullable=False),
        sa.Column("owner_group", sa.String(length=80), nullable=True),
        sa.Column("schedule_key", sa.String(length=80), nullable=True),
        sa.Column("policy_key", sa.String(length=80), nullable=True),
        sa.Column("calendar", sa.String(length=80), nullable=True),
        sa.Column("workflow_key", sa.String(length=80), nullable=False),
        sa.Column("severity_rules", DOCUMENT, nullable=False),
        sa.Column("start_data", DOCUMENT, nullable=False),
        sa.Column("refire", sa.String(length=10), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_services")),
        sa.UniqueConstraint("key", name=op.f("uq_services_key")),
    )
    op.create_table(
        "integrations",
        sa.Column("id", ID, nullable=False),
        sa.Column("service_id", ID, nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("secret", sa.String(length=200), nullable=True),
        sa.Column("mapping", DOCUMENT, nullable=True),
        sa.Column("created_by", sa.String(length=80), nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("revoked_at", WHEN, nullable=True),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["services.id"],
            name=op.f("fk_integrations_service_id_services"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_integrations")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_integrations_token_hash")),
    )
    op.create_index("ix_integrations_service_id", "integrations", ["service_id"], unique=False)
    op.create_table(
        "alert_keys",
        sa.Column("id", ID, nullable=False),
        sa.Column("integration_id", ID, nullable=False),
        sa.Column("dedup_key", sa.String(length=255), nullable=False),
        sa.Column("instance_id", ID, nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["integration_id"],
            ["integrations.id"],
            name=op.f("fk_alert_keys_integration_id_integrations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["instances.id"],
            name=op.f("fk_alert_keys_instance_id_instances"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_keys")),
        sa.UniqueConstraint(
            "integration_id", "dedup_key", name=op.f("uq_alert_keys_integration_id_dedup_key")
        ),
    )
    op.create_index("ix_alert_keys_instance_id", "alert_keys", ["instance_id"], unique=False)
    op.create_table(
        "alerts",
        sa.Column("id", ID, nullable=False),
        sa.Column("instance_id", ID, nullable=False),
        sa.Column("integration_id", ID, nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("dedup_key", sa.String(length=255), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("severity", sa.String(length=40), nullable=True),
        sa.Column("summary", sa.String(length=500), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("body", DOCUMENT, nullable=False),
        sa.Column("received_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["instances.id"],
            name=op.f("fk_alerts_instance_id_instances"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["integration_id"],
            ["integrations.id"],
            name=op.f("fk_alerts_integration_id_integrations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
    )
    op.create_index("ix_alerts_instance_id", "alerts", ["instance_id", "id"], unique=False)
    op.create_index(
        "ix_alerts_integration_key", "alerts", ["integration_id", "dedup_key", "id"], unique=False
    )
    op.add_column("instances", sa.Column("service_key", sa.String(length=80), nullable=True))
    op.create_index("ix_instances_service_key", "instances", ["service_key"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_instances_service_key", table_name="instances")
    op.execute("ALTER TABLE instances DROP COLUMN service_key")
    op.drop_index("ix_alerts_integration_key", table_name="alerts")
    op.drop_index("ix_alerts_instance_id", table_name="alerts")
    op.drop_table("alerts")
    op.drop_index("ix_alert_keys_instance_id", table_name="alert_keys")
    op.drop_table("alert_keys")
    op.drop_index("ix_integrations_service_id", table_name="integrations")
    op.drop_table("integrations")
    op.drop_table("services")
