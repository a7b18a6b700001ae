"""An instance and all its history as one JSON record, and its removal from the hot tables.

The record is what archiving keeps (compressed, in `archived_instances`) and what a JSON
Lines export writes per instance: the instance's row, and the rows of every table that
hangs off it, found through the foreign keys of the models. A table another feature adds
later, with its foreign key to `instances`, is taken along without a change here; the
test of orphans walks the same foreign keys.

Removing instances deletes their rows and lets ON DELETE CASCADE take the rest (every
foreign key to `instances` cascades, or sets NULL for what outlives an instance, like a
received mail). What no foreign key reaches is done by hand: SQLite's full-text index,
and the `parent_id` that child instances keep without a foreign key (migration 0010).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, cast

import orjson
from sqlalchemy import Column, Connection, String, Table, delete, select, text, type_coerce, update

from engine.store.base import UtcDateTime
from engine.store.instances import Instance
from engine.store.models import Base
from engine.store.search import SEARCH_TABLE

INSTANCES = cast(Table, Instance.__table__)

#: The version of the record's layout; a reader refuses one it does not know.
RECORD_FORMAT = 1
#: Instances per statement of an IN list: well under SQLite's and psycopg's limits.
CHUNK = 500


def dependent_tables() -> list[tuple[Table, Column[Any]]]:
    """Every table that refers to an instance, directly or through another such table.

    Each comes with the column that refers to its parent, parents before children.
    """
    found: list[tuple[Table, Column[Any]]] = []
    parents = [INSTANCES]
    seen = {INSTANCES.name}
    while parents:
        parent = parents.pop(0)
        for table in Base.metadata.sorted_tables:
            if table.name in seen:
                continue
            # Columns in order, so a table that refers twice (a link's two ends) always
            # belongs to the instance of its first column.
            column = next(
                (c for c in table.columns for k in c.foreign_keys if k.column.table is parent),
                None,
            )
            if column is not None:
                found.append((table, column))
                parents.append(table)
                seen.add(table.name)
    return found


def plain(value: Any) -> Any:
    """A column's value as JSON holds it (datetimes as ISO 8601 text)."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return value


def row_dict(row: Mapping[Any, Any]) -> dict[str, Any]:
    return {str(name): plain(value) for name, value in row.items()}


def from_plain(table: Table, values: Mapping[str, Any]) -> dict[str, Any]:
    """Read a row written by `row_dict` back into the column types of `table`."""
    row: dict[str, Any] = {}
    for name, value in values.items():
        column = table.c[name]
        if value is not None and isinstance(column.type, UtcDateTime):
            value = datetime.fromisoformat(value)
        row[name] = value
    return row


def _rows(connection: Connection, table: Table, where: Any) -> Iterator[dict[str, Any]]:
    """The rows of `table` that match, as JSON holds them, in primary key order.

    On SQLite a datetime is stored as naive UTC text: it is read as text and given its
    zone, which costs a tenth of parsing it into a datetime and writing it out again
    (most of an archive batch's time went there).
    """
    sqlite = connection.dialect.name == "sqlite"
    moments = [c.name for c in table.columns if isinstance(c.type, UtcDateTime)]
    columns = [
        type_coerce(c, String).label(c.name) if sqlite and c.name in moments else c
        for c in table.columns
    ]
    query = select(*columns).select_from(table).where(where)
    primary = list(table.primary_key.columns)
    if primary:
        query = query.order_by(*primary)
    result = connection.execute(query)
    names = [str(name) for name in result.keys()]  # noqa: SIM118 (a Result, not a dict)
    at = [i for i, name in enumerate(names) if name in moments]
    for values in result:
        row = list(values)
        for i in at:
            value = row[i]
            if value is None:
                continue
            row[i] = value.replace(" ", "T", 1) + "+00:00" if sqlite else value.isoformat()
        yield dict(zip(names, row, strict=True))


def records(connection: Connection, ids: Sequence[int]) -> list[dict[str, Any]]:
    """The record of each instance of `ids` (those that exist), in id order."""
    table = INSTANCES
    found = {
        row["id"]: {"format": RECORD_FORMAT, "number": row["number"], "instance": row, "rows": {}}
        for row in _rows(connection, table, table.c.id.in_(ids))
    }
    owners = {instance_id: instance_id for instance_id in found}  # row key -> instance
    owners_by_table: dict[str, dict[Any, int]] = {table.name: owners}
    for child, column in dependent_tables():
        parent_owners = owners_by_table[next(iter(column.foreign_keys)).column.table.name]
        mine: dict[Any, int] = {}
        keys = list(parent_owners)
        primary = list(child.primary_key.columns)
        name = str(child.name)
        for start in range(0, len(keys), CHUNK):
            for row in _rows(connection, child, column.in_(keys[start : start + CHUNK])):
                owner = parent_owners[row[column.name]]
                found[owner]["rows"].setdefault(name, []).append(row)
                if len(primary) == 1:
                    mine[row[primary[0].name]] = owner
        owners_by_table[child.name] = mine
    return [found[instance_id] for instance_id in sorted(found)]


def compress(record: Mapping[str, Any]) -> bytes:
    return zlib.compress(orjson.dumps(record), 6)


def decompress(blob: bytes) -> dict[str, Any]:
    value = orjson.loads(zlib.decompress(blob))
    if not isinstance(value, dict) or value.get("format") != RECORD_FORMAT:
        raise ValueError("not an instance record this version of Flowdesk reads")
    return value


def remove(connection: Connection, ids: Iterable[int]) -> int:
    """Delete instances with everything that hangs off them; return how many went."""
    table = INSTANCES
    every = list(ids)
    removed = 0
    sqlite = connection.dialect.name == "sqlite"
    for start in range(0, len(every), CHUNK):
        chunk = every[start : start + CHUNK]
        connection.execute(
            update(table)
            .where(table.c.parent_id.in_(chunk))
            .values(parent_id=None, parent_run=None)
        )
        if sqlite:  # an FTS5 table has no foreign key; PostgreSQL's index cascades
            marks = ", ".join(str(int(i)) for i in chunk)
            connection.execute(text(f"DELETE FROM {SEARCH_TABLE} WHERE rowid IN ({marks})"))
        result = connection.execute(delete(table).where(table.c.id.in_(chunk)))
        removed += int(result.rowcount or 0)
    return removed
