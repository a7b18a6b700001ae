"""The agents' inbox and task page: what to do next, how long is left, and acting on it.

Who may open a task page: its assignee, whoever delegated it, a member of its candidate
group, whoever completed it, the requester of a task the workflow gave the requester, and
admins. Anyone else gets 403 when they may see the instance (agents see every instance)
and 404 when they may not, so a task id tells a stranger nothing. Acting is decided by
the commands (the assignee or delegator, or a group member while the task is queued);
those who may only look see the page without its forms. Every post carries the page's
random `submission` id, the command's idempotency key: a double click acts once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlalchemy import select

from engine.core.definition import Workflow
from engine.core.steps.base import Step
from engine.service.accounts import Person
from engine.service.errors import Conflict, ServiceError
from engine.service.worklist import SLA_STATES, Filters, counts, may_see_instance, my_tasks, queue
from engine.store.definitions import Definition
from engine.store.instances import Instance, Task
from engine.store.people import Group, User
from forms.coercion import coerce_post
from forms.definition import Form
from forms.rendering import value_fields
from forms.validation import FieldError, validate
from web.auth import me, require
from web.errors import STATUS
from web.instances import (
    MAX_PAGE_NUMBER,
    PAGE_SIZE,
    app_commands,
    app_database,
    field_doc,
    form_key,
    form_named,
    now,
    workflow_forms,
    workflow_of,
)
from web.portal import task_prefix
from web.tracking import DEFAULT_BUTTONS

blueprint = Blueprint("inbox", __name__)

#: The largest id a row can have (a BIGINT).
MAX_ID = 2**63 - 1

#: Step types whose outcomes are a decision: rejecting one asks for a comment.
DECISIONS = ("approval", "review")


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
    args = {k: v for k, v in request.args.items() if v}
    args[name] = str(number)
    return url_for("inbox.inbox", **args)


@blueprint.get("/inbox")
@require("agent")
def inbox() -> str:
    """List my tasks and my groups' queue, nearest SLA breach first."""
    person, at, filters = me(), now(), _filters()
    pages = {"mine": _page_number("mine"), "queue": _page_number("queue")}
    with app_database().reading() as session:
        mine = my_tasks(
            session,
            person,
            at,
            filters,
            limit=PAGE_SIZE + 1,
            offset=(pages["mine"] - 1) * PAGE_SIZE,
        )
        queued = queue(
            session,
            person,
            at,
            filters,
            limit=PAGE_SIZE + 1,
            offset=(pages["queue"] - 1) * PAGE_SIZE,
        )
        total = counts(session, person)
        workflows = [
            (key, title)
            for key, title in session.execute(
                select(Definition.key, Definition.title)
                .where(Definition.kind == "workflow", Definition.latest_version > 0)
                .order_by(Definition.title)
            )
        ]
    published = current_app.extensions["flowdesk.published"]
    priorities = sorted({p for key, _ in workflows for p in published.workflow(key).priorities})
    labels = _step_labels(published, [*mine, *queued])
    return render_template(
        "inbox/inbox.html",
        mine=mine[:PAGE_SIZE],
        queued=queued[:PAGE_SIZE],
        more={"mine": len(mine) > PAGE_SIZE, "queue": len(queued) > PAGE_SIZE},
        pages=pages,
        page_url=_page_url,
        total=total,
        filters=filters,
        filtered=any((filters.workflow, filters.priority, filters.sla)),
        workflows=workflows,
        priorities=priorities,
        sla_states=SLA_WORDS,
        labels=labels,
        at=at,
        username=person.username,
    )


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


@dataclass(frozen=True, slots=True)
class TaskPage:
    """A task with all a page needs to show it and to say who may do what."""

    task: Task
    instance: Instance
    workflow: Workflow
    step: Step | None
    form: Form | None
    shown: dict[str, Any]  # a form document of the earlier fields, shown read-only
    buttons: list[tuple[str, str]]
    may_act: bool
    may_claim: bool
    may_delegate: bool
    decision: bool
    #: The form's field for a decision's comment (`comment`, `approval_comment`), if any.
    comment_field: str | None

    @property
    def note_box(self) -> bool:
        """A decision whose form has no comment field gets a comment box of its own."""
        return self.decision and self.comment_field is None

    @property
    def open(self) -> bool:
        return self.task.status == "open"

    @property
    def data(self) -> dict[str, Any]:
        data: dict[str, Any] = self.instance.state.get("data") or {}
        return data


