"""Saving a transition: the instance row, its events, tasks, timers and the outbox, at once."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from engine.core.conditions import field_value
from engine.core.definition import ADDRESS_FIELD, Workflow
from engine.core.effects import (
    CancelSubflow,
    CancelTask,
    CancelTimer,
    Notify,
    OpenProblem,
    OpenTask,
    ReassignTask,
    RetitleTask,
    ScheduleTimer,
    StartSubflow,
)
from engine.core.runtime import Transition
from engine.core.state import InstanceState
from engine.service import assignment, duplicate_news, notifications, problem_news
from engine.service.permissions import people_kept_apart
from engine.store.instances import spaced_names
from engine.store.repository import InstanceRow, Repository
from engine.store.repository import message_row as message_row
from engine.store.search import SearchIndex

#: Looks at whom a task is about to go to (`OpenTask`) or be given (`ReassignTask`, with
#: the task's step), and may refuse it by raising.
Vet = Callable[[OpenTask | ReassignTask, str, assignment.Assignee], None]
#: Returns the id of the latest published version of a form (to pin a new task to it).
FormVersion = Callable[[str], int | None]


#: The mail an anonymous requester gets when a task waits on them.
REQUESTER_TASK = "requester-task"
#: The mail an anonymous requester gets when the desk writes to them (a public comment).
DESK_REPLIED = "desk-replied"


def event_rows(
    instance: InstanceRow, entries: list[dict[str, Any]], command: str | None
) -> list[dict[str, Any]]:
    """Number audit entries (kind, at, step, why, actor, detail) after the instance's last."""
    rows = []
    for entry in entries:
        instance.last_event += 1
        rows.append(
            {
                "instance_id": instance.id,
                "seq": instance.last_event,
                "kind": entry["kind"],
                "step": entry.get("step"),
                "at": entry["at"],
                "actor": entry.get("actor"),
                "why": entry.get("why"),
                "detail": entry.get("detail") or None,
                "command": command,
            }
        )
    return rows


def record_events(
    repo: Repository,
    instance: InstanceRow,
    entries: list[dict[str, Any]],
    command: str | None,
    at: datetime,
) -> None:
    """Append audit entries that did not come from the runtime (claims, comments...)."""
    repo.append_events(event_rows(instance, entries, command))
    repo.touch(instance.id, instance.last_event, at)
    notifications.after_events(repo, instance, entries, at)


def sla_columns(state: InstanceState | None) -> dict[str, Any]:
    """The SLA columns of an instance: running clocks' due times, and breach flags."""
    columns: dict[str, Any] = {}
    for kind in ("response", "resolution"):
        clock = state.sla.get(kind) if state is not None and state.sla else None
        due = clock.due_at if clock is not None and clock.running else None
        columns[f"{kind}_due_at"] = datetime.fromisoformat(due) if due else None
        columns[f"{kind}_breached"] = bool(clock and clock.breached)
    return columns


#: Where an open task sorts in the inbox, first to last: its instance's SLA is breached; an
#: SLA clock runs; only the task's own due time is set; nothing is due.
BREACHED, SLA_RUNNING, TASK_DUE, NO_DEADLINE = range(4)


def sort_key(sla: dict[str, Any], due_at: datetime | None, created_at: datetime) -> dict[str, Any]:
    """The inbox order of an open task (`sort_rank`, then `sort_at`), nearest breach first.

    Within a rank, the nearer deadline first: the instance's nearest running SLA clock,
    else the task's due time; work with neither comes oldest first.
    """
    dues = [sla[f"{kind}_due_at"] for kind in ("response", "resolution")]
    deadline = min((due for due in dues if due is not None), default=None)
    if sla["response_breached"] or sla["resolution_breached"]:
        return {"sort_rank": BREACHED, "sort_at": deadline or due_at or created_at}
    if deadline is not None:
        return {"sort_rank": SLA_RUNNING, "sort_at": deadline}
    if due_at is not None:
        return {"sort_rank": TASK_DUE, "sort_at": due_at}
    return {"sort_rank": NO_DEADLINE, "sort_at": created_at}


