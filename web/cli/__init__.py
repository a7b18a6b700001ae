"""The `flowdesk` command line."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from engine.catalog import Catalog, json_files, neighbours
from engine.service.errors import DATABASE_AWAY, DATABASE_URL_WRONG, database_words
from engine.settings import DEFAULT_REDIS_URL
from web.cli.console import COMMANDS
from web.cli.data import COMMANDS as DATA_COMMANDS
from web.cli.mail_in import mail_in, mailbox
from web.cli.oncall import COMMANDS as ONCALL_COMMANDS
from web.cli.play import play
from web.cli.postmortems import COMMANDS as POSTMORTEM_COMMANDS
from web.cli.problems import COMMANDS as PROBLEM_COMMANDS
from web.cli.services import COMMANDS as SERVICE_COMMANDS
from web.cli.similar import similar
from web.cli.stack import up


class Flowdesk(click.Group):
    """The command group: a database that does not answer, or a URL that names none, is said
    in a line with its exit code (6: unavailable, 2: usage), not as a traceback."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # An argument of bytes that are not UTF-8 reaches Python as lone surrogates, which
        # no database or terminal takes: every command crashed on one with a traceback.
        if any("\udc80" <= character <= "\udcff" for arg in args for character in arg):
            click.echo("Error: an argument holds bytes that are not UTF-8 text", err=True)
            ctx.exit(2)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DATABASE_AWAY as error:
            click.echo(
                f"Error: the database is not answering ({database_words(error)}); nothing was "
                "done. Is it running, and does FLOWDESK_DATABASE_URL name it?",
                err=True,
            )
            raise SystemExit(6) from None
        except DATABASE_URL_WRONG as error:
            click.echo(
                "Error: FLOWDESK_DATABASE_URL names no database Flowdesk can use "
                f"({database_words(error)}); use sqlite:///PATH or "
                "postgresql+psycopg://USER@HOST:PORT/NAME",
                err=True,
            )
            raise SystemExit(2) from None


@click.group(cls=Flowdesk)
@click.version_option(package_name="flowdesk")
def main() -> None:
    """Flowdesk: a low-code workflow engine with a visual form designer."""


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
def check(paths: tuple[Path, ...]) -> None:
    """Check workflow, form and calendar documents; print one line per problem.

    PATHS are JSON files or folders of them. A file is checked together with
    the documents in its folder and every folder under it (such as forms/ and
    calendars/), as `flowdesk load` of that folder reads them, so its references
    to documents kept there are found.
    """
    checked = list(json_files(paths))
    context = [neighbour for p in paths if p.is_file() for neighbour in neighbours(p)]
    catalog = Catalog.read([*paths, *context])
    problems = catalog.check(only=checked)
    for problem in problems:
        click.echo(str(problem))
    read = len(catalog.documents) - len(checked)
    beside = f" (with {read} beside them read for what they name)" if read > 0 else ""
    if problems:
        click.echo(f"{len(problems)} problem(s) in {len(checked)} document(s){beside}", err=True)
        sys.exit(1)
    click.echo(f"{len(checked)} document(s) checked, no problems{beside}", err=True)


main.add_command(play)
main.add_command(up)
main.add_command(mail_in)
main.add_command(mailbox)
main.add_command(similar)
for command in SERVICE_COMMANDS:
    main.add_command(command)
for command in (
    *COMMANDS,
    *ONCALL_COMMANDS,
    *DATA_COMMANDS,
    *POSTMORTEM_COMMANDS,
    *PROBLEM_COMMANDS,
):
    main.add_command(command)


@main.command()
@click.option(
    "--redis-url",
    default=None,
    help=f"The Redis that holds the queued jobs (default: REDIS_URL, else {DEFAULT_REDIS_URL}).",
)
@click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
def worker(redis_url: str | None, burst: bool) -> None:
    """Run an RQ worker for timed steps, with the periodic jobs (timers, sweep, outbox).

    The process becomes `python -m engine.jobs`: a worker carries no web framework. It
    reads REDIS_URL itself (and says so when it is not set and it takes the default).
    """
    arguments = [sys.executable, "-m", "engine.jobs"]
    arguments += ["--redis-url", redis_url] if redis_url else []
    os.execv(sys.executable, arguments + (["--burst"] if burst else []))


@main.command("prune-files")
@click.option(
    "--older-than",
    "hours",
    type=click.FloatRange(min=1),
    default=24,
    show_default=True,
    help="Leave files younger than this many hours alone.",
)
@click.option("--dry-run", is_flag=True, help="List the orphaned files; delete nothing.")
def prune_files(hours: float, dry_run: bool) -> None:
    """Delete uploaded files that no attachment records (left by a crash mid-request).

    The folder and database are the web app's own (FLOWDESK_UPLOAD_FOLDER,
    FLOWDESK_DATABASE_URL, or the instance folder). Run it where the files are.
    """
    from datetime import UTC, datetime, timedelta

    from engine.service.files import orphans
    from web.app import create_app
    from web.cli.console import require_database

    require_database()  # else a new, empty database is made where the files are not recorded
    app = create_app()
    services = app.extensions["flowdesk"]
    store = services.files
    found = 0
    try:
        for path in orphans(services.commands, store, datetime.now(UTC), timedelta(hours=hours)):
            found += 1
            click.echo(path)
            if not dry_run:
                path.unlink(missing_ok=True)
    finally:
        services.close()
    verb = "found" if dry_run else "deleted"
    click.echo(f"{found} orphaned file(s) {verb} in {store.root}", err=True)
