"""Escalation policies run on the incidents the intake opens: who is paged, and when.

A service `payments` names the policy `payments-escalation`: level 1 is the `network`
schedule (erin is on call when the clock starts), level 2 after 15 minutes is ivy; the
policy waits 30 minutes more and runs once again (`repeat: 1`). An Alertmanager group
opens the incident; the worker's job (`Paging.carry_out_due`) pages the later levels.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from engine.service.catalogue import Catalogue
from engine.service.commands import Commands
from engine.service.errors import InvalidInput
from engine.service.escalation_policies import EscalationPolicies
from engine.service.intake import Intake
from engine.service.mail_intake import MailIntake
from engine.service.notifications import Notifications
from engine.service.oncall import Schedules
from engine.service.paging import Paging
from engine.service.people import ensure_user
from engine.store.database import Database
from engine.store.files import FileStore
from engine.store.instances import Event, Instance, Outbox, Task
from engine.store.notifications import Notification
from tests import intake_payloads as payloads
from tests.infrastructure import Clock
from tests.letters import BASE_URL, DESK, letter

START = {
    "name": "Monitoring",
    "email": "monitoring@example.org",
    "category": "hardware",
    "impact": "low",
    "urgency": "low",
}
POLICY = {
    "levels": [
        {"notify": [{"schedule": "network"}], "after": "PT15M"},
        {"notify": [{"user": "ivy"}], "after": "PT30M"},
    ],
    "repeat": 1,
}
ACTOR = "policy:payments-escalation"


@pytest.fixture
def token(commands: Commands, database: Database, clock: Clock) -> str:
    """The service, its schedule and policy, and an Alertmanager integration's token."""
    with database.writer_session() as session, session.begin():
        ensure_user(session, "root", clock(), roles=["admin"])
    Schedules(commands).save(
        "network",
        name="Network",
        time_zone="Europe/Amsterdam",
        layers=[
            {
                "members": ["erin", "lee"],
                "rotation": "daily",
                "handoff": "09:00",
                "start": "2026-11-23",
            }
        ],
        actor="root",
    )
    EscalationPolicies(commands).save("payments-escalation", POLICY, actor="root")
    catalogue = Catalogue(commands)
    catalogue.save_service(
        "payments",
        {"name": "Payments", "start_data": START, "policy_key": "payments-escalation"},
        actor="root",
        create=True,
    )
    return catalogue.add_integration("payments", "alertmanager", "prod", actor="root")[1]


@pytest.fixture
def paging(commands: Commands) -> Paging:
    return Paging(commands, commands.registry)


def fire(commands: Commands, token: str, body: dict[str, Any] | None = None) -> str:
    payload = body or payloads.alertmanager()
    raw = json.dumps(payload).encode()
    answer = Intake(commands).receive("alertmanager", token, raw, payload)
    assert answer.outcome == "created"
    assert answer.number is not None
    return answer.number


def holder(database: Database, number: str) -> str | None:
    with database.reading() as session:
        return session.scalar(
            select(Task.assignee)
            .join(Instance, Instance.id == Task.instance_id)
            .where(Instance.number == number, Task.status == "open")
        )


def paged_people(database: Database, number: str) -> list[str]:
    with database.reading() as session:
        return list(
            session.scalars(
                select(Notification.recipient)
                .where(Notification.number == number, Notification.kind == "paged")
                .order_by(Notification.id)
            )
        )


def reassignments(database: Database, number: str) -> list[tuple[str | None, str | None]]:
    with database.reading() as session:
        return [
            (row.actor, row.why)
            for row in session.execute(
                select(Event.actor, Event.why)
                .join(Instance, Instance.id == Event.instance_id)
                .where(Instance.number == number, Event.kind == "task_reassigned")
                .order_by(Event.id)
            )
        ]


def test_level_one_is_paged_at_once_and_the_first_person_paged_gets_the_task(
    commands: Commands, token: str, database: Database, paging: Paging, clock: Clock
) -> None:
    Notifications(commands).set_mail_kinds("erin", ["paged"])
    number = fire(commands, token)
    assert paged_people(database, number) == ["erin"]
    assert holder(database, number) == "erin"
    assert reassignments(database, number) == [
        (ACTOR, "to erin: paged by the escalation policy payments-escalation, level 1")
    ]
    bell = Notifications(commands).items("erin")[0]
    assert {item.kind for item in bell} == {"paged", "assigned"}
    with database.reading() as session:
        mails = [
            row.payload["note"]["kind"]
            for row in session.scalars(select(Outbox).where(Outbox.kind == "notify"))
            if row.payload["to"] == {"user": "erin"}
        ]
    assert mails == ["paged"]  # she asked for pages by mail, not for assignments
    pages = paging.of(number)
    assert [(p.level, p.round, p.status) for p in pages] == [(0, 0, "done"), (1, 0, "pending")]
    assert pages[1].due_at == clock().replace(minute=15)


