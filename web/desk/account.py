"""The signed-in person's own page: their details, their password and their API tokens.

A new token is shown once, in the answer to the post that made it, and never kept
anywhere but as its hash: that answer is not cached and not redirected (a redirect
would have to carry the token through the session cookie).
"""

from __future__ import annotations

from typing import Any, cast

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)

from engine.service.accounts import (
    MIN_PASSWORD_LENGTH,
    check_password,
    issue_token,
    revoke_token,
    set_password,
    tokens,
)
from engine.service.errors import InvalidInput
from engine.store.database import Database
from web.auth import me, renew_sign_in, require
from web.security import limiter

blueprint = Blueprint("account", __name__, url_prefix="/account")


def _database() -> Database:
    database: Database = current_app.extensions["flowdesk.database"]
    return database


def _password_limit() -> str:
    # Guessing the current password here is guessing at the sign-in: the same limit.
    return str(current_app.config["SIGN_IN_RATE_LIMIT"])


def _page(status: int = 200, **context: Any) -> Response:
    person = me()
    with _database().reading() as session:
        rows = tokens(session, person.username)
    context.setdefault("password_errors", {})
    context.setdefault("token_errors", {})
    html = render_template(
        "admin/account.html",
        person=person,
        tokens=rows,
        min_password=MIN_PASSWORD_LENGTH,
        **context,
    )
    response = Response(html, status=status, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.get("")
@require()
def account() -> Response:
    """Show who I am, and my API tokens."""
    return _page()


@blueprint.post("/password")
@limiter.limit(_password_limit)
@require()
def change_password() -> Response:
    """Change my password; the current one must be given first."""
    person = me()
    current = request.form.get("current_password", "")
    new = request.form.get("new_password", "")
    errors: dict[str, str] = {}
    with _database().reading() as session:
        if check_password(session, person.username, current) is None:
            errors["current_password"] = "Your current password is not right."
    if len(new) < MIN_PASSWORD_LENGTH:
        errors["new_password"] = f"A password needs at least {MIN_PASSWORD_LENGTH} characters."
    elif new != request.form.get("confirm_password", ""):
        errors["confirm_password"] = "The two new passwords are not the same."
    if errors:
        return _page(422, password_errors=errors)
    with _database().writer_session() as session, session.begin():
        set_password(session, person.username, new)
    renew_sign_in()  # other sessions end: they signed in with the old password
    flash("Your password was changed; you were signed out everywhere else.", "success")
    return cast(Response, redirect(url_for("account.account"), 303))


@blueprint.post("/tokens")
@require()
def create_token() -> Response:
    """Make an API token and show it this once."""
    person = me()
    name = request.form.get("name", "").strip()
    if not name:
        return _page(
            422,
            token_errors={"name": "Give the token a name, e.g. the script that uses it."},
            token_name=name,
        )
    if len(name) > 120:
        return _page(
            422,
            token_errors={"name": "A token's name can have at most 120 characters."},
            token_name=name,
        )
    clock = current_app.extensions["flowdesk.commands"].clock
    try:
        with _database().writer_session() as session, session.begin():
            _, token = issue_token(session, person.username, name, clock())
    except InvalidInput as error:
        return _page(422, token_errors={"name": error.message}, token_name=name)
    return _page(201, new_token=token, new_token_name=name)


@blueprint.post("/tokens/<int:token_id>/revoke")
@require()
def revoke(token_id: int) -> Response:
    """Revoke one of my tokens; another person's token is not found."""
    person = me()
    clock = current_app.extensions["flowdesk.commands"].clock
    with _database().writer_session() as session, session.begin():
        revoke_token(session, token_id, person.username, clock())
    flash("The token was revoked: it no longer works.", "success")
    return cast(Response, redirect(url_for("account.account"), 303))


def init_app(app: Flask) -> None:
    app.register_blueprint(blueprint)
