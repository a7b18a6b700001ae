"""The recipes of docs/intake.md, as written there, with each tool's documented payload.

Each mapping is read from the docs, so a recipe that stops working fails here. The payloads
are the vendors' documented examples (trimmed of fields no mapping reads):

- Datadog: docs.datadoghq.com/integrations/webhooks (variables `$ALERT_TRANSITION`, ...)
- Zabbix: zabbix.com/documentation, media type Webhook (`{EVENT.STATUS}`, `{EVENT.ACK.STATUS}`)
- Nagios and Icinga 2: a notification command's macros (`$NOTIFICATIONTYPE$`, ...)
- New Relic: docs.newrelic.com, workflow webhook default payload
- Azure Monitor: learn.microsoft.com, alerts-payload-samples (common alert schema)
- Google Cloud Monitoring: webhook notification channel, version 1.2
- Amazon SNS: docs.aws.amazon.com/sns, http-subscription-confirmation-json and
  http-notification-json, carrying a CloudWatch alarm
- Sentry: docs.sentry.io, integration platform webhooks, metric alerts
- Opsgenie: docs.opsgenie.com, outgoing webhook (Marid alert action data)
- Uptime Kuma: its webhook notification's application/json body
- Grafana's legacy alerting: the body of Grafana before unified alerting
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from engine.service.catalogue import Catalogue
from engine.service.commands import Commands
from engine.service.errors import InvalidInput
from engine.store.database import Database
from engine.store.instances import Instance
from engine.store.services import Alert
from tests.web.test_intake import START, timeline
from web.cli import main

DOCS = Path(__file__).parents[2] / "docs" / "intake.md"


def recipes() -> dict[str, dict[str, Any]]:
    """Each tool's mapping, by the heading of its recipe in docs/intake.md."""
    text = DOCS.read_text()
    section = text.split("## Recipes: other monitoring tools", 1)[1].split("\n## ", 1)[0]
    found = {}
    for part in section.split("\n### ")[1:]:
        heading, _, body = part.partition("\n")
        block = re.search(r"```json\n(.*?)```", body, re.S)
        assert block is not None, f"the recipe for {heading} has no mapping"
        found[heading.strip()] = json.loads(block.group(1))
    return found


RECIPES = recipes()


@pytest.fixture
def post(client: FlaskClient, commands: Commands) -> Callable[..., Any]:
    """Post a body to the recipe's generic integration (made once per tool)."""
    catalogue = Catalogue(commands)
    catalogue.save_service(
        "ops", {"name": "Operations", "start_data": START}, actor=None, create=True
    )
    tokens: dict[str, str] = {}

    def send(tool: str, body: Any, **headers: str) -> Any:
        if tool not in tokens:
            tokens[tool] = catalogue.add_integration(
                "ops", "generic", tool, actor=None, mapping=RECIPES[tool]
            )[1]
        answer = client.post(
            f"/intake/generic?token={tokens[tool]}",
            data=json.dumps(body),
            content_type=headers.pop("content_type", "application/json"),
            headers=headers,
        )
        return answer

    return send


def incident(database: Database, number: str) -> Instance:
    with database.reading() as session:
        return session.scalars(select(Instance).where(Instance.number == number)).one()


def count(database: Database) -> int:
    with database.reading() as session:
        return len(session.scalars(select(Instance.id)).all())


def kinds(database: Database, number: str) -> list[str]:
    return [kind for kind, _why in timeline(database, number)]


def lifecycle(
    post: Callable[..., Any],
    database: Database,
    tool: str,
    steps: list[tuple[dict[str, Any], str]],
) -> str:
    """Post each body, expecting its outcome; return the one incident they were about."""
    numbers = set()
    for body, outcome in steps:
        answer = post(tool, body)
        assert answer.status_code == 202, (tool, answer.json)
        assert answer.json["outcome"] == outcome, (tool, body, answer.json)
        if answer.json["incident"]:
            numbers.add(answer.json["incident"])
    [number] = numbers
    return str(number)


