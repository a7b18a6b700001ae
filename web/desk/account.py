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

from engine.service.errors import InvalidInput
from engine.settings import MIN_PASSWORD_LENGTH
from web.admin import field_errors
from web.auth import current_session, limit_per_signed_in_account, me, require
from web.common.security import limiter
from web.common.services import services

blueprint = Blueprint("account", __name__, url_prefix="/account")


def _password_limit() -> str:
    # Guessing the current password here is guessing at the sign-in: the same limits, per
    # address and (shared with the sign-in) per account.
    return str(current_app.config["SIGN_IN_RATE_LIMIT"])


def _page(status: int = 200, **context: Any) -> Response:
    person = me()
    context.setdefault("password_errors", {})
    context.setdefault("token_errors", {})
    html = render_template(
        "admin/account.html",
        person=person,
        tokens=services().accounts.tokens(person.username),
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
@limit_per_signed_in_account
@require()
def change_password() -> Response:
    """Change my password; the current one must be given first. My other sessions end."""
    try:
        services().accounts.change_password(
            me().username,
            request.form.get("current_password", ""),
            request.form.get("new_password", ""),
            confirm=request.form.get("confirm_password", ""),
            keep_session=current_session(),
        )
    except InvalidInput as error:
        return _page(422, password_errors=field_errors(error))
    flash("Your password was changed; you were signed out everywhere else.", "success")
    return cast(Response, redirect(url_for("account.account"), 303))


@blueprint.post("/tokens")
@require()
def create_token() -> Response:
    """Make an API token and show it this once."""
    name = request.form.get("name", "")
    try:
        _, token = services().accounts.issue_token(me().username, name)
    except InvalidInput as error:
        return _page(422, token_errors=field_errors(error), token_name=name.strip())
    return _page(201, new_token=token, new_token_name=name.strip())


@blueprint.post("/tokens/<int:token_id>/revoke")
@require()
def revoke(token_id: int) -> Response:
    """Revoke one of my tokens; another person's token is not found."""
    services().accounts.revoke_token(me().username, token_id)
    flash("The token was revoked: it no longer works.", "success")
    return cast(Response, redirect(url_for("account.account"), 303))


def init_app(app: Flask) -> None:
    app.register_blueprint(blueprint)