def test_level_two_is_paged_after_its_wait_and_the_policy_repeats_then_stops(
    commands: Commands, token: str, database: Database, paging: Paging, clock: Clock
) -> None:
    number = fire(commands, token)
    clock.advance(minutes=14, seconds=59)
    assert paging.carry_out_due() == []
    assert paged_people(database, number) == ["erin"]
    clock.advance(seconds=1)
    assert len(paging.carry_out_due()) == 1
    assert paged_people(database, number) == ["erin", "ivy"]
    assert holder(database, number) == "ivy"
    # Level 2 waits 30 minutes; then round 2 starts from level 1, and after it level 2.
    clock.advance(minutes=30)
    assert len(paging.carry_out_due()) == 1
    assert holder(database, number) == "erin"
    clock.advance(minutes=15)
    assert len(paging.carry_out_due()) == 1
    clock.advance(hours=5)
    assert paging.carry_out_due() == []  # repeat 1: two rounds, then the policy stops
    assert paged_people(database, number) == ["erin", "ivy", "erin", "ivy"]
    assert [(p.level, p.round) for p in paging.of(number)] == [(0, 0), (1, 0), (0, 1), (1, 1)]
    assert {p.status for p in paging.of(number)} == {"done"}


def test_an_acknowledgement_stops_the_next_levels(
    commands: Commands, token: str, database: Database, paging: Paging, clock: Clock
) -> None:
    number = fire(commands, token)
    clock.advance(minutes=3)
    Intake(commands).acknowledge(number, actor="erin")
    clock.advance(minutes=20)
    assert paging.carry_out_due() == []
    assert paged_people(database, number) == ["erin"]
    assert holder(database, number) == "erin"
    assert [p.status for p in paging.of(number)] == ["done", "stopped"]


def test_a_claim_hands_the_incident_to_the_assignment_rules(
    commands: Commands, token: str, database: Database, paging: Paging, clock: Clock
) -> None:
    number = fire(commands, token)
    with database.reading() as session:
        task_id = session.scalar(
            select(Task.id)
            .join(Instance, Instance.id == Task.instance_id)
            .where(Instance.number == number)
        )
    assert task_id is not None
    commands.unclaim(task_id, actor="erin")  # back to the team's queue...
    commands.claim(task_id, actor="dan")  # ...where a person takes it
    clock.advance(minutes=15)
    assert paging.carry_out_due() == []
    assert holder(database, number) == "dan"
    assert paged_people(database, number) == ["erin"]


def test_an_ended_incident_is_paged_no_more(
    commands: Commands, token: str, database: Database, paging: Paging, clock: Clock
) -> None:
    number = fire(commands, token)
    commands.cancel(number, "a false alarm", actor="bob")
    clock.advance(minutes=15)
    assert paging.carry_out_due() == []
    assert paged_people(database, number) == ["erin"]
    assert [p.status for p in paging.of(number)] == ["done", "stopped"]


def test_a_page_carried_out_twice_pages_once(
    commands: Commands, token: str, database: Database, paging: Paging, clock: Clock
) -> None:
    number = fire(commands, token)
    clock.advance(minutes=15)
    [due] = paging.due()
    assert paging.carry_out(due) == "done"
    assert paging.carry_out(due) == "done"  # a second worker, or a retried job
    assert paged_people(database, number) == ["erin", "ivy"]
    assert len(reassignments(database, number)) == 2
    assert [(p.level, p.round) for p in paging.of(number)] == [(0, 0), (1, 0), (0, 1)]
    with database.reading() as session:
        told = session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.recipient == "ivy", Notification.number == number)
        )
    assert told == 2  # paged, and given the task: once each


def test_a_service_without_a_policy_pages_nobody(
    commands: Commands, token: str, database: Database, paging: Paging
) -> None:
    Catalogue(commands).save_service("payments", {"policy_key": None}, actor="root", create=False)
    number = fire(commands, token)
    assert paged_people(database, number) == []
    assert paging.of(number) == []
    assert reassignments(database, number) == []


def test_an_acknowledgement_that_runs_out_pages_level_one_again(
    commands: Commands, token: str, database: Database, paging: Paging, clock: Clock
) -> None:
    EscalationPolicies(commands).save(
        "payments-escalation", {**POLICY, "acknowledge_within": "PT1H"}, actor="root"
    )
    number = fire(commands, token)
    clock.advance(minutes=3)
    Intake(commands).acknowledge(number, actor="erin")
    clock.advance(minutes=12)
    assert paging.carry_out_due() == []  # level 2 is not paged: erin has it, for an hour
    clock.advance(minutes=47, seconds=59)
    assert paging.carry_out_due() == []
    clock.advance(seconds=1)  # an hour after the acknowledgement, not resolved
    assert len(paging.carry_out_due()) == 1
    assert paged_people(database, number) == ["erin", "erin"]
    assert [(p.run, p.level, p.status) for p in paging.of(number)] == [
        (0, 0, "done"),
        (0, 1, "stopped"),
        (1, 0, "done"),
        (1, 1, "pending"),
    ]
    with database.reading() as session:
        said = session.scalar(
            select(Event.why)
            .join(Instance, Instance.id == Event.instance_id)
            .where(Instance.number == number, Event.kind == "unacknowledged")
        )
    assert said == "nobody resolved it within 1:00:00 of the acknowledgement: paged again"
    Intake(commands).acknowledge(number, actor="erin")  # she may acknowledge again
    clock.advance(minutes=15)
    assert paging.carry_out_due() == []
    assert [p.status for p in paging.of(number)][-2:] == ["stopped", "pending"]  # run 2 waits


