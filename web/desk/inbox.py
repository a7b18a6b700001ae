"""The agents' inbox and acting on tasks: what to do next, how long is left, doing it.

Who may open a task page is said in `web.desk.task_page`. Acting is decided by
the commands (the assignee or delegator, or a group member while the task is queued);
those who may only look see the page without its forms. Every post carries the page's
random `submission` id, the command's idempotency key: a double click acts once.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import (
    Blueprint,
    Flask,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_wtf.csrf import generate_csrf

from engine.service.desk import TaskView
from engine.service.errors import Conflict, InvalidInput, NotAllowed, ServiceError
from engine.service.requests import who
from engine.service.submissions import InvalidData
from engine.service.worklist import SLA_STATES, Filters, TaskItem
from engine.settings import PAGE_SIZE
from forms.coercion import coerce_post
from forms.validation import FieldError
from web.auth import me, require
from web.common.errors import STATUS
from web.common.moments import Deadline, deadline, posted_zone
from web.common.services import services
from web.desk.instances import MAX_PAGE_NUMBER, app_commands, form_key, now
from web.desk.task_page import load_task, task_page
from web.portal import task_prefix

blueprint = Blueprint("inbox", __name__)


# The inbox ----------------------------------------------------------------------------------


def _filters() -> Filters:
    args = request.args
    sla = args.get("sla") or None
    return Filters(
        workflow=args.get("workflow") or None,
        priority=args.get("priority") or None,
        sla=sla if sla in SLA_STATES else None,
    )


def _page_number(name: str) -> int:
    return min(max(1, request.args.get(name, 1, type=int) or 1), MAX_PAGE_NUMBER)


def _page_url(name: str, number: int) -> str:
    args: dict[str, Any] = {k: v for k, v in request.args.items() if v}
    args[name] = str(number)
    return url_for("inbox.inbox", **args)


@blueprint.get("/inbox")
@require()
def inbox() -> str:
    """List my tasks and my groups' queue, nearest SLA breach first.

    Someone who is no agent (a manager who approves, a reviewer, a requester asked to
    confirm a fix) has tasks too, given to them by name: the page lists those ("Your
    tasks"); the queues, which only agents take work from, are the desk's.
    """
    person, at, filters = me(), now(), _filters()
    pages = {"mine": _page_number("mine"), "queue": _page_number("queue")}
    found = services().desk.inbox(person, at, filters, pages, PAGE_SIZE)
    mine, queued = found.mine, (found.queued if person.is_agent else [])
    published = services().published
    workflows = published.workflows()
    priorities = sorted({p for key, _ in workflows for p in published.workflow(key).priorities})
    labels = _step_labels(published, [*mine, *queued])
    return render_template(
        "inbox/inbox.html",
        desk=person.is_agent,
        mine=_rows(mine[:PAGE_SIZE], labels, at, person.username, queued=False),
        queued=_rows(queued[:PAGE_SIZE], labels, at, person.username, queued=True),
        more={"mine": len(mine) > PAGE_SIZE, "queue": len(queued) > PAGE_SIZE},
        pages=pages,
        page_url=_page_url,
        total=found.total,
        filters=filters,
        filtered=any((filters.workflow, filters.priority, filters.sla)),
        workflows=workflows,
        priorities=priorities,
        sla_states=SLA_WORDS,
        username=person.username,
        csrf=generate_csrf(),
        # One id for the page's claim forms: a claim's key also names its task (form_key).
        submission=str(uuid.uuid4()),
    )


@dataclass(frozen=True, slots=True)
class Row:
    """One line of a list, put in words in Python: Jinja's calls cost ten times more."""

    item: TaskItem
    href: str
    step: str  # the step's label
    deadline: Deadline
    action: str | None  # "claim" (queued), "unclaim" (a queued task I hold), or none
    action_url: str | None


def _rows(
    items: list[TaskItem],
    labels: dict[tuple[str, str], str],
    at: datetime,
    username: str,
    *,
    queued: bool,
) -> list[Row]:
    links = {name: _task_links(f"inbox.{name}") for name in ("task", "claim", "unclaim")}
    rows = []
    for item in items:
        action = "claim" if queued else None
        if not queued and item.group and item.assignee == username:
            action = "unclaim"
        rows.append(
            Row(
                item,
                links["task"](item.id),
                labels[(item.workflow, item.step)],
                deadline(item.sla_due_at or item.due_at, item.sla_state(at), at),
                action,
                links[action](item.id) if action else None,
            )
        )
    return rows


def _task_links(endpoint: str) -> Callable[[int], str]:
    """Return a maker of an endpoint's URL for any task id, from one call of `url_for`.

    Seventy-five calls of `url_for` were the largest single cost of an inbox page.
    """
    probe = str(2**62 + 1)  # no other digits of the URL can read like this
    head, _, tail = url_for(endpoint, task_id=probe).partition(probe)
    return lambda task_id: f"{head}{task_id}{tail}"


#: The SLA states in the filter's words.
SLA_WORDS = {
    "breached": "Breached",
    "due_soon": "Due soon",
    "on_track": "On track",
    "none": "No SLA",
}


def _step_labels(published: Any, items: list[Any]) -> dict[tuple[str, str], str]:
    labels = {}
    for item in items:
        step = published.workflow(item.workflow).steps.get(item.step)
        labels[(item.workflow, item.step)] = step.label if step is not None else item.step
    return labels


# One task -----------------------------------------------------------------------------------


@blueprint.get("/tasks/<int:task_id>")
@require()
def task(task_id: int) -> tuple[str, int]:
    """Show a task: earlier data read-only, its own form, its outcomes, and who holds it."""
    return task_page(task_id)


@blueprint.post("/tasks/<int:task_id>/complete")
@require()
def complete(task_id: int) -> Any:
    """Complete a task with an outcome; the command checks the data and says what is wrong."""
    page = _actionable(task_id)
    outcome = request.form.get("outcome", "")
    values: dict[str, Any] = {}
    if page.form is not None:
        prefix = task_prefix(task_id)
        post = {
            name.removeprefix(prefix): value
            for name, value in request.form.to_dict(flat=False).items()
            if name.startswith(prefix)
        }
        values = coerce_post(page.form, post, tz=posted_zone())
    note = request.form.get("note", "").strip()
    try:
        app_commands().complete(
            task_id,
            outcome,
            values,
            actor=me().username,
            key=form_key("complete", task_id),
            comment=note or None,
        )
    except InvalidData as error:
        errors, notes = _placed(page, error.fields)
        return task_page(
            task_id, values=values, errors=errors, note=note, note_errors=notes, status=422
        )
    except Conflict as error:
        return _conflict(task_id, error)
    except NotAllowed:
        abort(403)
    except ServiceError as error:
        notes = {"": error.message}
        status = STATUS.get(error.code, 400)
        return task_page(task_id, values=values, note=note, note_errors=notes, status=status)
    label = dict(page.buttons).get(outcome, outcome)
    title = page.task.title
    # A task's title often begins with its instance's number ("INC-000001 P2: ..."): once.
    said = title if title.startswith(page.instance.number) else f"{page.instance.number}: {title}"
    flash(f"You completed {said} ({label}).")
    if not me().is_agent:  # a requester has no inbox: back to their request
        return redirect(url_for("instances.instance", number=page.instance.number), code=303)
    return redirect(url_for("inbox.inbox"), code=303)


def _placed(
    page: TaskView, fields: tuple[FieldError, ...]
) -> tuple[list[FieldError], dict[str, str]]:
    """Put each error next to its control: a field of the form, or the page's comment box."""
    own = {f["key"] for f in page.form.fields} if page.form else set()
    errors = [error for error in fields if error.field in own]
    notes = {"note" if page.note_box else "": e.message for e in fields if e.field not in own}
    return errors, notes


def _actionable(task_id: int) -> TaskView:
    """Load a task for an action: refused (403) to those who may only look at it.

    A task no longer open goes on to the command, which says who got there first.
    """
    page = load_task(task_id)
    if page.open and not page.may_act:
        abort(403)
    return page


def _conflict(task_id: int, error: ServiceError) -> tuple[str, int]:
    """Say plainly that someone got there first; nothing was changed."""
    found = services().desk.task_outcome(task_id)
    message = error.message
    if found is not None:
        if found.status == "completed":
            message = f"{found.number}'s task was already completed by {who(found.completed_by)} "
            message += f"({found.outcome})"
        elif found.status != "open":
            message = f"{found.number}'s task was withdrawn ({found.status})"
        elif found.assignee and found.assignee != me().username:
            message = f"{found.number} was already taken by {found.assignee}"
        else:
            message = f"{found.number}: {error.message}"
        message += "; nothing was changed."
    return render_template("inbox/conflict.html", message=message, task_id=task_id), 409


def _back(task_id: int) -> str:
    if request.form.get("back") == "task":
        return url_for("inbox.task", task_id=task_id)
    return url_for("inbox.inbox")


@blueprint.post("/tasks/<int:task_id>/claim")
@require("agent")
def claim(task_id: int) -> Any:
    """Take a task from a group's queue."""
    page = load_task(task_id)
    try:
        app_commands().claim(task_id, actor=me().username, key=form_key("claim", task_id))
    except Conflict as error:
        return _conflict(task_id, error)
    flash(f"You took {page.instance.number}.")
    return redirect(_back(task_id), code=303)


@blueprint.post("/tasks/<int:task_id>/unclaim")
@require("agent")
def unclaim(task_id: int) -> Any:
    """Give a claimed task back to its group's queue."""
    page = load_task(task_id)
    try:
        app_commands().unclaim(task_id, actor=me().username, key=form_key("unclaim", task_id))
    except Conflict as error:
        return _conflict(task_id, error)
    flash(f"You gave {page.instance.number} back to the queue of {page.task.candidate_group}.")
    return redirect(url_for("inbox.inbox"), code=303)


@blueprint.post("/tasks/<int:task_id>/reassign")
@require("agent")
def reassign(task_id: int) -> Any:
    """Give the task to another person or another group's queue."""
    page = load_task(task_id)
    if page.open and not page.may_reassign:
        abort(403)
    user = request.form.get("user", "").strip() or None
    group = request.form.get("group", "").strip() or None
    try:
        app_commands().reassign(
            task_id,
            actor=me().username,
            user=user,
            group=group,
            reason=request.form.get("reason", "").strip() or None,
            key=form_key("reassign", task_id),
        )
    except Conflict as error:
        return _conflict(task_id, error)
    except NotAllowed as error:
        return task_page(task_id, note_errors={"reassign": error.message}, status=403)
    except InvalidInput as error:
        return task_page(task_id, note_errors={"reassign": _sentence(error.message)}, status=422)
    flash(f"You gave {page.instance.number} to {user or 'the queue of ' + str(group)}.")
    return redirect(url_for("inbox.inbox"), code=303)


@blueprint.post("/tasks/<int:task_id>/delegate")
@require("agent")
def delegate(task_id: int) -> Any:
    """Ask someone else to do the task; the delegator may still act on it."""
    page = _actionable(task_id)
    to = request.form.get("to", "").strip()
    try:
        key = form_key("delegate", task_id)
        app_commands().delegate(task_id, actor=me().username, to=to, key=key)
    except Conflict as error:
        return _conflict(task_id, error)
    except NotAllowed as error:
        return task_page(task_id, note_errors={"delegate": error.message}, status=403)
    except InvalidInput as error:
        return task_page(task_id, note_errors={"delegate": _sentence(error.message)}, status=422)
    flash(f"You delegated {page.instance.number} to {to}.")
    return redirect(url_for("inbox.inbox"), code=303)


@blueprint.post("/tasks/<int:task_id>/comments")
@require("agent")
def comment(task_id: int) -> Any:
    """Comment on the task's instance, from the task page."""
    page = load_task(task_id)
    public = request.form.get("visibility") == "public"
    try:
        app_commands().comment(
            page.instance.number,
            request.form.get("comment", ""),
            actor=me().username,
            public=public,
            key=form_key("task-comment", task_id),
        )
    except ServiceError as error:
        status = STATUS.get(error.code, 400)
        return task_page(task_id, note_errors={"comment": error.message}, status=status)
    flash(f"Your {'public' if public else 'internal'} comment was added to {page.instance.number}.")
    return redirect(url_for("inbox.task", task_id=task_id), code=303)


def _sentence(message: str) -> str:
    """Write a service message as a sentence on the page."""
    return message[:1].upper() + message[1:] + ("" if message.endswith(".") else ".")


def init_app(app: Flask) -> None:
    app.register_blueprint(blueprint)
