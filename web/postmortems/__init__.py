"""The postmortem page of a major incident: draft, edit as Markdown with a preview, action items.

A door to `engine.service.postmortems`, which owns every rule (major incidents only,
once resolved; the service desk only; a save over a newer revision is a conflict). The
preview is the server's rendering (`engine.service.postmortem_text.render`, no raw HTML):
the page's script asks for it as the text changes, and the Preview button shows it
without script. Exports: the Markdown as a download, and a page that prints cleanly.
"""

from __future__ import annotations

from datetime import date
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
    url_for,
)

from engine.service.errors import InvalidInput, NotFound, ServiceError
from engine.service.postmortem_text import PRINT_CSS, printable, render
from engine.service.postmortems import MAX_BODY, Postmortem, Postmortems
from web.auth import me, require
from web.common.errors import STATUS
from web.common.services import services
from web.desk.instances import form_key

blueprint = Blueprint("postmortems", __name__)

#: The preview sits under the page's own "Preview" heading (an h2): its `#` is an h3.
PREVIEW_UNDER = 2


def postmortems() -> Postmortems:
    return Postmortems(services().commands)


def _found(number: str) -> Postmortem | None:
    """The postmortem (None: not drafted); 404 for no such instance or no right to see it."""
    if not services().desk.may_see(me(), number):
        abort(404)
    try:
        return postmortems().postmortem(number, actor=me().username)
    except NotFound:
        abort(404)


def _page(
    number: str,
    *,
    notes: dict[str, str] | None = None,
    typed: str | None = None,
    status: int = 200,
    theirs: Postmortem | None = None,
) -> Any:
    """Render the postmortem page; `typed` keeps what the person wrote over a refusal."""
    try:
        found = _found(number)
    except ServiceError as error:
        return render_template("postmortems/page.html", number=number, refused=error.message), (
            STATUS.get(error.code, 400)
        )
    text = typed if typed is not None else (found.body if found else "")
    page = render_template(
        "postmortems/page.html",
        number=number,
        postmortem=found,
        text=text,
        preview=render(text, under=PREVIEW_UNDER) if found else "",
        notes=notes or {},
        theirs=theirs,
        today=services().commands.clock().date().isoformat(),
        refused=None,
    )
    return page, status


@blueprint.get("/instances/<number>/postmortem")
@require("agent")
def page(number: str) -> Any:
    """Show the postmortem, or offer to draft it."""
    return _page(number)


@blueprint.post("/instances/<number>/postmortem")
@require("agent")
def draft(number: str) -> Any:
    """Draft the postmortem from the incident's timeline."""
    _found(number)
    try:
        postmortems().draft(number, actor=me().username, key=form_key("postmortem", number))
    except ServiceError as error:
        return _page(number, notes={"draft": error.message}, status=STATUS.get(error.code, 400))
    flash(f"The postmortem of {number} was drafted from its timeline: edit it below.")
    return redirect(url_for("postmortems.page", number=number), code=303)


@blueprint.post("/instances/<number>/postmortem/text")
@require("agent")
def save(number: str) -> Any:
    """Save the text (or, with the Preview button, only show it rendered)."""
    _found(number)
    typed = request.form.get("body", "")
    if "preview" in request.form:
        return _page(number, typed=typed)
    try:
        revision = int(request.form.get("revision", ""))
    except ValueError:
        revision = 0
    try:
        postmortems().save(number, typed, revision, actor=me().username)
    except ServiceError as error:
        theirs = _found(number) if error.code == "conflict" else None
        notes = {"body": error.message}
        return _page(
            number, notes=notes, typed=typed, theirs=theirs, status=STATUS.get(error.code, 400)
        )
    flash(f"The postmortem of {number} was saved.")
    return redirect(url_for("postmortems.page", number=number), code=303)


@blueprint.post("/instances/<number>/postmortem/preview")
@require("agent")
def preview(number: str) -> Any:
    """Answer the text rendered as the page shows it (the editor's live preview)."""
    _found(number)
    body = request.form.get("body", "")
    if len(body) > MAX_BODY:  # what no save keeps is not drawn (2 MB took 19 s)
        words = f"<p>The postmortem is over {MAX_BODY:,} characters: shorten it to save it.</p>"
        return Response(words, status=413, mimetype="text/html")
    text = render(body, under=PREVIEW_UNDER)
    return Response(text, mimetype="text/html")


@blueprint.post("/instances/<number>/postmortem/actions")
@require("agent")
def add_action(number: str) -> Any:
    """Give the postmortem an action item: a task for a person or a team, due on a day."""
    _found(number)
    form = request.form
    try:
        due = _day(form.get("due", ""))
        item = postmortems().add_action(
            number,
            form.get("title", ""),
            due=due,
            actor=me().username,
            owner=form.get("owner"),
            group=form.get("group"),
            details=form.get("details"),
            key=form_key("action", number),
        )
    except ServiceError as error:
        return _page(number, notes={"action": error.message}, status=STATUS.get(error.code, 400))
    flash(f"Action item {item.number} was given to {item.who}, due {item.due}.")
    return redirect(url_for("postmortems.page", number=number, _anchor="actions"), code=303)


@blueprint.get("/instances/<number>/postmortem.md")
@require("agent")
def markdown(number: str) -> Response:
    """Download the whole postmortem as Markdown."""
    found = _export(number)
    response = Response(found.document(), mimetype="text/markdown")
    response.headers["Content-Disposition"] = f'attachment; filename="postmortem-{number}.md"'
    return response


@blueprint.get("/instances/<number>/postmortem/print")
@require("agent")
def printed(number: str) -> Response:
    """Show the whole postmortem as a page that prints cleanly (print it to PDF)."""
    found = _export(number)
    sheet = url_for("postmortems.stylesheet")
    html = printable(f"Postmortem of {number}", render(found.document()), stylesheet=sheet)
    return Response(html, mimetype="text/html")


@blueprint.get("/postmortem-print.css")
def stylesheet() -> Response:
    """The printable page's stylesheet."""
    response = Response(PRINT_CSS, mimetype="text/css")
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


def _export(number: str) -> Postmortem:
    try:
        found = _found(number)
    except ServiceError as error:
        abort(STATUS.get(error.code, 400), error.message)
    if found is None:
        abort(404)
    return found


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput("give the due day as a date, like 2026-12-31") from None


def has_postmortem(number: str) -> bool:
    """Tell the instance page whether a postmortem was drafted (for its link's words)."""
    try:
        return postmortems().postmortem(number, actor=me().username) is not None
    except ServiceError:
        return False


def init_app(app: Flask) -> None:
    app.register_blueprint(blueprint)
    app.jinja_env.globals.update(has_postmortem=has_postmortem)
