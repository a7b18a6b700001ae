"""`flowdesk play`: run a workflow in the terminal, in memory, on a simulated clock.

A process owner can try a workflow before anything is stored: start an
instance with sample data, complete its tasks with an outcome, fire its timers,
and read the timeline, including why each route was taken.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from engine.catalog import Catalog
from engine.core.audit import AuditEvent
from engine.core.calendars import Calendar
from engine.core.definition import Workflow
from engine.core.errors import FlowdeskError
from engine.service.simulation import MADE_UP_REQUESTER, People, Replay, sample_data
from engine.service.submissions import InvalidData, step_form
from forms.definition import Form
from forms.errors import required_message

#: What a service field is filled in with: played from files, no catalogue is there to ask.
SAMPLE_SERVICE = "example-service"

__all__ = ["play", "sample_data"]


def echo_event(event: AuditEvent, text: str) -> None:
    """Print one timeline line: time, step, what happened and why."""
    at = datetime.fromisoformat(event.at).strftime("%a %H:%M")
    where = f" [{event.step}]" if event.step else ""
    click.echo(f"  {at}{where} {text}")


class Session:
    """One simulated instance on its clock, driven from the terminal through the shared
    replay (`engine.service.simulation`), which checks what people send as the service does."""

    def __init__(
        self,
        workflow: Workflow,
        calendars: Mapping[str, Calendar],
        at: datetime,
        forms: Mapping[str, Form] | None = None,
    ) -> None:
        self.replay = Replay(
            workflow,
            calendars,
            at,
            forms=forms or {},
            people=People(None, MADE_UP_REQUESTER),
            echo=echo_event,
        )

    @property
    def workflow(self) -> Workflow:
        return self.replay.workflow

    @property
    def ended(self) -> bool:
        return self.replay.state is not None and self.replay.state.ended

    def choices(self) -> list[tuple[str, str]]:
        """Return what can happen next, numbered from 1: ("task", id) or ("timer", id)."""
        state = self.replay.state
        if state is None:
            return []
        pending = state.timers
        # The replay's open tasks, with the ends of the child workflows steps wait for.
        tasks = [("task", task["id"]) for task in self.replay.tasks()]
        return tasks + [("timer", t) for t in sorted(pending, key=lambda t: pending[t].at)]

    def print_choices(self) -> None:
        state = self.replay.state
        assert state is not None
        priority = state.data.get(self.workflow.priority_field)
        extra = f", priority {priority}" if priority else ""
        click.echo(f"\n{state.number} '{state.title}': {state.status}{extra}")
        tasks = {task["id"]: task for task in self.replay.tasks()}
        for number, (kind, ident) in enumerate(self.choices(), 1):
            if kind == "task":
                task = tasks[ident]
                outcomes = "/".join(task["outcomes"])
                if ident in state.tasks:
                    who = assign_words(state.tasks[ident].assign)
                    click.echo(f"  [{number}] task '{task['label']}' for {who}: {outcomes}")
                else:  # a subflow's child, which a simulation does not run
                    click.echo(f"  [{number}] {task['title']} ({task['goes_to']}): {outcomes}")
            else:
                timer = state.timers[ident]
                at = datetime.fromisoformat(timer.at).strftime("%a %d %b %H:%M UTC")
                said = self.replay.timer(ident)["text"]
                click.echo(f"  [{number}] timer due {at}: {said}")

    def act(self, answer: str) -> None:
        """Carry out `2 resolved {"resolution": "..."}` (a task) or `3` (a timer)."""
        number, _, rest = answer.strip().partition(" ")
        choices = self.choices()
        if not number.isdigit() or not 1 <= int(number) <= len(choices):
            raise click.BadParameter(f"pick a number from 1 to {len(choices)}")
        kind, ident = choices[int(number) - 1]
        if kind == "timer":
            self.replay.fire(ident)
            return
        outcome, _, raw = rest.strip().partition(" ")
        data = json.loads(raw) if raw.strip() else {}
        if not isinstance(data, dict):
            raise click.BadParameter('the data after the outcome is a JSON object, like {"a": 1}')
        task = next(t for t in self.replay.tasks() if t["id"] == ident)
        if not outcome:
            outcome = task["outcomes"][0]
        # A "comment" the step's form does not have is the comment sent with the task (the
        # CLI's --comment): what a rejection needs when its form has no field for it.
        step = self.workflow.steps[task["step"]]
        form = self.replay.forms.get(step.doc.get("form", ""))
        fields = {f["key"] for f in form.fields} if form is not None else set()
        note = str(data.pop("comment")) if "comment" in data and "comment" not in fields else None
        try:
            self.replay.complete(ident, outcome, data, by="you", note=note)
        except InvalidData as refused:
            filled = self.missing(refused, form, step.doc.get("fields"), data)
            if not filled:
                raise
            click.echo(f"  (left out, so filled in: {', '.join(filled)})")
            self.replay.complete(ident, outcome, {**filled, **data}, by="you", note=note)

    def missing(
        self,
        refused: InvalidData,
        form: Form | None,
        permissions: Mapping[str, str] | None,
        given: Mapping[str, Any],
    ) -> dict[str, Any]:
        """The fields a refusal says are missing, and only those, filled in as the Studio's
        simulation fills them: what the instance holds already, else a sample. Nothing
        when the answer itself was wrong: that refusal is said as it is."""
        if form is None:
            return {}
        fillable = step_form(form, permissions).form
        by_key = {field["key"]: field for field in fillable.fields}
        wanted = {error.field for error in refused.fields}
        left_out = all(
            error.field in by_key
            and error.field not in given
            and error.message == required_message(by_key[error.field])
            for error in refused.fields
        )
        if not wanted or not left_out:  # a reason asked for, or a value that does not fit
            return {}
        samples = sample_data(fillable, {}, self.replay.now.date(), service=SAMPLE_SERVICE)
        held = self.replay.state.data if self.replay.state is not None else {}
        filled = {key: held.get(key, samples.get(key)) for key in wanted}
        return {} if None in filled.values() else filled


def assign_words(assign: Mapping[str, Any]) -> str:
    """Who a task is for, in words: `alice`, `group network (round_robin)`, `the requester`."""
    rule = dict(assign)
    how = f" ({rule.pop('strategy')})" if "strategy" in rule else ""
    words: dict[str, Callable[[Any], str]] = {
        "user": str,
        "group": lambda v: f"group {v}",
        "requester": lambda v: "the requester",
        "on_call": lambda v: f"whoever is on call for {v}",
        "manager_of": lambda v: f"the manager of {v}",
        "next_tier": lambda v: "the next tier",
    }
    said = [words[key](value) for key, value in rule.items() if key in words and value]
    said += [f"{key}={value}" for key, value in rule.items() if key not in words]
    return (" and ".join(said) or "nobody yet") + how


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
    data = sample_data(start_form, given, now.date(), service=SAMPLE_SERVICE)
    try:
        session.replay.start(data)
    except InvalidData as exc:
        raise click.ClickException(f"the start data: {exc}") from None
    sampled = [key for key in data if key not in given]
    if sampled:  # as for a task's: a sample can take a route the real data would not
        click.echo(f"(start data not given, so filled in: {', '.join(sampled)})")
    click.echo(
        "Answer with a number: a task (optionally an outcome and JSON data) or a timer; "
        '{"comment": "..."} in the data goes with a rejection.'
    )
    while session.replay.state is not None and not session.ended:
        session.print_choices()
        answer = click.prompt("next", default="q", show_default=False)
        if answer.strip() in ("q", "quit"):
            session.replay.cancel("stopped in the simulator", "you")
            break
        try:
            session.act(answer)
        except (click.BadParameter, json.JSONDecodeError, FlowdeskError) as exc:
            click.echo(f"  ! {exc}")
    state = session.replay.state
    if state is not None:
        click.echo(f"\nEnded: {state.status} ({state.outcome}).")
