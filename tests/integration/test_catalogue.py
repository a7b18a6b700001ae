"""The service catalogue and its integrations: admins only, bad input refused with where and why.

Proved through the service (as the admin page and the API call it) and through the
command line (the operator's door, no actor).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from engine.catalog import Document
from engine.service.catalogue import Catalogue
from engine.service.commands import Commands
from engine.service.definitions import publish_all
from engine.service.errors import Conflict, InvalidInput, NotAllowed, NotFound
from engine.service.people import ensure_user
from engine.store.database import Database
from engine.store.services import Integration, Service
from tests.infrastructure import PACK
from tests.web.test_services_api import on_call
from web.cli import main

START = {"name": "Monitoring", "email": "m@example.org", "category": "hardware", "impact": "low",
         "urgency": "low"}  # fmt: skip


@pytest.fixture
def catalogue(commands: Commands, database: Database) -> Catalogue:
    with database.writer_session() as session, session.begin():
        ensure_user(session, "ada", commands.clock(), roles=["admin"])
    return Catalogue(commands)


def _count(database: Database, table: type) -> int:
    with database.reading() as session:
        return int(session.scalar(select(func.count()).select_from(table)) or 0)


def test_an_admin_adds_a_service_with_its_on_call_keys_and_default_rules(
    catalogue: Catalogue, commands: Commands
) -> None:
    on_call(commands)  # a service names only a schedule and a policy that exist
    fields = {
        "name": "Payments",
        "owner_group": "service-desk",
        "schedule_key": "payments-primary",
        "policy_key": "payments-escalation",
        "calendar": "office",
        "start_data": START,
    }
    row = catalogue.save_service("payments", fields, actor="ada", create=True)
    assert row.workflow_key == "it-incident"
    rules = row.severity_rules
    assert [rules[word] for word in ("critical", "error", "warning", "info")] == [
        "P1",
        "P2",
        "P3",
        "P4",
    ]
    assert (row.severity_rules["disaster"], row.severity_rules["sev3"]) == ("P1", "P4")
    assert (row.schedule_key, row.policy_key) == ("payments-primary", "payments-escalation")
    changed = catalogue.save_service("payments", {"refire": "reopen"}, actor="ada", create=False)
    assert changed.refire == "reopen"
    assert changed.name == "Payments"  # what was not given stays


def test_only_an_admin_changes_the_catalogue(catalogue: Catalogue, database: Database) -> None:
    with pytest.raises(NotAllowed, match="only an admin"):
        catalogue.save_service("payments", {"name": "Payments"}, actor="bob", create=True)
    catalogue.save_service("payments", {"name": "Payments"}, actor="ada", create=True)
    with pytest.raises(NotAllowed):
        catalogue.add_integration("payments", "alertmanager", "prod", actor="bob")
    with pytest.raises(NotAllowed):
        catalogue.delete_service("payments", actor="bob")
    assert _count(database, Integration) == 0
    assert _count(database, Service) == 1


def test_bad_fields_are_refused_each_saying_where_and_nothing_is_kept(
    catalogue: Catalogue, database: Database
) -> None:
    fields = {
        "name": "",
        "owner_group": "nobody-here",
        "workflow_key": "no-such-flow",
        "severity_rules": {"critical": 1},
        "refire": "sometimes",
        "colour": "red",
    }
    with pytest.raises(InvalidInput) as refused:
        catalogue.save_service("Bad Key!", fields, actor="ada", create=True)
    pointers = {problem.pointer for problem in refused.value.problems}
    assert pointers >= {
        "/key",
        "/name",
        "/owner_group",
        "/workflow_key",
        "/severity_rules",
        "/refire",
        "/colour",
    }
    assert _count(database, Service) == 0


@pytest.mark.parametrize(
    ("fields", "pointer"),
    [
        ({"severity_rules": {"a\u0000": "P1"}}, "/severity_rules"),
        ({"severity_rules": {"x" * 10_000: "P1"}}, "/severity_rules"),
        ({"severity_rules": {f"s{n}": "P1" for n in range(5_000)}}, "/severity_rules"),
        ({"severity_rules": {"critical": "P1\nP2"}}, "/severity_rules"),
        ({"description": "Bell\u0007"}, "/description"),
    ],
    ids=["nul", "long word", "5000 rules", "line break", "control"],
)
def test_a_service_holding_what_no_alert_or_page_should_is_refused_at_its_field(
    catalogue: Catalogue,
    database: Database,
    fields: dict[str, Any],
    pointer: str,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The command line stored a NUL in a rule (PostgreSQL cannot); the API took control
    characters, 10,000-character words and 5,000 rules."""
    with pytest.raises(InvalidInput) as refused:
        catalogue.save_service("vpn", {"name": "VPN", **fields}, actor="ada", create=True)
    assert [problem.pointer for problem in refused.value.problems] == [pointer]
    monkeypatch.setenv("FLOWDESK_DATABASE_URL", database_url)
    if "severity_rules" in fields:
        args = ["service", "add", "vpn", "--name", "VPN"]
        args += ["--severity-rules", json.dumps(fields["severity_rules"])]
        added = CliRunner().invoke(main, args)
        assert added.exit_code == 1, added.output
    assert _count(database, Service) == 0


