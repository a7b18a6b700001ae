"""`flowdesk similar NUMBER --as AGENT`: the resolved incidents most like one, from a shell.

The same service as the incident page's panel and the API (`engine.service.similar`),
with the same rules: the service desk only, what the agent may see.
"""

from __future__ import annotations

from datetime import timedelta

import click

from engine.service.similar import MAX_SHOWN, SHOWN, Similar, SimilarIncident
from web.cli.console import open_services, service_errors
from web.common.moments import duration_words


@click.command()
@click.argument("number")
@click.option("--as", "actor", required=True, help="The agent who asks.")
@click.option(
    "--limit",
    type=click.IntRange(1, MAX_SHOWN),
    default=SHOWN,
    show_default=True,
    help="How many to list.",
)
def similar(number: str, actor: str, limit: int) -> None:
    """List the resolved incidents most like NUMBER, and how each was resolved."""
    services = open_services()
    with service_errors():
        person = services.finder.person(actor)
        found = Similar(services.commands).of(person, number.strip(), limit=limit)
    if not found.items:
        click.echo(f"No resolved incident is like {found.number} yet.", err=True)
    for item in found.items:
        for line in describe(item):
            click.echo(line)
    click.echo(f"looked for: {' '.join(found.terms) or '(no words)'}", err=True)


def describe(item: SimilarIncident) -> list[str]:
    """The lines of one similar incident: what, how it was resolved, its problem."""
    marks = [
        m
        for m, on in (("same service", item.same_service), ("same category", item.same_category))
        if on
    ]
    lines = [
        f"{item.number}  {(item.outcome or item.status):<10} {item.title}"
        + (f"  [{', '.join(marks)}]" if marks else "")
    ]
    how = "  resolved"
    if item.resolved_by:
        how += f" by {item.resolved_by}"
    if item.resolved_at:
        how += f" {item.resolved_at:%Y-%m-%d %H:%M} UTC"
    if item.time_to_resolve_s is not None:
        how += f" after {duration_words(timedelta(seconds=item.time_to_resolve_s))}"
    lines.append(how + (f": {item.resolution}" if item.resolution else ""))
    if item.problem is not None:
        problem = item.problem
        workaround = f"; workaround: {problem.workaround}" if problem.workaround else ""
        status = problem.status.replace("_", " ")
        lines.append(f"  problem {problem.number} ({status}): {problem.title}{workaround}")
    return lines
