"""The API's on-call schedules in the OpenAPI document: schemas and paths."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from web.api.schemas import TIME, Schema

_KEY = {"type": "string", "minLength": 1, "maxLength": 80, "example": "network-on-call"}
_NULLABLE_TEXT = {"type": ["string", "null"]}

SCHEMAS: dict[str, Schema] = {
    "ScheduleList": {
        "type": "object",
        "additionalProperties": False,
        "required": ["items"],
        "properties": {
            "items": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["key", "name", "time_zone"],
                    "properties": {
                        "key": {"type": "string"},
                        "name": {"type": "string"},
                        "time_zone": {"type": "string"},
                    },
                },
            }
        },
    },
    "OnCallNow": {
        "type": "object",
        "additionalProperties": False,
        "required": ["schedule", "at", "person", "layer", "override", "until"],
        "properties": {
            "schedule": {"type": "string"},
            "at": TIME,
            "person": {**_NULLABLE_TEXT, "description": "Who is on call; null: nobody."},
            "layer": {**_NULLABLE_TEXT, "description": "The layer that puts them on call."},
            "override": {"type": "boolean", "description": "An override puts them on call."},
            "until": {
                "type": ["string", "null"],
                "format": "date-time",
                "description": "When their shift ends (within two months), else null.",
            },
        },
    },
}


def paths(operation: Callable[..., Schema]) -> dict[str, Any]:
    """Describe the on-call operations (`operation` is `web.api.openapi._operation`)."""
    return {
        "/api/v1/schedules": {
            "get": operation(
                "listSchedules",
                "The on-call schedules",
                tag="on-call",
                ok={200: ("Schedules by key", "ScheduleList")},
                errors=(),
            )
        },
        "/api/v1/schedules/{key}/oncall": {
            "get": operation(
                "whoIsOnCall",
                "Who is on call for a schedule now, or at a moment",
                tag="on-call",
                ok={200: ("Who, why and until when", "OnCallNow")},
                errors=(404,),
                parameters=[
                    {"name": "key", "in": "path", "required": True, "schema": _KEY},
                    {
                        "name": "at",
                        "in": "query",
                        "schema": TIME,
                        "description": "A moment with its offset (RFC 3339); default now.",
                    },
                ],
            )
        },
    }


__all__ = ["SCHEMAS", "paths"]
