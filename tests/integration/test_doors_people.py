"""People are managed by the same rules through every door: the admin pages and the command line.

Each case sends the same bad input through the admin page and through `flowdesk user`
or `flowdesk group`, and expects the same words back from both and nothing saved.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis
from sqlalchemy import select

from engine.service.commands import Commands
from engine.service.people import ensure_user
from engine.store.database import Database
from engine.store.people import Group, User
from tests.infrastructure import give_password
from web.app import create_app
from web.cli import main

PASSWORD = "correct horse battery"
Shell = Callable[..., str]


@pytest.fixture
def app(
    database_url: str, redis: Redis, redis_url: str, commands: Commands, tmp_path: Path
) -> Iterator[Flask]:
    """The web app over the database the command line uses too."""
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "SECRET_KEY": "test-secret",
            "UPLOAD_FOLDER": str(tmp_path / "files"),
        }
    )
    yield app
    app.extensions["flowdesk"].close()


@pytest.fixture
def admin(app: Flask, database: Database, commands: Commands) -> FlaskClient:
    """A browser signed in as root, an admin."""
    with database.writer_session() as session, session.begin():
        ensure_user(session, "root", commands.clock(), roles=["admin"])
        give_password(session, "root", PASSWORD)
    client = app.test_client()
    form = {"csrf_token": _csrf(client, "/sign-in"), "username": "root", "password": PASSWORD}
    assert client.post("/sign-in", data=form).status_code == 302
    return client


@pytest.fixture
def flowdesk(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Shell:
    monkeypatch.setenv("FLOWDESK_DATABASE_URL", database_url)
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(main, list(args))
        assert result.exit_code == code, result.output
        return result.output

    return run


def _csrf(client: FlaskClient, path: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text)
    assert found is not None
    return found.group(1)


def post(client: FlaskClient, path: str, form: dict[str, Any]) -> str:
    """Post an admin form; return the text of its 422 page."""
    answer = client.post(path, data={"csrf_token": _csrf(client, "/account"), **form})
    assert answer.status_code == 422, answer.status_code
    return answer.text.replace("&#39;", "'")


def users(database: Database) -> set[str]:
    with database.reading() as session:
        return set(session.scalars(select(User.username)))


def groups(database: Database) -> set[str]:
    with database.reading() as session:
        return set(session.scalars(select(Group.key)))


@pytest.mark.parametrize(
    ("form", "options", "words"),
    [
        (
            {"username": "nina", "email": "not-an-address"},
            ["nina", "--email", "not-an-address"],
            "nter an email address like name@example.org",
        ),
        (
            {"username": "Nina Smith"},
            ["Nina Smith"],
            " username is 1 to 80 lower-case letters, digits, dots, dashes or underscores",
        ),
        (
            {"username": "nina", "roles": ["wizard"]},
            ["nina", "--role", "wizard"],
            "nknown role wizard; roles are admin, designer, agent, requester",
        ),
    ],
    ids=["an email address that is not one", "a username with a space", "an unknown role"],
)
def test_a_new_user_is_refused_alike_by_the_admin_page_and_flowdesk_user(
    admin: FlaskClient,
    flowdesk: Shell,
    database: Database,
    form: dict[str, Any],
    options: list[str],
    words: str,
) -> None:
    before = users(database)
    assert words in post(admin, "/admin/users", {"roles": ["agent"], **form})
    assert words in flowdesk("user", *options, code=1)
    assert users(database) == before


def test_an_email_address_that_is_not_one_is_refused_when_a_user_is_updated_too(
    admin: FlaskClient, flowdesk: Shell, database: Database
) -> None:
    words = "nter an email address like name@example.org"
    assert words in post(admin, "/admin/users/bob", {"name": "Bob", "email": "bob at example"})
    assert words in flowdesk("user", "bob", "--email", "bob at example", code=1)
    with database.reading() as session:
        assert session.scalar(select(User.email).where(User.username == "bob")) is None


@pytest.mark.parametrize(
    ("form", "options", "words"),
    [
        (
            {"key": "Net Ops"},
            ["Net Ops"],
            " key is 1 to 80 lower-case letters, digits, dots, dashes or underscores",
        ),
        (
            {"key": "netops", "next_tier": "netops"},
            ["netops", "--next-tier", "netops"],
            " group cannot be its own next tier",
        ),
    ],
    ids=["a key with a space", "its own next tier"],
)
def test_a_new_group_is_refused_alike_by_the_admin_page_and_flowdesk_group(
    admin: FlaskClient,
    flowdesk: Shell,
    database: Database,
    form: dict[str, Any],
    options: list[str],
    words: str,
) -> None:
    before = groups(database)
    assert words in post(admin, "/admin/groups", form)
    assert words in flowdesk("group", *options, code=1)
    assert groups(database) == before
