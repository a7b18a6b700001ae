"""The headless command line over the service layer: load, start, tasks, complete, show.

Each command opens the service layer (`Services.for_instance`) and calls its use
cases; it opens no session or transaction of its own, so it runs the same rules as
the web pages and the API.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from engine.core.definition import Workflow
from engine.core.sla import SLA_STEP
from engine.service.bootstrap import Services
from engine.service.errors import Archived, ServiceError
from engine.service.filters import DEFAULT_SORT, combine
from engine.service.locales import KEEP, check_reading
from engine.service.queries import TimelineEvent, holder, incidents_of
from engine.service.requests import derived_token, who
from engine.service.starting import Caller
from engine.service.timeline_words import event_text
from engine.service.views_csv import csv_lines
from web.app import instance_secret
from web.common.jsonbody import BadJson, read_json


class NoDatabase(click.ClickException):
    """There is no database where the command looked: it made none, and did nothing."""

    exit_code = 4


def require_database() -> None:
    """Refuse to go on when the instance folder holds no SQLite database (and no
    `FLOWDESK_DATABASE_URL` names one): run from another folder, a backup or an export
    would make a new, empty database there and report success."""
    found = Services.instance_database()
    if found is not None and not found.exists():
        raise NoDatabase(
            f"there is no Flowdesk database at {found}: run this in the folder `flowdesk up` "
            "ran in, or set FLOWDESK_INSTANCE_PATH (its instance folder) or "
            "FLOWDESK_DATABASE_URL; nothing was done"
        )


def open_services(*, create: bool = False) -> Services:
    """Open the service layer over `FLOWDESK_DATABASE_URL` (or the instance folder), migrated.
    `create`: a missing SQLite database is made (loading a pack); else it is refused.

    Its connections are closed when the command ends.
    """
    if not create:
        require_database()
    services = Services.for_instance()
    click.get_current_context().call_on_close(services.close)
    with service_errors():  # a database a newer release migrated: exit 5, in words
        migrated = services.migrate()
    if migrated and not create:
        # Said on standard error, where scripts reading the output do not read it: a
        # command of a new release moved the schema under the stack still serving it.
        click.echo(f"flowdesk: the database was {migrated}", err=True)
    return services


#: The exit code of a refused command, by why it was refused, so scripts can tell.
EXIT_CODES = {
    "invalid": 1,
    "too_large": 1,
    "key_reused": 1,
    "not_allowed": 3,
    "not_found": 4,
    "conflict": 5,
    "busy": 6,
    "unavailable": 6,
}


@contextmanager
def service_errors() -> Iterator[None]:
    """Turn a refused command into its message, one line per problem, and its exit code."""
    try:
        yield
    except ServiceError as error:
        click.echo("Error: " + "\n".join(dict.fromkeys(_refusal_lines(error))), err=True)
        raise SystemExit(EXIT_CODES.get(error.code, 1)) from None


def _refusal_lines(error: ServiceError) -> list[str]:
    """Say each problem of a refusal once: a lone one at its place (`/field: why`), several
    under the refusal's headline, one a line; a message that lists them already (a folder's
    documents, each with its file) alone."""
    problems = error.problems
    quoted = error.headline != error.message  # the message quotes its problems: list them
    if len(problems) == 1 and (quoted or problems[0].message == error.message):
        return [f"{problems[0].pointer or '/'}: {problems[0].message}"]
    lines = [f"  {p.pointer or '/'}: {p.message}" for p in problems]
    if quoted:
        return [error.headline, *lines]
    if problems and all(p.message in error.message for p in problems):
        return [error.message]
    return [error.message, *lines]


def parse_json(text: str, what: str) -> dict[str, Any]:
    """Read a JSON object given on the command line, as strictly as the API reads bodies."""
    try:
        value = read_json(text)
    except BadJson as error:
        raise click.BadParameter(f"{what} is not JSON we can take: {error}") from None
    if not isinstance(value, dict):
        raise click.BadParameter(f'{what} must be a JSON object, like \'{{"impact": "high"}}\'')
    return value


@click.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--as", "actor", default=None, help="Who publishes (recorded on each version).")
def load(folder: Path, actor: str | None) -> None:
    """Publish every workflow, form and calendar under FOLDER; unchanged ones stay as they are.

    A document identical to any version already published is that version: nothing
    is published, and the latest version stays the latest.
    """
    services = open_services(create=True)
    with service_errors():
        published = services.definitions.load_folder(folder, actor)
    for item in published:
        if item.kind == "group":  # a group the pack names that did not exist
            click.echo(f"group {item.key} made, empty: put people in it (flowdesk user --group)")
            continue
        what = "published" if item.created else "unchanged"
        if not item.created and item.latest != item.version:
            what += f" (identical to v{item.version}; the latest stays v{item.latest})"
        click.echo(f"{item.kind} {item.key} v{item.version} {what}")


@click.command()
@click.argument("workflow")
@click.option("--data", "raw", default="{}", help="The start form's data as a JSON object.")
@click.option("--as", "actor", default=None, help="The requester.")
@click.option("--key", default=None, help="Idempotency key: repeating the command changes nothing.")
def start(workflow: str, raw: str, actor: str | None, key: str | None) -> None:
    """Start an instance of WORKFLOW and print its number (as its `start.by` allows).

    Without --as (a public workflow), its requester follows it by a tracking link, as on the
    portal: printed, and mailed to the workflow's confirm_to address when FLOWDESK_BASE_URL
    says where the app is.
    """
    starting = open_services().starting
    key = command_key(key, actor)
    path = None if actor else f"/track/{_token(key, 'cli-started')}"
    base = os.environ.get("FLOWDESK_BASE_URL", "").rstrip("/")
    with service_errors():
        result = starting.start(
            workflow,
            parse_json(raw, "--data"),
            person=actor,
            key=key,
            token=path.removeprefix("/track/") if path else None,
            link=f"{base}{path}" if base and path else None,
        )
    click.echo(result["number"])
    if path:
        click.echo(f"tracking link: {base}{path}")


def command_key(key: str | None, actor: str | None) -> str | None:
    """The command key of a `--key`, kept apart per actor as the API keeps its
    `Idempotency-Key` per caller: two people's scripts may each send `--key 1`."""
    return None if key is None else f"cli:{actor or ''}:{key}"


