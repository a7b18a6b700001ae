"""The admins' outbox page: every mail and webhook sent, to whom, when, its status and body.

Its own blueprint under `/admin/outbox`, for admins only (`require("admin")`, and the
service checks again). What each row says comes from `engine.service.outbox_log`.
"""

from __future__ import annotations

from flask import Blueprint, Flask, abort, render_template, request

from engine.core.values import MAX_ID
from engine.service.errors import NotFound
from engine.service.outbox_log import STATUSES, OutboxLog
from engine.settings import PAGE_SIZE
from web.auth import me, require
from web.common.services import services

blueprint = Blueprint("admin_outbox", __name__, url_prefix="/admin/outbox")

#: The largest page number a link may ask for.
MAX_PAGE_NUMBER = 10_000


def _log() -> OutboxLog:
    return OutboxLog(services().commands)


@blueprint.get("")
@require("admin")
def outbox() -> str:
    """List the messages, newest first, optionally only those of one status."""
    status = request.args.get("status") or None
    if status not in (None, *STATUSES):
        status = None
    page = min(max(1, request.args.get("page", 1, type=int) or 1), MAX_PAGE_NUMBER)
    entries, total = _log().entries(
        me().username, status=status, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
    )
    return render_template(
        "admin/outbox.html",
        entries=entries,
        total=total,
        status=status,
        statuses=STATUSES,
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
    )


@blueprint.get("/<int:outbox_id>")
@require("admin")
def message(outbox_id: int) -> str:
    """Show one message: to whom, when, its status and failure, and the mail's bodies."""
    if outbox_id > MAX_ID:  # a BIGINT: larger names no message
        abort(404)
    try:
        detail = _log().entry(me().username, outbox_id)
    except NotFound:
        abort(404)
    return render_template("admin/outbox_message.html", detail=detail, entry=detail.entry)


def init_app(app: Flask) -> None:
    app.register_blueprint(blueprint)
