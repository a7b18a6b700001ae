"""Problems: the cause behind incidents, with those incidents linked to it.

A problem is an instance of the shipped `problem` workflow (`workflows/problem.json`):
problem management finds the root cause (status `investigating`), records it with a
workaround (`known_error`), fixes it and resolves it (`resolved`, its end). An incident
links to its problem with an `instance_links` row of kind `problem`, from the incident
(`instance_id`) to the problem (`other_id`); an incident has at most one problem: the
commands refuse a second one under the incident's lock, and a unique index (migration
0025) refuses it in the database too.

The commands, each one transaction whichever door it came through:

- **open**: the service desk opens a problem from one or more incidents, linked at once;
- **link** and **unlink**: the service desk links an incident to an open problem, or takes
  it off; each is recorded on both timelines;
- **record**: the root cause and workaround, as the problem's `investigate` task completed
  with the outcome `known_error`; **resolve**: its `fix` task completed with `resolved`.
  Both are the problem's own tasks, so the task's rules decide who (its group's members,
  `problem-management`), and the task page does the same as these commands.

When a problem ends, however it ended, the owners of its incidents are told, on the command
path that ended it (`engine.service.problem_news`). Opening, linking and unlinking are for
the service desk: agents, admins and members of a group (`Directory.is_agent`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from engine.core.effects import PROBLEM_WORKFLOW
from engine.core.errors import Problem
from engine.service.apply import record_events
from engine.service.casework import Linked
from engine.service.commands import SYSTEM, Commands, Result
from engine.service.errors import Conflict, InvalidInput, NotAllowed, NotFound
from engine.service.requests import REQUESTER
from engine.store.casework import InstanceLink
from engine.store.instances import Instance, Task
from engine.store.repository import InstanceRow, Repository
from engine.store.uow import UnitOfWork

#: The shipped workflow of problems, and the kind of link from an incident to its problem.
WORKFLOW = PROBLEM_WORKFLOW
LINK = "problem"
#: The most incidents one problem is opened with at once.
MAX_INCIDENTS = 100
#: The longest title and description a problem's start form takes.
MAX_TITLE = 200
MAX_DESCRIPTION = 10_000
#: The most problems `open_problems` lists.
MAX_LISTED = 200
#: The longest number an instance has (`instances.number`); a longer one names nothing.
MAX_NUMBER = 24


@dataclass(frozen=True, slots=True)
class ProblemOf:
    """An incident's problem, as the incident's page shows it to agents."""

    number: str
    title: str
    status: str
    ended: bool
    root_cause: str | None
    workaround: str | None
    publish_workaround: bool


@dataclass(frozen=True, slots=True)
class ProblemView:
    """A problem with what it knows and its incidents, oldest link first."""

    number: str
    title: str
    status: str
    ended: bool
    service: str | None
    category: str | None
    root_cause: str | None
    workaround: str | None
    publish_workaround: bool
    resolution: str | None
    incidents: list[Linked]


class Problems:
    """Problems and the incidents linked to them, over the commands' transaction shell."""

    def __init__(self, commands: Commands) -> None:
        self.commands = commands

    # Commands -------------------------------------------------------------------------------

    def open(
        self,
        incidents: Sequence[str],
        *,
        actor: str,
        title: str = "",
        description: str = "",
        key: str | None = None,
    ) -> Result:
        """Open a problem from incidents, each linked to it; the actor is its requester.

        The title defaults to the first incident's, the description to the incidents'
        numbers; the service and category are the incidents' when they all share one.
        """
        numbers = list(dict.fromkeys(n.strip().upper() for n in incidents if n.strip()))
        if not numbers:
            message = "name at least one incident to open the problem from"
            raise InvalidInput(message, [Problem("/incidents", message)])
        if len(numbers) > MAX_INCIDENTS:
            message = f"a problem is opened from at most {MAX_INCIDENTS} incidents at once"
            raise InvalidInput(message, [Problem("/incidents", message)])
        title = _text(self.commands, title, "the title", MAX_TITLE)
        description = _text(self.commands, description, "the description", MAX_DESCRIPTION)

        def body(uow: UnitOfWork, at: datetime) -> Result:
            repo = uow.repository
            _require_desk(repo, actor, "opens problems")
            rows = self._lock_incidents(repo, numbers)
            facts = _facts(repo, [row.id for row in rows])
            data = _start_data(repo, rows, facts, title, description)
            answer = self.commands.begin(uow, at, WORKFLOW, data, actor, key)
            problem = repo.lock_instance(int(answer["instance_id"]))
            assert problem is not None  # started in this transaction
            for row in rows:
                _link(repo, row, problem, str(data["title"]), facts[row.id].title, actor, at, key)
            return {**answer, "incidents": numbers}

        asked = (numbers, title, description, actor)
        return self.commands.execute("open_problem", key, body, request=asked)

    def _lock_incidents(self, repo: Repository, numbers: list[str]) -> list[InstanceRow]:
        """Lock the incidents in id order; refuse any missing, a problem, or one with a problem."""
        ids: dict[str, int] = {}
        for index, number in enumerate(numbers):
            found = repo.instance_id(number) if _number(number) else None
            if found is None:
                message = f"there is no incident {number}"
                raise InvalidInput(message, [Problem(f"/incidents/{index}", message)])
            ids[number] = found
        locked = {i: repo.lock_instance(i) for i in sorted(set(ids.values()))}
        rows = []
        for index, number in enumerate(numbers):
            row = locked[ids[number]]
            assert row is not None  # its id was just read in this transaction
            _require_incident(repo, row, f"/incidents/{index}")
            _require_no_problem(repo, row)
            rows.append(row)
        return rows

    def link(self, problem: str, incident: str, *, actor: str, key: str | None = None) -> Result:
        """Link an incident to an open problem (an incident has at most one problem)."""
        problem, incident = _number(problem), _number(incident)

        def body(uow: UnitOfWork, at: datetime) -> Result:
            repo = uow.repository
            _require_desk(repo, actor, "links incidents to problems")
            found, row = _lock_pair(repo, problem, incident)
            if found.ended_at is not None:
                raise Conflict(
                    f"{problem} has ended ({found.status}); open a new problem for {incident}"
                )
            _require_incident(repo, row, "/incident")
            _require_no_problem(repo, row)
            _link(repo, row, found, _title(repo, found), _title(repo, row), actor, at, key)
            return {"instance_id": found.id, "number": problem, "incident": incident}

        return self.commands.execute("link_problem", key, body, request=(problem, incident, actor))

    def unlink(self, problem: str, incident: str, *, actor: str, key: str | None = None) -> Result:
        """Take an incident off its problem; both timelines say so."""
        problem, incident = _number(problem), _number(incident)

        def body(uow: UnitOfWork, at: datetime) -> Result:
            repo = uow.repository
            _require_desk(repo, actor, "unlinks incidents from problems")
            found, row = _lock_pair(repo, problem, incident)
            done = repo.connection.execute(
                delete(InstanceLink).where(
                    InstanceLink.instance_id == row.id,
                    InstanceLink.other_id == found.id,
                    InstanceLink.kind == LINK,
                )
            )
            if not getattr(done, "rowcount", 0):
                message = f"{incident} is not linked to {problem}"
                raise InvalidInput(message, [Problem("/incident", message)])
            here = _event("problem_unlinked", at, actor, f"no longer linked to {problem}", problem)
            there = _event("incident_unlinked", at, actor, f"{incident} taken off", incident)
            record_events(repo, row, [here], key, at)
            record_events(repo, found, [there], key, at)
            return {"instance_id": found.id, "number": problem, "incident": incident}

        asked = (problem, incident, actor)
        return self.commands.execute("unlink_problem", key, body, request=asked)

    def record(
        self,
        problem: str,
        root_cause: str,
        workaround: str,
        *,
        actor: str,
        publish_workaround: bool = False,
        key: str | None = None,
    ) -> Result:
        """Record the root cause and workaround: the problem becomes a known error.

        This completes the problem's `investigate` task with the outcome `known_error`, so
        the task's form checks the text and the task's rules decide who may.
        """
        data = {
            "root_cause": root_cause,
            "workaround": workaround,
            "publish_workaround": publish_workaround,
        }
        task_id = self._task(problem, "investigate", "its root cause is recorded while it is")
        return self.commands.complete(task_id, "known_error", data, actor=actor, key=key)

    def resolve(
        self, problem: str, resolution: str, *, actor: str, key: str | None = None
    ) -> Result:
        """Resolve a known error, saying what fixed it; its incidents' owners are told.

        This completes the problem's `fix` task with the outcome `resolved`.
        """
        task_id = self._task(problem, "fix", "it is resolved once it is")
        data = {"resolution": resolution}
        return self.commands.complete(task_id, "resolved", data, actor=actor, key=key)

    def _task(self, number: str, step: str, when: str) -> int:
        """Return the id of the problem's open task at `step`; Conflict if it is elsewhere."""
        number = _number(number)

        def read(session: Session) -> tuple[str, int | None]:
            found = session.execute(
                select(Instance.id, Instance.status).where(
                    Instance.number == number, Instance.workflow_key == WORKFLOW
                )
            ).first()
            if found is None:
                raise NotFound(f"there is no problem {number}")
            task_id = session.scalar(
                select(Task.id).where(
                    Task.instance_id == found.id, Task.step == step, Task.status == "open"
                )
            )
            return str(found.status), task_id

        status, task_id = self.commands.read(read)
        if task_id is None:
            wanted = {"investigate": "investigating", "fix": "a known error"}[step]
            words = status.replace("_", " ")
            raise Conflict(f"{number} is {words}: {when} {wanted}")
        return task_id

    # Reading ----------------------------------------------------------------------------------

    def problem_of(self, incident: str) -> ProblemOf | None:
        """Return an incident's problem, or None (NotFound for no such instance)."""
        incident = _number(incident)

        def read(session: Session) -> ProblemOf | None:
            incident_id = session.scalar(select(Instance.id).where(Instance.number == incident))
            if incident_id is None:
                raise NotFound(f"there is no instance {incident}")
            row = session.execute(
                select(Instance.number, Instance.title, Instance.status, Instance.ended_at)
                .add_columns(Instance.state)
                .join(InstanceLink, InstanceLink.other_id == Instance.id)
                .where(InstanceLink.instance_id == incident_id, InstanceLink.kind == LINK)
            ).first()
            if row is None:
                return None
            data = _data(row.state)
            return ProblemOf(
                row.number,
                row.title,
                row.status,
                row.ended_at is not None,
                _str(data.get("root_cause")),
                _str(data.get("workaround")),
                data.get("publish_workaround") is True,
            )

        return self.commands.read(read)

    def problem(self, number: str) -> ProblemView:
        """Return a problem with its incidents (NotFound for no such problem)."""
        number = _number(number)

        def read(session: Session) -> ProblemView:
            row = session.execute(
                select(Instance).where(Instance.number == number, Instance.workflow_key == WORKFLOW)
            ).scalar_one_or_none()
            if row is None:
                raise NotFound(f"there is no problem {number}")
            return _view(row, _incidents(session, row.id))

        return self.commands.read(read)

    def is_problem(self, number: str) -> bool:
        """Tell whether an instance is a problem."""
        number = _number(number)
        found = self.commands.read(
            lambda session: session.scalar(
                select(Instance.workflow_key).where(Instance.number == number)
            )
        )
        return found == WORKFLOW

    def open_problems(self) -> list[ProblemView]:
        """Return the problems not ended, newest first, with their incidents."""

        def read(session: Session) -> list[ProblemView]:
            rows = session.scalars(
                select(Instance)
                .where(Instance.workflow_key == WORKFLOW, Instance.ended_at.is_(None))
                .order_by(Instance.id.desc())
                .limit(MAX_LISTED)
            ).all()
            return [_view(row, _incidents(session, row.id)) for row in rows]

        return self.commands.read(read)


