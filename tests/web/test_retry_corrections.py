"""A step stopped by its own data goes on once an admin corrects the data as they retry.

The workflow divides a budget into as many parts as people share it: started with nobody
(`heads` 0), its action stops on an incident ("division by zero"), which a plain retry
meets again. The retry may set fields first, at every door (the instance page, the API,
`flowdesk retry --data`), each checked as its form checks it, and only by an admin. `parts`
is a field no form has (an action set it); `heads` and the rest are the start form's.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from engine.catalog import Document
from engine.service.commands import Commands
from engine.service.definitions import publish_all
from engine.service.errors import NotAllowed
from engine.service.people import ensure_user
from engine.service.queries import incidents_of
from engine.service.submissions import InvalidData
from engine.service.tokens import issue_token
from engine.store.database import Database
from engine.store.instances import Event, Instance, Task
from tests.infrastructure import give_password
from tests.web.test_admin import PASSWORD, sign_in
from web.cli import main

SPLIT_FORM = {
    "kind": "form",
    "format": 1,
    "key": "split-request",
    "title": "Split a budget",
    "fields": [
        {"key": "budget", "type": "number", "label": "Budget", "required": True},
        {
            "key": "heads",
            "type": "number",
            "label": "People",
            "integer": True,
            "min": 0,
            "required": True,
        },
        {"key": "approver", "type": "user", "label": "Approver", "required": True},
        {"key": "note", "type": "text", "label": "Note", "required": True},
        {"key": "code", "type": "hidden", "label": "Code", "default": "split"},
        {"key": "double", "type": "calculated", "label": "Twice", "expr": "budget * 2"},
    ],
}
SPLIT = {
    "kind": "workflow",
    "format": 1,
    "key": "split",
    "title": "Split",
    "start": {"form": "split-request", "number_prefix": "SPL"},
    "first": "prepare",
    "steps": {
        "prepare": {"type": "action", "set": {"parts": {"expr": "heads"}}, "next": "divide"},
        "divide": {
            "type": "action",
            "set": {"per_head": {"expr": "budget / parts"}},
            "next": "approve",
        },
        "approve": {
            "type": "approval",
            "assign": {"user": "{{ approver }}"},
            "on": {"approved": "done", "rejected": "done"},
        },
        "done": {"type": "end"},
    },
}


@pytest.fixture
def stopped(database: Database, commands: Commands) -> str:
    """SPL-000001, stopped at 'divide' on a division by zero; ada is an admin, bob an agent."""
    now = datetime.now(UTC)
    documents = [Document(Path("split-request.json"), SPLIT_FORM), Document(Path("s.json"), SPLIT)]
    with database.writer_session() as session, session.begin():
        publish_all(session, documents, now, "test")
        ensure_user(session, "ada", now, roles=["admin"])
        ensure_user(session, "bob", now, roles=["agent"])
        ensure_user(session, "maria", now)
        for name in ("ada", "bob"):
            give_password(session, name, PASSWORD)
    data = {"budget": 1200, "heads": 0, "approver": "maria", "note": "Team lunch"}
    number = str(commands.start("split", data, requester="bob")["number"])
    assert "division by zero" in stops(database, number)["divide"]
    return number


def stops(database: Database, number: str) -> dict[str, str]:
    with database.reading() as session:
        state = session.scalar(select(Instance.state).where(Instance.number == number))
    return dict(incidents_of(state))


def data_of(database: Database, number: str) -> dict[str, Any]:
    with database.reading() as session:
        state = session.scalar(select(Instance.state).where(Instance.number == number))
    return dict(state["data"])


def approvals(database: Database, number: str) -> list[str | None]:
    with database.reading() as session:
        return list(
            session.scalars(
                select(Task.assignee)
                .join(Instance, Instance.id == Task.instance_id)
                .where(Instance.number == number, Task.step == "approve")
            )
        )


def test_the_corrected_field_is_set_on_the_timeline_and_the_step_goes_on(
    commands: Commands, database: Database, stopped: str
) -> None:
    commands.retry(stopped, actor="ada", data={"parts": 4})

    assert stops(database, stopped) == {}
    assert data_of(database, stopped)["per_head"] == 300
    assert approvals(database, stopped) == ["maria"]
    with database.reading() as session:
        corrected = session.execute(
            select(Event.actor, Event.why, Event.detail)
            .join(Instance, Instance.id == Event.instance_id)
            .where(Instance.number == stopped, Event.kind == "data_set", Event.step.is_(None))
        ).one()
    assert tuple(corrected) == ("ada", "corrected for the retry", {"field": "parts", "value": 4})


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        ({"heads": "four"}, "heads", "Enter a whole number"),
        ({"heads": 2.5}, "heads", "whole number"),
        ({"hedas": 4}, "hedas", "did you mean 'heads'?"),
        ({"approver": "ghost"}, "approver", "There is no active user 'ghost'"),
        ({"heads.count": 4}, "heads.count", "'heads' holds no fields here"),
        ({"no such": 1}, "no such", "Name a field"),
        ({"note": ""}, "note", "Fill in this field"),
        ({"note": "two\nlines"}, "note", "line"),
        ({"double": 5}, "double", "worked out from the others"),
        ({"code": "other"}, "code", "keeps what its form gave it"),
        ({"priority": "P1"}, "priority", "has its own command"),
        ({"parts.count": 4}, "parts.count", "'parts' holds no fields here"),
    ],
)
def test_a_correction_the_field_does_not_take_is_refused_and_changes_nothing(
    commands: Commands,
    database: Database,
    stopped: str,
    data: dict[str, Any],
    field: str,
    words: str,
) -> None:
    before = data_of(database, stopped)

    with pytest.raises(InvalidData) as refused:
        commands.retry(stopped, actor="ada", data=data)

    said = {problem.field: problem.message for problem in refused.value.fields}
    assert field in said
    assert words in said[field]
    assert data_of(database, stopped) == before
    assert "division by zero" in stops(database, stopped)["divide"]


def test_only_an_admin_corrects_and_retries(
    commands: Commands, database: Database, stopped: str
) -> None:
    with pytest.raises(NotAllowed):
        commands.retry(stopped, actor="bob", data={"parts": 4})
    assert data_of(database, stopped)["parts"] == 0


def test_the_instance_page_corrects_a_value_read_as_its_field_reads_it(
    client: FlaskClient, database: Database, stopped: str
) -> None:
    """A form's field reads the text as its form does ("three" is no whole number); a field
    no form has reads it as JSON unless it holds text ("3" is the number 3)."""
    assert sign_in(client, "ada").status_code == 302
    page = client.get(f"/instances/{stopped}").text
    assert "Correct a value first (optional)" in page
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None
    post = {"csrf_token": token.group(1), "field": "heads", "value": "three"}

    refused = client.post(f"/instances/{stopped}/retry", data=post)

    assert refused.status_code == 422
    assert "heads: Enter a whole number" in refused.text
    assert 'value="three"' in refused.text  # what was typed is kept to mend
    nameless = client.post(f"/instances/{stopped}/retry", data={**post, "field": ""})
    assert nameless.status_code == 422
    assert "Name the field to correct" in nameless.text
    assert data_of(database, stopped)["parts"] == 0

    done = client.post(f"/instances/{stopped}/retry", data={**post, "field": "parts", "value": "3"})

    assert done.status_code == 303
    assert data_of(database, stopped)["per_head"] == 400


def test_the_api_corrects_the_data_its_body_gives_and_retries_without_one(
    app: Flask, database: Database, commands: Commands, stopped: str
) -> None:
    with database.writer_session() as session, session.begin():
        token = issue_token(session, "ada", "tests", datetime.now(UTC))[1]
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}

    plain = client.post(f"/api/v1/instances/{stopped}/retry", headers=headers)
    assert plain.status_code == 200  # retried as it was: stopped again, on the same cause
    assert "division by zero" in stops(database, stopped)["divide"]

    wrong = client.post(
        f"/api/v1/instances/{stopped}/retry", json={"data": {"heads": "x"}}, headers=headers
    )
    assert wrong.status_code == 422
    assert wrong.json["errors"][0]["field"] == "data.heads"

    fixed = client.post(
        f"/api/v1/instances/{stopped}/retry", json={"data": {"parts": 6}}, headers=headers
    )
    assert fixed.status_code == 200
    assert data_of(database, stopped)["per_head"] == 200


def test_flowdesk_retry_corrects_what_data_names(
    database_url: str, database: Database, stopped: str
) -> None:
    runner = CliRunner()
    env = {"FLOWDESK_DATABASE_URL": database_url}
    args = ["retry", stopped, "--as", "ada", "--data"]

    wrong = runner.invoke(main, [*args, json.dumps({"heads": -1})], env=env)
    assert wrong.exit_code == 1, wrong.output
    assert "heads" in wrong.output

    done = runner.invoke(main, [*args, json.dumps({"parts": 2})], env=env)
    assert done.exit_code == 0, done.output
    assert data_of(database, stopped)["per_head"] == 600


COUNT_FORM = {
    "kind": "form",
    "format": 1,
    "key": "count-heads",
    "title": "Count the people",
    "fields": [{"key": "people", "type": "number", "label": "People", "integer": True,
                "required": True}],
}  # fmt: skip
COUNTED = {
    "kind": "workflow",
    "format": 1,
    "key": "counted",
    "title": "Counted",
    "start": {"form": "split-request", "number_prefix": "CNT"},
    "first": "count",
    "steps": {
        "count": {
            "type": "task",
            "form": "count-heads",
            "assign": {"user": "{{ approver }}"},
            "on": {"done": "divide"},
        },
        "divide": {"type": "action", "set": {"per_head": {"expr": "budget / people"}},
                   "next": "done"},
        "done": {"type": "end"},
    },
}  # fmt: skip


def test_a_correction_is_checked_by_the_form_version_its_task_answered(
    commands: Commands, database: Database, stopped: str
) -> None:
    """The task's form said "a whole number of people"; a newer version of that form, published
    since, takes any text. The correction is the answer the task gave: it is checked as
    the version the task opened with checks it, and "four" would only stop the step again."""
    documents = [Document(Path("count.json"), COUNT_FORM), Document(Path("c.json"), COUNTED)]
    with database.writer_session() as session, session.begin():
        publish_all(session, documents, datetime.now(UTC), "test")
    data = {"budget": 1200, "heads": 1, "approver": "maria", "note": "Team lunch"}
    number = str(commands.start("counted", data, requester="bob")["number"])
    with database.reading() as session:
        task = session.scalars(select(Task.id).where(Task.step == "count")).one()
    commands.complete(task, "done", {"people": 0}, actor="maria")
    assert "division by zero" in stops(database, number)["divide"]
    loose = {**COUNT_FORM, "fields": [{"key": "people", "type": "text", "label": "People"}]}
    with database.writer_session() as session, session.begin():
        publish_all(session, [Document(Path("count.json"), loose)], datetime.now(UTC), "test")

    with pytest.raises(InvalidData) as refused:
        commands.retry(number, actor="ada", data={"people": "four"})
    assert [(p.field, p.message) for p in refused.value.fields] == [
        ("people", "Enter a whole number")
    ]

    commands.retry(number, actor="ada", data={"people": 4})
    assert stops(database, number) == {}
    assert data_of(database, number)["per_head"] == 300
