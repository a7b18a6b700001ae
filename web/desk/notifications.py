"""The bell and its list: my notifications, marking them read, and which I also get by mail.

The bell in the page header shows the unread count the server knew when it drew the
page; `static/bell.js` asks `/notifications/unread` (one count on a partial index) every
`NOTIFICATIONS_POLL_S` seconds while the page is visible, and refreshes the count, and
the inbox or this list when something new arrived. Polling, not server-sent events: the
embedded waitress and gunicorn's synchronous workers give each open stream a thread or
a worker for as long as it stays open
(docs/adr/0049-notifications-are-rows-the-bell-polls-mail-is-caught.md).
"""

from __future__ import annotations

from typing import Any, cast

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)

from engine.service.errors import InvalidInput, NotFound
from engine.service.notifications import KINDS, Notifications
from engine.settings import PAGE_SIZE
from web.auth import me, require, signed_in
from web.common.services import services

blueprint = Blueprint("notifications", __name__, url_prefix="/notifications")

#: The largest page number a list link may ask for.
MAX_PAGE_NUMBER = 10_000


def notifications() -> Notifications:
    return Notifications(services().commands)


@blueprint.get("")
@require()
def index() -> Response:
    """List my notifications, newest first (`?unread=1`: only those I have not read)."""
    unread_only = request.args.get("unread") == "1"
    page = min(max(1, request.args.get("page", 1, type=int) or 1), MAX_PAGE_NUMBER)
    items, total = notifications().items(
        me().username, unread_only=unread_only, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
    )
    html = render_template(
        "notifications/list.html",
        items=items,
        total=total,
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
        unread_only=unread_only,
    )
    return _fresh(Response(html, mimetype="text/html"))


@blueprint.get("/unread")
@require()
def unread() -> Response:
    """Say how many of my notifications are unread, and the newest one's id (for the bell)."""
    count, newest = notifications().unread(me().username)
    return _fresh(jsonify({"unread": count, "newest": newest}))


@blueprint.post("/<int:notification_id>/read")
@require()
def mark_read(notification_id: int) -> Response:
    """Mark one of mine read; someone else's is not found."""
    try:
        notifications().mark_read(me().username, notification_id)
    except NotFound:
        abort(404)
    return _back()


@blueprint.post("/read")
@require()
def mark_all_read() -> Response:
    """Mark every notification of mine read."""
    count = notifications().mark_all_read(me().username)
    flash(f"Marked {count} notification{'s' if count != 1 else ''} read.", "success")
    return _back()


@blueprint.get("/settings")
@require()
def settings() -> Response:
    """Show which kinds of notification I also get by mail."""
    return _settings_page(notifications().mail_kinds(me().username))


@blueprint.post("/settings")
@require()
def save_settings() -> Response:
    """Choose which kinds of notification I also get by mail."""
    chosen = request.form.getlist("mail")
    try:
        notifications().set_mail_kinds(me().username, chosen)
    except InvalidInput as error:
        return _settings_page([k for k in chosen if k in KINDS], error.message, 422)
    flash("Your notification settings were saved.", "success")
    return cast(Response, redirect(url_for("notifications.settings"), 303))


def _settings_page(chosen: list[str], error: str | None = None, status: int = 200) -> Response:
    html = render_template(
        "notifications/settings.html",
        kinds=KINDS,
        chosen=set(chosen),
        error=error,
        has_email=bool(me().email),
    )
    return Response(html, status=status, mimetype="text/html")


def _back() -> Response:
    """Back to the list, keeping its filter (never anywhere else: no open redirect)."""
    unread_only = request.form.get("unread") == "1"
    return cast(
        Response,
        redirect(url_for("notifications.index", unread="1" if unread_only else None), 303),
    )


def _fresh(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


def _bell() -> dict[str, Any]:
    """The unread count for the bell of every page a signed-in person sees."""
    if request.blueprint in ("api", "static") or request.endpoint == "static":
        return {}
    person = signed_in()
    if person is None:
        return {}
    count, newest = notifications().unread(person.username)
    return {
        "bell": {
            "unread": count,
            "newest": newest,
            "poll_s": current_app.config["NOTIFICATIONS_POLL_S"],
        }
    }


def init_app(app: Flask) -> None:
    app.register_blueprint(blueprint)
    app.context_processor(_bell)
