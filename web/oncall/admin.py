"""The admins' on-call pages: every schedule with who is on call now and the next hand-offs;
a schedule's layers edited with a form (no JSON to type), its overrides, and a secret
calendar link.

For admins only (`require("admin")`); the service checks again. The form builds the very
layers document the service takes (see docs/on-call.md). "Add a layer", "Remove this layer"
and "Move up" post the form back and draw it again, with what was typed; a form with
mistakes comes back (422) with each problem next to its control, and nothing changed.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, abort, render_template, request, url_for
from werkzeug.datastructures import MultiDict

from engine.core.oncall import MAX_LAYERS, NAMED_ROTATIONS, WEEKDAYS, instant
from engine.service.errors import InvalidInput, NotFound
from engine.service.locales import time_zones
from engine.service.oncall import Schedules
from web.admin import done
from web.auth import me, require
from web.common.services import services

blueprint = Blueprint("admin_oncall", __name__, url_prefix="/admin/oncall")

Page = str | tuple[str, int] | Response

#: The rotations the form offers: named ones, and "every N" of a unit.
ROTATIONS = (
    ("daily", "Daily"),
    ("weekly", "Weekly"),
    ("hours", "Every N hours"),
    ("days", "Every N days"),
    ("weeks", "Every N weeks"),
)
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
#: A layer's controls, by what the service's problems point at under /layers/N.
_CONTROLS = {
    "name": "name",
    "members": "members",
    "rotation": "rotation",
    "handoff": "handoff",
    "start": "start",
    "restrict": "from",
}
_RESTRICT_CONTROLS = {"weekdays": "weekdays", "from": "from", "to": "to"}


def _schedules() -> Schedules:
    return services().schedules


def _blank_layer(number: int) -> dict[str, Any]:
    today = datetime.now(UTC).date().isoformat()
    return {
        "name": "Primary" if number == 1 else f"Layer {number}",
        "members": "",
        "rotation": "weekly",
        "every": "",
        "handoff": "09:00",
        "start": today,
        "weekdays": list(WEEKDAYS),
        "from": "",
        "to": "",
    }


def layer_fields(doc: dict[str, Any]) -> dict[str, Any]:
    """Return a stored layer document as the form's fields."""
    rotation = doc.get("rotation", "weekly")
    named = next((n for n, spelled in NAMED_ROTATIONS.items() if spelled == rotation), None)
    restrict = doc.get("restrict") or {}
    return {
        "name": str(doc.get("name", "")),
        "members": "\n".join(str(m) for m in doc.get("members", [])),
        "rotation": named or (rotation.get("unit") if isinstance(rotation, dict) else rotation),
        "every": "" if named or not isinstance(rotation, dict) else str(rotation.get("every")),
        "handoff": str(doc.get("handoff", "")),
        "start": str(doc.get("start", "")),
        "weekdays": list(restrict.get("weekdays", WEEKDAYS)),
        "from": str(restrict.get("from", "")),
        "to": str(restrict.get("to", "")),
    }


def layers_from_form(form: MultiDict[str, str]) -> list[dict[str, Any]]:
    """Return the layers as the form posted them, in order (each a dict of its fields)."""
    layers = []
    for index in range(MAX_LAYERS + 1):
        at = f"layers-{index}-"
        if at + "rotation" not in form:
            break
        layer: dict[str, Any] = {
            name: form.get(at + name, "").strip()
            for name in ("name", "rotation", "every", "handoff", "start", "from", "to")
        }
        layer["members"] = form.get(at + "members", "").replace("\r\n", "\n").strip()
        layer["weekdays"] = [day for day in form.getlist(at + "weekdays") if day in WEEKDAYS]
        layers.append(layer)
    return layers


def layer_document(layer: dict[str, Any]) -> dict[str, Any]:
    """Return the layer document the service takes, built from the form's fields.

    What cannot be read is passed on as typed: the service says what is wrong with it.
    """
    members = [line.strip() for line in layer["members"].split("\n") if line.strip()]
    rotation: Any = layer["rotation"]
    if rotation not in NAMED_ROTATIONS:
        every = layer["every"]
        rotation = {"every": int(every) if every.isdigit() else every, "unit": rotation}
    doc: dict[str, Any] = {
        "name": layer["name"],
        "members": members,
        "rotation": rotation,
        "handoff": layer["handoff"],
        "start": layer["start"],
    }
    restrict: dict[str, Any] = {}
    if set(layer["weekdays"]) != set(WEEKDAYS):
        restrict["weekdays"] = [day for day in WEEKDAYS if day in layer["weekdays"]]
    for end in ("from", "to"):
        if layer[end]:
            restrict[end] = layer[end]
    if restrict:
        doc["restrict"] = restrict
    return doc


