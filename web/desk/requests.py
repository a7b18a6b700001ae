"""Starting requests from the browser: "New request" for anyone signed in, "Log a call" for agents.

Which workflows a person may start is the workflow's `start.by`, decided by the service
(`engine.service.starting`); these pages only offer what it allows and translate the
form post into its commands. The start form is rendered and coerced as on the portal.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)

from engine.service.errors import KeyReused, NotAllowed, NotFound, ServiceError
from engine.service.published import PublicStart
from engine.service.requests import derived_token
from engine.service.starting import CHANNELS, Caller
from engine.service.submissions import InvalidData
from forms.coercion import coerce_post
from forms.validation import FieldError
from web.auth import me, require
from web.common.errors import STATUS
from web.common.moments import posted_zone
from web.common.services import services
from web.common.uploads import KEPT_FIELD, RejectedUpload, Uploads, without_files
from web.portal.tracking import external_url

blueprint = Blueprint("requests", __name__)

#: Names in a post that are not fields of the start form.
CONTROL_NAMES = frozenset(
    {
        "csrf_token",
        "submission",
        KEPT_FIELD,
        "form_version",
        "channel",
        "caller_kind",
        "caller_user",
        "caller_name",
        "caller_email",
        "caller_phone",
    }
)


def _start_form(workflow_key: str) -> PublicStart:
    try:
        return services().starting.start_form(me(), workflow_key)
    except NotFound:
        abort(404)
    except NotAllowed:
        abort(403)


@blueprint.get("/requests/new")
@require()
def choose() -> str:
    """List the workflows the signed-in person may start."""
    return render_template(
        "requests/choose.html",
        startable=services().starting.startable(me()),
        title="New request",
        endpoint="requests.new",
        lead="Choose what you need; your request shows under “My requests”.",
    )


@blueprint.get("/requests/log")
@require("agent")
def choose_log() -> str:
    """List the workflows an agent may log a call for."""
    return render_template(
        "requests/choose.html",
        startable=services().starting.startable(me()),
        title="Log a call",
        endpoint="requests.log",
        lead="Log what a caller reports by phone, email, chat, text message or in person.",
    )


@blueprint.route("/requests/new/<workflow_key>", methods=["GET", "POST"])
@require()
def new(workflow_key: str) -> Any:
    """Show a start form; on a post, start the instance as the signed-in person's request."""
    start = _start_form(workflow_key)
    if request.method == "GET":
        return _page(start, _defaults(start), [], logging=False)
    values, files, refused = _posted(start)
    if refused is not None:
        return _page(start, values, [refused[0]], logging=False), refused[1]
    try:
        answer = services().starting.start(
            start.workflow.key,
            values,
            person=me().username,
            key=_key("new"),
            form_version=start.form_version,
            files=files.kept,
            page=True,
        )
    except ServiceError as error:
        return _refused(start, values, error, files, logging=False)
    return redirect(url_for("instances.instance", number=answer["number"]), code=303)


@blueprint.route("/requests/log/<workflow_key>", methods=["GET", "POST"])
@require("agent")
def log(workflow_key: str) -> Any:
    """Show the caller, the channel and the start form; on a post, log the call."""
    start = _start_form(workflow_key)
    if request.method == "GET":
        return _page(start, _defaults(start), [], logging=True)
    values, files, refused = _posted(start)
    if refused is not None:
        return _page(start, values, [refused[0]], logging=True), refused[1]
    caller = Caller(
        user=request.form.get("caller_user") if _kind() == "user" else None,
        name=request.form.get("caller_name", "") if _kind() == "other" else "",
        email=request.form.get("caller_email", "") if _kind() == "other" else "",
        phone=request.form.get("caller_phone", "") if _kind() == "other" else "",
    )
    try:
        submission = str(uuid.UUID(request.form.get("submission", "")))
    except ValueError:
        abort(400)
    token = _tracking_token(submission)
    link = external_url("portal.track", token=token)
    try:
        answer = services().starting.log_call(
            start.workflow.key,
            values,
            agent=me().username,
            channel=request.form.get("channel", ""),
            caller=caller,
            key=_key("log"),
            form_version=start.form_version,
            token=token,
            link=link,
            files=files.kept,
        )
    except ServiceError as error:
        return _refused(start, values, error, files, logging=True)
    if caller.user is None:
        # Shown once, here: only its digest is kept. A caller on the phone hears it now.
        mailed = f" (it is mailed to {caller.email})" if caller.email else ""
        flash(
            f"{answer['number']} is logged. The caller's tracking link, to read out or send"
            f"{mailed}: {link}"
        )
    return redirect(url_for("instances.instance", number=answer["number"]), code=303)


