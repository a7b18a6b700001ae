"""The public portal: report without an account, then follow the request by its secret link.

Every post here is guarded three ways: the CSRF token (`web.common.security`), a per-address
rate limit kept in Redis, and, on the report form, a honeypot field people never see.
A double submit of one form page starts one instance: the page carries a random
submission id that is the start command's idempotency key, and the tracking token
is derived from it, so the repeat lands on the same tracking page.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import replace
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    url_for,
)
from markupsafe import Markup
from werkzeug.exceptions import NotFound as HttpNotFound
from werkzeug.wrappers import Response as Answer

from engine.service.errors import Conflict, InvalidInput, KeyReused, NotFound, ServiceError
from engine.service.published import PublicStart, Published
from engine.service.requests import Requests, derived_token
from engine.service.self_help import describing_fields
from engine.service.submissions import InvalidData
from forms.coercion import coerce_post
from forms.validation import FieldError
from web.auth import signed_in
from web.common.errors import STATUS
from web.common.moments import posted_zone
from web.common.security import limiter
from web.common.services import catalogue_choices, services
from web.common.uploads import (
    KEPT_FIELD,
    RejectedUpload,
    Uploads,
    send_attachment,
    without_files,
)
from web.portal import tracking

blueprint = Blueprint("portal", __name__)

#: Names in a report form post that are not fields of the form.
HONEYPOT = "website"
CONTROL_NAMES = frozenset(
    {"csrf_token", "submission", "form_version", "again", KEPT_FIELD, HONEYPOT}
)
#: A form version as a page sends it back: an id, in ASCII digits (`int` reads others too).
VERSION = re.compile("[0-9]{1,19}")


def _published() -> Published:
    return services().published


def _requests() -> Requests:
    return services().requests


def _rate_limit() -> str:
    return str(current_app.config["PORTAL_RATE_LIMIT"])


def _public_start(workflow_key: str) -> PublicStart:
    try:
        return _published().public_start(workflow_key)
    except NotFound:
        abort(404)


@blueprint.get("/")
def home() -> str:
    """List what anyone may report or request."""
    return render_template("portal/home.html", forms=_published().public_forms())


@blueprint.get("/new/<workflow_key>")
def new(workflow_key: str) -> Answer | str:
    """Show a public start form, empty but for its defaults; with `again` (an ended
    request's tracking token), filled with that request's answers, to report it again."""
    start = _public_start(workflow_key)
    again = request.args.get("again")
    if not again:
        return _form_page(start, _defaults(start), (), body=_blank_body(start))
    try:
        number, answers = tracking.reported_again(_requests(), _published(), again, workflow_key)
    except NotFound:
        abort(404)
    except Conflict:  # still open: its own page is where to write
        return redirect(url_for("portal.track", token=again), code=303)
    return _form_page(start, {**_defaults(start), **answers}, (), again=(again, number))


def _defaults(start: PublicStart) -> dict[str, Any]:
    return {f["key"]: f["default"] for f in start.form.fields if "default" in f}


def _blank_body(start: PublicStart) -> Markup:
    """Render the fields of an empty form once per form version, and for a form that offers
    the catalogue's services once per catalogue: every visitor gets the same."""
    cache: dict[int, tuple[object, Markup]] = current_app.extensions.setdefault(
        "flowdesk.blank_forms", {}
    )
    catalogue = catalogue_choices() if "service" in start.form.kinds else None
    kept = cache.get(start.form_version)
    if kept is not None and kept[0] == catalogue:
        return kept[1]
    template = current_app.jinja_env.from_string(
        '{% autoescape true %}{% from "forms/macros.html" import form_body %}'
        "{{ form_body(doc, values, {}) }}{% endautoescape %}"
    )
    body = Markup(template.render(doc=start.form.doc, values=_defaults(start)))
    cache[start.form_version] = (catalogue, body)
    return body


@blueprint.post("/new/<workflow_key>")
@limiter.limit(_rate_limit)
def submit(workflow_key: str) -> Answer | tuple[str, int]:
    """Check a report, start the instance, and send the requester to its tracking page."""
    start = _public_start(workflow_key)
    submission = request.form.get("submission", "")
    if request.form.get(HONEYPOT):
        # Only robots fill in the field people never see; tell them nothing useful.
        return render_template("portal/received.html"), 200
    try:
        uuid.UUID(submission)
    except ValueError:
        abort(400)
    start = _pinned(start, request.form.get("form_version", ""))
    post = {k: v for k, v in request.form.to_dict(flat=False).items() if k not in CONTROL_NAMES}
    values = coerce_post(start.form, post, tz=posted_zone())
    uploads = Uploads(services().files)
    kept = request.form.getlist(KEPT_FIELD)
    try:
        values.update(uploads.take(start.form, request.files, kept, submission))
    except RejectedUpload as rejected:
        uploads.discard()
        errors = [FieldError(rejected.field, rejected.message)]
        return _form_page(start, values, errors, submission), rejected.status
    token = _tracking_token(submission)
    again = request.form.get("again") or None
    try:
        who = signed_in()
        answer, fresh = tracking.submit(
            _requests(),
            start,
            values,
            token=token,
            files=uploads.kept,
            key=submission,
            requester=who.username if who else None,
            again=again,
        )
    except InvalidData as error:  # its files stay, for the page shown again to send back
        values = uploads.refused(start.form, error.fields, values)
        page = _form_page(
            start, values, error.fields, submission, again=_again(again), kept=uploads
        )
        return page, 422
    except KeyReused:
        # This page was sent before with other answers (Back, a change, Send again): that
        # report stands, and the page, with a new submission, sends these as another.
        uploads.discard()
        earlier = url_for("portal.track", token=token)
        values = without_files(start.form, values)
        return _form_page(start, values, (), sent_before=earlier, again=_again(again)), 409
    except ServiceError as error:
        errors = [FieldError("", error.message)]
        page = _form_page(start, values, errors, submission, again=_again(again), kept=uploads)
        return page, STATUS.get(error.code, 400)
    if not fresh:
        uploads.discard()  # a repeat of a report already made: its files are already kept
    return redirect(url_for("portal.track", token=token, new=answer["number"]), code=303)


def _pinned(start: PublicStart, version: str) -> PublicStart:
    """Check a submission with the form version its page showed, even if a newer one exists."""
    if not VERSION.fullmatch(version) or int(version) == start.form_version:
        return start
    try:
        form = _published().form_version(start.form.key, int(version))
    except NotFound:
        return start  # not a version of this form: the latest one decides
    if not _published().pinnable(int(version), services().commands.clock()):
        return start  # superseded long ago: the latest decides, as the start command does
    return replace(start, form=form, form_version=int(version))


def _again(token: str | None) -> tuple[str, str] | None:
    """The tracking token a report is sent again for, with its request's number, to show a
    form page again; a token that opens nothing was refused by the service, its number
    unknown."""
    if not token:
        return None
    try:
        return token, _requests().number(token)
    except NotFound:
        return token, ""


def _tracking_token(submission: str) -> str:
    """Derive the secret tracking token of one form page's submission."""
    return derived_token(current_app.config["SECRET_KEY"], f"tracking:{submission}")


def _form_page(
    start: PublicStart,
    values: dict[str, Any],
    errors: Any,
    submission: str | None = None,
    body: Markup | None = None,
    sent_before: str | None = None,
    again: tuple[str, str] | None = None,
    kept: Uploads | None = None,
) -> str:
    """The form page; shown again after a refusal, with the files `kept` sent back."""
    submission = submission or str(uuid.uuid4())
    return render_template(
        "portal/form.html",
        kept_files=kept.tokens(submission) if kept is not None else [],
        kept_field=KEPT_FIELD,
        body=body,
        start=start,
        form=start.form,
        values=values,
        errors={e.field: e.message for e in errors},
        error_list=list(errors),
        submission=submission,
        sent_before=sent_before,
        again=again,
        honeypot=HONEYPOT,
        self_help=describing_fields(start.workflow, start.form),
    )


# The tracking page -----------------------------------------------------------------------


@blueprint.get("/track/<token>")
def track(token: str) -> str:
    """Show the requester their request: status, public timeline, their tasks."""
    view = tracking.view(_requests(), _published(), token)
    return render_template("portal/track.html", view=view, token=token, errors={})


@blueprint.post("/track/<token>/comments")
@limiter.limit(_rate_limit)
def comment(token: str) -> Answer | tuple[str, int]:
    """Add the requester's comment."""
    text = request.form.get("comment", "")
    try:
        _requests().comment(token, text, key=_form_key())
    except NotFound:
        abort(404)
    except ServiceError as error:
        # A comment wanting is said at its box; an ended request (no box) at the top.
        where = "comment" if isinstance(error, InvalidInput) else ""
        return _track_again(token, {where: error.message}, STATUS.get(error.code, 400))
    return redirect(url_for("portal.track", token=token, _anchor="conversation"), code=303)


@blueprint.post("/track/<token>/reopen")
@limiter.limit(_rate_limit)
def reopen(token: str) -> Answer | tuple[str, int]:
    """Reopen the requester's ended request, with what is wrong."""
    try:
        _requests().reopen(token, request.form.get("reason", ""), key=_form_key())
    except NotFound:
        abort(404)
    except ServiceError as error:
        # A reason wanting is said at its box; anything else (no longer ended) at the top.
        where = "reopen" if isinstance(error, InvalidInput) else ""
        return _track_again(token, {where: error.message}, STATUS.get(error.code, 400))
    return redirect(url_for("portal.track", token=token), code=303)


@blueprint.post("/track/<token>/files")
@limiter.limit(_rate_limit)
def add_files(token: str) -> Answer | tuple[str, int]:
    """Add the requester's files."""
    requests = _requests()
    try:
        rules = tracking.added_files(requests, _published(), token)
    except NotFound:
        abort(404)
    uploads = Uploads(services().files)
    try:
        files = uploads.take_added(request.files.getlist("files"), rules)
    except RejectedUpload as rejected:
        uploads.discard()
        return _track_again(token, {"files": rejected.message}, rejected.status)
    if not files:
        return _track_again(token, {"files": "Choose a file to add."}, 422)
    try:
        tracking.attach(requests, _published(), token, files, key=_form_key())
    except ServiceError as error:
        uploads.discard()
        return _track_again(token, {"files": error.message}, STATUS.get(error.code, 400))
    return redirect(url_for("portal.track", token=token, _anchor="files"), code=303)


@blueprint.post("/track/<token>/tasks/<int:task_id>")
@limiter.limit(_rate_limit)
def act(token: str, task_id: int) -> Answer | tuple[str, int]:
    """Do one of the requester's tasks: confirm the resolution, reopen, answer."""
    outcome = request.form.get("outcome", "")
    try:
        task = tracking.requester_task(_requests(), _published(), token, task_id)
    except NotFound:
        abort(404)
    if task is None:
        return _track_again(token, {"": "This question has already been answered."}, 409)
    data: dict[str, Any] = {}
    post: dict[str, Any] = {}
    if task.form is not None:
        prefix = task_prefix(task_id)
        post = {
            name.removeprefix(prefix): value
            for name, value in request.form.to_dict(flat=False).items()
            if name.startswith(prefix)
        }
        data = coerce_post(task.form, post, tz=posted_zone())
    try:
        _requests().complete(token, task_id, outcome, data, key=_form_key())
    except InvalidData as error:
        errors = {e.field: e.message for e in error.fields}
        return _track_again(token, errors, 422, task_values={task_id: post})
    except ServiceError as error:
        return _track_again(token, {"": error.message}, STATUS.get(error.code, 400))
    return redirect(url_for("portal.track", token=token), code=303)


def _form_key() -> str | None:
    """The idempotency key of a tracking-page post: its page's random `submission` id."""
    submission = request.form.get("submission", "")
    try:
        return f"portal:{request.endpoint}:{uuid.UUID(submission)}"
    except ValueError:
        return None


def _track_again(
    token: str, errors: dict[str, str], status: int, task_values: Any = None
) -> tuple[str, int]:
    view = tracking.view(_requests(), _published(), token)
    page = render_template(
        "portal/track.html", view=view, token=token, errors=errors, task_values=task_values
    )
    return page, status


@blueprint.get("/track/<token>/files/<key>")
def download(token: str, key: str) -> Response:
    """Send one of the instance's files to the holder of its tracking link."""
    try:
        number = _requests().number(token)
        found = services().desk.attachment(None, number, key)
    except NotFound:
        raise HttpNotFound() from None
    return send_attachment(found)


def task_prefix(task_id: int) -> str:
    """Prefix the names of a task form's fields: a page may hold several task forms."""
    return f"t{task_id}."


@blueprint.app_context_processor
def _page_helpers() -> dict[str, Any]:
    return {"new_submission": lambda: str(uuid.uuid4()), "task_prefix": task_prefix}


def init_app(app: Flask) -> None:
    app.register_blueprint(blueprint)
