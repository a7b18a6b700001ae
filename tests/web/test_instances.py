"""The instance page, its files and comments, and the requester's own list of requests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from engine.catalog import Document
from engine.service.commands import Commands
from engine.service.definitions import publish_all, publish_document
from engine.service.tokens import issue_token
from engine.store.database import Database
from engine.store.instances import Attachment, Comment, Event
from tests.infrastructure import PACK, Clock
from tests.web.test_inbox import (
    count,
    incident,
    make_team,
    open_task,
    post,
    section,
    signed_in,
)
from tests.web.test_portal_security import PNG, post_files


@pytest.fixture
def team(app: Flask, database: Database, commands: Commands, clock: Clock) -> Commands:
    return make_team(app, database, commands, clock)


def test_the_instance_page_shows_status_holders_clocks_timeline_data_and_steps(
    app: Flask, team: Commands, database: Database, clock: Clock
) -> None:
    number = incident(team, requester="rita")
    clock.advance(minutes=75)
    page = signed_in(app, "dan").get(f"/instances/{number}")
    assert page.status_code == 200
    html = page.text
    assert page.text.count("<h1") == 1
    assert f"{number}</span>: The printer on floor 3 is jammed" in html
    assert 'data-status="in_progress"' in html
    assert "<dd>P2</dd>" in html
    assert "<dd>rita</dd>" in html
    assert "bob: " in html  # who holds the open task
    clocks = section(html, "sla-title")
    assert "Response" in clocks
    assert "Resolution" in clocks
    assert "Breached" in clocks
    assert "overdue by 15 minutes" in clocks
    assert "6 hours 45 minutes left" in clocks
    timeline = section(html, "timeline-title")
    assert "Went on to Work on the incident" in timeline
    assert "otherwise: no condition matched" in timeline  # the reason of the route
    assert "response due at" in timeline  # the reason of the SLA clock
    steps = section(html, "steps-title")
    assert "Done:</span> Categorize and prioritize" in steps
    assert "Active:</span> Work on the incident" in steps
    assert "Pending:</span> Reporter confirms the fix" in steps
    data = section(html, "data-title")
    assert "alice@example.org" in data
    assert "desktop-support" in data


def test_an_ended_instance_marks_the_steps_it_never_took_not_taken(
    app: Flask, team: Commands, database: Database
) -> None:
    number = incident(team, requester="rita")
    team.cancel(number, "reported twice", actor="dan")
    steps = section(signed_in(app, "dan").get(f"/instances/{number}").text, "steps-title")
    assert "Done:</span> Categorize and prioritize" in steps
    assert "Not taken:</span> Send password reset instructions" in steps
    assert "Pending:" not in steps


def test_comments_are_marked_public_or_internal_and_requesters_see_only_public_ones(
    app: Flask, team: Commands, database: Database
) -> None:
    number = incident(team, requester="rita")
    bob = signed_in(app, "bob")
    for text, visibility in (("Ordered a roller", "internal"), ("On our way", "public")):
        added = post(bob, f"/instances/{number}/comments", comment=text, visibility=visibility)
        assert added.status_code == 303
    comments = section(bob.get(f"/instances/{number}").text, "comments-title")
    assert "Internal</span> bob" in comments
    assert "Ordered a roller" in comments
    assert "Public</span> bob" in comments
    assert "On our way" in comments

    empty = post(bob, f"/instances/{number}/comments", comment="  ")
    assert empty.status_code == 422
    long = post(bob, f"/instances/{number}/comments", comment="y" * 20_001)
    assert long.status_code == 413
    assert f">{'y' * 20_001}</textarea>" in long.text  # kept, to be cut, not written again
    assert count(database, Comment) == 2

    rita = signed_in(app, "rita")
    page = rita.get(f"/instances/{number}")
    assert page.status_code == 200
    assert "On our way" in page.text
    assert "Ordered a roller" not in page.text
    assert post(rita, f"/instances/{number}/comments", comment="hi").status_code == 403
    assert count(database, Comment) == 2


def test_a_stranger_sees_no_instance_and_no_file(app: Flask, team: Commands) -> None:
    number = incident(team, requester="rita")
    zoe = signed_in(app, "zoe")
    assert zoe.get(f"/instances/{number}").status_code == 404
    assert zoe.get("/instances/INC-999999").status_code == 404
    assert zoe.get(f"/instances/{number}/files/anything").status_code == 404
    assert app.test_client().get(f"/instances/{number}").status_code == 302


def test_files_download_as_attachments_for_those_who_may_see_the_instance(
    app: Flask, team: Commands, database: Database
) -> None:
    rita = signed_in(app, "rita")
    assert post_files(rita, [(PNG, "photo.png")]).status_code == 303
    with database.reading() as session:
        file = session.scalars(select(Attachment)).one()
        session.expunge_all()
    number = f"INC-{1:06d}"
    for who in ("rita", "bob"):
        client = rita if who == "rita" else signed_in(app, who)
        page = client.get(f"/instances/{number}")
        assert f"/instances/{number}/files/{file.storage_key}" in page.text
        download = client.get(f"/instances/{number}/files/{file.storage_key}")
        assert download.status_code == 200
        assert download.headers["Content-Disposition"].startswith("attachment")
        assert download.data == PNG
        download.close()
    path = f"/instances/{number}/files/{file.storage_key}"
    assert signed_in(app, "zoe").get(path).status_code == 404
    assert rita.get(f"/instances/{number}/files/not-a-key").status_code == 404


def test_a_requester_sees_only_their_own_requests_newest_first(
    app: Flask, team: Commands, database: Database
) -> None:
    first = incident(team, requester="rita", summary="Mouse is broken")
    others = incident(team, requester="alice", summary="Alice's screen")
    second = incident(team, requester="rita", summary="Keyboard is sticky")
    rita = signed_in(app, "rita")
    page = rita.get("/my-requests")
    assert page.status_code == 200
    assert page.text.index(second) < page.text.index(first)
    assert others not in page.text
    assert "Alice&#39;s screen" not in page.text
    assert rita.get(f"/instances/{first}").status_code == 200
    assert rita.get(f"/instances/{others}").status_code == 404
    # A requester with a task of theirs may open it (the confirmation of the fix).
    task = open_task(database, first)
    team.complete(task.id, "resolved", {"resolution": "New mouse"}, actor="bob")
    confirm = open_task(database, first)
    page = rita.get(f"/tasks/{confirm.id}")
    assert page.status_code == 200
    assert "Yes, it is solved" in page.text
    assert "/reassign" not in page.text  # requesters answer; they do not hand work on
    assert post(rita, f"/tasks/{confirm.id}/complete", outcome="approved").status_code == 303
    assert "Closed" in rita.get(f"/instances/{first}").text
    assert rita.get(f"/tasks/{task.id}").status_code == 403  # she sees the instance


RATIO = {
    "kind": "workflow",
    "format": 1,
    "key": "ratio",
    "title": "Cost per person",
    "first": "route",
    "steps": {
        "route": {
            "type": "decision",
            "label": "Big spend?",
            "branches": [{"when": "cost / people > 100", "next": "big"}],
            "otherwise": "small",
        },
        "big": {"type": "end", "status": "big"},
        "small": {"type": "end", "status": "small"},
    },
}


def stopped_instance(database: Database, team: Commands, clock: Clock) -> str:
    with database.writer_session() as session, session.begin():
        publish_document(session, "workflow", RATIO, clock(), "test")
    return str(team.start("ratio", {"cost": 500, "people": 0}, requester="rita")["number"])


def test_a_step_stopped_on_an_incident_is_shown_and_an_admin_may_try_it_again(
    app: Flask, team: Commands, database: Database, clock: Clock
) -> None:
    number = stopped_instance(database, team, clock)

    page = signed_in(app, "bob").get(f"/instances/{number}").text
    banner = section(page, "incidents-title")
    assert "Big spend?" in banner
    assert "division by zero" in banner
    assert "Try the stopped steps again" not in banner  # an agent sees it, an admin acts

    admin = signed_in(app, "ada")
    assert "Try the stopped steps again" in admin.get(f"/instances/{number}").text
    events = count(database, Event)
    assert post(signed_in(app, "bob"), f"/instances/{number}/retry").status_code == 403
    assert count(database, Event) == events
    retried = post(admin, f"/instances/{number}/retry")
    assert retried.status_code == 303
    timeline = section(admin.get(f"/instances/{number}").text, "timeline-title")
    assert "Tried again" in timeline  # and, on the same data, stopped again
    assert "Stopped on an incident" in admin.get(f"/instances/{number}").text


def test_a_signed_in_requester_sees_only_what_the_workflow_shows_them_on_every_door(
    app: Flask, team: Commands, database: Database, clock: Clock
) -> None:
    workflow = json.loads((PACK / "it-incident.json").read_text())
    workflow["requester_sees"] = ["summary", "resolution"]
    with database.writer_session() as session, session.begin():
        publish_document(session, "workflow", workflow, clock(), "test")
        tokens = {who: issue_token(session, who, "tests", clock())[1] for who in ("rita", "dan")}
    number = incident(team, requester="rita")
    task = open_task(database, number)
    resolution = {"resolution": "A new fuser.", "cause": "hardware-fault"}
    team.complete(task.id, "resolved", resolution, actor=str(task.assignee))

    mine = section(signed_in(app, "rita").get(f"/instances/{number}").text, "data-title")
    assert "The printer on floor 3 is jammed" in mine
    assert "A new fuser." in mine
    for hidden in ("It blinks red.", "alice@example.org", "hardware-fault", "desktop-support"):
        assert hidden not in mine
    desk = section(signed_in(app, "dan").get(f"/instances/{number}").text, "data-title")
    assert "It blinks red." in desk
    assert "hardware-fault" in desk

    def data(who: str) -> dict[str, object]:
        headers = {"Authorization": f"Bearer {tokens[who]}"}
        answer = app.test_client().get(f"/api/v1/instances/{number}", headers=headers)
        assert answer.status_code == 200
        found: dict[str, object] = answer.json["data"]
        return found

    assert data("rita") == {
        "summary": "The printer on floor 3 is jammed",
        "resolution": "A new fuser.",
    }
    assert {"description", "email", "cause"} <= set(data("dan"))


#: Three named reviewers, two approvals needed; the pack's decision form.
BOARD = {
    "kind": "workflow", "format": 1, "key": "board", "title": "Board vote",
    "start": {"number_prefix": "BRD"},
    "first": "vote",
    "steps": {
        "vote": {
            "type": "review", "label": "Board vote", "form": "approval-decision",
            "reviewers": [{"assign": {"user": "bob"}}, {"assign": {"user": "dan"}},
                          {"assign": {"user": "erin"}}],
            "quorum": 2, "on": {"approved": "closed", "rejected": "closed"},
        },
        "closed": {"type": "end", "label": "Closed", "status": "closed"},
    },
}  # fmt: skip


def test_each_vote_says_its_direction_and_the_tally_against_the_quorum_and_no_word_twice(
    app: Flask, team: Commands, database: Database, clock: Clock
) -> None:
    with database.writer_session() as session, session.begin():
        publish_all(session, [Document(Path("board.json"), BOARD)], clock(), "t")
    started = team.start("board", {}, requester="rita")
    tasks = {task["assignee"]: task["id"] for task in started["opened_tasks"]}
    team.complete(tasks["bob"], "approved", {}, actor="bob")
    team.complete(tasks["dan"], "rejected", {"approval_comment": "Too dear"}, actor="dan")
    team.complete(tasks["erin"], "approved", {}, actor="erin")

    timeline = section(signed_in(app, "dan").get(f"/instances/{started['number']}").text,
                       "timeline-title")  # fmt: skip
    assert "Voted to approve: 1 approved, 0 rejected, 2 of 3 needed to approve" in timeline
    assert "Voted to reject: 1 approved, 1 rejected, 2 of 3 needed to approve" in timeline
    assert "Voted to approve: 2 approved, 1 rejected, 2 of 3 needed to approve" in timeline
    assert "Ended: closed<" in timeline.replace("</span>", "<")
    assert "(Closed)" not in timeline
