"""The public portal as a requester without an account meets it: report, then follow."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from engine.jobs.outbox import relay_outbox
from engine.service.catalogue import Catalogue
from engine.service.commands import Commands
from engine.service.definitions import publish_document
from engine.service.people import ensure_user
from engine.service.published import Published
from engine.service.requests import REQUESTER
from engine.settings import RelaySettings
from engine.store.database import Database
from engine.store.definitions import DefinitionVersion
from engine.store.instances import Event, Instance, Outbox, Task, TrackingLink
from tests.infrastructure import PACK, MailServer
from tests.web.conftest import hidden_fields

REPORT = {
    "name": "Ada Lovelace",
    "email": "ada@example.org",
    "summary": "The printer on floor 3 is jammed",
    "description": "It blinks red.",
    "category": "hardware",
    "impact": "medium",
    "urgency": "high",
}


def open_form(client: FlaskClient) -> dict[str, str]:
    page = client.get("/new/it-incident")
    assert page.status_code == 200
    return hidden_fields(page.text)


def submit(client: FlaskClient, values: dict[str, Any], hidden: dict[str, str] | None = None):
    hidden = hidden if hidden is not None else open_form(client)
    return client.post("/new/it-incident", data={**hidden, **values})


def count(database: Database, table: Any) -> int:
    with database.reading() as session:
        return int(session.scalar(select(func.count()).select_from(table)) or 0)


def tracking_path(response: Any) -> str:
    assert response.status_code == 303, response.text
    return urlsplit(response.headers["Location"]).path


def test_the_form_page_has_every_field_the_csrf_token_and_a_hidden_honeypot(
    client: FlaskClient,
) -> None:
    page = client.get("/new/it-incident")
    assert page.status_code == 200
    for label in ("Your name", "Your email address", "Summary", "Who is affected?"):
        assert label in page.text
    fields = hidden_fields(page.text)
    assert fields["csrf_token"]
    assert fields["submission"]
    assert 'class="honeypot"' in page.text
    assert page.headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert page.headers["Referrer-Policy"] == "no-referrer"


def test_a_report_with_mistakes_comes_back_with_errors_and_stores_nothing(
    client: FlaskClient, database: Database
) -> None:
    response = submit(client, {**REPORT, "email": "ada at example", "summary": ""})
    assert response.status_code == 422
    assert "There is a problem" in response.text
    assert 'id="f-email-error"><span class="visually-hidden">Error:</span> Enter' in response.text
    assert 'href="#f-summary"' in response.text
    assert 'value="Ada Lovelace"' in response.text  # what was typed is kept
    assert count(database, Instance) == 0


def test_a_good_report_starts_an_incident_and_lands_on_its_tracking_page(
    client: FlaskClient, database: Database
) -> None:
    response = submit(client, REPORT)
    path = tracking_path(response)
    assert path.startswith("/track/")
    page = client.get(response.headers["Location"])
    number = re.search(r"INC-\d{6}", page.text)
    assert number is not None
    assert "We received your request" in page.text
    assert "Being worked on" in page.text
    with database.reading() as session:
        instance = session.scalars(select(Instance)).one()
        stored_hash = session.scalar(select(TrackingLink.token_hash))
    assert instance.number == number.group()
    assert instance.requester is None
    assert instance.state["data"]["summary"] == REPORT["summary"]
    assert instance.state["data"]["source"] == "portal"  # the hidden field's default
    token = path.rsplit("/", 1)[-1]
    assert stored_hash != token
    assert len(token) >= 32


def test_a_whole_team_down_names_its_service_from_the_catalogue_and_is_filed_under_it(
    client: FlaskClient, database: Database, commands: Commands
) -> None:
    """The shipped report offers the catalogue's services once it has some (a fresh
    install's is empty, and the question is optional); the incident is filed under the one
    chosen, as an alert's is under its service."""
    fresh = client.get("/new/it-incident").text
    assert "No services to choose from yet" in fresh
    Catalogue(commands).save_service(
        "payments", {"name": "Payments", "start_data": {}}, actor=None, create=True
    )
    page = client.get("/new/it-incident").text
    assert '<option value="payments">Payments</option>' in page

    high = {**REPORT, "impact": "high", "affected_service": "payments"}
    path = tracking_path(submit(client, high))
    none_named = tracking_path(submit(client, {**REPORT, "impact": "high", "summary": "Slow"}))

    with database.reading() as session:
        filed = dict(session.execute(select(Instance.title, Instance.service_key)).all())
    assert filed == {REPORT["summary"]: "payments", "Slow": None}
    assert path != none_named