def save_transition(
    repo: Repository,
    instance: InstanceRow,
    before: InstanceState | None,
    transition: Transition,
    workflow: Workflow,
    at: datetime,
    command: str | None,
    *,
    new: dict[str, Any] | None = None,
    vet: Vet | None = None,
    form_version: FormVersion | None = None,
) -> dict[str, list[Any]]:
    """Persist a transition (inserting the instance row when `new` holds its first columns).

    `vet` may refuse a task about to open; each new task is pinned to the form version
    `form_version` gives. Return the tasks it opened (id, step, assignee, group) and the
    ids of those it withdrew. A child instance that ends tells its parent, through the
    outbox.
    """
    state = transition.state
    audit = [{**e.to_dict(), "at": datetime.fromisoformat(e.at)} for e in transition.audit]
    priority = field_value(state.data, workflow.priority_field)
    priority = str(priority) if priority is not None else None
    columns: dict[str, Any] = {
        "state": state.to_dict(),
        "title": state.title[:500],
        "ended_at": datetime.fromisoformat(state.ended_at) if state.ended_at else None,
        "updated_at": at,
        "version": instance.version + 1,
        "last_event": instance.last_event + len(audit),
    }
    if new is not None or state.status != instance.status:
        columns["status"] = state.status
    if new is not None or priority != instance.priority:
        columns["priority"] = priority
    service = _service_of(workflow, state, before)
    if service is not None:
        columns["service_key"] = service
    sla = sla_columns(state)
    if new is not None:
        columns.update(sla)
        instance.id = repo.add_instance({**new, **columns})
        SearchIndex(repo.connection, repo.dialect).add(
            instance.id, new["number"], columns["title"], state.data
        )
    else:
        if before is not None and state.title != before.title:
            SearchIndex(repo.connection, repo.dialect).retitle(instance.id, columns["title"])
        old = sla_columns(before)
        changed = {name: value for name, value in sla.items() if old[name] != value}
        repo.save_state(instance.id, {**columns, **changed})
        if changed:  # the tasks this transition opens are not written yet: they take it then
            _resort_open_tasks(repo, instance.id, list(state.tasks), sla)
    instance.version += 1
    repo.append_events(event_rows(instance, audit, command))
    _save_runs(repo, instance, before, state, at)
    if state.ended and not (before is not None and before.ended) and instance.parent_run:
        repo.add_outbox([message_row(instance, "subflow_finished", {"child": instance.id}, at)])
    tasks = _apply_effects(
        repo, instance, workflow, transition, sla, at, vet, form_version, before, audit
    )
    notifications.after_events(repo, instance, audit, at, state.tasks)
    if state.ended and not (before is not None and before.ended):
        ended = [entry.get("actor") for entry in audit if entry["kind"] == "ended"]
        problem_news.tell_owners(repo, instance, state, ended[-1] if ended else None, at)
        duplicate_news.tell_requesters(repo, instance, state, ended[-1] if ended else None, at)
    return tasks


def _service_of(
    workflow: Workflow, state: InstanceState, before: InstanceState | None
) -> str | None:
    """The service the move gives the request: its `start.service` field's answer, when the
    move sets or changes it (None: leave the column as it is; an alert's service stays)."""
    name = workflow.start.get("service")
    if not name:
        return None
    value = field_value(state.data, name)
    if not isinstance(value, str) or not value:
        return None
    if before is not None and field_value(before.data, name) == value:
        return None
    return value[:80]


def _resort_open_tasks(
    repo: Repository, instance_id: int, keys: list[str], sla: dict[str, Any]
) -> None:
    """Move an instance's open tasks to where its new SLA deadlines put them in the inbox."""
    repo.sort_tasks(
        [
            {"row": task_id, **sort_key(sla, due_at, created_at)}
            for task_id, due_at, created_at in repo.open_task_times(instance_id, keys)
        ]
    )


def _apply_effects(
    repo: Repository,
    instance: InstanceRow,
    workflow: Workflow,
    transition: Transition,
    sla: dict[str, Any],
    at: datetime,
    vet: Vet | None,
    form_version: FormVersion | None,
    before: InstanceState | None,
    audit: list[dict[str, Any]],
) -> dict[str, list[Any]]:
    """Write what the move does besides its state: tasks, timers, outbox rows."""
    opened: list[dict[str, Any]] = []
    messages: list[dict[str, Any]] = []
    withdrawn: list[str] = []
    scheduled: list[ScheduleTimer] = []
    stopped: list[str] = []
    # The workflow's own mail to the requester in this move (a password reset's
    # instructions before "Is it solved?") is the one they get: one mail per move.
    told = any(isinstance(e, Notify) and _to_requester(e.to) for e in transition.effects)
    for effect in transition.effects:
        if isinstance(effect, OpenTask):
            opened.append(_open_task(repo, instance, workflow, effect, sla, at, vet, form_version))
            if not told and _mails_the_requester(
                repo, instance, workflow, effect, transition.state.data
            ):
                asked = {"to": "requester", "template": REQUESTER_TASK, "tasks": [effect.task]}
                if before is not None:  # the mail says what is new (`mail_context`)
                    asked["told"] = _changed(before, transition.state)
                messages.append(message_row(instance, "notify", {**asked, "step": effect.step}, at))
        elif isinstance(effect, CancelTask):
            withdrawn.append(effect.task)
        elif isinstance(effect, ReassignTask):
            _reassign(repo, instance, workflow, effect, at, vet)
        elif isinstance(effect, RetitleTask):
            repo.retitle_task(instance.id, effect.task, effect.title[:500])
        elif isinstance(effect, ScheduleTimer):
            scheduled.append(effect)
        elif isinstance(effect, CancelTimer):
            stopped.append(effect.timer)
        elif isinstance(effect, Notify | StartSubflow | CancelSubflow):
            messages.append(message_row(instance, effect.kind, effect.to_dict(), at))
        elif isinstance(effect, OpenProblem):
            # The problem is whoever made the move's (None: a timer or a worker).
            mover = next((e["actor"] for e in reversed(audit) if e.get("actor")), None)
            payload = {**effect.to_dict(), "by": mover}
            messages.append(message_row(instance, effect.kind, payload, at))
    # A new timer row is its own outbox entry: the relay hands it to RQ after commit, and
    # the sweep over pending timers finds any that Redis lost, so Redis holds no state.
    repo.add_timers(
        [
            {
                "instance_id": instance.id,
                "key": timer.timer,
                "step": timer.step,
                "due_at": datetime.fromisoformat(timer.at),
                "status": "pending",
            }
            for timer in scheduled
        ]
    )
    repo.cancel_timers(instance.id, stopped)
    repo.add_outbox(messages)
    return {
        "opened_tasks": opened,
        "withdrawn_tasks": repo.cancel_tasks(instance.id, withdrawn, at),
    }


