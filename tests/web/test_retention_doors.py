"""Retention policies and the archive through the API and the admin page: the same rules.

Anyone with a token reads the policies; only admins set them or read an archived instance;
bad values are refused saying where, and change nothing.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient

from engine.service.commands import Commands
from engine.service.people import ensure_user
from engine.service.retention import Retention
from engine.service.tokens import issue_token
from engine.store.database import Database
from tests.infrastructure import Clock
from tests.integration.test_retention import finished_incident
from tests.web.test_inbox import make_team, post, signed_in

Headers = Callable[[str], dict[str, str]]


@pytest.fixture
def auth(database: Database) -> Headers:
    now = datetime.now(UTC)
    with database.writer_session() as session, session.begin():
        ensure_user(session, "ada", now, roles=["admin"])
        ensure_user(session, "bob", now, roles=["agent"])
        tokens = {name: issue_token(session, name, "tests", now)[1] for name in ("ada", "bob")}
    return lambda username: {"Authorization": f"Bearer {tokens[username]}"}


def archived_incident(commands: Commands, database: Database, clock: Clock) -> str:
    number = finished_incident(commands, database)
    Retention(commands).set_policy("it-incident", "archive", 1, actor=None)
    clock.advance(days=2)
    assert Retention(commands).apply().archived == [number]
    return number


def test_admins_set_policies_through_the_api_and_anyone_signed_in_reads_them(
    client: FlaskClient, auth: Headers
) -> None:
    body = {"action": "archive", "after_days": 365}
    refused = client.put("/api/v1/retention/it-incident", json=body, headers=auth("bob"))
    assert refused.status_code == 403
    made = client.put("/api/v1/retention/it-incident", json=body, headers=auth("ada"))
    assert made.status_code == 200, made.get_json()
    assert (made.get_json()["action"], made.get_json()["after_days"]) == ("archive", 365)
    listed = client.get("/api/v1/retention", headers=auth("bob")).get_json()
    assert [p["workflow_key"] for p in listed["items"]] == ["it-incident"]
    assert client.get("/api/v1/retention/major-incident", headers=auth("bob")).get_json()[
        "action"
    ] == ("keep")
    assert client.get("/api/v1/retention/nothing", headers=auth("bob")).status_code == 404


def test_bad_policies_through_the_api_say_where_and_change_nothing(
    client: FlaskClient, auth: Headers, commands: Commands
) -> None:
    out_of_range = client.put(
        "/api/v1/retention/it-incident",
        json={"action": "delete", "after_days": 0},
        headers=auth("ada"),
    )
    assert out_of_range.status_code == 422
    assert out_of_range.get_json()["errors"][0]["pointer"] == "/after_days"
    missing_days = client.put(
        "/api/v1/retention/it-incident", json={"action": "delete"}, headers=auth("ada")
    )
    assert missing_days.status_code == 422
    assert missing_days.get_json()["errors"][0]["pointer"] == "/after_days"
    assert Retention(commands).policies() == []


def test_only_admins_read_an_archived_instance_through_the_api(
    client: FlaskClient, auth: Headers, commands: Commands, database: Database, clock: Clock
) -> None:
    number = archived_incident(commands, database, clock)
    shown = client.get(f"/api/v1/archive/{number}", headers=auth("ada"))
    assert shown.status_code == 200
    assert shown.get_json()["instance"]["status"] == "closed"
    assert client.get(f"/api/v1/archive/{number}", headers=auth("bob")).status_code == 403
    assert client.get("/api/v1/archive/INC-000404", headers=auth("ada")).status_code == 404


def test_the_admin_page_sets_a_policy_and_finds_an_archived_instance(
    app: Flask, database: Database, commands: Commands, clock: Clock
) -> None:
    make_team(app, database, commands, clock)
    number = archived_incident(commands, database, clock)
    ada = signed_in(app, "ada")
    page = ada.get("/admin/retention").get_data(as_text=True)
    assert "major-incident" in page
    assert "Archived 1 day after they end" in page

    bad = post(ada, "/admin/retention/major-incident", action="delete", after_days="0")
    assert bad.status_code == 422
    assert "The days must be between 1 and 36500." in bad.get_data(as_text=True)
    assert Retention(commands).policy("major-incident").action == "keep"
    saved = post(ada, "/admin/retention/major-incident", action="delete", after_days="90")
    assert saved.status_code == 303
    assert Retention(commands).policy("major-incident").after_days == 90

    found = ada.get(f"/admin/retention/archive?number={number}")
    assert found.status_code == 200
    assert f"{number}: " in found.get_data(as_text=True)
    missing = ada.get("/admin/retention/archive?number=INC-000404")
    assert missing.status_code == 404
    assert "No instance INC-000404 is in the archive." in missing.get_data(as_text=True)
    assert signed_in(app, "rita").get("/admin/retention").status_code == 403


def test_an_archived_number_tells_the_service_desk_it_was_archived_and_a_stranger_nothing(
    app: Flask,
    client: FlaskClient,
    auth: Headers,
    commands: Commands,
    database: Database,
    clock: Clock,
) -> None:
    """An old link to an archived incident said "there is nothing here", as if it had never
    been: the desk is told what became of it (410); rita, outside the desk, learns nothing
    from the number (404)."""
    make_team(app, database, commands, clock)
    number = archived_incident(commands, database, clock)
    said = f"{number} was archived on {clock():%Y-%m-%d} by its workflow's retention policy"

    api = client.get(f"/api/v1/instances/{number}", headers=auth("bob"))
    page = signed_in(app, "bob").get(f"/instances/{number}")

    assert (api.status_code, api.get_json()["code"]) == (410, "archived")
    assert api.get_json()["message"].startswith(said)
    assert page.status_code == 410
    assert said in html.unescape(page.get_data(as_text=True))
    assert signed_in(app, "rita").get(f"/instances/{number}").status_code == 404
    with database.writer_session() as session, session.begin():
        rita_token = issue_token(session, "rita", "tests", clock())[1]
    rita = client.get(
        f"/api/v1/instances/{number}", headers={"Authorization": f"Bearer {rita_token}"}
    )
    assert rita.status_code == 404
    typed = client.get(f"/api/v1/instances/{number.lower()}", headers=auth("bob"))
    assert typed.get_json()["message"].startswith(said)  # the number as it is kept
    never = client.get("/api/v1/instances/INC-000404", headers=auth("bob"))
    assert never.status_code == 404
    hostile = client.get("/api/v1/instances/INC%00-1", headers=auth("bob"))
    assert hostile.status_code == 404
