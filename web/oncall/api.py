"""The API's on-call reads: the schedules, and who is on call for one now or at a moment."""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, Response, jsonify, request

from engine.core.oncall import FIRST_YEAR, LAST_YEAR
from web.api.input import api_auth, refuse
from web.common.services import services

blueprint = Blueprint("api_oncall", __name__, url_prefix="/api/v1")


@blueprint.get("/schedules")
@api_auth()
def list_schedules() -> Response:
    """List the on-call schedules: key, name and time zone."""
    return jsonify({"items": services().schedules.summaries()})


@blueprint.get("/schedules/<key>/oncall")
@api_auth()
def on_call(key: str) -> Response:
    """Say who is on call for a schedule now, or at `at` (RFC 3339 with an offset)."""
    raw = request.args.get("at")
    at = _moment(raw) if raw is not None else None
    return jsonify(services().schedules.now(key, at).to_json())


def _moment(raw: str) -> datetime:
    error = {
        "field": "at",
        "pointer": "",
        "message": "give a moment with its offset, like 2026-12-24T09:00:00+01:00, "
        f"from {FIRST_YEAR} to {LAST_YEAR}",
    }
    try:
        moment = datetime.fromisoformat(raw) if len(raw) <= 40 else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None or not FIRST_YEAR <= moment.year <= LAST_YEAR:
        refuse(400, "The query parameter 'at' is wrong.", "bad_request", [error])
    return moment
