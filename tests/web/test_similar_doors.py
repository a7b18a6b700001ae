"""Similar incidents at every door (the incident page, the API, the command line), and the
public self-help endpoint: what it answers, what it never says, and its rate limit."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from engine.service.commands import Commands
from engine.service.people import ensure_user
from engine.service.tokens import issue_token
from engine.store.database import Database
from tests.infrastructure import Clock
from tests.similar_seeds import (
    link_problem,
    open_incident,
    problem,
    resolved_incident,
)
from tests.web.test_inbox import make_team, section, signed_in
from web.cli import main

RESOLUTION = "Updated the VPN client to 5.2."
WORKAROUND = "Connect through the office Wi-Fi until the client is updated."
ROOT_CAUSE = "The VPN concentrator drops idle tunnels after 3600 s"
Headers = Callable[[str], dict[str, str]]


@pytest.fixture
def world(commands: Commands, clock: Clock) -> tuple[str, str, str]:
    """A resolved VPN incident linked to a known error, and rita's new one like it (rita and
    zoe are requesters; everyone else of the pack's team works the desk)."""
    with commands.database.writer_session() as session, session.begin():
        for requester in ("rita", "zoe"):
            ensure_user(session, requester, clock(), roles=["requester"])
    known = problem(
        commands, "VPN drops every hour", WORKAROUND, root_cause=ROOT_CAUSE, publish=True
    )
    past = resolved_incident(
        commands,
        "VPN connection drops every hour",
        "The VPN client disconnects after an hour.",
        category="network",
        resolution=RESOLUTION,
    )
    link_problem(commands, past, known, clock())
    subject = open_incident(
        commands, "VPN drops again", "It disconnects every hour.", "rita", category="network"
    )
    return subject, past, known


@pytest.fixture
def auth(database: Database, clock: Clock, world: tuple[str, str, str]) -> Headers:
    """Bearer headers of erin (network agent), rita (requester of the incident), zoe."""
    with database.writer_session() as session, session.begin():
        tokens = {
            who: issue_token(session, who, "tests", clock())[1] for who in ("erin", "rita", "zoe")
        }
    return lambda username: {"Authorization": f"Bearer {tokens[username]}"}


def test_an_agent_sees_similar_incidents_on_the_incident_page_and_a_requester_does_not(
    app: Flask, database: Database, commands: Commands, clock: Clock, world: tuple[str, str, str]
) -> None:
    subject, past, known = world
    make_team(app, database, commands, clock)

    panel = section(signed_in(app, "erin").get(f"/instances/{subject}").text, "similar-title")
    assert f'href="/instances/{past}"' in panel
    assert "VPN connection drops every hour" in panel
    assert RESOLUTION in panel
    assert "Same category" in panel
    assert f'href="/instances/{known}"' in panel
    assert WORKAROUND in panel

    theirs = signed_in(app, "rita").get(f"/instances/{subject}")
    assert theirs.status_code == 200
    assert 'id="similar-title"' not in theirs.text


def test_the_api_answers_similar_incidents_to_the_desk_and_refuses_the_rest(
    client: FlaskClient, auth: Headers, world: tuple[str, str, str]
) -> None:
    subject, past, known = world
    path = f"/api/v1/instances/{subject}/similar"

    answer = client.get(path, headers=auth("erin"))
    assert answer.status_code == 200, answer.json
    assert answer.json["number"] == subject
    [item] = answer.json["items"]
    assert (item["number"], item["resolution"], item["resolved_by"]) == (past, RESOLUTION, "erin")
    assert item["problem"] == {
        "number": known,
        "title": "VPN drops every hour",
        "status": "known_error",
        "workaround": WORKAROUND,
    }
    assert client.get(path, headers=auth("rita")).status_code == 403  # hers, but not the desk
    assert client.get(path, headers=auth("zoe")).status_code == 404
    assert (
        client.get("/api/v1/instances/INC-999999/similar", headers=auth("erin")).status_code == 404
    )
    refused = client.get(f"{path}?limit=0", headers=auth("erin"))
    assert refused.status_code == 400
    assert refused.json["errors"][0]["field"] == "limit"
    assert client.get(path).status_code == 401


def test_the_command_line_lists_similar_incidents_with_the_services_rules(
    database_url: str, monkeypatch: pytest.MonkeyPatch, world: tuple[str, str, str]
) -> None:
    subject, past, known = world
    monkeypatch.setenv("FLOWDESK_DATABASE_URL", database_url)
    runner = CliRunner()

    listed = runner.invoke(main, ["similar", subject, "--as", "erin"])
    assert listed.exit_code == 0, listed.output
    assert f"{past}  resolved   VPN connection drops every hour  [same category]" in listed.output
    assert f"resolved by erin 2026-11-23 08:00 UTC after less than a minute: {RESOLUTION}" in (
        listed.output
    )
    assert f"problem {known} (known error): VPN drops every hour; workaround: {WORKAROUND}" in (
        listed.output
    )
    refused = runner.invoke(main, ["similar", subject, "--as", "rita"])
    assert refused.exit_code == 3
    assert "only the service desk sees similar incidents" in refused.output
    assert runner.invoke(main, ["similar", "INC-999999", "--as", "erin"]).exit_code == 4


def test_the_public_self_help_answers_a_published_title_and_workaround_and_nothing_else(
    client: FlaskClient, world: tuple[str, str, str]
) -> None:
    subject, past, known = world
    answer = client.post("/api/v1/self-help", json={"text": "My VPN drops every hour"})

    assert answer.status_code == 200
    assert answer.json == {"answers": [{"title": "VPN drops every hour", "workaround": WORKAROUND}]}
    for secret in (known, past, subject, "erin", "bob", ROOT_CAUSE, "PRB", "INC-"):
        assert secret not in answer.text
    assert client.post("/api/v1/self-help", json={"text": "concentrator idle tunnels"}).json == {
        "answers": []
    }


def test_self_help_refuses_what_it_cannot_read_and_changes_nothing(client: FlaskClient) -> None:
    missing = client.post("/api/v1/self-help", json={})
    assert missing.status_code == 422
    assert missing.json["errors"][0]["pointer"] == "/text"
    too_long = client.post("/api/v1/self-help", json={"text": "x" * 4001})
    assert too_long.status_code == 422
    assert client.post("/api/v1/self-help", data="text=vpn").status_code == 400


@pytest.mark.parametrize("settings", [{"SELF_HELP_RATE_LIMIT": "2 per minute"}])
def test_self_help_is_rate_limited_per_address(client: FlaskClient) -> None:
    for _ in range(2):
        assert client.post("/api/v1/self-help", json={"text": "printer"}).status_code == 200
    limited = client.post("/api/v1/self-help", json={"text": "printer"})
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) >= 1


def test_the_public_form_offers_self_help_to_its_script_and_needs_none(client: FlaskClient) -> None:
    page = client.get("/new/it-incident").text
    assert 'data-self-help-url="/api/v1/self-help"' in page
    assert 'data-self-help-fields="summary description"' in page
    assert '<script type="module" src="/static/self_help.js"></script>' in page
    assert "<script>" not in page  # no inline script: the CSP allows none