def _token(key: str | None, kind: str) -> str:
    """A tracking token: the same for a command sent again with its key, which then prints
    the same link."""
    secret = os.environ.get("FLOWDESK_SECRET_KEY") or instance_secret(
        os.environ.get("FLOWDESK_INSTANCE_PATH", "instance")
    )
    return derived_token(secret, f"{kind}:{key}" if key else secrets.token_hex(16))


@click.command("log-call")
@click.argument("workflow")
@click.option("--as", "actor", required=True, help="The agent logging the call.")
@click.option("--channel", required=True, help="phone, email, chat, walk_in or sms.")
@click.option("--caller", "caller_user", default=None, help="The caller, a user.")
@click.option("--caller-name", default="", help="The caller without an account: a name,")
@click.option("--caller-email", default="", help="and an email address,")
@click.option("--caller-phone", default="", help="or a phone number.")
@click.option("--data", "raw", default="{}", help="The start form's data as a JSON object.")
@click.option("--key", default=None, help="Idempotency key: repeating the command changes nothing.")
def log_call(
    workflow: str,
    actor: str,
    channel: str,
    caller_user: str | None,
    caller_name: str,
    caller_email: str,
    caller_phone: str,
    raw: str,
    key: str | None,
) -> None:
    """Log WORKFLOW for a caller, as an agent; print its number (and the caller's link).

    A caller without an account gets a tracking link: mailed to them when they gave an email
    and FLOWDESK_BASE_URL says where the app is; printed, to read out, in any case.
    """
    data = parse_json(raw, "--data")
    key = command_key(key, actor)
    token = None if caller_user else _token(key, "cli-logged")
    base = os.environ.get("FLOWDESK_BASE_URL", "").rstrip("/")
    path = f"/track/{token}" if token else None
    with service_errors():
        result = open_services().starting.log_call(
            workflow,
            data,
            agent=actor,
            channel=channel,
            caller=Caller(caller_user, caller_name, caller_email, caller_phone),
            key=key,
            token=token,
            link=f"{base}{path}" if base and path else None,
        )
    click.echo(result["number"])
    if path:
        click.echo(f"tracking link: {base}{path}")


