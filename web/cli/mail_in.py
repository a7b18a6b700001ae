"""Mail intake at the command line: `flowdesk mail-in FILE` and `flowdesk mailbox`.

`mail-in` feeds one RFC 5322 message (an .eml file, or `-` for standard input, as
procmail or a `.forward` pipe hands it) to the same service the SMTP listener and the
IMAP poll use, and prints what became of it.
"""

from __future__ import annotations

import sys
from typing import BinaryIO

import click

from engine.service.bootstrap import Services
from engine.service.mail_intake import DEFAULT_FIELDS, MailboxView, MailIntake, configured
from web.cli.console import open_services, parse_json, service_errors


def intake(services: Services) -> MailIntake:
    """The mail intake over the service layer, configured as every door configures it."""
    return configured(services.commands, services.files)


@click.command("mail-in")
@click.argument("file", type=click.File("rb"))
@click.option("--to", "recipients", multiple=True, help="The mailbox it was sent to (else To:).")
def mail_in(file: BinaryIO, recipients: tuple[str, ...]) -> None:
    """Take one mail (an .eml FILE, or - for standard input); print what became of it.

    Exit code 0 when it opened an instance or became a comment, 2 when it was dropped
    (an auto-reply, a bounce, a loop) or refused (no mailbox, not the sender's instance).
    """
    raw = file.read()
    with service_errors():
        receipt = intake(open_services()).receive(raw, recipients=recipients, source="cli")
    line = f"{receipt.outcome}: {receipt.reason}"
    if receipt.number:
        line += f" ({receipt.number})"
    if receipt.repeated:
        line += " [received before; nothing changed]"
    click.echo(line)
    if receipt.tracking_link:
        click.echo(f"tracking link: {receipt.tracking_link}")
    if receipt.outcome not in ("opened", "commented", "answered"):
        sys.exit(2)


@click.command()
@click.argument("address", required=False)
@click.option("--workflow", default=None, help="The workflow its mails open (required to add).")
@click.option(
    "--service", "service_key", default=None, help='The service its instances name ("": none).'
)
@click.option(
    "--fields",
    "raw_fields",
    default=None,
    help=f"Which start form fields a mail fills in: {', '.join(DEFAULT_FIELDS)}.",
)
@click.option("--defaults", "raw_defaults", default=None, help="The other start fields' values.")
@click.option(
    "--active/--inactive", default=None, help="Take mail at it, or keep it but take no more."
)
def mailbox(
    address: str | None,
    workflow: str | None,
    service_key: str | None,
    raw_fields: str | None,
    raw_defaults: str | None,
    active: bool | None,
) -> None:
    """Add or change the mailbox ADDRESS; without one, list the mailboxes.

    A change keeps what it does not give: `flowdesk mailbox desk@example.org --inactive`
    stops taking mail and keeps the workflow, service, fields and defaults.
    """
    services = open_services()
    mail = intake(services)
    if address is None:
        for box in mail.mailboxes():
            state = "" if box.active else " (inactive)"
            service = f" service {box.service_key}" if box.service_key else ""
            click.echo(f"{box.address}  -> {box.workflow_key}{service}{state}")
        return
    kept = mail.mailbox(address)
    if kept is None:
        kept = MailboxView(address, workflow or "", None, dict(DEFAULT_FIELDS), {}, True)
    workflow = workflow or kept.workflow_key
    if not workflow:
        raise click.UsageError("give the workflow its mails open: --workflow KEY")
    fields = parse_json(raw_fields, "--fields") if raw_fields is not None else kept.fields
    defaults = parse_json(raw_defaults, "--defaults") if raw_defaults is not None else None
    with service_errors():
        box = mail.save_mailbox(
            address,
            workflow,
            service_key=kept.service_key if service_key is None else service_key,
            fields={k: str(v) for k, v in fields.items()},
            defaults=kept.defaults if defaults is None else defaults,
            active=kept.active if active is None else active,
        )
    state = "" if box.active else " (inactive: it takes no mail)"
    click.echo(f"mailbox {box.address} saved: its mails open {box.workflow_key}{state}")
