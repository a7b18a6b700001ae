"""The postmortems' API in the OpenAPI document: a postmortem, a save, an action item."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.service.postmortems import MAX_BODY, MAX_TITLE
from web.api.schemas import Schema, ref

_USER = {"type": "string", "minLength": 1, "maxLength": 80, "pattern": "^[^\\x00]*$"}
_TIME = {"type": "string", "format": "date-time"}
_DAY = {"type": "string", "format": "date", "example": "2026-12-31"}

_ACTION: Schema = {
    "type": "object",
    "additionalProperties": False,
    "required": ["number", "title", "owner", "group", "due", "status", "ended", "holder", "state"],
    "properties": {
        "number": {"type": "string", "description": "The action item's own instance."},
        "title": {"type": "string"},
        "owner": {"type": ["string", "null"], "description": "The person it is given to."},
        "group": {"type": ["string", "null"], "description": "Or the team whose queue has it."},
        "due": {**_DAY, "type": ["string", "null"]},
        "status": {"type": "string", "description": "open, done or dropped."},
        "ended": {"type": "boolean"},
        "holder": {
            "type": ["string", "null"],
            "description": "Who holds its task now, or who completed it.",
        },
        "state": {"type": "string", "description": "Where it stands, in words."},
    },
}

SCHEMAS: dict[str, Schema] = {
    "ActionItem": _ACTION,
    "Postmortem": {
        "type": "object",
        "additionalProperties": False,
        "required": [
            "number",
            "title",
            "body",
            "revision",
            "created_by",
            "created_at",
            "updated_by",
            "updated_at",
            "actions",
            "revisions",
        ],
        "properties": {
            "number": {"type": "string"},
            "title": {"type": "string"},
            "body": {"type": "string", "description": "The text people edit, in Markdown."},
            "revision": {
                "type": "integer",
                "minimum": 1,
                "description": "Send it back with a save; a save over a newer one is a 409.",
            },
            "created_by": {"type": "string"},
            "created_at": _TIME,
            "updated_by": {"type": "string"},
            "updated_at": _TIME,
            "actions": {"type": "array", "items": ref("ActionItem")},
            "revisions": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["revision", "saved_by", "saved_at"],
                    "properties": {
                        "revision": {"type": "integer", "minimum": 1},
                        "saved_by": {"type": "string"},
                        "saved_at": _TIME,
                    },
                },
            },
        },
    },
    "PostmortemText": {
        "type": "object",
        "additionalProperties": False,
        "required": ["body", "revision"],
        "properties": {
            "body": {"type": "string", "minLength": 1, "maxLength": MAX_BODY},
            "revision": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
        },
    },
    "ActionItemNew": {
        "type": "object",
        "additionalProperties": False,
        "required": ["title", "due"],
        "properties": {
            "title": {"type": "string", "minLength": 1, "maxLength": MAX_TITLE},
            "owner": {**_USER, "description": "A person's username; or give `group`."},
            "group": {**_USER, "description": "A group whose queue gets the task."},
            "due": _DAY,
            "details": {"type": "string", "maxLength": 4000},
        },
    },
    "PostmortemMarkdown": {"type": "string", "description": "The whole postmortem, Markdown."},
    "PostmortemPage": {"type": "string", "description": "A whole HTML page that prints cleanly."},
}


def paths(operation: Callable[..., Schema]) -> dict[str, Any]:
    """Describe the postmortem operations (`operation` is `web.api.openapi._operation`)."""
    number: list[Schema] = [{"$ref": "#/components/parameters/Number"}]
    keyed = [*number, {"$ref": "#/components/parameters/IdempotencyKey"}]
    base = "/api/v1/instances/{number}/postmortem"
    return {
        base: {
            "get": operation(
                "getPostmortem",
                "A major incident's postmortem (the service desk); see docs/postmortems.md",
                tag="postmortems",
                ok={200: ("The postmortem", "Postmortem")},
                errors=(403, 404, 422),
                parameters=number,
            ),
            "post": operation(
                "draftPostmortem",
                "Draft the postmortem of a resolved major incident from its timeline",
                tag="postmortems",
                ok={201: ("Drafted", "Postmortem")},
                errors=(403, 404, 409, 422, 503),
                parameters=keyed,
                location=True,
            ),
            "put": operation(
                "savePostmortem",
                "Save the postmortem's text, from the revision it started from (409 if newer)",
                tag="postmortems",
                ok={200: ("Saved", "Postmortem")},
                errors=(403, 404, 409, 413, 422, 503),
                parameters=number,
                body="PostmortemText",
            ),
        },
        f"{base}/actions": {
            "post": operation(
                "addActionItem",
                "Give the postmortem an action item: a task for a person or a team's queue",
                tag="postmortems",
                ok={201: ("Assigned", "ActionItem")},
                errors=(403, 404, 409, 413, 422, 503),
                parameters=keyed,
                body="ActionItemNew",
                location=True,
            )
        },
        f"{base}/markdown": {
            "get": operation(
                "exportPostmortemMarkdown",
                "The whole postmortem as Markdown, its action items last",
                tag="postmortems",
                ok={200: ("Markdown", "PostmortemMarkdown")},
                errors=(403, 404, 422),
                parameters=number,
                media="text/markdown",
            )
        },
        f"{base}/html": {
            "get": operation(
                "exportPostmortemHtml",
                "The whole postmortem as a page that prints cleanly (print it to PDF)",
                tag="postmortems",
                ok={200: ("HTML", "PostmortemPage")},
                errors=(403, 404, 422),
                parameters=number,
                media="text/html",
            )
        },
    }


__all__ = ["SCHEMAS", "paths"]