@click.command()
@click.option("--user", default=None, help="Only this user's tasks and their groups' queues.")
def tasks(user: str | None) -> None:
    """List open tasks, soonest due first."""
    with service_errors():
        rows, numbers = open_services().desk.open_tasks(user)
    if not rows:
        click.echo("no open tasks")
    for task in rows:
        who = holder(task)
        due = f" due {task.due_at:%Y-%m-%d %H:%M}" if task.due_at else ""
        click.echo(
            f"{task.id:>6}  {numbers[task.instance_id]}  {task.title}  [{who}]"
            f"  ({'/'.join(task.outcomes)}){due}"
        )


@click.command()
@click.argument("task_id", type=int)
@click.option("--outcome", required=True, help="One of the step's outcomes, e.g. resolved.")
@click.option("--data", "raw", default="{}", help="The task form's data as a JSON object.")
@click.option("--as", "actor", required=True, help="Who completes it.")
@click.option("--comment", default=None, help="A note kept with it; a rejection needs its reason.")
@click.option("--key", default=None, help="Idempotency key: repeating the command changes nothing.")
def complete(
    task_id: int, outcome: str, raw: str, actor: str, comment: str | None, key: str | None
) -> None:
    """Complete TASK_ID with an outcome."""
    commands = open_services().commands
    with service_errors():
        result = commands.complete(
            task_id,
            outcome,
            parse_json(raw, "--data"),
            actor=actor,
            key=command_key(key, actor),
            comment=comment,
        )
    opened = ", ".join(str(t["id"]) for t in result["opened_tasks"]) or "none"
    click.echo(f"{result['number']}: {result['status']} (new tasks: {opened})")


@click.command()
@click.argument("task_id", type=int)
@click.option("--as", "actor", required=True, help="Who takes it.")
def claim(task_id: int, actor: str) -> None:
    """Take TASK_ID from your group's queue."""
    with service_errors():
        result = open_services().commands.claim(task_id, actor=actor)
    click.echo(f"task {result['task']} is now {result['assignee']}'s")


@click.command()
@click.argument("number")
@click.option("--reason", required=True)
@click.option("--as", "actor", required=True)
def cancel(number: str, reason: str, actor: str) -> None:
    """Cancel instance NUMBER."""
    with service_errors():
        result = open_services().commands.cancel(number, reason, actor=actor)
    click.echo(f"{result['number']}: {result['status']}")


@click.command()
@click.argument("number")
@click.option("--as", "actor", required=True, help="The admin who retries.")
@click.option(
    "--data",
    "raw",
    default="{}",
    help="Fields to correct first, as a JSON object, e.g. '{\"heads\": 4}'.",
)
@click.option("--key", default=None, help="Idempotency key: repeating the command changes nothing.")
def retry(number: str, actor: str, raw: str, key: str | None) -> None:
    """Run again the steps of NUMBER that stopped on an incident (admins), having corrected
    the fields --data names first."""
    data = parse_json(raw, "--data")
    with service_errors():
        result = open_services().commands.retry(
            number, actor=actor, data=data, key=command_key(key, actor)
        )
    click.echo(f"{result['number']}: {result['status']}")


