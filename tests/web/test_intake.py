"""Monitoring payloads into incidents, through `POST /intake/<kind>` on the real app.

The payloads are the senders' own documented examples (`tests.intake_payloads`, which
cites where each comes from). Each test proves what an on-call engineer or a sender
would notice: one incident per group or key, alerts appended and kept raw, a resolve
recorded, a re-fire never lost in a closed incident, truncation never taken as
resolution, acknowledgement stopping the response clock, and bad bodies refused with a
4xx that says why, storing nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, update
from werkzeug.test import TestResponse

from engine.service.catalogue import Catalogue
from engine.service.commands import Commands
from engine.service.errors import Conflict, InvalidInput, NotAllowed
from engine.service.intake import Intake
from engine.service.people import ensure_user
from engine.service.tokens import issue_token
from engine.store.database import Database
from engine.store.instances import Event, Instance, Task
from engine.store.services import Alert, Service
from tests import intake_payloads as payloads
from tests.infrastructure import Clock, resolve_an_alerts_incident
from tests.web.test_inbox import make_team, post, signed_in
from tests.web.test_services_api import on_call

START = {
    "name": "Monitoring",
    "email": "monitoring@example.org",
    "category": "hardware",
    "impact": "low",
    "urgency": "low",
}
Send = Callable[..., TestResponse]


@pytest.fixture
def tokens(commands: Commands) -> dict[str, str]:
    """A service `payments` with one integration of each kind; their tokens by kind."""
    catalogue = Catalogue(commands)
    catalogue.save_service(
        "payments",
        {"name": "Payments", "owner_group": "service-desk", "start_data": START},
        actor=None,
        create=True,
    )
    found = {}
    for kind in ("alertmanager", "pagerduty"):
        found[kind] = catalogue.add_integration("payments", kind, f"{kind} prod", actor=None)[1]
    found["grafana"] = catalogue.add_integration(
        "payments", "grafana", "grafana prod", actor=None, secret="s3cret"
    )[1]
    mapping = {
        "title": "/text",
        "dedup_key": "{{ body.channel }}-{{ body.thread }}",
        "severity": "/level",
        "status": "/state",
    }
    found["generic"] = catalogue.add_integration(
        "payments", "generic", "chat", actor=None, mapping=mapping
    )[1]
    return found


@pytest.fixture
def send(client: FlaskClient, tokens: dict[str, str]) -> Send:
    def post(kind: str, body: Any, *, token: str | None = None, **headers: str) -> TestResponse:
        given = tokens[kind] if token is None else token
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        return client.post(
            f"/intake/{kind}",
            data=raw,
            content_type="application/json",
            headers={"Authorization": f"Bearer {given}", **headers},
        )

    return post


def incidents(database: Database) -> list[Instance]:
    with database.reading() as session:
        return list(session.scalars(select(Instance).order_by(Instance.id)))


def alerts(database: Database) -> list[Alert]:
    with database.reading() as session:
        return list(session.scalars(select(Alert).order_by(Alert.id)))


def timeline(database: Database, number: str) -> list[tuple[str, str | None]]:
    with database.reading() as session:
        return [
            (row.kind, row.why)
            for row in session.execute(
                select(Event.kind, Event.why)
                .join(Instance, Instance.id == Event.instance_id)
                .where(Instance.number == number)
                .order_by(Event.id)
            )
        ]


def test_an_alertmanager_group_opens_one_incident_on_its_service_with_its_priority(
    send: Send, database: Database
) -> None:
    answer = send("alertmanager", payloads.alertmanager())
    assert answer.status_code == 202, answer.json
    number = answer.json["incident"]
    [incident] = incidents(database)
    assert incident.number == number
    assert incident.service_key == "payments"
    assert incident.title == "BlackBox Probe Failure: https://server.example.org"
    assert incident.priority == "P1"  # critical -> P1 by the service's rules
    [kept] = alerts(database)
    assert kept.body == payloads.alertmanager()  # the raw payload, on the incident
    kinds = [kind for kind, _ in timeline(database, number)]
    assert "alert" in kinds
    assert "priority_changed" in kinds


def test_a_group_with_no_severity_in_common_takes_its_most_urgent_firing_alerts(
    send: Send, database: Database
) -> None:
    """A group by cluster: a warning and a critical alert firing, a critical one resolved.
    Its priority is the critical firing alert's (P1), not left as the workflow's."""
    group = payloads.alertmanager()
    first = group["alerts"][0]
    group["alerts"] = [
        {**first, "labels": {**first["labels"], "severity": "warning"}},
        {**first, "labels": {**first["labels"], "severity": "critical", "instance": "b"}},
        {**first, "status": "resolved", "labels": {**first["labels"], "severity": "info"}},
    ]
    group["groupLabels"] = {"cluster": "prod-eu"}
    group["commonLabels"], group["commonAnnotations"] = {}, {}
    group["groupKey"] = '{}:{cluster="prod-eu"}'
    answer = send("alertmanager", group)
    assert answer.status_code == 202, answer.json
    [incident] = incidents(database)
    assert incident.priority == "P1"
    assert incident.title == (
        "BlackBox Probe Failure: https://server.example.org and 1 more (cluster=prod-eu)"
    )
    assert [kept.severity for kept in alerts(database)] == ["critical"]
    # With only a warning firing, the next group's incident is P3.
    group["alerts"] = group["alerts"][:1]
    group["groupKey"] = '{}:{cluster="prod-us"}'
    assert send("alertmanager", group).status_code == 202
    assert [i.priority for i in incidents(database)] == ["P1", "P3"]


def test_the_same_group_appends_to_its_incident_and_a_retry_changes_nothing(
    send: Send, database: Database
) -> None:
    first = payloads.alertmanager()
    send("alertmanager", first)
    assert send("alertmanager", first).json["outcome"] == "repeated"
    grown = payloads.alertmanager()
    second = dict(grown["alerts"][0], fingerprint="2b40cb82ddb3a31f")
    second["labels"] = dict(second["labels"], instance="https://other.example.org")
    grown["alerts"].append(second)
    answer = send("alertmanager", grown)
    assert answer.json["outcome"] == "appended"
    assert len(incidents(database)) == 1
    assert len(alerts(database)) == 2
    assert send("alertmanager", grown).json["outcome"] == "repeated"
    assert len(alerts(database)) == 2


def test_a_resolved_group_is_recorded_and_firing_again_is_said_not_appended_silently(
    send: Send, database: Database
) -> None:
    number = send("alertmanager", payloads.alertmanager()).json["incident"]
    resolved = payloads.alertmanager()
    resolved["status"] = "resolved"
    resolved["alerts"][0]["status"] = "resolved"
    resolved["alerts"][0]["endsAt"] = "2023-02-06T13:20:45.828Z"
    assert send("alertmanager", resolved).json["outcome"] == "resolved"
    again = payloads.alertmanager()
    again["alerts"][0]["startsAt"] = "2023-02-06T14:00:00.000Z"
    assert send("alertmanager", again).json == {
        "status": "success",
        "outcome": "appended",
        "incident": number,
        "dedup_key": again["groupKey"],
    }
    kinds = [kind for kind, _ in timeline(database, number)]
    assert kinds.index("alerts_resolved") < kinds.index("alert_refired")


def test_a_truncated_group_never_counts_its_missing_alerts_as_resolved(
    send: Send, database: Database
) -> None:
    number = send("alertmanager", payloads.alertmanager()).json["incident"]
    truncated = payloads.alertmanager()
    truncated["alerts"][0]["status"] = "resolved"  # the one listed resolved ...
    truncated["truncatedAlerts"] = 3  # ... three more left out: the group still fires
    answer = send("alertmanager", truncated)
    assert answer.json["outcome"] == "appended"
    notes = timeline(database, number)
    assert "alerts_resolved" not in [kind for kind, _ in notes]
    assert any("3 more left out by the sender" in (why or "") for _, why in notes)


def test_an_alert_firing_after_its_incident_ended_opens_a_new_one(
    send: Send, database: Database, commands: Commands
) -> None:
    first = send("alertmanager", payloads.alertmanager()).json["incident"]
    commands.cancel(first, "fixed by a deploy", actor="bob")
    again = payloads.alertmanager()
    again["alerts"][0]["startsAt"] = "2023-02-07T09:00:00.000Z"
    answer = send("alertmanager", again)
    assert answer.json["outcome"] == "created"
    second = answer.json["incident"]
    assert second != first
    assert [i.number for i in incidents(database)] == [first, second]
    assert [a.instance_id for a in alerts(database)][-1] == incidents(database)[1].id


def test_a_service_that_reopens_sends_the_ended_incident_back_to_work(
    send: Send, database: Database, commands: Commands
) -> None:
    Catalogue(commands).save_service("payments", {"refire": "reopen"}, actor=None, create=False)
    number = send("alertmanager", payloads.alertmanager()).json["incident"]
    resolve_an_alerts_incident(commands, number)
    again = payloads.alertmanager()
    again["alerts"][0]["startsAt"] = "2023-02-07T09:00:00.000Z"
    answer = send("alertmanager", again)
    assert answer.json == {
        "status": "success",
        "outcome": "reopened",
        "incident": number,
        "dedup_key": again["groupKey"],
    }
    [incident] = incidents(database)
    assert incident.ended_at is None


def test_an_alerts_incident_closes_when_resolved_for_nobody_is_there_to_confirm(
    send: Send, database: Database, commands: Commands
) -> None:
    """A monitoring tool cannot say "yes, it is solved", and nobody follows its incident by
    a link: the confirmation waited three office days in nobody's inbox. The timeline says
    why it closed; a report of a person still asks them (see the portal's tests)."""
    number = send("alertmanager", payloads.alertmanager()).json["incident"]
    resolve_an_alerts_incident(commands, number)
    [incident] = incidents(database)
    assert (incident.status, incident.state["outcome"]) == ("closed", "resolved")
    with database.reading() as session:
        steps = set(session.scalars(select(Task.step).where(Task.instance_id == incident.id)))
    assert steps == {"work"}  # no "Is your problem solved?" task for anybody
    assert any(
        why and why.startswith("'A monitoring alert: nobody to ask' matched")
        for _, why in timeline(database, number)
    ), timeline(database, number)


# PagerDuty Events API v2 ---------------------------------------------------------------------


def _response_due(database: Database, number: str) -> Any:
    with database.reading() as session:
        return session.scalar(select(Instance.response_due_at).where(Instance.number == number))


def test_a_pagerduty_trigger_answers_as_the_events_api_does_and_dedups_by_its_key(
    send: Send, database: Database
) -> None:
    answer = send("pagerduty", payloads.pagerduty())
    assert answer.status_code == 202
    assert answer.json == {
        "status": "success",
        "message": "Event processed",
        "dedup_key": "samplekeyhere",
    }
    changed = payloads.pagerduty()
    changed["payload"]["custom_details"]["free space"] = "0%"
    assert send("pagerduty", changed).status_code == 202
    [incident] = incidents(database)
    assert incident.priority == "P1"
    assert len(alerts(database)) == 2


def test_a_pagerduty_acknowledge_stops_the_response_clock_and_resolve_is_recorded(
    send: Send, database: Database
) -> None:
    send("pagerduty", payloads.pagerduty())
    [incident] = incidents(database)
    assert _response_due(database, incident.number) is not None  # the response clock runs
    assert send("pagerduty", payloads.pagerduty("acknowledge")).status_code == 202
    assert _response_due(database, incident.number) is None
    kinds = [kind for kind, _ in timeline(database, incident.number)]
    assert "acknowledged" in kinds
    assert "sla_stopped" in kinds
    assert send("pagerduty", payloads.pagerduty("resolve")).status_code == 202
    assert "alerts_resolved" in [kind for kind, _ in timeline(database, incident.number)]
    assert [a.action for a in alerts(database)] == ["trigger", "acknowledge", "resolve"]


def test_a_pagerduty_routing_key_in_the_body_is_the_token(
    client: FlaskClient, tokens: dict[str, str], database: Database
) -> None:
    event = payloads.pagerduty()
    event["routing_key"] = tokens["pagerduty"]
    answer = client.post("/intake/pagerduty/v2/enqueue", json=event)
    assert answer.status_code == 202, answer.json
    [incident] = incidents(database)
    # The desk sees the alert as it came, but never the token it came with.
    [kept] = alerts(database)
    assert kept.body["routing_key"] == "(the integration's token)"
    assert tokens["pagerduty"] not in json.dumps(kept.body)
    assert kept.body["payload"] == event["payload"]
    # Its details read as JSON, its links and sender as they came.
    description = incident.state["data"]["description"]
    assert 'details: {"free space":"1%","load avg":0.75,"ping time":"1500ms"}' in description
    assert "link: Link text <https://example.com/>" in description
    assert "Sample Monitoring Service: https://monitoring.service.com" in description


def test_an_acknowledge_for_a_key_never_triggered_changes_nothing(
    send: Send, database: Database
) -> None:
    assert send("pagerduty", payloads.pagerduty("acknowledge")).status_code == 202
    assert incidents(database) == []
    assert alerts(database) == []


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"event_action": "explode"}, "'event_action' is missing or invalid"),
        ({"payload": None}, "'payload' is missing"),
        ({"payload": {"summary": "x", "source": "y", "severity": "bad"}}, "'payload.severity'"),
        ({"payload": {"source": "y", "severity": "info"}}, "'payload.summary' is missing"),
    ],
)
def test_an_invalid_pagerduty_event_gets_the_documented_400_and_nothing_is_kept(
    send: Send, database: Database, change: dict[str, Any], error: str
) -> None:
    event = {**payloads.pagerduty(), **change}
    answer = send("pagerduty", event)
    assert answer.status_code == 400
    assert answer.json["status"] == "invalid event"
    assert answer.json["message"] == "Event object is invalid"
    assert any(error in line for line in answer.json["errors"]), answer.json
    assert incidents(database) == []
    assert alerts(database) == []


