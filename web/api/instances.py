"""The API's instances: start, list, look at, cancel, and talk about them in comments.

Agents and admins see every instance; anyone else sees their own requests and the
instances with a task of theirs (`worklist.may_see_instance`). An instance the
caller may not see is answered 404, as if it did not exist.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request, url_for

from engine.service.errors import Archived, NotFound
from engine.service.filters import DEFAULT_SORT, FILTERS, BadFilter, combine
from engine.service.finder import ListItem
from engine.service.queries import InstanceView, incidents_of
from engine.service.requests import derived_token
from engine.service.starting import Caller
from engine.service.submissions import InvalidData
from engine.service.views import View
from engine.service.worklist import sla_state
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
    query,
    refuse,
)
from web.common.services import services
from web.portal.tracking import external_url

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
    except Archived as gone:
        refuse(410, f"{gone.message}.", "archived")
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
        "service": row.service_key,
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
        result = services().starting.start(
            given["workflow"], given.get("data", {}), person=person.username, key=key
        )
    except NotFound:
        refuse(404, f"There is no published workflow '{given['workflow']}'.", "not_found")
    except InvalidData as error:
        errors = data_errors(error.fields)
        refuse(422, "The data does not fill in the start form.", "invalid", errors)
    number = str(result["number"])
    location = url_for("api_instances.get", number=number)
    return created(instance_json(number), location)


@blueprint.post("/calls")
@api_auth()
def log_call() -> Response:
    """Log an incident or request for a caller, as an agent, with the channel it came by."""
    person = caller()
    key = idempotency_key("logCall", person)
    given = body("LogCall")
    who = given["caller"]
    # A caller without an account gets a tracking link; a key sent again finds the same one.
    secret = current_app.config["SECRET_KEY"]
    token = derived_token(secret, f"logged:{key}") if key else secrets.token_hex(24)
    link = None if who.get("user") else external_url("portal.track", token=token)
    try:
        result = services().starting.log_call(
            given["workflow"],
            given.get("data", {}),
            agent=person.username,
            channel=given["channel"],
            caller=Caller(
                user=who.get("user"),
                name=who.get("name", ""),
                email=who.get("email", ""),
                phone=who.get("phone", ""),
            ),
            key=key,
            token=None if who.get("user") else token,
            link=link,
        )
    except NotFound:
        refuse(404, f"There is no published workflow '{given['workflow']}'.", "not_found")
    except InvalidData as error:
        errors = data_errors(error.fields)
        refuse(422, "The data does not fill in the start form.", "invalid", errors)
    number = str(result["number"])
    location = url_for("api_instances.get", number=number)
    return created({"number": number, "tracking_link": link}, location)


@blueprint.get("/instances")
@api_auth()
def list_instances() -> Response:
    """List the instances the caller may see, by the filter language, a page at a time."""
    person = caller()
    args = query("listInstances")
    saved: dict[str, str] = {}
    sort = args["sort"]
    if args["view"] is not None:
        view = saved_view(args["view"])
        saved, sort = view.filters, sort or view.sort
    given = {name: args[name] for name in FILTERS}
    finder = services().finder
    with bad_filters():
        found = finder.find(
            person,
            combine(saved, given, line=args["q"], at=commands().clock()),
            sort=sort or DEFAULT_SORT,
            cursor=args["cursor"],
            limit=args["limit"],
            offset=args["offset"],
        )
    now = commands().clock()
    return jsonify(
        {
            "items": [summary_json(item, now) for item in found.items],
            "total": found.total,
            "total_exact": found.exact,
            "limit": args["limit"],
            "offset": args["offset"],
            "next": found.next,
        }
    )


def summary_json(item: ListItem, now: datetime) -> dict[str, Any]:
    """Describe one line of the instance list."""
    return {
        "number": item.number,
        "title": item.title,
        "workflow": item.workflow,
        "status": item.status,
        "priority": item.priority,
        "requester": item.requester,
        "service": item.service,
        "started_at": iso(item.started_at),
        "updated_at": iso(item.updated_at),
        "ended_at": iso(item.ended_at),
        "sla_due_at": iso(item.sla_due_at),
        "sla_state": item.sla_state(now),
        "sla": {kind: item.sla_state(now, kind) for kind in ("response", "resolution")},
        "holders": list(item.holders),
        "steps": list(item.steps),
    }


def saved_view(view_id: int) -> View:
    """Return a saved view the caller may see; 404 for any other."""
    try:
        return services().views.get(caller(), view_id)
    except NotFound:
        refuse(404, f"There is no view {view_id}, or you may not see it.", "not_found")


@contextmanager
def bad_filters() -> Iterator[None]:
    """Answer a filter, sort or cursor the service cannot read as a 400 naming it."""
    try:
        yield
    except BadFilter as error:
        problem = error.problems[0]
        found = {"field": error.filter, "pointer": "", "message": problem.message}
        refuse(400, f"The query parameter '{error.filter}' is wrong.", "bad_request", [found])


@blueprint.get("/instances/<number>")
@api_auth()
def get(number: str) -> Response:
    """Show one instance (410 to the service desk for one retention archived)."""
    return jsonify(instance_json(number))


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
    given = body("RetryInstance") if request.get_data(cache=True).strip() else {}
    try:
        commands().retry(
            visible_number(number), actor=person.username, key=key, data=given.get("data")
        )
    except InvalidData as error:
        errors = data_errors(error.fields)
        refuse(422, "Some of the corrections do not fit the instance.", "invalid", errors)
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


# Acting on an instance (see `engine.service.casework`) ------------------------------------


@blueprint.post("/instances/<number>/reopen")
@api_auth()
def reopen(number: str) -> Response:
    """Send an instance that ended back to work (the service desk, or its requester)."""
    person = caller()
    key = idempotency_key("reopenInstance", person)
    reason = body("ReasonGiven")["reason"]
    services().casework.reopen(visible_number(number), reason, actor=person.username, key=key)
    return jsonify(instance_json(number))


@blueprint.post("/instances/<number>/priority")
@api_auth("agent")
def set_priority(number: str) -> Response:
    """Change the priority, with a reason; the SLA clocks follow (agents)."""
    person = caller()
    key = idempotency_key("setPriority", person)
    given = body("NewPriority")
    services().casework.set_priority(
        visible_number(number), given["priority"], given["reason"], actor=person.username, key=key
    )
    return jsonify(instance_json(number))


@blueprint.get("/instances/<number>/links")
@api_auth("agent")
def list_links(number: str) -> Response:
    """The instances linked to this one: related, its original, its duplicates (agents)."""
    links = services().casework.links(visible_number(number))
    return jsonify(
        {
            "related": [_linked(item) for item in links.related],
            "duplicate_of": _linked(links.duplicate_of) if links.duplicate_of else None,
            "duplicates": [_linked(item) for item in links.duplicates],
        }
    )


def _linked(item: Any) -> dict[str, Any]:
    return {"number": item.number, "title": item.title, "status": item.status, "ended": item.ended}


@blueprint.post("/instances/<number>/links")
@api_auth("agent")
def add_link(number: str) -> Response:
    """Link a related instance; the link shows on both (agents)."""
    person = caller()
    key = idempotency_key("linkInstance", person)
    other = body("NewLink")["number"]
    services().casework.link(visible_number(number), other, actor=person.username, key=key)
    return created(instance_json(number), url_for("api_instances.list_links", number=number))


@blueprint.post("/instances/<number>/duplicate")
@api_auth("agent")
def mark_duplicate(number: str) -> Response:
    """Close the instance as a duplicate of `original`; its requester is told (agents)."""
    person = caller()
    key = idempotency_key("markDuplicate", person)
    given = body("MarkDuplicate")
    link = url_for("instances.instance", number=number, _external=True)
    services().casework.mark_duplicate(
        visible_number(number),
        given["original"],
        given["reason"],
        actor=person.username,
        key=key,
        link=link,
    )
    return jsonify(instance_json(number))
