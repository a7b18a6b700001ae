"""`flowdesk postmortem`: draft a major incident's postmortem, give it action items, export it.

The command line acts as the person `--as` names; the rules are the service's own
(`engine.service.postmortems`), as on the page and the API.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from engine.service.postmortems import Postmortems
from web.cli.console import open_services, service_errors


def _postmortems() -> Postmortems:
    return Postmortems(open_services().commands)


@click.group()
def postmortem() -> None:
    """Postmortems of major incidents (docs/postmortems.md)."""


@postmortem.command("draft")
@click.argument("number")
@click.option("--as", "actor", required=True, help="Who drafts it (the service desk).")
def draft(number: str, actor: str) -> None:
    """Draft a resolved major incident's postmortem from its timeline."""
    with service_errors():
        found = _postmortems().draft(number, actor=actor)
    click.echo(f"The postmortem of {number} was drafted (revision {found.revision}).")


@postmortem.command("action")
@click.argument("number")
@click.argument("title")
@click.option("--as", "actor", required=True, help="Who gives the action item.")
@click.option("--user", "owner", default=None, help="The person who does it.")
@click.option("--group", default=None, help="Or the team whose queue gets it.")
@click.option("--due", required=True, type=click.DateTime(["%Y-%m-%d"]), help="YYYY-MM-DD.")
def action(
    number: str, title: str, actor: str, owner: str | None, group: str | None, due: datetime
) -> None:
    """Give the postmortem an action item: a task, due on a day."""
    with service_errors():
        item = _postmortems().add_action(
            number, title, due=due.date(), actor=actor, owner=owner, group=group
        )
    click.echo(f"{item.number}: {item.title}, for {item.who}, due {item.due}.")


@postmortem.command("export")
@click.argument("number")
@click.option("--as", "actor", required=True, help="Who reads it (the service desk).")
@click.option(
    "--format",
    "form",
    type=click.Choice(["markdown", "html"]),
    default="markdown",
    show_default=True,
    help="Markdown, or a page that prints cleanly (print it to PDF).",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Default: stdout.",
)
def export(number: str, actor: str, form: str, output: Path | None) -> None:
    """Write the whole postmortem, its action items last."""
    with service_errors():
        text = _postmortems().export(number, actor=actor, form=form)
    if output is None:
        click.echo(text, nl=False)
        return
    output.write_text(text, encoding="utf-8")
    click.echo(f"The postmortem of {number} was written to {output}.", err=True)


COMMANDS = (postmortem,)
