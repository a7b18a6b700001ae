"""The API's tasks: my tasks and my groups' queue, one task, claim, complete.

A task is visible to whoever may see its instance, its data as the service cuts it for
them (`Desk.visible_task`); acting on it is the service's call, under the instance lock:
who may act, the data against the task's pinned form, separation of duties, a reason for
a rejection. This module only translates.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, jsonify

from engine.service.errors import NotFound
from engine.service.submissions import InvalidData
from engine.service.worklist import Filters
from web.api.input import (
    api_auth,
    body,
    caller,
    commands,
    data_errors,
    idempotency_key,
    iso,
    not_found,
    page,
    query,
    refuse,
    require_id,
)
from web.common.services import services

blueprint = Blueprint("api_tasks", __name__, url_prefix="/api/v1")


@blueprint.get("/tasks")
@api_auth()
def list_tasks() -> Response:
    """List the caller's tasks or their groups' queue, nearest SLA breach first."""
    person = caller()
    args = query("listTasks")
    filters = Filters(
        workflow=args["workflow"],
        priority=args["priority"],
        sla=args["sla"],
        status=args["status"],
        text=args["text"],
    )
    limit, offset, view = args["limit"], args["offset"], args["view"]
    now = datetime.now(UTC)
    items, total = services().desk.tasks(
        person, now, filters, view=view, group=args["group"], limit=limit, offset=offset
    )
    return page([item.to_json(now) for item in items], total, limit, offset)


def task_json(task_id: int) -> dict[str, Any]:
    """Describe a task the caller may see; 404 for any other."""
    require_id(task_id, f"task {task_id}")
    try:
        seen = services().desk.visible_task(caller(), task_id)
    except NotFound:
        not_found(f"task {task_id}")
    task = seen.task
    return {
        "id": task.id,
        "title": task.title,
        "step": task.step,
        "form": task.form,
        "outcomes": list(task.outcomes),
        "status": task.status,
        "assignee": task.assignee,
        "group": task.candidate_group,
        "delegated_by": task.delegated_by,
        "due_at": iso(task.due_at),
        "created_at": iso(task.created_at),
        "outcome": task.outcome,
        "completed_at": iso(task.completed_at),
        "completed_by": task.completed_by,
        "data": dict(seen.data),
        "instance": seen.number,
        "instance_status": seen.status,
    }


@blueprint.get("/tasks/<int:task_id>")
@api_auth()
def get(task_id: int) -> Response:
    """Show one task."""
    return jsonify(task_json(task_id))


@blueprint.post("/tasks/<int:task_id>/claim")
@api_auth()
def claim(task_id: int) -> Response:
    """Take a task from one of the caller's groups' queue."""
    person = caller()
    key = idempotency_key("claimTask", person)
    task_json(task_id)  # 404 for a task the caller may not see, before saying more about it
    commands().claim(task_id, actor=person.username, key=key)
    return jsonify(task_json(task_id))


@blueprint.post("/tasks/<int:task_id>/complete")
@api_auth()
def complete(task_id: int) -> Response:
    """Complete a task with an outcome; the service checks who may, and the data."""
    person = caller()
    key = idempotency_key("completeTask", person)
    given = body("CompleteTask")
    task_json(task_id)  # 404 for a task the caller may not see, before saying more about it
    try:
        commands().complete(
            task_id,
            given["outcome"],
            given.get("data", {}),
            actor=person.username,
            key=key,
            comment=given.get("comment"),
        )
    except InvalidData as error:
        errors = data_errors(error.fields)
        refuse(422, "The data does not fill in the task's form.", "invalid", errors)
    return jsonify(task_json(task_id))
