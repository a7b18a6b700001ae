"""What the service desk reads: inboxes, lists, one task, one instance, as people may see them.

Pages, the REST API and the command line ask these questions instead of querying the
database themselves. Each answer is read in one reading session and comes back as
plain values (or rows detached from their session); who may see what is decided here,
by the same rules as the commands (`engine.service.permissions`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.core.definition import Workflow
from engine.core.steps.base import Step
from engine.core.values import is_row_id
from engine.service.commands import Commands
from engine.service.errors import Archived, NotAllowed, NotFound
from engine.service.permissions import (
    DECISIONS,
    holder_gone,
    may_act,
    may_reassign,
    separation_problem,
)
from engine.service.person import Person
from engine.service.published import Published
from engine.service.queries import (
    InstanceView,
    TimelineEvent,
    incidents_of,
    instance_numbers,
    instance_view,
    open_tasks,
)
from engine.service.requests import attachment
from engine.service.retention import archived_at
from engine.service.seen import inside, requester_fields, requester_timeline, shown_data
from engine.service.submissions import StepForm, comment_field, step_form
from engine.service.worklist import (
    Filters,
    InstanceItem,
    TaskItem,
    counts,
    instances,
    may_see_instance,
    my_tasks,
    queue,
    total_tasks,
)
from engine.store.directory import Directory
from engine.store.instances import Attachment, Comment, Instance, StepRun, Task, names_of
from engine.store.people import Group, User
from engine.store.repository import Repository
from engine.store.services import Service
from forms.definition import Form

#: What the buttons of the usual outcomes say, unless the step names them (`buttons`).
DEFAULT_BUTTONS = {"approved": "Approve", "rejected": "Reject", "done": "Send"}

#: Events that say their step has run (steps that pass straight through leave no run).
PASSED = frozenset({"routed", "ended", "data_set", "branch_finished"})


def button_label(outcome: str, labels: Mapping[str, str]) -> str:
    """Say what an outcome's button says: the step's label, a usual word, or the outcome."""
    return (
        labels.get(outcome)
        or DEFAULT_BUTTONS.get(outcome)
        or outcome.replace("_", " ").capitalize()
    )


@dataclass(frozen=True, slots=True)
class Inbox:
    """One page of a person's tasks and of their groups' queue, with how many are in each."""

    mine: list[TaskItem]
    queued: list[TaskItem]
    total: dict[str, int]


@dataclass(frozen=True, slots=True)
class TaskView:
    """A task with all a page needs to show it and to say who may do what."""

    task: Task
    instance: Instance
    workflow: Workflow
    step: Step | None
    #: The form the assignee fills in at this step (field permissions applied), if any.
    form: Form | None
    #: A form document of the earlier fields and of this step's read-only ones, shown as values.
    shown: dict[str, Any]
    buttons: list[tuple[str, str]]
    may_act: bool
    may_claim: bool
    #: Holds it from its group's queue, and may give it back there.
    may_give_back: bool
    may_delegate: bool
    #: May give the task to someone else: see `permissions.may_reassign`.
    may_reassign: bool
    #: An approval or review the assignee decides: a rejection needs a reason.
    decision: bool
    #: The form's field for a decision's reason (`comment`, `approval_comment`), if any.
    comment_field: str | None
    #: The instance's data, or for someone outside the service desk the part of it the
    #: page shows them (`shown`) and their own form's fields.
    data: Mapping[str, Any]
    #: Why separation of duties keeps the reader from this task, when it does.
    apart: str | None = None

    @property
    def note_box(self) -> bool:
        """A decision whose form has no comment field gets a comment box of its own."""
        return self.decision and self.comment_field is None

    @property
    def open(self) -> bool:
        return self.task.status == "open"


@dataclass(frozen=True, slots=True)
class InstancePage:
    """An instance as one person may see it: its view, files and the steps it has passed."""

    view: InstanceView
    files: list[Attachment]
    #: Steps that ran: a run, a completed task, or an event that says so (`PASSED`).
    done_steps: set[str]
    comments: list[Comment]
    events: Sequence[TimelineEvent]
    incidents: list[tuple[str, str]] = field(default_factory=list)
    #: The name of the catalogue's service it is about (an alert's, a mailbox's), if any.
    service: str | None = None


@dataclass(frozen=True, slots=True)
class VisibleTask:
    """A task of an instance a person may see, with the part of its data they may see."""

    task: Task
    number: str
    status: str
    data: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class TaskOutcome:
    """Where a task stands, to say plainly who got there first."""

    number: str
    status: str
    completed_by: str | None
    outcome: str | None
    assignee: str | None


class Desk:
    """Read-only questions of the service desk, over the commands' database."""

    def __init__(self, commands: Commands, published: Published) -> None:
        self.commands = commands
        self.published = published

    def _read(self, body: Any) -> Any:
        return self.commands.read(body)

    # Definitions an instance was started on ------------------------------------------------

    def workflow_of(self, version_id: int) -> Workflow:
        """Return the workflow version an instance is pinned to (versions never change)."""

        def read(session: Session) -> Workflow:
            return self.commands.registry.workflow(_directory(session), version_id)

        found: Workflow = self._read(read)
        return found

    def form_named(self, key: str | None) -> Form | None:
        """Return the latest published form of that key, or None."""
        if not key:
            return None
        try:
            return self.published.form(key)[1]
        except NotFound:
            return None

    def workflow_forms(self, workflow: Workflow) -> list[Form]:
        """Return the start form and the forms of the steps, in the workflow's order, once each."""
        keys = [workflow.start.get("form")] + [s.doc.get("form") for s in workflow.steps.values()]
        found: dict[str, Form] = {}
        for key in keys:
            if key and key not in found and (form := self.form_named(key)) is not None:
                found[key] = form
        return list(found.values())

    # Lists --------------------------------------------------------------------------------

    def inbox(
        self, person: Person, at: datetime, filters: Filters, pages: Mapping[str, int], size: int
    ) -> Inbox:
        """Return a page of my tasks and of my groups' queue (one more row, to tell if more)."""

        def read(session: Session) -> Inbox:
            mine = my_tasks(
                session, person, at, filters, limit=size + 1, offset=(pages["mine"] - 1) * size
            )
            queued = queue(
                session, person, at, filters, limit=size + 1, offset=(pages["queue"] - 1) * size
            )
            return Inbox(mine, queued, counts(session, person))

        found: Inbox = self._read(read)
        return found

    def tasks(
        self,
        person: Person,
        at: datetime,
        filters: Filters,
        *,
        view: str,
        group: str | None,
        limit: int,
        offset: int,
    ) -> tuple[list[TaskItem], int]:
        """Return a page of a person's tasks (`view` "mine") or their groups' queue, and a total."""

        def read(session: Session) -> tuple[list[TaskItem], int]:
            if view == "queue":
                items = queue(session, person, at, filters, group=group, limit=limit, offset=offset)
            else:
                items = my_tasks(session, person, at, filters, limit=limit, offset=offset)
            total = total_tasks(session, person, at, filters, view=view, group=group)
            return items, total

        found: tuple[list[TaskItem], int] = self._read(read)
        return found

    def instances(
        self, at: datetime, filters: Filters, *, limit: int, offset: int
    ) -> tuple[list[InstanceItem], int]:
        """Return a page of instances by filter, newest first, and how many match."""
        found: tuple[list[InstanceItem], int] = self._read(
            lambda session: instances(session, at, filters, limit=limit, offset=offset)
        )
        return found

    def open_tasks(self, user: str | None) -> tuple[list[Task], dict[int, str]]:
        """Return open tasks (a user's and their groups' queue) and their instances' numbers;
        NotFound for a user who does not exist (a typo said "no open tasks")."""

        def read(session: Session) -> tuple[list[Task], dict[int, str]]:
            if (
                user is not None
                and session.scalar(select(User.id).where(User.username == user)) is None
            ):
                raise NotFound(f"there is no user '{user}'")
            rows = open_tasks(session, user)
            numbers = instance_numbers(session, {task.instance_id for task in rows})
            session.expunge_all()
            return rows, numbers

        found: tuple[list[Task], dict[int, str]] = self._read(read)
        return found

    def groups(self) -> list[str]:
        """Return the key of every group, in order."""
        found: list[str] = self._read(
            lambda session: list(session.scalars(select(Group.key).order_by(Group.key)))
        )
        return found

    # One instance ---------------------------------------------------------------------------

    def may_see(self, person: Person, number: str) -> bool:
        """Tell whether a person may look at an instance (agents see all; others their own)."""
        if not _plausible(number):
            return False
        found: bool = self._read(lambda session: may_see_instance(session, person, number))
        return found

    def instance(self, number: str) -> InstanceView:
        """Return everything about one instance (for those `may_see` allows); one that
        retention archived is refused as `Archived`, not as one that never was."""

        def read(session: Session) -> InstanceView:
            if not _plausible(number):
                raise NotFound(f"there is no instance {number!r}")
            try:
                view = instance_view(session, number)
            except NotFound:
                gone = _archived(session, number)
                if gone is None:
                    raise
                raise gone from None
            session.expunge_all()
            return view

        found: InstanceView = self._read(read)
        return found

    def instance_for(self, person: Person, number: str) -> InstanceView:
        """Return an instance as `person` may see it; NotFound for anyone who may not.

        Agents see all of it; anyone else sees it as its requester does on the tracking
        page (`engine.service.seen`): the data the workflow shows them (`requester_sees`),
        public comments, and of the timeline only the entries meant for them.
        """

        def read(session: Session) -> InstanceView:
            view = _seen_view(session, person, number)
            session.expunge_all()
            return view

        found: InstanceView = self._read(read)
        return self._as_seen_by(person, found)

    def _as_seen_by(self, person: Person, view: InstanceView) -> InstanceView:
        if person.is_agent:
            return view
        workflow = self.workflow_of(view.instance.workflow_version_id)
        return replace(
            view,
            data=shown_data(view.data, requester_fields(self.published, workflow)),
            events=requester_timeline(view.events, view.instance.requester),
            comments=[comment for comment in view.comments if comment.public],
        )

    def instance_page(self, person: Person, number: str) -> InstancePage:
        """Return an instance as `person` may see it; NotFound for anyone who may not.

        Its data, comments and timeline are cut as `instance_for` cuts them; incidents
        are for agents only.
        """

        def read(session: Session) -> InstancePage:
            view = _seen_view(session, person, number)
            where = view.instance.id
            files = list(
                session.scalars(
                    select(Attachment)
                    .where(Attachment.instance_id == where)
                    .order_by(Attachment.id)
                )
            )
            done = set(session.scalars(select(StepRun.step).where(StepRun.instance_id == where)))
            done |= set(
                session.scalars(
                    select(Task.step).where(Task.instance_id == where, Task.status == "completed")
                )
            )
            done |= {e.step for e in view.events if e.kind in PASSED and e.step}
            key = view.instance.service_key
            service = None
            if key is not None:  # a service deleted since: its incidents keep its key
                service = session.scalar(select(Service.name).where(Service.key == key)) or key
            session.expunge_all()
            return InstancePage(view, files, done, view.comments, view.events, service=service)

        found: InstancePage = self._read(read)
        if not person.is_agent:
            seen = self._as_seen_by(person, found.view)
            return replace(found, view=seen, comments=seen.comments, events=seen.events)
        return replace(found, incidents=incidents_of(found.view.instance.state))

    def comments(self, person: Person, number: str) -> list[Comment]:
        """Return an instance's comments, oldest first; internal notes for agents only."""
        return [c for c in self.instance(number).comments if c.public or person.is_agent]

    def comment(self, comment_id: int) -> Comment:
        """Return one comment."""

        def read(session: Session) -> Comment:
            found = session.get(Comment, comment_id)
            if found is None:
                raise NotFound(f"there is no comment {comment_id}")
            session.expunge(found)
            return found

        comment: Comment = self._read(read)
        return comment

    def attachment(self, person: Person | None, number: str, key: str) -> Attachment:
        """Return a file of an instance the person may see (None: the link holder checked)."""
        if person is not None and not self.may_see(person, number):
            raise NotFound("there is no such file")
        return attachment(self.commands, number, key)

    # One task -----------------------------------------------------------------------------

    def task(self, person: Person, task_id: int) -> TaskView:
        """Gather a task's page: NotFound for an unknown task or a stranger, NotAllowed for
        a bystander who may see the instance but not the task.

        The service desk opens any task of an instance it may see, to read (what it may do
        there is the view's `may_act` and the rest), as `visible_task` shows it to the API."""
        if not is_row_id(task_id):
            raise NotFound(f"there is no task {task_id}")

        def read(session: Session) -> tuple[Task, Instance, Form | None, bool, str | None]:
            found = session.execute(
                select(Task, Instance)
                .join(Instance, Instance.id == Task.instance_id)
                .where(Task.id == task_id)
            ).one_or_none()
            if found is None:
                raise NotFound(f"there is no task {task_id}")
            task, instance = found
            if not _may_open(person, task, instance):
                if not may_see_instance(session, person, instance.number):
                    raise NotFound(f"there is no task {task_id}")
                if not person.is_agent:
                    raise NotAllowed(f"task {task_id} is not yours to open")
            form = self._pinned_form(session, task)
            gone = holder_gone(_directory(session), task)
            apart = self._apart(session, person, task)
            session.expunge_all()
            return task, instance, form, gone, apart

        task, instance, form, gone, apart = self._read(read)
        workflow = self.workflow_of(instance.workflow_version_id)
        return _task_view(self, person, task, instance, workflow, form, gone, apart)

    def _apart(self, session: Session, person: Person, task: Task) -> str | None:
        """Say why separation of duties keeps `person` from an open task, in the words of
        the command that would refuse them, or None."""
        if task.status != "open" or person.username not in names_of(task.kept_apart):
            return None
        repo = Repository(session.connection(), row_locks=False)
        instance = repo.instance(task.instance_id)
        if instance is None:
            return None
        steps = self.commands.registry.workflow(repo, instance.workflow_version_id).steps
        step = steps.get(task.step)
        return separation_problem(repo, step, instance, person.username, steps, to_them=True)

    def _pinned_form(self, session: Session, task: Task) -> Form | None:
        if not task.form:
            return None
        directory = _directory(session)
        try:
            if task.form_version_id is not None:
                return self.commands.forms.version(directory, task.form_version_id)
            return self.commands.forms.latest(directory, task.form)[1]
        except NotFound:
            return None

    def visible_task(self, person: Person, task_id: int) -> VisibleTask:
        """Return a task of an instance the person may see, with its number and status.

        Agents see all its data. Anyone else sees what the instance's requester sees of
        it (`requester_sees`), and of a task they hold (or held) its form's fields too.
        """
        if not is_row_id(task_id):
            raise NotFound(f"there is no task {task_id}")

        def read(session: Session) -> tuple[Task, Instance, Form | None]:
            found = session.execute(
                select(Task, Instance)
                .join(Instance, Instance.id == Task.instance_id)
                .where(Task.id == task_id)
            ).one_or_none()
            if found is None or not may_see_instance(session, person, found[1].number):
                raise NotFound(f"there is no task {task_id}")
            task, instance = found
            holds = not person.is_agent and _may_open(person, task, instance)
            form = self._pinned_form(session, task) if holds else None
            session.expunge_all()
            return task, instance, form

        task, instance, form = self._read(read)
        data: Mapping[str, Any] = task.data or {}
        if not person.is_agent:
            workflow = self.workflow_of(instance.workflow_version_id)
            paths = requester_fields(self.published, workflow)
            if form is not None:
                step = workflow.steps.get(task.step)
                fields = step.doc.get("fields") if step is not None else None
                paths |= {f["key"] for f in step_form(form, fields).form.fields}
            data = shown_data(data, paths)
        return VisibleTask(task, instance.number, instance.status, data)

    def task_outcome(self, task_id: int) -> TaskOutcome | None:
        """Say where a task stands now (after a command found it changed)."""

        def read(session: Session) -> TaskOutcome | None:
            row = session.execute(
                select(Instance.number, Task.status, Task.completed_by, Task.outcome, Task.assignee)
                .join(Instance, Instance.id == Task.instance_id)
                .where(Task.id == task_id)
            ).one_or_none()
            return TaskOutcome(*row) if row is not None else None

        found: TaskOutcome | None = self._read(read)
        return found


