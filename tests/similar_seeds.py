"""Incidents resolved and problems made through the service layer, for the similar and
self-help tests.

Problems are instances of the shipped `problem` workflow (workflows/problem.json), taken
to the status asked for through its own tasks, by pia of problem-management: the contract
of issue 20, §2 (fields `title`, `workaround`, `publish_workaround`; statuses
`investigating`, `known_error`, `resolved`; links of kind `problem` from an incident to
its problem) is what `engine.service.similar` and `engine.service.self_help` read.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update

from engine.service.commands import Commands
from engine.service.people import ensure_user
from engine.store.casework import InstanceLink
from engine.store.instances import Instance, Task
from tests.infrastructure import INCIDENT

#: Who works problems: a member of the group the shipped workflow routes them to.
PROBLEM_MANAGER = "pia"


def open_task_of(commands: Commands, number: str) -> Task:
    with commands.database.reading() as session:
        task = session.scalars(
            select(Task)
            .join(Instance, Instance.id == Task.instance_id)
            .where(Instance.number == number, Task.status == "open")
            .order_by(Task.id)
        ).first()
        assert task is not None, f"{number} has no open task"
        session.expunge_all()
        return task


def problem(
    commands: Commands,
    title: str,
    workaround: str,
    *,
    status: str = "known_error",
    publish: bool = True,
    root_cause: str = "A worn roller in the paper path",
    description: str = "Printers on several floors jam.",
) -> str:
    """Open a problem and take it to `status` (investigating, known_error or resolved)."""
    with commands.database.writer_session() as session, session.begin():
        ensure_user(session, PROBLEM_MANAGER, commands.clock(), groups=["problem-management"])
    opened = {"title": title, "description": description, "category": "hardware"}
    number = str(commands.start("problem", opened, requester="bob")["number"])
    if status == "investigating":
        return number
    known = {"root_cause": root_cause, "workaround": workaround, "publish_workaround": publish}
    task = open_task_of(commands, number)
    commands.complete(task.id, "known_error", known, actor=PROBLEM_MANAGER)
    if status == "resolved":
        fixed = {"resolution": "Replaced every roller."}
        task = open_task_of(commands, number)
        commands.complete(task.id, "resolved", fixed, actor=PROBLEM_MANAGER)
    return number


def resolved_incident(
    commands: Commands,
    summary: str,
    description: str = "It stopped working this morning.",
    *,
    resolution: str = "Fixed it.",
    closed: bool = True,
    **changes: Any,
) -> str:
    """Report an incident as alice, resolve it as its assignee, and let alice confirm it."""
    data = {**INCIDENT, "summary": summary, "description": description, **changes}
    number = str(commands.start("it-incident", data, requester="alice")["number"])
    work = open_task_of(commands, number)
    commands.complete(work.id, "resolved", {"resolution": resolution}, actor=str(work.assignee))
    if closed:
        commands.complete(open_task_of(commands, number).id, "approved", actor="alice")
    return number


def open_incident(
    commands: Commands, summary: str, description: str, requester: str = "alice", **changes: Any
) -> str:
    data = {**INCIDENT, "summary": summary, "description": description, **changes}
    return str(commands.start("it-incident", data, requester=requester)["number"])


def on_service(commands: Commands, number: str, service: str) -> None:
    """Put an incident on a service of the catalogue, as the monitoring intake does."""
    with commands.database.writer_session() as session, session.begin():
        session.execute(
            update(Instance).where(Instance.number == number).values(service_key=service)
        )


def link_problem(commands: Commands, incident: str, problem_number: str, at: datetime) -> None:
    """Link an incident to its problem (kind `problem`, incident -> problem), as the
    problems' service records it."""
    with commands.database.writer_session() as session, session.begin():
        ids = dict(
            session.execute(
                select(Instance.number, Instance.id).where(
                    Instance.number.in_([incident, problem_number])
                )
            ).all()
        )
        session.execute(
            insert(InstanceLink),
            {
                "instance_id": ids[incident],
                "other_id": ids[problem_number],
                "kind": "problem",
                "created_by": "bob",
                "created_at": at,
            },
        )
