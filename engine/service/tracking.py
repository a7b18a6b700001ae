"""What a requester sees of their request on its tracking page: only what the workflow shows them.

The data and the timeline are cut down to what the workflow shows its requester
(`engine.service.seen`, the same cut as at every other door); the page never shows the
service desk's internal notes, assignments, SLA clocks or incidents.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.core.definition import DEFAULT_TEAM, Workflow
from engine.core.values import is_row_id
from engine.service.casework import why_not_reopened
from engine.service.commands import Result
from engine.service.desk import button_label
from engine.service.errors import Conflict, InvalidInput, NotFound
from engine.service.published import Published
from engine.service.requests import REQUESTER, NewFile, Requests
from engine.service.seen import (
    SeenEvent,
    Shown,
    form_of,
    inside,
    later_forms,
    requester_timeline,
    shown_data,
    visible_fields,
)
from engine.service.submissions import step_form
from engine.store.directory import Directory
from engine.store.instances import Attachment, Comment, Event, Instance, Task
from forms.answers import MIME_NAMES, file_hint
from forms.compiler import accept_pattern
from forms.definition import Form, added_files_field, size_words

#: What the requester reads for the statuses of the shipped workflows; others are spelled out.
STATUS_WORDS = {
    "open": "Received",
    "in_progress": "Being worked on",
    "waiting_on_requester": "Waiting for your answer",
    "resolved": "Resolved: please confirm",
    "closed": "Closed",
    "cancelled": "Cancelled",
}

#: The heading of the values a workflow shows its requester that no form shows (an action
#: set them, a subflow brought them back).
DETAILS_TITLE = "More about your request"


def status_words(status: str) -> str:
    return STATUS_WORDS.get(status) or status.replace("_", " ").capitalize()


@dataclass(frozen=True, slots=True)
class RequesterTask:
    """A task the workflow gave the requester, with its form and its buttons."""

    id: int
    title: str
    form: Form | None
    buttons: list[tuple[str, str]]
    keys: frozenset[str] = field(default_factory=frozenset)
    #: What the step shows its holder above its form (`show`), as (label, value), of what
    #: the requester may see: the desk's question, shown with the box that answers it.
    shows: tuple[tuple[str, Any], ...] = ()


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
    #: Only the fields the requester may see, nested as stored (see `Shown`).
    data: dict[str, Any]
    timeline: list[Entry]
    comments: list[Comment]
    files: list[Attachment]
    tasks: list[RequesterTask]
    #: Forms of later steps with fields the requester may see that hold an answer, then
    #: the values the workflow shows that no form does (`DETAILS_TITLE`).
    answers: list[Form]
    #: The rules of the files the requester may add (`forms.definition.added_files_field`).
    added_files: Mapping[str, Any] = field(default_factory=lambda: added_files_field(None))
    #: The requester's username, if they asked signed in.
    requester: str | None = None
    #: Whether the requester may reopen it: it ended, and its workflow takes it back.
    reopenable: bool = False
    #: The public workflow to report an ended request again with, when it cannot be reopened
    #: (None: open, reopenable, or not public).
    report_again: str | None = None
    #: Who works the request, in the words its requester reads ("Write to Facilities").
    team: str = DEFAULT_TEAM

    @property
    def team_capitalised(self) -> str:
        """The team's words at the start of a sentence or a line."""
        return self.team[:1].upper() + self.team[1:]

    @property
    def status_words(self) -> str:
        return status_words(self.status)

    @property
    def added_files_hint(self) -> str:
        """The files the requester may add, in words: how many at once, how large, which."""
        return file_hint(self.added_files).replace("files,", "files at once,", 1)

    def yours(self, comment: Comment) -> bool:
        """Tell whether the requester wrote a comment (through this link or signed in)."""
        return comment.author is not None and comment.author in (REQUESTER, self.requester)


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
        pinned = {task.id: _pinned(requests, session, task) for task in tasks}
        directory = Directory(session.connection(), row_locks=False)
        workflow = requests.commands.registry.workflow(directory, instance.workflow_version_id)
        session.expunge_all()
    ended = instance.ended_at is not None
    reopenable = ended and why_not_reopened(workflow, instance.state) is None
    start_form = form_of(published, workflow.start.get("form"))
    later = later_forms(published, workflow, start_form)
    shown = visible_fields(workflow, start_form, later)
    data = shown_data(instance.state.get("data") or {}, shown)
    labels = _labels(start_form, later)
    return TrackingView(
        number=instance.number,
        title=instance.title,
        status=instance.status,
        started_at=instance.started_at,
        ended=ended,
        form=_only(start_form, shown) if start_form else None,
        data=data,
        timeline=[
            _entry(event, workflow) for event in requester_timeline(events, instance.requester)
        ],
        comments=list(comments),
        files=list(files),
        tasks=[
            _requester_task(workflow, task, pinned[task.id], labels, data)
            for task in tasks
            if _is_requesters(task, instance)
        ],
        answers=_answers(workflow, start_form, later, shown, data),
        added_files=added_files_field(start_form),
        requester=instance.requester,
        reopenable=reopenable,
        report_again=_public_key(published, workflow) if ended and not reopenable else None,
        team=workflow.team,
    )


