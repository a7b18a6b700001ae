"""What a job needs to reach the engine: one `Commands` per worker process, set up at start.

Job functions take ids and plain values only (so queued jobs survive a deploy);
the database and the service they act through are built once by the worker's
entry point, never at import time.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.service.commands import Commands
from engine.store.database import Database


@dataclass
class _Context:
    commands: Commands | None = None


_context = _Context()


def configure(database_url: str) -> Commands:
    """Open the database for this process's jobs (the worker calls this once)."""
    close()
    _context.commands = Commands(Database(database_url))
    return _context.commands


def commands() -> Commands:
    """Return this process's `Commands`; a job run before `configure` is a setup error."""
    if _context.commands is None:
        raise RuntimeError(
            "the worker has not opened a database: call engine.jobs.context.configure"
        )
    return _context.commands


def close() -> None:
    """Close this process's database connections."""
    if _context.commands is not None:
        _context.commands.database.dispose()
        _context.commands = None
