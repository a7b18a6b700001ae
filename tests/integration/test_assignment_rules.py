"""Who a task goes to, and who may hand it on, when people are kept apart or have left.

A group's strategy and an on-call schedule never pick someone separation of duties keeps
from the step, nor someone who cannot sign in: with nobody left, the task waits in the
queue, where claiming still holds separation of duties. Deactivating a user hands their
open tasks back; an admin may reassign any open task, and a group may take back a task
whose holder has left. Handing a task on is desk work, whoever asks.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from engine.catalog import Document
from engine.service.commands import Commands
from engine.service.definitions import publish_all
from engine.service.errors import Conflict, InvalidInput, NotAllowed
from engine.service.names import username_problems
from engine.service.people import People, add_shift, ensure_group, ensure_user
from engine.store.database import Database
from engine.store.instances import Event, Instance, Task
from engine.store.people import User
from tests.integration.conftest import INCIDENT, Clock


def flow(key: str, first: str, steps: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": "workflow",
        "format": 1,
        "key": key,
        "title": key,
        "first": first,
        "steps": steps,
    }


def approval(assign: dict[str, Any]) -> dict[str, Any]:
    return {"type": "approval", "assign": assign, "on": {"approved": "done", "rejected": "done"}}


def approve_by(key: str, assign: dict[str, Any]) -> dict[str, Any]:
    """An approval given by `assign`; the requester is kept apart (the default)."""
    return flow(key, "approve", {"approve": approval(assign), "done": {"type": "end"}})


def prepared(key: str, assign: dict[str, Any]) -> dict[str, Any]:
    """The service desk prepares, then `assign` approves: the pick is made mid-flow."""
    steps = {
        "prepare": {"type": "task", "assign": {"group": "service-desk"}, "next": "approve"},
        "approve": approval(assign),
        "done": {"type": "end"},
    }
    return flow(key, "prepare", steps)


def four_eyes() -> dict[str, Any]:
    """A planner writes a plan; another planner, by round robin, checks it (`not_by`)."""
    steps = {
        "plan": {"type": "task", "assign": {"group": "planners"}, "next": "check"},
        "check": {
            "type": "task",
            "assign": {"group": "planners", "strategy": "round_robin"},
            "not_by": ["plan"],
            "next": "done",
        },
        "done": {"type": "end"},
    }
    return flow("four-eyes", "plan", steps)


def named_check() -> dict[str, Any]:
    """As `four_eyes`, but the data names who checks the plan."""
    doc = four_eyes()
    doc["steps"]["check"]["assign"] = {"user": "{{ checker }}"}
    return {**doc, "key": "named-check"}


FLOWS = [
    approve_by("rr", {"group": "approvers", "strategy": "round_robin"}),
    approve_by("ll", {"group": "approvers", "strategy": "least_loaded"}),
    approve_by("solo", {"group": "solo", "strategy": "round_robin"}),
    approve_by("queue", {"group": "approvers"}),
    approve_by("oncall", {"on_call": "approvers-on-call"}),
    approve_by("named", {"user": "{{ approver }}"}),
    approve_by("literal", {"user": "dan"}),
    prepared("prepared-rr", {"group": "approvers", "strategy": "round_robin"}),
    prepared("prepared-literal", {"user": "dan"}),
    four_eyes(),
    named_check(),
]


@pytest.fixture
def world(commands: Commands, database: Database, clock: Clock) -> Commands:
    """The pack's team, with approvers (alice asks, and approves others' requests), planners,
    ada the admin and maria, an approver who does not work the desk."""
    with database.writer_session() as session, session.begin():
        for name in ("alice", "maria", "nick"):
            ensure_user(session, name, clock(), groups=["approvers"])
        ensure_user(session, "alice", clock(), groups=["solo", "planners"])
        ensure_user(session, "ike", clock(), groups=["planners"])
        ensure_user(session, "ivy", clock(), groups=["planners"])
        ensure_user(session, "ada", clock(), roles=["admin"])
        ensure_user(session, "mona", clock(), roles=["requester"])
        ensure_group(session, "approvers-on-call")
        documents = [Document(Path(f"{d['key']}.json"), d) for d in FLOWS]
        publish_all(session, documents, clock(), "test")
    return commands


def first_task(result: dict[str, Any]) -> tuple[int, str | None, str | None]:
    (task,) = result["opened_tasks"]
    return int(task["id"]), task["assignee"], task["group"]


def holder(database: Database, task_id: int) -> tuple[str | None, str | None, str | None]:
    with database.reading() as session:
        task = session.get(Task, task_id)
        assert task is not None
        return task.assignee, task.candidate_group, task.delegated_by


def incidents(database: Database, number: str) -> dict[str, str]:
    with database.reading() as session:
        state = session.scalars(select(Instance.state).where(Instance.number == number)).one()
    return {str(r["step"]): str(r["incident"]) for r in state.get("runs", ()) if r.get("incident")}


def timeline(database: Database, number: str) -> list[tuple[str, str | None, str | None]]:
    with database.reading() as session:
        rows = session.execute(
            select(Event.kind, Event.actor, Event.why)
            .join(Instance, Instance.id == Event.instance_id)
            .where(Instance.number == number)
            .order_by(Event.seq)
        )
        return [(str(kind), actor, why) for kind, actor, why in rows]


def deactivate_by_hand(database: Database, username: str) -> None:
    """Stop a user without the admin's hand-back: as a task opened before it, or a race."""
    with database.writer_session() as session, session.begin():
        session.execute(update(User).where(User.username == username).values(active=False))


