"""The API's instances: start, list, look at, cancel, and talk about them in comments.

Agents and admins see every instance; anyone else sees their own requests and the
instances with a task of theirs (`worklist.may_see_instance`). An instance the
caller may not see is answered 404, as if it did not exist.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, jsonify, url_for

from engine.service.errors import NotFound
from engine.service.queries import InstanceView, incidents_of
from engine.service.submissions import InvalidData
from engine.service.worklist import Filters, sla_state
from engine.store.instances import Comment
from web.api.input import (
    api_auth,
    body,
    caller,
    commands,
    created,
    data_errors,
    idempotency_key,
    iso,
    page,
    query,
    refuse,
)
from web.common.services import services

blueprint = Blueprint("api_instances", __name__, url_prefix="/api/v1")


def visible_number(number: str) -> str:
    """Return the number of an instance the caller may see; 404 for any other."""
    if not services().desk.may_see(caller(), number):
        refuse(404, f"There is no instance {number}, or you may not see it.", "not_found")
    return number


def instance_json(number: str) -> dict[str, Any]:
    """Describe an instance as the API shows it (the caller may see it)."""
    person = caller()
    try:
        view = services().desk.instance_for(person, number)
    except NotFound:
        refuse(404, f"There is no instance {number}, or you may not see it.", "not_found")
    return _describe(view, agent=person.is_agent)


def _describe(view: InstanceView, *, agent: bool) -> dict[str, Any]:
    row = view.instance
    dues = [due for due in (row.response_due_at, row.resolution_due_at) if due is not None]
    breached = row.response_breached or row.resolution_breached
    due = min(dues) if dues else None
    return {
        "number": row.number,
        "title": row.title,
        "workflow": row.workflow_key,
        "status": row.status,
        "ended": row.ended_at is not None,
        "priority": row.priority,
        "requester": row.requester,
        "started_at": iso(row.started_at),
        "updated_at": iso(row.updated_at),
        "ended_at": iso(row.ended_at),
        "data": dict(view.data),
        "sla": {
            "state": sla_state(due, breached, datetime.now(UTC)),
            "due_at": iso(due),
            "response_due_at": iso(row.response_due_at),
            "resolution_due_at": iso(row.resolution_due_at),
            "response_breached": row.response_breached,
            "resolution_breached": row.resolution_breached,
        },
        "tasks": [
            {
                "id": task.id,
                "title": task.title,
                "step": task.step,
                "form": task.form,
                "outcomes": list(task.outcomes),
                "assignee": task.assignee,
                "group": task.candidate_group,
                "due_at": iso(task.due_at),
                "created_at": iso(task.created_at),
            }
            for task in sorted(view.tasks, key=lambda task: task.id)
        ],
        "incidents": [
            {"step": where, "why": why} for where, why in incidents_of(row.state) if agent
        ],
        "timeline": [
            {
                "seq": event.seq,
                "kind": event.kind,
                "step": event.step,
                "at": iso(event.at),
                "actor": event.actor,
                "why": event.why,
            }
            # Cut by the service for anyone outside the desk (`Desk.instance_for`).
            for event in view.events
        ],
    }


@blueprint.post("/instances")
@api_auth()
def start() -> Response:
    """Start an instance; the start form, if the workflow has one, checks the data first."""
    person = caller()
    key = idempotency_key("startInstance", person)
    given = body("StartInstance")
    try:
        result = commands().start(
            given["workflow"], given.get("data", {}), requester=person.username, key=key
        )
    except NotFound:
        refuse(404, f"There is no published workflow '{given['workflow']}'.", "not_found")
    except InvalidData as error:
        errors = data_errors(error.fields)
        refuse(422, "The data does not fill in the start form.", "invalid", errors)
    number = str(result["number"])
    location = url_for("api_instances.get", number=number)
    return created(instance_json(number), location)


@blueprint.get("/instances")
@api_auth()
def list_instances() -> Response:
    """List instances by filter, newest first: agents see all, others their own requests."""
    person = caller()
    args = query("listInstances")
    requester = args["requester"] if person.is_agent else person.username
    filters = Filters(
        workflow=args["workflow"],
        priority=args["priority"],
        sla=args["sla"],
        status=args["status"],
        requester=requester,
        text=args["text"],
    )
    now = datetime.now(UTC)
    items, total = services().desk.instances(
        now, filters, limit=args["limit"], offset=args["offset"]
    )
    return page([item.to_json(now) for item in items], total, args["limit"], args["offset"])


@blueprint.get("/instances/<number>")
@api_auth()
def get(number: str) -> Response:
    """Show one instance."""
    return jsonify(instance_json(visible_number(number)))


@blueprint.post("/instances/<number>/cancel")
@api_auth("agent")
def cancel(number: str) -> Response:
    """Stop an instance (agents and admins)."""
    person = caller()
    key = idempotency_key("cancelInstance", person)
    reason = body("CancelInstance")["reason"]
    commands().cancel(visible_number(number), reason, actor=person.username, key=key)
    return jsonify(instance_json(number))


@blueprint.post("/instances/<number>/retry")
@api_auth("admin")
def retry(number: str) -> Response:
    """Run again the steps that stopped on an incident (admins)."""
    person = caller()
    key = idempotency_key("retryInstance", person)
    commands().retry(visible_number(number), actor=person.username, key=key)
    return jsonify(instance_json(number))


def _comment_json(comment: Comment) -> dict[str, Any]:
    return {
        "id": comment.id,
        "author": comment.author,
        "text": comment.body,
        "public": comment.public,
        "created_at": iso(comment.created_at),
    }


@blueprint.get("/instances/<number>/comments")
@api_auth()
def list_comments(number: str) -> Response:
    """List an instance's comments, oldest first; internal notes for agents only."""
    comments = services().desk.comments(caller(), visible_number(number))
    return jsonify({"items": [_comment_json(comment) for comment in comments]})


@blueprint.post("/instances/<number>/comments")
@api_auth()
def add_comment(number: str) -> Response:
    """Add a comment; only agents write internal notes (`public: false`)."""
    person = caller()
    key = idempotency_key("addComment", person)
    given = body("NewComment")
    public = bool(given.get("public", True))
    visible_number(number)
    result = commands().comment(
        number, given["text"], actor=person.username, public=public, key=key
    )
    payload = _comment_json(services().desk.comment(result["comment"]))
    return created(payload, url_for("api_instances.list_comments", number=number))
