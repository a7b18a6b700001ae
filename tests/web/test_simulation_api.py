"""The workflow designer's simulation over HTTP: who may call it, and what it answers."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from engine.catalog import Document
from engine.service.catalogue import Catalogue
from engine.service.commands import Commands
from engine.service.definitions import publish_all
from engine.service.people import ensure_user
from engine.service.shell import utcnow
from engine.store.database import Database
from tests.infrastructure import PACK, give_password
from tests.web.test_admin import PASSWORD, csrf, sign_in

INCIDENT = json.loads((PACK / "it-incident.json").read_text())
SIMULATE = "/designer/api/workflows/it-incident/simulate"
START = {"category": "network", "impact": "high", "urgency": "medium"}


@pytest.fixture
def people(database: Database, commands: Commands) -> None:
    """dana, a designer; root, an admin; bob, an agent; all with a password."""
    with database.writer_session() as session, session.begin():
        ensure_user(session, "dana", commands.clock(), name="Dana", roles=["designer"])
        ensure_user(session, "root", commands.clock(), name="Root", roles=["admin"])
        for username in ("dana", "root", "bob"):
            give_password(session, username, PASSWORD)


def token(client: FlaskClient) -> str:
    """The CSRF token the designer's pages carry."""
    page = client.get("/designer/forms/incident-report").text
    found = re.search(r'<meta name="csrf-token" content="([^"]+)"', page)
    assert found is not None
    return found.group(1)


def simulate(client: FlaskClient, body: Any, csrf_token: str) -> TestResponse:
    return client.post(SIMULATE, json=body, headers={"X-CSRFToken": csrf_token})


@pytest.fixture
def dana(client: FlaskClient, people: None) -> tuple[FlaskClient, str]:
    assert sign_in(client, "dana").status_code == 302
    return client, token(client)


def test_visitors_are_answered_401_and_agents_403(client: FlaskClient, people: None) -> None:
    visitor = simulate(client, {"document": INCIDENT}, csrf(client))
    assert visitor.status_code == 401
    assert visitor.json["code"] == "unauthorized"

    assert sign_in(client, "bob").status_code == 302
    agent = simulate(client, {"document": INCIDENT}, csrf(client, "/account/password"))
    assert agent.status_code == 403


def test_admins_may_simulate_too(client: FlaskClient, people: None) -> None:
    assert sign_in(client, "root").status_code == 302
    answer = simulate(client, {"document": INCIDENT, "data": START}, token(client))
    assert answer.status_code == 200
    assert answer.json["ok"] is True


def test_a_simulation_without_the_csrf_token_is_refused(dana: tuple[FlaskClient, str]) -> None:
    client, _token = dana
    response = client.post(SIMULATE, json={"document": INCIDENT})
    assert response.status_code == 400
    assert response.json["code"] == "csrf"  # in the API's shape, not an HTML page
    # The intake answers in JSON whatever it is asked.
    wrong = client.get("/intake/generic")
    assert (wrong.status_code, wrong.mimetype) == (405, "application/json")


def test_a_simulation_answers_the_path_and_the_open_tasks(dana: tuple[FlaskClient, str]) -> None:
    client, csrf_token = dana
    body = {"document": INCIDENT, "data": START, "start_at": "2026-11-23T08:00:00+00:00"}

    first = simulate(client, body, csrf_token)

    assert first.status_code == 200
    assert first.json["path"] == ["categorize", "route", "work"]
    (work,) = first.json["tasks"]
    assert sorted(work["outcomes"]) == ["needs_info", "resolved"]
    assert work["goes_to"] == "round robin in network: next would be erin"
    assert work["due_at"] == "2026-11-23T16:00:00+00:00"  # 8 office hours from 09:00 (UTC+1)

    resolved = {"complete": work["id"], "outcome": "resolved", "data": {"resolution": "Fixed"}}
    second = simulate(client, {**body, "actions": [resolved]}, csrf_token)
    assert second.json["path"][-1] == "confirm"
    assert second.json["tasks"][0]["goes_to"] == "the requester"
    assert second.json["status"] == "resolved"


def test_a_refused_action_is_said_at_its_index(dana: tuple[FlaskClient, str]) -> None:
    client, csrf_token = dana
    body = {"document": INCIDENT, "data": START, "actions": [{"advance": "P1M"}]}

    answer = simulate(client, body, csrf_token)

    assert answer.status_code == 200
    assert answer.json["error"]["action"] == 0
    assert "months or years" in answer.json["error"]["message"]
    assert answer.json["path"] == ["categorize", "route", "work"]


