"""What every designer JSON API shares: the service layer, errors as JSON, reading bodies.

The form designer (`designer.api`), the workflow designer (`designer.workflows_api`) and
its simulation (`designer.simulation_api`) answer errors the same way: `{"code",
"message", "problems"?}` with a status by the service's error code; a body that is not
JSON is a 400 that says where it stops.
"""

from __future__ import annotations

from typing import Any, cast

from flask import Blueprint, Response, abort, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from engine.service.bootstrap import Services
from engine.service.errors import InvalidInput, NotFound, ServiceError

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


def error(status: int, code: str, message: str, **more: Any) -> Response:
    """Answer an error as JSON: `{"code", "message", ...}` with `status`."""
    response = jsonify(code=code, message=message, **more)
    response.status_code = status
    return response


def service_error(refused: ServiceError) -> Response:
    """Answer a refused command with its status, message and problems (JSON Pointers)."""
    problems = [{"pointer": p.pointer, "message": p.message} for p in refused.problems]
    return error(STATUS.get(refused.code, 400), refused.code, refused.message, problems=problems)


def http_error(raised: HTTPException) -> Response:
    """Answer Flask's own errors (404, 405, 413...) as JSON too."""
    return error(raised.code or 500, "http", raised.description or raised.name)


def answers_json(blueprint: Blueprint) -> None:
    """Make a blueprint answer its errors as JSON."""
    blueprint.register_error_handler(ServiceError, service_error)
    blueprint.register_error_handler(HTTPException, http_error)


def body() -> dict[str, Any]:
    """The request's JSON object ({} when there is none); JSON that does not parse is a 400."""
    if not request.get_data(cache=True):
        return {}
    try:
        # The app's own JSON reader, which says where it stopped ("line 1 column 12").
        found = current_app.json.loads(request.get_data(cache=True))
    except (ValueError, RecursionError) as bad:
        abort(error(400, "bad_json", f"the body is not valid JSON: {bad}"))
    if not isinstance(found, dict):
        raise InvalidInput('send a JSON object, like {"document": {...}}')
    return found


def revision(sent: dict[str, Any]) -> int | None:
    """The draft revision a save or publish starts from: `If-Match`, else `"revision"`."""
    header = request.headers.get("If-Match", "").strip().strip('"')
    given = header or sent.get("revision")
    if given is None or given == "":
        return None
    # Only a whole number as written: int() made `true` revision 1 and 1.9 revision 1.
    if isinstance(given, str) and given.isascii() and given.isdigit() and len(given) <= 10:
        return int(given)
    if isinstance(given, int) and not isinstance(given, bool) and 0 <= given < 2**31:
        return given
    raise InvalidInput("the revision must be a whole number")


def side(which: str) -> int | None:
    """One side of a diff: a version number, or None for the draft."""
    if which == "draft":
        return None
    if not (which.isascii() and which.isdigit()):
        raise InvalidInput("'from' and 'to' are version numbers, or 'draft'")
    if len(which) > len(str(MAX_VERSION)) or int(which) > MAX_VERSION:
        raise NotFound(f"there is no version {which}")  # more than the database can number
    return int(which)


def diff_sides() -> tuple[int | None, int | None]:
    """The two sides a diff compares, from `?from=` and `?to=` (the draft by default)."""
    return side(request.args.get("from", "")), side(request.args.get("to", "draft"))


def comparable(old: Any, new: Any, what: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return two documents to diff; a draft saved as something else cannot be compared."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        raise InvalidInput(f"only {what} that are JSON objects can be compared")
    return old, new
