"""One place that wires the service layer together: every door (web, API, CLI) opens it here.

The web app, the command line and the tests each build one `Services` over a
database URL and reach every use case through it, so they all run the same rules
in the same transactions. Nothing is built at import time.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine.service.commands import Clock, Commands, utcnow
from engine.service.published import Published
from engine.service.requests import Requests
from engine.store.database import Database
from engine.store.files import FileStore


@dataclass(frozen=True, slots=True)
class Services:
    """The service layer over one database: commands, queries and the stores they use."""

    database: Database
    commands: Commands
    requests: Requests
    published: Published
    files: FileStore

    @classmethod
    def open(
        cls, database_url: str, *, upload_folder: str | Path, clock: Clock = utcnow
    ) -> Services:
        """Open the service layer over a database (not migrated here; see `migrate`)."""
        database = Database(database_url)
        commands = Commands(database, clock=clock)
        return cls(
            database=database,
            commands=commands,
            requests=Requests(commands),
            published=Published(database),
            files=FileStore(upload_folder),
        )

    def migrate(self) -> None:
        """Bring the database's schema up to date."""
        self.database.migrate()

    def close(self) -> None:
        """Close every connection to the database."""
        self.database.dispose()
