"""The API's instance list and saved views in the OpenAPI document: parameters, schemas, paths.

The filters are plain text here: the service reads them (`engine.service.filters`), so
the API and every other door refuse the same values with the same words.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.service.filters import FILTERS, SORTS
from web.api.schemas import ID, NUMBER, TEXT, TIME, Schema, ref

_FILTER_HELP = {
    "workflow": "Workflow keys, comma separated (any of them).",
    "service": "Service keys of the catalogue, comma separated: the service it is filed under.",
    "status": "Statuses, comma separated.",
    "step": "Steps with an open task, comma separated.",
    "priority": "Priorities, comma separated.",
    "assignee": "Holders of an open task: usernames, `me`, or `none` (still queued).",
    "group": "Groups with an open task: keys, or `mine` (the caller's groups).",
    "requester": "Requesters: usernames or `me`.",
    "sla": "SLA states (`breached`, `due_soon` or `at_risk`, `on_track` or `ok`, `none`), "
    "optionally of one clock: `response:breached`.",
    "created": "A date range: `2026-12-01`, `2026-12-01..2026-12-31`, `>=-7d`, `..today`.",
    "updated": "A date range, as `created`.",
    "ended": "A date range, as `created`.",
    "text": "Words in the number, title, description or comments (each the start of a word).",
}

#: The list's query parameters: the filters, a search line, a saved view, sort and paging.
LIST_PARAMETERS: list[Schema] = [
    *({"name": n, "in": "query", "schema": TEXT, "description": _FILTER_HELP[n]} for n in FILTERS),
    {
        "name": "q",
        "in": "query",
        "schema": TEXT,
        "description": "A search line: `name:value` words are filters, the rest is `text`.",
    },
    {
        "name": "view",
        "in": "query",
        "schema": ID,
        "description": "A saved view whose filters and sort apply; other parameters add to them.",
    },
    {
        "name": "sort",
        "in": "query",
        "schema": {"type": "string", "enum": [*SORTS, *(f"-{s}" for s in SORTS)]},
        "description": "A column; a leading `-` sorts downwards. Default `-created`.",
    },
    {
        "name": "cursor",
        "in": "query",
        "schema": {"type": "string", "maxLength": 400, "pattern": "^[A-Za-z0-9_-]*$"},
        "description": "The `next` of the page before: pages are read by seek, as fast deep "
        "in the list as at its start.",
    },
    {"$ref": "#/components/parameters/Limit"},
    {"$ref": "#/components/parameters/Offset"},
]

_NULLABLE_TEXT = {"type": ["string", "null"]}
_FILTER_VALUES = {
    "type": "object",
    "propertyNames": {"enum": list(FILTERS)},
    "additionalProperties": {"type": "string", "maxLength": 200},
}
_NAME = {"type": "string", "minLength": 1, "maxLength": 80}
_GROUP = {"type": ["string", "null"], "maxLength": 80}
_SORT = {"type": "string", "enum": [*SORTS, *(f"-{s}" for s in SORTS)]}
SLA_STATE = {"type": "string", "enum": ["breached", "due_soon", "on_track", "none"]}

SCHEMAS: dict[str, Schema] = {
    "InstanceSummary": {
        "type": "object",
        "additionalProperties": False,
        "required": [
            "number",
            "title",
            "workflow",
            "status",
            "priority",
            "requester",
            "service",
            "started_at",
            "updated_at",
            "ended_at",
            "sla_due_at",
            "sla_state",
            "sla",
            "holders",
            "steps",
        ],
        "properties": {
            "number": NUMBER,
            "title": {"type": "string"},
            "workflow": {"type": "string"},
            "status": {"type": "string"},
            "priority": _NULLABLE_TEXT,
            "requester": _NULLABLE_TEXT,
            "service": {
                **_NULLABLE_TEXT,
                "description": "The key of the service it is filed under (an incident's).",
            },
            "started_at": TIME,
            "updated_at": TIME,
            "ended_at": {"type": ["string", "null"], "format": "date-time"},
            "sla_due_at": {"type": ["string", "null"], "format": "date-time"},
            "sla_state": SLA_STATE,
            "sla": {
                "type": "object",
                "additionalProperties": False,
                "required": ["response", "resolution"],
                "properties": {"response": SLA_STATE, "resolution": SLA_STATE},
            },
            "holders": {"type": "array", "items": {"type": "string"}},
            "steps": {"type": "array", "items": {"type": "string"}},
        },
    },
    "InstancePage": {
        "type": "object",
        "additionalProperties": False,
        "required": ["items", "total", "total_exact", "limit", "offset", "next"],
        "properties": {
            "items": {"type": "array", "items": ref("InstanceSummary")},
            "total": {"type": "integer", "minimum": 0},
            "total_exact": {
                "type": "boolean",
                "description": "False when more than 10,000 match: `total` says at least.",
            },
            "limit": {"type": "integer", "minimum": 1},
            "offset": {"type": "integer", "minimum": 0},
            "next": {"type": ["string", "null"], "description": "The next page's `cursor`."},
        },
    },
    "SavedView": {
        "type": "object",
        "additionalProperties": False,
        "required": [
            "id",
            "name",
            "owner",
            "group",
            "filters",
            "sort",
            "editable",
            "created_at",
            "updated_at",
        ],
        "properties": {
            "id": ID,
            "name": {"type": "string"},
            "owner": {"type": "string"},
            "group": _NULLABLE_TEXT,
            "filters": _FILTER_VALUES,
            "sort": _SORT,
            "editable": {"type": "boolean"},
            "created_at": TIME,
            "updated_at": TIME,
        },
    },
    "SavedViewList": {
        "type": "object",
        "additionalProperties": False,
        "required": ["items"],
        "properties": {"items": {"type": "array", "items": ref("SavedView")}},
    },
    "NewSavedView": {
        "type": "object",
        "additionalProperties": False,
        "required": ["name"],
        "properties": {"name": _NAME, "filters": _FILTER_VALUES, "sort": _SORT, "group": _GROUP},
    },
    "SavedViewChange": {
        "type": "object",
        "additionalProperties": False,
        "properties": {"name": _NAME, "filters": _FILTER_VALUES, "sort": _SORT, "group": _GROUP},
    },
    "Csv": {"type": "string", "description": "CSV, a header line first."},
}


def paths(operation: Callable[..., Schema]) -> dict[str, Any]:
    """Describe the saved views' operations (the list itself is `listInstances`)."""
    view_id = [{"name": "view_id", "in": "path", "required": True, "schema": ID}]
    deleted = operation(
        "deleteView",
        "Delete a view; its owner only",
        tag="views",
        ok={},
        errors=(403, 404, 503),
        parameters=view_id,
    )
    deleted["responses"]["204"] = {"description": "Deleted"}
    return {
        "/api/v1/views": {
            "get": operation(
                "listViews",
                "Your saved views and those shared with your groups, by name",
                tag="views",
                ok={200: ("The views", "SavedViewList")},
                errors=(),
            ),
            "post": operation(
                "createView",
                "Save a view of the instance list (filters and sort), shared with one of your "
                "groups if `group` is given",
                tag="views",
                ok={201: ("Saved", "SavedView")},
                errors=(403, 409, 413, 422, 503),
                body="NewSavedView",
                location=True,
            ),
        },
        "/api/v1/views/{view_id}": {
            "get": operation(
                "getView",
                "A saved view",
                tag="views",
                ok={200: ("The view", "SavedView")},
                errors=(404,),
                parameters=view_id,
            ),
            "patch": operation(
                "changeView",
                "Rename a view, change its filters or sort, or share it (`group`: null stops "
                "sharing); its owner only",
                tag="views",
                ok={200: ("Changed", "SavedView")},
                errors=(403, 404, 409, 413, 422, 503),
                parameters=view_id,
                body="SavedViewChange",
            ),
            "delete": deleted,
        },
        "/api/v1/views/{view_id}/export": {
            "get": operation(
                "exportView",
                "The instances of a saved view as CSV (at most 100,000 rows; cells that a "
                "spreadsheet would run as a formula start with an apostrophe)",
                tag="views",
                ok={200: ("CSV", "Csv")},
                errors=(404,),
                parameters=view_id,
                media="text/csv",
            )
        },
    }
