"""A major incident worked from declaration to resolution through the real service layer.

Shared by the postmortem tests of every door: its timeline has a claim, a plan, two votes,
the recovery and the status page update, each by a person of `tests.infrastructure`'s
team, with the clock moved between them when the test owns the clock.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.service.commands import Commands
from engine.service.queries import instance_view
from engine.store.database import Database
from engine.store.instances import Task
from tests.infrastructure import MAJOR

#: Moves the test's clock on by some minutes (nothing, on the real clock).
Wait = Callable[[float], Any]

PLAN = {"plan": "Fail over to the spare database", "rollback": "Fail back", "eta_minutes": 30}
RESTORED = {
    "restored_at": "2026-11-23T13:30:00+00:00",
    "recovery_notes": "Failed over to the spare database; the primary's disk was full",
    "needs_problem_record": False,
}


def open_at(database: Database, number: str, step: str) -> list[Task]:
    """The open tasks of a step of an instance."""
    with database.reading() as session:
        return [t for t in instance_view(session, number).tasks if t.step == step]


def declare(commands: Commands) -> str:
    """Declare a major incident for the payments service, as bob of the service desk."""
    return str(commands.start("major-incident", dict(MAJOR), requester="bob")["number"])


def resolve(
    commands: Commands,
    database: Database,
    number: str,
    wait: Wait,
    *,
    problem_record: bool = False,
) -> None:
    """Work a declared major incident to its end: planned, approved, restored, informed.

    ivy takes and writes the plan 3 and 8 minutes in (the response SLA of 15 minutes is
    met); cole and sam approve it; cole posts the status update; ike restores the service
    more than 4 hours in (the resolution SLA breaches), asking for a problem record when
    `problem_record`.
    """
    wait(3)
    (plan,) = open_at(database, number, "plan")
    commands.claim(plan.id, actor="ivy")
    wait(5)
    commands.complete(plan.id, "done", dict(PLAN), actor="ivy")
    wait(5)
    reviews = open_at(database, number, "review_plan")
    (sams,) = [task for task in reviews if task.assignee == "sam"]
    (coles,) = [task for task in reviews if task.candidate_group == "communications"]
    commands.complete(sams.id, "approved", {}, actor="sam")
    commands.complete(coles.id, "approved", {"comment": "Customers are told"}, actor="cole")
    wait(30)
    (update,) = open_at(database, number, "status_update")
    commands.complete(update.id, "done", {}, actor="cole")
    wait(240)
    (restore,) = open_at(database, number, "execute_plan")
    restored = {**RESTORED, "needs_problem_record": problem_record}
    commands.complete(restore.id, "done", restored, actor="ike")