def test_every_recipe_in_the_docs_is_tried_here() -> None:
    assert set(RECIPES) == {
        "Datadog",
        "Zabbix",
        "Nagios and Icinga",
        "New Relic",
        "Azure Monitor",
        "Google Cloud Monitoring",
        "Amazon CloudWatch, through SNS",
        "Sentry",
        "Opsgenie",
        "Uptime Kuma",
        "Grafana's legacy alerting",
    }


def test_datadog_triggers_retriggers_warns_and_recovers_one_incident(
    post: Callable[..., Any], database: Database
) -> None:
    fired = {
        "title": "[Triggered on {host:db-1}] Memory high",
        "cycle": "8215742389478263721",
        "transition": "Triggered",
        "type": "error",
        "text": "%%%\nmemory > 95% on host:db-1\n%%%",
    }
    number = lifecycle(
        post,
        database,
        "Datadog",
        [
            (fired, "created"),
            ({**fired, "transition": "Re-Triggered"}, "appended"),
            ({**fired, "transition": "Warn", "type": "warning"}, "appended"),
            ({**fired, "transition": "No Data"}, "appended"),
            ({**fired, "title": "[Recovered on {host:db-1}] Memory high", "transition": "Recovered",
              "type": "success"}, "resolved"),
        ],
    )  # fmt: skip
    found = incident(database, number)
    assert found.title == "[Triggered on {host:db-1}] Memory high"
    assert found.priority == "P2"  # error
    assert "alerts_resolved" in kinds(database, number)


def test_zabbix_opens_acknowledges_and_resolves_by_its_event(
    post: Callable[..., Any], database: Database
) -> None:
    problem = {
        "subject": "High CPU utilization (over 90% for 5m)",
        "event": "48213",
        "status": "PROBLEM",
        "severity": "High",
        "updated": "0",
        "acked": "No",
        "message": "Problem started at 21:30:00 on 2026.12.07\nHost: web-1\nSeverity: High",
    }
    number = lifecycle(
        post,
        database,
        "Zabbix",
        [
            (problem, "created"),
            ({**problem, "updated": "1", "acked": "Yes"}, "acknowledged"),
            ({**problem, "status": "RESOLVED", "updated": "0"}, "resolved"),
        ],
    )
    assert incident(database, number).priority == "P2"  # High, by the service's rules
    assert "acknowledged" in kinds(database, number)


def test_nagios_and_icinga_notifications_open_acknowledge_resolve_and_ignore_the_rest(
    post: Callable[..., Any], database: Database
) -> None:
    problem = {
        "type": "PROBLEM",
        "host": "web-1",
        "service": "http",
        "state": "CRITICAL",
        "output": "HTTP CRITICAL: HTTP/1.1 503 Service Unavailable",
    }
    number = lifecycle(
        post,
        database,
        "Nagios and Icinga",
        [
            (problem, "created"),
            ({**problem, "type": "ACKNOWLEDGEMENT"}, "acknowledged"),
            ({**problem, "type": "FLAPPINGSTART"}, "ignored"),
            ({**problem, "type": "DOWNTIMESTART"}, "ignored"),
            ({**problem, "type": "CUSTOM"}, "ignored"),
            ({**problem, "type": "RECOVERY", "state": "OK", "output": "HTTP OK"}, "resolved"),
        ],
    )
    found = incident(database, number)
    assert found.title == "web-1 http: HTTP CRITICAL: HTTP/1.1 503 Service Unavailable"
    assert found.priority == "P1"
    with database.reading() as session:  # an ignored notice is not kept
        assert len(session.scalars(select(Alert.id)).all()) == 3


