"""The studio's pages: the list of workflows and forms, and the designer of one form."""

from __future__ import annotations

from flask import Blueprint, Flask, abort, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from designer import access
from designer.api import FORM_KEY, drafts
from designer.jsonapi import services
from designer.palette import PALETTE
from designer.workflows_api import RESERVED, WORKFLOW_KEY

blueprint = Blueprint(
    "designer",
    __name__,
    url_prefix="/designer",
    template_folder="templates",
    static_folder="static/designer",
    static_url_path="/static",
)


@blueprint.before_request
def guard() -> ResponseReturnValue | None:
    """Let designers in (`access.guard_page`), but serve the studio's scripts and styles to
    anyone: they are the app's own open-source code, not data, and a page imports some twenty
    modules, each of which would otherwise look up the session and the user."""
    if request.endpoint == "designer.static":
        return None
    return access.guard_page()


@blueprint.get("/")
def index() -> str:
    """List the workflows and the forms, with a way to start a new one of each."""
    return studio_index()


def studio_index(
    *,
    form_error: str | None = None,
    form_key: str = "",
    workflow_error: str | None = None,
    workflow_key: str = "",
    start: str = "blank",
) -> str:
    """Render the studio's index, with what a refused "new" form sent back to correct."""
    forms = drafts().forms()
    workflows = services().workflow_drafts
    return render_template(
        "designer/index.html",
        forms=forms,
        workflows=workflows.workflows(),
        templates=[template.to_json() for template in workflows.templates],
        published_forms=[f for f in forms if f["latest_version"]],
        form_error=form_error,
        form_key=form_key,
        workflow_error=workflow_error,
        workflow_key=workflow_key,
        start=start,
    )


@blueprint.post("/new")
def new_form() -> ResponseReturnValue:
    """Open the designer on a new form key (nothing is stored until the first save)."""
    key = request.form.get("key", "").strip().lower()
    if not FORM_KEY.match(key):
        error = "Give the form a key of lower-case letters, digits, '-' or '_'."
        return studio_index(form_error=error, form_key=key), 422
    return redirect(url_for("designer.form", key=key), 303)


@blueprint.get("/forms/<key>")
def form(key: str) -> str:
    """The designer of one form: palette, canvas, properties, preview, versions.

    `?for=<workflow key>`: the workflow designer sent the designer here to create or edit
    a step's form; the page leads back to that workflow.
    """
    if not FORM_KEY.match(key):
        abort(404)
    back = request.args.get("for", "")
    workflow = back if WORKFLOW_KEY.match(back) and back not in RESERVED else None
    return render_template("designer/form.html", key=key, palette=PALETTE, workflow=workflow)


def init_app(app: Flask) -> None:
    app.register_blueprint(blueprint)
