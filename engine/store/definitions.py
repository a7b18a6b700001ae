"""Workflow, form and calendar definitions: a key, and its immutable published versions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from engine.store.base import Base, Id


class Definition(Base):
    """A workflow, form or calendar, known by `kind` and `key`; `draft` is being edited."""

    __tablename__ = "definitions"
    __table_args__ = (UniqueConstraint("kind", "key"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    key: Mapped[str] = mapped_column(String(80))
    title: Mapped[str] = mapped_column(String(500), default="")
    draft: Mapped[dict[str, Any] | None]
    latest_version: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime]


class DefinitionVersion(Base):
    """A published version: frozen content and its hash. Never changed once written."""

    __tablename__ = "definition_versions"
    __table_args__ = (
        UniqueConstraint("definition_id", "version"),
        # Not unique: a person's publish may bring an older version's content back (ADR 62).
        Index("ix_definition_versions_content", "definition_id", "content_hash"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("definitions.id", ondelete="RESTRICT"))
    version: Mapped[int]
    content: Mapped[dict[str, Any]]
    content_hash: Mapped[str] = mapped_column(String(64))
    published_at: Mapped[datetime]
    published_by: Mapped[str | None] = mapped_column(String(80))
