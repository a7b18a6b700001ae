"""(being built) The admin pages."""

from __future__ import annotations

from flask import Blueprint, Flask

blueprint = Blueprint("admin", __name__)


def init_app(app: Flask) -> None:
    app.register_blueprint(blueprint)