# A pick passes over whom separation of duties keeps apart ------------------------------------


def test_round_robin_passes_over_the_requester_and_keeps_its_turn(world: Commands) -> None:
    picked = [first_task(world.start("rr", {}, requester="alice"))[1] for _ in range(4)]

    assert picked == ["maria", "nick", "maria", "nick"]
    assert first_task(world.start("rr", {}, requester="maria"))[1] == "alice"


def test_least_loaded_passes_over_the_requester(world: Commands) -> None:
    # Everyone has no open task: the first by name, alice, is passed over.
    assert first_task(world.start("ll", {}, requester="alice"))[1:] == ("maria", "approvers")


def test_with_nobody_else_in_the_group_the_task_waits_in_its_queue_and_they_may_not_claim_it(
    world: Commands,
) -> None:
    task, assignee, group = first_task(world.start("solo", {}, requester="alice"))

    assert (assignee, group) == (None, "solo")
    with pytest.raises(NotAllowed, match="separation of duties"):
        world.claim(task, actor="alice")
    assert holder(world.database, task)[0] is None


def test_the_requester_may_not_claim_their_own_approval_from_the_queue(world: Commands) -> None:
    task, _assignee, group = first_task(world.start("queue", {}, requester="alice"))
    assert group == "approvers"

    with pytest.raises(NotAllowed, match="separation of duties"):
        world.claim(task, actor="alice")
    assert world.claim(task, actor="maria")["assignee"] == "maria"


def test_the_person_on_call_kept_apart_leaves_the_task_in_the_schedules_queue(
    world: Commands, database: Database, clock: Clock
) -> None:
    with database.writer_session() as session, session.begin():
        add_shift(session, "approvers-on-call", "alice", clock(), clock() + timedelta(hours=8))

    assert first_task(world.start("oncall", {}, requester="alice"))[1:] == (
        None,
        "approvers-on-call",
    )
    assert first_task(world.start("oncall", {}, requester="nick"))[1] == "alice"


def test_a_pick_made_mid_flow_passes_over_the_requester_with_no_incident(
    world: Commands, database: Database
) -> None:
    with database.writer_session() as session, session.begin():
        ensure_user(session, "maria", world.clock(), groups=["service-desk"])
    for picked in ("maria", "nick", "maria"):
        started = world.start("prepared-rr", {}, requester="alice")
        task, *_ = first_task(started)
        done = world.complete(task, "done", {}, actor="bob")
        assert first_task(done)[1] == picked
        assert incidents(database, started["number"]) == {}


