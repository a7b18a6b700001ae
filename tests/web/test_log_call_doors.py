"""Logging a call through the API and the command line: the same service rule as the page.

Only the service desk logs calls; the channel must be one of the five; a caller without an
account gets a tracking link (mailed to their address, and in the answer to read out); a
refused call stores nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from engine.service.commands import Commands
from engine.service.people import ensure_user
from engine.service.requests import token_hash
from engine.service.tokens import issue_token
from engine.store.database import Database
from engine.store.instances import Instance, Outbox, TrackingLink
from engine.store.people import User
from tests.infrastructure import INCIDENT
from web.cli import main

CALL = {"workflow": "it-incident", "data": INCIDENT, "channel": "phone"}
Headers = Callable[[str], dict[str, str]]


@pytest.fixture
def auth(database: Database, commands: Commands) -> Headers:
    """Bearer headers of dan (an agent) and rita (a requester only)."""
    now = datetime.now(UTC)
    with database.writer_session() as session, session.begin():
        ensure_user(session, "rita", now, roles=["requester"])
        tokens = {name: issue_token(session, name, "tests", now)[1] for name in ("dan", "rita")}
    return lambda username: {"Authorization": f"Bearer {tokens[username]}"}


def instances(database: Database) -> list[Instance]:
    with database.reading() as session:
        return list(session.scalars(select(Instance)))


def mails_to(database: Database, address: str) -> list[dict[str, Any]]:
    with database.reading() as session:
        rows = session.scalars(select(Outbox)).all()
        return [row.payload for row in rows if address in str(row.payload)]


def test_an_agent_logs_a_phone_call_for_a_caller_without_an_account_through_the_api(
    client: FlaskClient,
    auth: Headers,
    database: Database,
) -> None:
    caller = {"name": "Carla Caller", "email": "carla@example.org", "phone": "+31 20 555 0100"}
    answer = client.post("/api/v1/calls", json={**CALL, "caller": caller}, headers=auth("dan"))
    assert answer.status_code == 201, answer.json
    number, link = answer.json["number"], answer.json["tracking_link"]
    assert answer.headers["Location"].endswith(f"/api/v1/instances/{number}")
    assert "/track/" in link
    (logged,) = instances(database)
    assert (logged.number, logged.channel, logged.logged_by) == (number, "phone", "dan")
    assert logged.caller == caller
    (mail,) = mails_to(database, "carla@example.org")
    assert link in str(mail)
    # The link opens the caller's tracking page.
    assert client.get(link.split("localhost", 1)[-1]).status_code == 200


def test_a_caller_is_named_once_and_one_with_only_a_phone_number_can_be_logged(
    client: FlaskClient, auth: Headers, database: Database
) -> None:
    report = {k: v for k, v in INCIDENT.items() if k not in ("name", "email")}
    caller = {"name": "Sid Caller", "phone": "+44 20 7946 0000"}
    answer = client.post(
        "/api/v1/calls",
        json={**CALL, "channel": "sms", "data": report, "caller": caller},
        headers=auth("dan"),
    )
    assert answer.status_code == 201, answer.json
    mailed = {**caller, "email": "sid@example.org"}
    again = client.post(
        "/api/v1/calls", json={**CALL, "data": report, "caller": mailed}, headers=auth("dan")
    )
    assert again.status_code == 201, again.json
    by_phone, by_mail = sorted(instances(database), key=lambda i: i.id)
    assert by_phone.state["data"]["name"] == "Sid Caller"
    assert "email" not in by_phone.state["data"]
    assert by_phone.state["data"]["source"] == "sms"
    assert by_mail.state["data"]["email"] == "sid@example.org"
    assert by_mail.state["data"]["source"] == "phone"
    # On the public form the address is still asked for.
    page = client.get("/new/it-incident")
    hidden = dict(
        re.findall(r'name="(csrf_token|submission|form_version)" value="([^"]*)"', page.text)
    )
    refused = client.post("/new/it-incident", data={**hidden, **report, "name": "Ann"})
    assert refused.status_code == 422
    # Its hidden source is the portal's, whatever the post says: changed by hand, it neither
    # lets a report through without an address nor records the report as a phone call.
    forged = {**hidden, **report, "name": "Ann", "source": "phone"}
    assert client.post("/new/it-incident", data=forged).status_code == 422
    sent = client.post("/new/it-incident", data={**forged, "email": "ann@example.org"})
    assert sent.status_code == 303
    reported = max(instances(database), key=lambda i: i.id)
    assert reported.state["data"]["source"] == "portal"


def test_a_call_is_recorded_as_its_channel_whatever_the_data_says_of_its_source(
    client: FlaskClient, auth: Headers, database: Database
) -> None:
    """The log-a-call page posts the form's hidden `source` as it stands (portal): the
    call's channel is what the instance records, and a caller with a phone only is logged."""
    report = {k: v for k, v in INCIDENT.items() if k not in ("name", "email")}
    caller = {"name": "Sid Caller", "phone": "+44 20 7946 0000"}
    answer = client.post(
        "/api/v1/calls",
        json={**CALL, "data": {**report, "source": "portal"}, "caller": caller},
        headers=auth("dan"),
    )
    assert answer.status_code == 201, answer.json
    (logged,) = instances(database)
    assert logged.state["data"]["source"] == "phone"