def test_a_resolve_without_a_dedup_key_is_invalid(send: Send) -> None:
    answer = send("pagerduty", {"routing_key": "x", "event_action": "resolve"})
    assert answer.status_code == 400
    assert "'dedup_key' is required to resolve an alert" in answer.json["errors"]


# Grafana -------------------------------------------------------------------------------------


def _signed(body: dict[str, Any], timestamp: str | None, secret: str = "s3cret") -> dict[str, str]:
    raw = json.dumps(body).encode()
    message = raw if timestamp is None else timestamp.encode() + b":" + raw
    headers = {
        "X-Grafana-Alerting-Signature": hmac.new(
            secret.encode(), message, hashlib.sha256
        ).hexdigest()
    }
    if timestamp is not None:
        headers["X-Grafana-Alerting-Timestamp"] = timestamp
    return headers


def test_a_signed_grafana_group_within_the_replay_window_opens_an_incident(
    send: Send, database: Database
) -> None:
    body = payloads.grafana()
    now = str(int(time.time()))  # the app reads the real clock
    answer = send("grafana", body, **_signed(body, now))
    assert answer.status_code == 202, answer.json
    [incident] = incidents(database)
    assert incident.title == "[FIRING:2]  (blue)"
    assert "2 firing, 0 resolved" in " ".join(
        why or "" for _, why in timeline(database, incident.number)
    )


