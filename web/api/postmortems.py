"""A major incident's postmortem over the API: read, draft, save, action items, exports.

The rules are `engine.service.postmortems`': the service desk only, major incidents only,
drafted once the incident is resolved, a save over a newer revision refused (409).
"""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Any

from flask import Blueprint, Response, jsonify, url_for

from engine.service.postmortems import ActionItem, Postmortem, Postmortems
from web.api.input import (
    api_auth,
    body,
    caller,
    created,
    idempotency_key,
    iso,
    not_found,
    refuse,
)
from web.common.services import services

blueprint = Blueprint("api_postmortems", __name__, url_prefix="/api/v1")


def _postmortems() -> Postmortems:
    return Postmortems(services().commands)


def _action(item: ActionItem) -> dict[str, Any]:
    values = dataclasses.asdict(item)
    values["due"] = item.due.isoformat() if item.due else None
    values["state"] = item.state
    return values


def _json(found: Postmortem) -> dict[str, Any]:
    return {
        "number": found.number,
        "title": found.title,
        "body": found.body,
        "revision": found.revision,
        "created_by": found.created_by,
        "created_at": iso(found.created_at),
        "updated_by": found.updated_by,
        "updated_at": iso(found.updated_at),
        "actions": [_action(item) for item in found.actions],
        "revisions": [
            {"revision": r.revision, "saved_by": r.saved_by, "saved_at": iso(r.saved_at)}
            for r in found.revisions
        ],
    }


def _where(number: str) -> str:
    return url_for("api_postmortems.get_postmortem", number=number)


@blueprint.get("/instances/<number>/postmortem")
@api_auth()
def get_postmortem(number: str) -> Response:
    """Show an incident's postmortem (404 until it is drafted)."""
    found = _postmortems().postmortem(number, actor=caller().username)
    if found is None:
        not_found(f"{number} has no postmortem yet")
    return jsonify(_json(found))


@blueprint.post("/instances/<number>/postmortem")
@api_auth()
def draft_postmortem(number: str) -> Response:
    """Draft the postmortem from the incident's timeline."""
    person = caller()
    key = idempotency_key("draftPostmortem", person)
    found = _postmortems().draft(number, actor=person.username, key=key)
    return created(_json(found), _where(number))


@blueprint.put("/instances/<number>/postmortem")
@api_auth()
def save_postmortem(number: str) -> Response:
    """Save the text, from the revision it started from."""
    given = body("PostmortemText")
    found = _postmortems().save(number, given["body"], given["revision"], actor=caller().username)
    return jsonify(_json(found))


@blueprint.post("/instances/<number>/postmortem/actions")
@api_auth()
def add_action_item(number: str) -> Response:
    """Give the postmortem an action item."""
    person = caller()
    key = idempotency_key("addActionItem", person)
    given = body("ActionItemNew")
    try:
        due = date.fromisoformat(given["due"])
    except ValueError:
        error = {"field": "due", "pointer": "/due", "message": "not a date, like 2026-12-31"}
        refuse(422, "Some of what you sent cannot be used.", "invalid", [error])
    item = _postmortems().add_action(
        number,
        given["title"],
        due=due,
        actor=person.username,
        owner=given.get("owner"),
        group=given.get("group"),
        details=given.get("details"),
        key=key,
    )
    return created(_action(item), url_for("api_instances.get", number=item.number))


@blueprint.get("/instances/<number>/postmortem/markdown")
@api_auth()
def export_postmortem_markdown(number: str) -> Response:
    """The whole postmortem as Markdown."""
    text = _postmortems().export(number, actor=caller().username, form="markdown")
    return Response(text, mimetype="text/markdown")


@blueprint.get("/instances/<number>/postmortem/html")
@api_auth()
def export_postmortem_html(number: str) -> Response:
    """The whole postmortem as a page that prints cleanly."""
    text = _postmortems().export(number, actor=caller().username, form="html")
    return Response(text, mimetype="text/html")
