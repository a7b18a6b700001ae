"""`GET /metrics`: the figures Prometheus scrapes (see docs/observability.md for each).

Who may scrape: with `METRICS_TOKEN` (`FLOWDESK_METRICS_TOKEN`) set, whoever sends it as
`Authorization: Bearer <token>`; without one, only a client on this machine (loopback),
and only when it did not come through a proxy. A proxy on the same machine makes every
client look local: its forwarding headers give it away, unless `TRUSTED_PROXIES` says
the proxies are known, and then the client address they pass on is believed.
"""

from __future__ import annotations

import hmac
import ipaddress

from flask import Blueprint, Flask, Response, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST

from engine import observability
from web.common.services import services
from web.ops.health import plain_http

blueprint = Blueprint("metrics", __name__)

#: Headers a forwarding proxy adds: a request bearing them did not start on this machine.
FORWARDED = ("Forwarded", "X-Forwarded-For", "X-Real-Ip")


@blueprint.get("/metrics")
@plain_http
def metrics() -> Response:
    """Answer the scrape, or say who may scrape (401 with a token set, else 403)."""
    refusal = _refusal()
    if refusal is not None:
        return refusal
    collector = observability.StateCollector(services().database, current_app.config["REDIS_URL"])
    body = observability.exposition(collector, current_app.config["METRICS_DIR"])
    return Response(body, content_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})


def _refusal() -> Response | None:
    if not current_app.config["METRICS"]:
        return _text("Metrics are turned off here (FLOWDESK_METRICS).", 404)
    token = current_app.config["METRICS_TOKEN"]
    if token:
        given = request.headers.get("Authorization", "")
        scheme, _, supplied = given.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            supplied.strip().encode(), str(token).encode()
        ):
            return None
        refused = _text("Metrics need the token of FLOWDESK_METRICS_TOKEN as a bearer token.", 401)
        refused.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return refused
    if _local():
        return None
    return _text(
        "Metrics are served to this machine only (loopback, not through a proxy); "
        "set FLOWDESK_METRICS_TOKEN to scrape from elsewhere.",
        403,
    )


def _local() -> bool:
    if not current_app.config["TRUSTED_PROXIES"] and any(h in request.headers for h in FORWARDED):
        return False
    try:
        return ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False


def _text(message: str, status: int) -> Response:
    return Response(message + "\n", status=status, content_type="text/plain; charset=utf-8")


def init_app(app: Flask) -> None:
    app.register_blueprint(blueprint)