@click.command()
@click.argument("number")
def show(number: str) -> None:
    """Show instance NUMBER: status, open tasks, and the timeline with reasons."""
    services = open_services()
    with service_errors():
        try:
            view = services.desk.instance(number)
        except Archived as gone:
            said = f"{gone.message}: flowdesk retention show {gone.number}"
            raise Archived(said, gone.number) from None
    instance = view.instance
    workflow = services.desk.workflow_of(instance.workflow_version_id)
    label = {SLA_STEP: "the SLA", **{step.id: step.label for step in workflow.steps.values()}}
    click.echo(f"{instance.number}  {instance.title}")
    click.echo(
        f"status: {instance.status}   priority: {instance.priority or '-'}   "
        f"workflow: {instance.workflow_key}   requester: {instance.requester or '-'}"
    )
    click.echo("open tasks:" if view.tasks else "open tasks: none")
    for task in view.tasks:
        click.echo(f"  #{task.id} {task.title} -> {holder(task)} ({'/'.join(task.outcomes)})")
    for timer in view.timers:
        click.echo(f"  timer of {_quoted(label, timer.step)} due {timer.due_at:%Y-%m-%d %H:%M} UTC")
    for where, why in incidents_of(instance.state):
        click.echo(f"stopped at {_quoted(label, where)}: {why}")
    click.echo("timeline:")
    for event in view.events:
        click.echo(describe(event, workflow))


def _quoted(labels: dict[str, str], step: str) -> str:
    """A step by its label in quotes; the SLA, or an SLA breach, as words."""
    if step == SLA_STEP or step not in labels:
        return labels.get(step, step)
    return f"'{labels[step]}'"


def describe(event: TimelineEvent, workflow: Workflow) -> str:
    """One timeline line: when, who, what (in the instance page's words) and why."""
    by = f" ({who(event.actor)})" if event.actor else ""
    why = f": {event.why}" if event.why else ""
    return f"  {event.at:%Y-%m-%d %H:%M}{by} {event_text(event, workflow)}{why}"


@click.command()
@click.argument("username")
@click.option("--name", default="")
@click.option("--email", default=None)
@click.option(
    "--role",
    "roles",
    multiple=True,
    help="admin, designer, agent or requester (a new user given none is an agent).",
)
@click.option("--group", "groups", multiple=True, help="A group to join (created if new).")
@click.option("--manager", default=None)
@click.option(
    "--time-zone", default=None, help='Zone pages say times in, e.g. Europe/Paris ("": browser).'
)
@click.option("--locale", default=None, help='Date format pages use, e.g. en_US ("": browser).')
def user(
    username: str,
    name: str,
    email: str | None,
    roles: tuple[str, ...],
    groups: tuple[str, ...],
    manager: str | None,
    time_zone: str | None,
    locale: str | None,
) -> None:
    """Create or update a user, and add them to groups."""
    services = open_services()
    with service_errors():
        if time_zone is not None or locale is not None:
            # Checked first: a zone or locale refused leaves the user as they were.
            check_reading(time_zone or None, locale or None)
        services.people.save_user(
            username,
            name=name,
            email=email,
            roles=list(roles),
            groups=list(groups),
            manager=manager,
        )
        if time_zone is not None or locale is not None:
            services.readings.choose(
                None,
                username,
                time_zone=KEEP if time_zone is None else time_zone,
                locale=KEEP if locale is None else locale,
            )
    click.echo(f"user {username} saved")


@click.command()
@click.argument("key")
@click.option("--name", default="")
@click.option("--next-tier", default=None, help="The group escalations go to.")
def group(key: str, name: str, next_tier: str | None) -> None:
    """Create or update a group."""
    services = open_services()
    with service_errors():
        services.people.save_group(key, name, next_tier)
    click.echo(f"group {key} saved")


@click.command()
@click.argument("schedule")
@click.argument("username")
@click.option("--from", "starts", type=click.DateTime(), required=True, help="Start (UTC).")
@click.option("--to", "ends", type=click.DateTime(), required=True, help="End (UTC).")
def oncall(schedule: str, username: str, starts: datetime, ends: datetime) -> None:
    """Put USERNAME on call for SCHEDULE between two moments (UTC)."""
    services = open_services()
    with service_errors():
        services.people.add_shift(
            schedule, username, starts.replace(tzinfo=UTC), ends.replace(tzinfo=UTC)
        )
    click.echo(
        f"{username} is on call for {schedule} from {starts:%Y-%m-%d %H:%M} "
        f"to {ends:%Y-%m-%d %H:%M} UTC"
    )


