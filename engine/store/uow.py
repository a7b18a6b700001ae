"""The unit of work: one transaction that rolls back unless committed, with a row lock helper."""

from __future__ import annotations

from types import TracebackType

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session

from engine.store.database import Database
from engine.store.instances import Instance

#: SQLSTATEs after which PostgreSQL asks the client to try the transaction again.
RETRYABLE_SQLSTATES = frozenset({"40001", "40P01", "55P03"})


class UnitOfWork:
    """`with UnitOfWork(db) as uow:` ... `uow.commit()`; leaving without commit rolls back."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.session: Session = database.writer_session()
        self._committed = False

    def __enter__(self) -> UnitOfWork:
        self.session.begin()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if not self._committed:
            self.session.rollback()
        self.session.close()

    def commit(self) -> None:
        self.session.commit()
        self._committed = True

    def lock_instance(self, instance_id: int) -> Instance | None:
        """Load an instance for change, holding its row lock until the end of the transaction.

        On SQLite the whole database is already locked for writing (BEGIN IMMEDIATE);
        on PostgreSQL this is `SELECT ... FOR UPDATE`.
        """
        query = select(Instance).where(Instance.id == instance_id)
        if not self.database.is_sqlite:
            query = query.with_for_update()
        return self.session.scalars(query).one_or_none()


def is_retryable(error: Exception) -> bool:
    """Tell whether a database error means "try the whole transaction again"."""
    if isinstance(error, IntegrityError):
        return True  # lost a race to insert the same key: the retry sees the winner's row
    if isinstance(error, OperationalError) and "database is locked" in str(error.orig):
        return True
    if isinstance(error, DBAPIError):
        code = getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)
        return code in RETRYABLE_SQLSTATES
    return False
