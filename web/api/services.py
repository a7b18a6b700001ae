"""The API's service catalogue: list and show services (anyone signed in), put and delete (admins).

The rules are the catalogue's (`engine.service.catalogue`): only admins change it, and a
service names only a group, workflow, on-call schedule and escalation policy that exist.
`PUT` adds the service or changes it; the fields it leaves out are kept (or, for a new
service, take their defaults), and `null` clears a key.
"""

from __future__ import annotations

import dataclasses

from flask import Blueprint, Response, jsonify, url_for

from web.api.input import api_auth, body, caller, created
from web.common.services import services

blueprint = Blueprint("api_services", __name__, url_prefix="/api/v1")


@blueprint.get("/services")
@api_auth()
def list_services() -> Response:
    """List the services, by key."""
    rows = services().catalogue.services()
    return jsonify({"items": [dataclasses.asdict(row) for row in rows]})


@blueprint.get("/services/<key>")
@api_auth()
def get_service(key: str) -> Response:
    """Show one service."""
    return jsonify(dataclasses.asdict(services().catalogue.service(key)))


@blueprint.put("/services/<key>")
@api_auth()
def put_service(key: str) -> Response:
    """Add a service (201) or change it (200): admins only."""
    fields = body("ServiceFields")
    row, new = services().catalogue.put_service(key, fields, actor=caller().username)
    if new:
        return created(dataclasses.asdict(row), url_for("api_services.get_service", key=row.key))
    return jsonify(dataclasses.asdict(row))


@blueprint.delete("/services/<key>")
@api_auth()
def delete_service(key: str) -> Response:
    """Remove a service and its integrations (admins); its incidents keep its key."""
    services().catalogue.delete_service(key, actor=caller().username)
    return Response(status=204)
