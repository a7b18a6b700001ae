"""The REST API under `/api/v1`: so far the forms' schema and their validation.

`POST /api/v1/forms/<key>/validate` answers exactly what a submit would: the same
validator on the server serves the browser's live checks, so there is one.
Anonymous callers reach only the forms anyone may fill in (the start forms of
public workflows).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Blueprint, Flask, Response, abort, current_app, jsonify, request
from flask_login import current_user

from engine.service.errors import NotFound
from engine.service.published import Published
from forms.coercion import coerce_post
from forms.compiler import compile_schema
from forms.definition import Form
from forms.validation import validate
from web.auth import signed_in
from web.errors import answer
from web.security import csrf, limiter

blueprint = Blueprint("api", __name__, url_prefix="/api/v1")

#: Live validation runs on every change a person makes; it changes nothing.
VALIDATE_RATE_LIMIT = "240 per minute"
#: Methods that change nothing: a session cookie counts for them (see `web.auth`).
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

View = TypeVar("View", bound=Callable[..., Any])


def api_auth(*roles: str) -> Callable[[View], View]:
    """Let an API view run for a bearer token (or, for reads, a session) with one of `roles`."""

    def decorate(view: View) -> View:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            person = signed_in()
            by_token = bool(getattr(current_user, "by_token", False))
            if person is None or (not by_token and request.method not in SAFE_METHODS):
                response = answer(401, "Send an API token as 'Bearer'.", "unauthorized")
                response.headers["WWW-Authenticate"] = 'Bearer realm="flowdesk"'
                return response
            if roles and not (person.has_role(*roles) or ("agent" in roles and person.is_agent)):
                return answer(403, "Your account may not do this.", "forbidden")
            return view(*args, **kwargs)

        return cast(View, guarded)

    return decorate


@blueprint.get("/me")
@api_auth()
def whoami() -> Response:
    """Say who the token (or session) belongs to."""
    person = signed_in()
    assert person is not None
    return jsonify(
        {
            "username": person.username,
            "name": person.name,
            "email": person.email,
            "roles": sorted(person.roles),
            "groups": sorted(person.groups),
        }
    )


def _public_form(key: str) -> Form:
    published: Published = current_app.extensions["flowdesk.published"]
    if key not in published.public_form_keys():
        abort(404)
    try:
        return published.form(key)[1]
    except NotFound:
        abort(404)


@blueprint.get("/forms/<key>/schema")
def form_schema(key: str) -> Response:
    """Serve a form compiled to JSON Schema 2020-12, for any client to validate with."""
    response = jsonify(compile_schema(_public_form(key)))
    response.mimetype = "application/schema+json"
    return response


@blueprint.post("/forms/<key>/validate")
@limiter.limit(VALIDATE_RATE_LIMIT)
def validate_form(key: str) -> Response:
    """Validate a submission without saving it: errors per field, what is shown and required."""
    form = _public_form(key)
    data: Any
    if request.is_json:
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            abort(400, "send the submission as a JSON object")
    else:
        data = coerce_post(form, request.form.to_dict(flat=False))
    result = validate(form, data)
    return jsonify(
        {
            "valid": result.ok,
            "errors": [error.to_json() for error in result.errors],
            "visible": sorted(result.visible),
            "required": sorted(result.required),
        }
    )


def init_app(app: Flask) -> None:
    csrf.exempt(blueprint)
    app.register_blueprint(blueprint)