@click.command()
@click.argument("number")
@click.option("--reason", required=True, help="Why it needs more work.")
@click.option("--as", "actor", required=True, help="An agent, or the requester.")
def reopen(number: str, reason: str, actor: str) -> None:
    """Send NUMBER, which ended, back to work where its workflow says."""
    with service_errors():
        result = open_services().casework.reopen(number, reason, actor=actor)
    click.echo(f"{result['number']}: {result['status']}")


@click.command()
@click.argument("number")
@click.argument("level")
@click.option("--reason", required=True)
@click.option("--as", "actor", required=True, help="The agent.")
def priority(number: str, level: str, reason: str, actor: str) -> None:
    """Set the priority of NUMBER to LEVEL; the SLA clocks follow."""
    with service_errors():
        result = open_services().casework.set_priority(number, level, reason, actor=actor)
    click.echo(f"{result['number']}: priority {level}")


@click.command()
@click.argument("number")
@click.argument("other")
@click.option("--as", "actor", required=True, help="The agent.")
def link(number: str, other: str, actor: str) -> None:
    """Link NUMBER and OTHER as related incidents."""
    with service_errors():
        open_services().casework.link(number, other, actor=actor)
    click.echo(f"{number} and {other} are linked")


@click.command()
@click.argument("number")
@click.argument("original")
@click.option("--reason", required=True)
@click.option("--as", "actor", required=True, help="The agent.")
def duplicate(number: str, original: str, reason: str, actor: str) -> None:
    """Close NUMBER as a duplicate of ORIGINAL; its requester is told."""
    with service_errors():
        open_services().casework.mark_duplicate(number, original, reason, actor=actor)
    click.echo(f"{number}: duplicate of {original}")


@click.command("list")
@click.argument("search", nargs=-1)
@click.option("--as", "actor", required=True, help="Whose list: what they may see.")
@click.option("--view", "view_id", type=int, default=None, help="A saved view to start from.")
@click.option("--sort", default=None, help="number, created, updated, priority or status; -desc.")
@click.option("--limit", default=25, show_default=True, help="Rows of one page (at most 200).")
@click.option("--cursor", default=None, help="The next page's cursor, as the last page said.")
@click.option("--csv", "as_csv", is_flag=True, help="Write every row as CSV instead.")
def list_instances(
    search: tuple[str, ...],
    actor: str,
    view_id: int | None,
    sort: str | None,
    limit: int,
    cursor: str | None,
    as_csv: bool,
) -> None:
    """List instances by the filter language: `flowdesk list --as bob status:open printer`."""
    services = open_services()
    with service_errors():
        finder = services.finder
        person = finder.person(actor)
        view = services.views.get(person, view_id) if view_id is not None else None
        now = services.commands.clock()
        base = view.filters if view is not None else {}
        query = combine(base, line=" ".join(search), at=now)
        order = sort or (view.sort if view is not None else DEFAULT_SORT)
        if as_csv:
            for line in csv_lines(finder.rows(person, query, sort=order), now):
                click.echo(line, nl=False)
            return
        found = finder.find(person, query, sort=order, cursor=cursor, limit=limit)
    for item in found.items:
        holders = ", ".join(item.holders) or "-"
        click.echo(
            f"{item.number}  {item.status:<12} {item.priority or '-':<4} "
            f"{item.sla_state(now):<9} {holders:<24} {item.title}"
        )
    total = f"{'' if found.exact else 'more than '}{found.total}"
    click.echo(
        f"{len(found.items)} of {total}" + (f"; next: --cursor {found.next}" if found.next else ""),
        err=True,
    )


COMMANDS = (
    load,
    log_call,
    list_instances,
    start,
    tasks,
    complete,
    claim,
    cancel,
    retry,
    show,
    user,
    group,
    oncall,
    reopen,
    priority,
    link,
    duplicate,
)
