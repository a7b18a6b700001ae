"""The instance list page: find any instance you may see, sort it, page it, save it, export it.

The page is a door to `engine.service.filters`, `engine.service.finder` and
`engine.service.views`: the filter form sends the filter language as it is written, and
the service reads it, decides who sees what and refuses a bad filter naming it (shown next
to that filter). Saved views are changed only by their owner, as the service decides; the
page offers the forms to those who may use them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)

from engine.service.errors import NotFound, ServiceError
from engine.service.filters import (
    DEFAULT_SORT,
    FILTERS,
    SORTS,
    BadFilter,
    Query,
    combine,
    parse_sort,
)
from engine.service.finder import Found, ListItem
from engine.service.views import View
from engine.service.views_csv import csv_lines
from engine.settings import PAGE_SIZE
from web.auth import me, require
from web.common.moments import Deadline, deadline
from web.common.services import catalogue_choices, services
from web.desk.inbox import SLA_WORDS
from web.desk.instances import now

blueprint = Blueprint("search", __name__)

#: The columns a person may sort by, in the table's words.
SORT_WORDS = {
    "number": "Number",
    "priority": "Priority",
    "status": "Status",
    "created": "Created",
    "updated": "Updated",
}
#: Where each filter's field is on the form, and what it says.
FILTER_LABELS = {
    "workflow": "Workflow",
    "service": "Service",
    "status": "Status",
    "step": "Current step",
    "priority": "Priority",
    "assignee": "Held by",
    "group": "Group",
    "requester": "Requester",
    "sla": "SLA",
    "created": "Created",
    "updated": "Updated",
    "ended": "Ended",
    "text": "Words",
}


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the list, in words."""

    item: ListItem
    href: str
    deadline: Deadline


def _given() -> dict[str, str]:
    """The filters the request gives, as written (the service reads them)."""
    return {name: request.args.get(name, "") for name in FILTERS if request.args.get(name)}


def _view_of(person: Any) -> View | None:
    raw = request.args.get("view", "")
    if not raw:
        return None
    try:
        return services().views.get(person, int(raw) if raw.isdigit() and len(raw) < 19 else 0)
    except NotFound:
        abort(404)


def _query(view: View | None, at: datetime) -> tuple[Query, str]:
    """Read the page's filters: a saved view's, then a search line's, then the form's."""
    sort = request.args.get("sort") or (view.sort if view is not None else DEFAULT_SORT)
    column, down = parse_sort(sort)
    base = view.filters if view is not None else {}
    return combine(base, _given(), line=request.args.get("q"), at=at), (
        f"-{column}" if down else column
    )


@blueprint.get("/instances")
@require()
def index() -> Any:
    """List every instance the person may see, by filter, sort and page."""
    person, at = me(), now()
    view = _view_of(person)
    error: BadFilter | None = None
    try:
        query, sort = _query(view, at)
        found = services().finder.find(
            person, query, sort=sort, cursor=request.args.get("cursor") or None, limit=PAGE_SIZE
        )
    except BadFilter as refused:
        error, query, sort = refused, Query(filters=_given()), DEFAULT_SORT
        found = Found([], None, 0, True)
    page = render_template(
        "instances/list.html",
        **_page_values(person, at, view, query, sort, found, error),
    )
    return page, 400 if error is not None else 200


def _page_values(
    person: Any,
    at: datetime,
    view: View | None,
    query: Query,
    sort: str,
    found: Found,
    error: BadFilter | None,
) -> dict[str, Any]:
    published = services().published
    workflows = published.workflows()
    priorities = sorted({p for key, _ in workflows for p in published.workflow(key).priorities})
    choices = [(key, title or key) for key, title in workflows]
    href = _instance_link()
    rows = [
        Row(item, href(item.number), deadline(item.sla_due_at, item.sla_state(at), at))
        for item in found.items
    ]
    filters = dict(query.filters)
    catalogue = catalogue_choices()
    names = dict(catalogue)
    return {
        "rows": rows,
        # A Service column only when a row on the page is filed under one (an incident):
        # the name the catalogue gives it, or its key once the catalogue no longer has it.
        "service_names": names if any(item.service for item in found.items) else None,
        "found": found,
        "filters": filters,
        "line": request.args.get("q", ""),
        "sort": sort,
        "sort_links": _sort_links(filters, sort),
        "next_url": _url("search.index", filters, sort, cursor=found.next) if found.next else None,
        "first_url": _url("search.index", filters, sort) if request.args.get("cursor") else None,
        "export_url": _url("search.export", filters, sort),
        "view": view,
        "views": services().views.visible(person),
        "my_groups": sorted(person.groups),
        "error": error,
        "workflows": choices,
        "services": catalogue,
        "priorities": [(str(p), str(p)) for p in priorities],
        "sla_words": SLA_WORDS,
        "labels": FILTER_LABELS,
        "filtered": bool(filters),
    }


