"""The service's side of a simulation: read the scenario, check the draft, replay it, answer."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.catalog import Document
from engine.core.calendars import Calendar
from engine.core.definition import Workflow
from engine.core.errors import FlowdeskError, Problem
from engine.core.values import keepable
from engine.service.definitions import directory_names, published_catalog
from engine.service.errors import InvalidInput
from engine.service.simulation.people import MADE_UP_REQUESTER, People
from engine.service.simulation.replay import Limits, Refused, Replay, carry_out
from engine.service.simulation.words import sample_data
from engine.service.workflow_context import references
from engine.service.workflow_drafts import workflow_problems
from engine.store.repository import Repository
from engine.store.services import Service
from forms.definition import Form

if TYPE_CHECKING:
    from engine.service.shell import Shell


@dataclass(frozen=True, slots=True)
class Scenario:
    """What a simulation is asked to run: start data, start time, requester and actions."""

    data: Mapping[str, Any]
    start_at: datetime
    requester: str | None
    actions: list[Any]


def read_scenario(body: Mapping[str, Any], now: datetime, limits: Limits) -> Scenario:
    """Read what a page asks to simulate; refuse a request that cannot be replayed at all."""
    data = body.get("data", {})
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise InvalidInput("the start data is a JSON object", [Problem("/data", "not an object")])
    actions = body.get("actions", [])
    if not isinstance(actions, list):
        raise InvalidInput("the actions are a list", [Problem("/actions", "not a list")])
    if len(actions) > limits.max_actions:
        message = f"at most {limits.max_actions} actions are simulated; {len(actions)} were sent"
        raise InvalidInput(message, [Problem("/actions", message)])
    requester = body.get("requester")
    if requester is not None and (
        not isinstance(requester, str) or not requester.strip() or keepable(requester) != requester
    ):
        raise InvalidInput("the requester is a user name", [Problem("/requester", "not a name")])
    return Scenario(data, _start_at(body.get("start_at"), now), requester, actions)


def _start_at(raw: Any, now: datetime) -> datetime:
    if raw is None or raw == "":
        return now.replace(second=0, microsecond=0)
    message = "the start time is an ISO 8601 time with its zone, like 2026-11-23T09:00:00+01:00"
    if not isinstance(raw, str):
        raise InvalidInput(message, [Problem("/start_at", message)])
    try:
        at = datetime.fromisoformat(raw)
        at = at if at.tzinfo else at.replace(tzinfo=UTC)
        at.astimezone(UTC)  # a time its zone takes past the ends of the calendar
    except (ValueError, OverflowError):
        raise InvalidInput(message, [Problem("/start_at", message)]) from None
    if not FIRST_YEAR <= at.year <= LAST_YEAR:
        # Its clocks and due times run years on: 9999-12-31 overflowed them (a 500).
        words = f"simulate from a time between the years {FIRST_YEAR} and {LAST_YEAR}"
        raise InvalidInput(words, [Problem("/start_at", words)])
    return at


#: The years a simulation may start in: its timers and SLA clocks must not leave the calendar.
FIRST_YEAR, LAST_YEAR = 1970, 9000


# The service's side ------------------------------------------------------------------------


def draft_problems(session: Session, key: str, document: Any) -> list[Problem]:
    """Check a draft as the designer's check does: against what is published and the people
    who exist, its key against the one it is saved as."""
    refs = references(session, document) if isinstance(document, dict) else None
    return workflow_problems(key, document, refs)


def simulate(
    session: Session,
    key: str,
    document: Any,
    body: Mapping[str, Any],
    now: datetime,
    limits: Limits | None = None,
) -> dict[str, Any]:
    """Replay a draft workflow with sample data and a fake clock, in a reading session.

    A draft with problems is answered with them, not simulated. An action that cannot be
    carried out stops the replay there: `error` says which (its index) and why, and the
    answer holds everything up to it. Nothing is written.
    """
    limits = limits or Limits()
    scenario = read_scenario(body, now, limits)
    problems = draft_problems(session, key, document)
    if problems:
        return {"ok": False, "problems": [_problem(p) for p in problems]}
    directory = Repository(session.connection(), row_locks=False)
    requester = scenario.requester or MADE_UP_REQUESTER
    if scenario.requester is not None and not directory.active_users([requester]):
        message = f"there is no active user '{requester}' to start the instance as"
        raise InvalidInput(message, [Problem("/requester", message)])
    workflow = Workflow(document)  # the checker ran the schema: no need to run it twice
    catalog = published_catalog(session)
    replay = Replay(
        workflow,
        _calendars(catalog.of_kind("calendar"), workflow),
        scenario.start_at,
        forms=_forms(catalog.of_kind("form"), workflow),
        people=People(directory, requester),
        limits=limits,
    )
    start_form = replay.forms.get(workflow.start.get("form", ""))
    sample_user = scenario.requester or min(directory_names(session)[1] or {"alice"})
    service = session.scalar(select(Service.key).order_by(Service.name, Service.key).limit(1))
    data = sample_data(start_form, scenario.data, scenario.start_at.date(), sample_user, service)
    try:
        replay.start(data)
    except Refused as error:  # a start past the limits: data that does not fit is a 422
        return {**replay.answer(), "error": {"action": None, "message": str(error)}}
    for index, action in enumerate(scenario.actions):
        try:
            carry_out(replay, action)
        except (Refused, InvalidInput, FlowdeskError) as error:
            answer = replay.answer()
            answer["error"] = {"action": index, "message": _message(error)}
            return answer
    return replay.answer()


def _message(error: Exception) -> str:
    return error.message if isinstance(error, InvalidInput) else str(error)


def _problem(problem: Problem) -> dict[str, str]:
    return {"pointer": problem.pointer, "message": problem.message}


def _forms(documents: Iterable[Document], workflow: Workflow) -> dict[str, Form]:
    """The published forms the workflow uses, ready to check data against."""
    used = {workflow.start.get("form")} | {s.doc.get("form") for s in workflow.steps.values()}
    return {d.key: Form.from_document(d.content) for d in documents if d.key and d.key in used}


def _calendars(documents: Iterable[Document], workflow: Workflow) -> dict[str, Calendar]:
    return {
        d.key: Calendar.from_document(d.content)
        for d in documents
        if d.key and d.key in workflow.calendars
    }


class Simulations:
    """The designer's simulation: one reading session per call, nothing written."""

    def __init__(self, shell: Shell, limits: Limits | None = None) -> None:
        self.shell = shell
        self.limits = limits or Limits()

    def run(self, key: str, document: Any, body: Mapping[str, Any]) -> dict[str, Any]:
        """Check a draft and replay it (see `simulate`)."""
        now = self.shell.clock()
        return self.shell.read(
            lambda session: simulate(session, key, document, body, now, self.limits)
        )
