"""The admins' escalation policies page: every policy, and one saved from a JSON document.

For admins only (`require("admin")`); the service checks again and checks every target
exists. A policy with mistakes comes back with each problem and where it is (422).
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, abort, render_template, request

from engine.service.errors import InvalidInput, NotFound
from web.admin import done
from web.auth import me, require
from web.common.services import services

blueprint = Blueprint("admin_policies", __name__, url_prefix="/admin/escalation-policies")

EXAMPLE = {
    "levels": [
        {"notify": [{"schedule": "network-on-call"}], "after": "PT15M"},
        {"notify": [{"group": "network"}], "after": "PT30M"},
    ],
    "repeat": 1,
    "acknowledge_within": "PT1H",
}


@blueprint.get("")
@require("admin")
def policies() -> str:
    values = {"key": "", "name": "", "document": json.dumps(EXAMPLE, indent=2)}
    return _page(values, {})[0]


def _page(values: dict[str, str], errors: dict[str, str], status: int = 200) -> tuple[str, int]:
    found = services().escalation_policies.all()
    page = render_template(
        "oncall/policies.html",
        policies=[(p, json.dumps(p.to_json(), indent=2)) for p in found],
        values=values,
        errors=errors,
    )
    return page, status


@blueprint.post("")
@require("admin")
def save() -> tuple[str, int] | Response:
    values = {name: request.form.get(name, "").strip() for name in ("key", "name", "document")}
    try:
        document: Any = json.loads(values["document"] or "{}")
    except ValueError as error:
        return _page(values, {"document": f"The policy is not JSON: {error}."}, 422)
    try:
        services().escalation_policies.save(
            values["key"], document, name=values["name"], actor=me().username
        )
    except InvalidInput as error:
        said = " ".join(f"{p.pointer or '/'}: {p.message}." for p in error.problems)
        return _page(values, {"document": said or error.message}, 422)
    return done(f"Escalation policy {values['key']} saved.", "admin_policies.policies")


@blueprint.post("/<key>/delete")
@require("admin")
def delete(key: str) -> Response:
    try:
        services().escalation_policies.delete(key, actor=me().username)
    except NotFound:
        abort(404)
    return done(f"Escalation policy {key} deleted.", "admin_policies.policies")
