"""One place that wires the service layer together: every door (web, API, CLI) opens it here.

The web app, the command line and the tests each build one `Services` over a
database URL and reach every use case through it, so they all run the same rules
in the same transactions. Nothing is built at import time.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from engine.service import sns
from engine.service.accounts import Accounts
from engine.service.casework import Casework
from engine.service.catalogue import Catalogue
from engine.service.commands import Clock, Commands, utcnow
from engine.service.definitions import Definitions
from engine.service.desk import Desk
from engine.service.drafts import Drafts
from engine.service.errors import DatabaseAhead
from engine.service.escalation_policies import EscalationPolicies
from engine.service.finder import Finder
from engine.service.intake import Intake
from engine.service.locales import Readings
from engine.service.oncall import Schedules
from engine.service.oncall_feeds import Feeds
from engine.service.paging import Paging
from engine.service.people import People
from engine.service.problems import Problems
from engine.service.published import Published
from engine.service.recurring import Recurring
from engine.service.requests import Requests
from engine.service.starting import Starting
from engine.service.views import SavedViews
from engine.service.workflow_drafts import WorkflowDrafts
from engine.store.database import DATABASE_FILE, Database, SchemaAhead, default_url
from engine.store.files import FileStore

__all__ = ["Services", "default_url"]


@dataclass(frozen=True, slots=True)
class Services:
    """The service layer over one database: commands, queries and the stores they use."""

    database: Database
    commands: Commands
    requests: Requests
    published: Published
    files: FileStore
    #: How the monitoring intake visits an SNS subscription's URL (a test gives a fake SNS).
    sns_fetch: sns.Fetch = sns.fetch

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

    @staticmethod
    def instance_database(instance_path: str | os.PathLike[str] | None = None) -> Path | None:
        """The SQLite file `for_instance` opens (None: `FLOWDESK_DATABASE_URL` names one)."""
        if os.environ.get("FLOWDESK_DATABASE_URL"):
            return None
        folder = Path(instance_path or os.environ.get("FLOWDESK_INSTANCE_PATH", "instance"))
        return folder.resolve() / DATABASE_FILE

    @classmethod
    def for_instance(
        cls, instance_path: str | os.PathLike[str] | None = None, *, clock: Clock = utcnow
    ) -> Services:
        """Open the service layer as the command line finds it, the way the web app does.

        The database of `FLOWDESK_DATABASE_URL`, else the SQLite file of the instance
        folder; uploads in `FLOWDESK_UPLOAD_FOLDER`, else the folder's `files/`.
        """
        folder = Path(instance_path or os.environ.get("FLOWDESK_INSTANCE_PATH", "instance"))
        uploads = os.environ.get("FLOWDESK_UPLOAD_FOLDER") or folder.resolve() / "files"
        return cls.open(default_url(folder), upload_folder=uploads, clock=clock)

    # The use cases, by what they are about. Each is a thin facade over `commands`: made
    # on the spot, it holds nothing of its own.

    @property
    def accounts(self) -> Accounts:
        """Sign-in, sign-in sessions, passwords and API tokens."""
        return Accounts(self.commands)

    @property
    def readings(self) -> Readings:
        """Each person's time zone and locale: how pages say times to them."""
        return Readings(self.commands)

    @property
    def people(self) -> People:
        """Users, groups, memberships and on-call shifts."""
        return People(self.commands)

    @property
    def schedules(self) -> Schedules:
        """On-call schedules: layers, overrides, swaps, who is on call now and when."""
        return Schedules(self.commands)

    @property
    def oncall_feeds(self) -> Feeds:
        """Secret iCalendar feeds of on-call shifts, per schedule and per person."""
        return Feeds(self.commands)

    @property
    def escalation_policies(self) -> EscalationPolicies:
        """Escalation policies: who is paged, level after level."""
        return EscalationPolicies(self.commands)

    @property
    def paging(self) -> Paging:
        """The pages an escalation policy sends for an incident, and their due times."""
        return Paging(self.commands, self.commands.registry)

    @property
    def definitions(self) -> Definitions:
        """Publishing, importing and listing workflows, forms and calendars."""
        return Definitions(self.commands)

    @property
    def desk(self) -> Desk:
        """What the service desk reads: inboxes, lists, one task, one instance."""
        return Desk(self.commands, self.published)

    @property
    def finder(self) -> Finder:
        """The instance list: filters, full-text search, sorting and paging."""
        return Finder(self.commands)

    @property
    def views(self) -> SavedViews:
        """Saved views of the instance list, a person's own and their groups'."""
        return SavedViews(self.commands)

    @property
    def drafts(self) -> Drafts:
        """The form designer's drafts, checks, publishing and versions."""
        return Drafts(self.commands)

    @property
    def workflow_drafts(self) -> WorkflowDrafts:
        """The workflow designer's drafts, checks, templates, publishing and versions."""
        return WorkflowDrafts(self.commands)

    @property
    def starting(self) -> Starting:
        """Starting workflows by their start rule, and logging calls for callers."""
        return Starting(self.commands, self.published)

    @property
    def casework(self) -> Casework:
        """Acting on an instance: cancel, reopen, priority, related links, duplicates."""
        return Casework(self.commands)

    @property
    def catalogue(self) -> Catalogue:
        """The service catalogue and its monitoring integrations."""
        return Catalogue(self.commands)

    @property
    def intake(self) -> Intake:
        """Monitoring alerts into incidents; acknowledging an incident."""
        return Intake(self.commands, self.sns_fetch)

    @property
    def problems(self) -> Problems:
        """Problems: opened from incidents, linked, their root cause recorded, resolved."""
        return Problems(self.commands)

    @property
    def recurring(self) -> Recurring:
        """Groups of recent incidents alike enough to propose a problem for."""
        return Recurring(self.commands)

    @property
    def database_url(self) -> str:
        """The database's URL, password included (for the processes `flowdesk up` starts)."""
        return self.database.url.render_as_string(hide_password=False)

    def database_name(self) -> str:
        """The database's URL with no password, to show."""
        return self.database.url.render_as_string(hide_password=True)

    def database_state(self) -> str:
        """Ask the database the simplest question: "ok", or "error: <what went wrong>"."""
        try:
            self.commands.read(lambda session: session.execute(text("SELECT 1")).scalar())
        except SQLAlchemyError as error:
            return f"error: {type(error).__name__}"
        return "ok"

    def migrate(self) -> str | None:
        """Bring the database's schema up to date; `DatabaseAhead` when a newer release
        migrated it past what this one knows (nothing is changed). Say what it did, when
        it did something ("migrated from 0019 to 0030"), for the operator to read."""
        try:
            before, after = self.database.migrate()
        except SchemaAhead as error:
            raise DatabaseAhead(str(error)) from None
        if before == after:
            return None
        return (
            f"created at migration {after}"
            if before is None
            else (f"migrated from {before} to {after}")
        )

    def close(self) -> None:
        """Close every connection to the database."""
        self.database.dispose()