def test_round_robin_passes_over_whoever_did_a_step_kept_apart(world: Commands) -> None:
    # Planners alice, ike, ivy. Whoever writes the plan is never picked to check it.
    # Each author is whom the turn would come to next.
    for author in ("alice", "ike", "ivy", "alice"):
        started = world.start("four-eyes", {}, requester="mona")
        task, *_ = first_task(started)
        world.claim(task, actor=author)
        checker = first_task(world.complete(task, "done", {}, actor=author))[1]
        assert checker not in (author, None)


def test_a_task_named_for_whoever_just_did_a_step_kept_apart_stops_on_an_incident(
    world: Commands, database: Database
) -> None:
    started = world.start("named-check", {"checker": "ike"}, requester="mona")
    task, *_ = first_task(started)
    world.claim(task, actor="ike")

    done = world.complete(task, "done", {}, actor="ike")

    assert done["opened_tasks"] == []
    assert "ike did 'Plan'" in incidents(database, started["number"])["check"]


# People who can no longer sign in --------------------------------------------------------------


def test_a_literal_user_who_cannot_sign_in_refuses_a_start_and_stops_a_later_step(
    world: Commands, database: Database
) -> None:
    deactivate_by_hand(database, "dan")

    with pytest.raises(InvalidInput, match="no active user 'dan'"):
        world.start("literal", {}, requester="alice")

    started = world.start("prepared-literal", {}, requester="alice")
    task, *_ = first_task(started)
    world.complete(task, "done", {}, actor="bob")
    assert "no active user 'dan'" in incidents(database, started["number"])["approve"]


def test_on_call_passes_over_someone_who_cannot_sign_in(
    world: Commands, database: Database, clock: Clock
) -> None:
    now = clock()
    with database.writer_session() as session, session.begin():
        add_shift(
            session,
            "approvers-on-call",
            "maria",
            now - timedelta(hours=2),
            now + timedelta(hours=8),
        )
        # nick's shift started later, so it wins while nick can sign in.
        add_shift(
            session, "approvers-on-call", "nick", now - timedelta(hours=1), now + timedelta(hours=4)
        )
    assert first_task(world.start("oncall", {}, requester="alice"))[1] == "nick"

    deactivate_by_hand(database, "nick")

    assert first_task(world.start("oncall", {}, requester="alice"))[1] == "maria"
    deactivate_by_hand(database, "maria")
    assert first_task(world.start("oncall", {}, requester="alice"))[1] is None


def test_deactivating_a_user_hands_back_their_tasks_and_lists_those_with_nowhere_to_go(
    world: Commands, database: Database
) -> None:
    # bob holds an incident of the desktop-support queue, a task lee delegated to him, and
    # an approval given to him by name.
    incident = world.start("it-incident", INCIDENT, requester="alice")
    queued, assignee, _group = first_task(incident)
    assert assignee == "bob"
    delegated = first_task(world.start("rr", {}, requester="alice"))[0]
    world.delegate(delegated, actor="maria", to="bob")
    named = world.start("named", {"approver": "bob"}, requester="alice")
    by_name = first_task(named)[0]

    left = People(world).update_user(
        "bob",
        actor="ada",
        name="Bob",
        email=None,
        roles=["agent"],
        active=False,
        groups=["desktop-support", "service-desk"],
        manager=None,
    )

    assert holder(database, queued) == (None, "desktop-support", None)
    assert holder(database, delegated) == ("maria", "approvers", None)
    assert holder(database, by_name) == ("bob", None, None)
    assert [(t.id, t.number) for t in left] == [(by_name, named["number"])]
    assert [t.id for t in People(world).held_tasks("bob")] == [by_name]
    assert timeline(database, incident["number"])[-1] == (
        "task_reassigned",
        "ada",
        "to the queue of desktop-support: bob can no longer sign in",
    )
    # The admin hands on what was left.
    world.reassign(by_name, actor="ada", user="maria", reason="bob has left")
    assert holder(database, by_name)[0] == "maria"


