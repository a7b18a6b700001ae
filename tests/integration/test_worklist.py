"""Inbox and queue lists: what each person sees, and in which order."""

from __future__ import annotations

from typing import Any, cast

from alembic import command
from sqlalchemy import select

from engine.core.sla import SLA_STEP
from engine.service.apply import BREACHED, SLA_RUNNING
from engine.service.commands import Commands
from engine.service.person import Person
from engine.service.worklist import Filters, instances, may_see_instance, my_tasks, queue
from engine.store.database import Database, alembic_config
from engine.store.instances import Task, Timer
from tests.integration.conftest import INCIDENT, Clock


def person(username: str, *groups: str, roles: tuple[str, ...] = ()) -> Person:
    return Person(1, username, username, None, frozenset(roles), frozenset(groups))


def test_the_inbox_puts_the_nearest_sla_breach_first(
    commands: Commands, database: Database, clock: Clock
) -> None:
    low = commands.start("it-incident", {**INCIDENT, "impact": "low", "urgency": "low"})
    urgent = commands.start("it-incident", {**INCIDENT, "impact": "high", "urgency": "high"})
    middle = commands.start("it-incident", {**INCIDENT, "impact": "medium", "urgency": "medium"})
    bob, dan = person("bob", "desktop-support"), person("dan", "desktop-support")
    with database.reading() as session:
        held = my_tasks(session, bob, clock()) + my_tasks(session, dan, clock())
    order = [t.number for t in sorted(held, key=lambda t: t.sla_due_at or clock())]
    assert order == [urgent["number"], middle["number"], low["number"]]
    with database.reading() as session:
        mine = my_tasks(session, bob, clock())
    assert [t.sla_due_at for t in mine] == sorted(t.sla_due_at for t in mine)
    assert all(t.assignee == "bob" for t in mine)


def queued_incidents(commands: Commands, *impacts: str) -> list[dict[str, Any]]:
    """Start an incident per impact (and urgency); put their tasks back in the group queue."""
    started = [
        commands.start("it-incident", {**INCIDENT, "impact": impact, "urgency": impact})
        for impact in impacts
    ]
    for answer in started:  # whoever round robin gave it to
        task = answer["opened_tasks"][0]
        commands.unclaim(task["id"], actor=task["assignee"])
    return started


def breach_response(commands: Commands, database: Database, instance_id: int) -> None:
    """Break an instance's response SLA: its warning timer fires, then its breach timer.

    The response clock's timers come due before the resolution clock's.
    """
    for _ in range(2):
        with database.reading() as session:
            timer = session.execute(
                select(Timer.id, Timer.due_at)
                .where(
                    Timer.instance_id == instance_id,
                    Timer.step == SLA_STEP,
                    Timer.status == "pending",
                )
                .order_by(Timer.due_at)
                .limit(1)
            ).first()
        assert timer is not None
        clock = cast(Clock, commands.clock)
        clock.now = max(clock.now, timer.due_at)  # a timer fires when it is due, not before
        commands.fire_timer(timer.id)


def test_a_breach_moves_queued_work_to_the_top_of_the_queue(
    commands: Commands, database: Database, clock: Clock
) -> None:
    started = queued_incidents(commands, "low", "high", "medium")
    low, urgent, middle = (answer["number"] for answer in started)
    desk = person("zoe", "desktop-support")

    def listed() -> list[str]:
        with database.reading() as session:
            return [t.number for t in queue(session, desk, clock())]

    assert listed() == [urgent, middle, low]
    breach_response(commands, database, started[0]["instance_id"])
    assert listed() == [low, urgent, middle]
    with database.reading() as session:
        first = queue(session, desk, clock())[0]
    assert first.breached
    assert first.sla_state(clock()) == "breached"


def test_upgrading_an_older_database_puts_its_open_work_in_inbox_order(
    commands: Commands, database: Database
) -> None:
    started = queued_incidents(commands, "low", "high", "medium")
    breach_response(commands, database, started[2]["instance_id"])
    commands.start("it-incident", INCIDENT)  # one held by an agent, not queued
    open_order = (
        select(Task.id, Task.sort_rank, Task.sort_at).where(Task.status == "open").order_by(Task.id)
    )
    with database.reading() as session:
        written = session.execute(open_order).all()
    config = alembic_config()
    with database.migrating() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0007")  # before tasks kept their place in the inbox
        command.upgrade(config, "head")
    with database.reading() as session:
        assert session.execute(open_order).all() == written
    assert {rank for _, rank, _ in written} == {BREACHED, SLA_RUNNING}


def test_filters_narrow_the_list_and_sla_states_follow_the_clock(
    commands: Commands, database: Database, clock: Clock
) -> None:
    commands.start("it-incident", {**INCIDENT, "impact": "high", "urgency": "high"})
    commands.start("it-incident", {**INCIDENT, "impact": "low", "urgency": "low"})
    everyone = [person("bob", "desktop-support"), person("dan", "desktop-support")]
    with database.reading() as session:
        p1 = [t for p in everyone for t in my_tasks(session, p, clock(), Filters(priority="P1"))]
        assert [t.priority for t in p1] == ["P1"]
        assert p1[0].sla_state(clock()) == "due_soon"  # 15 minutes to respond
        later = clock.advance(minutes=20)
        breached = [
            t for p in everyone for t in my_tasks(session, p, later, Filters(sla="breached"))
        ]
    assert [t.priority for t in breached] == ["P1"]


def test_the_queue_shows_unclaimed_tasks_of_my_groups_only(
    commands: Commands, database: Database, clock: Clock
) -> None:
    commands.start("major-incident", {
        "summary": "Payments are down", "services": ["payments"], "customer_impact": "None pay.",
        "started_at": "2026-11-23T07:55:00+00:00", "service_owner": "sam",
    })  # fmt: skip
    with database.reading() as session:
        ivy = queue(session, person("ivy", "incident-commanders"), clock())
        cole = queue(session, person("cole", "communications"), clock())
        nobody = queue(session, person("alice"), clock())
    assert ivy
    assert all(t.group == "incident-commanders" and t.assignee is None for t in ivy)
    assert all(t.group == "communications" for t in cole)
    assert nobody == []


def test_requesters_see_their_own_instances_and_agents_see_all(
    commands: Commands, database: Database, clock: Clock
) -> None:
    mine = commands.start("it-incident", INCIDENT, requester="alice")["number"]
    theirs = commands.start("it-incident", INCIDENT, requester="sam")["number"]
    with database.reading() as session:
        assert may_see_instance(session, person("alice"), mine)
        assert not may_see_instance(session, person("alice"), theirs)
        assert may_see_instance(session, person("bob", "desktop-support"), theirs)
        page, total = instances(session, clock(), Filters(requester="alice"))
    assert total == 1
    assert [i.number for i in page] == [mine]