def _public_key(published: Published, workflow: Workflow) -> str | None:
    try:
        return published.public_start(workflow.key).workflow.key
    except NotFound:
        return None


def reported_again(
    requests: Requests, published: Published, token: str, workflow_key: str
) -> tuple[str, dict[str, Any]]:
    """The number of the ended request a token opens, and its answers to the public form of
    `workflow_key`, to fill a new report of it with (files aside: they stay on the first).

    NotFound: no such link, or a request of another workflow; Conflict: it is still open.
    """
    number = requests.number(token)
    start = published.public_start(workflow_key)
    with requests.commands.database.reading() as session:
        instance = session.scalars(select(Instance).where(Instance.number == number)).one()
        directory = Directory(session.connection(), row_locks=False)
        workflow = requests.commands.registry.workflow(directory, instance.workflow_version_id)
        data, ended = dict(instance.state.get("data") or {}), instance.ended_at is not None
    if workflow.key != workflow_key:
        raise NotFound(f"{number} was not made with this form")
    if not ended:
        raise Conflict(
            f"{number} is still open: write to the service desk on its tracking page "
            "rather than report it again"
        )
    kept = {f["key"] for f in start.form.fields if f["type"] not in ("file", "hidden")}
    return number, {key: value for key, value in data.items() if key in kept}


def added_files(requests: Requests, published: Published, token: str) -> Mapping[str, Any]:
    """The rules of the files the requester of a token may add (NotFound for any other)."""
    number = requests.number(token)
    with requests.commands.database.reading() as session:
        version = session.scalars(
            select(Instance.workflow_version_id).where(Instance.number == number)
        ).one()
        directory = Directory(session.connection(), row_locks=False)
        workflow = requests.commands.registry.workflow(directory, version)
    return added_files_field(form_of(published, workflow.start.get("form")))


def attach(
    requests: Requests,
    published: Published,
    token: str,
    files: list[NewFile],
    *,
    key: str | None = None,
) -> Result:
    """Add the requester's files to their request: as many, as large and of the types its
    form takes (`added_files`); InvalidInput keeps none of them."""
    rules = added_files(requests, published, token)
    most, size = int(rules["max_files"]), int(rules["max_size"])
    if len(files) > most:
        raise InvalidInput(f"Add at most {most} file{'s' if most > 1 else ''} at once.")
    takes = re.compile(accept_pattern(rules["accept"])) if rules["accept"] else None
    for new in files:
        if new.size > size:
            raise InvalidInput(f"'{new.filename}' is larger than {size_words(size)}.")
        if takes is not None and not takes.fullmatch(new.content_type):
            kinds = ", ".join(MIME_NAMES.get(kind, kind) for kind in rules["accept"])
            raise InvalidInput(f"'{new.filename}' is not a file this request takes: {kinds}.")
    return requests.attach(token, files, key=key)


