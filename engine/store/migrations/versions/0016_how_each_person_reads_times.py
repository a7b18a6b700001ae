"""each person's time zone and locale: how the pages say times and dates to them

Pages said every moment in UTC, as "06 Dec 2026, 18:40 UTC". A person may now choose the time
zone and the locale (the date format) pages use for them; with none chosen, the browser's
zone and language are used.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 18:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN: nullable columns need no copy of the table on SQLite.
    op.add_column("users", sa.Column("time_zone", sa.String(length=64), nullable=True))
    op.add_column("users", sa.Column("locale", sa.String(length=35), nullable=True))


def downgrade() -> None:
    # SQLite (3.35 and later) and PostgreSQL both drop a column in place.
    op.execute("ALTER TABLE users DROP COLUMN locale")
    op.execute("ALTER TABLE users DROP COLUMN time_zone")
