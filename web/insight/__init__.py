"""The dashboards page for the service desk: `/insight`, its charts, and CSV of each table.

A door to `engine.service.insight`: the filter form is a GET form, read by the service
(which refuses a bad filter, naming it); the charts are SVG drawn on the server
(`web.insight.charts`), each followed by its numbers as a table; each table downloads as
CSV, written with the export's formula-safe cells (`engine.service.views_csv`).
"""

from __future__ import annotations

import csv
import io
from typing import Any

from flask import Blueprint, Flask, Response, abort, render_template, request, url_for

from engine.service.commands import Commands
from engine.service.errors import InvalidInput
from engine.service.insight import PANELS, Filters, Insight, Table, read_filters
from engine.service.views_csv import safe_cell
from web.auth import me, require
from web.common.services import catalogue_choices, services
from web.desk.instances import now
from web.insight.charts import charts_of, duration

blueprint = Blueprint("insight", __name__)

#: The cells of the tables that hold a service's key, (panel, column): the page says its name.
SERVICE_CELLS = {("by_service", "key"), ("services", "key"), ("breaches", "service")}
#: Which list filter the form offers, and its label.
FILTER_LABELS = {
    "service": "Service",
    "team": "Team",
    "priority": "Priority",
    "category": "Category",
    "workflow": "Workflow",
}


def insight() -> Insight:
    commands: Commands = services().commands
    return Insight(commands)


def _args() -> dict[str, list[str]]:
    return {name: request.args.getlist(name) for name in request.args}


@blueprint.get("/insight")
@require("agent")
def dashboard() -> Any:
    """Show every panel under the filters the form sends (400, saying where, on a bad one)."""
    person = me()
    error: InvalidInput | None = None
    try:
        filters = read_filters(_args(), now().date())
    except InvalidInput as refused:
        error, filters = refused, read_filters({}, now().date())
    board = insight().dashboard(person, filters)
    query: dict[str, Any] = filters.query()
    names = dict(catalogue_choices())
    page = render_template(
        "insight/dashboard.html",
        board=board,
        charts=charts_of(board.panels),
        choices=insight().choices(person),
        labels=FILTER_LABELS,
        error=error,
        csv_url=lambda key: url_for("insight.export", panel=key, **query),
        cell=cell,
        service_name=lambda key: names.get(key, key),
        service_cells=SERVICE_CELLS,
        api_url=url_for("api_insight.panels", **query),
    )
    return page, 400 if error is not None else 200


@blueprint.get("/insight/<panel>.csv")
@require("agent")
def export(panel: str) -> Response:
    """Send one panel's table as CSV, under the same filters."""
    if panel not in PANELS:
        abort(404)
    filters = read_filters(_args(), now().date())
    table = insight().dashboard(me(), filters, (panel,)).panels[panel]
    response = Response(csv_text(table, filters), mimetype="text/csv")
    name = f"insight-{panel}-{filters.start}-{filters.end}.csv"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def csv_text(table: Table, filters: Filters) -> str:
    """Write a table as CSV: durations in hours, shares in percent, no cell a formula."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([safe_cell(_heading(c.heading, c.unit)) for c in table.columns])
    for row in table.rows:
        writer.writerow(
            [safe_cell(_csv_value(v, c.unit)) for c, v in zip(table.columns, row, strict=True)]
        )
    return buffer.getvalue()


def _heading(heading: str, unit: str) -> str:
    return {"seconds": f"{heading} (hours)", "percent": f"{heading} (%)"}.get(unit, heading)


def _csv_value(value: Any, unit: str) -> Any:
    if value is None:
        return ""
    if unit == "seconds":
        return f"{value / 3600:.2f}"
    if unit == "percent":
        return f"{value:.1f}"
    return value


def cell(value: Any, unit: str) -> str:
    """Say a table cell on the page."""
    if unit == "seconds":
        return duration(value) if value is not None else "none"
    if unit == "percent":
        return f"{value:.1f}%" if value is not None else "none"
    return "none" if value is None else str(value)


def init_app(app: Flask) -> None:
    app.register_blueprint(blueprint)
