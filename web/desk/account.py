"""The signed-in person's own page: their details, their password and their API tokens.

A new token is shown once, in the answer to the post that made it, and never kept
anywhere but as its hash: that answer is not cached and not redirected (a redirect
would have to carry the token through the session cookie).
"""

from __future__ import annotations

from datetime import date
from typing import Any, cast

from babel.dates import format_date
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
from engine.service.locales import Reading, locale_named, time_zones
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


#: The date formats offered (any other Babel knows may be set through the API or the CLI).
LOCALES = (
    "en_GB", "en_US", "en_IE", "en_AU", "en_CA", "en_IN", "de_DE", "de_AT", "de_CH", "fr_FR",
    "fr_BE", "fr_CA", "nl_NL", "nl_BE", "es_ES", "es_MX", "it_IT", "pt_PT", "pt_BR", "da_DK",
    "sv_SE", "nb_NO", "fi_FI", "pl_PL", "cs_CZ", "hu_HU", "ro_RO", "el_GR", "tr_TR", "uk_UA",
    "ja_JP", "ko_KR", "zh_Hans_CN", "zh_Hant_TW", "hi_IN", "ar_EG", "he_IL",
)  # fmt: skip


def _page(status: int = 200, **context: Any) -> Response:
    person = me()
    context.setdefault("password_errors", {})
    context.setdefault("token_errors", {})
    context.setdefault("reading_errors", {})
    context.setdefault("reading", Reading(person.time_zone, person.locale))
    html = render_template(
        "admin/account.html",
        person=person,
        tokens=services().accounts.tokens(person.username),
        min_password=MIN_PASSWORD_LENGTH,
        zones=[
            ("", "As my browser says"),
            *((zone, zone.replace("_", " ")) for zone in time_zones()),
        ],
        locales=_locales(context["reading"].locale),
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


@blueprint.post("/reading")
@require()
def choose_reading() -> Response:
    """Choose the time zone and date format my pages use ("" for my browser's)."""
    zone, locale = request.form.get("time_zone", ""), request.form.get("locale", "")
    try:
        services().readings.choose(me(), me().username, time_zone=zone, locale=locale)
    except InvalidInput as error:
        return _page(422, reading_errors=field_errors(error), reading=Reading(zone, locale))
    flash("Pages now say times and dates as you chose.", "success")
    return cast(Response, redirect(url_for("account.account"), 303))


def _locales(chosen: str | None) -> list[tuple[str, str]]:
    """The date formats offered, each with today as it writes it; `chosen` among them."""
    today = date.today()
    names = [*LOCALES, *([chosen] if chosen and chosen not in LOCALES else [])]
    offered = [("", "As my browser says")]
    for name in names:
        locale = locale_named(name)
        if locale is not None:
            offered.append(
                (name, f"{locale.display_name}: {format_date(today, 'medium', locale=locale)}")
            )
    return offered


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
