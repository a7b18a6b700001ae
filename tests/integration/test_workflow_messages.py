"""A workflow's own messages: published with it, refused by its checks, mailed by the relay
from the version each instance runs (docs/workflow-language.md §15, ADR 64)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from engine.catalog import Document
from engine.jobs.outbox import relay_outbox
from engine.service.commands import Commands
from engine.service.definitions import content_hash, publish_all
from engine.service.errors import InvalidInput
from engine.service.people import ensure_user
from engine.settings import RelaySettings
from engine.store.database import Database
from engine.store.definitions import DefinitionVersion
from engine.store.instances import Instance
from tests.infrastructure import MailServer
from tests.integration.conftest import INCIDENT, Clock
from tests.integration.test_outbox_relay import (
    add_message,
    clear_outbox,
    dead_letters,
    only_row,
    settings,
    smtp,
)

__all__ = ["settings", "smtp"]  # the fixtures, used here by name

#: A request whose first step mails the requester the workflow's own message.
ORDER: dict[str, Any] = {
    "kind": "workflow",
    "format": 1,
    "key": "order",
    "title": "Order",
    "start": {"form": "service-request", "number_prefix": "ORD", "title": "{{ item }}"},
    "messages": {
        "order-received": {
            "subject": "{{ instance.number }}: your {{ item }} is ordered",
            "body": "Hello {{ instance.requester }},\n\nyour {{ item }} ({{ cost }} EUR) is "
            "ordered.{% if needed_by %} Needed by {{ needed_by }}.{% endif %}\n",
        }
    },
    "first": "tell",
    "steps": {
        "tell": {
            "type": "action",
            "notify": {"to": "requester", "template": "order-received"},
            "next": "fulfil",
        },
        "fulfil": {"type": "task", "assign": {"group": "service-desk"}, "next": "done"},
        "done": {"type": "end", "status": "completed"},
    },
}

REQUEST = {"item": "laptop", "details": "A new one", "cost": 900, "manager": "sam"}


def publish(database: Database, clock: Clock, document: dict[str, Any]) -> None:
    """Publish a workflow through the checks every publisher goes through."""
    with database.writer_session() as session, session.begin():
        publish_all(session, [Document(Path("order.json"), document)], clock(), "t")


@pytest.fixture
def alice(database: Database, clock: Clock) -> None:
    with database.writer_session() as session, session.begin():
        ensure_user(session, "alice", clock(), email="alice@corp.example")
        ensure_user(session, "sam", clock())


def test_a_workflows_own_message_is_mailed_filled_in(
    commands: Commands,
    database: Database,
    clock: Clock,
    smtp: MailServer,
    settings: RelaySettings,
    alice: None,
) -> None:
    publish(database, clock, ORDER)
    number = commands.start("order", REQUEST, requester="alice")["number"]

    report = relay_outbox(database, settings=settings, now=clock())

    assert report.sent == [only_row(database).id]
    [(recipients, message)] = smtp.inbox.received
    assert recipients == ["alice@corp.example"]
    assert message["Subject"] == f"{number}: your laptop is ordered"
    text = message.get_body(("plain",)).get_content()
    assert text.splitlines() == ["Hello alice,", "", "your laptop (900 EUR) is ordered."]
    assert "your laptop (900 EUR) is ordered." in message.get_body(("html",)).get_content()


def test_an_instance_is_mailed_the_message_of_the_version_it_runs(
    commands: Commands,
    database: Database,
    clock: Clock,
    smtp: MailServer,
    settings: RelaySettings,
    alice: None,
) -> None:
    publish(database, clock, ORDER)
    number = commands.start("order", REQUEST, requester="alice")["number"]
    newer = copy.deepcopy(ORDER)
    newer["messages"]["order-received"]["subject"] = "Version 2 says otherwise"
    publish(database, clock, newer)

    relay_outbox(database, settings=settings, now=clock())

    [(_, message)] = smtp.inbox.received
    assert message["Subject"] == f"{number}: your laptop is ordered"


def test_a_version_id_that_holds_other_content_after_a_restore_mails_that_content(
    commands: Commands,
    database: Database,
    clock: Clock,
    smtp: MailServer,
    settings: RelaySettings,
    alice: None,
) -> None:
    """The relay keeps the messages it read by the content's hash, not the version's id: a
    database restored at the same address (or another test's) has other content under the
    same id, and a worker that ran on must not mail the old words."""
    publish(database, clock, ORDER)
    commands.start("order", REQUEST, requester="alice")
    relay_outbox(database, settings=settings, now=clock())
    other = copy.deepcopy(ORDER)
    other["messages"]["order-received"]["subject"] = "Restored: {{ item }}"
    with database.writer_session() as session, session.begin():
        session.execute(
            update(DefinitionVersion)
            .where(DefinitionVersion.content_hash == content_hash(ORDER))
            .values(content=other, content_hash=content_hash(other))
        )
    commands.start("order", REQUEST, requester="alice")

    relay_outbox(database, settings=settings, now=clock())

    subjects = [message["Subject"] for _, message in smtp.inbox.received]
    assert subjects == ["ORD-000001: your laptop is ordered", "Restored: laptop"]


def test_a_workflows_team_signs_its_mails_and_templates_read_it(
    commands: Commands,
    database: Database,
    clock: Clock,
    smtp: MailServer,
    settings: RelaySettings,
    alice: None,
) -> None:
    """Facilities' requests are not the service desk's: its own message, a shipped one and
    the instance's title say who works them."""
    document = copy.deepcopy(ORDER)
    document["team"] = "Facilities"
    document["start"]["title"] = "{{ item }} from {{ instance.team }}"
    document["messages"]["order-received"]["body"] = "Ordered.\n\n-- {{ instance.team }}\n"
    document["steps"]["tell"]["notify"] = [
        {"to": "requester", "template": "order-received"},
        {"to": "requester", "template": "request-declined"},
    ]
    publish(database, clock, document)
    number = commands.start("order", REQUEST, requester="alice")["number"]

    relay_outbox(database, settings=settings, now=clock())

    with database.reading() as session:
        title = session.scalar(select(Instance.title).where(Instance.number == number))
    assert title == "laptop from Facilities"
    bodies = [m.get_body(("plain",)).get_content() for _, m in smtp.inbox.received]
    assert bodies[0].splitlines() == ["Ordered.", "", "-- Facilities"]
    assert bodies[1].splitlines()[-1] == "-- Flowdesk, for Facilities"


def test_a_workflow_that_names_no_team_signs_for_the_service_desk(
    commands: Commands,
    database: Database,
    clock: Clock,
    smtp: MailServer,
    settings: RelaySettings,
    alice: None,
) -> None:
    document = copy.deepcopy(ORDER)
    document["steps"]["tell"]["notify"] = {"to": "requester", "template": "request-declined"}
    del document["messages"]
    publish(database, clock, document)
    commands.start("order", REQUEST, requester="alice")

    relay_outbox(database, settings=settings, now=clock())

    [(_, message)] = smtp.inbox.received
    text = message.get_body(("plain",)).get_content()
    assert text.splitlines()[-1] == "-- Flowdesk, for the service desk"


def test_publishing_refuses_a_notify_naming_no_message_with_the_nearest(
    commands: Commands, database: Database, clock: Clock
) -> None:
    document = copy.deepcopy(ORDER)
    document["steps"]["tell"]["notify"]["template"] = "order-recieved"

    with pytest.raises(InvalidInput) as refused:
        publish(database, clock, document)

    said = "\n".join(map(str, refused.value.problems))
    assert "/steps/tell/notify/template" in said
    assert "there is no message 'order-recieved'; did you mean 'order-received'?" in said


def test_publishing_refuses_a_message_reading_a_field_that_does_not_exist(
    commands: Commands, database: Database, clock: Clock
) -> None:
    document = copy.deepcopy(ORDER)
    document["messages"]["order-received"]["body"] = "Your {{ itme }}"

    with pytest.raises(InvalidInput) as refused:
        publish(database, clock, document)

    said = "\n".join(map(str, refused.value.problems))
    assert "/messages/order-received/body" in said
    assert "there is no field 'itme' at this point of the flow; did you mean 'item'?" in said


def test_a_message_that_cannot_be_filled_in_at_delivery_is_a_dead_letter_saying_why(
    commands: Commands,
    database: Database,
    clock: Clock,
    smtp: MailServer,
    settings: RelaySettings,
    alice: None,
) -> None:
    document = copy.deepcopy(ORDER)
    # Checked sound, but it builds a text past the limit of a filled-in template (§17).
    document["messages"]["order-received"]["body"] = "{{ details * 200000 }}"
    publish(database, clock, document)
    number = str(commands.start("order", REQUEST, requester="alice")["number"])
    row = only_row(database)

    report = relay_outbox(database, settings=settings, now=clock())

    assert report.dead == [row.id]
    assert smtp.inbox.received == []
    [event] = dead_letters(database, number)
    why = event.why or ""
    assert why.startswith("the workflow's message 'order-received' cannot be rendered: ")
    assert "100,000" in why or "100000" in why, why


def test_a_reminder_of_its_own_replaces_the_shipped_one_for_its_instances_only(
    commands: Commands,
    database: Database,
    clock: Clock,
    smtp: MailServer,
    settings: RelaySettings,
    alice: None,
) -> None:
    document = copy.deepcopy(ORDER)
    document["messages"]["reminder"] = {"subject": "Still on your {{ item }}", "body": "Soon."}
    document["steps"]["fulfil"]["escalate"] = [{"after": "P1D", "do": [{"remind": "requester"}]}]
    publish(database, clock, document)
    number = str(commands.start("order", REQUEST, requester="alice")["number"])
    other = str(commands.start("it-incident", INCIDENT, requester="alice")["number"])
    clear_outbox(database)
    # What the escalation's `remind` writes (engine.core.steps.human), and the same for an
    # instance of a workflow without a reminder of its own.
    add_message(database, number, clock(), step="fulfil", to="requester", template="reminder")
    add_message(database, other, clock(), step="work", to="requester", template="reminder")

    relay_outbox(database, settings=settings, now=clock())

    subjects = [message["Subject"] for _, message in smtp.inbox.received]
    assert subjects == ["Still on your laptop", f"Reminder: {other} is waiting"]
