"""The OpenAPI description of the notifications API (`web.api.notifications`): plain data.

`web.api.openapi` adds these paths and schemas to its document, so the views check
their input against them as every other operation does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.service.notifications import KINDS, MAX_PAGE
from web.api.schemas import ID, TIME, Schema, ref

KIND = {"type": "string", "enum": list(KINDS)}

SCHEMAS: dict[str, Schema] = {
    "Notification": {
        "type": "object",
        "additionalProperties": False,
        "required": [
            "id",
            "kind",
            "instance",
            "title",
            "task",
            "actor",
            "summary",
            "link",
            "created_at",
            "read_at",
        ],
        "properties": {
            "id": ID,
            "kind": KIND,
            "instance": {"type": "string", "description": "The instance's number."},
            "title": {"type": "string"},
            "task": {**ID, "type": ["integer", "null"]},
            "actor": {"type": ["string", "null"], "description": "Who caused it, if a person."},
            "summary": {"type": "string"},
            "link": {"type": "string", "description": "The page it concerns, on this server."},
            "created_at": TIME,
            "read_at": {**TIME, "type": ["string", "null"]},
        },
    },
    "NotificationPage": {
        "type": "object",
        "additionalProperties": False,
        "required": ["items", "total", "limit", "offset", "unread"],
        "properties": {
            "items": {"type": "array", "items": ref("Notification")},
            "total": {"type": "integer", "minimum": 0},
            "limit": {"type": "integer", "minimum": 1},
            "offset": {"type": "integer", "minimum": 0},
            "unread": {"type": "integer", "minimum": 0},
        },
    },
    "Unread": {
        "type": "object",
        "additionalProperties": False,
        "required": ["unread", "newest"],
        "properties": {
            "unread": {"type": "integer", "minimum": 0},
            "newest": {"type": "integer", "minimum": 0, "description": "0: none yet."},
        },
    },
    "NotificationSettings": {
        "type": "object",
        "additionalProperties": False,
        "required": ["mail"],
        "properties": {
            "mail": {
                "type": "array",
                "items": KIND,
                "maxItems": len(KINDS),
                "description": "The kinds also sent by mail.",
            }
        },
    },
}


def paths(operation: Callable[..., Schema]) -> dict[str, Any]:
    """Describe the operations, with `operation` (`web.api.openapi._operation`)."""
    paging = [
        {
            "name": "limit",
            "in": "query",
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 50},
        },
        {"$ref": "#/components/parameters/Offset"},
    ]
    one = [{"name": "notification_id", "in": "path", "required": True, "schema": ID}]
    return {
        "/api/v1/notifications": {
            "get": operation(
                "listNotifications",
                "Your notifications, newest first, and how many are unread",
                tag="notifications",
                ok={200: ("A page", "NotificationPage")},
                errors=(),
                parameters=[
                    {
                        "name": "unread",
                        "in": "query",
                        "schema": {
                            "type": "string",
                            "enum": ["true", "false", "1", "0"],
                            "default": "false",
                        },
                        "description": "Only those not read yet.",
                    },
                    *paging,
                ],
            )
        },
        "/api/v1/notifications/{notification_id}/read": {
            "post": operation(
                "readNotification",
                "Mark one of your notifications read",
                tag="notifications",
                ok={200: ("Read; how many are still unread", "Unread")},
                errors=(404, 503),
                parameters=one,
            )
        },
        "/api/v1/notifications/read": {
            "post": operation(
                "readAllNotifications",
                "Mark every notification of yours read",
                tag="notifications",
                ok={200: ("All read", "Unread")},
                errors=(503,),
            )
        },
        "/api/v1/notifications/settings": {
            "get": operation(
                "getNotificationSettings",
                "Which kinds of notification you also get by mail",
                tag="notifications",
                ok={200: ("Your settings", "NotificationSettings")},
                errors=(),
            ),
            "put": operation(
                "setNotificationSettings",
                "Choose which kinds of notification you also get by mail",
                tag="notifications",
                ok={200: ("Saved", "NotificationSettings")},
                errors=(413, 422, 503),
                body="NotificationSettings",
            ),
        },
    }
