"""record the requester acting through a tracking link as `~requester`, a name no user takes

A tracking link's holder used to be recorded as `requester`, a name a user could be given,
and whoever completed a task may see its instance: such a user would have seen every
request answered through a link. Only instances started on the portal have a link, so
only their rows change.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 10:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Where each table names who acted.
ACTORS = (
    ("tasks", "completed_by"),
    ("events", "actor"),
    ("comments", "author"),
    ("attachments", "uploaded_by"),
)


def _rename(old: str, new: str) -> None:
    for table, column in ACTORS:
        op.execute(
            sa.text(
                f"UPDATE {table} SET {column} = :new WHERE {column} = :old "
                "AND instance_id IN (SELECT instance_id FROM tracking_links)"
            ).bindparams(old=old, new=new)
        )


def upgrade() -> None:
    _rename("requester", "~requester")


def downgrade() -> None:
    _rename("~requester", "requester")