# The rules ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Facts:
    title: str
    workflow_key: str
    service_key: str | None
    category: str | None


def _number(value: str) -> str:
    """A number as given, tidied; one no instance can have (too long, a NUL) as empty."""
    value = value.strip().upper()
    return "" if len(value) > MAX_NUMBER or "\x00" in value else value


def _require_desk(repo: Repository, actor: str, what: str) -> None:
    if not repo.is_agent(actor):
        raise NotAllowed(f"only the service desk {what}, and {actor} does not work the desk")


def open_for_step(
    commands: Commands, uow: UnitOfWork, at: datetime, incident: InstanceRow, by: str | None
) -> str | None:
    """Open a problem linked to `incident`, as an action's `open_problem` asks, in the same
    words and with the same start data as the desk's "Open a problem"; `by` (who made the
    move that reached the action) is its requester. An incident that has a problem already
    keeps it: nothing is opened, and the note says which it has.
    """
    repo = uow.repository
    if _workflow_key(repo, incident) == WORKFLOW:
        return f"not opened: {incident.number} is a problem itself"
    had = _problem_number(repo, incident)
    if had is not None:
        return f"not opened: {incident.number} is already linked to the problem {had}"
    if by == REQUESTER:  # a move made through the tracking link: the requester made it
        by = incident.requester
    facts = _facts(repo, [incident.id])
    data = _start_data(repo, [incident], facts, "", "")
    answer = commands.begin(uow, at, WORKFLOW, data, by)
    problem = repo.lock_instance(int(answer["instance_id"]))
    assert problem is not None  # started in this transaction
    title = str(data["title"])
    _link(repo, incident, problem, title, facts[incident.id].title, by or SYSTEM, at, None)
    return None


