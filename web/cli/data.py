"""Data care from a shell: `flowdesk retention`, `backup`, `restore`, `export` and `import`.

The command line is the operator's door (no actor, as for `flowdesk service`); the rules
are the service layer's (`engine.service.retention`, `backup`, `exports`). Every command
works on the app's own database: FLOWDESK_DATABASE_URL, or the instance folder's file.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path

import click

from engine.service import backup as backups
from engine.service.bootstrap import Services
from engine.service.exports import export_file, export_lines, import_lines, parse_since
from engine.service.retention import ACTIONS, MAX_DAYS, MIN_DAYS, Retention
from web.cli.console import open_services, require_database, service_errors


def _retention() -> Retention:
    return Retention(open_services().commands)


@click.group()
def retention() -> None:
    """How long each workflow's ended instances stay; the archive of those that left."""


@retention.command("list")
def retention_list() -> None:
    """List the policies, one a line: workflow, action, days (the others keep everything)."""
    rows = _retention().policies()
    if not rows:
        click.echo("no policies: every workflow keeps its ended instances for ever", err=True)
    for row in rows:
        click.echo(f"{row.workflow_key}\t{row.action}\t{row.after_days}")


@retention.command("set")
@click.argument("workflow")
@click.argument("action", type=click.Choice(ACTIONS))
@click.option(
    "--after-days",
    type=int,
    default=None,
    help=f"Days after an instance ended ({MIN_DAYS} to {MAX_DAYS}); not for keep.",
)
def retention_set(workflow: str, action: str, after_days: int | None) -> None:
    """Keep WORKFLOW's instances forever, or archive or delete them N days after they end."""
    with service_errors():
        row = _retention().set_policy(workflow, action, after_days, actor=None)
    if row.action == "keep":
        click.echo(f"{workflow}: instances are kept forever.")
    else:
        days = f"{row.after_days} day{'' if row.after_days == 1 else 's'}"
        click.echo(f"{workflow}: instances are {row.action}d {days} after they end.")


@retention.command("apply")
def retention_apply() -> None:
    """Apply the policies now (the worker does it every hour); print what went."""
    with service_errors():
        done = _retention().apply()
    for number in done.archived:
        click.echo(f"archived\t{number}")
    for number in done.deleted:
        click.echo(f"deleted\t{number}")
    click.echo(f"{len(done.archived)} archived, {len(done.deleted)} deleted", err=True)


@retention.command("archived")
@click.option("--workflow", default=None, help="Only this workflow's.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True)
def retention_archived(workflow: str | None, limit: int) -> None:
    """List the numbers of archived instances, latest archived first."""
    for number in _retention().archived_numbers(workflow, limit):
        click.echo(number)


@retention.command("show")
@click.argument("number")
def retention_show(number: str) -> None:
    """Print an archived instance's record (JSON): the instance and all its history."""
    with service_errors():
        record = _retention().archived(number)
    click.echo(json.dumps(record, indent=2, ensure_ascii=False))


def _unmigrated(*, create: bool = False) -> Services:
    """The app's database, not migrated: a restore must find it as it is (and may make a new
    SQLite file to restore into, `create`); a backup refuses one that is not there."""
    if not create:
        require_database()
    services = Services.for_instance()
    click.get_current_context().call_on_close(services.close)
    return services


@click.command("backup")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def backup(path: Path) -> None:
    """Write a backup of the database to PATH (a new file), while the app runs.

    SQLite: its online backup API; PostgreSQL: pg_dump's custom format (pg_dump on PATH).
    """
    with service_errors():
        made = backups.backup(_unmigrated().database, path)
    click.echo(f"{made.kind} backup written to {made.path} ({made.size} bytes)")


@click.command("restore")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace a database that holds data.")
def restore(path: Path, force: bool) -> None:
    """Restore the backup at PATH into the (empty) database, then migrate it.

    Stop the web processes and workers first. PostgreSQL needs pg_restore on PATH.
    """
    with service_errors():
        done = backups.restore(_unmigrated(create=True).database, path, force=force)
    click.echo(
        f"{done.kind} backup restored (schema {done.revision_before} -> {done.revision_after})"
    )


@click.command("export")
@click.option(
    "--jsonl",
    "target",
    required=True,
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    help="The file to write, a new one (- for standard output).",
)
@click.option("--workflow", default=None, help="Only this workflow's instances.")
@click.option("--since", default=None, help="Only instances changed since (2026-11-23).")
def export(target: Path, workflow: str | None, since: str | None) -> None:
    """Export definitions and instances as JSON Lines: a header, then one record a line.

    The file must be a new one, as a backup's must.
    """
    with service_errors():
        moment: datetime | None = parse_since(since) if since else None
        commands = open_services().commands
        if str(target) == "-":
            count = -1  # the header is no record
            for line in export_lines(commands, workflow=workflow, since=moment):
                sys.stdout.buffer.write(line)
                count += 1
        else:
            count = export_file(commands, target, workflow=workflow, since=moment)
    click.echo(f"{count} record(s) exported", err=True)


@click.command("import")
@click.option(
    "--jsonl",
    "source",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A file `flowdesk export --jsonl` wrote.",
)
@click.option("--as", "actor", default=None, help="Who imports (recorded on new versions).")
def import_(source: Path, actor: str | None) -> None:
    """Import a JSON Lines export; a bad line refuses the file; a second run changes nothing."""
    with service_errors(), open(source, "rb") as lines:
        done = import_lines(open_services().commands, lines, by=actor)
    click.echo(
        f"{done.definitions} definition version(s) and {done.instances} instance(s) imported, "
        f"{done.unchanged} instance(s) already there"
        + (f", {done.skipped} version(s) of definitions kept here skipped" if done.skipped else "")
    )


COMMANDS = (retention, backup, restore, export, import_)
