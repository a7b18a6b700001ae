"""What the requester sees and does on their tracking page.

The requester sees the public part of their request: its status, the fields of the
start form marked `public` plus what they sent themselves, the public comments, the
files, and a timeline of the events that concern them — never the service desk's
internal notes, assignments or SLA clocks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import current_app, url_for
from sqlalchemy import select

from engine.core.definition import Workflow
from engine.service.commands import Result
from engine.service.errors import NotFound
from engine.service.published import PublicStart, Published
from engine.service.requests import REQUESTER, NewFile, Requests
from engine.store.instances import Attachment, Comment, Event, Instance, Task
from forms.definition import Form

#: What the requester reads for the statuses of the shipped workflows; others are spelled out.
STATUS_WORDS = {
    "open": "Received",
    "in_progress": "Being worked on",
    "waiting_on_requester": "Waiting for your answer",
    "resolved": "Resolved: please confirm",
    "closed": "Closed",
    "cancelled": "Cancelled",
}

DEFAULT_BUTTONS = {"approved": "Approve", "rejected": "Reject", "done": "Send"}


def external_url(endpoint: str, **values: Any) -> str:
    """Build a link for a mail: on `BASE_URL` when set, never on a Host header a client forged."""
    base = current_app.config.get("BASE_URL")
    if base:
        return str(base).rstrip("/") + url_for(endpoint, **values)
    return url_for(endpoint, _external=True, **values)


def status_words(status: str) -> str:
    return STATUS_WORDS.get(status) or status.replace("_", " ").capitalize()


def submit(
    requests: Requests,
    start: PublicStart,
    data: dict[str, Any],
    *,
    token: str,
    files: list[NewFile],
    key: str,
    requester: str | None = None,
) -> tuple[Result, bool]:
    """Start the instance of a public form; send the link by email when the flow asks to."""
    confirmation = None
    address_field = start.workflow.start.get("confirm_to")
    if address_field and data.get(address_field):
        confirmation = {
            "to": {"email": data[address_field]},
            "template": "request-received",
            "link": external_url("portal.track", token=token),
        }
    return requests.submit(
        start.workflow.key,
        data,
        token=token,
        files=files,
        key=f"portal:new:{key}",
        confirmation=confirmation,
        requester=requester,
        form=(start.form.key, start.form_version),
    )


@dataclass(frozen=True, slots=True)
class RequesterTask:
    """A task the workflow gave the requester, with its form and its buttons."""

    id: int
    title: str
    form: Form | None
    buttons: list[tuple[str, str]]
    keys: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True, slots=True)
class Entry:
    at: datetime
    text: str


@dataclass(frozen=True, slots=True)
class TrackingView:
    number: str
    title: str
    status: str
    started_at: datetime
    ended: bool
    form: Form | None
    data: dict[str, Any]
    timeline: list[Entry]
    comments: list[Comment]
    files: list[Attachment]
    tasks: list[RequesterTask]
    #: Forms of later steps whose public fields hold an answer for the requester.
    answers: list[Form]

    @property
    def status_words(self) -> str:
        return status_words(self.status)


def view(requests: Requests, published: Published, token: str) -> TrackingView:
    """Gather the tracking page of the instance a token opens (NotFound for any other)."""
    number = requests.number(token)
    with requests.commands.database.reading() as session:
        instance = session.scalars(select(Instance).where(Instance.number == number)).one()
        events = session.scalars(
            select(Event).where(Event.instance_id == instance.id).order_by(Event.seq)
        ).all()
        comments = session.scalars(
            select(Comment)
            .where(Comment.instance_id == instance.id, Comment.public)
            .order_by(Comment.id)
        ).all()
        files = session.scalars(
            select(Attachment).where(Attachment.instance_id == instance.id).order_by(Attachment.id)
        ).all()
        tasks = session.scalars(
            select(Task)
            .where(Task.instance_id == instance.id, Task.status == "open")
            .order_by(Task.id)
        ).all()
        session.expunge_all()
    workflow = published.workflow(instance.workflow_key)
    start_form = _form(published, workflow.start.get("form"))
    return TrackingView(
        number=instance.number,
        title=instance.title,
        status=instance.status,
        started_at=instance.started_at,
        ended=instance.ended_at is not None,
        form=start_form,
        data=dict(instance.state.get("data") or {}),
        timeline=[entry for event in events if (entry := _entry(event)) is not None],
        comments=list(comments),
        files=list(files),
        tasks=[
            _requester_task(published, workflow, task)
            for task in tasks
            if _is_requesters(task, instance)
        ],
        answers=_answers(published, workflow, start_form, instance.state.get("data") or {}),
    )


def _answers(
    published: Published, workflow: Workflow, start_form: Form | None, data: dict[str, Any]
) -> list[Form]:
    keys: list[str] = []
    for step in workflow.steps.values():  # nested steps of parallel branches included
        key = step.doc.get("form")
        if key and key not in keys and (start_form is None or key != start_form.key):
            keys.append(key)
    found = []
    for key in keys:
        form = _form(published, key)
        if form and any(f.get("public") and data.get(f["key"]) for f in form.fields):
            found.append(form)
    return found


def requester_task(
    requests: Requests, published: Published, token: str, task_id: int
) -> RequesterTask | None:
    """Return one of the requester's open tasks; None once it is done; NotFound if not theirs."""
    number = requests.number(token)
    with requests.commands.database.reading() as session:
        found = session.execute(
            select(Task, Instance)
            .join(Instance, Instance.id == Task.instance_id)
            .where(Task.id == task_id, Instance.number == number)
        ).one_or_none()
        if found is None or not _is_requesters(found[0], found[1]):
            raise NotFound(f"there is no task {task_id} for you on {number}")
        task, instance = found
        session.expunge_all()
    if task.status != "open":
        return None
    return _requester_task(published, published.workflow(instance.workflow_key), task)


def _is_requesters(task: Task, instance: Instance) -> bool:
    return bool(task.assignment.get("requester")) and task.assignee in (None, instance.requester)


def _requester_task(published: Published, workflow: Workflow, task: Task) -> RequesterTask:
    form = _form(published, task.form)
    step = workflow.steps.get(task.step)
    labels = step.doc.get("buttons", {}) if step is not None else {}
    buttons = [
        (outcome, labels.get(outcome) or DEFAULT_BUTTONS.get(outcome) or outcome.capitalize())
        for outcome in task.outcomes
    ]
    keys = frozenset(f["key"] for f in form.fields) if form else frozenset()
    return RequesterTask(task.id, task.title, form, buttons, keys)


def _form(published: Published, key: str | None) -> Form | None:
    if not key:
        return None
    try:
        return published.form(key)[1]
    except NotFound:
        return None


def _entry(event: Event) -> Entry | None:
    """Say an event in the requester's words, or None if it is not theirs to see."""
    detail = event.detail or {}
    if event.kind == "started":
        return Entry(event.at, "We received your request.")
    if event.kind == "status_changed":
        return Entry(event.at, f"Status: {status_words(str(detail.get('status', '')))}.")
    if event.kind == "task_completed" and event.actor == REQUESTER:
        return Entry(event.at, "You answered.")
    if event.kind == "commented" and detail.get("public"):
        who = "You" if event.actor == REQUESTER else "The service desk"
        return Entry(event.at, f"{who} wrote a comment.")
    if event.kind == "attached":
        who = "You" if event.actor in (REQUESTER, None) else "The service desk"
        return Entry(event.at, f"{who} added files: {event.why}.")
    if event.kind == "ended":
        return Entry(event.at, f"Closed: {status_words(str(detail.get('status', '')))}.")
    return None
