"""The API's notifications: my list, marking read, and which kinds I also get by mail.

Each caller sees and marks only their own (`engine.service.notifications`); another
person's notification is not found. This module only translates.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from engine.service.errors import NotFound
from engine.service.notifications import Item, Notifications
from web.api.input import api_auth, body, caller, iso, not_found, query, require_id
from web.common.services import services

blueprint = Blueprint("api_notifications", __name__, url_prefix="/api/v1")


def _notifications() -> Notifications:
    return Notifications(services().commands)


def item_json(item: Item) -> dict[str, Any]:
    return {
        "id": item.id,
        "kind": item.kind,
        "instance": item.number,
        "title": item.title,
        "task": item.task_id,
        "actor": item.actor,
        "summary": item.summary,
        "link": item.link,
        "created_at": iso(item.created_at),
        "read_at": iso(item.read_at),
    }


@blueprint.get("/notifications")
@api_auth()
def list_notifications() -> Response:
    """List my notifications, newest first."""
    username = caller().username
    args = query("listNotifications")
    items, total = _notifications().items(
        username,
        unread_only=args["unread"] in ("true", "1"),
        limit=args["limit"],
        offset=args["offset"],
    )
    unread, _ = _notifications().unread(username)
    return jsonify(
        {
            "items": [item_json(item) for item in items],
            "total": total,
            "limit": args["limit"],
            "offset": args["offset"],
            "unread": unread,
        }
    )


@blueprint.post("/notifications/<int:notification_id>/read")
@api_auth()
def read_one(notification_id: int) -> Response:
    """Mark one of my notifications read."""
    username = caller().username
    require_id(notification_id, f"notification {notification_id}")
    try:
        _notifications().mark_read(username, notification_id)
    except NotFound:
        not_found(f"notification {notification_id}")
    unread, newest = _notifications().unread(username)
    return jsonify({"unread": unread, "newest": newest})


@blueprint.post("/notifications/read")
@api_auth()
def read_all() -> Response:
    """Mark every notification of mine read."""
    username = caller().username
    _notifications().mark_all_read(username)
    unread, newest = _notifications().unread(username)
    return jsonify({"unread": unread, "newest": newest})


@blueprint.get("/notifications/settings")
@api_auth()
def get_settings() -> Response:
    """Say which kinds I also get by mail."""
    return jsonify({"mail": _notifications().mail_kinds(caller().username)})


@blueprint.put("/notifications/settings")
@api_auth()
def put_settings() -> Response:
    """Choose which kinds I also get by mail."""
    wanted = body("NotificationSettings")
    return jsonify({"mail": _notifications().set_mail_kinds(caller().username, wanted["mail"])})