def _changed(before: InstanceState, state: InstanceState) -> list[str]:
    """The data fields this move changed: what the desk just said ("What we did"), not what
    it said rounds before (a question the requester has answered). Worked out only for the
    mail that needs it, not on every move."""
    return sorted(key for key, value in state.data.items() if before.data.get(key) != value)


def _mails_the_requester(
    repo: Repository,
    instance: InstanceRow,
    workflow: Workflow,
    effect: OpenTask,
    data: Mapping[str, Any],
) -> bool:
    """Tell whether a task that opens waits on a requester who has no account, and gave an
    address: they hear by mail, as people with an account hear on the bell (and by mail if
    they chose), since they cannot see the task anywhere but on their tracking page. An
    instance nobody follows by a link (opened by an alert) sends no such mail: it would
    send its reader to a link they never got."""
    if not effect.assign.get("requester"):
        return False
    return hears_by_mail(repo, instance, workflow, data)


def hears_by_mail(
    repo: Repository, instance: InstanceRow, workflow: Workflow, data: Mapping[str, Any]
) -> bool:
    """Tell whether the instance's requester has no account but gave an address, and follows
    the instance by a tracking link: what the desk asks or tells them goes by mail."""
    if instance.requester:
        return False
    address = field_value(data, workflow.start.get("confirm_to") or ADDRESS_FIELD)
    if not (isinstance(address, str) and address.strip()):
        return False
    return repo.has_tracking_link(instance.id)


def _to_requester(to: Any) -> bool:
    return to == "requester" or (isinstance(to, Mapping) and bool(to.get("requester")))


def _open_task(
    repo: Repository,
    instance: InstanceRow,
    workflow: Workflow,
    effect: OpenTask,
    sla: dict[str, Any],
    at: datetime,
    vet: Vet | None,
    form_version: FormVersion | None,
) -> dict[str, Any]:
    apart = people_kept_apart(repo, workflow.steps.get(effect.step), instance)
    who = assignment.resolve(repo, effect.assign, None, at, apart)
    if vet is not None:
        vet(effect, effect.step, who)
    pinned = form_version(effect.form) if effect.form and form_version is not None else None
    due_at = datetime.fromisoformat(effect.due) if effect.due else None
    task_id = repo.add_task(
        {
            "instance_id": instance.id,
            "key": effect.task,
            "step": effect.step,
            "title": effect.title[:500],
            "form": effect.form,
            "form_version_id": pinned,
            "role": effect.role,
            "outcomes": list(effect.outcomes),
            "assignment": dict(effect.assign),
            "assignee": who.user,
            "candidate_group": who.group,
            "status": "open",
            "due_at": due_at,
            "created_at": at,
            "kept_apart": spaced_names(apart),
            **sort_key(sla, due_at, at),
        }
    )
    return {"id": task_id, "step": effect.step, "assignee": who.user, "group": who.group}


def _reassign(
    repo: Repository,
    instance: InstanceRow,
    workflow: Workflow,
    effect: ReassignTask,
    at: datetime,
    vet: Vet | None,
) -> None:
    task = repo.task_by_key(instance.id, effect.task)
    if task is None or task.status != "open":
        return
    current = assignment.Assignee(task.assignee, task.candidate_group)
    who = assignment.for_step(repo, workflow, instance, task.step, effect.assign, current, at)
    if vet is not None and who != current:
        vet(effect, task.step, who)
    repo.reassign_task(task.id, dict(effect.assign), who.user, who.group)


def _save_runs(
    repo: Repository,
    instance: InstanceRow,
    before: InstanceState | None,
    after: InstanceState,
    at: datetime,
) -> None:
    """Append the runs this transition finished; the active ones live in the state."""
    if before is None:
        return
    repo.add_runs(
        [
            {
                "instance_id": instance.id,
                "run": run_id,
                "step": before.runs[run_id].step,
                "started_at": datetime.fromisoformat(before.runs[run_id].since),
                "ended_at": at,
            }
            for run_id in sorted(set(before.runs) - set(after.runs))
        ]
    )
