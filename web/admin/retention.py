"""The admins' retention page: each workflow's policy, and archived instances by number.

Its own blueprint under `/admin/retention`, for admins only (`require("admin")`; the
service checks again). A bad value is shown back with its error, nothing saved.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Flask, abort, render_template, request

from engine.service.errors import InvalidInput, NotFound
from engine.service.retention import ACTIONS, MAX_DAYS, MIN_DAYS, Retention
from web.admin import done, field_errors
from web.auth import me, require
from web.common.services import services

blueprint = Blueprint("admin_retention", __name__, url_prefix="/admin/retention")


def _retention() -> Retention:
    return Retention(services().commands)


def _page(
    errors: dict[str, str] | None = None, failed: str | None = None, status: int = 200
) -> Any:
    page = render_template(
        "admin/retention.html",
        policies=_retention().overview(),
        actions=ACTIONS,
        min_days=MIN_DAYS,
        max_days=MAX_DAYS,
        errors=errors or {},
        failed=failed,
        values=request.form if failed else {},
    )
    return page, status


@blueprint.get("")
@require("admin")
def index() -> Any:
    """List every workflow with its policy, a form to change each, and the archive's search."""
    return _page()


@blueprint.post("/<workflow_key>")
@require("admin")
def save(workflow_key: str) -> Any:
    """Set one workflow's policy."""
    action = request.form.get("action", "").strip()
    # The page's days box stands beside the action, filled with the current days: "keep"
    # takes none, so what it holds then is not sent (the API and the CLI refuse days there).
    raw_days = "" if action == "keep" else request.form.get("after_days", "").strip()
    days: int | None = None
    if raw_days:
        if not raw_days.isdigit() or len(raw_days) > 6:
            return _page({"after_days": "Write the days as a whole number."}, workflow_key, 422)
        days = int(raw_days)
    try:
        row = _retention().set_policy(workflow_key, action, days, actor=me().username)
    except NotFound:
        abort(404)
    except InvalidInput as error:
        return _page(field_errors(error), workflow_key, 422)
    if row.action == "keep":
        return done(f"{workflow_key}: instances are kept forever.", "admin_retention.index")
    said = f"{workflow_key}: instances are {row.action}d {row.after_days} days after they end."
    return done(said, "admin_retention.index")


@blueprint.get("/archive")
@require("admin")
def archived() -> Any:
    """Show an archived instance, found by its number (`?number=INC-000042`)."""
    number = request.args.get("number", "").strip()[:40]
    if not number:
        return _page()
    try:
        record = _retention().archived(number, actor=me().username)
    except NotFound as error:
        return _page({"number": error.message[:1].upper() + error.message[1:] + "."}, None, 404)
    return render_template(
        "admin/retention_archived.html",
        record=record,
        text=json.dumps(record, indent=2, ensure_ascii=False),
    )


def init_app(app: Flask) -> None:
    app.register_blueprint(blueprint)
