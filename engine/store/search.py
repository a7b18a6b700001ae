"""The full-text index of instances, and the saved views of the instance list.

One row of the index per instance holds three texts: its `title`; its `body` (the
number, the text the requester gave when starting it, and public comments); and its
`notes` (internal notes, which only the service desk may find). Each database answers
with its own engine behind the same few statements:

- SQLite: an FTS5 virtual table, `instance_search`, whose rowid is the instance's id;
- PostgreSQL: a table of the same name with two generated `tsvector` columns (what the
  requester may find, and all of it), each under a GIN index.

Both are made by migration 0013 and are not models: FTS5 tables and their shadow tables
have no place in `Base.metadata` (see `outside_the_models`). The index is written on the
command path (`SearchIndex`), one statement per start, comment or change of title.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    ForeignKey,
    Index,
    Select,
    String,
    UniqueConstraint,
    literal_column,
    select,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from engine.store.base import Base, Id
from engine.store.instances import Instance
from engine.store.statements import Prepared

#: The index's table (and, on SQLite, the prefix of FTS5's shadow tables).
SEARCH_TABLE = "instance_search"
#: Words of a query that count; more are ignored (a search is a few words, not a text).
MAX_WORDS = 12
#: The longest word looked for; longer ones are cut (a word is a prefix of the text's words).
MAX_WORD = 60
#: How much of a text a PostgreSQL tsvector is built from (its own limit is 1 MB).
PG_TEXT_LIMIT = 250_000
#: What separates words, in the index and in a query: anything but letters and digits.
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def outside_the_models(name: str | None, type_: str, parent_names: Any) -> bool:
    """Tell Alembic's comparison to pass over the index's tables (an `include_name` hook)."""
    return not (type_ == "table" and name is not None and name.startswith(SEARCH_TABLE))


def words(query: str) -> list[str]:
    """Split a search into the words it looks for, lower case, at most `MAX_WORDS`."""
    found = [word[:MAX_WORD] for word in _WORD.findall(query.lower())]
    return list(dict.fromkeys(found))[:MAX_WORDS]


def number_words(number: str) -> str:
    """Write a number so that each engine finds it whole, by its parts and by its digits.

    PostgreSQL's parser reads `INC-000042` as "inc" and the integer -42; the parts written
    apart, and the digits without their zeros, are found by every engine.
    """
    prefix, _, digits = number.rpartition("-")
    return f"{number} {prefix} {digits} {digits.lstrip('0')}"


def text_of(values: Any) -> str:
    """Gather the text of a data document: its strings, in order, one per line."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, str):
            if value.strip():
                found.append(value)
        elif isinstance(value, Mapping):
            for item in value.values():
                walk(item)
        elif isinstance(value, list | tuple):
            for item in value:
                walk(item)

    walk(values)
    return "\n".join(found)


