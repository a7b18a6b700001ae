"""(being built) The instances pages."""

from __future__ import annotations

from flask import Blueprint, Flask

blueprint = Blueprint("instances", __name__)


def init_app(app: Flask) -> None:
    app.register_blueprint(blueprint)
