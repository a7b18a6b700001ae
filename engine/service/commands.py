"""The commands: start, complete, claim, reassign, delegate, comment, cancel, retry, fire timer.

Each command is one transaction on one instance, under that instance's lock (see
`engine.service.shell`). The commands own every rule, whichever door a request came
through (a page, the REST API, the command line, a worker): data is checked against
the pinned form version under the step's field permissions, only those `may_act` allows
act, separation of duties holds, a rejection says why, and people named in the data
must exist and be able to sign in. A command is refused for its own data (a start's,
a completed task's); a task the engine opens for any other reason, with nobody there
to answer, that cannot go to whom it names stops its step on an incident instead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from engine.core import runtime
from engine.core.definition import Workflow
from engine.core.effects import OpenTask, ReassignTask
from engine.core.errors import ExpressionError, InvalidEvent, Problem, UnknownCalendar
from engine.core.events import Cancelled, Event, Retried, TaskCompleted, TimerFired
from engine.core.state import InstanceState
from engine.core.values import is_row_id
from engine.service import assignment, notifications, paging
from engine.service.apply import (
    DESK_REPLIED,
    Vet,
    hears_by_mail,
    message_row,
    record_events,
    save_transition,
)
from engine.service.corrections import checked_corrections
from engine.service.definitions import Registry
from engine.service.errors import Conflict, InvalidInput, NotAllowed, NotFound
from engine.service.permissions import (
    holder_gone,
    keep_from_later_steps,
    require_actor,
    require_delegator,
    require_open,
    require_reassigner,
    require_requester_task,
    require_separation,
)
from engine.service.shell import Clock, Limits, Result, Shell, utcnow
from engine.service.submissions import (
    DECISIONS,
    FormVersions,
    InvalidData,
    check,
    people_errors,
    require_reason,
    step_form,
    task_data,
)
from engine.store.database import Database
from engine.store.repository import InstanceRow, Repository, TaskRow
from engine.store.search import SearchIndex
from engine.store.uow import UnitOfWork
from forms.definition import Form
from forms.errors import FieldError

__all__ = ["AfterStart", "Clock", "Commands", "Limits", "Result", "utcnow"]

#: Work done inside a start's transaction once the instance row exists.
AfterStart = Callable[[Repository, InstanceRow, datetime], None]
#: A check of who starts, on the version about to start, before its data is read; raises
#: to refuse the start (see `engine.service.starting`).
StartCheck = Callable[[Repository, Workflow], None]

#: Who a command acts as when no person does (a worker starting a child instance).
SYSTEM = "flowdesk"
#: The hidden start field that records where a request came from (`portal`, `phone`, `api`,
#: `monitoring`, `email`), set by the door it came through (see `Commands.start`).
SOURCE_FIELD = "source"


#: The most of a reply a requester is mailed; the whole of it is on their tracking page.
MAX_MAILED_REPLY = 5000


class Commands(Shell):
    """The use cases over one database; `clock` is the only place time is read."""

    def __init__(
        self,
        database: Database,
        *,
        registry: Registry | None = None,
        clock: Clock = utcnow,
        limits: Limits | None = None,
    ) -> None:
        super().__init__(database, clock=clock, limits=limits)
        self.registry = registry or Registry()
        self.forms = FormVersions()

    def advance(
        self, uow: UnitOfWork, instance: InstanceRow, event: Event, at: datetime, key: str | None
    ) -> Result:
        """Apply an event to an instance locked in a unit of work already begun."""
        return self._advance(uow, instance, event, at, key)

    def _advance(
        self, uow: UnitOfWork, instance: InstanceRow, event: Event, at: datetime, key: str | None
    ) -> Result:
        repo = uow.repository
        workflow = self.registry.workflow(repo, instance.workflow_version_id)
        before = InstanceState.from_dict(instance.state)
        calendars = self.registry.calendars(repo, workflow)
        refused: dict[tuple[str, str], str] = {}
        while True:
            try:
                transition = runtime.advance(
                    workflow, before, event, at, calendars=calendars, refused=refused
                )
            except InvalidEvent as error:
                raise InvalidInput(str(error)) from None
            except (ExpressionError, UnknownCalendar) as error:
                raise InvalidInput(f"{instance.number} cannot go on: {error}") from None
            self.check_data(transition.state.data)
            try:
                tasks = _save(uow, instance, before, transition, workflow, at, key, event)
            except _Refused as found:
                if found.effect in refused:  # pragma: no cover - the runtime is deterministic
                    raise
                # Again with that task refused: its step stops on an incident (a reassign
                # by an escalation or an SLA breach is noted as one, the task left as it is).
                refused[found.effect] = found.reason
                continue
            return _answer(instance, transition.state, tasks)

    # Starting ------------------------------------------------------------------------------

    def start(
        self,
        workflow_key: str,
        data: dict[str, Any],
        *,
        requester: str | None = None,
        key: str | None = None,
        after: AfterStart | None = None,
        form_version: int | None = None,
        parent: tuple[int, int | None] | None = None,
        check: StartCheck | None = None,
        hidden: Mapping[str, Any] | None = None,
        source: str | None = None,
        service: str | None = None,
    ) -> Result:
        """Start an instance of the latest version of a workflow; return its number.

        The data must fill in the workflow's start form: the version `form_version` (the
        one the requester's page showed) if it is one, else the latest. `after` runs in the
        same transaction once the instance exists (to record its tracking link and files,
        say), so the instance never exists without them. `parent` (instance id, run id or
        None) links a child instance started by a `subflow` step. `check` may refuse the
        start for who asks, before the data is read (the doors' start rule).

        The start form's hidden fields are the door's: `hidden` (from a form page, where
        a person could only have changed them by hand) drops what the data says in them
        and sets these, the rest taking their defaults; `source` (a script's or a tool's
        door) fills a hidden `source` field the data leaves empty: where it came from.
        `service` files the instance under a service of the catalogue whatever its data says
        (a mailbox's own): it answers the start form's service field (`start.service`), so
        the data and the instance name the same one.
        """
        self.check_data(data)

        def body(uow: UnitOfWork, at: datetime) -> Result:
            return self.begin(
                uow,
                at,
                workflow_key,
                data,
                requester,
                key,
                after,
                form_version,
                parent,
                check,
                hidden=hidden,
                source=source,
                service=service,
            )

        asked: tuple[Any, ...] = (
            workflow_key,
            data,
            requester,
            form_version,
            parent,
            hidden,
            source,
        )
        if service is not None:  # a start without one keeps the fingerprint it always had
            asked += (service,)
        return self.execute("start", key, body, request=asked)

    def begin(
        self,
        uow: UnitOfWork,
        at: datetime,
        workflow_key: str,
        data: dict[str, Any],
        requester: str | None = None,
        key: str | None = None,
        after: AfterStart | None = None,
        form_version: int | None = None,
        parent: tuple[int, int | None] | None = None,
        check: StartCheck | None = None,
        *,
        hidden: Mapping[str, Any] | None = None,
        source: str | None = None,
        page: bool = True,
        service: str | None = None,
    ) -> Result:
        """Start an instance inside a unit of work already begun (see `start`). An incident
        filed under a service (by its start form, or by the door: `service`) is paged by the
        service's escalation policy, unless `page` is false: the door pages it itself (an
        alert, once it has noted what fired)."""
        repo = uow.repository
        version_id, workflow = self.registry.latest_workflow(repo, workflow_key)
        if check is not None:
            check(repo, workflow)
        field = workflow.start.get("service")
        if service is not None and field:
            data = {**data, field: service}
        cleaned, form = self._start_data(repo, workflow, data, form_version, hidden, source, at=at)
        calendars = self.registry.calendars(repo, workflow)
        prefix = workflow.number_prefix
        seq = repo.next_number(prefix)
        number = f"{prefix}-{seq:06d}"
        try:
            transition = runtime.start(
                workflow, cleaned, at, requester=requester, number=number, calendars=calendars
            )
        except (InvalidEvent, ExpressionError, UnknownCalendar) as error:
            raise InvalidInput(f"{workflow_key} cannot start: {error}") from None
        self.check_data(transition.state.data)
        parent_id, parent_run = parent or (None, None)
        instance = InstanceRow(
            0, number, version_id, {}, 0, 0, requester, "open", None, None, parent_id, parent_run
        )
        new = {
            "number": number,
            "prefix": prefix,
            "seq": seq,
            "workflow_key": workflow.key,
            "workflow_version_id": version_id,
            "requester": requester,
            "started_at": at,
            "parent_id": parent_id,
            "parent_run": parent_run,
        }
        if service is not None:  # the door's, whatever the form's field (hidden) kept
            new["service_key"] = service
        tasks = save_transition(
            repo,
            instance,
            None,
            transition,
            workflow,
            at,
            key,
            new=new,
            vet=_refusing(repo, workflow, instance),
            form_version=repo.latest_form_version,
        )
        # The first task's holder was vetted as it opened; a later step's, named now, here
        # (refused, the transaction keeps nothing).
        kept_out = assignment.requester_named_where_kept_out(workflow.steps, cleaned, requester)
        if kept_out:
            raise InvalidData("some of the data does not fill in the form", kept_out)
        if after is not None:
            after(repo, instance, at)
        if form is not None:
            _require_attached(repo, instance, form, cleaned)
        if page and workflow.incident:  # as the service it is filed under has it paged
            paging.begin_for_service(self.registry, repo, instance, at)
        return _answer(instance, transition.state, tasks)

    def check_start_data(
        self, repo: Repository, workflow: Workflow, data: dict[str, Any]
    ) -> dict[str, Any]:
        """Return start data cleaned by the workflow's start form, or raise `InvalidData`."""
        return self._start_data(repo, workflow, data, None, at=self.clock())[0]

    def _start_data(
        self,
        repo: Repository,
        workflow: Workflow,
        data: dict[str, Any],
        form_version: int | None,
        hidden: Mapping[str, Any] | None = None,
        source: str | None = None,
        *,
        at: datetime,
    ) -> tuple[dict[str, Any], Form | None]:
        """Check start data against the start form; a workflow without one takes any data.
        `hidden` and `source`: the door's say in the hidden fields (see `start`).

        Return the cleaned data and the form that checked it."""
        key = workflow.start.get("form")
        if not key:
            return data, None
        _version, form = self.forms.pinned(repo, key, form_version, at)
        secret = {f["key"] for f in form.fields if f["type"] == "hidden"}
        if hidden is not None:
            data = {k: v for k, v in data.items() if k not in secret}
            data.update((k, v) for k, v in hidden.items() if k in secret)
        if source and SOURCE_FIELD in secret and data.get(SOURCE_FIELD) in (None, ""):
            data = {**data, SOURCE_FIELD: source}
        cleaned = check(step_form(form, None), data)
        problems = people_errors(repo, form, cleaned)
        if problems:
            raise InvalidData("some of the data does not fill in the form", problems)
        return cleaned, form

    # Acting on tasks -----------------------------------------------------------------------

    @staticmethod
    def _locked_task(repo: Repository, task_id: int) -> tuple[InstanceRow, TaskRow]:
        if not is_row_id(task_id):
            raise NotFound(f"there is no task {task_id}")
        instance = repo.lock_instance_of_task(task_id)
        task = repo.task(task_id) if instance is not None else None  # read after the lock
        if instance is None or task is None:
            raise NotFound(f"there is no task {task_id}")
        return instance, task

    def complete(
        self,
        task_id: int,
        outcome: str,
        data: dict[str, Any] | None = None,
        *,
        actor: str,
        key: str | None = None,
        requester_of: str | None = None,
        comment: str | None = None,
        after: Callable[[Repository, InstanceRow, datetime], None] | None = None,
    ) -> Result:
        """Complete a task with one of its step's outcomes and the task's data; `after`
        runs in the same transaction, once it is done (a door's own record of it).

        The data must fill in the form version the task opened with, under the step's
        field permissions. A rejection needs its reason: `comment`, or the form's comment
        field. `requester_of` (an instance number) says the caller has proved to be that
        instance's requester, as the holder of its tracking link: they may act on the
        tasks the workflow gave the requester, and on nothing else.
        """
        data = data or {}
        self.check_data(data)
        note = None
        if comment and comment.strip():
            note = self.check_text(comment, "the comment", self.limits.max_comment_chars)

        def body(uow: UnitOfWork, at: datetime) -> Result:
            repo = uow.repository
            instance, task = self._locked_task(repo, task_id)
            if requester_of is not None:
                require_requester_task(task, instance, requester_of)
            require_open(task)
            if requester_of is None:
                require_actor(repo, task, actor, instance)
            workflow = self.registry.workflow(repo, instance.workflow_version_id)
            step = workflow.steps.get(task.step)
            person = instance.requester if requester_of is not None else actor
            if person is not None:
                require_separation(repo, step, instance, person, workflow.steps, task)
            if step is not None and outcome not in step.outcomes():
                choices = ", ".join(step.outcomes())
                raise InvalidInput(
                    f"'{outcome}' is not an outcome of step '{step.id}'; choose one of: {choices}"
                )
            cleaned = self._task_data(
                repo, task, step.doc if step else {}, data, outcome, instance.state["data"]
            )
            if step is not None and step.type in DECISIONS and outcome == "rejected":
                _require_reason(task, cleaned, note, self._task_form(repo, task))
            # Completed before the tasks it leads to open: separation of duties and a
            # least-loaded pick see who did it, and not an open task of theirs.
            repo.complete_task(task.id, outcome, cleaned, at, actor)
            keep_from_later_steps(repo, workflow.steps, instance, task.step, actor)
            completed = TaskCompleted(task.key, outcome, cleaned, actor, note)
            answer = self._advance(uow, instance, completed, at, key)
            if note is not None:
                self._add_comment(repo, instance, note, actor, False, at, key)
            if after is not None:
                after(repo, instance, at)
            return {**answer, "task": task.id}

        asked = (task_id, outcome, data, actor, requester_of, note)
        return self.execute("complete", key, body, request=asked)

    def _task_form(self, repo: Repository, task: TaskRow) -> Any:
        if not task.form:
            return None
        if task.form_version_id is not None:
            return self.forms.version(repo, task.form_version_id)
        try:  # a task opened before tasks were pinned: the latest version decides
            return self.forms.latest(repo, task.form)[1]
        except NotFound:
            return None

    def _task_data(
        self,
        repo: Repository,
        task: TaskRow,
        step: Mapping[str, Any],
        data: dict[str, Any],
        outcome: str,
        kept: Mapping[str, Any],
    ) -> dict[str, Any]:
        """Check a task's data against its pinned form under the step's field permissions
        (`kept`: the instance's data, whose services stand)."""
        form = self._task_form(repo, task)
        cleaned = task_data(form, step, data, outcome)
        if form is None:
            return cleaned
        problems = people_errors(repo, form, cleaned, kept)
        if problems:
            raise InvalidData("some of the data does not fill in the form", problems)
        return cleaned

    def claim(self, task_id: int, *, actor: str, key: str | None = None) -> Result:
        """Take a task from a group's queue, or from someone of the group who has left."""

        def body(uow: UnitOfWork, at: datetime) -> Result:
            repo = uow.repository
            instance, task = self._locked_task(repo, task_id)
            require_open(task)
            if task.assignee == actor:
                return _task_answer(instance, task)
            # Only a member of the queue's group may claim; to anyone else, who holds the
            # task is none of their business.
            if not task.candidate_group or not repo.is_member(actor, task.candidate_group):
                raise NotAllowed(
                    f"{actor} is not in the group '{task.candidate_group}' of task {task.id}"
                    if task.candidate_group
                    else f"task {task.id} is not in a group's queue"
                )
            # A task held by someone who can no longer sign in is as good as queued.
            left = task.assignee if task.assignee and holder_gone(repo, task) else None
            if task.assignee is not None and left is None:
                raise Conflict(f"task {task.id} is already claimed by {task.assignee}")
            self._require_separation(repo, instance, task, actor)
            task.assignee, task.delegated_by = actor, None
            repo.assign_task(task)
            why = f"{actor} took the task" + (
                f" from {left}, who can no longer sign in" if left else ""
            )
            _note(repo, instance, at, actor, key, "task_claimed", task, why)
            return _task_answer(instance, task)

        return self.execute("claim", key, body, request=(task_id, actor))

    def _require_separation(
        self, repo: Repository, instance: InstanceRow, task: TaskRow, person: str
    ) -> None:
        workflow = self.registry.workflow(repo, instance.workflow_version_id)
        step = workflow.steps.get(task.step)
        require_separation(repo, step, instance, person, workflow.steps, task)

    def unclaim(self, task_id: int, *, actor: str, key: str | None = None) -> Result:
        """Put a claimed task back in its group's queue."""

        def body(uow: UnitOfWork, at: datetime) -> Result:
            repo = uow.repository
            instance, task = self._locked_task(repo, task_id)
            require_open(task)
            if task.assignee != actor:
                raise NotAllowed(
                    f"only {task.assignee or 'the assignee'} can give task {task.id} back"
                )
            if not task.candidate_group:
                raise Conflict(f"task {task.id} has no group queue to go back to")
            task.assignee = None
            repo.assign_task(task)
            why = f"back in the queue of {task.candidate_group}"
            _note(repo, instance, at, actor, key, "task_unclaimed", task, why)
            return _task_answer(instance, task)

        return self.execute("unclaim", key, body, request=(task_id, actor))

    def reassign(
        self,
        task_id: int,
        *,
        actor: str,
        user: str | None = None,
        group: str | None = None,
        reason: str | None = None,
        key: str | None = None,
    ) -> Result:
        """Give a task to another person or another group's queue (see `may_reassign`)."""
        user, group = (user or "").strip() or None, (group or "").strip() or None
        if bool(user) == bool(group):
            raise InvalidInput("reassign to a user or to a group, not both and not neither")
        why_given = (
            self.check_text(reason, "the reason", self.limits.max_reason_chars)
            if reason and reason.strip()
            else None
        )

        def body(uow: UnitOfWork, at: datetime) -> Result:
            repo = uow.repository
            instance, task = self._locked_task(repo, task_id)
            require_open(task)
            require_reassigner(repo, task, actor, instance)
            if user is not None:
                _require_active(repo, user, "/user")
                self._require_separation(repo, instance, task, user)
            if group is not None and not repo.known_groups([group]):
                raise InvalidInput(
                    f"there is no group '{group}'", [_problem("/group", f"no group '{group}'")]
                )
            task.assignee, task.candidate_group = (user, None) if user else (None, group)
            task.delegated_by = None
            repo.assign_task(task)
            why = f"to {user or 'the queue of ' + str(group)}" + (
                f": {why_given}" if why_given else ""
            )
            _note(repo, instance, at, actor, key, "task_reassigned", task, why)
            return _task_answer(instance, task)

        asked = (task_id, actor, user, group, why_given)
        return self.execute("reassign", key, body, request=asked)

    def delegate(self, task_id: int, *, actor: str, to: str, key: str | None = None) -> Result:
        """Ask someone else to do a task; the delegator may still act on it."""
        to = to.strip()
        if not to:
            raise InvalidInput("say whom to delegate the task to", [_problem("/to", "empty")])

        def body(uow: UnitOfWork, at: datetime) -> Result:
            repo = uow.repository
            instance, task = self._locked_task(repo, task_id)
            require_open(task)
            require_delegator(repo, task, actor)
            if to == task.assignee:
                raise InvalidInput(f"{to} already holds task {task.id}", [_problem("/to", to)])
            _require_active(repo, to, "/to")
            self._require_separation(repo, instance, task, to)
            task.delegated_by, task.assignee = task.delegated_by or actor, to
            repo.assign_task(task)
            _note(repo, instance, at, actor, key, "task_delegated", task, f"delegated to {to}")
            return _task_answer(instance, task)

        return self.execute("delegate", key, body, request=(task_id, actor, to))

    # Acting on instances ---------------------------------------------------------------------

    @staticmethod
    def locked_instance(repo: Repository, number: str) -> InstanceRow:
        instance_id = repo.instance_id(number)
        instance = repo.lock_instance(instance_id) if instance_id is not None else None
        if instance is None:
            raise NotFound(f"there is no instance {number}")
        return instance

    def comment(
        self,
        number: str,
        text: str,
        *,
        actor: str | None,
        public: bool = True,
        key: str | None = None,
    ) -> Result:
        """Add a comment to an instance's conversation. Once it has ended, only the service
        desk writes there: its requester reopens it (or reports it again) to be heard."""
        text = self.check_text(text, "a comment", self.limits.max_comment_chars)

        def body(uow: UnitOfWork, at: datetime) -> Result:
            repo = uow.repository
            desk = actor is None or repo.is_agent(actor)
            if not public and not desk:
                raise NotAllowed("only the service desk writes internal notes")
            instance = self.locked_instance(repo, number)
            if instance.ended_at is not None and not desk:
                raise Conflict(
                    f"{number} has ended ({instance.status}) and takes no more messages; "
                    "reopen it, or report it again"
                )
            comment_id = self._add_comment(repo, instance, text, actor, public, at, key)
            if public and desk:
                self.mail_reply(repo, instance, text, at)
            return {"instance_id": instance.id, "number": instance.number, "comment": comment_id}

        return self.execute("comment", key, body, request=(number, text, actor, public))

    @staticmethod
    def _add_comment(
        repo: Repository,
        instance: InstanceRow,
        text: str,
        actor: str | None,
        public: bool,
        at: datetime,
        key: str | None,
    ) -> int:
        comment_id = repo.add_comment(
            {
                "instance_id": instance.id,
                "author": actor,
                "body": text,
                "public": public,
                "created_at": at,
            }
        )
        event = {
            "kind": "commented",
            "at": at,
            "actor": actor,
            "detail": {"comment": comment_id, "public": public},
        }
        record_events(repo, instance, [event], key, at)
        SearchIndex(repo.connection, repo.dialect).comment(instance.id, text, public=public)
        notifications.after_comment(repo, instance, text, actor, public, at)
        return comment_id

    def mail_reply(self, repo: Repository, instance: InstanceRow, text: str, at: datetime) -> None:
        """Mail the desk's public reply to a requester without an account who gave an address:
        they would see it only by opening their tracking page (people with an account hear
        it on the bell). Their answer to the mail comes back as theirs (the mail intake)."""
        workflow = self.registry.workflow(repo, instance.workflow_version_id)
        if not hears_by_mail(repo, instance, workflow, instance.state.get("data") or {}):
            return
        note = {"comment": text[:MAX_MAILED_REPLY]}
        payload = {"to": "requester", "template": DESK_REPLIED, "note": note}
        repo.add_outbox([message_row(instance, "notify", payload, at)])

    def cancel(self, number: str, reason: str, *, actor: str, key: str | None = None) -> Result:
        """Stop an instance: every open task, pending timer and child instance is withdrawn."""
        reason = self.check_text(reason, "the reason", self.limits.max_reason_chars)

        def body(uow: UnitOfWork, at: datetime) -> Result:
            if not uow.repository.is_agent(actor):
                raise NotAllowed(f"only the service desk may cancel {number}")
            instance = self.locked_instance(uow.repository, number)
            if instance.ended_at is not None:
                raise Conflict(f"{number} has already ended ({instance.status})")
            return self._advance(uow, instance, Cancelled(reason, actor), at, key)

        return self.execute("cancel", key, body, request=(number, reason, actor))

    def retry(
        self,
        number: str,
        *,
        actor: str,
        key: str | None = None,
        data: Mapping[str, Any] | None = None,
        posted: bool = False,
        zone: str = "UTC",
    ) -> Result:
        """Run again the steps of an instance that stopped on an incident (admins only).

        `data` corrects fields first, each checked as `corrections.checked_corrections`
        says; `posted`: its values are a page's text, read as their fields read them.
        """
        corrections = dict(data or {})
        if corrections:
            self.check_data(corrections, "the corrections")

        def body(uow: UnitOfWork, at: datetime) -> Result:
            repo = uow.repository
            if "admin" not in repo.roles_of(actor):
                raise NotAllowed(f"only an admin may retry the steps of {number}")
            instance = self.locked_instance(repo, number)
            # Not a mistake in what was sent (exit 1, 422): the instance is not in a state
            # for it (exit 5, 409), as for a task already done.
            if instance.ended_at is not None:
                raise Conflict(f"{number} has ended; nothing is left to do")
            state = InstanceState.from_dict(instance.state)
            stopped = any(run.incident is not None for run in state.runs.values())
            if not stopped and not state.stopped_breaches:
                raise Conflict(f"{number} has no step stopped on an incident")
            fixed: dict[str, Any] = {}
            if corrections:
                workflow = self.registry.workflow(repo, instance.workflow_version_id)
                fixed = checked_corrections(
                    repo,
                    self.forms,
                    workflow,
                    state.data,
                    corrections,
                    pinned=repo.task_form_versions(instance.id),
                    posted=posted,
                    zone=zone,
                )
            return self._advance(uow, instance, Retried(actor, fixed), at, key)

        # A plain retry is asked as it always was: a key sent again before stays the same.
        asked = (number, actor, corrections) if corrections else (number, actor)
        return self.execute("retry", key, body, request=asked)

    def fire_timer(self, timer_id: int, *, key: str | None = None) -> Result:
        """Fire a due timer; firing one that is no longer pending changes nothing, and one
        not due yet (by the database, whatever the job that asks was told) is not fired:
        the answer gives its due time, `not_due`, to come back at."""

        def body(uow: UnitOfWork, at: datetime) -> Result:
            repo = uow.repository
            found = repo.timer(timer_id)
            if found is None:
                raise NotFound(f"there is no timer {timer_id}")
            instance = repo.lock_instance(found.instance_id)
            timer = repo.timer(timer_id)  # read again under the lock
            if instance is None or timer is None or timer.status != "pending":
                return {"instance_id": found.instance_id, "timer": timer_id, "fired": False}
            due = timer.due_at if timer.due_at.tzinfo else timer.due_at.replace(tzinfo=UTC)
            if due > at:  # a stale job (a timer moved later, a database restored): not yet
                return {
                    "instance_id": found.instance_id,
                    "timer": timer_id,
                    "fired": False,
                    "not_due": due.isoformat(),
                }
            repo.fire_timer(timer_id, at)
            answer = self._advance(uow, instance, TimerFired(timer.key), at, key)
            return {**answer, "timer": timer_id, "fired": True}

        return self.execute("fire_timer", key, body, request=(timer_id,))


def _save(
    uow: UnitOfWork,
    instance: InstanceRow,
    before: InstanceState,
    transition: runtime.Transition,
    workflow: Workflow,
    at: datetime,
    key: str | None,
    event: Event,
) -> dict[str, list[Any]]:
    """Save a transition; raise `_Refused`, with nothing saved, for a task that cannot go
    to whom it names (see `_vetting`)."""
    repo = uow.repository
    # Only a task that opens or changes hands can be refused, so only then may there be
    # writes to undo.
    vetted = any(isinstance(effect, OpenTask | ReassignTask) for effect in transition.effects)
    savepoint = uow.savepoint() if vetted else None
    counters = instance.version, instance.last_event
    try:
        tasks = save_transition(
            repo,
            instance,
            before,
            transition,
            workflow,
            at,
            key,
            vet=_vetting(repo, workflow, instance, event),
            form_version=repo.latest_form_version,
        )
    except _Refused:
        assert savepoint is not None
        savepoint.rollback()
        instance.version, instance.last_event = counters
        raise
    if savepoint is not None:
        savepoint.commit()
    return tasks


def _refusing(repo: Repository, workflow: Workflow, instance: InstanceRow) -> Vet:
    """Refuse a start whose first tasks cannot go to whom they name (see `assignment.vet`)."""

    def vet(effect: OpenTask | ReassignTask, step: str, who: assignment.Assignee) -> None:
        if isinstance(effect, OpenTask):  # a start opens tasks; it gives none away
            assignment.vet(repo, workflow, instance, effect, who)

    return vet


def _vetting(repo: Repository, workflow: Workflow, instance: InstanceRow, event: Event) -> Vet:
    """Look at each task an event opens or gives to someone else: can they take it?

    A person whose own data (the completed task's) named someone who cannot is refused,
    with a pointer to the field. A task the engine opens otherwise (after a timer, a
    child's end, a retry, someone named earlier) has nobody to answer: `_Refused`, so that
    its step stops on an incident instead.
    """

    def vet(effect: OpenTask | ReassignTask, step: str, who: assignment.Assignee) -> None:
        if isinstance(effect, ReassignTask):
            # An escalation or an SLA breach: nobody to answer, so an incident is noted.
            problem = assignment.reassign_problem(repo, workflow, instance, step, who)
            if problem is not None:
                raise _Refused((effect.kind, effect.task), problem)
            return
        found = assignment.misfit(repo, workflow, instance, effect, who)
        if found is None:
            return
        if isinstance(event, TaskCompleted) and any(f in event.data for f in found.fields):
            assignment.refuse(found)
        raise _Refused((effect.kind, effect.task), found.reason)

    return vet


class _Refused(Exception):
    """A task effect of a transition (kind, task key) cannot go to whom it names, and why."""

    def __init__(self, effect: tuple[str, str], reason: str) -> None:
        super().__init__(reason)
        self.effect = effect
        self.reason = reason


def _require_reason(task: TaskRow, data: Mapping[str, Any], note: str | None, form: Any) -> None:
    """Refuse a rejection without its reason; the requester's own tasks have their form."""
    require_reason(bool(task.assignment.get("requester")), data, note, form)


def _require_attached(
    repo: Repository, instance: InstanceRow, form: Form, data: Mapping[str, Any]
) -> None:
    """Refuse start data whose file fields name a file not attached to the instance.

    A file reference (`{"id", "name", ...}`) is what an upload leaves in the data; sent by
    hand (the API takes no files at a start) it would name a file that is not there, or
    another instance's, and the pages would list a file that cannot be opened.
    """
    named = {
        field["key"]: [item.get("id") if isinstance(item, Mapping) else item for item in value]
        for field in form.fields
        if field["type"] == "file" and isinstance(value := data.get(field["key"]), list) and value
    }
    if not named:
        return
    kept = repo.attached(instance.id)
    wrong = [
        FieldError(field, "This file was not uploaded with this request: attach it again")
        for field, ids in named.items()
        if any(not isinstance(i, str) or i not in kept for i in ids)
    ]
    if wrong:
        raise InvalidData("some of the data does not fill in the form", wrong)


def _require_active(repo: Repository, user: str, pointer: str) -> None:
    if user not in repo.active_users([user]):
        message = f"there is no active user '{user}'"
        raise InvalidInput(message, [_problem(pointer, message)])


def _problem(pointer: str, message: str) -> Problem:
    return Problem(pointer, message)


def _note(
    repo: Repository,
    instance: InstanceRow,
    at: datetime,
    actor: str,
    key: str | None,
    kind: str,
    task: TaskRow,
    why: str,
) -> None:
    event = {
        "kind": kind,
        "at": at,
        "actor": actor,
        "step": task.step,
        "why": why,
        "detail": {"task": task.key},
    }
    record_events(repo, instance, [event], key, at)


def _answer(instance: InstanceRow, state: InstanceState, tasks: dict[str, list[Any]]) -> Result:
    return {
        "instance_id": instance.id,
        "number": instance.number,
        "status": state.status,
        "ended": state.ended,
        **tasks,
    }


def _task_answer(instance: InstanceRow, task: TaskRow) -> Result:
    return {
        "instance_id": instance.id,
        "number": instance.number,
        "task": task.id,
        "assignee": task.assignee,
        "group": task.candidate_group,
    }