def test_a_script_starting_a_request_is_its_source_unless_it_says_another(
    client: FlaskClient, auth: Headers, database: Database
) -> None:
    for data in (INCIDENT, {**INCIDENT, "source": "monitoring"}):
        started = client.post(
            "/api/v1/instances", json={"workflow": "it-incident", "data": data}, headers=auth("dan")
        )
        assert started.status_code == 201, started.json
    assert [i.state["data"]["source"] for i in sorted(instances(database), key=lambda i: i.id)] == [
        "api",
        "monitoring",
    ]


def test_a_call_logged_for_a_user_makes_them_the_requester_and_needs_no_link(
    client: FlaskClient,
    auth: Headers,
    database: Database,
) -> None:
    answer = client.post(
        "/api/v1/calls",
        json={**CALL, "channel": "walk_in", "caller": {"user": "alice"}},
        headers=auth("dan"),
    )
    assert answer.status_code == 201, answer.json
    assert answer.json["tracking_link"] is None
    (logged,) = instances(database)
    assert (logged.requester, logged.channel) == ("alice", "walk_in")
    # The user's own name and address fill the report: the desk does not type them.
    report = {k: v for k, v in INCIDENT.items() if k not in ("name", "email")}
    with database.writer_session() as session, session.begin():
        session.execute(
            update(User)
            .where(User.username == "alice")
            .values(name="Alice Adams", email="alice@example.org")
        )
    answer = client.post(
        "/api/v1/calls",
        json={**CALL, "data": report, "caller": {"user": "alice"}},
        headers=auth("dan"),
    )
    assert answer.status_code == 201, answer.json
    second = max(instances(database), key=lambda i: i.id)
    assert (second.state["data"]["name"], second.state["data"]["email"]) == (
        "Alice Adams",
        "alice@example.org",
    )


@pytest.mark.parametrize(
    ("who", "sent", "status", "said"),
    [
        ("rita", {"caller": {"name": "Carla", "email": "c@example.org"}}, 403, "service desk"),
        (
            "dan",
            {"channel": "pigeon", "caller": {"name": "Carla", "phone": "+1 555"}},
            422,
            "channel",
        ),
        ("dan", {"caller": {"user": "nobody-at-all"}}, 422, "nobody-at-all"),
        ("dan", {"caller": {}}, 422, ""),
    ],
)
def test_a_call_the_rules_refuse_is_refused_saying_why_and_stores_nothing(
    client: FlaskClient,
    auth: Headers,
    database: Database,
    who: str,
    sent: dict[str, Any],
    status: int,
    said: str,
) -> None:
    answer = client.post("/api/v1/calls", json={**CALL, **sent}, headers=auth(who))
    assert answer.status_code == status, answer.json
    assert said in str(answer.json)
    assert instances(database) == []


def test_a_call_wrong_in_its_channel_and_its_caller_is_told_both_at_once(
    client: FlaskClient, auth: Headers, database: Database
) -> None:
    sent = {**CALL, "channel": "fax", "caller": {"name": ""}}
    answer = client.post("/api/v1/calls", json=sent, headers=auth("dan"))
    assert answer.status_code == 422, answer.json
    pointers = [error["pointer"] for error in answer.json["errors"]]
    assert "/channel" in pointers
    assert "/caller/name" in pointers
    assert instances(database) == []


