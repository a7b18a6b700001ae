"""Sessions end on the server; bearer tokens ignore cookies; guesses count per account.

A session's cookie holds a secret whose hash the server keeps, so signing out, a new
password or a deactivation ends it for every copy of the cookie. A request that bears
an API token is the token's alone: no cookie lends it a person, it never gets a
cookie back, and outside the API it is signed in as no one. Sign-in is throttled per
account as well as per address, with the same answer for accounts that do not exist.
"""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from engine.service.admin import set_active
from engine.service.commands import Commands
from engine.service.tokens import issue_token, revoke_token
from engine.store.database import Database
from engine.store.people import ApiToken, SignInSession, User
from tests.infrastructure import Clock, give_password

PASSWORD = "correct horse battery"


@pytest.fixture
def people(database: Database, commands: Commands) -> None:
    """bob (desktop-support) and dan, both with a password."""
    with database.writer_session() as session, session.begin():
        for username in ("bob", "dan"):
            give_password(session, username, PASSWORD)


def csrf(client: FlaskClient, path: str = "/sign-in") -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text)
    assert found is not None, path
    return found.group(1)


def sign_in(
    client: FlaskClient, username: str, password: str = PASSWORD, address: str = "127.0.0.1"
) -> TestResponse:
    return client.post(
        "/sign-in",
        data={"csrf_token": csrf(client), "username": username, "password": password},
        environ_base={"REMOTE_ADDR": address},
    )


def sign_out(client: FlaskClient) -> None:
    assert client.post("/sign-out", data={"csrf_token": csrf(client, "/")}).status_code == 302


def signed_in(client: FlaskClient) -> bool:
    return client.get("/account").status_code == 200


def copy_of(app: Flask, client: FlaskClient) -> FlaskClient:
    """Another browser holding a copy of the client's session cookie, as a thief would."""
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    assert cookie is not None
    thief = app.test_client()
    thief.set_cookie(app.config["SESSION_COOKIE_NAME"], cookie.value)
    return thief


def sessions_of(database: Database, username: str) -> list[SignInSession]:
    with database.reading() as session:
        return list(
            session.scalars(
                select(SignInSession)
                .join(User, User.id == SignInSession.user_id)
                .where(User.username == username)
                .order_by(SignInSession.id)
            )
        )


# Sign-out, new passwords and deactivation end sessions on the server -------------------------


def test_a_copy_of_the_session_cookie_is_refused_once_its_session_signed_out(
    app: Flask, client: FlaskClient, people: None
) -> None:
    assert sign_in(client, "bob").status_code == 302
    thief = copy_of(app, client)
    assert signed_in(thief)
    sign_out(client)
    assert not signed_in(client)
    assert not signed_in(thief)
    assert thief.get("/inbox").headers["Location"].startswith("/sign-in")
    assert thief.get("/api/v1/me").status_code == 401


def test_signing_out_on_one_device_leaves_the_others_signed_in(
    app: Flask, people: None, database: Database
) -> None:
    laptop, phone = app.test_client(), app.test_client()
    assert sign_in(laptop, "bob").status_code == 302
    assert sign_in(phone, "bob").status_code == 302
    sign_out(laptop)
    assert not signed_in(laptop)
    assert signed_in(phone)
    ended = [row.ended_at is not None for row in sessions_of(database, "bob")]
    assert ended == [True, False]


def test_a_new_password_ends_the_other_sessions_and_their_copies_but_not_this_one(
    app: Flask, people: None, database: Database
) -> None:
    laptop, phone = app.test_client(), app.test_client()
    assert sign_in(laptop, "bob").status_code == 302
    assert sign_in(phone, "bob").status_code == 302
    stolen = copy_of(app, phone)
    new = "a brand new password"
    changed = laptop.post(
        "/account/password",
        data={
            "csrf_token": csrf(laptop, "/account"),
            "current_password": PASSWORD,
            "new_password": new,
            "confirm_password": new,
        },
    )
    assert changed.status_code == 303
    assert signed_in(laptop)
    assert not signed_in(phone)
    assert not signed_in(stolen)
    assert [row.ended_at is not None for row in sessions_of(database, "bob")] == [False, True]


