"""Hostile input to the workflow designer's API: a clear refusal, nothing stored, the service alive.

What the rest of the service refuses (ADR 30, issue 15's hostile corpus) must be refused
here too: the designer's calls read JSON, check documents and run the runtime on them.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from flask.testing import FlaskClient

from engine.service.commands import Commands
from engine.service.people import ensure_user
from engine.store.database import Database
from tests.infrastructure import give_password
from tests.web.test_admin import PASSWORD, sign_in
from tests.web.test_simulation_api import INCIDENT, START, token

Client = tuple[FlaskClient, str]


@pytest.fixture
def dana(client: FlaskClient, database: Database, commands: Commands) -> Client:
    """dana, a designer, signed in, with the CSRF token of her pages."""
    with database.writer_session() as session, session.begin():
        ensure_user(session, "dana", commands.clock(), name="Dana", roles=["designer"])
        give_password(session, "dana", PASSWORD)
    assert sign_in(client, "dana").status_code == 302
    return client, token(client)


def post(client: Client, path: str, body: bytes | Any) -> Any:
    flask_client, token = client
    headers = {"X-CSRFToken": token, "Content-Type": "application/json"}
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return flask_client.post(f"/designer/api/workflows{path}", data=data, headers=headers)


def test_json_nested_ten_thousand_deep_is_a_400_that_says_so(dana: Client) -> None:
    deep = b'{"document": ' + b"[" * 10_000 + b"]" * 10_000 + b"}"
    for path in ("/it-incident/check", "/it-incident/simulate"):
        answer = post(dana, path, deep)
        assert answer.status_code == 400, path
        assert answer.json["code"] == "bad_json"
        assert "not valid JSON" in answer.json["message"]


def test_nan_and_infinity_are_refused_where_the_json_is_read(dana: Client) -> None:
    for text in (b'{"data": {"cost": NaN}, "actions": []}', b'{"data": {"cost": 1e9999}}'):
        answer = post(dana, "/it-incident/simulate", text)
        assert answer.status_code == 400, text
        assert answer.json["code"] == "bad_json"


@pytest.mark.parametrize(
    "condition",
    [
        "'x' * 10**9 == 'x'",
        "{'join': 'x'.center}.join(10**9)",
        "'{0:>999999999}'.format(1) == ''",
        "10**1000 > 1",
    ],
)
def test_an_expression_that_would_exhaust_the_service_is_refused_by_the_check(
    dana: Client, condition: str
) -> None:
    document = copy.deepcopy(INCIDENT)
    document["steps"]["route"]["branches"][0]["when"] = condition
    checked = post(dana, "/it-incident/check", {"document": document})
    assert checked.status_code == 200
    pointers = [problem["pointer"] for problem in checked.json["problems"]]
    assert "/steps/route/branches/0/when" in pointers, checked.json["problems"]
    simulated = post(
        dana, "/it-incident/simulate", {"document": document, "data": START, "actions": []}
    )
    assert simulated.json["ok"] is False  # not run: the draft has problems
    assert post(dana, "/it-incident/check", {"document": INCIDENT}).json["ok"] is True


def test_what_only_the_data_makes_hostile_stops_the_simulated_step_on_an_incident(
    dana: Client,
) -> None:
    # The checker cannot know how long the summary will be; the runtime's budget does.
    document = copy.deepcopy(INCIDENT)
    document["steps"]["route"]["branches"][0]["when"] = "(summary * 100000) * 100000 == ''"
    assert post(dana, "/it-incident/check", {"document": document}).json["ok"] is True
    answer = post(dana, "/it-incident/simulate", {"document": document, "data": START})
    assert answer.status_code == 200
    (stopped,) = [event for event in answer.json["timeline"] if event["kind"] == "incident"]
    assert stopped["step"] == "route"
    assert "built a text longer than 100,000 characters" in stopped["text"]
    assert answer.json["tasks"] == []  # the step waits for the cause to be mended
    assert post(dana, "/it-incident/check", {"document": INCIDENT}).json["ok"] is True


def test_a_clock_jumped_by_years_is_refused_and_by_a_century_ends(
    dana: Client,
) -> None:
    years = post(
        dana,
        "/it-incident/simulate",
        {"data": START, "document": INCIDENT, "actions": [{"advance": "P10000Y"}]},
    )
    assert years.json["error"] == {
        "action": 0,
        "message": "the clock cannot move on by that: 'P10000Y' counts months or years, which "
        "have no fixed length; use days or weeks",
    }
    # A century of a reminder every minute: a ladder repeats at most 100 times, so the
    # replay ends, every repeat on the timeline and none left to come.
    document = copy.deepcopy(INCIDENT)
    document["steps"]["work"]["escalate"] = [
        {"after": "PT1M", "repeat": {"every": "PT1M", "limit": 100}, "do": [{"remind": "assignee"}]}
    ]
    century = post(
        dana,
        "/it-incident/simulate",
        {"data": START, "document": document, "actions": [{"advance": "P36500D"}]},
    )
    assert century.status_code == 200
    assert "error" not in century.json, century.json["error"]
    fired = [e for e in century.json["timeline"] if e["kind"] == "escalated"]
    assert len(fired) == 101
    assert [t for t in century.json["timers"] if t["kind"] == "escalation"] == []


def test_a_huge_workflow_is_checked_not_refused_for_its_size(dana: Client) -> None:
    steps: dict[str, Any] = {
        f"s{n}": {"type": "action", "set": {"n": {"value": n}}, "next": f"s{n + 1}"}
        for n in range(2_000)
    }
    steps["s2000"] = {"type": "end"}
    document = {
        "kind": "workflow",
        "format": 1,
        "key": "big",
        "title": "Big",
        "first": "s0",
        "steps": steps,
    }
    checked = post(dana, "/big/check", {"document": document})
    assert checked.status_code == 200
    assert set(checked.json["fields_at"]) >= {"s0", "s1999"}