def test_the_command_line_logs_a_call_and_refuses_one_the_rules_refuse(
    database: Database, database_url: str, commands: Commands, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOWDESK_DATABASE_URL", database_url)
    monkeypatch.setenv("FLOWDESK_BASE_URL", "https://desk.example.org")
    runner = CliRunner()
    args = ["log-call", "it-incident", "--as", "dan", "--data", json.dumps(INCIDENT)]
    done = runner.invoke(main, [*args, "--channel", "sms", "--caller-name", "Sid",
                                "--caller-phone", "+44 20 7946 0000"])  # fmt: skip
    assert done.exit_code == 0, done.output
    number, link_line = done.output.strip().splitlines()
    assert link_line.startswith("tracking link: https://desk.example.org/track/")
    (logged,) = instances(database)
    assert (logged.number, logged.channel, logged.logged_by) == (number, "sms", "dan")

    refused = runner.invoke(main, [*args, "--channel", "fax", "--caller", "alice"])
    assert refused.exit_code == 1, refused.output
    assert "'fax' is not a channel" in refused.output
    with database.writer_session() as session, session.begin():
        ensure_user(session, "rita", datetime.now(UTC), roles=["requester"])
    not_desk = runner.invoke(
        main, ["log-call", "it-incident", "--as", "rita", "--channel", "phone",
               "--caller", "alice", "--data", json.dumps(INCIDENT)],
    )  # fmt: skip
    assert not_desk.exit_code == 3, not_desk.output
    with database.reading() as session:
        assert session.scalar(select(func.count()).select_from(Instance)) == 1


def test_a_call_logged_again_with_its_key_prints_the_same_working_link(
    database: Database, database_url: str, commands: Commands, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOWDESK_DATABASE_URL", database_url)
    monkeypatch.setenv("FLOWDESK_BASE_URL", "https://desk.example.org")
    monkeypatch.setenv("FLOWDESK_SECRET_KEY", "the app's secret")
    args = ["log-call", "it-incident", "--as", "dan", "--channel", "phone", "--caller-name",
            "Sid", "--caller-phone", "+44 20 7946 0000", "--data", json.dumps(INCIDENT),
            "--key", "call-42"]  # fmt: skip
    first = CliRunner().invoke(main, args)
    again = CliRunner().invoke(main, args)
    assert first.exit_code == again.exit_code == 0, first.output + again.output
    assert first.output == again.output
    token = first.output.strip().splitlines()[-1].rsplit("/track/", 1)[1]
    with database.reading() as session:
        assert session.scalar(select(func.count()).select_from(Instance)) == 1
        kept = session.scalars(select(TrackingLink.token_hash)).all()
    assert kept == [token_hash(token)]


@pytest.mark.parametrize(
    "name", ["Mallory\x1b[2J", "Mallory\n  Mon 09:00 closed by admin: FAKE", "Mal\u2028lory"]
)
def test_a_callers_name_with_a_line_break_or_a_control_character_is_refused_at_each_door(
    client: FlaskClient,
    auth: Headers,
    database: Database,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
) -> None:
    """Kept, such a name forged a timeline line wherever it was shown (`flowdesk show`)."""
    caller = {"name": name, "phone": "+31 20 555 0100"}
    answer = client.post("/api/v1/calls", json={**CALL, "caller": caller}, headers=auth("dan"))
    assert answer.status_code == 422, answer.json
    assert answer.json["errors"][0]["pointer"] == "/caller/name"
    monkeypatch.setenv("FLOWDESK_DATABASE_URL", database_url)
    args = ["log-call", "it-incident", "--as", "dan", "--channel", "phone"]
    args += ["--caller-name", name, "--caller-phone", "+31 20 555 0100"]
    args += ["--data", json.dumps({k: v for k, v in INCIDENT.items() if k not in ("name",)})]
    logged = CliRunner().invoke(main, args)
    assert logged.exit_code == 1, logged.output
    assert "a name is one line, without control characters" in logged.output
    assert instances(database) == []