def test_a_double_submit_creates_one_incident_and_the_same_tracking_link(
    client: FlaskClient, database: Database
) -> None:
    hidden = open_form(client)
    first = submit(client, REPORT, hidden)
    second = submit(client, REPORT, hidden)
    assert tracking_path(first) == tracking_path(second)
    assert count(database, Instance) == 1


def test_a_page_sent_again_with_other_answers_keeps_the_first_report_and_can_send_a_new_one(
    client: FlaskClient, database: Database
) -> None:
    hidden = open_form(client)
    first = tracking_path(submit(client, REPORT, hidden))
    # Back in the browser, a typo mended, Send again: the same page, other answers.
    mended = {**REPORT, "summary": "The printer on floor 4 is jammed"}
    again = submit(client, mended, hidden)
    assert again.status_code == 409
    assert "You sent this form already" in again.text
    assert f'href="{first}"' in again.text
    assert "floor 4" in again.text  # the answers are still on the page
    assert count(database, Instance) == 1
    fresh = hidden_fields(again.text)
    assert fresh["submission"] != hidden["submission"]
    second = tracking_path(submit(client, mended, fresh))
    assert second != first
    assert count(database, Instance) == 2


@pytest.mark.parametrize("version", ["9" * 5000, "99999999999999999999999", "²", "-1", "0"])
def test_a_form_version_that_names_no_version_is_checked_with_the_latest_form(
    client: FlaskClient, database: Database, version: str
) -> None:
    hidden = {**open_form(client), "form_version": version}
    tracking_path(submit(client, REPORT, hidden))
    assert count(database, Instance) == 1


def test_a_task_number_too_large_for_any_row_is_not_found_on_the_tracking_page(
    client: FlaskClient, database: Database
) -> None:
    path = tracking_path(submit(client, REPORT))
    response = client.post(
        f"{path}/tasks/99999999999999999999999",
        data={**hidden_fields(client.get(path).text), "outcome": "approved"},
    )
    assert response.status_code == 404


def test_a_post_without_the_csrf_token_is_refused_and_stores_nothing(
    client: FlaskClient, database: Database
) -> None:
    hidden = open_form(client)
    del hidden["csrf_token"]
    response = submit(client, REPORT, hidden)
    assert response.status_code == 400
    assert "nothing was saved" in response.text
    assert count(database, Instance) == 0


def test_a_filled_honeypot_is_thanked_and_stores_nothing(
    client: FlaskClient, database: Database
) -> None:
    response = submit(client, {**REPORT, "website": "http://spam.example"})
    assert response.status_code == 200
    assert "Thank you" in response.text
    assert count(database, Instance) == 0


@pytest.mark.parametrize("settings", [{"PORTAL_RATE_LIMIT": "3 per minute"}])
def test_the_rate_limit_answers_429_past_its_limit(
    app: Flask, client: FlaskClient, database: Database
) -> None:
    answers = [submit(client, {**REPORT, "summary": ""}).status_code for _ in range(4)]
    assert answers == [422, 422, 422, 429]
    refused = submit(client, REPORT)
    assert refused.status_code == 429
    assert "Too many tries" in refused.text
    assert 0 < int(refused.headers["Retry-After"]) <= 60  # the limit counts by the minute
    assert count(database, Instance) == 0