def _answers(
    workflow: Workflow, start: Form | None, later: list[Form], shown: set[str], data: Shown
) -> list[Form]:
    """Return the later forms' fields the requester may see, then what no form shows.

    Each is titled by the first step that fills it in ("Manager signs off"), not by the
    form's own title, which speaks to whoever fills it in ("Your decision")."""
    steps: dict[str, str] = {}
    for step in workflow.steps.values():
        key = step.doc.get("form")
        if isinstance(key, str):
            steps.setdefault(key, step.label)
    forms = [_only(form, shown, title=steps.get(form.key)) for form in later]
    if "requester_sees" in workflow.doc:
        # What the workflow lists shows even where its form keeps it in, and only once.
        told = {f["key"] for f in start.fields} if start else set()
        forms = [
            _only(form, shown - told, public=True, title=steps.get(form.key)) for form in later
        ]
        forms.append(_details(workflow, [start, *later], data))
    return [
        form
        for form in forms
        if form is not None and any(data.get(f["key"]) is not None for f in form.fields)
    ]


def _only(
    form: Form, shown: set[str], *, public: bool = False, title: str | None = None
) -> Form | None:
    """Return a form of only the fields the requester may see (None when none are left).

    `public`: the workflow lists them, so they show even if their form keeps them in.
    `title`: what to call it (else the form's own title).
    """
    fields = [{**f, "public": True} if public else f for f in form.fields if f["key"] in shown]
    if not fields:
        return None
    named = title or form.title
    return Form.from_document(
        {"kind": "form", "format": 1, "key": form.key, "title": named, "fields": fields}
    )


def _details(workflow: Workflow, forms: list[Form | None], data: Shown) -> Form | None:
    """Return a read-only form of the listed values no form shows, keyed by their paths."""
    on_forms = {
        f["key"] for form in forms if form is not None for f in form.fields if f["type"] != "hidden"
    }
    listed = [str(path) for path in workflow.doc.get("requester_sees", ())]
    fields = {
        field["key"]: field
        for path in listed
        if path not in on_forms and not inside(path, listed)
        for field in _detail_fields(path, data.get(path))
    }
    if not fields:
        return None
    return Form.from_document(
        {
            "kind": "form",
            "format": 1,
            "key": "details",
            "title": DETAILS_TITLE,
            "fields": list(fields.values()),
        }
    )


def _detail_fields(path: str, value: Any) -> Iterator[dict[str, Any]]:
    """Show a value in rows a requester reads: one per text, number or list; mappings opened."""
    if isinstance(value, Mapping):
        for key, inner in value.items():
            yield from _detail_fields(f"{path}.{key}", inner)
        return
    field: dict[str, Any] = {"key": path, "label": _label(path), "type": "text", "public": True}
    if isinstance(value, list) and value and all(isinstance(row, Mapping) for row in value):
        columns = dict.fromkeys(key for row in value for key in row)
        field["type"] = "table"
        field["columns"] = [{"key": k, "label": _label(k), "type": "text"} for k in columns]
    elif isinstance(value, list):
        field["type"] = "multiselect"  # shown as its items, joined by commas
    yield field


def _label(path: str) -> str:
    """Say a path in words: `caller.email` is "Caller email"."""
    return path.replace(".", " ").replace("_", " ").capitalize()


