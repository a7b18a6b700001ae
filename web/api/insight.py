"""The dashboards' numbers over the API: `GET /api/v1/insight`, the page's filters as query.

`panel` (repeatable) picks panels (all by default); durations are seconds, shares percent.
The service desk and admins only (`engine.service.insight`).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from engine.service.insight import PANELS, Insight, read_filters
from web.api.input import api_auth, caller
from web.common.services import services

blueprint = Blueprint("api_insight", __name__, url_prefix="/api/v1")


@blueprint.get("/insight")
@api_auth()
def panels() -> Response:
    """Answer the dashboards' panels under the filters the query gives."""
    args = {name: request.args.getlist(name) for name in request.args}
    insight = Insight(services().commands)
    filters = read_filters(args, insight.commands.clock().date())
    board = insight.dashboard(caller(), filters, args.get("panel") or PANELS)
    return jsonify(
        {
            "filters": filters.query(),
            "at": board.at.isoformat(),
            "complete": board.complete,
            "panels": {key: _table(table) for key, table in board.panels.items()},
        }
    )


def _table(table: Any) -> dict[str, Any]:
    return {
        "title": table.title,
        "columns": [{"key": c.key, "heading": c.heading, "unit": c.unit} for c in table.columns],
        "rows": table.records(),
    }
