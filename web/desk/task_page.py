"""The task page: what a person sees of a task, and whether they may open it or act on it.

Who may open a task page: its assignee, whoever delegated it, a member of its candidate
group, whoever completed it, the requester of a task the workflow gave the requester, and
admins. Anyone else gets 403 when they may see the instance (agents see every instance)
and 404 when they may not, so a task id tells a stranger nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import abort, render_template
from sqlalchemy import select

from engine.core.definition import Workflow
from engine.core.steps.base import Step
from engine.service.accounts import Person
from engine.service.worklist import may_see_instance
from engine.store.instances import Instance, Task
from engine.store.people import Group
from forms.definition import Form
from forms.rendering import value_fields
from forms.validation import FieldError
from web.auth import me
from web.desk.instances import app_database, field_doc, form_named, now, workflow_forms, workflow_of
from web.portal import task_prefix
from web.portal.tracking import DEFAULT_BUTTONS

#: The largest id a row can have (a BIGINT).
MAX_ID = 2**63 - 1

#: Step types whose outcomes are a decision: rejecting one asks for a comment.
DECISIONS = ("approval", "review")


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
