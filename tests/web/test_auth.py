"""Signing in with a password, and calling the API with a token that can be revoked."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from engine.service.accounts import set_password
from engine.service.admin import set_active
from engine.service.commands import Commands
from engine.service.tokens import issue_token, revoke_token
from engine.store.database import Database
from engine.store.instances import Instance
from engine.store.people import ApiToken, User

PASSWORD = "correct horse battery"


@pytest.fixture
def bob(database: Database, commands: Commands) -> str:
    """bob, of desktop-support, with a password."""
    with database.writer_session() as session, session.begin():
        set_password(session, "bob", PASSWORD)
    return "bob"


def csrf(client: FlaskClient, path: str = "/sign-in") -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text)
    assert found is not None
    return found.group(1)


def sign_in(client: FlaskClient, username: str, password: str, next_: str = "") -> object:
    query = f"?next={next_}" if next_ else ""
    return client.post(
        f"/sign-in{query}",
        data={"csrf_token": csrf(client), "username": username, "password": password},
    )


def test_a_wrong_password_is_refused_in_words_that_do_not_say_which_part_was_wrong(
    client: FlaskClient, bob: str
) -> None:
    for username, password in (("bob", "wrong password!"), ("nobody", PASSWORD)):
        response = sign_in(client, username, password)
        assert response.status_code == 401
        assert "The username or password is not right." in response.text
    with client.session_transaction() as session:
        assert "_user_id" not in session


def test_the_right_password_signs_in_and_sign_out_ends_it(client: FlaskClient, bob: str) -> None:
    response = sign_in(client, "bob", PASSWORD)
    assert response.status_code == 302
    page = client.get("/")
    assert "Sign out" in page.text
    assert "Bob" in page.text or "bob" in page.text
    client.post("/sign-out", data={"csrf_token": csrf(client, "/")})
    assert "Sign in" in client.get("/").text


def test_after_sign_in_it_goes_back_where_the_person_was_going_but_never_off_site(
    client: FlaskClient, bob: str
) -> None:
    assert sign_in(client, "bob", PASSWORD, "/new/it-incident").headers["Location"] == (
        "/new/it-incident"
    )
    client.post("/sign-out", data={"csrf_token": csrf(client, "/")})
    for evil in ("https://evil.example/", "//evil.example/x", "javascript:alert(1)"):
        location = sign_in(client, "bob", PASSWORD, evil).headers["Location"]
        assert "evil" not in location
        assert not location.startswith("javascript")
        client.post("/sign-out", data={"csrf_token": csrf(client, "/")})


@pytest.mark.parametrize("settings", [{"SIGN_IN_RATE_LIMIT": "3 per minute"}])
def test_sign_in_attempts_are_rate_limited(app: Flask, client: FlaskClient, bob: str) -> None:
    codes = [sign_in(client, "bob", "guess number " + str(n)).status_code for n in range(3)]
    assert codes == [401, 401, 401]
    assert sign_in(client, "bob", PASSWORD).status_code == 429


@pytest.mark.parametrize("settings", [{"SIGN_IN_RATE_LIMIT": "3 per minute"}])
def test_only_failed_sign_ins_count_toward_the_limit(
    app: Flask, client: FlaskClient, bob: str
) -> None:
    for _ in range(5):  # people signing in right, one after another, from one address
        assert sign_in(client, "bob", PASSWORD).status_code == 302
        client.post("/sign-out", data={"csrf_token": csrf(client, "/")})
    codes = [sign_in(client, "bob", "guess number " + str(n)).status_code for n in range(3)]
    assert codes == [401, 401, 401]
    assert sign_in(client, "bob", PASSWORD).status_code == 429


def test_a_sign_in_without_the_csrf_token_is_refused(client: FlaskClient, bob: str) -> None:
    response = client.post("/sign-in", data={"username": "bob", "password": PASSWORD})
    assert response.status_code == 400
    with client.session_transaction() as session:
        assert "_user_id" not in session


def test_a_form_refused_as_expired_gives_back_what_was_written_but_no_secret(
    client: FlaskClient, bob: str
) -> None:
    """A session that ran out while someone wrote a recovery plan: the refusal said to go back
    and reload, and back, the text was gone."""
    plan = "Fail over to the second site, then restore from the 02:00 backup."
    response = client.post(
        "/instances/INC-000001/comments",
        data={"csrf_token": "expired", "comment": plan, "password": "correct horse battery"},
    )
    assert response.status_code == 400
    assert "This form has expired" in response.text
    assert f"readonly>{plan}</textarea>" in response.text
    assert "correct horse battery" not in response.text


def test_passwords_are_stored_hashed(database: Database, bob: str) -> None:
    with database.reading() as session:
        stored = session.scalar(select(User.password_hash).where(User.username == "bob"))
    assert stored is not None
    assert PASSWORD not in stored
    assert stored.startswith("scrypt:")


def test_an_api_token_is_stored_hashed_and_stops_working_once_revoked(
    client: FlaskClient, database: Database, bob: str
) -> None:
    now = datetime.now(UTC)
    with database.writer_session() as session, session.begin():
        token_id, token = issue_token(session, "bob", "my script", now)
    with database.reading() as session:
        stored = session.scalar(select(ApiToken.token_hash).where(ApiToken.id == token_id))
    assert stored != token
    assert token not in str(stored)
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/me", headers=headers).json["username"] == "bob"
    with database.writer_session() as session, session.begin():
        revoke_token(session, token_id, "bob", now)
    refused = client.get("/api/v1/me", headers=headers)
    assert refused.status_code == 401
    assert refused.json["code"] == "unauthorized"
    assert client.get(
        "/api/v1/me", headers={"Authorization": "Bearer fd_nonsense"}
    ).status_code == (401)


def test_a_signed_in_requester_is_the_requester_of_what_they_report(
    client: FlaskClient, database: Database, commands: Commands
) -> None:
    with database.writer_session() as session, session.begin():
        set_password(session, "alice", PASSWORD)
    sign_in(client, "alice", PASSWORD)
    page = client.get("/new/it-incident").text
    hidden = dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"', page))
    report = {
        "name": "Alice", "email": "alice@example.org", "summary": "VPN drops",
        "description": "Every hour.", "category": "network", "impact": "low", "urgency": "low",
    }  # fmt: skip
    assert client.post("/new/it-incident", data={**hidden, **report}).status_code == 303
    with database.reading() as session:
        requester = session.scalar(select(Instance.requester))
    assert requester == "alice"


def _last_used(client: FlaskClient, token_name: str) -> str:
    """The "Last used" cell of a token's row on the account page, as text."""
    row = re.search(
        rf'<th scope="row">{token_name}</th>\s*<td>.*?</td>\s*<td>(.*?)</td>',
        client.get("/account").text,
        re.S,
    )
    assert row is not None
    return re.sub(r"<[^>]+>", "", row.group(1)).strip()


def test_an_api_token_says_when_it_was_last_used_and_dies_with_its_user(
    client: FlaskClient, database: Database, bob: str
) -> None:
    with database.writer_session() as session, session.begin():
        _, token = issue_token(session, "bob", "my script", datetime.now(UTC))
    sign_in(client, "bob", PASSWORD)
    assert _last_used(client, "my script") == "never"
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/me", headers=headers).json["username"] == "bob"
    assert _last_used(client, "my script").endswith(" UTC")

    with database.writer_session() as session, session.begin():
        set_active(session, "bob", False, datetime.now(UTC), actor="admin")
    assert client.get("/api/v1/me", headers=headers).status_code == 401


@pytest.mark.parametrize("username", ["bob\x00", "b" * 5000], ids=["nul", "long"])
def test_a_username_no_account_could_have_is_refused_like_any_wrong_one(
    client: FlaskClient, bob: str, username: str
) -> None:
    response = sign_in(client, username, PASSWORD)
    assert response.status_code == 401
    assert "The username or password is not right." in response.text
