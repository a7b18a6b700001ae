"""The API's saved views of the instance list: list, save, change, share, delete, export.

Who may do what is the service's (`engine.service.views`): a view the caller may not
see is 404; one shared with them that they did not make is 403 to change. Filters are
read by the service's one reader, so a bad one is refused here as on every door.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, stream_with_context, url_for

from engine.service.filters import combine
from engine.service.views import UNCHANGED
from engine.service.views_csv import csv_lines
from web.api.input import api_auth, body, caller, commands, created, require_id
from web.api.instances import bad_filters, saved_view
from web.common.services import services

blueprint = Blueprint("api_views", __name__, url_prefix="/api/v1")


@blueprint.get("/views")
@api_auth()
def list_views() -> Response:
    """List the caller's views and those shared with their groups."""
    return jsonify({"items": [view.to_json() for view in services().views.visible(caller())]})


@blueprint.post("/views")
@api_auth()
def create_view() -> Response:
    """Save a view."""
    given = body("NewSavedView")
    with bad_filters():
        view = services().views.create(
            caller(), given["name"], given.get("filters", {}), given.get("sort"), given.get("group")
        )
    return created(view.to_json(), url_for("api_views.get_view", view_id=view.id))


@blueprint.get("/views/<int:view_id>")
@api_auth()
def get_view(view_id: int) -> Response:
    """Show one view."""
    return jsonify(saved_view(require_id(view_id, "view")).to_json())


@blueprint.patch("/views/<int:view_id>")
@api_auth()
def change_view(view_id: int) -> Response:
    """Rename, refilter, resort or share a view (its owner only)."""
    require_id(view_id, "view")
    given = body("SavedViewChange")
    changes: dict[str, Any] = {
        "name": given.get("name"),
        "filters": given.get("filters"),
        "sort": given.get("sort"),
        "group": given.get("group", UNCHANGED),
    }
    with bad_filters():
        view = services().views.update(caller(), view_id, **changes)
    return jsonify(view.to_json())


@blueprint.delete("/views/<int:view_id>")
@api_auth()
def delete_view(view_id: int) -> Response:
    """Delete a view (its owner only)."""
    services().views.delete(caller(), require_id(view_id, "view"))
    return Response(status=204)


@blueprint.get("/views/<int:view_id>/export")
@api_auth()
def export_view(view_id: int) -> Response:
    """Send a view's instances as CSV, streamed."""
    person = caller()
    view = saved_view(require_id(view_id, "view"))
    now = commands().clock()
    with bad_filters():
        query = combine(view.filters, at=now)
    rows = services().finder.rows(person, query, sort=view.sort)
    response = Response(stream_with_context(csv_lines(rows, now)), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="view-{view.id}.csv"'
    return response