def test_new_relic_issues_open_once_and_close(post: Callable[..., Any], database: Database) -> None:
    issue = {
        "id": "d1b1f3fd-995a-4066-88ab-8ce4f6960654",
        "issueUrl": "https://radar-api.service.newrelic.com/accounts/1/issues/d1b1f3fd",
        "title": "Memory Used % > 90 for at least 2 minutes on 'checkout'",
        "priority": "HIGH",
        "impactedEntities": ["checkout"],
        "totalIncidents": 1,
        "state": "CREATED",
        "trigger": "STATE_CHANGE",
        "createdAt": 1733605200123,
    }
    number = lifecycle(
        post,
        database,
        "New Relic",
        [
            (issue, "created"),
            ({**issue, "state": "ACTIVATED"}, "appended"),
            ({**issue, "state": "ACKNOWLEDGED", "trigger": "ACKNOWLEDGED"}, "acknowledged"),
            ({**issue, "state": "CLOSED"}, "resolved"),
        ],
    )
    assert incident(database, number).priority == "P2"


def azure(condition: str) -> dict[str, Any]:
    return {
        "schemaId": "azureMonitorCommonAlertSchema",
        "data": {
            "essentials": {
                "alertId": "/subscriptions/11111111-2222-3333-4444-555555555555/providers/"
                "Microsoft.AlertsManagement/alerts/aaaa0a0a-bb1b-cc2c-dd3d-eeeeee4e4e4e",
                "alertRule": "WCUS-R2-Gen2",
                "severity": "Sev3",
                "signalType": "Metric",
                "monitorCondition": condition,
                "monitoringService": "Platform",
                "firedDateTime": "2019-03-22T13:58:24.3713213Z",
                "description": "",
                "essentialsVersion": "1.0",
                "alertContextVersion": "1.0",
            },
            "alertContext": {"properties": None, "conditionType": "SingleResourceMultipleMetric"},
        },
    }


def test_azure_monitor_fires_and_resolves(post: Callable[..., Any], database: Database) -> None:
    number = lifecycle(
        post,
        database,
        "Azure Monitor",
        [(azure("Fired"), "created"), (azure("Resolved"), "resolved")],
    )
    found = incident(database, number)
    assert (found.title, found.priority) == ("WCUS-R2-Gen2", "P4")  # Sev3


def test_google_cloud_monitoring_opens_and_closes(
    post: Callable[..., Any], database: Database
) -> None:
    opened = {
        "incident": {
            "incident_id": "0.lj2va6zdkemq",
            "resource_name": "foobar appserver",
            "started_at": 1580920957,
            "policy_name": "test",
            "condition_name": "GCE VM Instance - CPU usage",
            "url": "https://console.cloud.google.com/monitoring/alerting/incidents/0.lj2va6zdkemq",
            "state": "open",
            "ended_at": None,
            "summary": "CPU usage for foobar appserver is above the threshold of 0.01",
        },
        "version": "1.2",
    }
    closed = copy.deepcopy(opened)
    closed["incident"].update(state="closed", ended_at=1580921557)
    number = lifecycle(
        post, database, "Google Cloud Monitoring", [(opened, "created"), (closed, "resolved")]
    )
    assert incident(database, number).title.startswith("CPU usage for foobar appserver")


ALARM = {
    "AlarmName": "cpu-high-web",
    "AlarmDescription": "CPU > 80% on web ASG",
    "AWSAccountId": "123456789012",
    "NewStateValue": "ALARM",
    "NewStateReason": "Threshold Crossed: 1 out of the last 1 datapoints [92.1] was greater "
    "than the threshold (80.0).",
    "StateChangeTime": "2026-12-07T20:30:12.345+0000",
    "Region": "US East (N. Virginia)",
    "AlarmArn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:cpu-high-web",
    "OldStateValue": "OK",
    "Trigger": {"MetricName": "CPUUtilization", "Namespace": "AWS/EC2", "Threshold": 80.0},
}
TOPIC = "arn:aws:sns:us-east-1:123456789012:ops"
SUBSCRIBE_URL = (
    "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription"
    f"&TopicArn={TOPIC}&Token=2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a98866"
)


