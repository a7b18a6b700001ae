"""The unit of work: one transaction that rolls back unless committed."""

from __future__ import annotations

from types import TracebackType

from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from engine.store.database import Database
from engine.store.repository import Repository

#: SQLSTATEs after which PostgreSQL asks the client to try the transaction again.
RETRYABLE_SQLSTATES = frozenset({"40001", "40P01", "55P03"})


class UnitOfWork:
    """`with UnitOfWork(db) as uow:` ... `uow.commit()`; leaving without commit rolls back.

    On SQLite the transaction begins with BEGIN IMMEDIATE, so the whole database is
    locked for writing from the start; on PostgreSQL `repository.lock_instance` takes
    the instance's row lock (`SELECT ... FOR UPDATE`).
    """

    def __init__(self, database: Database) -> None:
        self.database = database
        self._committed = False

    def __enter__(self) -> UnitOfWork:
        self.database.writer_turn.acquire()
        try:
            self.connection = self.database.writer_connection()
            self.transaction = self.connection.begin()
        except BaseException:
            self.database.writer_turn.release()
            raise
        self.repository = Repository(self.connection, row_locks=not self.database.is_sqlite)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        try:
            if not self._committed:
                self.transaction.rollback()
        except Exception:
            self.database.drop_writer_connection()  # a connection that cannot roll back is lost
            raise
        finally:
            self.database.writer_turn.release()
        if self.connection.invalidated:
            self.database.drop_writer_connection()

    def commit(self) -> None:
        self.transaction.commit()
        self._committed = True


def is_retryable(error: Exception) -> bool:
    """Tell whether a database error means "try the whole transaction again"."""
    if isinstance(error, IntegrityError):
        return True  # lost a race to insert the same key: the retry sees the winner's row
    if isinstance(error, OperationalError) and "database is locked" in str(error.orig):
        return True
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True  # the server restarted or dropped us: a fresh connection will do
    if isinstance(error, DBAPIError):
        code = getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)
        return code in RETRYABLE_SQLSTATES
    return False
