"""A requester whose request has ended takes it up again from its tracking page: they reopen
it when its workflow takes it back, as a signed-in requester may; otherwise they report it
again, a new report of the same form filled with the first one's answers, linked to it."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from engine.service.casework import Casework
from engine.service.commands import Commands
from engine.service.errors import Conflict
from engine.service.requests import REQUESTER, Requests
from engine.store.casework import InstanceLink
from engine.store.database import Database
from engine.store.instances import Comment, Event, Instance, Task
from tests.web.conftest import hidden_fields
from tests.web.test_portal import REPORT, count, submit, tracking_path


def close(commands: Commands, database: Database, number: str) -> None:
    """The desk resolves the incident and its requester confirms: it is closed."""
    with database.reading() as session:
        work = session.scalars(select(Task).where(Task.step == "work")).one()
    commands.complete(work.id, "resolved", {"resolution": "Cleared the paper path."}, actor="bob")
    with database.reading() as session:
        confirm = session.scalars(select(Task).where(Task.step == "confirm")).one()
    commands.complete(confirm.id, "approved", {}, actor=REQUESTER, requester_of=number)


def number_of(database: Database, newest: bool = False) -> str:
    with database.reading() as session:
        order = Instance.id.desc() if newest else Instance.id
        return str(session.scalars(select(Instance.number).order_by(order)).first())


def value_of(page: str, name: str) -> str | None:
    found = re.search(rf'<(?:input|textarea)[^>]*name="{name}"[^>]*>', page)
    if found is None:
        return None
    value = re.search(r'value="([^"]*)"', found.group(0))
    return value.group(1) if value else None


def test_a_closed_request_is_reopened_from_its_tracking_page_with_what_is_wrong(
    client: FlaskClient, commands: Commands, database: Database
) -> None:
    path = tracking_path(submit(client, REPORT))
    number = number_of(database)
    assert "This request has ended" not in client.get(path).text
    close(commands, database, number)
    page = client.get(path).text
    assert "This request has ended" in page
    assert "Report it again" not in page  # it can be reopened: that is the way

    blank = client.post(f"{path}/reopen", data={**hidden_fields(page), "reason": "  "})
    assert blank.status_code == 422
    assert 'id="reopen-error"' in blank.text
    with database.reading() as session:
        assert session.scalars(select(Instance.status)).one() == "closed"

    done = client.post(f"{path}/reopen", data={**hidden_fields(page), "reason": "Jammed again"})
    assert done.status_code == 303
    with database.reading() as session:
        instance = session.scalars(select(Instance)).one()
        assert instance.ended_at is None
        work = session.scalars(select(Task).where(Task.step == "work", Task.status == "open"))
        assert work.one() is not None
        reopened = session.scalars(select(Event).where(Event.kind == "reopened")).one()
    assert reopened.why == "closed -> reopened: Jammed again"
    assert reopened.actor == REQUESTER
    page = client.get(path).text
    assert "This request has ended" not in page
    # Open again, it is not reopened a second time; a stranger's link opens nothing.
    again = client.post(f"{path}/reopen", data={**hidden_fields(page), "reason": "Twice"})
    assert again.status_code == 409
    assert f"{number} has not ended" in again.text
    stranger = client.post("/track/" + "f" * 48 + "/reopen", data={"reason": "x"})
    assert stranger.status_code in (400, 404)


def test_a_cancelled_request_is_reported_again_with_its_answers_and_linked_to_it(
    client: FlaskClient, commands: Commands, database: Database
) -> None:
    path = tracking_path(submit(client, REPORT))
    first = number_of(database)
    Casework(commands).cancel(first, "Sent by mistake", actor="bob")

    page = client.get(path).text
    assert "This request has ended" in page
    assert "It cannot be reopened" in page
    link = re.search(r'href="(/new/it-incident\?again=[0-9a-f]+)"', page)
    assert link is not None, page
    form = client.get(link.group(1).replace("&amp;", "&")).text
    assert f'You are reporting <strong class="number">{first}</strong> again' in form
    assert value_of(form, "summary") == REPORT["summary"]
    assert value_of(form, "email") == REPORT["email"]
    assert 'name="again"' in form

    sent = client.post(
        "/new/it-incident", data={**hidden_fields(form), **REPORT, "summary": "Jammed again"}
    )
    tracking_path(sent)
    second = number_of(database, newest=True)
    assert second != first
    with database.reading() as session:
        new, old = (
            session.scalars(select(Instance).where(Instance.number == n)).one()
            for n in (second, first)
        )
        assert new.title == "Jammed again"
        links = session.scalars(select(InstanceLink)).all()
        assert [(link.instance_id, link.other_id, link.kind) for link in links] == [
            (new.id, old.id, "related")
        ]
        said = {
            event.instance_id: event.why
            for event in session.scalars(select(Event).where(Event.kind == "linked"))
        }
    assert said == {
        new.id: f"reported again after {first}, which had ended",
        old.id: f"reported again by its requester as {second}",
    }


def test_an_open_request_is_not_reported_again_and_a_stranger_token_opens_nothing(
    client: FlaskClient, commands: Commands, database: Database
) -> None:
    path = tracking_path(submit(client, REPORT))
    token = path.rsplit("/", 1)[-1]
    assert "This request has ended" not in client.get(path).text
    # Still open: the form sends the requester back to the request's own page.
    opened = client.get(f"/new/it-incident?again={token}")
    assert opened.status_code == 303
    assert opened.headers["Location"].endswith(path)
    before = count(database, Instance)
    refused = client.post(
        "/new/it-incident", data={**hidden_fields(client.get("/new/it-incident").text),
                                  **REPORT, "again": token},
    )  # fmt: skip
    assert refused.status_code == 409
    assert "is still open: write to the service desk on its tracking page" in refused.text
    assert count(database, Instance) == before

    stranger: dict[str, Any] = {"again": "f" * 48}
    assert client.get("/new/it-incident", query_string=stranger).status_code == 404
    form = hidden_fields(client.get("/new/it-incident").text)
    refused = client.post("/new/it-incident", data={**form, **REPORT, **stranger})
    assert refused.status_code == 404
    assert "there is nothing at this link" in refused.text
    assert count(database, Instance) == before


def test_an_ended_request_takes_no_more_messages_from_its_requester_through_any_door(
    client: FlaskClient, commands: Commands, database: Database
) -> None:
    """The tracking page hides its box once a request has ended; a post made anyway, or the
    same through the service, is refused and keeps nothing. The desk may still write."""
    path = tracking_path(submit(client, REPORT))
    number = number_of(database)
    opened = hidden_fields(client.get(path).text)  # a page left open while it ended
    Casework(commands).cancel(number, "Sent by mistake", actor="bob")
    assert 'name="comment"' not in client.get(path).text
    before = count(database, Comment)
    refused = client.post(f"{path}/comments", data={**opened, "comment": "Hello?"})
    assert refused.status_code == 409
    assert "has ended (cancelled) and takes no more messages" in refused.text
    with pytest.raises(Conflict, match="has ended"):
        Requests(commands).comment(path.rsplit("/", 1)[-1], "Hello again?")
    assert count(database, Comment) == before
    commands.comment(number, "Closed as sent by mistake.", actor="bob", public=True)
    assert count(database, Comment) == before + 1
