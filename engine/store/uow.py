"""The unit of work: one transaction that rolls back unless committed."""

from __future__ import annotations

import enum
from types import TracebackType

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session

from engine.store.database import Database
from engine.store.repository import Repository
from engine.store.statements import Prepared

_SAVEPOINT = Prepared(text("SAVEPOINT flowdesk_step"))
_RELEASE = Prepared(text("RELEASE SAVEPOINT flowdesk_step"))
_ROLLBACK_TO = Prepared(text("ROLLBACK TO SAVEPOINT flowdesk_step"))

#: SQLSTATEs of PostgreSQL errors that end a transaction a retry may well get through.
SERIALIZATION_FAILURE, DEADLOCK, LOCK_NOT_AVAILABLE = "40001", "40P01", "55P03"


class CommitInDoubt(Exception):
    """The connection was lost during COMMIT: the transaction may or may not be saved.

    The database may have committed and the answer been lost on the way back, so running
    the transaction again could do it twice. Only what can tell that it already ran (a
    keyed command, a body that checks its own work) may try again.
    """

    def __init__(self, error: DBAPIError) -> None:
        super().__init__(f"the connection was lost during COMMIT: {error.orig}")
        self.error = error


class UnitOfWork:
    """`with UnitOfWork(db) as uow:` ... `uow.commit()`; leaving without commit rolls back.

    On SQLite the transaction begins with BEGIN IMMEDIATE, so the whole database is
    locked for writing from the start; on PostgreSQL `repository.lock_instance` takes
    the instance's row lock (`SELECT ... FOR UPDATE`). The command path writes through
    `repository` (Core statements); other writes (people, definitions, drafts) use the
    ORM `session`, which runs inside the same transaction.
    """

    def __init__(self, database: Database) -> None:
        self.database = database
        self._committed = False
        self._session: Session | None = None

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

    @property
    def session(self) -> Session:
        """An ORM session inside this unit of work's transaction (made on first use)."""
        if self._session is None:
            # The session joins the transaction already begun: it flushes into it, and its
            # own commit or close never ends it; `commit` and `__exit__` below do.
            self._session = Session(
                bind=self.connection, expire_on_commit=False, join_transaction_mode="rollback_only"
            )
        return self._session

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        try:
            if self._session is not None:
                self._session.close()
            if not self._committed:
                self.transaction.rollback()
        except Exception:
            self.database.drop_writer_connection()  # a connection that cannot roll back is lost
            raise
        finally:
            self.database.writer_turn.release()
        if self.connection.invalidated:
            self.database.drop_writer_connection()

    def savepoint(self) -> Savepoint:
        """Mark a point of the command path's writes that `Savepoint.rollback` goes back to.

        For the Core writes of `repository` only (not the ORM `session`): it runs on the
        driver's cursor, as they do, at a fraction of `Connection.begin_nested`'s cost,
        which was a tenth of a command that opens a task.
        """
        return Savepoint(self)

    def commit(self) -> None:
        """Commit; raise `CommitInDoubt` when the connection is lost during the COMMIT itself."""
        if self._session is not None:
            self._session.flush()
        try:
            self.transaction.commit()
        except DBAPIError as error:
            if error.connection_invalidated:
                raise CommitInDoubt(error) from error
            raise  # the database refused the COMMIT: nothing was saved
        self._committed = True


class Savepoint:
    """A savepoint in a unit of work's transaction (see `UnitOfWork.savepoint`)."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.connection = uow.connection
        _SAVEPOINT.run(self.connection, {})

    def commit(self) -> None:
        """Keep the writes since the savepoint (they commit or roll back with the rest)."""
        _RELEASE.run(self.connection, {})

    def rollback(self) -> None:
        """Undo the writes since the savepoint; the transaction goes on."""
        _ROLLBACK_TO.run(self.connection, {})
        _RELEASE.run(self.connection, {})


class Retry(enum.Enum):
    """Why a database error means "run the whole transaction again", if it does."""

    #: Lost a race to insert the same key: the retry sees the winner's row.
    RACE = "race"
    #: Waited too long for a lock, or PostgreSQL gave up on a serialization or a deadlock.
    CONTENTION = "contention"
    #: The server restarted or dropped the connection before the COMMIT: a fresh one may do.
    #: (A connection lost during the COMMIT is `CommitInDoubt`: a retry may do it twice.)
    DISCONNECTED = "disconnected"


def retry_reason(error: Exception) -> Retry | None:
    """Tell whether (and why) a database error means "try the whole transaction again"."""
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return Retry.DISCONNECTED
    if isinstance(error, IntegrityError):
        return Retry.RACE
    if isinstance(error, OperationalError) and "database is locked" in str(error.orig):
        return Retry.CONTENTION
    if isinstance(error, DBAPIError):
        code = getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)
        if code in (SERIALIZATION_FAILURE, DEADLOCK, LOCK_NOT_AVAILABLE):
            return Retry.CONTENTION
    return None


def is_lock_timeout(error: Exception) -> bool:
    """Tell whether an error is a writer giving up on a lock (the database is truly busy)."""
    if isinstance(error, OperationalError) and "database is locked" in str(error.orig):
        return True
    code = getattr(getattr(error, "orig", None), "sqlstate", None)
    return code == LOCK_NOT_AVAILABLE


def is_retryable(error: Exception) -> bool:
    """Tell whether a database error means "try the whole transaction again"."""
    return retry_reason(error) is not None
