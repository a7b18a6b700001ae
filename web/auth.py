"""Sign-in and who may see what: server-side sessions for people, bearer tokens for scripts.

Pages use a sign-in session: the cookie holds a random secret, the server keeps its
hash (`engine.service.accounts`), and every request checks it in the statement that
loads the person, so signing out ends the session for every copy of the cookie.

The REST API under `/api/v1` acts only for bearer tokens (`Authorization: Bearer
fd_...`) and counts a session only for requests that change nothing, so a page on
another site cannot make a signed-in browser act through it: that is why the API
needs no CSRF token. A request that bears a token is the token's alone: its cookies
are neither read nor written, and outside the API it is signed in as no one.

Sign-in is throttled per client address and per account (the username posted), so
neither many guesses from one address nor a few from each of many addresses get far.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    Request,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface, SessionMixin
from flask_login import AnonymousUserMixin, LoginManager, UserMixin, current_user, login_user
from flask_login import logout_user as _logout_user

from engine.service.person import Person
from web.common.errors import answer, wants_json
from web.common.security import limiter
from web.common.services import services

blueprint = Blueprint("auth", __name__)

View = TypeVar("View", bound=Callable[..., Any])

#: Where bearer tokens count: the REST API. Pages never sign anyone in by token.
API_PREFIX = "/api/"
#: The limiter's scope of guesses at one account's password, wherever they are made.
ACCOUNT_SCOPE = "sign-in-account"


def bearer_token(req: Request) -> str | None:
    """Return the token of an `Authorization: Bearer` header ("" if empty), None without one."""
    parts = req.headers.get("Authorization", "").split(None, 1)  # any blank separates
    if not parts or parts[0].lower() != "bearer":
        return None
    return parts[1].strip() if len(parts) > 1 else ""


class Account(UserMixin):
    """The signed-in user as Flask-Login sees them; `person` is what the app uses."""

    def __init__(self, person: Person, *, session_secret: str | None = None) -> None:
        self.person = person
        #: The sign-in session's secret; None when the request bears an API token.
        self.session_secret = session_secret

    @property
    def by_token(self) -> bool:
        return self.session_secret is None

    def get_id(self) -> str:
        # What Flask-Login keeps in the session cookie: the sign-in session's secret
        # (the server keeps only its hash), so ending the session on the server ends it.
        return self.session_secret or ""


class Anonymous(AnonymousUserMixin):
    person = None
    by_token = False
    session_secret = None


class TokenBlindSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, except that a request bearing a token has none.

    Its cookie is not read, and nothing is written back: no `Set-Cookie` answers a
    script, and a cookie sent along with a token cannot lend it anyone's session.
    """

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if bearer_token(request) is not None:
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        if bearer_token(request) is not None:
            return
        super().save_session(app, session, response)


login_manager = LoginManager()


def signed_in() -> Person | None:
    """Return who is signed in (by session, or by token under the API), or None."""
    return cast(Person | None, getattr(current_user, "person", None))


def me() -> Person:
    """Return who is signed in; only for views behind `require`."""
    person = signed_in()
    if person is None:
        abort(401)
    return person


def current_session() -> str | None:
    """Return the secret of this request's sign-in session (None for a token or no one)."""
    return cast(str | None, getattr(current_user, "session_secret", None))


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
def _load(session_secret: str) -> Account | None:
    person = services().accounts.person_for_session(session_secret)
    if person is None:
        return None  # signed out, ended by a new password, deactivated, or never valid
    return Account(person, session_secret=session_secret)


@login_manager.request_loader
def _from_token(req: Request) -> Account | None:
    # A request bearing a token has no session (`TokenBlindSessions`), so Flask-Login comes
    # here: the token decides, under the API only; pages never sign anyone in by token.
    token = bearer_token(req)
    if not token or not req.path.startswith(API_PREFIX):
        return None
    person = services().accounts.person_for_token(token)
    return Account(person) if person is not None else None


@login_manager.unauthorized_handler
def _unauthorized() -> Response:
    if wants_json():
        response = answer(401, "Sign in first: send an API token as 'Bearer'.", "unauthorized")
        response.headers["WWW-Authenticate"] = 'Bearer realm="flowdesk"'
        return response
    return cast(Response, redirect(url_for("auth.sign_in", next=request.full_path.rstrip("?"))))


def _sign_in_limit() -> str:
    return str(current_app.config["SIGN_IN_RATE_LIMIT"])


def _account_limit() -> str:
    return str(current_app.config["SIGN_IN_ACCOUNT_RATE_LIMIT"])


def account_key(username: str) -> str:
    """The limiter's key for guesses at one account: the same however the name is typed.

    Unknown usernames get a key too, so being throttled tells nothing about whether
    an account exists; the name is hashed to keep the key short whatever was posted.
    """
    normal = unicodedata.normalize("NFKC", username).strip().casefold()
    return "account:" + hashlib.sha256(normal.encode()).hexdigest()[:32]


def _posted_account() -> str:
    return account_key(request.form.get("username", ""))


def _signed_in_account() -> str:
    person = signed_in()
    return account_key(person.username if person is not None else "")


def _refused(response: Response) -> bool:
    """Count a try against a limit only when it failed: people who sign in right (a whole
    office behind one address at nine) are not throttled, guesses are."""
    return response.status_code >= 400


#: Guesses at one account's password, wherever made (sign-in, the password form), counted
#: together per account.
limit_per_account = limiter.shared_limit(
    _account_limit, ACCOUNT_SCOPE, key_func=_posted_account, deduct_when=_refused
)
limit_per_signed_in_account = limiter.shared_limit(
    _account_limit, ACCOUNT_SCOPE, key_func=_signed_in_account, deduct_when=_refused
)


@blueprint.get("/sign-in")
def sign_in() -> str:
    return render_template("auth/sign_in.html", error=None, username="")


@blueprint.post("/sign-in")
@limiter.limit(_sign_in_limit, deduct_when=_refused)
@limit_per_account
def sign_in_post() -> Response | tuple[str, int]:
    """Check the password; on success start a fresh session and go where the person was going."""
    username = request.form.get("username", "")
    signed = services().accounts.sign_in(username, request.form.get("password", ""))
    if signed is None:
        page = render_template(
            "auth/sign_in.html",
            error="The username or password is not right.",
            username=username,
        )
        return page, 401
    session.clear()  # a new session for the signed-in person: no fixation of an old one
    login_user(Account(signed.person, session_secret=signed.secret))
    return cast(Response, redirect(_safe_next(request.args.get("next")) or _home(signed.person)))


@blueprint.post("/sign-out")
def sign_out() -> Response:
    """End this sign-in session on the server, then forget it in the browser."""
    secret = current_session()
    if secret:
        services().accounts.sign_out(secret)
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
    app.session_interface = TokenBlindSessions()
    login_manager.init_app(app)
    login_manager.anonymous_user = Anonymous
    login_manager.session_protection = "strong"
    app.register_blueprint(blueprint)

    @app.context_processor
    def _who() -> dict[str, Any]:
        return {"me": signed_in(), "has_page": lambda endpoint: endpoint in app.view_functions}
