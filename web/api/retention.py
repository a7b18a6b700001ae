"""The API's retention policies (anyone signed in reads them, admins set them) and archive.

The rules are `engine.service.retention`'s: only admins set a policy or read an archived
instance, a policy names a workflow that exists, and its days are within bounds.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from flask import Blueprint, Response, jsonify

from engine.service.retention import PolicyRow, Retention
from web.api.input import api_auth, body, caller
from web.common.services import services

blueprint = Blueprint("api_retention", __name__, url_prefix="/api/v1")


def _retention() -> Retention:
    return Retention(services().commands)


def _json(row: PolicyRow) -> dict[str, Any]:
    values = dataclasses.asdict(row)
    values["updated_at"] = row.updated_at.isoformat() if row.updated_at else None
    return values


@blueprint.get("/retention")
@api_auth()
def list_policies() -> Response:
    """List the retention policies, by workflow key."""
    return jsonify({"items": [_json(row) for row in _retention().policies()]})


@blueprint.get("/retention/<workflow_key>")
@api_auth()
def get_policy(workflow_key: str) -> Response:
    """Show a workflow's policy (keep, when it has none)."""
    return jsonify(_json(_retention().policy(workflow_key)))


@blueprint.put("/retention/<workflow_key>")
@api_auth()
def put_policy(workflow_key: str) -> Response:
    """Set a workflow's policy (admins)."""
    fields = body("RetentionPolicyFields")
    row = _retention().set_policy(
        workflow_key, fields["action"], fields.get("after_days"), actor=caller().username
    )
    return jsonify(_json(row))


@blueprint.get("/archive/<number>")
@api_auth()
def get_archived(number: str) -> Response:
    """Show an archived instance's record (admins)."""
    return jsonify(_retention().archived(number, actor=caller().username))
