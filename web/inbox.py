"""(being built) The inbox pages."""

from __future__ import annotations

from flask import Blueprint, Flask

blueprint = Blueprint("inbox", __name__)


def init_app(app: Flask) -> None:
    app.register_blueprint(blueprint)
