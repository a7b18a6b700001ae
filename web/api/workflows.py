"""The API's workflows: the published ones, one frozen version, and publishing a new one.

Publishing checks the document against everything already published (the forms
and calendars it names must exist) and freezes it as the next version; content
equal to any version already published is that version, and changes nothing, so a
repeat is harmless.
"""

from __future__ import annotations

import re
from pathlib import Path

from flask import Blueprint, Response, jsonify, url_for

from engine.catalog import Document
from web.api import schemas as api_schemas
from web.api.input import (
    MAX_VERSION,
    api_auth,
    body,
    caller,
    created,
    idempotency_key,
    not_found,
    require_id,
)
from web.common.services import services

blueprint = Blueprint("api_workflows", __name__, url_prefix="/api/v1")

#: What a document sent to the API is called in the problems found in it.
SENT = Path("<request body>")
KEY = re.compile(api_schemas.KEY["pattern"])


@blueprint.get("/workflows")
@api_auth()
def list_workflows() -> Response:
    """List the published workflows by key, with their latest version."""
    items = [
        {
            "key": row.key,
            "title": row.title,
            "latest_version": row.latest_version,
            # Versions are numbered 1, 2, ... and never removed.
            "versions": row.latest_version,
            "updated_at": row.updated_at.isoformat(),
        }
        for row in services().definitions.workflows()
    ]
    return jsonify({"items": items})


@blueprint.get("/workflows/<key>/versions/<int:version>")
@api_auth()
def get_version(key: str, version: int) -> Response:
    """Show one published version of a workflow, as it was frozen."""
    require_id(version, f"version {version} of '{key}'", MAX_VERSION)
    if not KEY.fullmatch(key):
        not_found(f"workflow '{key}'")
    row = services().definitions.version("workflow", key, version)
    if row is None:
        not_found(f"version {version} of the workflow '{key}'")
    return jsonify(
        {
            "key": key,
            "version": row.version,
            "published_at": row.published_at.isoformat(),
            "published_by": row.published_by,
            "content": row.content,
        }
    )


@blueprint.post("/workflows")
@api_auth("designer")
def publish() -> Response:
    """Check a workflow document and publish it (designers and admins)."""
    person = caller()
    idempotency_key("publishWorkflow", person)  # checked; publishing is idempotent by content
    content = body("WorkflowDocument")
    (published,) = services().definitions.publish([Document(SENT, content)], person.username)
    payload = {
        "kind": published.kind,
        "key": published.key,
        "version": published.version,
        "created": published.created,
        "latest_version": published.latest,
        "message": published.in_words(),
    }
    if not published.created:
        return jsonify(payload)
    location = url_for("api_workflows.get_version", key=published.key, version=published.version)
    return created(payload, location)