def test_a_broken_draft_is_answered_with_its_problems(dana: tuple[FlaskClient, str]) -> None:
    client, csrf_token = dana
    broken = copy.deepcopy(INCIDENT)
    broken["steps"]["work"]["on"]["resolved"] = "nowhere"

    answer = simulate(client, {"document": broken}, csrf_token)

    assert answer.status_code == 200
    assert answer.json["ok"] is False
    assert [p["pointer"] for p in answer.json["problems"]] == ["/steps/work/on/resolved"]
    assert "path" not in answer.json


def test_more_than_500_actions_are_refused(dana: tuple[FlaskClient, str]) -> None:
    client, csrf_token = dana
    body = {"document": INCIDENT, "actions": [{"fire": "next"}] * 501}

    answer = simulate(client, body, csrf_token)

    assert answer.status_code == 422
    assert answer.json["message"] == "at most 500 actions are simulated; 501 were sent"
    assert answer.json["problems"][0]["pointer"] == "/actions"


@pytest.mark.parametrize(
    ("field", "given"),
    [
        ("start_at", "9999-12-31T23:59:59-14:00"),
        ("start_at", "0001-01-01T00:00:00+14:00"),
        ("start_at", "9999-12-31T23:00:00Z"),
        ("requester", "\ud800"),
    ],
)
def test_a_start_time_past_the_calendar_or_a_requester_no_one_can_be_is_refused_at_its_field(
    dana: tuple[FlaskClient, str], field: str, given: str
) -> None:
    """Each was a 500: the clocks overflowed, the name could not be encoded."""
    client, csrf_token = dana

    answer = simulate(client, {"document": INCIDENT, "data": START, field: given}, csrf_token)

    assert answer.status_code == 422, answer.json
    assert answer.json["problems"][0]["pointer"] == f"/{field}"


def test_start_data_that_does_not_fill_the_form_is_refused_at_its_field(
    dana: tuple[FlaskClient, str],
) -> None:
    client, csrf_token = dana

    answer = simulate(client, {"document": INCIDENT, "data": {"impact": "huge"}}, csrf_token)

    assert answer.status_code == 422
    assert "impact" in answer.json["message"]


def test_a_key_that_is_no_workflow_key_is_not_found(dana: tuple[FlaskClient, str]) -> None:
    client, csrf_token = dana
    response = client.post(
        "/designer/api/workflows/Not%20A%20Key/simulate",
        json={"document": INCIDENT},
        headers={"X-CSRFToken": csrf_token},
    )
    assert response.status_code == 404


def test_without_a_document_the_saved_draft_is_simulated(dana: tuple[FlaskClient, str]) -> None:
    client, csrf_token = dana
    # it-incident has no draft yet: its latest version stands for it.
    answer = simulate(client, {"data": START}, csrf_token)

    assert answer.status_code == 200
    assert answer.json["path"] == ["categorize", "route", "work"]


def test_a_start_forms_service_field_is_filled_in_with_a_service_of_the_catalogue(
    dana: tuple[FlaskClient, str], database: Database, commands: Commands
) -> None:
    """As a person is filled in with a user, a required service field gets a service the
    catalogue holds: an example text would be refused, and an empty answer too."""
    report = json.loads((PACK / "forms" / "incident-report.json").read_text())
    report["key"] = "outage-report"
    for spec in report["fields"]:
        if spec["key"] == "affected_service":
            spec["required_if"] = {"field": "impact", "op": "eq", "value": "high"}
    with database.writer_session() as session, session.begin():
        publish_all(session, [Document(Path("outage-report.json"), report)], utcnow(), "dana")
    Catalogue(commands).save_service(
        "payments", {"name": "Payments", "start_data": {}}, actor=None, create=True
    )
    document = copy.deepcopy(INCIDENT)
    document["start"]["form"] = "outage-report"  # filed by its service, as shipped
    client, csrf_token = dana
    answer = simulate(client, {"document": document, "data": START}, csrf_token)

    assert answer.status_code == 200, answer.json
    assert answer.json["path"] == ["categorize", "route", "work"]
    assert answer.json["data"]["affected_service"] == "payments"
