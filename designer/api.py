"""The form designer's JSON API: drafts, checks, preview, publishing, versions and diffs.

Every call is for designers and admins (`access.guard_api`); writes carry the page's
CSRF token in `X-CSRFToken`. Errors come back as `{"code", "message", ...}` with a
status: 400 a body that is not JSON (saying where it stops), 404 unknown, 409 a stale
revision or unconfirmed warnings, 413 too large, 422 problems (each with its JSON
Pointer), 428 a save that names no revision, 503 a database too busy to save.
"""

from __future__ import annotations

import re
from typing import Any, cast

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    jsonify,
    render_template,
    request,
)
from werkzeug.exceptions import HTTPException

from designer import access
from designer.diff import diff_forms
from engine.service.bootstrap import Services
from engine.service.drafts import Drafts, form_problems
from engine.service.errors import InvalidInput, NotFound, ServiceError
from forms.coercion import coerce_post
from forms.definition import Form
from forms.validation import validate

blueprint = Blueprint("designer_api", __name__, url_prefix="/designer/api")
blueprint.before_request(access.guard_api)

#: A form's key, as the form language allows it.
FORM_KEY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,79}$")

#: Version numbers are 32-bit in the database.
MAX_VERSION = 2**31 - 1

#: Service error code -> HTTP status.
STATUS = {
    "not_found": 404,
    "not_allowed": 403,
    "conflict": 409,
    "invalid": 422,
    "too_large": 413,
    "busy": 503,
    "unavailable": 503,
}


def services() -> Services:
    """Return the app's service layer (the designer does not import `web`, which has its own)."""
    return cast(Services, current_app.extensions["flowdesk"])


def drafts() -> Drafts:
    """The designer's use cases: drafts, checks, publishing, versions."""
    return services().drafts


def _error(status: int, code: str, message: str, **more: Any) -> Response:
    response = jsonify(code=code, message=message, **more)
    response.status_code = status
    return response


@blueprint.errorhandler(ServiceError)
def _service_error(error: ServiceError) -> Response:
    problems = [{"pointer": p.pointer, "message": p.message} for p in error.problems]
    return _error(STATUS.get(error.code, 400), error.code, error.message, problems=problems)


@blueprint.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> Response:
    return _error(error.code or 500, "http", error.description or error.name)


def _key(key: str) -> str:
    if not FORM_KEY.match(key):
        raise NotFound(f"'{key}' is not a form key: use a-z, 0-9, '-' and '_'")
    return key


def _body() -> dict[str, Any]:
    """The request's JSON object ({} when there is none); JSON that does not parse is a 400."""
    if not request.get_data(cache=True):
        return {}
    try:
        # The app's own JSON reader, which says where it stopped ("line 1 column 12").
        body = current_app.json.loads(request.get_data(cache=True))
    except (ValueError, RecursionError) as error:
        abort(_error(400, "bad_json", f"the body is not valid JSON: {error}"))
    if not isinstance(body, dict):
        raise InvalidInput('send a JSON object, like {"document": {...}}')
    return body


def _document(key: str, body: dict[str, Any]) -> Any:
    """The document a check or preview is about: the one sent, else the saved draft."""
    if "document" in body:
        return body["document"]
    return drafts().draft(key).document


def _problems(problems: list[Any]) -> list[dict[str, str]]:
    return [{"pointer": p.pointer, "message": p.message} for p in problems]


@blueprint.get("/forms")
def list_forms() -> Response:
    """List every form: published ones and those only drafted."""
    return jsonify(forms=drafts().forms())


@blueprint.get("/forms/<key>/draft")
def get_draft(key: str) -> Response:
    """Return the draft (or the latest version, or a blank form) with its revision."""
    draft = drafts().draft(_key(key))
    response = jsonify(draft.to_json())
    response.headers["ETag"] = f'"{draft.revision}"'
    return response


def _revision(body: dict[str, Any]) -> int | None:
    header = request.headers.get("If-Match", "").strip().strip('"')
    given = header or body.get("revision")
    if given is None or given == "":
        return None
    try:
        return int(given)
    except (TypeError, ValueError):
        raise InvalidInput("the revision must be a whole number") from None