def test_a_wrong_tracking_token_shows_nothing(client: FlaskClient) -> None:
    tracking_path(submit(client, REPORT))
    for token in ("0" * 48, "nonsense", "' OR 1=1 --"):
        page = client.get(f"/track/{token}")
        assert page.status_code == 404
        assert "INC-" not in page.text
        assert REPORT["summary"] not in page.text


def test_the_requester_comments_and_confirms_the_resolution_on_the_tracking_page(
    client: FlaskClient, commands: Commands, database: Database
) -> None:
    path = tracking_path(submit(client, REPORT))
    page = client.get(path)
    said = client.post(
        f"{path}/comments", data={**hidden_fields(page.text), "comment": "It is floor 3, west."}
    )
    assert said.status_code == 303
    page = client.get(path)
    assert "It is floor 3, west." in page.text
    assert "You wrote a comment." in page.text
    # Too long: refused, and what was written comes back in the box to be cut, not lost.
    long = "The log says: " + "x" * 20_001
    refused = client.post(f"{path}/comments", data={**hidden_fields(page.text), "comment": long})
    assert refused.status_code == 413
    assert f">{long}</textarea>" in refused.text

    with database.reading() as session:
        work = session.scalars(select(Task).where(Task.step == "work")).one()
    commands.complete(work.id, "resolved", {"resolution": "Cleared the paper path."}, actor="bob")
    page = client.get(path)
    assert "Resolved: please confirm" in page.text
    assert "Cleared the paper path." in page.text  # the public answer of the service desk
    task_id = re.search(r"/tasks/(\d+)", page.text)
    assert task_id is not None
    assert "Yes, it is solved" in page.text
    done = client.post(
        f"{path}/tasks/{task_id.group(1)}",
        data={
            **hidden_fields(page.text),
            "outcome": "approved",
            f"t{task_id.group(1)}.feedback": "Thanks!",  # task fields are named by task
        },
    )
    assert done.status_code == 303
    page = client.get(path)
    assert "Closed" in page.text
    with database.reading() as session:
        instance = session.scalars(select(Instance)).one()
    assert instance.status == "closed"
    assert instance.state["data"]["feedback"] == "Thanks!"


def test_the_requester_reopens_when_the_problem_is_back(
    client: FlaskClient, commands: Commands, database: Database
) -> None:
    path = tracking_path(submit(client, REPORT))
    with database.reading() as session:
        work = session.scalars(select(Task).where(Task.step == "work")).one()
    commands.complete(work.id, "resolved", {"resolution": "Restarted it."}, actor="bob")
    page = client.get(path)
    task_id = re.search(r"/tasks/(\d+)", page.text)
    assert task_id is not None
    client.post(
        f"{path}/tasks/{task_id.group(1)}",
        data={
            **hidden_fields(page.text),
            "outcome": "rejected",
            f"t{task_id.group(1)}.feedback": "Jammed again.",
        },
    )
    with database.reading() as session:
        instance = session.scalars(select(Instance)).one()
        open_steps = session.scalars(select(Task.step).where(Task.status == "open")).all()
    assert instance.status == "in_progress"
    assert open_steps == ["work"]
    again = client.post(
        f"{path}/tasks/{task_id.group(1)}",
        data={**hidden_fields(client.get(path).text), "outcome": "approved"},
    )
    assert again.status_code == 409
    assert "already been answered" in again.text


