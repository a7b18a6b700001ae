"""`GET /health`: is the web app up, and can it reach its database and Redis?"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, current_app
from redis import Redis
from redis.exceptions import RedisError

from web.common.services import services

blueprint = Blueprint("health", __name__)


@blueprint.get("/health")
def health() -> tuple[dict[str, Any], int]:
    """Answer 200 when every part answers, 503 (with the failing part named) otherwise."""
    parts = {"database": services().database_state(), "redis": _redis()}
    healthy = all(state in ("ok", "not configured") for state in parts.values())
    return {"status": "ok" if healthy else "unavailable", **parts}, 200 if healthy else 503


def _redis() -> str:
    url = current_app.config.get("REDIS_URL")
    if not url:
        return "not configured"
    try:
        with Redis.from_url(url, socket_timeout=1) as client:  # closed: health is asked often
            client.ping()
    except RedisError as error:
        return f"error: {type(error).__name__}"
    return "ok"


def init_app(app: Flask) -> None:
    app.register_blueprint(blueprint)