def test_an_admin_may_reassign_any_open_task(world: Commands, database: Database) -> None:
    task, assignee, _group = first_task(world.start("it-incident", INCIDENT, requester="alice"))
    assert assignee == "bob"

    world.reassign(task, actor="ada", group="network")

    assert holder(database, task) == (None, "network", None)


def test_the_group_takes_back_a_task_whose_holder_has_left_and_only_then(
    world: Commands, database: Database
) -> None:
    task, _assignee, _group = first_task(world.start("it-incident", INCIDENT, requester="alice"))
    with pytest.raises(NotAllowed, match="assigned to bob, not dan"):
        world.reassign(task, actor="dan", group="desktop-support")
    with pytest.raises(Conflict, match="already claimed by bob"):
        world.claim(task, actor="dan")

    deactivate_by_hand(database, "bob")

    with pytest.raises(NotAllowed):
        world.reassign(task, actor="erin", group="network")  # not in the task's group
    world.reassign(task, actor="dan", group="desktop-support")
    assert holder(database, task) == (None, "desktop-support", None)


def test_a_group_member_may_claim_a_task_whose_holder_has_left(
    world: Commands, database: Database
) -> None:
    started = world.start("it-incident", INCIDENT, requester="alice")
    task, *_ = first_task(started)
    deactivate_by_hand(database, "bob")

    assert world.claim(task, actor="dan")["assignee"] == "dan"
    assert timeline(database, started["number"])[-1] == (
        "task_claimed",
        "dan",
        "dan took the task from bob, who can no longer sign in",
    )


# Handing a task on is desk work ------------------------------------------------------------------


def test_an_approver_off_the_desk_may_decide_but_not_hand_on(
    world: Commands, database: Database
) -> None:
    task, assignee, _group = first_task(world.start("named", {"approver": "mona"}, requester="bob"))
    assert assignee == "mona"

    with pytest.raises(NotAllowed, match="only the service desk hands tasks on"):
        world.reassign(task, actor="mona", user="maria")
    with pytest.raises(NotAllowed, match="only the service desk hands tasks on"):
        world.delegate(task, actor="mona", to="maria")
    assert holder(database, task) == ("mona", None, None)
    world.complete(task, "approved", {}, actor="mona")


# Users and groups are changed by admins -------------------------------------------------------


def test_only_an_admin_changes_users_and_groups_through_the_service(
    world: Commands, database: Database
) -> None:
    people = People(world)
    changes = [
        lambda actor: people.create_user("newcomer", actor=actor),
        lambda actor: people.create_group("newgroup", actor=actor),
        lambda actor: people.add_member("network", "sam", actor=actor),
        lambda actor: people.remove_member("network", "erin", actor=actor),
        lambda actor: people.update_group("network", "Networks", None, actor=actor),
        lambda actor: people.set_password(
            "sam", "a long enough password", actor=actor, keep_session=None
        ),
    ]
    deactivate_by_hand(database, "nick")
    with database.writer_session() as session, session.begin():
        ensure_user(session, "nick", world.clock(), roles=["admin"])  # but cannot sign in
    for change in changes:
        for outsider in ("bob", "nick", "nobody"):
            with pytest.raises(NotAllowed, match="only an admin may change users and groups"):
                change(outsider)
    assert "newcomer" not in [row.username for row in people.directory().users]
    for change in changes:
        change("ada")
    people.create_user("by-the-operator", actor=None)  # the command line: no actor
    assert "newcomer" in [row.username for row in people.directory().users]


@pytest.mark.parametrize(
    "name", ["requester", "assignee", "candidates", "manager", "next_tier", "system", "flowdesk"]
)
def test_words_with_a_meaning_of_their_own_are_refused_as_usernames(
    world: Commands, database: Database, name: str
) -> None:
    with pytest.raises(InvalidInput, match="meaning of its own") as refused:
        People(world).create_user(name, actor="ada")
    assert [p.pointer for p in refused.value.problems] == ["/username"]
    refusal = pytest.raises(InvalidInput, match="meaning of its own")
    with database.writer_session() as session, session.begin(), refusal:
        ensure_user(session, name, world.clock())
    assert username_problems(f"{name}2") == []
