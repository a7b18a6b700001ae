"""Problems and recurring incidents in the OpenAPI document: schemas and paths."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.service.problems import MAX_DESCRIPTION, MAX_INCIDENTS, MAX_TITLE
from engine.service.recurring import MAX_AT_LEAST, MAX_DAYS, MIN_AT_LEAST, MIN_DAYS
from web.api.schemas import NUMBER, Schema

_TEXT = {"type": "string", "maxLength": 10_000}
_NULLABLE_TEXT = {"type": ["string", "null"]}
_LINKED: Schema = {
    "type": "object",
    "additionalProperties": False,
    "required": ["number", "title", "status", "ended"],
    "properties": {
        "number": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "string"},
        "ended": {"type": "boolean"},
    },
}
_LINKED_LIST = {"type": "array", "items": {"$ref": "#/components/schemas/ProblemIncident"}}

SCHEMAS: dict[str, Schema] = {
    "ProblemIncident": _LINKED,
    "Problem": {
        "type": "object",
        "additionalProperties": False,
        "required": [
            "number",
            "title",
            "status",
            "ended",
            "service",
            "category",
            "root_cause",
            "workaround",
            "publish_workaround",
            "resolution",
            "incidents",
        ],
        "properties": {
            "number": {"type": "string", "example": "PRB-000001"},
            "title": {"type": "string"},
            "status": {
                "type": "string",
                "description": "investigating, known_error (root cause and workaround "
                "recorded), resolved (ended); cancelled when cancelled.",
            },
            "ended": {"type": "boolean"},
            "service": _NULLABLE_TEXT,
            "category": _NULLABLE_TEXT,
            "root_cause": _NULLABLE_TEXT,
            "workaround": _NULLABLE_TEXT,
            "publish_workaround": {
                "type": "boolean",
                "description": "Requesters may see the workaround on the public form.",
            },
            "resolution": _NULLABLE_TEXT,
            "incidents": {**_LINKED_LIST, "description": "Linked incidents, oldest link first."},
        },
    },
    "IncidentProblem": {
        "type": "object",
        "additionalProperties": False,
        "required": ["problem"],
        "properties": {
            "problem": {
                "description": "The incident's problem (null: none).",
                "oneOf": [
                    {"type": "null"},
                    {
                        "type": "object",
                        "additionalProperties": False,
                        "required": [
                            "number",
                            "title",
                            "status",
                            "ended",
                            "root_cause",
                            "workaround",
                            "publish_workaround",
                        ],
                        "properties": {
                            "number": {"type": "string"},
                            "title": {"type": "string"},
                            "status": {"type": "string"},
                            "ended": {"type": "boolean"},
                            "root_cause": _NULLABLE_TEXT,
                            "workaround": _NULLABLE_TEXT,
                            "publish_workaround": {"type": "boolean"},
                        },
                    },
                ],
            }
        },
    },
    "OpenProblem": {
        "type": "object",
        "additionalProperties": False,
        "required": ["incidents"],
        "properties": {
            "incidents": {
                "type": "array",
                "items": NUMBER,
                "minItems": 1,
                "maxItems": MAX_INCIDENTS,
                "description": "The incidents it is opened from; each is linked to it.",
            },
            "title": {
                "type": "string",
                "maxLength": MAX_TITLE,
                "description": "Left out: the first incident's title.",
            },
            "description": {"type": "string", "maxLength": MAX_DESCRIPTION},
        },
    },
    "LinkIncident": {
        "type": "object",
        "additionalProperties": False,
        "required": ["number"],
        "properties": {"number": NUMBER},
    },
    "KnownError": {
        "type": "object",
        "additionalProperties": False,
        "required": ["root_cause", "workaround"],
        "properties": {
            "root_cause": _TEXT,
            "workaround": _TEXT,
            "publish_workaround": {"type": "boolean", "default": False},
        },
    },
    "ProblemResolution": {
        "type": "object",
        "additionalProperties": False,
        "required": ["resolution"],
        "properties": {"resolution": _TEXT},
    },
    "RecurringProposals": {
        "type": "object",
        "additionalProperties": False,
        "required": ["days", "at_least", "proposals"],
        "properties": {
            "days": {"type": "integer"},
            "at_least": {"type": "integer"},
            "proposals": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["rule", "key", "words", "reason", "title", "incidents"],
                    "properties": {
                        "rule": {"type": "string", "enum": ["alert", "service", "category"]},
                        "key": {"type": "string"},
                        "words": {"type": "array", "items": {"type": "string"}},
                        "reason": {"type": "string"},
                        "title": {"type": "string"},
                        "incidents": _LINKED_LIST,
                    },
                },
            },
        },
    },
}


def paths(operation: Callable[..., Schema]) -> dict[str, Any]:
    """Describe the problems' operations (`operation` is `web.api.openapi._operation`)."""
    key = [{"$ref": "#/components/parameters/IdempotencyKey"}]
    number = [{"name": "number", "in": "path", "required": True, "schema": {"type": "string"}}]
    incident = [{"name": "incident", "in": "path", "required": True, "schema": {"type": "string"}}]
    done = {200: ("The problem now", "Problem")}
    return {
        "/api/v1/problems": {
            "post": operation(
                "openProblem",
                "Open a problem from incidents, each linked to it (the service desk). An "
                "incident already linked to a problem is a 409 naming it.",
                tag="problems",
                ok={201: ("The new problem", "Problem")},
                errors=(403, 404, 409, 422, 503),
                parameters=key,
                body="OpenProblem",
                location=True,
            )
        },
        "/api/v1/problems/{number}": {
            "get": operation(
                "getProblem",
                "A problem, with its root cause, workaround and incidents (the service desk)",
                tag="problems",
                ok={200: ("The problem", "Problem")},
                errors=(403, 404),
                parameters=number,
            )
        },
        "/api/v1/problems/{number}/incidents": {
            "post": operation(
                "linkIncidentToProblem",
                "Link an incident to an open problem (the service desk); an incident has one "
                "problem at most",
                tag="problems",
                ok=done,
                errors=(403, 404, 409, 422, 503),
                parameters=number + key,
                body="LinkIncident",
            )
        },
        "/api/v1/problems/{number}/incidents/{incident}": {
            "delete": operation(
                "unlinkIncidentFromProblem",
                "Take an incident off its problem (the service desk)",
                tag="problems",
                ok=done,
                errors=(403, 404, 422, 503),
                parameters=number + incident + key,
            )
        },
        "/api/v1/problems/{number}/known-error": {
            "post": operation(
                "recordKnownError",
                "Record the root cause and workaround: completes the problem's investigate "
                "task, so only whom the task's rules let (its group) may",
                tag="problems",
                ok=done,
                errors=(403, 404, 409, 422, 503),
                parameters=number + key,
                body="KnownError",
            )
        },
        "/api/v1/problems/{number}/resolve": {
            "post": operation(
                "resolveProblem",
                "Resolve a known error, saying what fixed it: completes its fix task; the "
                "owners of its incidents are told",
                tag="problems",
                ok=done,
                errors=(403, 404, 409, 422, 503),
                parameters=number + key,
                body="ProblemResolution",
            )
        },
        "/api/v1/instances/{number}/problem": {
            "get": operation(
                "getIncidentProblem",
                "An incident's problem, with its root cause and workaround (the service desk)",
                tag="problems",
                ok={200: ("The problem, or null", "IncidentProblem")},
                errors=(403, 404),
                parameters=number,
            )
        },
        "/api/v1/recurring": {
            "get": operation(
                "listRecurringIncidents",
                "Groups of recent incidents alike enough to propose a problem for, each with "
                "why (the service desk); see docs/problems.md",
                tag="problems",
                ok={200: ("The proposals", "RecurringProposals")},
                errors=(403,),
                parameters=[
                    {
                        "name": "days",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "integer", "minimum": MIN_DAYS, "maximum": MAX_DAYS},
                    },
                    {
                        "name": "at_least",
                        "in": "query",
                        "required": False,
                        "schema": {
                            "type": "integer",
                            "minimum": MIN_AT_LEAST,
                            "maximum": MAX_AT_LEAST,
                        },
                    },
                ],
            )
        },
    }


__all__ = ["SCHEMAS", "paths"]
