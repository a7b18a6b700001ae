"""Similar incidents for the desk, and the public self-help, over the API.

`GET /api/v1/instances/{number}/similar` answers the resolved incidents most like one
(the service desk and admins; `engine.service.similar`). `POST /api/v1/self-help` answers
anyone, without an account and rate-limited per address, the workarounds published for
the known errors that match a text (`engine.service.self_help`): titles and workarounds,
nothing else.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify

from engine.service.errors import NotFound
from engine.service.self_help import SelfHelp
from engine.service.similar import Similar, SimilarIncident
from web.api.input import api_auth, body, caller, iso, query, refuse
from web.common.security import limiter
from web.common.services import services

blueprint = Blueprint("api_similar", __name__, url_prefix="/api/v1")


@blueprint.get("/instances/<number>/similar")
@api_auth()
def similar(number: str) -> Response:
    """Answer the resolved incidents most like one, most alike first."""
    limit = query("similarIncidents")["limit"]
    try:
        found = Similar(services().commands).of(caller(), number, limit=limit)
    except NotFound:
        refuse(404, f"There is no instance {number}, or you may not see it.", "not_found")
    return jsonify(
        {
            "number": found.number,
            "terms": list(found.terms),
            "items": [_item(i) for i in found.items],
        }
    )


def _item(item: SimilarIncident) -> dict[str, Any]:
    problem = item.problem
    return {
        "number": item.number,
        "title": item.title,
        "status": item.status,
        "outcome": item.outcome,
        "started_at": iso(item.started_at),
        "resolved_at": iso(item.resolved_at),
        "resolved_by": item.resolved_by,
        "resolution": item.resolution,
        "time_to_resolve_s": item.time_to_resolve_s,
        "same_service": item.same_service,
        "same_category": item.same_category,
        "score": item.score,
        "problem": None
        if problem is None
        else {
            "number": problem.number,
            "title": problem.title,
            "status": problem.status,
            "workaround": problem.workaround,
        },
    }


@blueprint.post("/self-help")
@limiter.limit(lambda: str(current_app.config["SELF_HELP_RATE_LIMIT"]))
def self_help() -> Response:
    """Answer the published workarounds that match what a requester typed."""
    answers = SelfHelp(services().commands).answers(body("SelfHelpQuestion")["text"])
    return jsonify({"answers": [{"title": a.title, "workaround": a.workaround} for a in answers]})
