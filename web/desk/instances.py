"""The instance page: everything about one case, for those who may see it; and my requests.

Who sees what: agents (and admins) see every instance, as the service desk works across
teams; anyone else sees the instances they requested or hold a task on
(`worklist.may_see_instance`); all others get 404, so a number tells a stranger nothing.
Signed-in people who are not agents see an instance as its requester does on the tracking
page: the data the workflow shows them, public comments, and of the timeline only what is
meant for them (the service cuts it: `Desk.instance_page`).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)

from engine.core.definition import Workflow
from engine.service.casework import NOT_REOPENED
from engine.service.commands import Commands
from engine.service.desk import field_doc
from engine.service.errors import Archived, NotFound, ServiceError
from engine.service.queries import InstanceView, holder
from engine.service.requests import who
from engine.service.starting import caller_words, channel_words
from engine.service.timeline_words import event_text
from engine.service.worklist import Filters
from engine.settings import PAGE_SIZE
from engine.store.instances import Instance
from web.auth import me, require
from web.common.errors import STATUS, answer
from web.common.moments import countdown, posted_zone, when
from web.common.services import services
from web.common.uploads import send_attachment
from web.desk.similar import similar_panel
from web.portal.tracking import external_url

blueprint = Blueprint("instances", __name__)

#: Pages past this one are not offered (the offset stays a small number).
MAX_PAGE_NUMBER = 10_000


def app_commands() -> Commands:
    return services().commands


def now() -> datetime:
    """Read the time where the commands read it, so pages and commands agree."""
    return app_commands().clock()


def workflow_of(instance: Instance) -> Workflow:
    """Return the workflow version an instance is pinned to (versions never change)."""
    return services().desk.workflow_of(instance.workflow_version_id)


# The instance page ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SlaClock:
    kind: str
    target: str
    due_at: datetime | None
    state: str  # running, paused, stopped, breached
    words: str


@dataclass(frozen=True, slots=True)
class StepMark:
    id: str
    label: str
    mark: str  # done, active, pending


@dataclass(frozen=True, slots=True)
class DataSection:
    title: str
    doc: dict[str, Any]


def sla_clocks(instance: Instance, at: datetime) -> list[SlaClock]:
    """Describe the instance's SLA clocks: due time, time left or breached, paused."""
    clocks = []
    for kind, clock in (instance.state.get("sla") or {}).items():
        due = datetime.fromisoformat(clock["due_at"]) if clock.get("due_at") else None
        if clock.get("stopped_at"):
            state = "stopped"
            words = ("breached, then " if clock.get("breached") else "") + (
                f"stopped {when(clock['stopped_at'])}"
            )
        elif clock.get("breached") or (due is not None and due <= at):
            state, words = "breached", f"breached: {countdown(due, at)}"
        elif clock.get("paused_since"):
            state, words = "paused", f"paused since {when(clock['paused_since'])}"
        else:
            state, words = "running", countdown(due, at)
        clocks.append(SlaClock(kind, str(clock.get("target", "")), due, state, words))
    return clocks


def step_marks(view: InstanceView, workflow: Workflow, done_steps: set[str]) -> list[StepMark]:
    """Mark each step done (it ran: see `InstancePage.done_steps`), active, pending, or, once
    the instance has ended, not taken: a branch it never went down is not still to come."""
    active = {task.step for task in view.tasks} | {
        run["step"] for run in view.instance.state.get("runs", ())
    }
    later = "skipped" if view.instance.ended_at is not None else "pending"
    marks = []
    for step in workflow.in_flow_order():
        mark = "active" if step.id in active else "done" if step.id in done_steps else later
        marks.append(StepMark(step.id, step.label, mark))
    return marks


def _acknowledged(events: Sequence[Any]) -> bool:
    """Tell whether the last acknowledgement on a timeline stands (none ran out since)."""
    said = [e.kind for e in events if e.kind in ("acknowledged", "unacknowledged")]
    return bool(said) and said[-1] == "acknowledged"


