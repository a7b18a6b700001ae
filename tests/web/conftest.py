"""The web app over real databases and a real Redis, driven by Flask's test client.

The database and Redis fixtures come from `tests.infrastructure`: every web test runs
on SQLite, and on PostgreSQL too when `FLOWDESK_TEST_DATABASE_URL` is set.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis

from engine.service.commands import Commands

# The integration suite's fixtures, shared: pytest finds them by name in this module.
from web.app import create_app

HIDDEN = re.compile(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"')


@pytest.fixture
def settings(tmp_path: Path) -> dict[str, Any]:
    """Configuration a test may change before it asks for `app`."""
    return {"UPLOAD_FOLDER": str(tmp_path / "files"), "PORTAL_RATE_LIMIT": "1000 per minute"}


@pytest.fixture
def app(
    database_url: str, redis: Redis, redis_url: str, commands: Commands, settings: dict[str, Any]
) -> Iterator[Flask]:
    """The app over a database holding the shipped pack, its rate limits kept in Redis."""
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "SECRET_KEY": "test-secret",
            **settings,
        }
    )
    yield app
    app.extensions["flowdesk"].close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def hidden_fields(html: str) -> dict[str, str]:
    """Read the hidden inputs of the first form on a page (CSRF token, submission id)."""
    return dict(HIDDEN.findall(html))
