"""The admins' service catalogue pages: services, and their monitoring integrations.

Its own blueprint under `/admin/services`, for admins only (`require("admin")`; the
catalogue checks again). JSON fields (severity rules, start data, a mapping) are typed
as JSON; a field that is not JSON is shown back with its error, nothing saved.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Flask, abort, render_template, request

from engine.service.catalogue import ServiceRow
from engine.service.errors import Conflict, InvalidInput, NotFound
from engine.store.services import INTEGRATION_KINDS, REFIRE_POLICIES
from web.admin import done, field_errors
from web.auth import me, require
from web.common.jsonbody import BadJson, read_json
from web.common.services import services

blueprint = Blueprint("admin_services", __name__, url_prefix="/admin/services")

TEXT_FIELDS = (
    "name",
    "description",
    "owner_group",
    "schedule_key",
    "policy_key",
    "calendar",
    "workflow_key",
    "refire",
)
JSON_FIELDS = ("severity_rules", "start_data")


def _posted() -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
    """Read the service form: the fields, the values to show back, and JSON errors."""
    values = {name: request.form.get(name, "").strip() for name in (*TEXT_FIELDS, *JSON_FIELDS)}
    fields: dict[str, Any] = {name: values[name] for name in TEXT_FIELDS}
    errors = {}
    for name in JSON_FIELDS:
        if not values[name]:
            continue
        try:
            fields[name] = read_json(values[name])
        except BadJson as error:
            errors[name] = f"This is not JSON: {error}."
    return fields, values, errors


def _shown(row: ServiceRow) -> dict[str, str]:
    values = {name: getattr(row, name) or "" for name in TEXT_FIELDS}
    for name in JSON_FIELDS:
        values[name] = json.dumps(getattr(row, name), indent=2, ensure_ascii=False)
    return values


@blueprint.get("")
@require("admin")
def index() -> Any:
    """List the services, and a form to add one."""
    return _index({}, {"workflow_key": "it-incident", "refire": "new"})


def _index(errors: dict[str, str], values: dict[str, str], status: int = 200) -> Any:
    page = render_template(
        "admin/services.html",
        services=services().catalogue.services(),
        errors=errors,
        values=values,
        refire=REFIRE_POLICIES,
    )
    return page, status


@blueprint.post("")
@require("admin")
def create() -> Any:
    """Add a service."""
    key = request.form.get("key", "").strip()
    fields, values, errors = _posted()
    values["key"] = key
    if errors:
        return _index(errors, values, 422)
    try:
        services().catalogue.save_service(key, fields, actor=me().username, create=True)
    except (InvalidInput, Conflict) as error:
        found = field_errors(error) if isinstance(error, InvalidInput) else {"key": error.message}
        return _index(found, values, 422)
    return done(f"Service {key} added.", "admin_services.service", key=key)


def _service_page(
    key: str,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    token: tuple[int, str] | None = None,
    status: int = 200,
) -> Any:
    try:
        row = services().catalogue.service(key)
    except NotFound:
        abort(404)
    page = render_template(
        "admin/service.html",
        service=row,
        integrations=services().catalogue.integrations(key),
        errors=errors or {},
        values=values or _shown(row),
        refire=REFIRE_POLICIES,
        kinds=INTEGRATION_KINDS,
        token=token,
    )
    return page, status


@blueprint.get("/<key>")
@require("admin")
def service(key: str) -> Any:
    """Show one service: its fields to change, and its integrations."""
    return _service_page(key)


@blueprint.post("/<key>")
@require("admin")
def update(key: str) -> Any:
    """Change a service."""
    fields, values, errors = _posted()
    if errors:
        return _service_page(key, errors, values, status=422)
    try:
        services().catalogue.save_service(key, fields, actor=me().username, create=False)
    except NotFound:
        abort(404)
    except InvalidInput as error:
        return _service_page(key, field_errors(error), values, status=422)
    return done(f"Service {key} changed.", "admin_services.service", key=key)


@blueprint.post("/<key>/delete")
@require("admin")
def delete(key: str) -> Any:
    """Remove a service and its integrations."""
    try:
        services().catalogue.delete_service(key, actor=me().username)
    except NotFound:
        abort(404)
    return done(f"Service {key} removed.", "admin_services.index")


@blueprint.post("/<key>/integrations")
@require("admin")
def add_integration(key: str) -> Any:
    """Make an integration; its token is shown on the page this once."""
    kind, name = request.form.get("kind", ""), request.form.get("integration_name", "")
    secret = request.form.get("secret", "").strip() or None
    raw = request.form.get("mapping", "").strip()
    mapping = None
    if raw:
        try:
            mapping = read_json(raw)
        except BadJson as error:
            return _service_page(key, {"mapping": f"This is not JSON: {error}."}, status=422)
    try:
        made = services().catalogue.add_integration(
            key, kind, name, actor=me().username, secret=secret, mapping=mapping
        )
    except NotFound:
        abort(404)
    except InvalidInput as error:
        return _service_page(key, field_errors(error), status=422)
    return _service_page(key, token=made, status=201)


@blueprint.post("/<key>/integrations/<int:integration_id>/revoke")
@require("admin")
def revoke(key: str, integration_id: int) -> Any:
    """Revoke an integration's token."""
    try:
        services().catalogue.revoke_integration(integration_id, actor=me().username)
    except NotFound:
        abort(404)
    return done(f"Integration {integration_id} revoked.", "admin_services.service", key=key)


def init_app(app: Flask) -> None:
    app.register_blueprint(blueprint)
