"""The studio's index (workflows and forms) and the workflow designer's page."""

from __future__ import annotations

import json
import re

import pytest
from flask.testing import FlaskClient

from designer.workflow_pages import STEP_PALETTE
from engine.core.schema import validator
from engine.service.commands import Commands
from engine.service.people import ensure_user
from engine.store.database import Database
from tests.infrastructure import give_password
from tests.web.conftest import hidden_fields
from tests.web.test_admin import PASSWORD, sign_in


@pytest.fixture
def people(database: Database, commands: Commands) -> None:
    """dana, a designer; bob, an agent; rita, a requester; all with a password."""
    with database.writer_session() as session, session.begin():
        ensure_user(session, "dana", commands.clock(), name="Dana", roles=["designer"])
        ensure_user(session, "rita", commands.clock(), name="Rita", roles=["requester"])
        for username in ("dana", "bob", "rita"):
            give_password(session, username, PASSWORD)


@pytest.fixture
def dana(client: FlaskClient, people: None) -> FlaskClient:
    assert sign_in(client, "dana").status_code == 302
    return client


def new_workflow(client: FlaskClient, key: str, start: str = "blank") -> tuple[int, str, str]:
    """Post the index's "New workflow" form as a browser does: status, page, where it leads."""
    token = hidden_fields(client.get("/designer/").text)["csrf_token"]
    response = client.post(
        "/designer/workflows/new", data={"csrf_token": token, "key": key, "start": start}
    )
    return response.status_code, response.text, response.headers.get("Location", "")


def test_the_studio_lists_workflows_and_forms_each_with_a_way_to_start_one(
    dana: FlaskClient,
) -> None:
    page = dana.get("/designer/")
    assert page.status_code == 200
    html = page.text
    assert re.search(r'href="/designer/workflows/it-incident">IT incident', html, re.I)
    assert 'href="/designer/forms/incident-report"' in html
    assert "New workflow" in html
    assert "New form" in html
    assert 'value="template:it-incident"' in html, "the shipped workflows are templates"
    assert 'value="form:incident-report"' in html, "a published form can start a workflow"


def test_a_designer_opens_the_designer_of_a_workflow(dana: FlaskClient) -> None:
    page = dana.get("/designer/workflows/it-incident")
    assert page.status_code == 200
    html = page.text
    assert '<script type="module" src="/designer/static/workflow/editor.js"' in html
    assert not re.search(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", html)
    assert 'style="' not in html
    found = re.search(r'<script type="application/json" id="workflow-config">(.*?)</script>', html)
    assert found is not None
    config = json.loads(found.group(1))
    assert config["key"] == "it-incident"
    assert config["api"] == "/designer/api/workflows"
    for module in ("editor", "model", "layout", "canvas", "routes"):
        served = dana.get(f"/designer/static/workflow/{module}.js")
        served.close()
        assert served.status_code == 200, module


def test_the_palette_offers_every_step_type_of_the_language_with_help() -> None:
    types = validator("workflow").schema["$defs"]["step"]["properties"]["type"]["enum"]
    assert [entry.type for entry in STEP_PALETTE] == types
    assert all(entry.help.endswith(".") for entry in STEP_PALETTE)


def test_a_new_workflow_from_a_template_opens_its_designer_and_is_listed(
    dana: FlaskClient,
) -> None:
    status, _, location = new_workflow(dana, "laptop-request", "template:service-request")
    assert (status, location) == (303, "/designer/workflows/laptop-request")
    assert "/designer/workflows/laptop-request" in dana.get("/designer/").text


def test_a_new_workflow_with_a_bad_key_is_refused_with_a_message_and_nothing_stored(
    dana: FlaskClient,
) -> None:
    status, page, _ = new_workflow(dana, "9 Bad key!")
    assert status == 422
    assert "Give the workflow a key that starts with a letter" in page
    assert 'value="9 bad key!"' in page, "what was typed is kept to correct"
    assert "/designer/workflows/9" not in dana.get("/designer/").text


def test_a_new_workflow_on_a_taken_key_or_an_unknown_template_says_why(
    dana: FlaskClient,
) -> None:
    status, page, _ = new_workflow(dana, "it-incident")
    assert status == 409
    assert "already a workflow" in page
    status, page, _ = new_workflow(dana, "fresh", "template:no-such-template")
    assert status == 422
    assert "no template" in page
    status, page, _ = new_workflow(dana, "context")
    assert status == 422


@pytest.mark.parametrize("who", ["bob", "rita"])
def test_agents_and_requesters_are_refused_the_studio(
    client: FlaskClient, people: None, who: str
) -> None:
    assert sign_in(client, who).status_code == 302
    assert client.get("/designer/").status_code == 403
    assert client.get("/designer/workflows/it-incident").status_code == 403
    assert client.post("/designer/workflows/new", data={"key": "x"}).status_code in (400, 403)


def test_visitors_are_sent_to_sign_in(client: FlaskClient, people: None) -> None:
    page = client.get("/designer/workflows/it-incident")
    assert page.status_code == 302
    assert "/sign-in" in page.headers["Location"]


def test_the_form_designer_opened_for_a_workflow_leads_back_to_it(dana: FlaskClient) -> None:
    page = dana.get("/designer/forms/laptop-handover?for=laptop-request").text
    assert 'href="/designer/workflows/laptop-request" id="back-to-workflow"' in page
    assert "Back to the workflow" not in dana.get("/designer/forms/laptop-handover").text
    # Only a workflow key leads anywhere: nothing else from the address reaches the page.
    for sent in ("https://evil.example", "../admin", "context", "<b>x</b>"):
        assert "Back to the workflow" not in dana.get(f"/designer/forms/x?for={sent}").text
