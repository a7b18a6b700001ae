"""Prepared statements: SQL compiled once per dialect by SQLAlchemy, run on the driver's cursor.

A command runs about ten small statements. Through `Connection.execute` each one
costs tens of microseconds of SQLAlchemy bookkeeping on top of the database's own
work; with a few thousand commands a second that is most of the time spent. A
`Prepared` statement is built and compiled once (per dialect), keeps the type
processors SQLAlchemy gives for its parameters and columns (JSON, aware UTC
datetimes, booleans), and runs on the DBAPI cursor of the unit of work's
connection, so it shares that connection's transaction and locks.

Only public SQLAlchemy APIs are used: `compile` and the compiled statement's documented
`positional`, `positiontup` and `binds` (`SQLCompiler`), `exported_columns`, and
`TypeEngine.dialect_impl` with its `bind_processor` and `result_processor`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast
from weakref import WeakKeyDictionary

from sqlalchemy import Connection, bindparam, update
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

Processor = Callable[[Any], Any] | None


class _Compiled:
    """One statement compiled for one dialect, with its type processors."""

    __slots__ = (
        "columns",
        "constants",
        "converting",
        "names",
        "positional",
        "processors",
        "reading",
        "sql",
    )

    def __init__(self, statement: ClauseElement, dialect: Dialect) -> None:
        compiled = cast(SQLCompiler, statement.compile(dialect=dialect))
        self.sql: str = compiled.string
        self.positional: bool = bool(compiled.positional)
        self.names: list[str] = list(compiled.positiontup or compiled.binds)
        self.processors: list[tuple[str, Processor]] = [
            (name, compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect))
            for name in self.names
        ]
        self.converting = [(i, p) for i, (_name, p) in enumerate(self.processors) if p is not None]
        # Literals written into the statement (`status == "open"`) are bind parameters too.
        self.constants: dict[str, Any] = {
            name: bind.effective_value
            for name, bind in compiled.binds.items()
            if not bind.required and bind.callable is None
        }
        # What a SELECT selects, or what an INSERT or UPDATE returns (RETURNING); none else.
        columns = list(getattr(statement, "exported_columns", ()))
        self.columns: list[Processor] = [
            column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns
        ]
        self.reading = [(i, p) for i, p in enumerate(self.columns) if p is not None]

    def parameters(self, values: dict[str, Any]) -> Any:
        if self.constants:
            values = {**self.constants, **values}
        ordered = [values[name] for name in self.names]
        for index, process in self.converting:
            if ordered[index] is not None:
                ordered[index] = process(ordered[index])
        return ordered if self.positional else dict(zip(self.names, ordered, strict=True))

    def row(self, raw: Sequence[Any]) -> tuple[Any, ...]:
        # Only the columns with a processor are touched (an instance's state and times,
        # of its dozen columns): a pass over every column was most of reading a row.
        if len(raw) != len(self.columns):
            raise ValueError(f"a row of {len(raw)} columns, {len(self.columns)} selected")
        if not self.reading:
            return tuple(raw)
        values = list(raw)
        for index, process in self.reading:
            value = values[index]
            if value is not None:
                values[index] = process(value)
        return tuple(values)


class Prepared:
    """A statement with bind parameters, compiled on first use for each dialect."""

    __slots__ = ("_compiled", "_last", "statement")

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        # Keyed by the dialect object itself, weakly: keying by id() once handed a
        # PostgreSQL connection the SQLite text of a statement, after the SQLite dialect
        # was collected and its id reused.
        self._compiled: WeakKeyDictionary[Dialect, _Compiled] = WeakKeyDictionary()
        # The dialect used last, with its statement: a process mostly talks to one
        # database, and a weak dictionary's lookup (a new weak reference each time) cost
        # more than this check. Held strongly, so that dialect's id cannot be reused.
        self._last: tuple[Dialect, _Compiled] | None = None

    def _for(self, connection: Connection) -> tuple[_Compiled, Any]:
        dialect = connection.dialect
        last = self._last
        if last is not None and last[0] is dialect:
            compiled = last[1]
        else:
            found = self._compiled.get(dialect)
            if found is None:
                found = self._compiled[dialect] = _Compiled(self.statement, dialect)
            compiled = found
            self._last = (dialect, found)
        # One cursor per driver connection, kept in its `info`: a new cursor per
        # statement was a measurable share of a command.
        cursor = connection.info.get("flowdesk_cursor")
        if cursor is None:
            dbapi = connection.connection.dbapi_connection
            cursor = connection.info["flowdesk_cursor"] = dbapi.cursor()  # type: ignore[union-attr]
        return compiled, cursor

    def run(self, connection: Connection, values: dict[str, Any]) -> None:
        """Execute once with these values."""
        compiled, cursor = self._for(connection)
        try:
            cursor.execute(compiled.sql, compiled.parameters(values))
        except connection.dialect.loaded_dbapi.Error as error:
            raise _wrapped(error, compiled, connection) from error

    def many(self, connection: Connection, rows: Sequence[dict[str, Any]]) -> None:
        """Execute once per row of values, in one driver call."""
        if not rows:
            return
        compiled, cursor = self._for(connection)
        try:
            cursor.executemany(compiled.sql, [compiled.parameters(row) for row in rows])
        except connection.dialect.loaded_dbapi.Error as error:
            raise _wrapped(error, compiled, connection) from error

    def all(self, connection: Connection, values: dict[str, Any]) -> list[tuple[Any, ...]]:
        """Execute and return every row (type-processed)."""
        compiled, cursor = self._for(connection)
        try:
            cursor.execute(compiled.sql, compiled.parameters(values))
            raws = cursor.fetchall()
        except connection.dialect.loaded_dbapi.Error as error:
            raise _wrapped(error, compiled, connection) from error
        return [compiled.row(raw) for raw in raws]

    def first(self, connection: Connection, values: dict[str, Any]) -> tuple[Any, ...] | None:
        """Execute and return the first row (type-processed), or None."""
        compiled, cursor = self._for(connection)
        try:
            cursor.execute(compiled.sql, compiled.parameters(values))
            raw = cursor.fetchone()
        except connection.dialect.loaded_dbapi.Error as error:
            raise _wrapped(error, compiled, connection) from error
        return compiled.row(raw) if raw is not None else None


def _wrapped(error: Exception, compiled: _Compiled, connection: Connection) -> BaseException:
    """Wrap a driver's error as `Connection.execute` would (`IntegrityError`, `OperationalError`).

    Callers decide on the wrapped class and its `orig` whether to try the transaction
    again (`engine.store.uow.is_retryable`); a bare driver error would escape that.
    """
    dialect = connection.dialect
    return DBAPIError.instance(
        compiled.sql, None, error, dialect.loaded_dbapi.Error, dialect=dialect
    )


def update_row(table: Any, key: str, names: Sequence[str]) -> Prepared:
    """An UPDATE of `names` on the row whose `id` is bound as `key`."""
    return Prepared(
        update(table).where(table.c.id == bindparam(key)).values({n: bindparam(n) for n in names})
    )