def _plausible(number: str) -> bool:
    """Tell whether a number may be looked up at all: PostgreSQL refuses a NUL in text, and
    no number is longer than 40 characters."""
    return len(number) <= 40 and "\x00" not in number


def _archived(session: Session, number: str) -> Archived | None:
    """Say that retention archived `number`, when it did: not one that never was."""
    when = archived_at(session, number) if _plausible(number) else None
    if when is None:
        return None
    number = number.strip().upper()  # as it is kept, whatever was typed
    return Archived(
        f"{number} was archived on {when:%Y-%m-%d} by its workflow's retention policy; its "
        "record, with all its history, is in the archive",
        number,
    )


def _seen_view(session: Session, person: Person, number: str) -> InstanceView:
    """Read an instance `person` may see; refuse any other (see `_unseen`)."""
    if not _plausible(number):
        raise NotFound(f"there is no instance {number!r}")
    if not may_see_instance(session, person, number):
        raise _unseen(session, person, number)
    try:
        return instance_view(session, number)
    except NotFound:  # the desk may see every instance, even one that is not there
        raise _unseen(session, person, number) from None


def _unseen(session: Session, person: Person, number: str) -> NotFound:
    """The refusal of an instance `person` may not see: `Archived` for the service desk
    when retention archived it (an old link still says what became of it), else NotFound,
    which tells nobody else whether it existed."""
    gone = _archived(session, number) if person.is_agent else None  # admins are agents
    return gone if gone is not None else NotFound(f"there is no instance {number}")


