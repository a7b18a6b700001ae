"""What someone outside the service desk reads of an instance, at every door.

A signed-in requester (or any person who is not an agent) reads the data the workflow
shows its requester (`requester_sees`) and, of the timeline, what the tracking page
tells: that the request came in, changed status, got comments and files, was answered by
the requester, ended. Never a decision table's reasons, a value an action set, a
reassignment's reason or an incident; never another task's data beyond that cut.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from alembic import command
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from engine.service.commands import Commands
from engine.service.definitions import publish_document
from engine.service.people import ensure_user
from engine.service.requests import REQUESTER
from engine.service.tokens import issue_token
from engine.store.database import Database, alembic_config
from engine.store.instances import Comment, Event, Instance, Task
from engine.store.people import User
from tests.infrastructure import PACK, Clock, give_password
from tests.web.conftest import hidden_fields
from tests.web.test_inbox import PASSWORD, incident, make_team, open_task, section, signed_in
from tests.web.test_instances import stopped_instance
from tests.web.test_portal import REPORT, submit, tracking_path

#: What the service desk knows of the incident below, and its requester must not read.
INTERNAL = (
    "hardware-fault",  # the cause an agent filled in
    "category=hardware",  # a decision table's reason
    "desktop-support",  # the team a table chose
    "time-waster",  # a reassignment's reason
    "It blinks red.",  # start fields the workflow does not show its requester
    "alice@example.org",
)


@pytest.fixture
def team(app: Flask, database: Database, commands: Commands, clock: Clock) -> Commands:
    return make_team(app, database, commands, clock)


def publish(database: Database, clock: Clock, key: str, **changes: Any) -> dict[str, Any]:
    workflow: dict[str, Any] = {**json.loads((PACK / f"{key}.json").read_text()), **changes}
    with database.writer_session() as session, session.begin():
        publish_document(session, "workflow", workflow, clock(), "test")
    return workflow


def api(app: Flask, database: Database, clock: Clock, who: str) -> FlaskClient:
    """A client that calls the REST API as `who`."""
    with database.writer_session() as session, session.begin():
        token = issue_token(session, who, "tests", clock())[1]
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client


def resolved_incident(team: Commands, database: Database) -> tuple[str, Task]:
    """Rita's incident, reassigned with an internal reason, then resolved with its cause."""
    number = incident(team, requester="rita")
    work = open_task(database, number)
    other = "dan" if work.assignee == "bob" else "bob"
    team.reassign(
        work.id, actor=str(work.assignee), user=other, reason="INTERNAL: a repeat time-waster"
    )
    resolution = {"resolution": "A new fuser.", "cause": "hardware-fault"}
    team.complete(work.id, "resolved", resolution, actor=other)
    return number, work


