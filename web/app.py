"""The Flask application: built only by `create_app` (`serve_app` for a server), configured in
layers.

Configuration, later layers winning: the defaults below, `config.py` in the
instance folder, `FLOWDESK_*` environment variables, then the test mapping.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import Any

from flask import Flask
from jinja2 import ChoiceLoader, FileSystemLoader

import designer
from engine.heap import freeze_heap
from engine.service.bootstrap import Services, default_url
from engine.settings import WEB_DEFAULTS, check_web
from forms import rendering
from web import admin, api, auth, desk, insight, intake, oncall, ops, portal, postmortems
from web.common import errors, jsonbody, moments, routing, security
from web.common.services import catalogue_choices


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the web app."""
    instance = os.environ.get("FLOWDESK_INSTANCE_PATH", "instance")
    app = Flask(
        __name__, instance_path=str(Path(instance).resolve()), instance_relative_config=True
    )
    app.config.from_mapping(WEB_DEFAULTS)
    app.config.from_pyfile("config.py", silent=True)
    app.config.from_prefixed_env("FLOWDESK")
    if "REDIS_URL" in os.environ and not app.config["REDIS_URL"]:
        app.config["REDIS_URL"] = os.environ["REDIS_URL"]
    if test_config:
        app.config.from_mapping(test_config)
    check_web(app.config)  # before anything is opened: -5 bytes is no request limit
    app.config["DATABASE_URL"] = app.config["DATABASE_URL"] or default_url(app.instance_path)
    app.config["SECRET_KEY"] = app.config["SECRET_KEY"] or instance_secret(app.instance_path)
    if not app.testing:
        refuse_weak_secret(str(app.config["SECRET_KEY"]))
    files = app.config["UPLOAD_FOLDER"] or os.path.join(app.instance_path, "files")

    found = Services.open(app.config["DATABASE_URL"], upload_folder=files)
    app.extensions["flowdesk"] = found  # reached through `web.common.services.services()`

    app.jinja_loader = ChoiceLoader(
        [FileSystemLoader(os.path.join(app.root_path, "templates")), rendering.template_loader()]
    )
    rendering.register(app.jinja_env, services=partial(catalogue_choices, found))
    routing.init_app(app)  # before any rule is added
    ops.init_app(app)  # first: logging, and each request's id before other hooks run
    jsonbody.init_app(app)
    moments.init_app(app)
    security.init_app(app)
    errors.init_app(app)
    auth.init_app(app)
    portal.init_app(app)
    desk.init_app(app)
    admin.init_app(app)
    api.init_app(app)
    intake.init_app(app)
    oncall.init_app(app)
    insight.init_app(app)
    postmortems.init_app(app)
    designer.init_app(app)
    return app


def serve_app() -> Flask:
    """Build the web app as a server runs it (waitress and gunicorn are pointed here): built,
    then what the process holds is frozen out of the garbage collector's passes
    (`engine.heap`)."""
    app = create_app()
    freeze_heap()
    return app


#: The shortest secret key taken: it signs sessions and CSRF tokens and derives tracking
#: links, so a placeholder pasted from the docs ("...") must not do.
MIN_SECRET_CHARS = 32


class WeakSecret(RuntimeError):
    """FLOWDESK_SECRET_KEY is too short to keep sessions and tracking links safe."""


def refuse_weak_secret(key: str) -> None:
    """Refuse a secret key shorter than `MIN_SECRET_CHARS`, saying how to make one."""
    if len(key) < MIN_SECRET_CHARS:
        raise WeakSecret(
            f"FLOWDESK_SECRET_KEY has {len(key)} characters; it needs at least "
            f"{MIN_SECRET_CHARS}, random: python -c 'import secrets; "
            "print(secrets.token_urlsafe(48))'"
        )


def instance_secret(instance_path: str) -> str:
    """Return the key that signs sessions, made once and kept (mode 0600) with the instance."""
    path = Path(instance_path) / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".secret_key.{os.getpid()}")
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(secrets.token_hex(32))
    try:
        os.link(draft, path)  # appears whole or not at all; a second process keeps the first
    except FileExistsError:
        pass
    finally:
        draft.unlink()
    return path.read_text().strip()