class SavedView(Base):
    """A named filter and sort of the instance list: a person's own, or shared with a group."""

    __tablename__ = "saved_views"
    __table_args__ = (
        UniqueConstraint("owner", "name"),
        Index("ix_saved_views_group_key", "group_key"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    owner: Mapped[str] = mapped_column(String(80))
    name: Mapped[str] = mapped_column(String(80))
    #: The group it is shared with (its members use it; only its owner changes it).
    group_key: Mapped[str | None] = mapped_column(
        String(80), ForeignKey("groups.key", ondelete="SET NULL")
    )
    #: The filters, as the filter language writes them (`filters.parse` reads them).
    filters: Mapped[dict[str, Any]]
    sort: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


# The statements, per dialect ------------------------------------------------------------------

_SQLITE = {
    "add": f"INSERT INTO {SEARCH_TABLE} (rowid, title, body, notes) "
    "VALUES (:instance, :title, :body, '')",
    "title": f"UPDATE {SEARCH_TABLE} SET title = :title WHERE rowid = :instance",
    "body": f"UPDATE {SEARCH_TABLE} SET body = body || char(10) || :text WHERE rowid = :instance",
    "notes": f"UPDATE {SEARCH_TABLE} SET notes = notes || char(10) || :text "
    "WHERE rowid = :instance",
}
_POSTGRESQL = {
    "add": f"INSERT INTO {SEARCH_TABLE} (instance_id, title, body, notes) "
    "VALUES (:instance, :title, :body, '')",
    "title": f"UPDATE {SEARCH_TABLE} SET title = :title WHERE instance_id = :instance",
    "body": f"UPDATE {SEARCH_TABLE} SET body = body || chr(10) || :text "
    "WHERE instance_id = :instance",
    "notes": f"UPDATE {SEARCH_TABLE} SET notes = notes || chr(10) || :text "
    "WHERE instance_id = :instance",
}
_PREPARED: dict[tuple[str, str], Prepared] = {}


def _statement(dialect: str, name: str) -> Prepared:
    found = _PREPARED.get((dialect, name))
    if found is None:
        sql = (_POSTGRESQL if dialect == "postgresql" else _SQLITE)[name]
        found = _PREPARED[(dialect, name)] = Prepared(text(sql))
    return found


class SearchIndex:
    """Keep an instance's text findable, inside the command's transaction."""

    def __init__(self, connection: Connection, dialect: str) -> None:
        self.connection = connection
        self.dialect = dialect

    def add(self, instance_id: int, number: str, title: str, data: Any) -> None:
        """Index a new instance: its number (and its number's digits), title and data's text."""
        body = f"{number_words(number)}\n{text_of(data)}"
        self._run("add", {"instance": instance_id, "title": title, "body": body})

    def retitle(self, instance_id: int, title: str) -> None:
        self._run("title", {"instance": instance_id, "title": title})

    def comment(self, instance_id: int, body: str, *, public: bool) -> None:
        """Add a comment: public ones anyone who sees the instance may find, notes the desk."""
        self._run("body" if public else "notes", {"instance": instance_id, "text": body})

    def _run(self, name: str, values: dict[str, Any]) -> None:
        _statement(self.dialect, name).run(self.connection, values)


# Finding --------------------------------------------------------------------------------------


def matching(
    dialect: str, query: str, *, internal: bool, within: tuple[int, int] | None = None
) -> ColumnElement[bool] | None:
    """The condition on `instances.id` that its text holds every word of `query`.

    Each word matches the start of a word (`print` finds "printer"), in the title, the
    body or a public comment, and with `internal` in the internal notes too. None for a
    query without a word. `within` (lowest, highest id) looks only at those instances'
    rows of the index: a common word's matches elsewhere are not read at all.
    """
    found = words(query)
    if not found:
        return None
    ids: Select[Any]
    key: ColumnElement[Any]
    if dialect == "postgresql":
        expression = " & ".join(f"{word}:*" for word in found)
        column = "all_tsv" if internal else "public_tsv"
        key = literal_column("instance_id")
        ids = (
            select(key)
            .select_from(text(SEARCH_TABLE))
            .where(text(f"{column} @@ to_tsquery('simple', :fts)").bindparams(fts=expression))
        )
    else:
        phrases = " ".join(f'"{word}"*' for word in found)
        expression = phrases if internal else f"{{title body}} : ({phrases})"
        key = literal_column("rowid")
        ids = (
            select(key)
            .select_from(text(SEARCH_TABLE))
            .where(text(f"{SEARCH_TABLE} MATCH :fts").bindparams(fts=expression))
        )
    if within is not None:
        ids = ids.where(key.between(*within))
    return Instance.__table__.c.id.in_(ids)


def index_rows(rows: Iterable[tuple[int, str, str, Any]]) -> list[dict[str, Any]]:
    """The index's rows of instances (id, number, title, data): for bulk loading (the bench)."""
    rows_out = []
    for instance_id, number, title, data in rows:
        body = f"{number_words(number)}\n{text_of(data)}"
        rows_out.append({"instance": instance_id, "title": title, "body": body})
    return rows_out
