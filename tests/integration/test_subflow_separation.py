"""Separation of duties reaches into child instances: whoever asked for the parent asked for them.

A child started by a `subflow` step has no requester of its own. Without this, a
requester could route the approval of their own request through a child workflow and
name themselves its approver, or take it from a queue they are in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from engine.catalog import Document
from engine.service.commands import Commands
from engine.service.definitions import publish_all
from engine.service.desk import Desk
from engine.service.errors import NotAllowed
from engine.service.person import Person
from engine.service.published import Published
from engine.service.subflows import Subflows
from engine.store.database import Database
from engine.store.instances import Task
from tests.integration.conftest import Clock
from tests.integration.test_subflows import child_of, instance, open_task, outbox

REQUEST_FORM = {
    "kind": "form",
    "format": 1,
    "key": "sign-off-request",
    "title": "What to sign off",
    "fields": [
        {"key": "summary", "type": "text", "label": "Summary", "required": True},
        {"key": "approver", "type": "text", "label": "Approver"},
    ],
}


def sign_off(assign: dict[str, Any]) -> dict[str, Any]:
    """A child workflow that is one approval, given as `assign` says."""
    return {
        "kind": "workflow",
        "format": 1,
        "key": "sign-off",
        "title": "Sign-off",
        "start": {"form": "sign-off-request", "number_prefix": "SGN"},
        "first": "approve",
        "steps": {
            "approve": {
                "type": "approval",
                "assign": assign,
                "on": {"approved": "signed", "rejected": "refused"},
            },
            "signed": {"type": "end", "status": "signed", "outcome": "approved"},
            "refused": {"type": "end", "status": "refused", "outcome": "rejected"},
        },
    }


PURCHASE = {
    "kind": "workflow",
    "format": 1,
    "key": "purchase",
    "title": "Purchase",
    "first": "sign",
    "steps": {
        "sign": {
            "type": "subflow",
            "workflow": "sign-off",
            "data": {"summary": "item", "approver": "approver"},
            "next": "done",
        },
        "done": {"type": "end"},
    },
}


def publish(database: Database, clock: Clock, assign: dict[str, Any]) -> None:
    docs = [REQUEST_FORM, sign_off(assign), PURCHASE]
    with database.writer_session() as session, session.begin():
        publish_all(session, [Document(Path(f"{d['key']}.json"), d) for d in docs], clock(), "t")


def purchase(commands: Commands, requester: str, approver: str = "") -> str:
    data = {"item": "A laptop", "approver": approver}
    return str(commands.start("purchase", data, requester=requester)["number"])


def test_a_child_approval_named_for_the_parents_requester_does_not_start(
    commands: Commands, database: Database, clock: Clock
) -> None:
    publish(database, clock, {"user": "{{ approver }}"})
    number = purchase(commands, "alice", approver="alice")

    Subflows(commands).carry_out_pending()

    [(status, error)] = outbox(database, "start_subflow")
    assert status == "failed"
    # The child was never started, so the words name only the parent.
    why = "alice requested REQ-000001, so they may not approve it (separation of duties)"
    assert why in (error or "")
    [run] = instance(database, number).state["runs"]
    assert why in run["incident"]  # the parent's step waits on an incident that says why


def test_the_parents_requester_may_not_take_a_child_approval_from_a_queue(
    commands: Commands, database: Database, clock: Clock
) -> None:
    # bob asks; the child's approval waits in the queue of a group bob is in.
    publish(database, clock, {"group": "desktop-support", "strategy": "claim"})
    number = purchase(commands, "bob")
    Subflows(commands).carry_out_pending()
    child = child_of(database, number)
    task = open_task(database, child.number)

    with pytest.raises(NotAllowed, match="bob requested REQ-000001, which started SGN-000001"):
        commands.claim(task, actor="bob")
    bob = Person(1, "bob", "Bob", None, frozenset({"agent"}), frozenset({"desktop-support"}))
    page = Desk(commands, Published(database)).task(bob, task)
    assert page.apart == (
        "You requested REQ-000001, which started SGN-000001, so you may not approve it "
        "(separation of duties)"
    )
    with pytest.raises(NotAllowed, match="separation of duties"):
        commands.complete(task, "approved", actor="bob")

    commands.claim(task, actor="dan")
    commands.complete(task, "approved", actor="dan")
    assert instance(database, child.number).status == "signed"


def test_a_pick_for_a_child_approval_passes_over_the_parents_requester(
    commands: Commands, database: Database, clock: Clock
) -> None:
    publish(database, clock, {"group": "desktop-support", "strategy": "round_robin"})
    subflows = Subflows(commands)
    numbers = [purchase(commands, "bob") for _ in range(3)]
    subflows.carry_out_pending()

    with database.reading() as session:
        holders = [
            session.scalars(
                select(Task.assignee).where(
                    Task.id == open_task(database, child_of(database, n).number)
                )
            ).one()
            for n in numbers
        ]
    assert holders == ["dan", "dan", "dan"]


def test_the_child_still_has_no_requester_of_its_own(
    commands: Commands, database: Database, clock: Clock
) -> None:
    # Only separation of duties looks up the chain: the child is not listed among the
    # requester's own requests, and `to: requester` and requester tasks do not reach them.
    publish(database, clock, {"group": "desktop-support", "strategy": "claim"})
    number = purchase(commands, "alice")
    Subflows(commands).carry_out_pending()

    assert child_of(database, number).requester is None
