"""The dashboards' API in the OpenAPI document: its query parameters, its answer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.service.insight import LIST_FILTERS, PANELS
from web.api.schemas import Schema

_DAY = {"type": "string", "format": "date", "example": "2026-11-01"}
_TABLE: Schema = {
    "type": "object",
    "additionalProperties": False,
    "required": ["title", "columns", "rows"],
    "properties": {
        "title": {"type": "string"},
        "columns": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["key", "heading", "unit"],
                "properties": {
                    "key": {"type": "string"},
                    "heading": {"type": "string"},
                    "unit": {
                        "type": "string",
                        "enum": ["text", "count", "seconds", "percent", "date"],
                        "description": "seconds: a duration; percent: 0-100; date: an ISO day.",
                    },
                },
            },
        },
        "rows": {
            "type": "array",
            "items": {"type": "object", "description": "A value per column key (null: none)."},
        },
    },
}

SCHEMAS: dict[str, Schema] = {
    "InsightTable": _TABLE,
    "Insight": {
        "type": "object",
        "additionalProperties": False,
        "required": ["filters", "at", "complete", "panels"],
        "properties": {
            "filters": {"type": "object", "description": "The filters read, as a query."},
            "at": {"type": "string", "format": "date-time"},
            "complete": {
                "type": "boolean",
                "description": "False while some incidents' figures are still being read (the "
                "first views after an upgrade): the numbers leave those out.",
            },
            "panels": {
                "type": "object",
                "additionalProperties": {"$ref": "#/components/schemas/InsightTable"},
                "propertyNames": {"enum": list(PANELS)},
            },
        },
    },
}


def _list(name: str) -> Schema:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "explode": True,
        "schema": {"type": "array", "items": {"type": "string", "maxLength": 80}},
        "description": f"Only incidents of these {name} values (repeat the parameter).",
    }


def paths(operation: Callable[..., Schema]) -> dict[str, Any]:
    """Describe the dashboards' operation (`operation` is `web.api.openapi._operation`)."""
    parameters: list[Schema] = [
        {"name": "from", "in": "query", "required": False, "schema": _DAY},
        {"name": "to", "in": "query", "required": False, "schema": _DAY},
        {
            "name": "bucket",
            "in": "query",
            "required": False,
            "schema": {"type": "string", "enum": ["day", "week"]},
        },
        {
            "name": "panel",
            "in": "query",
            "required": False,
            "explode": True,
            "schema": {"type": "array", "items": {"type": "string", "enum": list(PANELS)}},
        },
        *(_list(name) for name in LIST_FILTERS),
    ]
    return {
        "/api/v1/insight": {
            "get": operation(
                "getInsight",
                "The dashboards' panels (service desk and admins); see docs/insight.md",
                tag="insight",
                ok={200: ("The panels asked for", "Insight")},
                errors=(403, 422),
                parameters=parameters,
            )
        }
    }


__all__ = ["SCHEMAS", "paths"]