def _directory(session: Session) -> Directory:
    return Directory(session.connection(), row_locks=False)


def _may_open(person: Person, task: Task, instance: Instance) -> bool:
    return (
        person.has_role("admin")
        or may_act(person.username, person.groups.__contains__, task, instance.requester)
        or person.username == task.completed_by
        or (task.candidate_group is not None and task.candidate_group in person.groups)
    )


def _task_view(
    desk: Desk,
    person: Person,
    task: Task,
    instance: Instance,
    workflow: Workflow,
    pinned: Form | None,
    gone: bool = False,
    apart: str | None = None,
) -> TaskView:
    step = workflow.steps.get(task.step)
    doc: Mapping[str, Any] = step.doc if step is not None else {}
    fillable: StepForm | None = step_form(pinned, doc.get("fields")) if pinned else None
    own = {f["key"] for f in fillable.form.fields} if fillable else set()
    data: Mapping[str, Any] = instance.state.get("data") or {}
    keys = _shown_keys(desk, person, workflow, doc, fillable, data)
    if not person.is_agent:
        data = shown_data(data, [*keys, *own])
    labels = doc.get("buttons", {})
    # The requester's own approvals (confirm the fix) have their form's feedback field.
    decision = step is not None and step.type in DECISIONS and not task.assignment.get("requester")
    acts = (
        task.status == "open"
        and apart is None
        and may_act(person.username, person.groups.__contains__, task, instance.requester)
    )
    forms = [pinned] if pinned else []
    return TaskView(
        task=task,
        instance=instance,
        workflow=workflow,
        step=step,
        form=fillable.form if fillable and fillable.form.fields else None,
        shown=field_doc([*forms, *desk.workflow_forms(workflow)], keys),
        buttons=[(o, button_label(o, labels)) for o in task.outcomes],
        may_act=acts,
        may_claim=acts and task.assignee is None and task.candidate_group is not None,
        may_give_back=acts
        and task.candidate_group is not None
        and task.assignee == person.username
        and person.is_agent,
        may_delegate=acts
        and person.is_agent
        and person.username in (task.assignee, task.delegated_by),
        may_reassign=task.status == "open"
        and may_reassign(
            person.username,
            person.groups.__contains__,
            task,
            instance.requester,
            admin=person.has_role("admin"),
            desk=person.is_agent,
            holder_gone=gone,
        ),
        decision=decision,
        comment_field=comment_field(fillable.form) if fillable else None,
        data=data,
        apart=apart,
    )


