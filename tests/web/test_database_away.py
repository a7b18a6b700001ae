"""When the database does not answer, pages and the API say so with a 503 and nothing is saved.

The database here is a PostgreSQL address that refuses connections (port 1 of loopback),
as a crashed or restarting server does: no mock, a real failed connection.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from flask_login.utils import _create_identifier

from web.app import create_app
from web.common.errors import DATABASE_RETRY_AFTER_S

#: Where nothing listens: every connection is refused at once.
NOWHERE = "postgresql+psycopg://postgres@127.0.0.1:1/flowdesk"


def app_without_its_database(tmp_path: Path) -> Flask:
    return create_app(
        {"DATABASE_URL": NOWHERE, "SECRET_KEY": "test-" * 8, "UPLOAD_FOLDER": str(tmp_path)}
    )


def test_the_portal_says_to_try_again_when_the_database_is_away(tmp_path: Path) -> None:
    client = app_without_its_database(tmp_path).test_client()
    page = client.get("/new/it-incident")
    assert page.status_code == 503
    assert page.headers["Retry-After"] == str(DATABASE_RETRY_AFTER_S)
    assert "The database is not answering just now" in page.get_data(as_text=True)


def test_the_api_answers_503_unavailable_when_the_database_is_away(tmp_path: Path) -> None:
    client = app_without_its_database(tmp_path).test_client()
    answer = client.get("/api/v1/instances", headers={"Authorization": "Bearer abc"})
    assert answer.status_code == 503
    assert answer.get_json()["code"] == "unavailable"
    assert answer.headers["Retry-After"] == str(DATABASE_RETRY_AFTER_S)


def test_a_signed_in_person_is_told_too_though_the_page_cannot_say_who_they_are(
    tmp_path: Path,
) -> None:
    # The header of every page names who is signed in, read from the database: a session
    # cookie made the error page itself fail, and the person got a bare 500.
    app = app_without_its_database(tmp_path)
    client = app.test_client()
    browser = {"User-Agent": "a browser"}
    with app.test_request_context(headers=browser, environ_base={"REMOTE_ADDR": "127.0.0.1"}):
        identifier = _create_identifier()  # what Flask-Login's strong protection checks
    with client.session_transaction() as session:
        session.update({"_user_id": "a-session-secret", "_fresh": True, "_id": identifier})
    page = client.get("/inbox", headers=browser)
    assert page.status_code == 503
    assert "The database is not answering just now" in page.get_data(as_text=True)