def test_the_requester_answers_the_service_desks_question(
    client: FlaskClient, commands: Commands, database: Database
) -> None:
    path = tracking_path(submit(client, REPORT))
    with database.reading() as session:
        work = session.scalars(select(Task).where(Task.step == "work")).one()
    commands.complete(work.id, "needs_info", {"question": "Which printer model?"}, actor="bob")
    page = client.get(path)
    assert "Waiting for your answer" in page.text
    assert "Which printer model?" in page.text
    task_id = re.search(r"/tasks/(\d+)", page.text)
    assert task_id is not None
    # The question stands in the box that answers it (the step's `show`), above the form:
    # it was further down the page, after "What you told us".
    box = page.text[page.text.index(f'id="task-{task_id.group(1)}-title"') :]
    assert box.index("Which printer model?") < box.index("Your answer")
    reply = f"t{task_id.group(1)}.reply"
    empty = client.post(
        f"{path}/tasks/{task_id.group(1)}",
        data={**hidden_fields(page.text), "outcome": "done", reply: ""},
    )
    assert empty.status_code == 422
    assert "There is a problem" in empty.text
    sent = client.post(
        f"{path}/tasks/{task_id.group(1)}",
        data={**hidden_fields(page.text), "outcome": "done", reply: "An HP LaserJet 4"},
    )
    assert sent.status_code == 303
    with database.reading() as session:
        instance = session.scalars(select(Instance)).one()
        open_steps = session.scalars(select(Task.step).where(Task.status == "open")).all()
    assert instance.state["data"]["reply"] == "An HP LaserJet 4"
    assert open_steps == ["work"]
    assert "You answered." in client.get(path).text


def test_a_token_does_not_reach_another_instances_task(
    client: FlaskClient, commands: Commands, database: Database
) -> None:
    mine = tracking_path(submit(client, REPORT))
    tracking_path(submit(client, {**REPORT, "summary": "Someone else's"}))
    with database.reading() as session:
        theirs = session.scalars(
            select(Task).join(Instance).where(Instance.title == "Someone else's")
        ).one()
    response = client.post(
        f"{mine}/tasks/{theirs.id}",
        data={**hidden_fields(client.get(mine).text), "outcome": "resolved"},
    )
    assert response.status_code == 404
    with database.reading() as session:
        assert session.get(Task, theirs.id).status == "open"


def test_the_tracking_link_is_mailed_when_the_workflow_asks(
    client: FlaskClient, database: Database
) -> None:
    path = tracking_path(submit(client, REPORT))
    with database.reading() as session:
        messages = session.scalars(select(Outbox).where(Outbox.kind == "notify")).all()
    confirmation = [m for m in messages if m.payload.get("template") == "request-received"]
    assert len(confirmation) == 1
    assert confirmation[0].payload["to"] == {"email": "ada@example.org"}
    assert confirmation[0].payload["link"].endswith(path)


def test_the_confirmation_mail_carries_the_tracking_link(
    client: FlaskClient, database: Database
) -> None:
    smtp = MailServer()
    smtp.start()
    try:
        path = tracking_path(submit(client, REPORT))
        settings = RelaySettings(smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_timeout_s=5)
        report = relay_outbox(database, settings=settings, now=datetime.now(UTC))
    finally:
        smtp.stop()
    assert len(report.sent) == 1
    [(recipients, message)] = smtp.inbox.received
    assert recipients == ["ada@example.org"]
    assert message["Subject"].startswith("We received your request INC-000001")
    body = message.get_body(("plain",)).get_content()
    assert f"http://localhost{path}" in body
    assert client.get(urlsplit(f"http://localhost{path}").path).status_code == 200


def test_a_requester_without_an_account_is_mailed_each_question_and_the_fix_to_confirm(
    client: FlaskClient, commands: Commands, database: Database
) -> None:
    tracking_path(submit(client, REPORT))
    with database.reading() as session:
        work = session.scalars(select(Task).where(Task.step == "work")).one()
    commands.complete(work.id, "needs_info", {"question": "Which printer model?"}, actor="bob")
    with database.reading() as session:
        reply = session.scalars(select(Task).where(Task.step == "ask_requester")).one()
    answer = {"reply": "An HP LaserJet 4"}
    commands.complete(reply.id, "done", answer, actor=REQUESTER, requester_of="INC-000001")
    with database.reading() as session:
        work = session.scalars(select(Task).where(Task.step == "work", Task.status == "open")).one()
    fixed = {"resolution": "Cleared the jam."}
    commands.complete(work.id, "resolved", fixed, actor=work.assignee or "bob")
    smtp = MailServer()
    smtp.start()
    try:
        settings = RelaySettings(smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_timeout_s=5)
        relay_outbox(database, settings=settings, now=datetime.now(UTC))
    finally:
        smtp.stop()
    mails = [(to, m["Subject"], m.get_body(("plain",)).get_content())
             for to, m in smtp.inbox.received]  # fmt: skip
    assert [subject for _, subject, _ in mails] == [
        "We received your request INC-000001: The printer on floor 3 is jammed",
        "We need more information about INC-000001",
        "Is your problem solved? (INC-000001)",
    ]
    assert {tuple(to) for to, _, _ in mails} == {("ada@example.org",)}
    assert "Our question: Which printer model?" in mails[1][2]
    assert "What we did: Cleared the jam." in mails[2][2]
    assert "Which printer model?" not in mails[2][2]  # answered: not asked again
    assert "tracking page" in mails[2][2]


