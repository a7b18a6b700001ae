"""The monitoring intake's doors: `POST /intake/<kind>`, one per payload format.

Senders authenticate with their integration's token, however each tool can send it:
`Authorization: Bearer <token>` (Alertmanager's `authorization`, Grafana's
authorization header), the password of HTTP Basic auth, `?token=<token>` in the URL,
or, for the PagerDuty kind, the event's own `routing_key`. Every answer is JSON; the
PagerDuty kind answers exactly as the Events API v2 does (202 "Event processed", 400
"invalid event"). A 4xx means the sender should not retry; a 5xx is ours.
"""

from __future__ import annotations

import base64
import contextlib
from typing import Any

from flask import Blueprint, Flask, Response, jsonify, request

from engine.service.errors import ServiceError
from engine.service.intake import Received
from engine.settings import INTAKE_MAX_BODY_BYTES
from engine.store.services import INTEGRATION_KINDS
from web.common.jsonbody import BadJson, read_json
from web.common.security import csrf
from web.common.services import services

blueprint = Blueprint("intake", __name__, url_prefix="/intake")

#: Service error code -> status, for senders (a bad token is 401; our faults are 5xx).
STATUS = {
    "invalid": 400,
    "unauthorized": 401,
    "not_found": 404,
    "conflict": 409,
    "too_large": 413,
    "intake_fault": 500,
    "busy": 503,
    "unavailable": 503,
}
#: Where Grafana puts its HMAC signature and timestamp unless configured otherwise.
SIGNATURE_HEADER = "X-Grafana-Alerting-Signature"
TIMESTAMP_HEADER = "X-Grafana-Alerting-Timestamp"


def _token(body: Any) -> str:
    found = request.args.get("token", "")
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() in ("bearer", "token") and value.strip():
        found = value.strip()
    elif scheme.lower() == "basic" and value.strip():
        # A header that is not base64 of UTF-8 text (binascii.Error and UnicodeDecodeError
        # are ValueErrors, as is a character base64 never holds) names no token.
        with contextlib.suppress(ValueError):
            found = base64.b64decode(value.strip()).decode().partition(":")[2] or found
    if not found and isinstance(body, dict) and isinstance(body.get("routing_key"), str):
        found = body["routing_key"]
    return found


def _refused(kind: str, status: int, code: str, message: str, problems: list[str]) -> Response:
    if kind == "pagerduty" and status == 400:
        body: dict[str, Any] = {
            "status": "invalid event",
            "message": "Event object is invalid",
            "errors": problems or [message],
        }
    else:
        body = {"status": "error", "code": code, "message": message, "errors": problems}
    answer = jsonify(body)
    answer.status_code = status
    return answer


@blueprint.post("/<kind>")
@blueprint.post("/<kind>/v2/enqueue")
def receive(kind: str) -> Response:
    """Take one payload of `kind` from a sender."""
    if kind not in INTEGRATION_KINDS:
        message = f"there is no intake '{kind}'; choose one of: {', '.join(INTEGRATION_KINDS)}"
        return _refused(kind, 404, "not_found", message, [])
    if (request.content_length or 0) > INTAKE_MAX_BODY_BYTES:
        message = f"the body is over {INTAKE_MAX_BODY_BYTES // 1024} KB; nothing was kept"
        return _refused(kind, 413, "too_large", message, [])
    raw = request.get_data(cache=False)
    if len(raw) > INTAKE_MAX_BODY_BYTES:
        message = f"the body is over {INTAKE_MAX_BODY_BYTES // 1024} KB; nothing was kept"
        return _refused(kind, 413, "too_large", message, [])
    try:
        body = read_json(raw)
    except BadJson as error:
        message = f"the body is not JSON: {error}"
        return _refused(kind, 400, "invalid", message, [message])
    intake = services().intake
    try:
        received = intake.receive(
            kind,
            _token(body),
            raw,
            body,
            signature=request.headers.get(SIGNATURE_HEADER),
            timestamp=request.headers.get(TIMESTAMP_HEADER),
        )
    except ServiceError as error:
        status = STATUS.get(error.code, 500)
        problems = [p.message for p in error.problems]
        return _refused(kind, status, error.code, error.message, problems)
    return _accepted(kind, received)


def _accepted(kind: str, received: Received) -> Response:
    if kind == "pagerduty":
        body: dict[str, Any] = {
            "status": "success",
            "message": "Event processed",
            "dedup_key": received.key,
        }
    else:
        body = {
            "status": "success",
            "outcome": received.outcome,
            "incident": received.number,
            "dedup_key": received.key,
        }
    answer = jsonify(body)
    answer.status_code = 202
    return answer


def init_app(app: Flask) -> None:
    csrf.exempt(blueprint)
    app.register_blueprint(blueprint)