@pytest.mark.parametrize(
    "case", ["unsigned", "wrong secret", "old timestamp", "not ASCII", "no time", "NaN time"]
)
def test_a_grafana_payload_with_a_bad_signature_or_an_old_timestamp_is_refused(
    send: Send, database: Database, case: str
) -> None:
    body = payloads.grafana()
    now = int(time.time())
    headers = {
        "unsigned": {},
        "wrong secret": _signed(body, str(now), secret="guess"),
        "old timestamp": _signed(body, str(now - 3600)),
        "not ASCII": {"X-Grafana-Alerting-Signature": "é"},
        "no time": _signed(body, "soon"),
        "NaN time": _signed(body, "nan"),
    }[case]
    answer = send("grafana", body, **headers)
    assert answer.status_code == 401
    assert answer.json["code"] == "unauthorized"
    assert incidents(database) == []


@pytest.mark.parametrize("header", ["Basic é", "Basic ***", "Basic " + "w4k=", "Bearer "])
def test_an_authorization_header_that_names_no_token_is_refused_as_unknown(
    client: FlaskClient, database: Database, header: str
) -> None:
    answer = client.post(
        "/intake/alertmanager",
        data=json.dumps(payloads.alertmanager()),
        content_type="application/json",
        headers={"Authorization": header},
    )
    assert answer.status_code == 401
    assert answer.json["code"] == "unauthorized"
    assert incidents(database) == []


