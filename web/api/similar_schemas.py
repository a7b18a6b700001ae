"""Similar incidents and the public self-help in the OpenAPI document: parameters, answers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.service.self_help import MAX_TEXT
from engine.service.similar import MAX_SHOWN, SHOWN
from web.api.schemas import NUMBER, TIME, Schema, ref

_TEXT_OR_NULL = {"type": ["string", "null"]}

SCHEMAS: dict[str, Schema] = {
    "LinkedProblem": {
        "type": "object",
        "additionalProperties": False,
        "required": ["number", "title", "status", "workaround"],
        "properties": {
            "number": NUMBER,
            "title": {"type": "string"},
            "status": {"type": "string"},
            "workaround": _TEXT_OR_NULL,
        },
    },
    "SimilarIncident": {
        "type": "object",
        "additionalProperties": False,
        "required": [
            "number",
            "title",
            "status",
            "outcome",
            "started_at",
            "resolved_at",
            "resolved_by",
            "resolution",
            "time_to_resolve_s",
            "same_service",
            "same_category",
            "score",
            "problem",
        ],
        "properties": {
            "number": NUMBER,
            "title": {"type": "string"},
            "status": {"type": "string"},
            "outcome": {
                "type": ["string", "null"],
                "description": "How it ended (`resolved`, ...); null while it stands resolved.",
            },
            "started_at": TIME,
            "resolved_at": {**TIME, "type": ["string", "null"]},
            "resolved_by": {
                "type": ["string", "null"],
                "description": "The last person other than its requester who completed a task.",
            },
            "resolution": {
                "type": ["string", "null"],
                "description": "Its `resolution` field, else the resolver's last comment.",
            },
            "time_to_resolve_s": {
                "type": ["number", "null"],
                "description": "Seconds, as Insight counts them (docs/insight.md); wall time "
                "for an incident Insight has not read yet.",
            },
            "same_service": {"type": "boolean"},
            "same_category": {"type": "boolean"},
            "score": {
                "type": "number",
                "description": "Text score with its boosts; higher is more alike (within "
                "one answer only).",
            },
            "problem": {"oneOf": [ref("LinkedProblem"), {"type": "null"}]},
        },
    },
    "SimilarIncidents": {
        "type": "object",
        "additionalProperties": False,
        "required": ["number", "terms", "items"],
        "properties": {
            "number": NUMBER,
            "terms": {
                "type": "array",
                "items": {"type": "string"},
                "description": "The words of its title and description looked for.",
            },
            "items": {"type": "array", "items": ref("SimilarIncident")},
        },
    },
    "SelfHelpQuestion": {
        "type": "object",
        "additionalProperties": False,
        "required": ["text"],
        "properties": {
            "text": {
                "type": "string",
                "maxLength": MAX_TEXT,
                "description": "What the requester typed about their trouble so far.",
            }
        },
    },
    "SelfHelpAnswers": {
        "type": "object",
        "additionalProperties": False,
        "required": ["answers"],
        "properties": {
            "answers": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["title", "workaround"],
                    "properties": {
                        "title": {"type": "string"},
                        "workaround": {"type": "string"},
                    },
                },
            }
        },
    },
}


def paths(operation: Callable[..., Schema]) -> dict[str, Any]:
    """Describe the two operations (`operation` is `web.api.openapi._operation`)."""
    limit: Schema = {
        "name": "limit",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_SHOWN, "default": SHOWN},
    }
    return {
        "/api/v1/instances/{number}/similar": {
            "get": operation(
                "similarIncidents",
                "The resolved incidents most like this one, and how each was resolved "
                "(service desk and admins); see docs/self-help.md",
                tag="instances",
                ok={200: ("Most alike first", "SimilarIncidents")},
                errors=(403, 404),
                parameters=[{"$ref": "#/components/parameters/Number"}, limit],
            )
        },
        "/api/v1/self-help": {
            "post": operation(
                "selfHelp",
                "The workarounds the service desk published for known errors that match a "
                "requester's text: titles and workarounds only; no account needed",
                tag="forms",
                ok={200: ("Best match first", "SelfHelpAnswers")},
                errors=(413, 422, 429),
                body="SelfHelpQuestion",
                public=True,
            )
        },
    }


__all__ = ["SCHEMAS", "paths"]
