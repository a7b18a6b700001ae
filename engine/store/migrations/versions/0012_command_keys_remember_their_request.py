"""keep a fingerprint of each keyed command's request, so a key reused for another is refused

An idempotency key used again with a different request (another task, other values) used
to answer the first request's answer and do nothing. Each key now keeps the SHA-256 of
what its command was asked; a key that comes back with a different request is refused.
Keys kept before this revision have none, and are taken on their kind alone, as before.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 12:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN: a nullable column needs no copy of the table on SQLite.
    op.add_column("commands", sa.Column("fingerprint", sa.String(length=64), nullable=True))


def downgrade() -> None:
    # SQLite (3.35 and later) and PostgreSQL both drop a column in place.
    op.execute("ALTER TABLE commands DROP COLUMN fingerprint")