def test_a_requester_with_an_account_hears_on_the_bell_not_by_an_extra_mail(
    commands: Commands, database: Database
) -> None:
    with database.writer_session() as session, session.begin():
        ensure_user(session, "rita", datetime.now(UTC), email="rita@example.org")
    commands.start("it-incident", REPORT, requester="rita")
    with database.reading() as session:
        work = session.scalars(select(Task).where(Task.step == "work")).one()
    commands.complete(work.id, "needs_info", {"question": "Which one?"}, actor="bob")
    with database.reading() as session:
        templates = [m.payload.get("template") for m in session.scalars(select(Outbox))]
    assert "requester-task" not in templates


@pytest.mark.parametrize("settings", [{"BASE_URL": "https://desk.example.org/"}])
def test_the_mailed_link_is_on_the_base_url_whatever_host_the_request_named(
    client: FlaskClient, database: Database
) -> None:
    forged = {"Host": "evil.example"}
    hidden = hidden_fields(client.get("/new/it-incident", headers=forged).text)
    response = client.post("/new/it-incident", data={**hidden, **REPORT}, headers=forged)
    path = tracking_path(response)
    with database.reading() as session:
        message = session.scalars(select(Outbox).where(Outbox.kind == "notify")).one()
    assert message.payload["link"] == f"https://desk.example.org{path}"


