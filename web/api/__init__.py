"""The REST API under `/api/v1`: who am I, and the forms' schema and validation, here.

Instances and comments live in `web.api.instances`, tasks in `web.api.tasks`,
workflows in `web.api.workflows`, the service catalogue in `web.api.services`;
`init_app` registers them all, and the OpenAPI document (`web.api.openapi`) that they
keep to.

`POST /api/v1/forms/<key>/validate` answers exactly what a submit would: the same
validator on the server serves the browser's live checks, so there is one.
Anonymous callers reach only the forms anyone may fill in (the start forms of
public workflows).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response, abort, current_app, jsonify, request

from engine.service.errors import NotFound
from engine.service.locales import KEEP
from engine.service.person import Person
from forms.coercion import coerce_post
from forms.compiler import compile_schema
from forms.definition import Form
from web.api import insight as api_insight
from web.api import instances as api_instances
from web.api import notifications as api_notifications
from web.api import openapi
from web.api import postmortems as api_postmortems
from web.api import problems as api_problems
from web.api import retention as api_retention
from web.api import services as api_services
from web.api import similar as api_similar
from web.api import tasks as api_tasks
from web.api import views as api_views
from web.api import workflows as api_workflows
from web.api.input import SAFE_METHODS, api_auth, body, caller
from web.common.moments import posted_zone
from web.common.security import csrf, limiter
from web.common.services import services

__all__ = ["SAFE_METHODS", "api_auth", "blueprint", "init_app"]

blueprint = Blueprint("api", __name__, url_prefix="/api/v1")


@blueprint.get("/me")
@api_auth()
def whoami() -> Response:
    """Say who the token (or session) belongs to."""
    return jsonify(_me(caller()))


@blueprint.patch("/me")
@api_auth()
def choose_reading() -> Response:
    """Choose the time zone and locale your pages say times in."""
    person, given = caller(), body("MyReading")
    chosen = services().readings.choose(
        person,
        person.username,
        time_zone=given.get("time_zone", KEEP),
        locale=given.get("locale", KEEP),
    )
    return jsonify({**_me(person), "time_zone": chosen.time_zone, "locale": chosen.locale})


def _me(person: Person) -> dict[str, Any]:
    return {
        "username": person.username,
        "name": person.name,
        "email": person.email,
        "roles": sorted(person.roles),
        "groups": sorted(person.groups),
        "time_zone": person.time_zone,
        "locale": person.locale,
    }


def _public_form(key: str) -> Form:
    published = services().published
    if key not in published.public_form_keys():
        abort(404)
    try:
        return published.form(key)[1]
    except NotFound:
        abort(404)


@blueprint.get("/forms/<key>/schema")
def form_schema(key: str) -> Response:
    """Serve a form compiled to JSON Schema 2020-12, for any client to validate with."""
    response = jsonify(compile_schema(_public_form(key)))
    response.mimetype = "application/schema+json"
    return response


@blueprint.post("/forms/<key>/validate")
@limiter.limit(lambda: str(current_app.config["VALIDATE_RATE_LIMIT"]))
def validate_form(key: str) -> Response:
    """Validate a submission without saving it: errors per field, what is shown and required."""
    form = _public_form(key)
    data: Any
    if request.is_json:
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            abort(400, "send the submission as a JSON object")
    else:
        data = coerce_post(form, request.form.to_dict(flat=False), tz=posted_zone())
    result = services().published.answer(form, data)
    return jsonify(
        {
            "valid": result.ok,
            "errors": [error.to_json() for error in result.errors],
            "visible": sorted(result.visible),
            "required": sorted(result.required),
        }
    )


def init_app(app: Flask) -> None:
    parts = (
        blueprint,
        api_instances.blueprint,
        api_tasks.blueprint,
        api_workflows.blueprint,
        api_notifications.blueprint,
        api_views.blueprint,
        api_services.blueprint,
        api_retention.blueprint,
        api_insight.blueprint,
        api_similar.blueprint,
        api_postmortems.blueprint,
        api_problems.blueprint,
    )
    for part in parts:
        csrf.exempt(part)
        app.register_blueprint(part)
    openapi.init_app(app)