@blueprint.put("/forms/<key>/draft")
def put_draft(key: str) -> Response:
    """Save a draft as sent, if it starts from the stored revision (409 when stale)."""
    body = _body()
    revision = _revision(body)
    if revision is None:
        return _error(428, "revision", "say which revision this draft starts from (If-Match)")
    if "document" not in body:
        raise InvalidInput("send the draft as {'document': ...}")
    draft = drafts().save(_key(key), body["document"], revision, access.who())
    response = jsonify(draft.to_json())
    response.headers["ETag"] = f'"{draft.revision}"'
    return response


@blueprint.post("/forms/<key>/check")
def check(key: str) -> Response:
    """Check a draft: its problems by pointer, and what it would break in published workflows."""
    document = _document(_key(key), _body())
    problems, warnings = drafts().check(key, document)
    return jsonify(
        ok=not problems,
        problems=_problems(problems),
        warnings=[w.to_json() for w in warnings],
    )


@blueprint.post("/forms/<key>/preview")
def preview(key: str) -> Response:
    """Render a draft with the server's renderer, and validate sample answers as a submit would.

    Sample answers come typed (`data`, as the API takes them) or as a page posts them
    (`post`: name -> list of values, coerced as a real post would be).
    """
    body = _body()
    document = _document(_key(key), body)
    problems = form_problems(key, document)
    if problems:
        # Asked while the form is being built: a form with problems is the usual answer, not
        # a failed call, so it is a 200 that says so (no console noise on every keystroke).
        return jsonify(ok=False, html=None, problems=_problems(problems))
    form = Form.from_document(document)
    data = body.get("data")
    if isinstance(body.get("post"), dict):
        data = coerce_post(form, {str(k): _strings(v) for k, v in body["post"].items()})
    if data is not None and not isinstance(data, dict):
        raise InvalidInput("send the sample answers as a JSON object")
    result = validate(form, data or {})
    errors = list(result.errors) if data is not None else []
    html = render_template(
        "designer/preview.html",
        doc=document,
        values=data or {},
        errors={e.field: e.message for e in errors},
        visible=result.visible,
    )
    return jsonify(
        ok=True,
        problems=[],
        html=html,
        valid=result.ok,
        errors=[e.to_json() for e in errors],
        visible=sorted(result.visible),
        required=sorted(result.required),
    )


def _strings(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


@blueprint.post("/forms/<key>/publish")
def publish(key: str) -> Response:
    """Publish the saved draft; 422 with problems, 409 with warnings until `confirm` is true."""
    body = _body()
    outcome = drafts().publish(
        _key(key), access.who(), revision=_revision(body), confirm=body.get("confirm") is True
    )
    warnings = [w.to_json() for w in outcome.warnings]
    if outcome.version is None:
        return _error(409, "confirm", outcome.in_words(), warnings=warnings)
    response = jsonify(
        version=outcome.version,
        created=outcome.created,
        latest_version=outcome.latest,
        message=outcome.in_words(),
        warnings=warnings,
    )
    response.status_code = 201 if outcome.created else 200
    return response


@blueprint.get("/forms/<key>/versions")
def versions(key: str) -> Response:
    """List the published versions of a form."""
    return jsonify(versions=drafts().versions(_key(key)))


@blueprint.get("/forms/<key>/diff")
def diff(key: str) -> Response:
    """Say in words what changed between two versions (`to=draft`: the draft)."""
    sides = _side(request.args.get("from", "")), _side(request.args.get("to", "draft"))
    old, new = drafts().documents(_key(key), *sides)
    if not isinstance(old, dict) or not isinstance(new, dict):
        raise InvalidInput("only forms that are JSON objects can be compared")
    return jsonify(changes=[c.to_json() for c in diff_forms(old, new)])


def _side(which: str) -> int | None:
    """A version number, or None for the draft."""
    if which == "draft":
        return None
    if not (which.isascii() and which.isdigit()):
        raise InvalidInput("'from' and 'to' are version numbers, or 'draft'")
    if len(which) > len(str(MAX_VERSION)) or int(which) > MAX_VERSION:
        raise NotFound(f"there is no version {which}")  # more than the database can number
    return int(which)


def init_app(app: Flask) -> None:
    app.register_blueprint(blueprint)
