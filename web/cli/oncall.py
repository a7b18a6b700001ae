"""On call at the command line: `flowdesk schedule ...`, `flowdesk oncall-now`, `flowdesk policy`.

The operator's tool: it passes no actor (see `engine.service.people`), so it is not
refused for rights, but every other rule (valid layers, existing people, spans that end
after they begin) is the service's, as on every door. Moments are read in RFC 3339 with
an offset; a moment without one is read in the schedule's time zone.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click

from engine.core.oncall import instant
from engine.service.bootstrap import Services
from engine.service.errors import InvalidInput
from web.cli.console import open_services, service_errors
from web.common.jsonbody import BadJson, read_json


def _document(text: str, what: str) -> Any:
    """Read JSON given inline or as @FILE."""
    if text.startswith("@"):
        text = Path(text[1:]).read_text(encoding="utf-8")
    try:
        return read_json(text)
    except BadJson as error:
        raise click.BadParameter(f"{what} is not JSON we can take: {error}") from None


def _moment(services: Services, key: str, text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"'{text}' is not a moment; write 2026-12-24T09:00") from None
    if moment.tzinfo is not None:
        return moment
    return instant(moment, ZoneInfo(services.schedules.get(key).time_zone))


@click.group()
def schedule() -> None:
    """On-call schedules: save, show, list, delete, override, swap, feed."""


@schedule.command("save")
@click.argument("key")
@click.option("--zone", "time_zone", required=True, help="IANA time zone, e.g. Europe/Amsterdam.")
@click.option("--layers", required=True, help="The layers as JSON, or @FILE.")
@click.option("--name", default="")
def save(key: str, time_zone: str, layers: str, name: str) -> None:
    """Create or replace schedule KEY with its layers."""
    services = open_services()
    with service_errors():
        services.schedules.save(
            key, name=name, time_zone=time_zone, layers=_document(layers, "--layers"), actor=None
        )
    click.echo(f"schedule {key} saved")


@schedule.command("list")
def list_schedules() -> None:
    """List every schedule with who is on call now."""
    services = open_services()
    with service_errors():
        for view, now, _upcoming in services.schedules.board():
            until = f" until {now.until:%Y-%m-%d %H:%M} UTC" if now.until else ""
            click.echo(f"{view.key:<24} {view.time_zone:<20} {now.person or 'nobody'}{until}")


@schedule.command("show")
@click.argument("key")
def show(key: str) -> None:
    """Print schedule KEY as JSON: its layers and the overrides that have not ended."""
    services = open_services()
    with service_errors():
        click.echo(json.dumps(services.schedules.get(key).to_json(), indent=2))


@schedule.command("delete")
@click.argument("key")
def delete(key: str) -> None:
    """Delete schedule KEY and its overrides."""
    services = open_services()
    with service_errors():
        services.schedules.delete(key, actor=None)
    click.echo(f"schedule {key} deleted")


@schedule.command("override")
@click.argument("key")
@click.argument("username")
@click.option("--from", "starts", required=True, help="Start (local to the schedule, or +offset).")
@click.option("--to", "ends", required=True, help="End.")
@click.option("--reason", default="")
def override(key: str, username: str, starts: str, ends: str, reason: str) -> None:
    """Put USERNAME on call for KEY from one moment to another."""
    services = open_services()
    with service_errors():
        made = services.schedules.add_override(
            key,
            username,
            _moment(services, key, starts),
            _moment(services, key, ends),
            reason=reason,
            actor=None,
        )
    click.echo(f"override {made}: {username} is on call for {key} from {starts} to {ends}")


@schedule.command("swap")
@click.argument("key")
@click.option("--first", nargs=2, required=True, help="The first shift: FROM TO.")
@click.option("--second", nargs=2, required=True, help="The second shift: FROM TO.")
def swap(key: str, first: tuple[str, str], second: tuple[str, str]) -> None:
    """Swap two shifts of KEY: whoever holds each takes the other."""
    services = open_services()
    with service_errors():
        spans = [(_moment(services, key, a), _moment(services, key, b)) for a, b in (first, second)]
        services.schedules.swap(key, spans[0], spans[1], actor=None)
    click.echo(f"shifts of {key} swapped")


@schedule.command("feed")
@click.argument("key")
def feed(key: str) -> None:
    """Make a secret iCalendar link for KEY; print its path, shown this once."""
    services = open_services()
    with service_errors():
        token = services.oncall_feeds.create(schedule=key, actor=None)
    click.echo(f"/oncall/{key}.ics?token={token}")


@click.command("oncall-now")
@click.argument("key")
@click.option("--at", "at", default=None, help="A moment (default now).")
def oncall_now(key: str, at: str | None) -> None:
    """Say who is on call for schedule KEY now, or at a moment."""
    services = open_services()
    with service_errors():
        moment = _moment(services, key, at) if at is not None else None
        now = services.schedules.now(key, moment)
    if now.person is None:
        click.echo(f"nobody is on call for {key}")
        return
    why = "override" if now.override else f"layer {now.layer}"
    until = f" until {now.until.isoformat()}" if now.until else ""
    click.echo(f"{now.person} ({why}){until}")


@click.group()
def policy() -> None:
    """Escalation policies: save, show, list, delete."""


@policy.command("save")
@click.argument("key")
@click.argument("document")
@click.option("--name", default="")
def save_policy(key: str, document: str, name: str) -> None:
    """Create or replace escalation policy KEY from DOCUMENT (JSON, or @FILE)."""
    services = open_services()
    with service_errors():
        doc = _document(document, "the policy")
        if not isinstance(doc, dict):
            raise InvalidInput("a policy must be a JSON object")
        services.escalation_policies.save(key, doc, name=name, actor=None)
    click.echo(f"policy {key} saved")


@policy.command("show")
@click.argument("key")
def show_policy(key: str) -> None:
    """Print policy KEY and when each level pages, from now."""
    services = open_services()
    with service_errors():
        view = services.escalation_policies.get(key)
    click.echo(json.dumps(view.to_json(), indent=2))


@policy.command("delete")
@click.argument("key")
def delete_policy(key: str) -> None:
    services = open_services()
    with service_errors():
        services.escalation_policies.delete(key, actor=None)
    click.echo(f"policy {key} deleted")


COMMANDS = (schedule, oncall_now, policy)