def requester_task(
    requests: Requests, published: Published, token: str, task_id: int
) -> RequesterTask | None:
    """Return one of the requester's open tasks; None once it is done; NotFound if not theirs."""
    number = requests.number(token)
    if not is_row_id(task_id):
        raise NotFound(f"there is no task {task_id} for you on {number}")
    with requests.commands.database.reading() as session:
        found = session.execute(
            select(Task, Instance)
            .join(Instance, Instance.id == Task.instance_id)
            .where(Task.id == task_id, Instance.number == number)
        ).one_or_none()
        if found is None or not _is_requesters(found[0], found[1]):
            raise NotFound(f"there is no task {task_id} for you on {number}")
        task, instance = found
        form = _pinned(requests, session, task)
        directory = Directory(session.connection(), row_locks=False)
        workflow = requests.commands.registry.workflow(directory, instance.workflow_version_id)
        session.expunge_all()
    if task.status != "open":
        return None
    return _requester_task(workflow, task, form)


def _pinned(requests: Requests, session: Session, task: Task) -> Form | None:
    """Return the form version a task opened with (the latest for a task opened before)."""
    if not task.form:
        return None
    forms, directory = requests.commands.forms, Directory(session.connection(), row_locks=False)
    try:
        if task.form_version_id is not None:
            return forms.version(directory, task.form_version_id)
        return forms.latest(directory, task.form)[1]
    except NotFound:
        return None


def _is_requesters(task: Task, instance: Instance) -> bool:
    return bool(task.assignment.get("requester")) and task.assignee in (None, instance.requester)


def _requester_task(
    workflow: Workflow,
    task: Task,
    pinned: Form | None,
    field_labels: Mapping[str, str] | None = None,
    data: Mapping[str, Any] | None = None,
) -> RequesterTask:
    step = workflow.steps.get(task.step)
    fields = step.doc.get("fields") if step is not None else None
    form = step_form(pinned, fields).form if pinned is not None else None
    labels: Mapping[str, str] = step.doc.get("buttons", {}) if step is not None else {}
    buttons = [(outcome, button_label(outcome, labels)) for outcome in task.outcomes]
    keys = frozenset(f["key"] for f in form.fields) if form else frozenset()
    show = step.doc.get("show", ()) if step is not None else ()
    # `data` holds only what the requester may see: a `show` of anything else shows nothing.
    seen, said = data or {}, field_labels or {}
    shows = tuple(
        (said.get(key, key), seen[key])
        for key in show
        if isinstance(key, str) and seen.get(key) not in (None, "", [])
    )
    return RequesterTask(task.id, task.title, form, buttons, keys, shows)


def _labels(start: Form | None, later: Sequence[Form]) -> dict[str, str]:
    """Each field's label, by key, from the forms of the workflow (the start form first)."""
    found: dict[str, str] = {}
    for form in [f for f in (start, *later) if f is not None]:
        for spec in form.fields:
            found.setdefault(spec["key"], str(spec.get("label") or spec["key"]))
    return found


def _entry(event: SeenEvent, workflow: Workflow) -> Entry:
    """Say an event the requester sees (`seen.requester_event`) in their words."""
    status = status_words(str(event.detail.get("status", "")))
    if event.kind == "started":
        return Entry(event.at, "We received your request.")
    if event.kind == "status_changed":
        return Entry(event.at, f"Status: {status}.")
    if event.kind == "ended":
        # "Closed.", not "Closed: Closed.": a status that says it already is not said again.
        closed = not status or status.lower() == "closed"
        return Entry(event.at, "Closed." if closed else f"Closed: {status}.")
    if event.kind in ("task_completed", "voted"):
        # Which button: "Yes, it is solved" and "No, it is not solved" both read "You answered."
        step = workflow.steps.get(event.step or "")
        outcome = event.detail.get("outcome") or event.detail.get("vote")
        if step is None or not isinstance(outcome, str) or len(step.outcomes()) < 2:
            return Entry(event.at, "You answered.")
        said = button_label(outcome, step.doc.get("buttons", {}))
        return Entry(event.at, f"You answered: {said}.")
    # A comment or files; files without an actor came with the form they sent.
    you = event.by_requester or (event.kind == "attached" and event.actor is None)
    who = "You" if you else "The service desk"
    if event.kind == "commented":
        return Entry(event.at, f"{who} wrote a comment.")
    return Entry(event.at, f"{who} added files: {event.why}.")
