"""A public form whose options are bare numbers, `[1, 2, 3]`, through the portal and the API.

The portal posts "2" and the instance stores the number 2, which the workflow compares as
a number; "4" is refused with the usual words; the API's schema and live validation agree.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from engine.catalog import Document
from engine.service.commands import Commands
from engine.service.definitions import publish_all
from engine.store.database import Database
from engine.store.instances import Instance, Task
from tests.web.conftest import hidden_fields

SURVEY_FORM = {
    "kind": "form",
    "format": 1,
    "key": "survey",
    "title": "How did we do?",
    "fields": [
        {"key": "score", "type": "radio", "label": "Your score", "required": True,
         "options": [1, 2, 3]},
        {"key": "comment", "type": "textarea", "label": "Anything to add?"},
    ],
}  # fmt: skip
SURVEY = {
    "kind": "workflow",
    "format": 1,
    "key": "survey",
    "title": "Survey",
    "start": {"form": "survey", "public": True, "number_prefix": "SAT"},
    "first": "route",
    "steps": {
        "route": {
            "type": "decision",
            "branches": [{"label": "Happy", "when": "score >= 3", "next": "done"}],
            "otherwise": "call_back",
        },
        "call_back": {
            "type": "task",
            "title": "Call back: score {{ score }}",
            "assign": {"group": "service-desk"},
            "next": "done",
        },
        "done": {"type": "end", "status": "closed"},
    },
}


@pytest.fixture
def survey(app: Flask, database: Database, commands: Commands) -> None:
    """The pack and the survey, published as a designer would: checked first."""
    documents = [
        Document(Path("survey-form.json"), SURVEY_FORM),
        Document(Path("survey.json"), SURVEY),
    ]
    with database.writer_session() as session, session.begin():
        publish_all(session, documents, datetime.now(UTC), "test")


def submit(client: FlaskClient, **values: Any) -> Any:
    page = client.get("/new/survey")
    assert page.status_code == 200
    return client.post("/new/survey", data={**hidden_fields(page.text), **values})


@pytest.mark.usefixtures("survey")
def test_the_portal_offers_the_numbers_and_stores_the_one_chosen_as_a_number(
    client: FlaskClient, database: Database
) -> None:
    page = client.get("/new/survey").text
    buttons = re.findall(r'<input id="(f-score[-\d]*)" name="score"[^>]* value="(\d)">', page)
    labels = dict(re.findall(r'<label for="(f-score[-\d]*)">([^<]*)</label>', page))
    assert [(value, labels[at]) for at, value in buttons] == [("1", "1"), ("2", "2"), ("3", "3")]

    refused = submit(client, score="4")
    assert refused.status_code == 422
    assert "Choose one of the options" in refused.text

    taken = submit(client, score="2", comment="Slow")
    assert taken.status_code == 303, taken.text
    with database.reading() as session:
        instance = session.scalars(select(Instance)).one()
        tasks = session.scalars(select(Task.title)).all()
    assert instance.state["data"]["score"] == 2
    assert type(instance.state["data"]["score"]) is int
    assert tasks == ["Call back: score 2"]  # 2 >= 3 was compared as numbers


@pytest.mark.usefixtures("survey")
def test_the_api_schema_and_live_validation_agree_with_the_portal(client: FlaskClient) -> None:
    schema = client.get("/api/v1/forms/survey/schema").json
    assert schema["properties"]["score"]["enum"] == [1, 2, 3]

    def check(**send: Any) -> Any:
        return client.post("/api/v1/forms/survey/validate", **send).json

    assert check(json={"score": 2})["valid"] is True
    assert check(data={"score": "2"})["valid"] is True
    refused = [{"field": "score", "pointer": "/score", "message": "Choose one of the options"}]
    for send in ({"json": {"score": 4}}, {"json": {"score": "2"}}, {"data": {"score": "4"}}):
        answer = check(**send)
        assert (answer["valid"], answer["errors"]) == (False, refused), send
