"""The API's tasks: my tasks and my groups' queue, one task, claim, complete.

A task is visible to whoever may see its instance; acting on it is the service's
call (only the assignee, or a member of the queue's group, under the instance lock).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, current_app, jsonify
from sqlalchemy import select

from engine.service.accounts import Person
from engine.service.errors import NotFound
from engine.service.published import Published
from engine.service.worklist import Filters, may_see_instance, my_tasks, queue, total_tasks
from engine.store.instances import Instance, Task
from forms.validation import validate
from web.api.input import (
    api_auth,
    body,
    caller,
    commands,
    data_errors,
    database,
    idempotency_key,
    iso,
    not_found,
    page,
    query,
    refuse,
    require_id,
)

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
    with database().reading() as session:
        if view == "queue":
            items = queue(
                session, person, now, filters, group=args["group"], limit=limit, offset=offset
            )
        else:
            items = my_tasks(session, person, now, filters, limit=limit, offset=offset)
        total = total_tasks(session, person, now, filters, view=view, group=args["group"])
    return page([item.to_json(now) for item in items], total, limit, offset)


def task_json(task_id: int) -> dict[str, Any]:
    """Describe a task the caller may see; 404 for any other."""
    require_id(task_id, f"task {task_id}")
    with database().reading() as session:
        found = session.execute(
            select(Task, Instance.number, Instance.status)
            .join(Instance, Instance.id == Task.instance_id)
            .where(Task.id == task_id)
        ).one_or_none()
        if found is None or not may_see_instance(session, caller(), found[1]):
            not_found(f"task {task_id}")
        task, number, status = found
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
            "data": task.data,
            "instance": number,
            "instance_status": status,
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


def _may_act(person: Person, task: dict[str, Any]) -> bool:
    """Tell, from what the caller sees, whether the service would let them act (it decides)."""
    if person.username in (task["assignee"], task["delegated_by"]):
        return True
    return task["assignee"] is None and task["group"] in person.groups


@blueprint.post("/tasks/<int:task_id>/complete")
@api_auth()
def complete(task_id: int) -> Response:
    """Complete a task with an outcome; its form, if any, checks the data first."""
    person = caller()
    key = idempotency_key("completeTask", person)
    given = body("CompleteTask")
    task = task_json(task_id)
    data: dict[str, Any] = given.get("data", {})
    # A task done already goes straight to the service: a repeat with the same key gets
    # the first answer back there, any other a clear conflict.
    if task["status"] == "open" and not _may_act(person, task):
        # Refused before its data is looked at: an outsider learns nothing from the form.
        refuse(403, f"task {task_id} is not yours to complete", "not_allowed")
    if task["status"] == "open" and task["form"]:
        published: Published = current_app.extensions["flowdesk.published"]
        try:
            form = published.form(task["form"])[1]
        except NotFound:
            form = None
        if form is not None:
            submission = validate(form, data, context={"outcome": given["outcome"]})
            if not submission.ok:
                errors = data_errors(submission.errors)
                refuse(422, "The data does not fill in the task's form.", "invalid", errors)
            data = submission.data
    commands().complete(task_id, given["outcome"], data, actor=person.username, key=key)
    return jsonify(task_json(task_id))
