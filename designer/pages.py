"""The form designer's pages: the list of forms, and the designer of one form."""

from __future__ import annotations

from flask import Blueprint, Flask, abort, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from designer import access
from designer.api import FORM_KEY, drafts
from designer.palette import PALETTE

blueprint = Blueprint(
    "designer",
    __name__,
    url_prefix="/designer",
    template_folder="templates",
    static_folder="static/designer",
    static_url_path="/static",
)
blueprint.before_request(access.guard_page)


@blueprint.get("/")
def index() -> str:
    """List the forms, with a way to start a new one."""
    return _index()


def _index(error: str | None = None, key: str = "") -> str:
    return render_template("designer/index.html", forms=drafts().forms(), error=error, key=key)


@blueprint.post("/new")
def new_form() -> ResponseReturnValue:
    """Open the designer on a new form key (nothing is stored until the first save)."""
    key = request.form.get("key", "").strip().lower()
    if not FORM_KEY.match(key):
        return _index("Give the form a key of lower-case letters, digits, '-' or '_'.", key), 422
    return redirect(url_for("designer.form", key=key), 303)


@blueprint.get("/forms/<key>")
def form(key: str) -> str:
    """The designer of one form: palette, canvas, properties, preview, versions."""
    if not FORM_KEY.match(key):
        abort(404)
    return render_template("designer/form.html", key=key, palette=PALETTE)


def init_app(app: Flask) -> None:
    app.register_blueprint(blueprint)