def _instance_link() -> Any:
    probe = "XX-424242424242"
    head, _, tail = url_for("instances.instance", number=probe).partition(probe)
    return lambda number: f"{head}{number}{tail}"


def _url(endpoint: str, filters: Mapping[str, str], sort: str, **more: Any) -> str:
    args: dict[str, Any] = dict(filters)
    if sort != DEFAULT_SORT:
        args["sort"] = sort
    args.update({name: value for name, value in more.items() if value})
    return url_for(endpoint, **args)


def _sort_links(filters: Mapping[str, str], sort: str) -> dict[str, tuple[str, str | None]]:
    """Per column: the link that sorts by it (again: the other way) and its aria-sort."""
    links = {}
    for column in SORTS:
        if column == "number":
            continue
        current = sort.lstrip("-") == column
        down = sort.startswith("-")
        target = column if current and down else f"-{column}"
        state = ("descending" if down else "ascending") if current else None
        links[column] = (_url("search.index", filters, target), state)
    return links


@blueprint.get("/instances.csv")
@require()
def export() -> Response:
    """Send the list, as filtered and sorted, as CSV (streamed, a page at a time)."""
    person, at = me(), now()
    view = _view_of(person)
    try:
        query, sort = _query(view, at)
    except BadFilter as error:
        abort(400, error.message)
    rows = services().finder.rows(person, query, sort=sort)
    response = Response(stream_with_context(csv_lines(rows, at)), mimetype="text/csv")
    name = f"view-{view.id}" if view is not None else "instances"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    return response


# Saved views ------------------------------------------------------------------------------------


def _back(view_id: int | None = None) -> Any:
    target = url_for("search.index", view=view_id) if view_id else url_for("search.index")
    return redirect(target, code=303)


def _refused(error: ServiceError) -> Any:
    if error.code == "not_found":
        abort(404)
    if error.code == "not_allowed":
        abort(403)
    flash(f"Nothing was changed: {error.message}.")
    return redirect(url_for("search.index"), code=303)


@blueprint.post("/views")
@require()
def save_view() -> Any:
    """Save the list's filters and sort as a view, the person's own or shared with a group."""
    form = request.form
    filters = {name: form.get(name, "") for name in FILTERS if form.get(name)}
    try:
        view = services().views.create(
            me(),
            form.get("name", ""),
            filters,
            form.get("sort") or DEFAULT_SORT,
            # `group` is a filter of the list (`group=mine`): whom it is shared with is apart.
            form.get("share_with") or None,
        )
    except ServiceError as error:
        return _refused(error)
    flash(f"The view '{view.name}' was saved" + (f" for {view.group}." if view.group else "."))
    return _back(view.id)


@blueprint.post("/views/<int:view_id>/rename")
@require()
def rename_view(view_id: int) -> Any:
    """Rename a view (its owner)."""
    try:
        view = services().views.update(me(), view_id, name=request.form.get("name", ""))
    except ServiceError as error:
        return _refused(error)
    flash(f"The view is now called '{view.name}'.")
    return _back(view.id)


@blueprint.post("/views/<int:view_id>/share")
@require()
def share_view(view_id: int) -> Any:
    """Share a view with a group, or stop sharing it (its owner)."""
    group = request.form.get("share_with") or None
    try:
        view = services().views.update(me(), view_id, group=group)
    except ServiceError as error:
        return _refused(error)
    flash(f"'{view.name}' is " + (f"shared with {group}." if group else "yours alone now."))
    return _back(view.id)


@blueprint.post("/views/<int:view_id>/delete")
@require()
def delete_view(view_id: int) -> Any:
    """Delete a view (its owner)."""
    try:
        services().views.delete(me(), view_id)
    except ServiceError as error:
        return _refused(error)
    flash("The view was deleted.")
    return _back()


def init_app(app: Flask) -> None:
    app.register_blueprint(blueprint)