def sns(message: dict[str, Any]) -> dict[str, Any]:
    """An SNS notification, its Message the alarm as JSON text."""
    return {
        "Type": "Notification",
        "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
        "TopicArn": TOPIC,
        "Subject": f'{message["NewStateValue"]}: "cpu-high-web" in US East (N. Virginia)',
        "Message": json.dumps(message),
        "Timestamp": "2026-12-07T20:30:12.400Z",
        "SignatureVersion": "1",
        "Signature": "EXAMPLEpH+...",
        "SigningCertURL": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0.pem",
    }


CONFIRMATION = {
    "Type": "SubscriptionConfirmation",
    "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
    "Token": "2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a98866",
    "TopicArn": TOPIC,
    "Message": f"You have chosen to subscribe to the topic {TOPIC}.\nTo confirm the "
    "subscription, visit the SubscribeURL included in this message.",
    "SubscribeURL": SUBSCRIBE_URL,
    "Timestamp": "2026-12-07T20:00:00.000Z",
    "SignatureVersion": "1",
    "Signature": "EXAMPLEpH+DcEwjAPg8O9mY8dReBSwksfg2S7WKQcikcNKWLQjwu6A4VbeS0QHVCkhRS7fUQvi2eg",
    "SigningCertURL": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-f3ec.pem",
}


@pytest.fixture
def fake_sns(app: Flask) -> Iterator[list[str]]:
    """SNS's end of the handshake, faked at the edge: the URLs the intake visits."""
    visited: list[str] = []

    def fetch(url: str) -> int:
        visited.append(url)
        return 200

    kept = app.extensions["flowdesk"]
    app.extensions["flowdesk"] = replace(kept, sns_fetch=fetch)
    yield visited
    app.extensions["flowdesk"] = kept


def test_cloudwatch_through_sns_confirms_its_subscription_then_alarms_and_recovers(
    post: Callable[..., Any], database: Database, fake_sns: list[str]
) -> None:
    tool = "Amazon CloudWatch, through SNS"
    sent_as = {"content_type": "text/plain; charset=UTF-8"}  # as SNS sends
    confirmed = post(tool, CONFIRMATION, **sent_as, **{"x-amz-sns-message-type": "x"})
    assert confirmed.status_code == 202, confirmed.json
    assert confirmed.json["outcome"] == "subscribed"
    assert fake_sns == [SUBSCRIBE_URL]
    assert count(database) == 0

    alarm = post(tool, sns(ALARM), **sent_as)
    assert alarm.status_code == 202, alarm.json
    number = alarm.json["incident"]
    insufficient = post(tool, sns({**ALARM, "NewStateValue": "INSUFFICIENT_DATA"}))
    assert insufficient.json["outcome"] == "appended"
    recovered = post(tool, sns({**ALARM, "NewStateValue": "OK", "OldStateValue": "ALARM"}))
    assert recovered.json["outcome"] == "resolved"
    found = incident(database, number)
    assert found.title == "cpu-high-web"
    assert found.state["data"]["description"].startswith("Threshold Crossed")


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://evil.example.org/?Action=ConfirmSubscription", "sns.<region>.amazonaws.com"),
        ("http://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription", "https://"),
        ("https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe", "ConfirmSubscription"),
        ("https://sns.us-east-1.amazonaws.com.evil.org/?Action=ConfirmSubscription", "region"),
    ],
)
def test_a_subscription_confirmation_visits_nothing_but_sns(
    post: Callable[..., Any], database: Database, fake_sns: list[str], url: str, why: str
) -> None:
    answer = post("Amazon CloudWatch, through SNS", {**CONFIRMATION, "SubscribeURL": url})
    assert answer.status_code == 400
    assert why in answer.json["message"]
    assert fake_sns == []


def test_an_sns_subscription_sns_does_not_confirm_is_our_fault_and_sns_sends_it_again(
    app: Flask, post: Callable[..., Any], database: Database
) -> None:
    def unreachable(url: str) -> int:
        raise OSError("Connection refused")

    kept = app.extensions["flowdesk"]
    app.extensions["flowdesk"] = replace(kept, sns_fetch=unreachable)
    try:
        answer = post("Amazon CloudWatch, through SNS", CONFIRMATION)
    finally:
        app.extensions["flowdesk"] = kept
    assert answer.status_code == 500
    assert "is not confirmed: Connection refused" in answer.json["message"]