def _workflow_key(repo: Repository, row: InstanceRow) -> str | None:
    found = repo.connection.scalar(select(Instance.workflow_key).where(Instance.id == row.id))
    return None if found is None else str(found)


def _require_incident(repo: Repository, row: InstanceRow, pointer: str) -> None:
    if _workflow_key(repo, row) == WORKFLOW:
        message = f"{row.number} is a problem itself, not an incident"
        raise InvalidInput(message, [Problem(pointer, message)])


def _problem_number(repo: Repository, row: InstanceRow) -> str | None:
    """The number of the problem an incident is linked to, if any."""
    found = repo.connection.scalar(
        select(Instance.number)
        .join(InstanceLink, InstanceLink.other_id == Instance.id)
        .where(InstanceLink.instance_id == row.id, InstanceLink.kind == LINK)
    )
    return None if found is None else str(found)


def _require_no_problem(repo: Repository, row: InstanceRow) -> None:
    """Refuse an incident that already has a problem, naming it."""
    found = _problem_number(repo, row)
    if found is not None:
        raise Conflict(
            f"{row.number} is already linked to the problem {found} (an incident has one "
            "problem at most): unlink it there first"
        )


def _lock_pair(repo: Repository, problem: str, incident: str) -> tuple[InstanceRow, InstanceRow]:
    """Lock a problem and an incident in id order (two commands never wait on each other)."""
    if not problem:
        message = "name the problem, e.g. PRB-000001"
        raise InvalidInput(message, [Problem("/problem", message)])
    problem_id = repo.connection.scalar(
        select(Instance.id).where(Instance.number == problem, Instance.workflow_key == WORKFLOW)
    )
    if problem_id is None:
        raise NotFound(f"there is no problem {problem}")
    if not incident:
        message = "name the incident"
        raise InvalidInput(message, [Problem("/incident", message)])
    incident_id = repo.instance_id(incident)
    if incident_id is None:
        message = f"there is no incident {incident}"
        raise InvalidInput(message, [Problem("/incident", message)])
    if incident_id == problem_id:
        message = f"{problem} cannot be linked to itself"
        raise InvalidInput(message, [Problem("/incident", message)])
    locked = {i: repo.lock_instance(i) for i in sorted((problem_id, incident_id))}
    found, row = locked[problem_id], locked[incident_id]
    assert found is not None  # both ids were just read in this transaction
    assert row is not None
    return found, row


