"""The Flask application: built only by `create_app`, configured in layers.

Configuration, later layers winning: the defaults below, `config.py` in the
instance folder, `FLOWDESK_*` environment variables, then the test mapping.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

from engine.store.database import Database, default_url
from web import health

DEFAULTS: dict[str, Any] = {
    "DATABASE_URL": None,  # None: FLOWDESK_DATABASE_URL, else a SQLite file in the instance folder
    "REDIS_URL": None,
}


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the web app."""
    instance = os.environ.get("FLOWDESK_INSTANCE_PATH", "instance")
    app = Flask(
        __name__, instance_path=str(Path(instance).resolve()), instance_relative_config=True
    )
    app.config.from_mapping(DEFAULTS)
    app.config.from_pyfile("config.py", silent=True)
    app.config.from_prefixed_env("FLOWDESK")
    if "REDIS_URL" in os.environ and not app.config["REDIS_URL"]:
        app.config["REDIS_URL"] = os.environ["REDIS_URL"]
    if test_config:
        app.config.from_mapping(test_config)
    app.config["DATABASE_URL"] = app.config["DATABASE_URL"] or default_url(app.instance_path)
    app.extensions["flowdesk.database"] = Database(app.config["DATABASE_URL"])
    health.init_app(app)
    return app