def _sections(workflow: Workflow, data: Mapping[str, Any]) -> list[DataSection]:
    forms = services().desk.workflow_forms(workflow)
    sections, seen = [], set()
    for form in forms:
        keys = [f["key"] for f in form.fields if f["key"] not in seen]
        seen.update(keys)
        if any(key in data for key in keys):
            sections.append(DataSection(form.title, field_doc([form], keys)))
    rest = [key for key in data if key not in seen]
    if rest:
        sections.append(DataSection("Other data", field_doc(forms, rest)))
    return sections


def _page(number: str, errors: Mapping[str, str] | None = None, status: int = 200) -> Any:
    """Render the instance page for whoever may see it (404 for anyone else; 410 for the
    service desk when retention archived it)."""
    person = me()
    try:
        found = services().desk.instance_page(person, number)
    except Archived as gone:
        return answer(410, f"{gone.message}.", "archived")
    except NotFound:
        abort(404)
    view, at = found.view, now()
    instance = view.instance
    workflow = workflow_of(instance)
    page = render_template(
        "instances/instance.html",
        instance=instance,
        workflow=workflow,
        holders=[(task, holder(task)) for task in view.tasks],
        clocks=sla_clocks(instance, at),
        events=[(event, event_text(event, workflow)) for event in found.events],
        sections=_sections(workflow, view.data),
        data=view.data,
        files=found.files,
        comments=found.comments,
        steps=step_marks(view, workflow, found.done_steps),
        incidents=found.incidents,
        notes=errors or {},
        may_comment=person.is_agent,
        links=services().casework.links(number),
        alerts=services().intake.alerts(number, viewer=person.username),
        # Paged by an escalation policy, it may be acknowledged whatever opened it, once.
        paged=person.is_agent
        and not _acknowledged(found.events)
        and bool(services().paging.of(number)),
        similar=similar_panel(person, number),
        may_reopen=instance.ended_at is not None
        and bool(workflow.doc.get("reopen"))
        and (person.is_agent or instance.requester == person.username)
        and instance.state.get("outcome") not in NOT_REOPENED,
        channel=channel_words(instance.channel),
        caller=caller_words(instance.caller),
        service=found.service,
    )
    return page, status


@blueprint.get("/instances/<number>")
@require()
def instance(number: str) -> Any:
    """Show one instance: status, holders, SLA clocks, timeline, data, files, comments, steps."""
    return _page(number)


@blueprint.post("/instances/<number>/comments")
@require("agent")
def comment(number: str) -> Any:
    """Add an agent's comment, internal unless marked for the requester."""
    if not services().desk.may_see(me(), number):
        abort(404)
    public = request.form.get("visibility") == "public"
    try:
        app_commands().comment(
            number,
            request.form.get("comment", ""),
            actor=me().username,
            public=public,
            key=form_key("comment", number),
        )
    except NotFound:
        abort(404)
    except ServiceError as error:
        return _page(number, {"comment": error.message}, STATUS.get(error.code, 400))
    flash(f"Your {'public' if public else 'internal'} comment was added to {number}.")
    return redirect(url_for("instances.instance", number=number, _anchor="comments"), code=303)


@blueprint.post("/instances/<number>/retry")
@require("admin")
def retry(number: str) -> Any:
    """Run again the steps that stopped on an incident (admins, once the cause is fixed)."""
    if not services().desk.may_see(me(), number):
        abort(404)
    field = request.form.get("field", "").strip()
    value = request.form.get("value", "")
    if value.strip() and not field:
        said = {"retry": "Name the field to correct", "retry_value": value}
        return _page(number, said, 422)
    try:
        app_commands().retry(
            number,
            actor=me().username,
            key=form_key("retry", number),
            data={field: value} if field else None,
            posted=True,
            zone=posted_zone(),
        )
    except NotFound:
        abort(404)
    except ServiceError as error:
        said = {"retry": error.message, "retry_field": field, "retry_value": value}
        return _page(number, said, STATUS.get(error.code, 400))
    if field:
        flash(f"{field} of {number} was corrected, and its stopped steps were tried again.")
    else:
        flash(f"The stopped steps of {number} were tried again.")
    return redirect(url_for("instances.instance", number=number), code=303)


# Acting on the instance ------------------------------------------------------------------


