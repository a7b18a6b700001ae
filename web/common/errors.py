"""Turn errors into answers in one place: an HTML page for people, JSON for the API.

API errors share one shape: `{"code": ..., "message": ..., "errors": [...]}`, where
`errors` lists `{"field", "pointer", "message"}` when the input had field problems.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Flask, Response, current_app, render_template, request
from flask_limiter import RateLimitExceeded
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from engine.service.errors import DATABASE_AWAY, ServiceError
from forms.definition import MAX_FILE_SIZE, MAX_FILES, size_words

#: Service error code -> HTTP status.
STATUS = {
    "not_found": 404,
    "not_allowed": 403,
    "conflict": 409,
    "invalid": 422,
    "key_reused": 422,
    "too_large": 413,
    "busy": 503,
    "unavailable": 503,
}

#: What a person reads for each status, when nothing more precise is known.
MESSAGES = {
    400: "The request could not be understood.",
    403: "You may not do this.",
    404: "There is nothing here. Check the address, or the link you were given.",
    405: "This page does not accept that.",
    409: "This has changed since you opened it; nothing was saved.",
    413: "That is too large. Nothing was saved.",
    422: "Some of what you sent cannot be used.",
    429: "Too many tries. Wait a minute and try again.",
    500: (
        "Something went wrong on our side, and what you sent may not have been saved. Try "
        "again shortly: a form sent again is not saved twice."
    ),
    503: "The service is busy. Try again in a moment.",
}


#: Where every answer is JSON, errors the app answers for them too (a refused CSRF token on
#: the designer's API, a GET to the intake) included.
JSON_PATHS = ("/api/", "/designer/api/", "/intake/")


def wants_json() -> bool:
    return (
        request.path.startswith(JSON_PATHS) or request.accept_mimetypes.best == "application/json"
    )


def answer(
    status: int, message: str, code: str, errors: list[dict[str, Any]] | None = None
) -> Response:
    """Answer with an error page or an API error body."""
    if wants_json():
        body = {"code": code, "message": message, "errors": errors or []}
        response = Response(json.dumps(body), status=status, mimetype="application/json")
    else:
        html = render_template("error.html", status=status, message=message)
        response = Response(html, status=status, mimetype="text/html")
    return response


def _http(error: HTTPException) -> Response:
    status = error.code or 500
    message = MESSAGES.get(status, error.description or "")
    if status == 413:  # say the limit that was passed
        most = int(current_app.config["MAX_CONTENT_LENGTH"])
        sent = request.content_length
        message = too_large_words(most) if sent is None or sent > most else _form_words()
    return answer(status, message, error.name.lower().replace(" ", "_"))


def too_large_words(most: int) -> str:
    """Say the one upload limit to someone who sent more."""
    return (
        f"That is more than can be sent at once ({size_words(most)} in all); nothing was "
        f"saved. Send at most {MAX_FILES} files, each at most {size_words(MAX_FILE_SIZE)}."
    )


def _form_words() -> str:
    """Say the limits of a form's parts to someone whose post was small enough in all: it
    had too many fields and files, or one field's text too long to read."""
    parts = current_app.config.get("MAX_FORM_PARTS") or 1000
    text = current_app.config.get("MAX_FORM_MEMORY_SIZE") or 500_000
    return (
        f"That form sent more than can be read: at most {parts:,} fields and files, and at "
        f"most {size_words(text)} of text in one field. Nothing was saved."
    )


def _csrf(error: CSRFError) -> Response:
    message = (
        "This form has expired or did not come from this site, so nothing was saved. "
        "Go back, reload the page and send it again."
    )
    if wants_json():
        return answer(400, message, "csrf")
    # A session that ran out while someone wrote: what they wrote is given back to copy,
    # not lost with the page (a password or a token never).
    html = render_template("error.html", status=400, message=message, kept=_kept_texts())
    return Response(html, status=400, mimetype="text/html")


#: Names of posted values never shown again: secrets, and the form's own machinery.
_NOT_KEPT = ("password", "token", "secret", "csrf", "submission", "key")


def _kept_texts() -> list[tuple[str, str]]:
    """The texts a refused post carried that are worth keeping: several words, not a choice."""
    kept = []
    for name, value in request.form.items(multi=True):
        if any(word in name.lower() for word in _NOT_KEPT) or len(value.strip()) < 20:
            continue
        kept.append((name, value))
    return kept[:20]


def _service(error: ServiceError) -> Response:
    problems = [{"field": "", "pointer": p.pointer, "message": p.message} for p in error.problems]
    return answer(STATUS.get(error.code, 400), error.message, error.code, problems)


def _too_many(error: RateLimitExceeded) -> Response:
    response = _http(error)
    # Limits count in fixed windows: waiting a whole window is always enough.
    response.headers["Retry-After"] = str(error.limit.limit.get_expiry())
    return response


#: Seconds a client is asked to wait when the database does not answer.
DATABASE_RETRY_AFTER_S = 5


#: What a person reads when the database does not answer.
DATABASE_AWAY_WORDS = (
    "The database is not answering just now, so nothing was saved. Try again in a moment."
)


def _database_away(error: Exception) -> Response:
    # Nothing was saved (see DATABASE_AWAY), and trying again is the right advice.
    current_app.logger.warning("the database did not answer: %s", error)
    try:
        response = answer(503, DATABASE_AWAY_WORDS, "unavailable")
    except DATABASE_AWAY:
        # The page's header names who is signed in, which needs the database: say it plainly.
        response = Response(DATABASE_AWAY_WORDS, status=503, mimetype="text/plain")
    response.headers["Retry-After"] = str(DATABASE_RETRY_AFTER_S)
    return response


def posted(name: str) -> str:
    """What a post sent in a text box, to show again on the page that refuses it: a
    comment refused as too long, or a reason wanting, is corrected, not written again."""
    return request.form.get(name, "") if request.method == "POST" else ""


def init_app(app: Flask) -> None:
    app.jinja_env.globals["posted"] = posted
    app.jinja_env.globals["size_words"] = size_words  # "12 bytes", "1.5 KB", "11 MB"
    app.register_error_handler(HTTPException, _http)
    app.register_error_handler(RateLimitExceeded, _too_many)
    app.register_error_handler(CSRFError, _csrf)
    app.register_error_handler(ServiceError, _service)
    for away in DATABASE_AWAY:
        app.register_error_handler(away, _database_away)
