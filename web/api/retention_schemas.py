"""The API's retention policies and archive in the OpenAPI document: schemas and paths."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.service.retention import ACTIONS, MAX_DAYS, MIN_DAYS
from web.api.schemas import Schema

_KEY = {"type": "string", "minLength": 1, "maxLength": 80, "example": "it-incident"}
_ACTION = {
    "type": "string",
    "enum": list(ACTIONS),
    "description": "keep (forever: the default), or archive or delete the instances "
    "`after_days` days after they ended.",
}
_DAYS = {"type": "integer", "minimum": MIN_DAYS, "maximum": MAX_DAYS}

SCHEMAS: dict[str, Schema] = {
    "RetentionPolicy": {
        "type": "object",
        "additionalProperties": False,
        "required": ["workflow_key", "action", "after_days", "updated_at", "updated_by"],
        "properties": {
            "workflow_key": {"type": "string"},
            "action": _ACTION,
            "after_days": {**_DAYS, "type": ["integer", "null"]},
            "updated_at": {"type": ["string", "null"], "format": "date-time"},
            "updated_by": {"type": ["string", "null"]},
        },
    },
    "RetentionPolicyList": {
        "type": "object",
        "additionalProperties": False,
        "required": ["items"],
        "properties": {
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/RetentionPolicy"}}
        },
    },
    "RetentionPolicyFields": {
        "type": "object",
        "additionalProperties": False,
        "required": ["action"],
        "properties": {"action": _ACTION, "after_days": {**_DAYS, "type": ["integer", "null"]}},
        "description": "archive and delete need after_days; keep takes none.",
    },
    "ArchivedInstance": {
        "type": "object",
        "required": ["format", "number", "instance", "rows"],
        "properties": {
            "format": {"type": "integer"},
            "number": {"type": "string"},
            "instance": {"type": "object", "description": "The instance's row, as it was."},
            "rows": {
                "type": "object",
                "description": "The rows of each table that hung off it, by table.",
                "additionalProperties": {"type": "array", "items": {"type": "object"}},
            },
        },
    },
}


def paths(operation: Callable[..., Schema]) -> dict[str, Any]:
    """Describe the retention operations (`operation` is `web.api.openapi._operation`)."""
    key = [{"name": "workflow_key", "in": "path", "required": True, "schema": _KEY}]
    number = [{"name": "number", "in": "path", "required": True, "schema": {"type": "string"}}]
    return {
        "/api/v1/retention": {
            "get": operation(
                "listRetentionPolicies",
                "The retention policies (a workflow without one keeps its instances forever)",
                tag="retention",
                ok={200: ("Policies by workflow key", "RetentionPolicyList")},
                errors=(),
            )
        },
        "/api/v1/retention/{workflow_key}": {
            "get": operation(
                "getRetentionPolicy",
                "A workflow's retention policy",
                tag="retention",
                ok={200: ("The policy", "RetentionPolicy")},
                errors=(404,),
                parameters=key,
            ),
            "put": operation(
                "putRetentionPolicy",
                "Set a workflow's retention policy (admins); bad values are a 422 and change "
                "nothing",
                tag="retention",
                ok={200: ("The policy now", "RetentionPolicy")},
                errors=(403, 404, 422, 503),
                parameters=key,
                body="RetentionPolicyFields",
            ),
        },
        "/api/v1/archive/{number}": {
            "get": operation(
                "getArchivedInstance",
                "An archived instance with all its history (admins)",
                tag="retention",
                ok={200: ("The archived record", "ArchivedInstance")},
                errors=(403, 404),
                parameters=number,
            )
        },
    }


__all__ = ["SCHEMAS", "paths"]