def _kind() -> str:
    return "other" if request.form.get("caller_kind") == "other" else "user"


def _defaults(start: PublicStart) -> dict[str, Any]:
    return {f["key"]: f["default"] for f in start.form.fields if "default" in f}


def _posted(start: PublicStart) -> tuple[dict[str, Any], Uploads, tuple[FieldError, int] | None]:
    post = {k: v for k, v in request.form.to_dict(flat=False).items() if k not in CONTROL_NAMES}
    values = coerce_post(start.form, post, tz=posted_zone())
    uploads = Uploads(services().files)
    kept, submission = request.form.getlist(KEPT_FIELD), request.form.get("submission", "")
    try:
        values.update(uploads.take(start.form, request.files, kept, submission))
    except RejectedUpload as rejected:
        uploads.discard()
        return values, uploads, (FieldError(rejected.field, rejected.message), rejected.status)
    return values, uploads, None


def _refused(
    start: PublicStart,
    values: dict[str, Any],
    error: ServiceError,
    files: Uploads,
    *,
    logging: bool,
) -> tuple[str, int]:
    """The page again, saying why: its files kept for it to send back, unless it was sent
    before with other answers (that request stands; the page is a new one)."""
    if isinstance(error, KeyReused):
        files.discard()
        values, kept = without_files(start.form, values), None
    else:
        kept = files
    if isinstance(error, InvalidData):
        values = files.refused(start.form, error.fields, values)
        return _page(start, values, error.fields, logging=logging, kept=kept), 422
    errors = [
        FieldError(problem.pointer.strip("/").replace("/", "_"), problem.message)
        for problem in error.problems
    ] or [FieldError("", error.message)]
    page = _page(start, values, errors, logging=logging, kept=kept)
    return page, STATUS.get(error.code, 400)


def _page(
    start: PublicStart,
    values: dict[str, Any],
    errors: Any,
    *,
    logging: bool,
    kept: Uploads | None = None,
) -> str:
    errors = list(errors)
    submission = request.form.get("submission") or str(uuid.uuid4())
    doc = start.form.doc
    if logging:  # the caller's name and address are asked for above, in the desk's words
        filled = set(services().starting.caller_fields(start.workflow.key))
        doc = {**doc, "fields": [f for f in doc["fields"] if f["key"] not in filled]}
    return render_template(
        "requests/form.html",
        start=start,
        form=start.form,
        doc=doc,
        values=values,
        errors={e.field: e.message for e in errors},
        error_list=errors,
        submission=submission,
        kept_files=kept.tokens(submission) if kept is not None else [],
        kept_field=KEPT_FIELD,
        logging=logging,
        channels=CHANNELS,
        posted=request.form,
        # Live validation answers for public forms only (`api.validate_form`).
        public_keys={key for key, _, _ in services().published.public_forms()},
    )


def _key(kind: str) -> str | None:
    """The idempotency key of a post: its page's random `submission` id."""
    try:
        return f"web:{kind}:{me().username}:{uuid.UUID(request.form.get('submission', ''))}"
    except ValueError:
        return None


def _tracking_token(submission: str) -> str:
    """The tracking token of a logged call, derived from its page, so a repeat finds it."""
    return derived_token(current_app.config["SECRET_KEY"], f"logged:{submission}")


def init_app(app: Flask) -> None:
    app.register_blueprint(blueprint)
