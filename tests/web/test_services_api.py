"""The service catalogue's API, and the on-call keys a service names, through every door.

The rules are the catalogue's (`engine.service.catalogue`): anyone with a token reads the
catalogue, only admins change it; a service names only an on-call schedule and an
escalation policy that exist, and bad input is refused saying where, changing nothing. The
key checks are proved here through the API, the admin page and the command line.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from engine.service.catalogue import Catalogue
from engine.service.commands import Commands
from engine.service.escalation_policies import EscalationPolicies
from engine.service.mail_intake import MailIntake
from engine.service.oncall import Schedules
from engine.service.people import ensure_user
from engine.service.tokens import issue_token
from engine.store.database import Database
from engine.store.files import FileStore
from engine.store.services import Integration, Service
from tests.infrastructure import Clock
from tests.letters import DEFAULTS
from tests.web.test_inbox import make_team, post, signed_in
from web.cli import main

Headers = Callable[[str], dict[str, str]]
PAYMENTS = {
    "name": "Payments",
    "owner_group": "service-desk",
    "schedule_key": "payments-primary",
    "policy_key": "payments-escalation",
    "start_data": {"name": "Monitoring", "email": "m@example.org", "category": "hardware",
                   "impact": "medium", "urgency": "medium"},
}  # fmt: skip


def on_call(
    commands: Commands, schedule: str = "payments-primary", policy: str = "payments-escalation"
) -> None:
    """Make an on-call schedule (ada on call) and an escalation policy paging it."""
    layer = {
        "name": "Primary",
        "members": ["ada"],
        "rotation": "weekly",
        "handoff": "09:00",
        "start": "2026-11-23",
    }
    Schedules(commands).save(schedule, time_zone="UTC", layers=[layer], actor=None)
    document = {"levels": [{"notify": [{"schedule": schedule}], "after": "PT10M"}]}
    EscalationPolicies(commands).save(policy, document, actor=None)


def _services(database: Database) -> list[tuple[str, str, str | None, str | None]]:
    with database.reading() as session:
        rows = session.execute(
            select(Service.key, Service.name, Service.schedule_key, Service.policy_key).order_by(
                Service.key
            )
        )
        return [(key, name, schedule, policy) for key, name, schedule, policy in rows]


@pytest.fixture
def auth(database: Database, commands: Commands) -> Headers:
    now = datetime.now(UTC)
    with database.writer_session() as session, session.begin():
        ensure_user(session, "ada", now, roles=["admin"])
        ensure_user(session, "bob", now, roles=["agent"])
        tokens = {name: issue_token(session, name, "tests", now)[1] for name in ("ada", "bob")}
    on_call(commands)
    return lambda username: {"Authorization": f"Bearer {tokens[username]}"}


def test_an_admin_puts_a_service_then_changes_it_and_anyone_signed_in_reads_it(
    client: FlaskClient, auth: Headers
) -> None:
    made = client.put("/api/v1/services/payments", json=PAYMENTS, headers=auth("ada"))
    assert made.status_code == 201, made.get_json()
    assert made.headers["Location"].endswith("/api/v1/services/payments")
    service = made.get_json()
    assert service["schedule_key"] == "payments-primary"
    assert service["policy_key"] == "payments-escalation"
    assert service["workflow_key"] == "it-incident"  # left out: the default
    assert service["severity_rules"]["critical"] == "P1"
    changed = client.put(
        "/api/v1/services/payments",
        json={"refire": "reopen", "policy_key": None},
        headers=auth("ada"),
    )
    assert changed.status_code == 200
    assert changed.get_json()["refire"] == "reopen"
    assert changed.get_json()["policy_key"] is None  # null clears a key
    assert changed.get_json()["name"] == "Payments"  # left out: kept
    listed = client.get("/api/v1/services", headers=auth("bob")).get_json()
    assert [s["key"] for s in listed["items"]] == ["payments"]
    shown = client.get("/api/v1/services/payments", headers=auth("bob"))
    assert shown.get_json() == changed.get_json()
    assert client.get("/api/v1/services/nothing", headers=auth("bob")).status_code == 404
    assert client.get("/api/v1/services").status_code == 401


def test_a_service_names_only_a_schedule_and_a_policy_that_exist(
    client: FlaskClient, auth: Headers, database: Database
) -> None:
    ghosts = {**PAYMENTS, "schedule_key": "ghost-rota", "policy_key": "ghost-policy"}
    refused = client.put("/api/v1/services/payments", json=ghosts, headers=auth("ada"))
    assert refused.status_code == 422
    errors = {e["pointer"]: e["message"] for e in refused.get_json()["errors"]}
    assert errors == {
        "/schedule_key": "there is no on-call schedule 'ghost-rota'",
        "/policy_key": "there is no escalation policy 'ghost-policy'",
    }
    assert _services(database) == []
    client.put("/api/v1/services/payments", json=PAYMENTS, headers=auth("ada"))
    again = client.put(
        "/api/v1/services/payments", json={"schedule_key": "ghost-rota"}, headers=auth("ada")
    )
    assert again.status_code == 422
    assert [e["pointer"] for e in again.get_json()["errors"]] == ["/schedule_key"]
    assert _services(database) == [
        ("payments", "Payments", "payments-primary", "payments-escalation")
    ]


def test_bad_bodies_and_keys_are_refused_saying_where_and_change_nothing(
    client: FlaskClient, auth: Headers, database: Database
) -> None:
    unknown = client.put(
        "/api/v1/services/payments", json={**PAYMENTS, "colour": "red"}, headers=auth("ada")
    )
    assert unknown.status_code == 422
    assert unknown.get_json()["errors"][0]["pointer"] == ""
    assert "colour" in unknown.get_json()["errors"][0]["message"]
    typed = client.put(
        "/api/v1/services/payments", json={**PAYMENTS, "refire": "always"}, headers=auth("ada")
    )
    assert [e["pointer"] for e in typed.get_json()["errors"]] == ["/refire"]
    bad_key = client.put("/api/v1/services/Not%20a%20key", json=PAYMENTS, headers=auth("ada"))
    assert bad_key.status_code == 422
    assert [e["pointer"] for e in bad_key.get_json()["errors"]] == ["/key"]
    not_json = client.put(
        "/api/v1/services/payments",
        data="{nope",
        headers={**auth("ada"), "Content-Type": "application/json"},
    )
    assert not_json.status_code == 400
    assert _services(database) == []


def test_only_an_admin_puts_or_deletes_and_a_refusal_changes_nothing(
    client: FlaskClient, auth: Headers, database: Database, commands: Commands
) -> None:
    refused = client.put("/api/v1/services/payments", json=PAYMENTS, headers=auth("bob"))
    assert refused.status_code == 403
    assert client.put("/api/v1/services/payments", json=PAYMENTS).status_code == 401
    assert _services(database) == []
    client.put("/api/v1/services/payments", json=PAYMENTS, headers=auth("ada"))
    Catalogue(commands).add_integration("payments", "alertmanager", "prom", actor="ada")
    renamed = client.put("/api/v1/services/payments", json={"name": "Mine"}, headers=auth("bob"))
    assert renamed.status_code == 403
    assert client.delete("/api/v1/services/payments", headers=auth("bob")).status_code == 403
    assert _services(database)[0][1] == "Payments"
    gone = client.delete("/api/v1/services/payments", headers=auth("ada"))
    assert gone.status_code == 204
    assert _services(database) == []
    with database.reading() as session:
        assert session.scalar(select(func.count()).select_from(Integration)) == 0
    assert client.delete("/api/v1/services/payments", headers=auth("ada")).status_code == 404


def test_a_service_a_mailbox_names_is_not_deleted_at_any_door(
    client: FlaskClient,
    auth: Headers,
    database: Database,
    commands: Commands,
    database_url: str,
    tmp_path: Path,
) -> None:
    """A mail bringing a removed service would be refused, each one: a mailbox filing its
    mail under the service, or whose defaults answer the report's service question."""
    client.put("/api/v1/services/vpn", json={"name": "VPN"}, headers=auth("ada"))
    mail = MailIntake(commands, FileStore(tmp_path / "files"))
    mail.save_mailbox("vpn@example.org", "it-incident", service_key="vpn", defaults=DEFAULTS)
    high = {**DEFAULTS, "impact": "high", "affected_service": "vpn"}
    mail.save_mailbox("desk@example.org", "it-incident", defaults=high)

    refused = client.delete("/api/v1/services/vpn", headers=auth("ada"))
    assert refused.status_code == 409
    assert refused.json["message"] == (
        "the service 'vpn' is named by the mailbox vpn@example.org, the defaults of the "
        "mailbox desk@example.org: change it first"
    )
    runner = CliRunner(env={"FLOWDESK_DATABASE_URL": database_url})
    by_cli = runner.invoke(main, ["service", "remove", "vpn"])
    assert by_cli.exit_code == 5, by_cli.output
    assert "is named by the mailbox vpn@example.org" in by_cli.output
    assert [row[0] for row in _services(database)] == ["vpn"]

    mail.save_mailbox("vpn@example.org", "it-incident", defaults=DEFAULTS)
    mail.save_mailbox("desk@example.org", "it-incident", defaults=DEFAULTS)
    assert client.delete("/api/v1/services/vpn", headers=auth("ada")).status_code == 204


