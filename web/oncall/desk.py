"""The desk's on-call page: who is on call on every schedule, the next two weeks of shifts,
and a person's own secret calendar link (their shifts on every schedule)."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, render_template, url_for

from web.auth import me, require
from web.common.services import services

blueprint = Blueprint("oncall_desk", __name__, url_prefix="/oncall")

#: How far ahead the page shows shifts.
AHEAD = timedelta(days=14)


@blueprint.get("/")
@require("agent")
def board(feed_link: str | None = None) -> str:
    """Show every schedule: who is on call now, and each shift of the next two weeks."""
    schedules = services().schedules
    rows = []
    for view, now, _upcoming in schedules.board():
        shifts = schedules.shifts(view.key, now.at, now.at + AHEAD)
        rows.append((view, now, shifts, now.at + AHEAD))
    return render_template("oncall/board.html", rows=rows, feed_link=feed_link)


@blueprint.post("/my-feed")
@require("agent")
def my_feed() -> str:
    """Make a secret calendar link of the signed-in person's own shifts, shown this once."""
    username = me().username
    token = services().oncall_feeds.create(person=username, actor=username)
    link = url_for("oncall_feeds.person_feed", username=username, token=token, _external=True)
    return board(feed_link=link)
