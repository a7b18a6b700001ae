"""versions may repeat content: a person's publish brings an older version back (ADR 62)

The unique constraint on `definition_versions (definition_id, content_hash)` held "the same
content is the same version"; a designer restoring version 1's content after a broken
version 2 must get a version 3 holding it. A plain index on the same columns keeps the
look-up by hash that publishing and imports make.

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-07 10:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNIQUE = "uq_definition_versions_definition_id_content_hash"
INDEX = "ix_definition_versions_content"


def upgrade() -> None:
    with op.batch_alter_table("definition_versions") as batch:
        batch.drop_constraint(UNIQUE, type_="unique")
        batch.create_index(INDEX, ["definition_id", "content_hash"], unique=False)


def downgrade() -> None:
    """Back to one version per content; fails while two versions of a definition hold the same
    content (delete the later ones first)."""
    with op.batch_alter_table("definition_versions") as batch:
        batch.drop_index(INDEX)
        batch.create_unique_constraint(UNIQUE, ["definition_id", "content_hash"])
