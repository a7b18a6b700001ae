"""The form designer's JSON API: drafts, checks, preview, publishing, versions and diffs.

Every call is for designers and admins (`access.guard_api`); writes carry the page's
CSRF token in `X-CSRFToken`. Errors come back as `{"code", "message", ...}` with a
status: 400 a body that is not JSON (saying where it stops), 404 unknown, 409 a stale
revision or unconfirmed warnings, 413 too large, 422 problems (each with its JSON
Pointer), 428 a save that names no revision, 503 a database too busy to save.
"""

from __future__ import annotations

import re
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    jsonify,
    render_template,
)

from designer import access, jsonapi
from designer.diff import diff_forms
from designer.jsonapi import services
from engine.service.drafts import Drafts, form_problems
from engine.service.errors import InvalidInput, NotFound
from forms.coercion import coerce_post
from forms.definition import Form

blueprint = Blueprint("designer_api", __name__, url_prefix="/designer/api")
blueprint.before_request(access.guard_api)
jsonapi.answers_json(blueprint)

#: A form's key, as the form language allows it.
FORM_KEY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,79}$")


def drafts() -> Drafts:
    """The designer's use cases: drafts, checks, publishing, versions."""
    return services().drafts


def _key(key: str) -> str:
    if not FORM_KEY.match(key):
        raise NotFound(f"'{key}' is not a form key: use a-z, 0-9, '-' and '_'")
    return key


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


@blueprint.put("/forms/<key>/draft")
def put_draft(key: str) -> Response:
    """Save a draft as sent, if it starts from the stored revision (409 when stale)."""
    body = jsonapi.body()
    revision = jsonapi.revision(body)
    if revision is None:
        return jsonapi.error(
            428, "revision", "say which revision this draft starts from (If-Match)"
        )
    if "document" not in body:
        raise InvalidInput("send the draft as {'document': ...}")
    draft = drafts().save(_key(key), body["document"], revision, access.who())
    response = jsonify(draft.to_json())
    response.headers["ETag"] = f'"{draft.revision}"'
    return response


@blueprint.post("/forms/<key>/check")
def check(key: str) -> Response:
    """Check a draft: its problems by pointer, and what it would break in published workflows."""
    document = _document(_key(key), jsonapi.body())
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
    body = jsonapi.body()
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
    result = services().published.answer(form, data or {})  # as the live check and the submit
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
    body = jsonapi.body()
    outcome = drafts().publish(
        _key(key),
        access.who(),
        revision=jsonapi.revision(body),
        confirm=body.get("confirm") is True,
    )
    warnings = [w.to_json() for w in outcome.warnings]
    if outcome.version is None:
        return jsonapi.error(409, "confirm", outcome.in_words(), warnings=warnings)
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
    old, new = drafts().documents(_key(key), *jsonapi.diff_sides())
    old, new = jsonapi.comparable(old, new, "forms")
    return jsonify(changes=[c.to_json() for c in diff_forms(old, new)])


def init_app(app: Flask) -> None:
    app.register_blueprint(blueprint)