# Generic JSON --------------------------------------------------------------------------------


def test_a_chat_message_becomes_an_incident_by_the_mapping_and_its_ok_resolves_it(
    send: Send, database: Database
) -> None:
    message = {"channel": "ops", "thread": "42", "text": "Checkout is failing", "level": "error"}
    answer = send("generic", {**message, "state": "open"})
    assert answer.status_code == 202, answer.json
    assert answer.json["dedup_key"] == "ops-42"
    [incident] = incidents(database)
    assert incident.title == "Checkout is failing"
    assert incident.priority == "P2"
    assert send("generic", {**message, "state": "ok"}).json["outcome"] == "resolved"


def test_a_generic_body_missing_a_mapped_field_is_refused_saying_which(
    send: Send, database: Database
) -> None:
    answer = send("generic", {"channel": "ops", "thread": "1", "state": "open"})
    assert answer.status_code == 400
    assert "title (/text): the body has nothing at '/text'" in answer.json["errors"]
    assert incidents(database) == []


# Bad bodies and tokens -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"{not json", "the body is not JSON"),
        (b"[]", "the body must be a JSON object"),
        (json.dumps({**payloads.alertmanager(), "version": "3"}).encode(), "'version' must be"),
        (json.dumps({**payloads.alertmanager(), "groupKey": ""}).encode(), "'groupKey' is missing"),
        (
            json.dumps({**payloads.alertmanager(), "truncatedAlerts": -1}).encode(),
            "truncatedAlerts",
        ),
        (json.dumps({**payloads.alertmanager(), "alerts": [{"status": "x"}]}).encode(), "alerts/0"),
    ],
)
def test_a_body_that_is_not_an_alertmanager_payload_gets_a_400_and_nothing_is_kept(
    send: Send, database: Database, body: bytes, error: str
) -> None:
    answer = send("alertmanager", body)
    assert answer.status_code == 400
    assert error in answer.json["message"], answer.json
    assert incidents(database) == []
    assert alerts(database) == []


