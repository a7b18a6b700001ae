"""Sign-in and who may see what: sessions for people (Flask-Login), bearer tokens for scripts.

Pages use the session cookie; the REST API under `/api/v1` acts only for bearer tokens
(`Authorization: Bearer fd_...`) and counts a session only for requests that change
nothing, so a page on another site cannot make a signed-in browser act through it:
that is why the API needs no CSRF token.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from datetime import UTC, datetime
from functools import wraps
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import AnonymousUserMixin, LoginManager, UserMixin, current_user, login_user
from flask_login import logout_user as _logout_user

from engine.service.accounts import (
    Person,
    check_password,
    load_person,
    person_for_token,
    touch_token,
)
from engine.store.database import Database
from web.errors import answer, wants_json
from web.security import limiter

blueprint = Blueprint("auth", __name__)
login_manager = LoginManager()

View = TypeVar("View", bound=Callable[..., Any])


class Account(UserMixin):
    """The signed-in user as Flask-Login sees them; `person` is what the app uses."""

    def __init__(self, person: Person, *, by_token: bool = False) -> None:
        self.person = person
        self.by_token = by_token

    def get_id(self) -> str:
        # What the session keeps: the user's id and their password's stand-in, so changing
        # the password ends every other session (`_load`).
        return f"{self.person.id}:{self.person.credentials}"


class Anonymous(AnonymousUserMixin):
    person = None
    by_token = False


def _database() -> Database:
    database: Database = current_app.extensions["flowdesk.database"]
    return database


def signed_in() -> Person | None:
    """Return who is signed in (by session or token), or None."""
    return cast(Person | None, getattr(current_user, "person", None))


def me() -> Person:
    """Return who is signed in; only for views behind `require`."""
    person = signed_in()
    if person is None:
        abort(401)
    return person


def require(*roles: str) -> Callable[[View], View]:
    """Let a view run only for signed-in people with one of `roles` (any role when none)."""

    def decorate(view: View) -> View:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            person = signed_in()
            if person is None:
                return login_manager.unauthorized()
            if roles and not _allowed(person, roles):
                abort(403)
            return view(*args, **kwargs)

        return cast(View, guarded)

    return decorate


def _allowed(person: Person, roles: tuple[str, ...]) -> bool:
    if "agent" in roles and person.is_agent:
        return True
    return person.has_role(*roles)


@login_manager.user_loader
def _load(user_id: str) -> Account | None:
    if request.headers.get("Authorization", "").lower().startswith("bearer "):
        return None  # a script's token speaks for it, whatever cookie came along
    number, _, credentials = user_id.partition(":")
    if not (number.isascii() and number.isdigit()):
        return None
    with _database().reading() as reading:
        person = load_person(reading, int(number))
    if person is None or not hmac.compare_digest(person.credentials.encode(), credentials.encode()):
        return None  # gone, deactivated, or signed in with a password since changed
    return Account(person)


@login_manager.request_loader
def _from_token(req: Any) -> Account | None:
    header = req.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    now = datetime.now(UTC)
    with _database().reading() as reading:
        found = person_for_token(reading, token.strip(), now)
    if found is None:
        return None
    person, stale_id = found
    if stale_id:
        with _database().writer_session() as writing, writing.begin():
            touch_token(writing, stale_id, now)
    return Account(person, by_token=True)


@login_manager.unauthorized_handler
def _unauthorized() -> Response:
    if wants_json():
        response = answer(401, "Sign in first: send an API token as 'Bearer'.", "unauthorized")
        response.headers["WWW-Authenticate"] = 'Bearer realm="flowdesk"'
        return response
    return cast(Response, redirect(url_for("auth.sign_in", next=request.full_path.rstrip("?"))))


def _sign_in_limit() -> str:
    return str(current_app.config["SIGN_IN_RATE_LIMIT"])


@blueprint.get("/sign-in")
def sign_in() -> str:
    return render_template("auth/sign_in.html", error=None, username="")


@blueprint.post("/sign-in")
@limiter.limit(_sign_in_limit)
def sign_in_post() -> Response | tuple[str, int]:
    """Check the password; on success start a fresh session and go where the person was going."""
    username = request.form.get("username", "")
    with _database().reading() as reading:
        person = check_password(reading, username, request.form.get("password", ""))
    if person is None:
        page = render_template(
            "auth/sign_in.html",
            error="The username or password is not right.",
            username=username,
        )
        return page, 401
    session.clear()  # a new session for the signed-in person: no fixation of an old one
    login_user(Account(person))
    return cast(Response, redirect(_safe_next(request.args.get("next")) or _home(person)))


def renew_sign_in() -> None:
    """Keep this session signed in after its person's password changed; the others end."""
    person = me()
    with _database().reading() as reading:
        renewed = load_person(reading, person.id)
    if renewed is not None:
        login_user(Account(renewed))


@blueprint.post("/sign-out")
def sign_out() -> Response:
    _logout_user()
    session.clear()
    return cast(Response, redirect(url_for("portal.home")))


def _home(person: Person) -> str:
    if person.is_agent and "inbox.inbox" in current_app.view_functions:
        return url_for("inbox.inbox")
    return url_for("portal.home")


def _safe_next(target: str | None) -> str | None:
    """Follow `next` only to a path on this site: never to another host."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


def init_app(app: Flask) -> None:
    app.config.setdefault("SIGN_IN_RATE_LIMIT", "10 per minute; 100 per hour")
    login_manager.init_app(app)
    login_manager.anonymous_user = Anonymous
    login_manager.session_protection = "strong"
    app.register_blueprint(blueprint)

    @app.context_processor
    def _who() -> dict[str, Any]:
        return {"me": signed_in(), "has_page": lambda endpoint: endpoint in app.view_functions}
