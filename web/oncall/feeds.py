"""The secret iCalendar feeds: `/oncall/<schedule>.ics?token=` and `/oncall/users/<name>.ics`.

A calendar program cannot sign in: the token in the link is the key. A wrong or revoked
token is 404, the same as a feed that does not exist.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, request

from engine.service.errors import NotFound
from web.common.services import services

blueprint = Blueprint("oncall_feeds", __name__, url_prefix="/oncall")


@blueprint.get("/<schedule>.ics")
def schedule_feed(schedule: str) -> Response:
    """Serve a schedule's shifts as an iCalendar feed."""
    return _calendar(schedule=schedule)


@blueprint.get("/users/<username>.ics")
def person_feed(username: str) -> Response:
    """Serve one person's shifts, on every schedule, as an iCalendar feed."""
    return _calendar(person=username)


def _calendar(*, schedule: str | None = None, person: str | None = None) -> Response:
    token = request.args.get("token", "")
    if not token or len(token) > 200:
        abort(404)
    try:
        text = services().oncall_feeds.calendar(token, schedule=schedule, person=person)
    except NotFound:
        abort(404)
    response = Response(text, content_type="text/calendar; charset=utf-8")
    response.headers["Cache-Control"] = "private, max-age=300"
    return response