def test_an_unknown_token_or_another_kinds_token_is_refused(
    send: Send, tokens: dict[str, str], database: Database
) -> None:
    assert send("alertmanager", payloads.alertmanager(), token="0" * 32).status_code == 401
    wrong = send("alertmanager", payloads.alertmanager(), token=tokens["pagerduty"])
    assert wrong.status_code == 400
    assert "send to /intake/pagerduty" in wrong.json["message"]
    assert incidents(database) == []


def test_a_revoked_integration_is_refused(
    send: Send, commands: Commands, database: Database
) -> None:
    catalogue = Catalogue(commands)
    [row] = [i for i in catalogue.integrations("payments") if i.kind == "alertmanager"]
    catalogue.revoke_integration(row.id, actor=None)
    assert send("alertmanager", payloads.alertmanager()).status_code == 401


def test_start_data_that_would_not_fill_the_start_form_is_refused_when_the_service_is_saved(
    commands: Commands, tokens: dict[str, str], database: Database
) -> None:
    catalogue = Catalogue(commands)
    before = catalogue.service("payments")
    wrong = {
        "start_data": {"name": "Monitoring", "email": "noc@example.org", "impact": 3,
                       "bogus": 1},
        "severity_rules": {"critical": "P9"},
    }  # fmt: skip
    with pytest.raises(InvalidInput) as refused:
        catalogue.save_service("payments", wrong, actor=None, create=False)
    pointers = {problem.pointer for problem in refused.value.problems}
    assert {
        "/severity_rules/critical",
        "/start_data/bogus",
        "/start_data/impact",
        "/start_data/category",
    } <= pointers
    assert "P9" in str(refused.value)
    assert "start_data/category" in str(refused.value)
    assert catalogue.service("payments") == before
    with pytest.raises(InvalidInput, match="too large a number"):
        catalogue.save_service(
            "payments", {"start_data": {**START, "name": 2**70}}, actor=None, create=False
        )