def test_a_signed_in_requester_reads_nothing_internal_at_any_door(
    app: Flask, team: Commands, database: Database, clock: Clock
) -> None:
    publish(database, clock, "it-incident", requester_sees=["summary", "resolution"])
    number, work = resolved_incident(team, database)
    confirm = open_task(database, number, "confirm")
    rita, desk = api(app, database, clock, "rita"), api(app, database, clock, "dan")

    page = signed_in(app, "rita").get(f"/instances/{number}").text
    for internal in INTERNAL:
        assert internal not in page
    timeline = section(page, "timeline-title")
    assert "Started" in timeline
    assert "Status changed: resolved" in timeline
    assert "Went on to" not in timeline  # the route is the desk's

    answer = rita.get(f"/api/v1/instances/{number}").json
    for internal in INTERNAL:
        assert internal not in json.dumps(answer)
    assert {event["kind"] for event in answer["timeline"]} <= {"started", "status_changed"}
    assert all(event["why"] is None for event in answer["timeline"])

    theirs = rita.get(f"/api/v1/tasks/{work.id}")
    assert theirs.status_code == 200
    assert theirs.json["data"] == {"resolution": "A new fuser."}
    for internal in INTERNAL:
        assert internal not in json.dumps(theirs.json)

    own = signed_in(app, "rita").get(f"/tasks/{confirm.id}")
    assert own.status_code == 200
    assert "A new fuser." in own.text
    for internal in INTERNAL:
        assert internal not in own.text

    done = rita.post(
        f"/api/v1/tasks/{confirm.id}/complete",
        json={"outcome": "approved", "data": {"feedback": "Works again, thanks."}},
    )
    assert done.status_code == 200, done.text
    assert done.json["data"] == {"feedback": "Works again, thanks."}  # her own answer
    timeline = rita.get(f"/api/v1/instances/{number}").json["timeline"]
    kinds = [event["kind"] for event in timeline if event["actor"] == "rita"]
    assert kinds[-2:] == ["task_completed", "ended"]  # she answered; so it closed

    # The service desk sees it all.
    page = signed_in(app, "dan").get(f"/instances/{number}").text
    for internal in ("hardware-fault", "category=hardware", "time-waster"):
        assert internal in page
    told = json.dumps(desk.get(f"/api/v1/instances/{number}").json["timeline"])
    assert "category=hardware -> desktop-support" in told
    assert "time-waster" in told
    assert desk.get(f"/api/v1/tasks/{work.id}").json["data"]["cause"] == "hardware-fault"


def test_an_incident_stays_with_the_service_desk(
    app: Flask, team: Commands, database: Database, clock: Clock
) -> None:
    number = stopped_instance(database, team, clock)
    page = signed_in(app, "rita").get(f"/instances/{number}").text
    assert "division by zero" not in page
    answer = api(app, database, clock, "rita").get(f"/api/v1/instances/{number}").json
    assert "division by zero" not in json.dumps(answer)
    assert "division by zero" in signed_in(app, "bob").get(f"/instances/{number}").text
    told = api(app, database, clock, "bob").get(f"/api/v1/instances/{number}").json
    assert "division by zero" in json.dumps(told["timeline"])


def test_a_manager_who_is_no_agent_sees_their_task_and_what_the_requester_sees(
    app: Flask, team: Commands, database: Database, clock: Clock
) -> None:
    with database.writer_session() as session, session.begin():
        ensure_user(session, "mona", clock(), roles=["requester"])  # a manager, no agent
        give_password(session, "mona", PASSWORD)
    workflow = publish(database, clock, "service-request", requester_sees=["item", "cost"])
    with_show = json.loads(json.dumps(workflow["steps"]))
    with_show["approve"]["show"] = ["item", "details"]
    order = {
        "item": "laptop",
        "details": "INTERNAL: for the night shift only",
        "cost": 1200,
        "manager": "mona",
    }
    number = str(team.start("service-request", order, requester="rita")["number"])
    approve = open_task(database, number, "approve")

    page = signed_in(app, "mona").get(f"/tasks/{approve.id}")
    assert page.status_code == 200
    shown = section(page.text, "earlier-title")
    assert "laptop" in shown
    assert "1200" in shown
    assert "night shift" not in page.text  # the step shows her no more than the requester

    mona = api(app, database, clock, "mona")
    done = mona.post(
        f"/api/v1/tasks/{approve.id}/complete",
        json={"outcome": "approved", "data": {"approval_comment": "INTERNAL: over budget"}},
    )
    assert done.status_code == 200, done.text
    assert done.json["data"] == {"approval_comment": "INTERNAL: over budget"}  # her own
    theirs = api(app, database, clock, "rita").get(f"/api/v1/tasks/{approve.id}")
    assert theirs.status_code == 200
    assert theirs.json["data"] == {}  # the workflow shows its requester no comment

    # A step that says what it shows shows it to whoever holds its task.
    publish(database, clock, "service-request", requester_sees=["item"], steps=with_show)
    number = str(team.start("service-request", order, requester="rita")["number"])
    approve = open_task(database, number, "approve")
    shown = section(signed_in(app, "mona").get(f"/tasks/{approve.id}").text, "earlier-title")
    assert "night shift" in shown
    assert "1200" not in shown  # listed nowhere for her