def _act(number: str, kind: str, act: Any, done: str, anchor: str = "actions") -> Any:
    """Run one instance command for the signed-in person; show its refusal on the page."""
    if not services().desk.may_see(me(), number):
        abort(404)
    try:
        act(form_key(kind, number))
    except NotFound:
        abort(404)
    except ServiceError as error:
        return _page(number, {kind: error.message}, STATUS.get(error.code, 400))
    flash(done)
    return redirect(url_for("instances.instance", number=number, _anchor=anchor), code=303)


@blueprint.post("/instances/<number>/cancel")
@require("agent")
def cancel(number: str) -> Any:
    """Cancel the instance, with a reason (the service desk)."""
    reason = request.form.get("reason", "")
    return _act(
        number,
        "cancel",
        lambda key: services().casework.cancel(number, reason, actor=me().username, key=key),
        f"{number} was cancelled.",
    )


@blueprint.post("/instances/<number>/reopen")
@require()
def reopen(number: str) -> Any:
    """Send an instance that ended back to work (the service desk, or its requester)."""
    reason = request.form.get("reason", "")
    return _act(
        number,
        "reopen",
        lambda key: services().casework.reopen(number, reason, actor=me().username, key=key),
        f"{number} was reopened.",
    )


@blueprint.post("/instances/<number>/priority")
@require("agent")
def priority(number: str) -> Any:
    """Change the priority, with a reason; the SLA follows the new level."""
    level, reason = request.form.get("priority", ""), request.form.get("reason", "")
    return _act(
        number,
        "priority",
        lambda key: services().casework.set_priority(
            number, level, reason, actor=me().username, key=key
        ),
        f"The priority of {number} is now {level}.",
    )


@blueprint.post("/instances/<number>/acknowledge")
@require("agent")
def acknowledge(number: str) -> Any:
    """Acknowledge an alert's incident: its response clock stops."""
    return _act(
        number,
        "acknowledge",
        lambda key: services().intake.acknowledge(number, actor=me().username),
        f"{number} is acknowledged.",
        "alerts",
    )


@blueprint.post("/instances/<number>/links")
@require("agent")
def link(number: str) -> Any:
    """Link a related instance; the link shows on both."""
    other = request.form.get("other", "").strip().upper()
    return _act(
        number,
        "link",
        lambda key: services().casework.link(number, other, actor=me().username, key=key),
        f"{number} and {other} are now linked.",
        "links",
    )


@blueprint.post("/instances/<number>/duplicate")
@require("agent")
def duplicate(number: str) -> Any:
    """Close the instance as a duplicate of another; its requester is told."""
    original = request.form.get("original", "").strip().upper()
    reason = request.form.get("reason", "")
    where = external_url("instances.instance", number=number)
    return _act(
        number,
        "duplicate",
        lambda key: services().casework.mark_duplicate(
            number, original, reason, actor=me().username, key=key, link=where
        ),
        f"{number} was closed as a duplicate of {original}; its requester is told.",
        "links",
    )


@blueprint.get("/instances/<number>/files/<key>")
@require()
def download(number: str, key: str) -> Response:
    """Send one of an instance's files, always as an attachment, never inline."""
    try:
        found = services().desk.attachment(me(), number, key)
    except NotFound:
        abort(404)
    return send_attachment(found)


@blueprint.get("/my-requests")
@require()
def my_requests() -> str:
    """List what the signed-in person asked for, newest first."""
    page = min(max(1, request.args.get("page", 1, type=int) or 1), MAX_PAGE_NUMBER)
    items, total = services().desk.instances(
        now(), Filters(requester=me().username), limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
    )
    return render_template(
        "instances/my_requests.html",
        items=items,
        total=total,
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
    )


def form_key(kind: str, target: object) -> str | None:
    """The idempotency key of a post: its page's random `submission` id, per action."""
    try:
        return f"web:{kind}:{target}:{uuid.UUID(request.form.get('submission', ''))}"
    except ValueError:
        return None


def init_app(app: Flask) -> None:
    app.register_blueprint(blueprint)
    # Globals, not a context processor: macros imported without the page's context (so
    # Jinja caches them) see them too.
    app.jinja_env.globals.update(now=now, who=who)