def test_a_service_without_integrations_may_lack_start_data_until_one_is_added(
    commands: Commands, database: Database
) -> None:
    catalogue = Catalogue(commands)
    catalogue.save_service("billing", {"name": "Billing"}, actor=None, create=True)
    with pytest.raises(InvalidInput) as wrong:  # what it gives must still be right
        catalogue.save_service("billing", {"start_data": {"bogus": 1}}, actor=None, create=False)
    assert [p.pointer for p in wrong.value.problems] == ["/start_data/bogus"]
    with pytest.raises(InvalidInput, match="cannot open an incident for an alert yet") as early:
        catalogue.add_integration("billing", "alertmanager", "prometheus", actor=None)
    assert "/start_data/category" in {p.pointer for p in early.value.problems}
    assert catalogue.integrations("billing") == []
    catalogue.save_service("billing", {"start_data": START}, actor=None, create=False)
    catalogue.add_integration("billing", "alertmanager", "prometheus", actor=None)
    assert [i.name for i in catalogue.integrations("billing")] == ["prometheus"]


def test_a_service_whose_start_data_no_longer_fills_the_form_is_our_fault_a_500(
    send: Send, database: Database
) -> None:
    # Saved before its workflow's start form asked for more (or before saving checked it).
    with database.writer_session() as session, session.begin():
        session.execute(update(Service).values(start_data={}))
    answer = send("alertmanager", payloads.alertmanager())
    assert answer.status_code == 500
    assert "cannot open an incident" in answer.json["message"]
    assert incidents(database) == []
    assert alerts(database) == []


def test_what_a_monitoring_tool_writes_opens_an_incident_made_fit_to_keep(
    send: Send, database: Database
) -> None:
    body = payloads.alertmanager()
    body["commonAnnotations"] = {
        "summary": "Disk full on db-1\n  see the runbook\x00 \ud800now",
        "description": "Line one\nLine two\x07",
    }
    body["commonLabels"]["big"] = 2**70
    body["commonLabels"]["odd\x00name"] = "nan\x1b[31m"
    answer = send("alertmanager", body)
    assert answer.status_code == 202, answer.json
    with database.reading() as session:
        instance = session.scalars(select(Instance)).one()
        kept = session.scalars(select(Alert.body)).one()
    assert instance.title == "Disk full on db-1 see the runbook \ufffdnow"
    assert instance.state["data"]["description"] == "Line one\nLine two"
    assert instance.state["data"]["source"] == "monitoring"  # where it came from
    assert kept["commonLabels"]["big"] == str(2**70)
    assert kept["commonLabels"]["oddname"] == "nan[31m"


def test_the_same_alert_firing_after_its_incident_ended_opens_a_new_one(
    send: Send, commands: Commands, database: Database
) -> None:
    body = payloads.alertmanager()
    first = send("alertmanager", body).json
    assert send("alertmanager", body).json["outcome"] == "repeated"  # a retry: nothing new
    commands.cancel(first["incident"], "fixed at the source", actor="bob")
    again = send("alertmanager", body).json  # repeated unchanged by Alertmanager, hours later
    assert again["outcome"] == "created"
    assert again["incident"] != first["incident"]
    assert len(incidents(database)) == 2


# The desk ------------------------------------------------------------------------------------


def test_an_agent_acknowledges_an_alerts_incident_and_its_response_clock_stops(
    send: Send, commands: Commands, database: Database
) -> None:
    number = send("alertmanager", payloads.alertmanager()).json["incident"]
    with database.writer_session() as session, session.begin():
        ensure_user(session, "rita", datetime.now(UTC), roles=["requester"])
    intake = Intake(commands)
    with pytest.raises(NotAllowed, match="only the service desk"):
        intake.acknowledge(number, actor="rita")
    assert _response_due(database, number) is not None
    intake.acknowledge(number, actor="bob")
    assert _response_due(database, number) is None
    with pytest.raises(Conflict, match="acknowledged already"):
        intake.acknowledge(number, actor="bob")
    assert [a.summary for a in intake.alerts(number, viewer="bob")] == [
        "BlackBox Probe Failure: https://server.example.org"
    ]
    assert intake.alerts(number, viewer="rita") == []


