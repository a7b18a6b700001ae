"""The API's service catalogue in the OpenAPI document: schemas and paths."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from web.api.schemas import Schema

_KEY = {"type": "string", "minLength": 1, "maxLength": 80, "example": "payments"}
_NULLABLE_KEY = {"type": ["string", "null"]}
_RULES = {
    "type": "object",
    "additionalProperties": {"type": "string", "minLength": 1},
    "description": "A sender's severity to a priority of the workflow.",
    "example": {"critical": "P1", "error": "P2", "warning": "P3", "info": "P4"},
}
_START = {"type": "object", "description": "The start form values an alert's incident has."}
_REFIRE = {
    "type": "string",
    "enum": ["new", "reopen"],
    "description": "An alert firing again after its incident ended: a new incident, or the "
    "ended one reopened (when its workflow can).",
}
_KEYS = {
    "owner_group": "The group that owns it.",
    "schedule_key": "Its on-call schedule (one that exists).",
    "policy_key": "Its escalation policy (one that exists).",
    "calendar": "Its business calendar.",
}


def _service(required: bool) -> Schema:
    properties: dict[str, Any] = {
        "name": {"type": "string", "example": "Payments"},
        "description": {"type": "string"},
        **{name: {**_NULLABLE_KEY, "description": text} for name, text in _KEYS.items()},
        "workflow_key": {"type": "string", "description": "The workflow its incidents run."},
        "severity_rules": _RULES,
        "start_data": _START,
        "refire": _REFIRE,
    }
    schema: Schema = {"type": "object", "additionalProperties": False, "properties": properties}
    if required:
        properties["key"] = {"type": "string"}
        schema["required"] = ["key", *properties.keys() - {"key"}]
        schema["required"].sort()
    return schema


SCHEMAS: dict[str, Schema] = {
    "Service": _service(required=True),
    "ServiceList": {
        "type": "object",
        "additionalProperties": False,
        "required": ["items"],
        "properties": {
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/Service"}}
        },
    },
    "ServiceFields": {
        **_service(required=False),
        "description": "What to set; left out: kept (a new service: the default); null clears "
        "a key.",
    },
}


def paths(operation: Callable[..., Schema]) -> dict[str, Any]:
    """Describe the catalogue's operations (`operation` is `web.api.openapi._operation`)."""
    key = [{"name": "key", "in": "path", "required": True, "schema": _KEY}]
    deleted = operation(
        "deleteService",
        "Remove a service and its integrations (admins); its incidents keep its key. Refused "
        "(409) while a mailbox files its mail under it, or another service's start data or a "
        "mailbox's defaults name it",
        tag="services",
        ok={},
        errors=(403, 404, 409, 503),
        parameters=key,
    )
    deleted["responses"]["204"] = {"description": "Deleted"}
    return {
        "/api/v1/services": {
            "get": operation(
                "listServices",
                "The service catalogue",
                tag="services",
                ok={200: ("Services by key", "ServiceList")},
                errors=(),
            )
        },
        "/api/v1/services/{key}": {
            "get": operation(
                "getService",
                "One service",
                tag="services",
                ok={200: ("The service", "Service")},
                errors=(404,),
                parameters=key,
            ),
            "put": operation(
                "putService",
                "Add a service or change it (admins). Its group, workflow, schedule and "
                "policy must exist; bad fields are a 422 naming each, and change nothing.",
                tag="services",
                ok={200: ("The changed service", "Service"), 201: ("The new service", "Service")},
                errors=(403, 409, 422, 503),
                parameters=key,
                body="ServiceFields",
                location=True,
            ),
            "delete": deleted,
        },
    }


__all__ = ["SCHEMAS", "paths"]
