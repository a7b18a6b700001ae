"""What a requester sees on their tracking page, and where mail and webhooks really go.

Each test publishes a variant of the shipped it-incident workflow and meets it the way
people do: the requester reads their tracking page in the web app; the relay posts to
a real HTTP endpoint and mails through a real SMTP server, both on loopback.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_network
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis
from sqlalchemy import select

from engine.jobs.outbox import relay_outbox
from engine.service.commands import Commands
from engine.service.definitions import publish_document
from engine.settings import RelaySettings
from engine.store.database import Database
from engine.store.instances import Task
from tests.infrastructure import INCIDENT, PACK, Clock, MailServer
from tests.web.conftest import hidden_fields
from web.app import create_app

PORTAL_REPORT = {**INCIDENT, "name": "Ada Lovelace", "email": "ada@example.org"}
#: What the action of the test workflow sets about the caller; only the email is listed.
CALLER_EMAIL = "caller@example.org"
CALLER_PHONE = "+31 20 555 0199"


def it_incident() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((PACK / "it-incident.json").read_text())
    return doc


def publish(database: Database, kind: str, doc: dict[str, Any]) -> None:
    with database.writer_session() as session, session.begin():
        assert publish_document(session, kind, doc, datetime.now(UTC), "test").created


# The tracking page -------------------------------------------------------------------------


@pytest.fixture
def app(
    database_url: str, redis: Redis, redis_url: str, commands: Commands, tmp_path: Path
) -> Iterator[Flask]:
    """The web app over the database holding the pack (as tests/web/conftest.py builds it)."""
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "SECRET_KEY": "test-secret",
            "UPLOAD_FOLDER": str(tmp_path / "files"),
            "PORTAL_RATE_LIMIT": "1000 per minute",
        }
    )
    yield app
    app.extensions["flowdesk"].close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def report(client: FlaskClient) -> str:
    """Report an incident on the public portal; return the path of its tracking page."""
    hidden = hidden_fields(client.get("/new/it-incident").text)
    response = client.post("/new/it-incident", data={**hidden, **PORTAL_REPORT})
    assert response.status_code == 303, response.text
    return urlsplit(response.headers["Location"]).path


def test_a_dotted_path_shows_the_requester_that_value_and_not_the_rest_of_its_object(
    client: FlaskClient, database: Database
) -> None:
    workflow = it_incident()
    workflow["requester_sees"] = ["summary", "caller.email"]
    workflow["steps"]["categorize"]["set"].update(
        {"caller.email": {"value": CALLER_EMAIL}, "caller.phone": {"value": CALLER_PHONE}}
    )
    publish(database, "workflow", workflow)

    page = client.get(report(client)).text

    assert "The printer on floor 3 is jammed" in page  # a start form's field, listed
    assert "More about your request" in page
    assert "<dt>Caller email</dt>" in page
    assert f"<dd>{CALLER_EMAIL}</dd>" in page
    assert CALLER_PHONE not in page  # the rest of `caller` was not listed
    assert "Caller phone" not in page
    assert "ada@example.org" not in page  # nor was the start form's `email`


def test_a_whole_object_listed_is_shown_a_row_per_value(
    client: FlaskClient, database: Database
) -> None:
    workflow = it_incident()
    workflow["requester_sees"] = ["caller"]
    workflow["steps"]["categorize"]["set"].update(
        {"caller.email": {"value": CALLER_EMAIL}, "caller.phone": {"value": CALLER_PHONE}}
    )
    publish(database, "workflow", workflow)

    page = client.get(report(client)).text

    assert f"<dt>Caller email</dt>\n    <dd>{CALLER_EMAIL}</dd>" in page
    assert f"<dt>Caller phone</dt>\n    <dd>{CALLER_PHONE}</dd>" in page
    assert "{&#39;" not in page  # not Python's way of writing a mapping


def test_a_listed_field_its_form_keeps_in_is_shown_once_with_its_label(
    client: FlaskClient, commands: Commands, database: Database
) -> None:
    workflow = it_incident()
    workflow["requester_sees"] = ["summary", "cause"]
    publish(database, "workflow", workflow)
    path = report(client)
    with database.reading() as session:
        work = session.scalars(select(Task).where(Task.step == "work")).one()
    commands.complete(
        work.id, "resolved", {"resolution": "Fixed.", "cause": "hardware-fault"}, actor="bob"
    )

    page = client.get(path).text

    assert "<dt>Cause</dt>\n    <dd>hardware-fault</dd>" in page  # not `public` on its form
    assert page.count("The printer on floor 3 is jammed") == 2  # the title, and once listed
    assert "Fixed." not in page  # public on its form, but the workflow did not list it


# Where the relay sends ---------------------------------------------------------------------


@dataclass
class Receiver:
    """The outside webhook endpoint: records the target of each POST it answers."""

    targets: list[str] = field(default_factory=list)
    base: str = ""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            receiver.targets.append(self.path)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    receiver.base = f"http://127.0.0.1:{server.server_address[1]}"
    yield receiver
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def smtp() -> Iterator[MailServer]:
    server = MailServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def relay(smtp: MailServer) -> RelaySettings:
    """Relay settings for the loopback servers, which an admin allows webhooks to reach."""
    return RelaySettings(
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        smtp_from="flowdesk@desk.example",
        smtp_timeout_s=5,
        webhook_timeout_s=5,
        webhook_allowed_networks=(ip_network("127.0.0.1/32"),),
    )


def test_a_webhook_posts_to_its_address_filled_in_each_value_encoded(
    commands: Commands, database: Database, clock: Clock, receiver: Receiver, relay: RelaySettings
) -> None:
    workflow = it_incident()
    url = receiver.base + "/hooks/{{ instance.number }}/reset?summary={{ summary }}"
    workflow["steps"]["self_service"]["notify"] = {"webhook": url}
    publish(database, "workflow", workflow)
    summary = "Locked out / VPN & mail?#now"
    data = {**INCIDENT, "category": "password", "summary": summary}
    number = commands.start("it-incident", data)["number"]

    report = relay_outbox(database, settings=relay, now=clock())

    # The webhook; no "Is your problem solved?" mail: nobody follows this one by a link.
    assert len(report.sent) == 1
    [target] = receiver.targets
    assert target == f"/hooks/{number}/reset?summary=Locked%20out%20%2F%20VPN%20%26%20mail%3F%23now"
    assert unquote(urlsplit(target).query.removeprefix("summary=")) == summary


def test_mail_to_an_anonymous_requester_goes_to_the_field_the_workflow_names(
    commands: Commands, database: Database, clock: Clock, smtp: MailServer, relay: RelaySettings
) -> None:
    form = json.loads((PACK / "forms" / "incident-report.json").read_text())
    form["fields"].insert(2, {"key": "contact", "type": "text", "format": "email",
                              "label": "Where do we write to you?", "required": True})  # fmt: skip
    publish(database, "form", form)
    workflow = it_incident()
    workflow["start"]["confirm_to"] = "contact"
    publish(database, "workflow", workflow)
    data = {**INCIDENT, "category": "password", "contact": "alice.home@example.net"}
    commands.start("it-incident", data, requester=None)

    relay_outbox(database, settings=relay, now=clock())

    [(recipients, message)] = smtp.inbox.received
    assert recipients == ["alice.home@example.net"]  # not the `email` field's alice@example.org
    assert "reset your password" in message["Subject"]
