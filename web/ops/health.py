"""`GET /health`: is the web app up? `GET /ready`: is the whole deployment ready to work?

`/health` answers whether this process can reach its database and Redis; a load balancer
routes by it. `/ready` answers whether Flowdesk can do all its work: the database answers
at the migrations this code wants, Redis answers, and a worker has reported in lately (so
timers fire and mail goes). A deploy script or `flowdesk up` waits on it; each part that is
not ready is named, in words an operator can act on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import Blueprint, Flask, current_app
from redis import Redis
from redis.exceptions import RedisError

from engine.readiness import readiness
from web.common.security import talisman
from web.common.services import services

blueprint = Blueprint("health", __name__)


View = TypeVar("View", bound=Callable[..., Any])


def plain_http(view: View) -> View:
    """Answer over plain HTTP even when the app sends pages to HTTPS (`FLOWDESK_HTTPS`).

    Probes and Prometheus ask the process itself, on its own port, not the TLS proxy.
    """
    return cast(View, talisman(force_https=False)(view))


@blueprint.get("/health")
@plain_http
def health() -> tuple[dict[str, Any], int]:
    """Answer 200 when every part answers, 503 (with the failing part named) otherwise."""
    parts = {"database": services().database_state(), "redis": _redis()}
    healthy = all(state in ("ok", "not configured") for state in parts.values())
    return {"status": "ok" if healthy else "unavailable", **parts}, 200 if healthy else 503


@blueprint.get("/ready")
@plain_http
def ready() -> tuple[dict[str, Any], int, dict[str, str]]:
    """Answer 200 when every part is ready, else 503 naming each part that is not, and why."""
    found = readiness(services().database, current_app.config["REDIS_URL"])
    body: dict[str, Any] = {"status": "ready" if found.ready else "not ready", **found.parts}
    if not found.ready:
        body["problems"] = found.problems
    return body, 200 if found.ready else 503, {"Cache-Control": "no-store"}


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