def answered_by_link(app: Flask, team: Commands, database: Database) -> tuple[str, str, str]:
    """A request sent on the portal, resolved, then commented on and confirmed by its link.

    Return its number, the confirmation task's id and the tracking page's path.
    """
    link = app.test_client()
    path = tracking_path(submit(link, REPORT))
    with database.reading() as session:
        number = str(session.scalar(select(Instance.number)))
        work = session.scalars(select(Task).where(Task.step == "work")).one()
    team.complete(work.id, "resolved", {"resolution": "A new fuser."}, actor=str(work.assignee))
    page = link.get(path)
    said = link.post(f"{path}/comments", data={**hidden_fields(page.text), "comment": "Hello."})
    assert said.status_code == 303
    page = link.get(path)
    confirm = re.search(r"/tasks/(\d+)", page.text)
    assert confirm is not None
    answered = link.post(
        f"{path}/tasks/{confirm.group(1)}",
        data={**hidden_fields(page.text), "outcome": "approved"},
    )
    assert answered.status_code == 303
    return number, confirm.group(1), path


def a_user_named_requester(database: Database, clock: Clock) -> None:
    """A user by that name, made before such names were refused."""
    with database.writer_session() as session, session.begin():
        session.add(User(username="requester", roles=["requester"], created_at=clock()))
        session.flush()
        give_password(session, "requester", PASSWORD)


def sees_nothing(app: Flask, database: Database, clock: Clock, number: str, task: str) -> None:
    """Check that the user named `requester` sees neither the instance nor its task."""
    browser = signed_in(app, "requester")
    assert browser.get(f"/instances/{number}").status_code == 404
    assert browser.get(f"/tasks/{task}").status_code == 404
    client = api(app, database, clock, "requester")
    assert client.get(f"/api/v1/instances/{number}").status_code == 404
    assert client.get(f"/api/v1/tasks/{task}").status_code == 404


def test_answers_through_the_tracking_link_give_a_user_named_requester_nothing(
    app: Flask, team: Commands, database: Database, clock: Clock
) -> None:
    number, confirm, path = answered_by_link(app, team, database)
    tracked = app.test_client().get(path).text
    assert "You answered: Yes, it is solved." in tracked  # which button, not "You answered."
    assert "You wrote a comment." in tracked
    assert "You, <time" in tracked  # the comment is theirs

    a_user_named_requester(database, clock)
    sees_nothing(app, database, clock, number, confirm)

    # The service desk reads who answered in words.
    desk = signed_in(app, "dan").get(f"/instances/{number}").text
    assert '<span class="actor">the requester</span>' in section(desk, "timeline-title")
    assert "Public</span> the requester," in section(desk, "comments-title")


def test_answers_sent_through_a_link_before_the_upgrade_give_that_user_nothing_either(
    app: Flask, team: Commands, database: Database, clock: Clock
) -> None:
    number, confirm, path = answered_by_link(app, team, database)
    config = alembic_config()
    with database.migrating() as connection:  # as the answers were stored before
        config.attributes["connection"] = connection
        command.downgrade(config, "0010")
    with database.reading() as session:  # the columns of 0010's tasks table, not today's
        completed_by = select(Task.completed_by).where(Task.id == int(confirm))
        assert session.scalar(completed_by) == "requester"
    with database.migrating() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")

    with database.reading() as session:
        assert session.get(Task, int(confirm)).completed_by == REQUESTER
        actors = set(session.scalars(select(Event.actor)))
        authors = set(session.scalars(select(Comment.author)))
    assert "requester" not in actors | authors
    a_user_named_requester(database, clock)
    sees_nothing(app, database, clock, number, confirm)
    assert "You answered: Yes, it is solved." in app.test_client().get(path).text