def test_a_claim_after_an_acknowledgement_ends_the_policy_for_good(
    commands: Commands, token: str, database: Database, paging: Paging, clock: Clock
) -> None:
    EscalationPolicies(commands).save(
        "payments-escalation", {**POLICY, "acknowledge_within": "PT1H"}, actor="root"
    )
    number = fire(commands, token)
    Intake(commands).acknowledge(number, actor="erin")
    clock.advance(minutes=15)
    assert paging.carry_out_due() == []
    with database.reading() as session:
        task_id = session.scalar(
            select(Task.id)
            .join(Instance, Instance.id == Task.instance_id)
            .where(Instance.number == number)
        )
    assert task_id is not None
    commands.unclaim(task_id, actor="erin")
    commands.claim(task_id, actor="dan")
    clock.advance(hours=2)
    assert paging.carry_out_due() == []
    assert paged_people(database, number) == ["erin"]
    assert {p.status for p in paging.of(number)} == {"done", "stopped"}


def test_a_mail_to_a_services_mailbox_pages_by_its_policy_as_an_alert_does(
    commands: Commands, database: Database, token: str, tmp_path: Path
) -> None:
    """The mailbox names the service: its incident is the service's, and level 1 is paged
    in the transaction that opened it."""
    intake = MailIntake(commands, FileStore(tmp_path / "files"), base_url=BASE_URL)
    intake.save_mailbox(DESK, "it-incident", service_key="payments", defaults=START)
    receipt = intake.receive(letter(sender="Mo Nitor <mo@example.org>"), source="cli")
    assert receipt.outcome == "opened"
    number = str(receipt.number)
    with database.reading() as session:
        service = session.scalar(select(Instance.service_key).where(Instance.number == number))
    assert service == "payments"
    people = paged_people(database, number)
    assert len(people) == 1
    assert people[0] in {"erin", "lee"}
    assert holder(database, number) == people[0]


def test_a_mailbox_of_a_service_without_a_policy_pages_nobody(
    commands: Commands, database: Database, tmp_path: Path
) -> None:
    intake = MailIntake(commands, FileStore(tmp_path / "files"), base_url=BASE_URL)
    Catalogue(commands).save_service(
        "printing", {"name": "Printing", "start_data": START}, actor=None, create=True
    )
    intake.save_mailbox(DESK, "it-incident", service_key="printing", defaults=START)
    receipt = intake.receive(letter(sender="Mo Nitor <mo@example.org>"), source="cli")
    assert receipt.outcome == "opened"
    assert paged_people(database, str(receipt.number)) == []


def test_a_mail_whose_report_names_a_service_pages_by_that_services_policy(
    commands: Commands, database: Database, token: str, tmp_path: Path
) -> None:
    """A mailbox with no service of its own, whose defaults answer the report's service
    question: the incident is that service's, and its policy pages as for any door."""
    intake = MailIntake(commands, FileStore(tmp_path / "files"), base_url=BASE_URL)
    defaults = {**START, "impact": "high", "affected_service": "payments"}
    intake.save_mailbox(DESK, "it-incident", defaults=defaults)
    receipt = intake.receive(letter(sender="Mo Nitor <mo@example.org>"), source="cli")
    assert receipt.outcome == "opened"
    number = str(receipt.number)
    people = paged_people(database, number)
    assert len(people) == 1
    assert people[0] in {"erin", "lee"}
    assert reassignments(database, number) == [
        (ACTOR, f"to {people[0]}: paged by the escalation policy payments-escalation, level 1")
    ]


def test_an_alerts_incident_names_its_own_service_in_its_data_as_in_its_column(
    commands: Commands, database: Database, token: str
) -> None:
    """The report's "Which service is affected?" is the intake's to answer: with the
    alert's service, so the incident's page and its data name the same one. Start data
    answering it is refused: the alert would have said another."""
    catalogue = Catalogue(commands)
    catalogue.save_service(
        "payments", {"start_data": {**START, "impact": "high"}}, actor="root", create=False
    )
    number = fire(commands, token)
    with database.reading() as session:
        row = session.execute(
            select(Instance.service_key, Instance.state).where(Instance.number == number)
        ).one()
    assert (row.service_key, row.state["data"]["affected_service"]) == ("payments", "payments")

    with pytest.raises(InvalidInput) as refused:
        catalogue.save_service(
            "payments",
            {"start_data": {**START, "impact": "high", "affected_service": "vpn"}},
            actor="root",
            create=False,
        )
    assert [p.pointer for p in refused.value.problems] == ["/start_data/affected_service"]