def _link(
    repo: Repository,
    incident: InstanceRow,
    problem: InstanceRow,
    problem_title: str,
    incident_title: str,
    actor: str,
    at: datetime,
    key: str | None,
) -> None:
    repo.connection.execute(
        insert(InstanceLink),
        {
            "instance_id": incident.id,
            "other_id": problem.id,
            "kind": LINK,
            "created_by": actor,
            "created_at": at,
        },
    )
    why = f"linked to the problem {problem.number}: {problem_title}"
    here = _event("problem_linked", at, actor, why[:2000], problem.number)
    there = _event(
        "incident_linked", at, actor, f"{incident.number}: {incident_title}"[:2000], incident.number
    )
    record_events(repo, incident, [here], key, at)
    record_events(repo, problem, [there], key, at)


def _event(kind: str, at: datetime, actor: str, why: str, other: str) -> dict[str, Any]:
    return {"kind": kind, "at": at, "actor": actor, "why": why, "detail": {"other": other}}


def _facts(repo: Repository, ids: list[int]) -> dict[int, _Facts]:
    rows = repo.connection.execute(
        select(
            Instance.id, Instance.title, Instance.workflow_key, Instance.service_key, Instance.state
        ).where(Instance.id.in_(ids))
    ).all()
    return {
        row.id: _Facts(
            row.title, row.workflow_key, row.service_key, _str(_data(row.state).get("category"))
        )
        for row in rows
    }


