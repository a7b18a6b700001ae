"""Recurring incidents in the service layer: what is grouped, within which window, and why."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import update

from engine.service.catalogue import Catalogue
from engine.service.commands import Commands
from engine.service.errors import InvalidInput, NotAllowed
from engine.service.intake import Intake
from engine.service.people import ensure_user
from engine.service.problems import Problems
from engine.service.recurring import Recurring
from engine.store.instances import Instance
from tests import intake_payloads as payloads
from tests.infrastructure import resolve_an_alerts_incident
from tests.integration.conftest import INCIDENT, Clock

#: Three reports of one cause, worded as three people would.
ALIKE = (
    ("Printer jammed on floor 3", "The printer on the third floor jams on every print job."),
    ("Floor 3 printer jammed again", "Paper jammed in the printer, tray 2."),
    ("Jammed printer", "It says paper jam; the printer blinks red."),
)


@pytest.fixture
def recurring(commands: Commands) -> Recurring:
    with commands.database.writer_session() as session, session.begin():
        ensure_user(session, "rita", commands.clock(), roles=["requester"])
    return Recurring(commands)


def report(commands: Commands, summary: str, description: str, **changes: Any) -> str:
    data = {**INCIDENT, "summary": summary, "description": description, **changes}
    return str(commands.start("it-incident", data, requester="alice")["number"])


def reports(commands: Commands, texts: Any = ALIKE, **changes: Any) -> list[str]:
    return [report(commands, summary, text, **changes) for summary, text in texts]


def test_three_alike_incidents_of_a_category_are_proposed_with_the_words_they_share(
    commands: Commands, recurring: Recurring
) -> None:
    numbers = reports(commands)
    report(commands, "Printer out of toner", "Grey stripes.")  # the same category, unlike
    report(commands, "VPN jammed", "Printer jammed too?", category="network")  # elsewhere
    [found] = recurring.proposals("bob")
    assert (found.rule, found.key, found.words) == ("category", "hardware", ("jammed", "printer"))
    assert found.numbers == numbers
    assert found.reason == (
        "3 incidents in the category 'hardware' in 7 days, all about 'jammed' and 'printer'"
    )
    assert found.title == "Jammed printer"  # the latest one's
    assert recurring.proposals("bob") == [found]  # the same answer every time


def test_fewer_than_the_threshold_are_not_proposed_unless_it_is_lowered(
    commands: Commands, recurring: Recurring
) -> None:
    reports(commands, ALIKE[:2])
    assert recurring.proposals("bob") == []
    [found] = recurring.proposals("bob", at_least=2)
    assert len(found.numbers) == 2


def test_only_incidents_started_within_the_window_count(
    commands: Commands, recurring: Recurring, clock: Clock
) -> None:
    old = report(commands, *ALIKE[0])
    clock.advance(days=8)
    reports(commands, ALIKE[1:])
    assert recurring.proposals("bob") == []  # the first is 8 days old: out of a 7-day window
    [found] = recurring.proposals("bob", days=9)
    assert found.numbers[0] == old
    assert "in 9 days" in found.reason


def test_incidents_linked_to_a_problem_cancelled_or_merged_are_not_proposed_again(
    commands: Commands, recurring: Recurring
) -> None:
    numbers = reports(commands)
    [found] = recurring.proposals("bob")
    Problems(commands).open(found.numbers, actor="bob", title=found.title)
    assert recurring.proposals("bob") == []
    again = reports(commands)
    commands.cancel(again[0], "Logged twice by mistake", actor="bob")
    assert recurring.proposals("bob") == []  # two left: below the threshold
    assert numbers[0] not in recurring.proposals("bob", at_least=2)[0].numbers


def test_incidents_of_one_service_alike_in_words_are_proposed_before_their_category(
    commands: Commands, recurring: Recurring
) -> None:
    numbers = reports(commands)
    with commands.database.writer_session() as session, session.begin():
        session.execute(
            update(Instance).where(Instance.number.in_(numbers)).values(service_key="printing")
        )
    [found] = recurring.proposals("bob")
    assert (found.rule, found.key) == ("service", "printing")
    assert found.reason.startswith("3 incidents of the service 'printing' in 7 days")


def test_incidents_opened_by_the_same_alert_are_proposed_whatever_their_words(
    commands: Commands, recurring: Recurring
) -> None:
    start = {"name": "Monitoring", "email": "mon@example.org", "category": "hardware"}
    start |= {"impact": "low", "urgency": "low"}
    catalogue = Catalogue(commands)
    catalogue.save_service("web", {"name": "Web", "start_data": start}, actor=None, create=True)
    token = catalogue.add_integration("web", "alertmanager", "prom", actor=None)[1]
    opened = []
    for day in (6, 7, 8):
        body = payloads.alertmanager()
        body["alerts"][0]["startsAt"] = f"2026-11-0{day}T09:00:00.000Z"
        body["commonAnnotations"]["summary"] = f"Probe failure number {day}"
        answer = Intake(commands).receive("alertmanager", token, json.dumps(body).encode(), body)
        assert answer.outcome == "created"
        opened.append(str(answer.number))
        resolve_an_alerts_incident(commands, opened[-1])  # so the next firing opens a new incident
    [found] = recurring.proposals("bob")
    assert (found.rule, found.words) == ("alert", ())
    assert found.numbers == opened
    assert found.reason.startswith("3 incidents in 7 days were opened by the same alert (prom,")


def test_only_the_desk_sees_proposals_and_bounds_are_checked(
    commands: Commands, recurring: Recurring
) -> None:
    reports(commands)
    with pytest.raises(NotAllowed):
        recurring.proposals("rita")
    with pytest.raises(InvalidInput) as refused:
        recurring.proposals("bob", days=0, at_least=1)
    assert [p.pointer for p in refused.value.problems] == ["/days", "/at_least"]