def _shown_keys(
    desk: Desk,
    person: Person,
    workflow: Workflow,
    doc: Mapping[str, Any],
    fillable: StepForm | None,
    data: Mapping[str, Any],
) -> list[str]:
    """Return what a task page shows as values: the step's `show` list (by default, all
    the data but the form's own fields), then its read-only fields; never its hidden ones.

    By default a person outside the service desk sees what the requester sees.
    """
    own = {f["key"] for f in fillable.form.fields} if fillable else set()
    if "show" in doc:
        keys = list(doc["show"])
    elif person.is_agent:
        keys = [key for key in data if key not in own]
    else:
        seen = requester_fields(desk.published, workflow)
        keys = [key for key in _in_order(seen, data) if key not in own]
    keys += [key for key in (fillable.read_only if fillable else ()) if key not in keys]
    hidden = set(fillable.hidden) if fillable else set()
    return [key for key in keys if key not in hidden]


def _in_order(paths: set[str], data: Mapping[str, Any]) -> list[str]:
    """Return the paths that reach into the data, in the data's order (none inside another)."""
    order = {key: n for n, key in enumerate(data)}
    found = [p for p in paths if p.split(".")[0] in order and not inside(p, paths)]
    return sorted(found, key=lambda path: (order[path.split(".")[0]], path))


def field_doc(forms: Iterable[Form], keys: Iterable[str]) -> dict[str, Any]:
    """Build a form document of `keys`, labelled by the first form that has each field.

    A key no form declares (a value a step set, like `priority`; a path like `caller.email`)
    gets a plain text field, labelled by the key in words.
    """
    known: dict[str, Mapping[str, Any]] = {}
    for form in forms:
        for item in form.fields:
            known.setdefault(item["key"], item)
    fields = [
        known.get(key)
        or {
            "key": key,
            "type": "text",
            "label": key.replace(".", " ").replace("_", " ").capitalize(),
        }
        for key in keys
    ]
    return {"fields": fields}