def _start_data(
    repo: Repository,
    rows: list[InstanceRow],
    facts: dict[int, _Facts],
    title: str,
    description: str,
) -> dict[str, Any]:
    """The problem's start data: what was given, else what the incidents say (their service
    while the catalogue still holds it)."""
    first = facts[rows[0].id]
    numbers = ", ".join(row.number for row in rows)
    data: dict[str, Any] = {
        "title": title or (first.title.strip() or rows[0].number)[:MAX_TITLE],
        "description": description or f"Opened from {numbers}."[:MAX_DESCRIPTION],
    }
    services = {facts[row.id].service_key for row in rows}
    categories = {facts[row.id].category for row in rows}
    if len(services) == 1 and first.service_key and repo.existing_services([first.service_key]):
        data["service"] = first.service_key
    if len(categories) == 1 and first.category:
        data["category"] = first.category[:80]
    return data


def _title(repo: Repository, row: InstanceRow) -> str:
    found = repo.connection.scalar(select(Instance.title).where(Instance.id == row.id))
    return str(found or row.number)


def _text(commands: Commands, value: str, what: str, limit: int) -> str:
    if not value or not value.strip():
        return ""
    return commands.check_text(value, what, limit)


def _data(state: Any) -> dict[str, Any]:
    data = (state or {}).get("data") if isinstance(state, dict) else None
    return data if isinstance(data, dict) else {}


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _incidents(session: Session, problem_id: int) -> list[Linked]:
    rows = session.execute(
        select(Instance.number, Instance.title, Instance.status, Instance.ended_at)
        .join(InstanceLink, InstanceLink.instance_id == Instance.id)
        .where(InstanceLink.other_id == problem_id, InstanceLink.kind == LINK)
        .order_by(InstanceLink.id)
    ).all()
    return [Linked(r.number, r.title, r.status, r.ended_at is not None) for r in rows]


def _view(row: Instance, incidents: list[Linked]) -> ProblemView:
    data = _data(row.state)
    return ProblemView(
        row.number,
        row.title,
        row.status,
        row.ended_at is not None,
        _str(data.get("service")),
        _str(data.get("category")),
        _str(data.get("root_cause")),
        _str(data.get("workaround")),
        data.get("publish_workaround") is True,
        _str(data.get("resolution")),
        incidents,
    )