def _may_act(person: Person, task: Task, instance: Instance) -> bool:
    """The commands' own rule (`engine.service.permissions.require_actor`), to offer forms."""
    if person.username in (task.assignee, task.delegated_by):
        return True
    if task.assignee is None and task.candidate_group:
        return task.candidate_group in person.groups
    requester_task = task.assignee is None and task.assignment.get("requester")
    return bool(requester_task and instance.requester == person.username)


def _may_open(person: Person, task: Task, instance: Instance) -> bool:
    return (
        person.has_role("admin")
        or _may_act(person, task, instance)
        or person.username == task.completed_by
        or (task.candidate_group is not None and task.candidate_group in person.groups)
    )


def load_task(task_id: int) -> TaskPage:
    """Gather a task's page; 404 for an unknown task or a stranger, 403 for a bystander."""
    person = me()
    if task_id > MAX_ID:
        abort(404)  # no such row, and PostgreSQL would refuse the number
    with app_database().reading() as session:
        found = session.execute(
            select(Task, Instance)
            .join(Instance, Instance.id == Task.instance_id)
            .where(Task.id == task_id)
        ).one_or_none()
        if found is None:
            abort(404)
        task, instance = found
        if not _may_open(person, task, instance):
            abort(403 if may_see_instance(session, person, instance.number) else 404)
        session.expunge_all()
    workflow = workflow_of(instance)
    step = workflow.steps.get(task.step)
    doc: Mapping[str, Any] = step.doc if step is not None else {}
    form = form_named(task.form)
    own = fields_of(form)
    data = instance.state.get("data") or {}
    keys = doc["show"] if "show" in doc else [key for key in data if key not in own]
    labels = doc.get("buttons", {})
    # The requester's own approvals (confirm the fix) have their form's feedback field.
    decision = step is not None and step.type in DECISIONS and not task.assignment.get("requester")
    may_act = task.status == "open" and _may_act(person, task, instance)
    return TaskPage(
        task=task,
        instance=instance,
        workflow=workflow,
        step=step,
        form=form,
        shown=field_doc(workflow_forms(workflow), keys),
        buttons=[
            (o, labels.get(o) or DEFAULT_BUTTONS.get(o) or o.replace("_", " ").capitalize())
            for o in task.outcomes
        ],
        may_act=may_act,
        may_claim=may_act and task.assignee is None and task.candidate_group is not None,
        may_delegate=may_act and person.username in (task.assignee, task.delegated_by),
        decision=decision,
        comment_field=next((key for key in sorted(own) if key.endswith("comment")), None),
    )


def task_page(
    task_id: int,
    *,
    values: Mapping[str, Any] | None = None,
    errors: tuple[FieldError, ...] | list[FieldError] = (),
    note: str = "",
    note_errors: Mapping[str, str] | None = None,
    status: int = 200,
) -> tuple[str, int]:
    """Render a task page, with what was sent and what was wrong when a post failed."""
    page = load_task(task_id)
    if values is None:
        own = fields_of(page.form)
        values = {} if page.decision else {k: v for k, v in page.data.items() if k in own}
    with app_database().reading() as session:
        groups = list(session.scalars(select(Group.key).order_by(Group.key)))
    html = render_template(
        "inbox/task.html",
        page=page,
        values=values,
        errors={e.field: e.message for e in errors},
        note=note,
        notes=note_errors or {},
        groups=groups,
        prefix=task_prefix(task_id),
        at=now(),
    )
    return html, status


def fields_of(form: Form | None) -> set[str]:
    return {f["key"] for f in value_fields(form.doc)} if form else set()


@blueprint.get("/tasks/<int:task_id>")
@require()
def task(task_id: int) -> tuple[str, int]:
    """Show a task: earlier data read-only, its own form, its outcomes, and who holds it."""
    return task_page(task_id)


