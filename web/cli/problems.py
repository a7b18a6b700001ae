"""`flowdesk problem ...` and `flowdesk recurring`: problems and recurring incidents, from a shell.

The same service as the desk's pages and the API (`engine.service.problems`,
`engine.service.recurring`), with the same rules: the service desk opens, links and
unlinks; the root cause and the resolution are the problem's tasks, done by whom their
rules let. A refusal prints why and exits with the code of its kind (see the README).
"""

from __future__ import annotations

import os

import click

from engine.service.problems import ProblemView
from engine.service.recurring import MAX_AT_LEAST, MAX_DAYS, MIN_AT_LEAST, MIN_DAYS
from engine.settings import RECURRING_AT_LEAST, RECURRING_DAYS, SettingsError, check_web
from web.cli.console import command_key, open_services, service_errors

KEY = click.option("--key", default=None, help="Idempotency key: repeating changes nothing.")
AS = click.option("--as", "actor", required=True, help="Who acts (the service desk).")


@click.group()
def problem() -> None:
    """Open problems from incidents, link and unlink them, record the cause, resolve."""


def _show(found: ProblemView) -> None:
    click.echo(f"{found.number}  {found.status}  {found.title}")
    for label, value in (
        ("service", found.service),
        ("category", found.category),
        ("root cause", found.root_cause),
        ("workaround", found.workaround),
        ("resolution", found.resolution),
    ):
        if value:
            click.echo(f"  {label}: {value}")
    if found.workaround and found.publish_workaround:
        click.echo("  (requesters may see the workaround)")
    for item in found.incidents:
        click.echo(f"  {item.number}  {item.status}  {item.title}")


@problem.command("open")
@click.argument("incidents", nargs=-1, required=True)
@click.option("--title", default="", help="Default: the first incident's title.")
@click.option("--description", default="", help="What is known so far.")
@AS
@KEY
def open_problem(
    incidents: tuple[str, ...], title: str, description: str, actor: str, key: str | None
) -> None:
    """Open a problem from INCIDENTS, each linked to it; print it."""
    services = open_services()
    with service_errors():
        answer = services.problems.open(
            incidents,
            actor=actor,
            title=title,
            description=description,
            key=command_key(key, actor),
        )
        _show(services.problems.problem(str(answer["number"])))


@problem.command("show")
@click.argument("number")
def show(number: str) -> None:
    """Print a problem (or an incident's problem) with its incidents."""
    problems = open_services().problems
    with service_errors():
        if not problems.is_problem(number):
            of = problems.problem_of(number)
            if of is None:
                click.echo(f"{number.strip().upper()} is linked to no problem.", err=True)
                return
            number = of.number
        _show(problems.problem(number))


@problem.command("link")
@click.argument("number")
@click.argument("incident")
@AS
@KEY
def link(number: str, incident: str, actor: str, key: str | None) -> None:
    """Link INCIDENT to the open problem NUMBER."""
    problems = open_services().problems
    with service_errors():
        problems.link(number, incident, actor=actor, key=command_key(key, actor))
        _show(problems.problem(number))


@problem.command("unlink")
@click.argument("number")
@click.argument("incident")
@AS
@KEY
def unlink(number: str, incident: str, actor: str, key: str | None) -> None:
    """Take INCIDENT off the problem NUMBER."""
    problems = open_services().problems
    with service_errors():
        problems.unlink(number, incident, actor=actor, key=command_key(key, actor))
        _show(problems.problem(number))


@problem.command("known-error")
@click.argument("number")
@click.option("--root-cause", required=True, help="Why the incidents happen.")
@click.option("--workaround", required=True, help="What gets people working meanwhile.")
@click.option("--publish", is_flag=True, help="Requesters may see the workaround.")
@AS
@KEY
def known_error(
    number: str, root_cause: str, workaround: str, publish: bool, actor: str, key: str | None
) -> None:
    """Record the root cause and workaround of NUMBER: it becomes a known error."""
    problems = open_services().problems
    with service_errors():
        problems.record(
            number,
            root_cause,
            workaround,
            publish_workaround=publish,
            actor=actor,
            key=command_key(key, actor),
        )
        _show(problems.problem(number))


@problem.command("resolve")
@click.argument("number")
@click.option("--resolution", required=True, help="What fixed it.")
@AS
@KEY
def resolve(number: str, resolution: str, actor: str, key: str | None) -> None:
    """Resolve the known error NUMBER; the owners of its incidents are told."""
    problems = open_services().problems
    with service_errors():
        problems.resolve(number, resolution, actor=actor, key=command_key(key, actor))
        _show(problems.problem(number))


def _default(name: str, value: int) -> int:
    """FLOWDESK_<name>, as the web app reads it (one that is no count is refused), else `value`."""
    found = os.environ.get(f"FLOWDESK_{name}")
    if found is None:
        return value
    try:
        check_web({name: found})
    except SettingsError as error:
        raise click.ClickException(str(error)) from None
    return int(found)


@click.command()
@click.option(
    "--days",
    type=click.IntRange(MIN_DAYS, MAX_DAYS),
    default=lambda: _default("RECURRING_DAYS", RECURRING_DAYS),
    show_default=f"{RECURRING_DAYS}, or FLOWDESK_RECURRING_DAYS",
    help="How many days back to look.",
)
@click.option(
    "--at-least",
    type=click.IntRange(MIN_AT_LEAST, MAX_AT_LEAST),
    default=lambda: _default("RECURRING_AT_LEAST", RECURRING_AT_LEAST),
    show_default=f"{RECURRING_AT_LEAST}, or FLOWDESK_RECURRING_AT_LEAST",
    help="How many alike incidents make a group.",
)
@AS
def recurring(days: int, at_least: int, actor: str) -> None:
    """List the groups of recurring incidents proposed for a problem, and why."""
    services = open_services()
    with service_errors():
        found = services.recurring.proposals(actor, days=days, at_least=at_least)
    if not found:
        click.echo(f"No {at_least} alike incidents in the last {days} days.", err=True)
    for proposal in found:
        click.echo(proposal.reason)
        for item in proposal.incidents:
            click.echo(f"  {item.number}  {item.status}  {item.title}")
        numbers = " ".join(proposal.numbers)
        click.echo(f"  open it: flowdesk problem open {numbers} --as {actor}")


COMMANDS = (problem, recurring)
