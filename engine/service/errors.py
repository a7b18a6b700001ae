"""Errors the service layer raises; each has a stable `code` that views turn into a status."""

from __future__ import annotations

from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError

from engine.core.errors import FlowdeskError, Problem

#: What the database raises when it does not answer (down, restarting, refusing
#: connections), wherever a door reached it: the doors answer as for `Unavailable`. The
#: command's transaction never committed (a COMMIT whose outcome is unknown is
#: `CommitInDoubt`), so nothing was saved.
DATABASE_AWAY: tuple[type[Exception], ...] = (OperationalError,)
#: What opening a database raises when its URL names none Flowdesk can use (not a URL, or
#: a kind of database without its driver).
DATABASE_URL_WRONG: tuple[type[Exception], ...] = (ArgumentError, NoSuchModuleError)


def database_words(error: Exception) -> str:
    """The first line of what the database's driver said, for a person to act on."""
    said = str(getattr(error, "orig", None) or error)
    return next((line.strip() for line in said.splitlines() if line.strip()), said)


class ServiceError(FlowdeskError):
    """Base of the errors a command answers with; `code` is stable, the message is for people."""

    code = "error"

    def __init__(
        self, message: str, problems: list[Problem] | None = None, *, headline: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.problems = problems or []
        #: The message without the problems it quotes, for a door that lists them one by one.
        self.headline = headline or message


class NotFound(ServiceError):
    """The instance, task, workflow or user does not exist (or is not visible)."""

    code = "not_found"


class Archived(NotFound):
    """The instance is no longer live: retention archived it, and its record is kept in the
    archive, found by its number (`Retention.archived`)."""

    def __init__(self, message: str, number: str) -> None:
        super().__init__(message)
        self.number = number


class NotAllowed(ServiceError):
    """The actor may not do this: not the assignee, not in the candidate group."""

    code = "not_allowed"


class Conflict(ServiceError):
    """The thing changed under you: the task is already completed, the instance has ended."""

    code = "conflict"


class DatabaseAhead(Conflict):
    """The database is at a migration this release does not know: a newer one migrated it."""


class InvalidInput(ServiceError):
    """The input is wrong: an outcome the step does not have, a document with problems."""

    code = "invalid"


class KeyReused(ServiceError):
    """An idempotency key came back with a different request than the one it was first used for."""

    code = "key_reused"


class TooLarge(ServiceError):
    """The data is over the stated size limit."""

    code = "too_large"


class Busy(ServiceError):
    """The database stayed too busy to finish the command after several tries."""

    code = "busy"


class Unavailable(ServiceError):
    """The database could not be reached, even after reconnecting."""

    code = "unavailable"