@blueprint.post("/tasks/<int:task_id>/complete")
@require()
def complete(task_id: int) -> Any:
    """Check the task's form with the forms' validator, then complete it with an outcome."""
    page = _actionable(task_id)
    outcome = request.form.get("outcome", "")
    values: dict[str, Any] = {}
    errors: list[FieldError] = []
    data: dict[str, Any] = {}
    if page.form is not None:
        prefix = task_prefix(task_id)
        post = {
            name.removeprefix(prefix): value
            for name, value in request.form.to_dict(flat=False).items()
            if name.startswith(prefix)
        }
        values = coerce_post(page.form, post)
        result = validate(page.form, values, context={"outcome": outcome})
        errors, data = list(result.errors), result.data
    note = request.form.get("note", "").strip()
    notes = {}
    said = data.get(page.comment_field) if page.comment_field else note
    if page.decision and outcome == "rejected" and not said:
        message = "Say why you reject: write a comment."
        if page.comment_field:
            errors.append(FieldError(page.comment_field, message))
        else:
            notes["note"] = message
    if errors or notes:
        return task_page(
            task_id, values=values, errors=errors, note=note, note_errors=notes, status=422
        )
    commands, actor = app_commands(), me().username
    key = form_key("complete", task_id)
    try:
        commands.complete(task_id, outcome, data, actor=actor, key=key)
        if note:
            commands.comment(
                page.instance.number,
                note,
                actor=actor,
                public=False,
                key=f"{key}:note" if key else None,
            )
    except Conflict as error:
        return _conflict(task_id, error)
    except ServiceError as error:
        notes = {"": error.message}
        status = STATUS.get(error.code, 400)
        return task_page(task_id, values=values, note=note, note_errors=notes, status=status)
    label = dict(page.buttons).get(outcome, outcome)
    flash(f"You completed {page.instance.number}: {page.task.title} ({label}).")
    return redirect(url_for("inbox.inbox"), code=303)


def _actionable(task_id: int) -> TaskPage:
    """Load a task for an action: refused (403) to those who may only look at it.

    A task no longer open goes on to the command, which says who got there first.
    """
    page = load_task(task_id)
    if page.open and not page.may_act:
        abort(403)
    return page


def _conflict(task_id: int, error: ServiceError) -> tuple[str, int]:
    """Say plainly that someone got there first; nothing was changed."""
    with app_database().reading() as session:
        found = session.execute(
            select(Task.status, Task.completed_by, Task.outcome, Task.assignee, Instance.number)
            .join(Instance, Instance.id == Task.instance_id)
            .where(Task.id == task_id)
        ).one_or_none()
    message = error.message
    if found is not None:
        status, by, outcome, assignee, number = found
        if status == "completed":
            message = f"{number}'s task was already completed by {by} ({outcome})"
        elif status != "open":
            message = f"{number}'s task was withdrawn ({status})"
        elif assignee and assignee != me().username:
            message = f"{number} was already taken by {assignee}"
        else:
            message = f"{number}: {error.message}"
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


def _exists(model: Any, column: Any, value: str) -> bool:
    with app_database().reading() as session:
        return session.scalar(select(model.id).where(column == value)) is not None


@blueprint.post("/tasks/<int:task_id>/reassign")
@require("agent")
def reassign(task_id: int) -> Any:
    """Give the task to another person or another group's queue."""
    page = _actionable(task_id)
    user = request.form.get("user", "").strip() or None
    group = request.form.get("group", "").strip() or None
    problem = None
    if bool(user) == bool(group):
        problem = "Choose either a person or a group, not both."
    elif user and not _exists(User, User.username, user):
        problem = f"There is no user '{user}'."
    elif group and not _exists(Group, Group.key, group):
        problem = f"There is no group '{group}'."
    if problem:
        return task_page(task_id, note_errors={"reassign": problem}, status=422)
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
    flash(f"You gave {page.instance.number} to {user or 'the queue of ' + str(group)}.")
    return redirect(url_for("inbox.inbox"), code=303)


@blueprint.post("/tasks/<int:task_id>/delegate")
@require("agent")
def delegate(task_id: int) -> Any:
    """Ask someone else to do the task; the delegator may still act on it."""
    page = _actionable(task_id)
    to = request.form.get("to", "").strip()
    problem = None
    if not to:
        problem = "Say whom to delegate the task to."
    elif to == me().username:
        problem = "You already hold this task."
    elif not _exists(User, User.username, to):
        problem = f"There is no user '{to}'."
    if problem:
        return task_page(task_id, note_errors={"delegate": problem}, status=422)
    try:
        key = form_key("delegate", task_id)
        app_commands().delegate(task_id, actor=me().username, to=to, key=key)
    except Conflict as error:
        return _conflict(task_id, error)
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


def init_app(app: Flask) -> None:
    app.register_blueprint(blueprint)