def test_the_form_schema_and_live_validation_answer_what_the_submit_would(
    client: FlaskClient,
) -> None:
    schema = client.get("/api/v1/forms/incident-report/schema")
    assert schema.status_code == 200
    assert schema.json["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    bad = {**REPORT, "email": "ada at example", "summary": ""}
    live = client.post("/api/v1/forms/incident-report/validate", json=bad).json
    assert live["valid"] is False
    page = submit(client, bad).text
    for error in live["errors"]:
        assert error["message"] in page
    assert {e["field"] for e in live["errors"]} == {"email", "summary"}
    posted = client.post("/api/v1/forms/incident-report/validate", data=bad).json
    assert posted["errors"] == live["errors"]
    shown = client.post(
        "/api/v1/forms/incident-report/validate",
        json={**REPORT, "impact": "high", "affected_service": "ghost"},
    ).json
    assert "affected_service" in shown["visible"]
    assert "affected_service" not in shown["required"]
    assert shown["errors"] == [
        {
            "field": "affected_service",
            "pointer": "/affected_service",
            "message": "There is no service 'ghost' in the catalogue; choose one it has",
        }
    ]
    ghost = {**REPORT, "impact": "high", "affected_service": "ghost"}
    assert submit(client, ghost).status_code == 422


def test_forms_that_are_not_public_are_not_served_to_anonymous_callers(
    client: FlaskClient,
) -> None:
    assert client.get("/api/v1/forms/incident-resolution/schema").status_code == 404
    refused = client.post("/api/v1/forms/incident-resolution/validate", json={})
    assert refused.status_code == 404
    assert refused.json["code"] == "not_found"
    assert client.get("/new/major-incident").status_code == 404


def test_the_home_page_lists_the_public_forms(client: FlaskClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert "/new/it-incident" in page.text
    assert "/new/major-incident" not in page.text
    # In the requester's words of its start form, not the workflow's notes to maintainers.
    assert "Tell us what is not working." in page.text
    assert "ITIL incident management" not in page.text


def test_the_secret_key_is_made_once_and_kept(tmp_path: Any, monkeypatch: Any) -> None:
    from web.app import create_app

    monkeypatch.setenv("FLOWDESK_INSTANCE_PATH", str(tmp_path))
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    first = create_app({"DATABASE_URL": url}).config["SECRET_KEY"]
    second = create_app({"DATABASE_URL": url}).config["SECRET_KEY"]
    assert first == second
    assert len(first) == 64
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_a_secret_key_too_short_to_keep_sessions_safe_is_refused_by_the_app_and_up(
    tmp_path: Any, monkeypatch: Any
) -> None:
    """docs/production.md said `export FLOWDESK_SECRET_KEY=...`: pasted, three characters
    signed every session and CSRF token. Fewer than 32 are refused, saying how to make one;
    `flowdesk up` says so once and starts nothing."""
    from click.testing import CliRunner

    from web.app import WeakSecret, create_app
    from web.cli import main

    monkeypatch.setenv("FLOWDESK_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("FLOWDESK_SECRET_KEY", "...")
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    with pytest.raises(WeakSecret, match="has 3 characters; it needs at least 32"):
        create_app({"DATABASE_URL": url})
    refused = CliRunner().invoke(main, ["up", "--port", "9"])
    assert refused.exit_code == 1
    assert "secrets.token_urlsafe(48)" in refused.output
    assert "nothing was started" in refused.output
    assert not (tmp_path / "flowdesk.sqlite3").exists()
    monkeypatch.setenv("FLOWDESK_SECRET_KEY", "k" * 32)
    assert create_app({"DATABASE_URL": url}).config["SECRET_KEY"] == "k" * 32


def test_a_submission_is_checked_with_the_form_version_its_page_showed(
    app: Flask, client: FlaskClient, database: Database
) -> None:
    old_page = open_form(client)
    form = json.loads((PACK / "forms" / "incident-report.json").read_text())
    form["fields"].insert(2, {"key": "asset_tag", "type": "text", "label": "Asset tag",
                              "required": True})  # fmt: skip
    with database.writer_session() as session, session.begin():
        published = publish_document(session, "form", form, datetime.now(UTC), "test")
    assert published.created
    # As a new process sees it: its own cache of what is published.
    app.extensions["flowdesk"] = replace(app.extensions["flowdesk"], published=Published(database))

    response = submit(client, REPORT, old_page)  # made on the page without the new field
    tracking_path(response)
    new_page = client.get("/new/it-incident").text
    assert "Asset tag" in new_page
    refused = submit(client, REPORT, hidden_fields(new_page))
    assert refused.status_code == 422
    assert "Asset tag" in refused.text
    with database.reading() as session:
        pinned = session.scalars(select(Event).where(Event.kind == "form_submitted")).one()
        versions = session.scalars(
            select(DefinitionVersion.id).order_by(DefinitionVersion.id)
        ).all()
    assert pinned.detail["version_id"] == int(old_page["form_version"])
    assert pinned.detail["version_id"] in versions
    assert int(old_page["form_version"]) != int(hidden_fields(new_page)["form_version"])


def test_a_page_of_a_form_version_superseded_more_than_a_day_ago_is_checked_by_the_latest(
    app: Flask, client: FlaskClient, database: Database
) -> None:
    """A page may be sent a while after a new version is published, and is checked as it
    was shown; but any older version was taken for ever, so answers could skip what every
    newer version asks (the API's start took the latest only)."""
    old_page = open_form(client)
    form = json.loads((PACK / "forms" / "incident-report.json").read_text())
    form["fields"].insert(2, {"key": "asset_tag", "type": "text", "label": "Asset tag",
                              "required": True})  # fmt: skip
    with database.writer_session() as session, session.begin():
        assert publish_document(session, "form", form, datetime.now(UTC), "test").created
    services = replace(app.extensions["flowdesk"], published=Published(database))
    app.extensions["flowdesk"] = services
    services.commands.clock = lambda: datetime.now(UTC) + timedelta(days=1, minutes=5)

    refused = submit(client, REPORT, old_page)

    assert refused.status_code == 422
    assert "Asset tag" in refused.text
    with database.reading() as session:
        assert session.scalars(select(Instance.id)).all() == []


def test_the_tracking_page_shows_only_what_the_workflow_shows_the_requester(
    client: FlaskClient, commands: Commands, database: Database
) -> None:
    path = tracking_path(submit(client, REPORT))
    with database.reading() as session:
        work = session.scalars(select(Task).where(Task.step == "work")).one()
    # The service desk's own answers: the cause is internal, the resolution is public.
    commands.complete(
        work.id,
        "resolved",
        {"resolution": "Cleared the paper path.", "cause": "hardware-fault"},
        actor="bob",
    )

    page = client.get(path).text

    assert "The printer on floor 3 is jammed" in page  # what they told us
    assert "Cleared the paper path." in page  # marked public in its form
    assert "hardware-fault" not in page  # the cause is the desk's
    assert "desktop-support" not in page  # the team an action set
    assert ">portal<" not in page  # the start form's hidden field


def test_a_workflow_that_lists_what_its_requester_sees_shows_that_and_nothing_else(
    client: FlaskClient, commands: Commands, database: Database
) -> None:
    workflow = json.loads((PACK / "it-incident.json").read_text())
    workflow["requester_sees"] = ["summary", "resolution"]
    with database.writer_session() as session, session.begin():
        publish_document(session, "workflow", workflow, datetime.now(UTC), "test")
    path = tracking_path(submit(client, REPORT))
    with database.reading() as session:
        work = session.scalars(select(Task).where(Task.step == "work")).one()
    commands.complete(work.id, "resolved", {"resolution": "Cleared it."}, actor="bob")

    page = client.get(path).text

    assert "The printer on floor 3 is jammed" in page
    assert "Cleared it." in page
    assert "It blinks red." not in page  # the description was not listed
    assert "ada@example.org" not in page


def test_the_tracking_page_names_the_team_that_works_the_request(
    client: FlaskClient, commands: Commands, database: Database
) -> None:
    """A workflow's `team` is who the requester writes to and who answered them; without
    one, the service desk (the first report, on the version before)."""
    first = tracking_path(submit(client, REPORT))
    workflow = json.loads((PACK / "it-incident.json").read_text())
    workflow["team"] = "Facilities"
    with database.writer_session() as session, session.begin():
        publish_document(session, "workflow", workflow, datetime.now(UTC), "test")
    path = tracking_path(submit(client, REPORT))
    with database.reading() as session:
        number = session.scalar(select(Instance.number).order_by(Instance.id.desc()))
    commands.comment(str(number), "A technician comes at noon.", actor="bob", public=True)

    page = client.get(path).text

    assert '<label for="comment">Write to Facilities</label>' in page
    assert re.search(r'class="comment-meta">Facilities, <time', page)
    assert '<label for="comment">Write to the service desk</label>' in client.get(first).text


def test_the_tracking_page_says_an_end_without_a_word_twice(
    client: FlaskClient, database: Database, app: Flask
) -> None:
    """A workflow that ends as 'closed' said "Closed: Closed." on the tracking page."""
    quick = {
        "kind": "workflow", "format": 1, "key": "quick-close", "title": "Closed at once",
        "start": {"form": "incident-report", "public": True},
        "first": "closed", "steps": {"closed": {"type": "end", "status": "closed"}},
    }  # fmt: skip
    with database.writer_session() as session, session.begin():
        publish_document(session, "workflow", quick, datetime.now(UTC), "test")
    app.extensions["flowdesk"] = replace(app.extensions["flowdesk"], published=Published(database))
    hidden = hidden_fields(client.get("/new/quick-close").text)
    response = client.post("/new/quick-close", data={**hidden, **REPORT})
    page = client.get(tracking_path(response)).text
    assert "Closed." in page
    assert "Closed: Closed" not in page