def test_a_deactivated_persons_sessions_stay_ended_when_they_are_let_back_in(
    app: Flask, client: FlaskClient, people: None, database: Database, commands: Commands
) -> None:
    assert sign_in(client, "bob").status_code == 302
    thief = copy_of(app, client)
    with database.writer_session() as session, session.begin():
        set_active(session, "bob", False, commands.clock(), actor="admin")
    assert not signed_in(client)
    with database.writer_session() as session, session.begin():
        set_active(session, "bob", True, commands.clock(), actor="admin")
    assert not signed_in(client)
    assert not signed_in(thief)
    assert sign_in(client, "bob").status_code == 302  # a new sign-in works again
    assert signed_in(client)


def test_the_server_keeps_only_a_hash_of_the_secret_in_the_cookie(
    client: FlaskClient, people: None, database: Database
) -> None:
    assert sign_in(client, "bob").status_code == 302
    with client.session_transaction() as cookie:
        secret = cookie["_user_id"]
    (row,) = sessions_of(database, "bob")
    assert len(secret) >= 40
    assert row.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in row.token_hash


def test_a_session_notes_when_it_was_last_seen_at_most_once_a_minute(
    app: Flask, client: FlaskClient, people: None, database: Database, clock: Clock
) -> None:
    app.extensions["flowdesk"].commands.clock = clock
    began = clock()
    assert sign_in(client, "bob").status_code == 302
    clock.advance(seconds=50)
    assert signed_in(client)
    assert sessions_of(database, "bob")[0].last_seen_at == began
    seen = clock.advance(seconds=11)
    assert signed_in(client)
    assert sessions_of(database, "bob")[0].last_seen_at == seen
    clock.advance(seconds=30)
    assert signed_in(client)
    (row,) = sessions_of(database, "bob")
    assert (row.created_at, row.last_seen_at) == (began, seen)


def test_a_session_left_unused_for_two_weeks_signs_no_one_in_and_neither_does_its_copy(
    app: Flask, client: FlaskClient, people: None, clock: Clock
) -> None:
    app.extensions["flowdesk"].commands.clock = clock
    assert sign_in(client, "bob").status_code == 302
    thief = copy_of(app, client)
    clock.advance(days=13, hours=23)
    assert signed_in(client)  # used in time: two more weeks from now
    clock.advance(days=13, hours=23)
    assert signed_in(client)
    clock.advance(days=14, seconds=1)
    assert not signed_in(client)
    assert not signed_in(thief)
    assert sign_in(client, "bob").status_code == 302
    assert signed_in(client)


def test_a_session_in_daily_use_still_ends_thirty_days_after_sign_in(
    app: Flask, client: FlaskClient, people: None, clock: Clock
) -> None:
    app.extensions["flowdesk"].commands.clock = clock
    assert sign_in(client, "bob").status_code == 302
    for _ in range(29):
        clock.advance(days=1)
        assert signed_in(client)
    clock.advance(days=1, seconds=1)
    assert not signed_in(client)


def test_the_worker_deletes_sessions_only_once_they_have_been_over_for_ninety_days(
    app: Flask, people: None, database: Database, clock: Clock
) -> None:
    services = app.extensions["flowdesk"]
    services.commands.clock = clock
    browsers = {name: app.test_client() for name in ("signed_out", "idle", "busy")}
    for browser in browsers.values():
        assert sign_in(browser, "bob").status_code == 302
    began = clock()
    sign_out(browsers["signed_out"])  # over now
    for _ in range(29):
        clock.advance(days=1)
        assert signed_in(browsers["busy"])
    # "idle" is over 14 days after sign-in, "busy" 30 days after, however much it is used.

    pruned = []
    for day in (89, 91, 103, 105, 119, 121):
        clock.now = began + timedelta(days=day)
        pruned.append(services.accounts.prune_sessions())
    assert pruned == [0, 1, 0, 1, 0, 1]
    assert sessions_of(database, "bob") == []


# Bearer tokens ignore cookies -----------------------------------------------------------------


@pytest.fixture
def token(database: Database, commands: Commands, people: None) -> str:
    """An API token of dan's."""
    with database.writer_session() as session, session.begin():
        return issue_token(session, "dan", "script", commands.clock())[1]


@pytest.fixture
def bob(client: FlaskClient, people: None) -> FlaskClient:
    """A browser signed in as bob."""
    assert sign_in(client, "bob").status_code == 302
    assert client.get("/api/v1/me").json["username"] == "bob"  # the cookie counts on its own
    return client


@pytest.mark.parametrize(
    "authorization",
    ["Bearer fd_not_a_token", "Bearer", "Bearer   ", "bearer fd_x", "BEARER ", "Bearer\tfd_x"],
)
def test_a_bad_bearer_token_is_refused_even_with_a_valid_session_cookie(
    bob: FlaskClient, authorization: str
) -> None:
    refused = bob.get("/api/v1/me", headers={"Authorization": authorization})
    assert refused.status_code == 401
    assert refused.json["code"] == "unauthorized"


