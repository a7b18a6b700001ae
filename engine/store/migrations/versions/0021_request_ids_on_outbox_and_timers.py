"""request ids on the outbox and timers: the request that caused the work, for the logs

A web request's id (`X-Request-Id`, or one made up) is written on the outbox messages and
timers its command adds, so the worker's log lines for them carry the same id. Nullable:
rows written outside a request (the worker, the command line) have none. Adding a nullable
column without a default rewrites no row, on SQLite or PostgreSQL.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06 20:45:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ("outbox", "timers"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("request_id", sa.String(length=64), nullable=True))


def downgrade() -> None:
    for table in ("timers", "outbox"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("request_id")
