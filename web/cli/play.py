"""`flowdesk play`: run a workflow in the terminal, in memory, on a simulated clock.

A process owner can try a workflow before anything is stored: start an
instance with sample data, complete its tasks with an outcome, fire its timers,
and read the timeline, including why each route was taken.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from engine.catalog import Catalog
from engine.core import runtime
from engine.core.audit import AuditEvent
from engine.core.calendars import Calendar
from engine.core.definition import Workflow
from engine.core.errors import FlowdeskError
from engine.core.events import Cancelled, Event, TaskCompleted, TimerFired
from engine.core.state import InstanceState
from engine.service.submissions import InvalidData, check, step_form, task_data
from forms.definition import Form, option_values

#: Simulated time that passes while someone works on a task.
THINKING_TIME = timedelta(minutes=10)


def sample_data(form: Form | None, given: Mapping[str, Any], today: date) -> dict[str, Any]:
    """Fill in a start form the way a careful requester might, keeping what was given."""
    data: dict[str, Any] = {}
    for field in form.fields if form else []:
        key, kind = field["key"], field["type"]
        options = option_values(field)
        if "default" in field:
            data[key] = field["default"]
        elif options:
            data[key] = [options[0]] if kind == "multiselect" else options[0]
        elif kind == "number":
            data[key] = field.get("min", 1)
        elif kind == "checkbox":
            data[key] = False
        elif kind == "date":
            data[key] = today.isoformat()
        elif kind == "datetime":
            data[key] = f"{today.isoformat()}T09:00:00+00:00"
        elif kind == "user":
            data[key] = "alice"
        elif field.get("format") == "email":
            data[key] = "requester@example.org"
        elif kind in ("text", "textarea"):
            data[key] = f"Example {field['label'].lower()}"
    data.update(given)
    return data


def describe_event(event: AuditEvent) -> str:
    """One timeline line: time, step, what happened and why."""
    at = datetime.fromisoformat(event.at).strftime("%a %H:%M")
    where = f" [{event.step}]" if event.step else ""
    detail = event.detail
    what = event.kind.replace("_", " ")
    if event.kind == "routed":
        what = f"-> {detail['to']}"
    elif event.kind == "data_set":
        what = f"set {detail['field']} = {detail['value']!r}"
    why = f": {event.why}" if event.why else ""
    return f"  {at}{where} {what}{why}"


class Session:
    """One simulated instance and its clock.

    What people send is checked and cleaned as the service does it (defaults filled in),
    against the pack's forms.
    """

    def __init__(
        self,
        workflow: Workflow,
        calendars: Mapping[str, Calendar],
        at: datetime,
        forms: Mapping[str, Form] | None = None,
    ) -> None:
        self.workflow = workflow
        self.calendars = calendars
        self.forms = forms or {}
        self.now = at
        self.state: InstanceState | None = None

    def start(self, data: dict[str, Any]) -> None:
        """Start the instance; raise `InvalidData` if the data does not fill in the start form."""
        form = self.forms.get(self.workflow.start.get("form", ""))
        if form is not None:
            data = check(step_form(form, None), data)
        result = runtime.start(
            self.workflow,
            data,
            self.now,
            requester="requester",
            number=f"{self.workflow.number_prefix}-000001",
            calendars=self.calendars,
        )
        self._show(result)

    def task_data(self, task: str, outcome: str, data: dict[str, Any]) -> dict[str, Any]:
        """Return what completing a task with this outcome puts into the data, or raise
        `InvalidData`; an outcome the step lacks is left for the runtime to refuse."""
        assert self.state is not None
        step = self.workflow.steps[self.state.runs[self.state.tasks[task].run].step]
        if outcome not in step.outcomes():
            return data
        return task_data(self.forms.get(step.doc.get("form", "")), step.doc, data, outcome)

    def apply(self, event: Event, at: datetime) -> None:
        assert self.state is not None
        self.now = max(self.now, at)
        self._show(
            runtime.advance(self.workflow, self.state, event, self.now, calendars=self.calendars)
        )

    def _show(self, result: runtime.Transition) -> None:
        self.state = result.state
        for event in result.audit:
            click.echo(describe_event(event))

    def choices(self) -> list[tuple[str, str]]:
        """Return what can happen next, numbered from 1: ("task", id) or ("timer", id)."""
        assert self.state is not None
        pending = self.state.timers
        tasks = [("task", task) for task in self.state.tasks]
        return tasks + [("timer", t) for t in sorted(pending, key=lambda t: pending[t].at)]

    def print_choices(self) -> None:
        assert self.state is not None
        state = self.state
        priority = state.data.get(self.workflow.priority_field)
        extra = f", priority {priority}" if priority else ""
        click.echo(f"\n{state.number} '{state.title}': {state.status}{extra}")
        for number, (kind, ident) in enumerate(self.choices(), 1):
            if kind == "task":
                pending = state.tasks[ident]
                step = self.workflow.steps[state.runs[pending.run].step]
                who = ", ".join(f"{k}={v}" for k, v in pending.assign.items())
                outcomes = "/".join(step.outcomes())
                click.echo(f"  [{number}] task '{step.label}' for {who}: {outcomes}")
            else:
                timer = state.timers[ident]
                at = datetime.fromisoformat(timer.at).strftime("%a %d %b %H:%M UTC")
                what = f"SLA {timer.sla}" if timer.sla else f"'{state.runs[timer.run].step}'"
                click.echo(f"  [{number}] timer of {what} due {at}")


def parse_answer(answer: str, session: Session) -> Event | None:
    """Turn `2 resolved {"resolution": "..."}` or `3` (a timer) into an event."""
    number, _, rest = answer.strip().partition(" ")
    choices = session.choices()
    if not number.isdigit() or not 1 <= int(number) <= len(choices):
        raise click.BadParameter(f"pick a number from 1 to {len(choices)}")
    kind, ident = choices[int(number) - 1]
    if kind == "timer":
        return TimerFired(ident)
    outcome, _, raw = rest.strip().partition(" ")
    data = json.loads(raw) if raw.strip() else {}
    if not isinstance(data, dict):
        raise click.BadParameter('the data after the outcome is a JSON object, like {"a": 1}')
    if not outcome:
        assert session.state is not None
        step = session.workflow.steps[session.state.runs[session.state.tasks[ident].run].step]
        outcome = step.outcomes()[0]
    return TaskCompleted(ident, outcome, session.task_data(ident, outcome, data), actor="you")


def event_time(event: Event, session: Session) -> datetime:
    if isinstance(event, TimerFired) and session.state is not None:
        return datetime.fromisoformat(session.state.timers[event.timer].at)
    return session.now + THINKING_TIME


@click.command()
@click.argument("workflow_key")
@click.option("--data", "raw_data", default="{}", help="Start data as JSON (merged over samples).")
@click.option(
    "--pack",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default="workflows",
    show_default=True,
    help="Folder of workflows and forms.",
)
def play(workflow_key: str, raw_data: str, pack: Path) -> None:
    """Run WORKFLOW_KEY in memory and drive it from the terminal."""
    catalog = Catalog.read([pack])
    problems = catalog.check()
    if problems:
        raise click.ClickException("the pack has problems; run `flowdesk check` first")
    docs = {d.key: d.content for d in catalog.of_kind("workflow")}
    if workflow_key not in docs:
        raise click.BadParameter(
            f"no workflow '{workflow_key}' in {pack}; "
            f"there are: {', '.join(sorted(k for k in docs if k))}"
        )
    workflow = Workflow.from_document(docs[workflow_key])
    forms = {d.key: Form.from_document(d.content) for d in catalog.of_kind("form") if d.key}
    calendars = {d.key: Calendar.from_document(d.content) for d in catalog.of_kind("calendar")}
    try:
        given = json.loads(raw_data)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"--data is not JSON: {exc}") from None
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    session = Session(workflow, {k: v for k, v in calendars.items() if k}, now, forms)
    start_form = forms.get(workflow.start.get("form", ""))
    try:
        session.start(sample_data(start_form, given, now.date()))
    except InvalidData as exc:
        raise click.ClickException(f"the start data: {exc}") from None
    click.echo("Answer with a number: a task (optionally an outcome and JSON data) or a timer.")
    while session.state is not None and not session.state.ended:
        session.print_choices()
        answer = click.prompt("next", default="q", show_default=False)
        if answer.strip() in ("q", "quit"):
            session.apply(Cancelled("stopped in the simulator", "you"), session.now)
            break
        try:
            event = parse_answer(answer, session)
            if event is not None:
                session.apply(event, event_time(event, session))
        except (click.BadParameter, json.JSONDecodeError, FlowdeskError) as exc:
            click.echo(f"  ! {exc}")
    if session.state is not None:
        click.echo(f"\nEnded: {session.state.status} ({session.state.outcome}).")
