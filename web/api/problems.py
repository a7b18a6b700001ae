"""The API's problems and recurring incidents, for the service desk (agents, admins, groups).

The rules are `engine.service.problems` and `engine.service.recurring`'s: only the service
desk opens, links and unlinks; an incident has one problem at most; the root cause and the
resolution are the problem's own tasks, done by whom their rules let.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, url_for

from engine.service.casework import Linked
from engine.service.problems import ProblemView
from web.api.input import api_auth, body, caller, created, idempotency_key, query
from web.api.instances import visible_number
from web.common.services import services

blueprint = Blueprint("api_problems", __name__, url_prefix="/api/v1")


def _linked(item: Linked) -> dict[str, Any]:
    return {"number": item.number, "title": item.title, "status": item.status, "ended": item.ended}


def problem_json(found: ProblemView) -> dict[str, Any]:
    """Describe a problem as the API shows it."""
    return {
        "number": found.number,
        "title": found.title,
        "status": found.status,
        "ended": found.ended,
        "service": found.service,
        "category": found.category,
        "root_cause": found.root_cause,
        "workaround": found.workaround,
        "publish_workaround": found.publish_workaround,
        "resolution": found.resolution,
        "incidents": [_linked(item) for item in found.incidents],
    }


def _problem(number: str) -> Response:
    return jsonify(problem_json(services().problems.problem(number)))


@blueprint.post("/problems")
@api_auth("agent")
def open_problem() -> Response:
    """Open a problem from incidents, each linked to it."""
    person = caller()
    key = idempotency_key("openProblem", person)
    given = body("OpenProblem")
    answer = services().problems.open(
        given["incidents"],
        actor=person.username,
        title=given.get("title", ""),
        description=given.get("description", ""),
        key=key,
    )
    number = str(answer["number"])
    found = problem_json(services().problems.problem(number))
    return created(found, url_for("api_problems.get_problem", number=number))


@blueprint.get("/problems/<number>")
@api_auth("agent")
def get_problem(number: str) -> Response:
    """Show a problem with its incidents."""
    return _problem(number)


@blueprint.post("/problems/<number>/incidents")
@api_auth("agent")
def link_incident(number: str) -> Response:
    """Link an incident to an open problem."""
    person = caller()
    key = idempotency_key("linkIncidentToProblem", person)
    incident = body("LinkIncident")["number"]
    services().problems.link(number, incident, actor=person.username, key=key)
    return _problem(number)


@blueprint.delete("/problems/<number>/incidents/<incident>")
@api_auth("agent")
def unlink_incident(number: str, incident: str) -> Response:
    """Take an incident off its problem."""
    person = caller()
    key = idempotency_key("unlinkIncidentFromProblem", person)
    services().problems.unlink(number, incident, actor=person.username, key=key)
    return _problem(number)


@blueprint.post("/problems/<number>/known-error")
@api_auth("agent")
def known_error(number: str) -> Response:
    """Record the root cause and workaround (the problem's investigate task)."""
    person = caller()
    key = idempotency_key("recordKnownError", person)
    given = body("KnownError")
    services().problems.record(
        number,
        given["root_cause"],
        given["workaround"],
        publish_workaround=bool(given.get("publish_workaround", False)),
        actor=person.username,
        key=key,
    )
    return _problem(number)


@blueprint.post("/problems/<number>/resolve")
@api_auth("agent")
def resolve(number: str) -> Response:
    """Resolve a known error (the problem's fix task); its incidents' owners are told."""
    person = caller()
    key = idempotency_key("resolveProblem", person)
    resolution = body("ProblemResolution")["resolution"]
    services().problems.resolve(number, resolution, actor=person.username, key=key)
    return _problem(number)


@blueprint.get("/instances/<number>/problem")
@api_auth("agent")
def incident_problem(number: str) -> Response:
    """Show an incident's problem, or null."""
    found = services().problems.problem_of(visible_number(number))
    if found is None:
        return jsonify({"problem": None})
    return jsonify(
        {
            "problem": {
                "number": found.number,
                "title": found.title,
                "status": found.status,
                "ended": found.ended,
                "root_cause": found.root_cause,
                "workaround": found.workaround,
                "publish_workaround": found.publish_workaround,
            }
        }
    )


@blueprint.get("/recurring")
@api_auth("agent")
def recurring() -> Response:
    """List the groups of recurring incidents, each with why."""
    args = query("listRecurringIncidents")
    config = current_app.config
    days = int(config["RECURRING_DAYS"]) if args["days"] is None else args["days"]
    at_least = int(config["RECURRING_AT_LEAST"]) if args["at_least"] is None else args["at_least"]
    found = services().recurring.proposals(caller().username, days=days, at_least=at_least)
    return jsonify(
        {
            "days": days,
            "at_least": at_least,
            "proposals": [
                {
                    "rule": proposal.rule,
                    "key": proposal.key,
                    "words": list(proposal.words),
                    "reason": proposal.reason,
                    "title": proposal.title,
                    "incidents": [_linked(item) for item in proposal.incidents],
                }
                for proposal in found
            ],
        }
    )
