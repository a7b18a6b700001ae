"""Publishing through every door: content equal to an older version, broken documents, the lock.

The admin's import page, the API's `POST /api/v1/workflows` and the designer's publish
(with `flowdesk load` and `flowdesk up`, in the integration suite) all publish the same
way: checks first, outside the write transaction; then a write that compares content
hashes and inserts. Content equal to any version already published is that version,
and the latest stays the latest.
"""

from __future__ import annotations

import copy
import json
import threading
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from markupsafe import escape

from engine.service.commands import Commands
from engine.service.people import ensure_user
from engine.service.tokens import issue_token
from engine.store.database import Database
from engine.store.uow import UnitOfWork
from tests.infrastructure import PACK, give_password
from tests.web.test_admin import PASSWORD, sign_in, upload, versions
from tests.web.test_designer import SMALL, Designer

WORKFLOW = json.loads((PACK / "it-incident.json").read_text())
REVISED = {**WORKFLOW, "title": "IT incident, revised"}


def broken() -> dict[str, Any]:
    """The shipped workflow with a route to a step that does not exist."""
    document = copy.deepcopy(WORKFLOW)
    document["steps"]["categorize"]["next"] = "nowhere"
    return document


@pytest.fixture
def people(database: Database, commands: Commands) -> dict[str, str]:
    """root (admin) and dana (designer) with passwords; dee (designer) with an API token."""
    with database.writer_session() as session, session.begin():
        ensure_user(session, "root", commands.clock(), roles=["admin"])
        ensure_user(session, "dana", commands.clock(), roles=["designer"])
        ensure_user(session, "dee", commands.clock(), roles=["designer"])
        give_password(session, "root", PASSWORD)
        give_password(session, "dana", PASSWORD)
        _, token = issue_token(session, "dee", "publisher", commands.clock())
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def admin(client: FlaskClient, people: dict[str, str]) -> FlaskClient:
    assert sign_in(client, "root").status_code == 302
    return client


def latest(client: FlaskClient, headers: dict[str, str]) -> int:
    (item,) = [
        row
        for row in client.get("/api/v1/workflows", headers=headers).json["items"]
        if row["key"] == "it-incident"
    ]
    return int(item["latest_version"])


# Content equal to an older version ---------------------------------------------------------


def test_importing_a_file_equal_to_an_older_version_brings_that_version_back_as_the_next(
    admin: FlaskClient, database: Database
) -> None:
    assert upload(admin, REVISED).status_code == 303
    assert versions(database, "it-incident") == [1, 2]
    again = upload(admin, WORKFLOW)  # the shipped file: version 1, a rollback
    assert again.status_code == 303
    assert again.headers["Location"] == "/admin/workflows/it-incident"
    page = admin.get(again.headers["Location"]).text
    assert "Published workflow it-incident version 3 (the same as version 1)." in page
    assert versions(database, "it-incident") == [1, 2, 3]
    same = upload(admin, WORKFLOW)  # the latest already: nothing to publish
    assert (
        "is unchanged: version 3 has the same content" in admin.get(same.headers["Location"]).text
    )
    assert versions(database, "it-incident") == [1, 2, 3]


def test_the_api_publishes_content_equal_to_an_older_version_as_the_next_one(
    client: FlaskClient, people: dict[str, str], database: Database
) -> None:
    assert client.post("/api/v1/workflows", json=REVISED, headers=people).status_code == 201
    again = client.post("/api/v1/workflows", json=WORKFLOW, headers=people)
    assert again.status_code == 201
    assert (again.json["version"], again.json["created"]) == (3, True)
    assert latest(client, people) == 3
    assert versions(database, "it-incident") == [1, 2, 3]
    same = client.post("/api/v1/workflows", json=WORKFLOW, headers=people)
    assert (same.status_code, same.json["version"], same.json["created"]) == (200, 3, False)


def test_the_designer_publishing_a_draft_equal_to_an_older_version_brings_it_back(
    client: FlaskClient, people: dict[str, str]
) -> None:
    """A form broken by version 2 is mended by publishing version 1's content again: the
    designer rolls back by publishing, and the new version says which one it brings back."""
    assert sign_in(client, "dana").status_code == 302
    dana = Designer(client)
    assert dana.save("laptop-request", SMALL).status_code == 200
    assert dana.publish("laptop-request").status_code == 201
    assert dana.save("laptop-request", {**SMALL, "title": "A laptop, v2"}).status_code == 200
    assert dana.publish("laptop-request").status_code == 201
    assert dana.save("laptop-request", SMALL).status_code == 200
    again = dana.publish("laptop-request")
    assert again.status_code == 201
    assert (again.json["version"], again.json["created"]) == (3, True)
    assert again.json["latest_version"] == 3
    assert again.json["message"] == "Version 3 is published: the same as version 1, brought back."
    same = dana.publish("laptop-request")
    assert same.json["message"] == "Nothing was published: the draft is identical to version 3."
    listed = [v["version"] for v in dana.get("/forms/laptop-request/versions").json["versions"]]
    assert listed == [1, 2, 3]


# A broken workflow is refused alike through every door -------------------------------------


def test_a_broken_workflow_is_refused_alike_by_the_import_page_and_the_api(
    client: FlaskClient, admin: FlaskClient, people: dict[str, str], database: Database
) -> None:
    api = client.application.test_client().post("/api/v1/workflows", json=broken(), headers=people)
    assert api.status_code == 422
    problems = [(error["pointer"], error["message"]) for error in api.json["errors"]]
    assert ("/steps/categorize/next", "there is no step 'nowhere'") in [
        (pointer, message.partition(";")[0]) for pointer, message in problems
    ]
    page = upload(admin, broken())
    assert page.status_code == 422
    for pointer, message in problems:
        assert f"<code>{pointer}</code>: {escape(message)}" in page.text
    assert versions(database, "it-incident") == [1]


# Checks run before the write transaction ----------------------------------------------------


def test_a_broken_document_is_refused_while_another_writer_holds_the_database(
    app: Flask, people: dict[str, str], database: Database
) -> None:
    """The checks need no write lock: a writer busy elsewhere does not hold up the refusal."""
    answers: list[int] = []
    # A token's first use notes when it was used, a write; this test is about the publish.
    assert app.test_client().get("/api/v1/me", headers=people).status_code == 200

    def publish_broken() -> None:
        client = app.test_client()
        answers.append(client.post("/api/v1/workflows", json=broken(), headers=people).status_code)

    with UnitOfWork(database):  # another writer, in the middle of its transaction
        publisher = threading.Thread(target=publish_broken)
        publisher.start()
        publisher.join(timeout=10)
        refused_meanwhile = not publisher.is_alive()
    publisher.join()
    assert refused_meanwhile, "the refusal waited for the other writer's lock"
    assert answers == [422]