def test_the_document_describes_the_catalogue(client: FlaskClient) -> None:
    document: dict[str, Any] = client.get("/api/openapi.json").get_json()
    item = document["paths"]["/api/v1/services/{key}"]
    assert set(item) == {"get", "put", "delete"}
    assert item["put"]["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ServiceFields"
    }
    assert {"201", "200", "403", "422"} <= set(item["put"]["responses"])
    assert "/api/v1/services" in document["paths"]


def test_the_admin_page_refuses_an_unknown_schedule_or_policy(
    app: Flask, database: Database, commands: Commands, clock: Clock
) -> None:
    make_team(app, database, commands, clock)
    on_call(commands)
    ada = signed_in(app, "ada")
    form = {"key": "checkout", "name": "Checkout", "workflow_key": "it-incident", "refire": "new"}
    refused = post(ada, "/admin/services", **form, schedule_key="ghost-rota")
    assert refused.status_code == 422
    assert "There is no on-call schedule &#39;ghost-rota&#39;." in refused.get_data(as_text=True)
    assert _services(database) == []
    made = post(
        ada,
        "/admin/services",
        **form,
        schedule_key="payments-primary",
        policy_key="payments-escalation",
    )
    assert made.status_code == 303
    changed = post(
        ada,
        "/admin/services/checkout",
        **{**form, "schedule_key": "payments-primary", "policy_key": "ghost-policy"},
    )
    assert changed.status_code == 422
    assert "There is no escalation policy &#39;ghost-policy&#39;." in changed.get_data(as_text=True)
    assert _services(database) == [
        ("checkout", "Checkout", "payments-primary", "payments-escalation")
    ]


def test_the_command_line_refuses_an_unknown_schedule_or_policy(
    commands: Commands, database: Database, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOWDESK_DATABASE_URL", database_url)
    with database.writer_session() as session, session.begin():
        ensure_user(session, "ada", commands.clock(), roles=["admin"])
    on_call(commands)
    runner = CliRunner()
    refused = runner.invoke(
        main, ["service", "add", "payments", "--name", "Payments", "--schedule", "ghost-rota"]
    )
    assert refused.exit_code == 1
    assert "there is no on-call schedule 'ghost-rota'" in refused.output
    assert _services(database) == []
    made = runner.invoke(
        main,
        ["service", "add", "payments", "--name", "Payments", "--schedule", "payments-primary"],
    )
    assert made.exit_code == 0, made.output
    changed = runner.invoke(main, ["service", "set", "payments", "--policy", "ghost-policy"])
    assert changed.exit_code == 1
    assert "there is no escalation policy 'ghost-policy'" in changed.output
    assert _services(database) == [("payments", "Payments", "payments-primary", None)]