def layer_errors(error: InvalidInput) -> tuple[dict[str, str], dict[str, str]]:
    """Map the service's problems to the form's controls: (next to each control, the
    summary at the top saying which layer). Several problems of one control are joined."""
    beside: dict[str, str] = {}
    summary: dict[str, str] = {}
    for problem in error.problems:
        parts = problem.pointer.strip("/").split("/")
        message = _sentence(problem.message)
        if parts[0] == "layers" and len(parts) > 1 and parts[1].isdigit():
            index = int(parts[1])
            control = _CONTROLS.get(parts[2], "name") if len(parts) > 2 else "name"
            if len(parts) > 3 and parts[2] == "rotation":
                control = "every" if parts[3] == "every" else "rotation"
            elif len(parts) > 3 and parts[2] == "restrict":
                control = _RESTRICT_CONTROLS.get(parts[3], "from")
            key = f"layers-{index}-{control}"
            said = f"Layer {index + 1}: {message}"
        else:
            key = parts[0] if parts[0] in ("key", "name", "time_zone") else "layers"
            said = message
        beside[key] = f"{beside[key]} {message}" if key in beside else message
        summary[key] = f"{summary[key]} {said}" if key in summary else said
    if not beside:
        beside = summary = {"": _sentence(error.message)}
    return beside, summary


def _sentence(text: str) -> str:
    text = text.strip()
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


@blueprint.get("")
@require("admin")
def schedules() -> str:
    """List every schedule: who is on call now, until when, and the next hand-offs."""
    return render_template("oncall/schedules.html", board=_schedules().board())


@blueprint.get("/new")
@require("admin")
def new_schedule() -> str:
    values = {"key": "", "name": "", "time_zone": "UTC", "layers": [_blank_layer(1)]}
    return _form(None, values)[0]


@blueprint.post("")
@require("admin")
def create_schedule() -> Page:
    return _posted(request.form.get("key", "").strip(), new=True)


@blueprint.get("/<key>")
@require("admin")
def schedule(key: str) -> Page:
    return _page(key)


@blueprint.post("/<key>")
@require("admin")
def update_schedule(key: str) -> Page:
    """Save the layers of an existing schedule (a new one is made on the "new" page), or
    add, remove or move a layer and draw the form again."""
    try:
        _schedules().get(key)
    except NotFound:
        abort(404)
    return _posted(key, new=False)


def _form(
    key: str | None,
    values: dict[str, Any],
    errors: dict[str, str] | None = None,
    summary: dict[str, str] | None = None,
    status: int = 200,
) -> tuple[str, int]:
    """The "new schedule" page."""
    page = render_template(
        "oncall/schedule_form.html", key=key, **_form_context(values, errors, summary)
    )
    return page, status


def _form_context(
    values: dict[str, Any], errors: dict[str, str] | None, summary: dict[str, str] | None
) -> dict[str, Any]:
    zones = time_zones()
    if values["time_zone"] and values["time_zone"] not in zones:
        zones = (values["time_zone"], *zones)  # kept as typed, so it is not lost
    summary = summary if summary is not None else (errors or {})
    return {
        "values": values,
        "errors": errors or {},
        "summary": summary,
        "summary_ids": {key: key for key in summary if key},
        "zones": zones,
        "rotations": ROTATIONS,
        "weekdays": list(zip(WEEKDAYS, DAY_NAMES, strict=True)),
        "max_layers": MAX_LAYERS,
    }


def _page(key: str, status: int = 200, **context: Any) -> tuple[str, int]:
    try:
        view = _schedules().get(key)
        now = _schedules().now(key)
    except NotFound:
        abort(404)
    values = context.pop("values", None) or {
        "key": key,
        "name": view.name,
        "time_zone": view.time_zone,
        "layers": [layer_fields(layer) for layer in view.layers],
    }
    page = render_template(
        "oncall/schedule.html",
        key=key,
        view=view,
        now=now,
        document=json.dumps(view.layers, indent=2),
        override_errors=context.pop("override_errors", {}),
        **_form_context(values, context.pop("errors", None), context.pop("summary", None)),
        **context,
    )
    return page, status


def _posted(key: str, *, new: bool) -> Page:
    values: dict[str, Any] = {
        "key": key,
        "name": request.form.get("name", "").strip(),
        "time_zone": request.form.get("time_zone", "").strip(),
        "layers": layers_from_form(request.form),
    }
    action = request.form.get("action", "save")
    layers: list[dict[str, Any]] = values["layers"]
    if action != "save":
        verb, _, number = action.partition("-")
        index = int(number) if number.isdigit() else -1
        if verb == "add" and len(layers) < MAX_LAYERS:
            layers.append(_blank_layer(len(layers) + 1))
        elif verb == "remove" and 0 <= index < len(layers):
            del layers[index]
        elif verb == "up" and 0 < index < len(layers):
            layers[index - 1], layers[index] = layers[index], layers[index - 1]
        return _form(None, values) if new else _page(key, values=values)
    try:
        _schedules().save(
            key,
            name=values["name"],
            time_zone=values["time_zone"],
            layers=[layer_document(layer) for layer in layers],
            actor=me().username,
        )
    except InvalidInput as error:
        beside, summary = layer_errors(error)
        if new:
            return _form(None, values, beside, summary, 422)
        return _page(key, 422, values=values, errors=beside, summary=summary)
    return done(f"Schedule {key} saved.", "admin_oncall.schedule", key=key)


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
