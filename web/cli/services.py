"""`flowdesk service`, `flowdesk integration` and `flowdesk ack`: the catalogue from a shell.

The command line is the operator's door (no actor: see `engine.service.people`); the
rules are the catalogue's own, as on the admin page and the API.
"""

from __future__ import annotations

from typing import Any

import click

from web.cli.console import open_services, parse_json, service_errors


def _fields(**given: Any) -> dict[str, Any]:
    fields = {name: value for name, value in given.items() if value is not None}
    for name in ("severity_rules", "start_data"):
        if name in fields:
            fields[name] = parse_json(fields[name], f"--{name.replace('_', '-')}")
    return fields


SERVICE_OPTIONS = [
    click.option("--name", default=None, help="What people call it, e.g. Payments."),
    click.option("--description", default=None),
    click.option("--owner-group", default=None, help="The group that owns it."),
    click.option("--schedule", "schedule_key", default=None, help="Its on-call schedule's key."),
    click.option("--policy", "policy_key", default=None, help="Its escalation policy's key."),
    click.option("--calendar", default=None, help="Its business calendar's key."),
    click.option("--workflow", "workflow_key", default=None, help="Default: it-incident."),
    click.option("--severity-rules", default=None, help='JSON: {"critical": "P1", ...}'),
    click.option("--start-data", default=None, help="JSON: the start form's other values."),
    click.option("--refire", default=None, help="new (default) or reopen."),
]


def _with_options(command: Any) -> Any:
    for option in reversed(SERVICE_OPTIONS):
        command = option(command)
    return command


@click.group()
def service() -> None:
    """Keep the service catalogue."""


@service.command("add")
@click.argument("key")
@_with_options
def service_add(key: str, **given: Any) -> None:
    """Add a service."""
    with service_errors():
        row = open_services().catalogue.save_service(key, _fields(**given), actor=None, create=True)
    click.echo(f"Service {row.key} added.")


@service.command("set")
@click.argument("key")
@_with_options
def service_set(key: str, **given: Any) -> None:
    """Change a service: only the options given."""
    with service_errors():
        open_services().catalogue.save_service(key, _fields(**given), actor=None, create=False)
    click.echo(f"Service {key} changed.")


@service.command("list")
def service_list() -> None:
    """List the services, one a line."""
    for row in open_services().catalogue.services():
        click.echo(f"{row.key}\t{row.name}\t{row.owner_group or '-'}\t{row.workflow_key}")


@service.command("remove")
@click.argument("key")
def service_remove(key: str) -> None:
    """Remove a service and its integrations (its incidents keep its key)."""
    with service_errors():
        open_services().catalogue.delete_service(key, actor=None)
    click.echo(f"Service {key} removed.")


@click.group()
def integration() -> None:
    """Give monitoring tools their tokens into a service."""


@integration.command("add")
@click.argument("service_key")
@click.argument("kind", type=click.Choice(["alertmanager", "grafana", "pagerduty", "generic"]))
@click.argument("name")
@click.option("--secret", default=None, help="Grafana's HMAC signing secret.")
@click.option("--mapping", default=None, help="The generic kind's mapping template, as JSON.")
def integration_add(
    service_key: str, kind: str, name: str, secret: str | None, mapping: str | None
) -> None:
    """Make an integration; print its token (shown this once) and where to send."""
    template = parse_json(mapping, "--mapping") if mapping is not None else None
    with service_errors():
        found, token = open_services().catalogue.add_integration(
            service_key, kind, name, actor=None, secret=secret, mapping=template
        )
    click.echo(f"Integration {found}: send to /intake/{kind} with this token (shown once):")
    click.echo(token)


@integration.command("list")
@click.argument("service_key", required=False)
def integration_list(service_key: str | None) -> None:
    """List integrations (of one service), newest first."""
    with service_errors():
        rows = open_services().catalogue.integrations(service_key)
    for row in rows:
        state = "revoked" if row.revoked_at else "active"
        click.echo(f"{row.id}\t{row.service_key}\t{row.kind}\t{row.name}\t{state}")


@integration.command("revoke")
@click.argument("integration_id", type=int)
def integration_revoke(integration_id: int) -> None:
    """Revoke an integration's token."""
    with service_errors():
        open_services().catalogue.revoke_integration(integration_id, actor=None)
    click.echo(f"Integration {integration_id} revoked.")


@click.command("ack")
@click.argument("number")
@click.option("--as", "actor", required=True, help="The agent who acknowledges.")
def ack(number: str, actor: str) -> None:
    """Acknowledge an incident: its response clock stops."""
    with service_errors():
        open_services().intake.acknowledge(number, actor=actor)
    click.echo(f"{number} acknowledged.")


COMMANDS = (service, integration, ack)
