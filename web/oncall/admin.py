"""The admins' on-call pages: every schedule with who is on call now and the next hand-offs;
a schedule's layers edited as JSON, its overrides, and a secret calendar link.

For admins only (`require("admin")`); the service checks again. A form with mistakes
comes back with each message (422) and nothing changed.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, abort, render_template, request, url_for

from engine.core.oncall import instant
from engine.service.errors import InvalidInput, NotFound
from engine.service.oncall import Schedules
from web.admin import done, field_errors
from web.auth import me, require
from web.common.services import services

blueprint = Blueprint("admin_oncall", __name__, url_prefix="/admin/oncall")

Page = str | tuple[str, int] | Response

EXAMPLE = [
    {
        "name": "Primary",
        "members": ["alice", "bob"],
        "rotation": "weekly",
        "handoff": "09:00",
        "start": "2026-12-07",
    }
]


def _schedules() -> Schedules:
    return services().schedules


@blueprint.get("")
@require("admin")
def schedules() -> str:
    """List every schedule: who is on call now, until when, and the next hand-offs."""
    return render_template("oncall/schedules.html", board=_schedules().board())


@blueprint.get("/new")
@require("admin")
def new_schedule() -> str:
    values = {"time_zone": "UTC", "layers": json.dumps(EXAMPLE, indent=2)}
    return render_template("oncall/schedule_form.html", values=values, errors={}, key=None)


@blueprint.post("")
@require("admin")
def create_schedule() -> Page:
    return _save(request.form.get("key", "").strip(), new=True)


@blueprint.get("/<key>")
@require("admin")
def schedule(key: str) -> Page:
    return _page(key)


@blueprint.post("/<key>")
@require("admin")
def update_schedule(key: str) -> Page:
    """Save the layers of an existing schedule (a new one is made on the "new" page)."""
    try:
        _schedules().get(key)
    except NotFound:
        abort(404)
    return _save(key, new=False)


def _page(key: str, status: int = 200, **context: Any) -> tuple[str, int]:
    try:
        view = _schedules().get(key)
        now = _schedules().now(key)
    except NotFound:
        abort(404)
    values = context.pop("values", None) or {
        "name": view.name,
        "time_zone": view.time_zone,
        "layers": json.dumps(view.layers, indent=2),
    }
    page = render_template(
        "oncall/schedule.html",
        key=key,
        view=view,
        now=now,
        values=values,
        errors=context.pop("errors", {}),
        override_errors=context.pop("override_errors", {}),
        **context,
    )
    return page, status


def _save(key: str, *, new: bool) -> Page:
    values = {name: request.form.get(name, "") for name in ("key", "name", "time_zone", "layers")}
    values["key"] = key
    try:
        layers = json.loads(values["layers"] or "[]")
    except ValueError as error:
        errors = {"layers": f"The layers are not JSON: {error}."}
        return _refused(key, new, values, errors)
    try:
        _schedules().save(
            key,
            name=values["name"].strip(),
            time_zone=values["time_zone"].strip(),
            layers=layers,
            actor=me().username,
        )
    except InvalidInput as error:
        return _refused(key, new, values, field_errors(error), error)
    return done(f"Schedule {key} saved.", "admin_oncall.schedule", key=key)


def _refused(
    key: str,
    new: bool,
    values: dict[str, str],
    errors: dict[str, str],
    error: InvalidInput | None = None,
) -> tuple[str, int]:
    if error is not None and "layers" in errors:
        # Every problem of the layers, each with where it is: there may be several.
        errors["layers"] = " ".join(f"{p.pointer}: {p.message}." for p in error.problems)
    if new:
        page = render_template("oncall/schedule_form.html", values=values, errors=errors, key=None)
        return page, 422
    return _page(key, 422, values=values, errors=errors)


@blueprint.post("/<key>/overrides")
@require("admin")
def add_override(key: str) -> Page:
    """Put someone on call for a span, in the schedule's local time."""
    form = {name: request.form.get(name, "").strip() for name in ("person", "starts", "ends")}
    try:
        zone = ZoneInfo(_schedules().get(key).time_zone)
        starts, ends = (_local(form[name], zone, name) for name in ("starts", "ends"))
        _schedules().add_override(
            key,
            form["person"],
            starts,
            ends,
            reason=request.form.get("reason", "").strip(),
            actor=me().username,
        )
    except NotFound as error:
        if "schedule" in error.message:
            abort(404)
        return _page(key, 422, override_errors={"person": error.message})
    except InvalidInput as error:
        return _page(key, 422, override_errors={"": error.message})
    return done(f"{form['person']} is on call for {key} then.", "admin_oncall.schedule", key=key)


@blueprint.post("/<key>/overrides/<int:override_id>/delete")
@require("admin")
def remove_override(key: str, override_id: int) -> Response:
    try:
        _schedules().remove_override(key, override_id, actor=me().username)
    except NotFound:
        abort(404)
    return done("Override removed.", "admin_oncall.schedule", key=key)


@blueprint.post("/<key>/feed")
@require("admin")
def make_feed(key: str) -> Page:
    """Make a secret calendar link for the schedule, shown this once."""
    try:
        token = services().oncall_feeds.create(schedule=key, actor=me().username)
    except NotFound:
        abort(404)
    link = url_for("oncall_feeds.schedule_feed", schedule=key, token=token, _external=True)
    return _page(key, feed_link=link)


@blueprint.post("/<key>/delete")
@require("admin")
def delete_schedule(key: str) -> Response:
    try:
        _schedules().delete(key, actor=me().username)
    except NotFound:
        abort(404)
    return done(f"Schedule {key} deleted.", "admin_oncall.schedules")


def _local(text: str, zone: ZoneInfo, name: str) -> datetime:
    """Read a `datetime-local` value as the schedule's local time."""
    try:
        moment = datetime.fromisoformat(text) if 0 < len(text) <= 30 else None
    except ValueError:
        moment = None
    if moment is None:
        raise InvalidInput(f"give the {name} as a date and time, like 2026-12-24T09:00")
    if moment.tzinfo is not None:
        return moment
    return instant(moment, zone)