def test_alerts_are_counted_once_per_group(send: Send, database: Database) -> None:
    for n in range(5):
        body = payloads.alertmanager()
        body["groupKey"] = f'{{}}:{{alertname="Probe{n % 2}"}}'
        body["alerts"][0]["startsAt"] = f"2023-02-06T13:0{n}:00Z"
        send("alertmanager", body)
    with database.reading() as session:
        assert session.scalar(select(func.count()).select_from(Instance)) == 2


def test_the_instance_page_shows_the_alerts_to_the_desk_and_acknowledges_from_there(
    app: Flask, send: Send, database: Database, commands: Commands, clock: Clock
) -> None:
    make_team(app, database, commands, clock)
    number = send("alertmanager", payloads.alertmanager()).json["incident"]
    bob = signed_in(app, "bob")
    page = bob.get(f"/instances/{number}").get_data(as_text=True)
    assert 'id="alerts-title">Alerts</h2>' in page
    assert "BlackBox Probe Failure" in page
    assert "ProbeFailure" in page  # the raw payload is there to read
    assert "<dt>Service</dt><dd>Payments</dd>" in page  # what it is about, by name
    with database.writer_session() as session, session.begin():
        token = issue_token(session, "bob", "tests", datetime.now(UTC))[1]
    headers = {"Authorization": f"Bearer {token}"}
    assert bob.get(f"/api/v1/instances/{number}", headers=headers).json["service"] == "payments"
    done = post(bob, f"/instances/{number}/acknowledge")
    assert done.status_code == 303
    assert _response_due(database, number) is None
    assert "Acknowledged" in bob.get(f"/instances/{number}").get_data(as_text=True)
    rita = signed_in(app, "rita")
    assert rita.get(f"/instances/{number}").status_code == 404  # not hers: nothing to see
    assert post(rita, f"/instances/{number}/acknowledge").status_code in (403, 404)


def test_an_admin_keeps_services_and_integrations_on_the_admin_page(
    app: Flask, database: Database, commands: Commands, clock: Clock
) -> None:
    make_team(app, database, commands, clock)
    on_call(commands, schedule="checkout-primary")
    ada, bob = signed_in(app, "ada"), signed_in(app, "bob")
    assert bob.get("/admin/services").status_code == 403
    refused = post(ada, "/admin/services", key="checkout", name="", start_data="{nope")
    assert refused.status_code == 422
    assert "This is not JSON" in refused.get_data(as_text=True)
    made = post(
        ada,
        "/admin/services",
        key="checkout",
        name="Checkout",
        workflow_key="it-incident",
        owner_group="service-desk",
        schedule_key="checkout-primary",
        refire="new",
        start_data=json.dumps(START),
    )
    assert made.status_code == 303
    page = ada.get("/admin/services").get_data(as_text=True)
    assert "checkout-primary" in page
    answer = post(
        ada, "/admin/services/checkout/integrations", kind="alertmanager", integration_name="prom"
    )
    assert answer.status_code == 201
    token = answer.get_data(as_text=True).split('id="integration-token">')[1].split("<")[0]
    sent = app.test_client().post(
        f"/intake/alertmanager?token={token}", json=payloads.alertmanager()
    )
    assert sent.status_code == 202
    [incident] = incidents(database)
    assert incident.service_key == "checkout"
    # A mapping no body could pass is refused on the page, where it was typed.
    bad = post(
        ada,
        "/admin/services/checkout/integrations",
        kind="generic",
        integration_name="chat",
        mapping='{"title": "message.text"}',
    )
    assert bad.status_code == 422
    assert "a JSON pointer starts with /: &#39;/message/text&#39;" in bad.get_data(as_text=True)
