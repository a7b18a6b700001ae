"""The `flowdesk` command line."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from engine.catalog import Catalog, json_files


@click.group()
@click.version_option(package_name="flowdesk")
def main() -> None:
    """Flowdesk: a low-code workflow engine with a visual form designer."""


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
def check(paths: tuple[Path, ...]) -> None:
    """Check workflow, form and calendar documents; print one line per problem.

    PATHS are JSON files or folders of them. A file is checked together with
    the documents in its folder, so its references to forms and calendars
    kept there are found.
    """
    checked = list(json_files(paths))
    catalog = Catalog.read([*paths, *{p.parent for p in paths if p.is_file()}])
    problems = catalog.check(only=checked)
    for problem in problems:
        click.echo(str(problem))
    if problems:
        click.echo(f"{len(problems)} problem(s) in {len(checked)} document(s)", err=True)
        sys.exit(1)
    click.echo(f"{len(checked)} document(s) checked, no problems", err=True)