def test_sentry_metric_alerts_trigger_at_their_level_and_resolve(
    post: Callable[..., Any], database: Database
) -> None:
    critical = {
        "action": "critical",
        "actor": {"id": "sentry", "name": "Sentry", "type": "application"},
        "data": {
            "description_text": "1000 events in the last 10 minutes\nFilter: level:error",
            "description_title": "Critical: Too many errors",
            "metric_alert": {"id": "7", "title": "Too many errors", "status": 20},
            "web_url": "https://sentry.io/organizations/acme/alerts/rules/details/1/",
        },
    }
    number = lifecycle(
        post,
        database,
        "Sentry",
        [
            (critical, "created"),
            ({**critical, "action": "warning"}, "appended"),
            ({**critical, "action": "resolved"}, "resolved"),
        ],
    )
    assert incident(database, number).priority == "P1"


def test_opsgenie_actions_open_acknowledge_close_and_notes_change_nothing(
    post: Callable[..., Any], database: Database
) -> None:
    created = {
        "source": {"name": "web", "type": "API"},
        "alert": {
            "alertId": "052652ac-5d1c-464a-812a-7dd18bbfba8c",
            "message": "test alert",
            "alias": "aliastest",
            "tinyId": "23",
            "priority": "P1",
            "tags": ["tag1", "tag2"],
        },
        "action": "Create",
        "integrationName": "Integration1",
    }
    lifecycle(
        post,
        database,
        "Opsgenie",
        [
            (created, "created"),
            ({**created, "action": "AddNote"}, "ignored"),
            ({**created, "action": "AssignOwnership"}, "ignored"),
            ({**created, "action": "Acknowledge"}, "acknowledged"),
            ({**created, "action": "UnAcknowledge"}, "ignored"),
            ({**created, "action": "Close"}, "resolved"),
        ],
    )
    unknown = post("Opsgenie", {**created, "action": "Snooze"})
    assert unknown.status_code == 400
    assert "'Snooze' is none of:" in unknown.json["message"]
    assert "the mapping's statuses may name it" in unknown.json["message"]


def test_uptime_kuma_says_down_and_up_by_number_as_its_recipe_maps_them(
    post: Callable[..., Any], database: Database
) -> None:
    monitor = {"id": 29, "name": "Shop", "url": "https://shop.example.org", "type": "http"}
    down = {
        "heartbeat": {"monitorID": 29, "status": 0, "msg": "getaddrinfo ENOTFOUND", "time": "x"},
        "monitor": monitor,
        "msg": "[Shop] [Down] getaddrinfo ENOTFOUND shop.example.org",
    }
    up = {**down, "heartbeat": {**down["heartbeat"], "status": 1}, "msg": "[Shop] [Up] 200 - OK"}
    pending = {**down, "heartbeat": {**down["heartbeat"], "status": 2}}
    number = lifecycle(
        post,
        database,
        "Uptime Kuma",
        [(down, "created"), (pending, "ignored"), (up, "resolved")],
    )
    assert incident(database, number).title == "Shop"
    tested = post("Uptime Kuma", {"heartbeat": None, "monitor": None, "msg": "Test"})
    assert tested.status_code == 400
    assert "title (/monitor/name)" in tested.json["message"]