def test_a_service_another_services_start_data_names_is_not_removed(
    catalogue: Catalogue, commands: Commands, database: Database
) -> None:
    """An outage report that also asks which service caused it: a service whose alerts
    answer "the VPN" keeps the VPN in the catalogue (each alert would be refused)."""
    report = json.loads((PACK / "forms" / "incident-report.json").read_text())
    report["key"] = "outage-report"
    report["fields"].append({"key": "caused_by", "type": "service", "label": "Caused by"})
    flow = json.loads((PACK / "it-incident.json").read_text())
    flow.update(key="outage", start={**flow["start"], "form": "outage-report"})
    documents = [Document(Path("outage-report.json"), report), Document(Path("outage.json"), flow)]
    with database.writer_session() as session, session.begin():
        publish_all(session, documents, commands.clock(), "test")
    catalogue.save_service("vpn", {"name": "VPN", "start_data": {}}, actor="ada", create=True)
    fields = {
        "name": "Payments",
        "workflow_key": "outage",
        "start_data": {**START, "caused_by": "vpn"},
    }
    catalogue.save_service("payments", fields, actor="ada", create=True)

    with pytest.raises(Conflict, match="named by the start data of the service 'payments'"):
        catalogue.delete_service("vpn", actor="ada")
    assert _count(database, Service) == 2
    catalogue.save_service("payments", {"start_data": START}, actor="ada", create=False)
    catalogue.delete_service("vpn", actor="ada")
    assert _count(database, Service) == 1


def test_a_service_key_is_taken_once_and_integrations_need_a_known_kind(
    catalogue: Catalogue,
) -> None:
    catalogue.save_service("payments", {"name": "Payments"}, actor="ada", create=True)
    with pytest.raises(Conflict):
        catalogue.save_service("payments", {"name": "Again"}, actor="ada", create=True)
    with pytest.raises(NotFound):
        catalogue.save_service("nothing", {"name": "X"}, actor="ada", create=False)
    with pytest.raises(InvalidInput, match="choose one of"):
        catalogue.add_integration("payments", "nagios", "old", actor="ada")
    with pytest.raises(InvalidInput, match="needs a mapping"):
        catalogue.add_integration("payments", "generic", "chat", actor="ada")
    with pytest.raises(InvalidInput, match="only a Grafana integration"):
        catalogue.add_integration("payments", "pagerduty", "pd", actor="ada", secret="x")


def test_a_token_is_shown_once_and_only_its_hash_is_kept(
    catalogue: Catalogue, database: Database
) -> None:
    fields = {"name": "Payments", "start_data": START}
    catalogue.save_service("payments", fields, actor="ada", create=True)
    found, token = catalogue.add_integration("payments", "pagerduty", "pd", actor="ada")
    assert len(token) == 32  # a PagerDuty routing key's length
    with database.reading() as session:
        row = session.get(Integration, found)
        assert row is not None
        assert token not in (row.token_hash, row.secret)


def test_the_command_line_keeps_the_catalogue_by_the_same_rules(
    commands: Commands, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOWDESK_DATABASE_URL", database_url)
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(main, list(args))
        assert result.exit_code == code, result.output
        return result.output

    start = json.dumps(START)
    assert "added" in run("service", "add", "payments", "--name", "Payments", "--start-data", start)
    assert "there is no group 'ghosts'" in run(
        "service", "set", "payments", "--owner-group", "ghosts", code=1
    )
    assert "payments\tPayments" in run("service", "list")
    made = run("integration", "add", "payments", "alertmanager", "prom")
    assert "/intake/alertmanager" in made
    assert "alertmanager\tprom\tactive" in run("integration", "list", "payments")
    integration_id = made.split()[1].rstrip(":")
    run("integration", "revoke", integration_id)
    assert "revoked" in run("integration", "list")
