"""When the database does not answer, pages and the API say so with a 503 and nothing is saved.

The database here is a PostgreSQL address that refuses connections (port 1 of loopback),
as a crashed or restarting server does: no mock, a real failed connection.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from web.app import create_app
from web.common.errors import DATABASE_RETRY_AFTER_S

#: Where nothing listens: every connection is refused at once.
NOWHERE = "postgresql+psycopg://postgres@127.0.0.1:1/flowdesk"


def app_without_its_database(tmp_path: Path) -> Flask:
    return create_app(
        {"DATABASE_URL": NOWHERE, "SECRET_KEY": "test", "UPLOAD_FOLDER": str(tmp_path)}
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