def test_grafanas_legacy_alerts_go_to_a_generic_integration_as_the_grafana_door_says(
    post: Callable[..., Any], client: FlaskClient, commands: Commands, database: Database
) -> None:
    alerting = {
        "dashboardId": 1,
        "evalMatches": [{"value": 100, "metric": "High value", "tags": None}],
        "message": "Someone is testing the alert notification within Grafana.",
        "orgId": 0,
        "panelId": 1,
        "ruleId": 0,
        "ruleName": "Test notification",
        "ruleUrl": "http://localhost:3000/",
        "state": "alerting",
        "title": "[Alerting] Test notification",
    }
    number = lifecycle(
        post,
        database,
        "Grafana's legacy alerting",
        [(alerting, "created"), ({**alerting, "state": "no_data"}, "appended"),
         ({**alerting, "state": "ok"}, "resolved")],
    )  # fmt: skip
    assert incident(database, number).title == "Test notification"
    token = Catalogue(commands).add_integration("ops", "grafana", "old", actor=None)[1]
    refused = client.post(f"/intake/grafana?token={token}", json=alerting)
    assert refused.status_code == 400
    assert "legacy alerting" in refused.json["message"]


# The generic mapping, checked as it is saved -----------------------------------------------


@pytest.mark.parametrize(
    ("mapping", "where", "why"),
    [
        ({"title": "{{ body.x "}, "/mapping/title", "{{ body.x "),
        ({"title": "{{ body.x | fromjson }}"}, "/mapping/title", "fromjson"),
        ({"title": "message.text"}, "/mapping/title", "starts with /: '/message/text'"),
        ({"title": "/t", "statuses": {"0": "down"}}, "/mapping/statuses/0", "choose one of"),
        ({"title": "/t", "statuses": ["0"]}, "/mapping/statuses", "an object of at most"),
        ({"title": "/t", "state": "/s"}, "/mapping/state", "choose among"),
        ({"title": "  "}, "/mapping/title", "a JSON pointer or a template, as text"),
        ({"severity": "/s"}, "/mapping", "at least a title"),
    ],
)  # fmt: skip
def test_a_mapping_no_body_could_pass_is_refused_as_it_is_saved(
    commands: Commands, mapping: dict[str, Any], where: str, why: str
) -> None:
    catalogue = Catalogue(commands)
    catalogue.save_service("ops", {"name": "Ops", "start_data": START}, actor=None, create=True)
    with pytest.raises(InvalidInput) as refused:
        catalogue.add_integration("ops", "generic", "bad", actor=None, mapping=mapping)
    assert [p.pointer for p in refused.value.problems] == [where]
    assert why in refused.value.problems[0].message
    assert catalogue.integrations("ops") == []


def test_a_mapped_status_that_gives_nothing_is_refused_not_taken_for_a_trigger(
    post: Callable[..., Any], database: Database
) -> None:
    answer = post("New Relic", {"id": "1", "title": "Disk full", "priority": "LOW", "state": None})
    assert answer.status_code == 400
    assert "status (/state): it is empty in this body" in answer.json["message"]
    assert count(database) == 0


def test_flowdesk_integration_add_refuses_a_mapping_no_body_could_pass(
    commands: Commands, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    Catalogue(commands).save_service(
        "ops", {"name": "Ops", "start_data": START}, actor=None, create=True
    )
    monkeypatch.setenv("FLOWDESK_DATABASE_URL", database_url)
    mapping = json.dumps({"title": "{{ body.text | shout }}"})
    args = ["integration", "add", "ops", "generic", "chat", "--mapping", mapping]
    refused = CliRunner().invoke(main, args)
    assert refused.exit_code == 1, refused.output
    assert "shout" in refused.output
    assert Catalogue(commands).integrations("ops") == []


def test_a_text_longer_than_an_incident_keeps_is_cut_not_refused_through_a_template(
    post: Callable[..., Any], database: Database
) -> None:
    """The docs say a sender's long text is cut, never refused: through a template, a text
    of 150,000 characters made the template refuse the alert (400)."""
    long = "Disk full. " * 15_000  # the recipe's title is a template that reads it
    problem = {"type": "PROBLEM", "host": "db-1", "service": "disk", "state": "CRITICAL"}
    answer = post("Nagios and Icinga", {**problem, "output": long})
    assert answer.status_code == 202, answer.json
    found = incident(database, answer.json["incident"])
    assert found.title.startswith("db-1 disk: Disk full. Disk full.")
    assert len(found.title) <= 200
