"""What an API view reads from a request: who calls, and input checked against the document.

Bodies, query parameters and the `Idempotency-Key` header are checked against the
schemas of `web.api.openapi`, so what the document says is what the server does. Bad
input never reaches the service: it comes back as 400 or 422 with the stable error
shape, a JSON Pointer per field.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from functools import wraps
from typing import Any, NoReturn, TypeVar, cast

from flask import Response, abort, jsonify, request
from flask_login import current_user

from engine.core.values import MAX_ID
from engine.service.commands import Commands
from engine.service.person import Person
from forms.errors import FieldError
from web.api import openapi
from web.auth import signed_in
from web.common.errors import answer
from web.common.jsonbody import BadJson, read_json
from web.common.services import services

#: Methods that change nothing: a session cookie counts for them (see `web.auth`).
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Ids are 64-bit in the database, version numbers 32-bit; a larger number names nothing.
MAX_VERSION = 2**31 - 1

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


def commands() -> Commands:
    """Return the app's commands (start, complete, claim, ...)."""
    return services().commands


def iso(value: datetime | None) -> str | None:
    """Write a time as RFC 3339, or None."""
    return value.isoformat() if value is not None else None


def caller() -> Person:
    """Return who calls; only for views behind `api_auth`."""
    person = signed_in()
    assert person is not None, "behind api_auth there is always someone"
    return person


def refuse(
    status: int, message: str, code: str, errors: list[dict[str, str]] | None = None
) -> NoReturn:
    """Stop the view with an API error."""
    abort(answer(status, message, code, errors))


def not_found(what: str) -> NoReturn:
    refuse(404, f"There is no {what}, or you may not see it.", "not_found")


def require_id(value: int, what: str, most: int = MAX_ID) -> int:
    """Refuse an id no row can have (the database would choke on it) as not found."""
    if not 0 < value <= most:
        not_found(what)
    return value


def body(schema: str) -> dict[str, Any]:
    """Return the request's JSON body once it matches the document's `schema`."""
    try:
        value = read_json(request.get_data(cache=True))
    except BadJson as error:
        refuse(400, f"Send the body as a JSON object: {error}.", "bad_request")
    errors = openapi.body_errors(schema, value) or _unstorable(value, [])
    if errors:
        refuse(422, "Some of what you sent cannot be used.", "invalid", errors)
    return cast(dict[str, Any], value)


def _unstorable(value: Any, path: list[str]) -> list[dict[str, str]]:
    """Find a string no database keeps: a NUL character, or half of a surrogate pair."""
    if isinstance(value, str):
        if "\x00" in value or not _encodes(value):
            pointer = "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in path)
            message = "this text holds a character that cannot be stored (NUL or a lone surrogate)"
            return [{"field": ".".join(path), "pointer": pointer, "message": message}]
        return []
    if isinstance(value, dict):
        for name, item in value.items():
            found = _unstorable(name, path) or _unstorable(item, [*path, name])
            if found:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _unstorable(item, [*path, str(index)])
            if found:
                return found
    return []


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def data_errors(errors: Iterable[FieldError]) -> list[dict[str, str]]:
    """Point a form's field errors into the request body's `data` member."""
    return [
        {
            "field": f"data.{error.field}" if error.field else "data",
            "pointer": "/data" + error.pointer,
            "message": error.message,
        }
        for error in errors
    ]


def query(operation_id: str) -> dict[str, Any]:
    """Return the operation's query parameters, typed and checked, defaults filled in."""
    found: dict[str, Any] = {}
    for parameter in openapi.parameters(operation_id):
        if parameter["in"] != "query":
            continue
        name, schema = parameter["name"], parameter["schema"]
        raw = request.args.get(name)
        if raw is None:
            found[name] = schema.get("default")
            continue
        value: Any = raw
        if schema.get("type") == "integer":
            try:
                value = int(raw) if len(raw) <= 30 else None
            except ValueError:
                value = None
        problems = (
            ["this is not a whole number"]
            if value is None
            else openapi.parameter_errors(operation_id, name, "query", value)
        )
        if problems:
            error = {"field": name, "pointer": "", "message": problems[0]}
            refuse(400, f"The query parameter '{name}' is wrong.", "bad_request", [error])
        found[name] = value
    return found


def idempotency_key(operation_id: str, person: Person) -> str | None:
    """Return the command key of the request's `Idempotency-Key`, kept apart per caller."""
    raw = request.headers.get("Idempotency-Key")
    if raw is None:
        return None
    problems = openapi.parameter_errors(operation_id, "Idempotency-Key", "header", raw)
    if problems:
        error = {"field": "Idempotency-Key", "pointer": "", "message": problems[0]}
        refuse(400, "The Idempotency-Key header is wrong.", "bad_request", [error])
    return f"api:{person.username}:{raw}"


def page(items: list[dict[str, Any]], total: int, limit: int, offset: int) -> Response:
    """Answer one page of a list."""
    return jsonify({"items": items, "total": total, "limit": limit, "offset": offset})


def created(payload: dict[str, Any], location: str) -> Response:
    """Answer 201 with where the new thing lives."""
    response = jsonify(payload)
    response.status_code = 201
    response.headers["Location"] = location
    return response