def test_a_revoked_token_is_refused_even_with_a_valid_session_cookie(
    bob: FlaskClient, database: Database, commands: Commands, token: str
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    assert bob.get("/api/v1/me", headers=headers).json["username"] == "dan"
    with database.writer_session() as session, session.begin():
        token_id = session.scalar(select(ApiToken.id).where(ApiToken.name == "script"))
        assert token_id is not None
        revoke_token(session, token_id, "dan", commands.clock())
    assert bob.get("/api/v1/me", headers=headers).status_code == 401


def _set_cookies(response: TestResponse) -> list[str]:
    return response.headers.getlist("Set-Cookie")


@pytest.mark.parametrize("path", ["/api/v1/me", "/sign-in", "/", "/inbox", "/api/v1/tasks"])
def test_a_bearer_request_never_gets_a_cookie_back(bob: FlaskClient, token: str, path: str) -> None:
    for authorization in (f"Bearer {token}", "Bearer fd_not_a_token"):
        answer = bob.get(path, headers={"Authorization": authorization})
        assert answer.status_code < 500
        assert _set_cookies(answer) == [], (path, authorization)


@pytest.mark.parametrize("path", ["/inbox", "/account", "/my-requests", "/admin"])
def test_a_bearer_token_signs_no_one_in_to_the_pages(
    app: Flask, bob: FlaskClient, token: str, path: str
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    for browser in (app.test_client(), bob):  # with no cookie, and with bob's
        answer = browser.get(path, headers=headers)
        assert answer.status_code == 302, (path, answer.status_code)
        assert answer.headers["Location"].startswith("/sign-in")


def test_a_page_post_bearing_a_token_is_refused_whatever_cookie_came_along(
    bob: FlaskClient, token: str, database: Database
) -> None:
    form = {"csrf_token": csrf(bob, "/account"), "name": "made by a script"}
    refused = bob.post("/account/tokens", data=form, headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 400  # the cookie's session, and its CSRF token, do not count
    with database.reading() as session:
        names = set(session.scalars(select(ApiToken.name)))
    assert "made by a script" not in names


# Throttles count per account as well as per address ------------------------------------------


def attempts(
    client: FlaskClient, username: str, passwords: list[str], first_address: int = 1
) -> list[int]:
    """Sign-in attempts, each from another address; their status codes."""
    return [
        sign_in(client, username, password, f"10.0.{first_address}.{n}").status_code
        for n, password in enumerate(passwords)
    ]


@pytest.mark.parametrize(
    "settings",
    [{"SIGN_IN_ACCOUNT_RATE_LIMIT": "3 per minute", "SIGN_IN_RATE_LIMIT": "100 per minute"}],
)
def test_guesses_at_one_account_from_many_addresses_are_throttled(
    app: Flask, client: FlaskClient, people: None, settings: dict[str, Any]
) -> None:
    guesses = [f"guess number {n}" for n in range(3)]
    assert attempts(client, "bob", [*guesses, PASSWORD]) == [401, 401, 401, 429]
    # The same name typed otherwise is the same account.
    assert attempts(client, " BOB ", [PASSWORD], first_address=2) == [429]
    # Other accounts, from the same addresses, are not held back.
    assert attempts(app.test_client(), "dan", [PASSWORD]) == [302]


@pytest.mark.parametrize(
    "settings",
    [{"SIGN_IN_ACCOUNT_RATE_LIMIT": "3 per minute", "SIGN_IN_RATE_LIMIT": "100 per minute"}],
)
def test_an_account_that_does_not_exist_is_throttled_the_same_way(
    client: FlaskClient, people: None, settings: dict[str, Any]
) -> None:
    guesses = [f"guess number {n}" for n in range(4)]
    real = [sign_in(client, "bob", g, f"10.1.0.{n}") for n, g in enumerate(guesses)]
    ghost = [sign_in(client, "nobody", g, f"10.2.0.{n}") for n, g in enumerate(guesses)]
    assert [r.status_code for r in real] == [r.status_code for r in ghost] == [401, 401, 401, 429]
    assert [_words(r) for r in real] == [_words(r) for r in ghost]


def _words(response: TestResponse) -> str:
    """The text of an answer without its per-request parts (the CSRF token, the name typed)."""
    text = re.sub(r'value="[^"]*"', "", response.text)
    return text.replace("nobody", "bob")
