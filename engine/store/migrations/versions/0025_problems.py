"""problems: an incident links to at most one problem

An incident's problem is an `instance_links` row of kind `problem`, from the incident
(`instance_id`) to the problem (`other_id`); `engine.service.problems` refuses a second one
under the incident's lock, and this partial unique index makes the database refuse it too.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-06 23:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_instance_links_one_problem",
        "instance_links",
        ["instance_id"],
        unique=True,
        sqlite_where=sa.text("kind = 'problem'"),
        postgresql_where=sa.text("kind = 'problem'"),
    )


def downgrade() -> None:
    op.drop_index("ix_instance_links_one_problem", table_name="instance_links")
