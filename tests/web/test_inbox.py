"""The inbox and the task page: lists by time left, claim, complete, reviews, refusals."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from engine.service.commands import Commands
from engine.service.people import ensure_user
from engine.store.database import Database
from engine.store.instances import Comment, Event, Instance, Task
from tests.infrastructure import INCIDENT, MAJOR, Clock, give_password

PASSWORD = "correct horse battery"
#: Who signs in: the pack's team (agents), two requesters, and an admin.
USERS = ("alice", "bob", "dan", "erin", "ivy", "cole", "sam", "rita", "zoe", "ada")


def make_team(app: Flask, database: Database, commands: Commands, clock: Clock) -> Commands:
    """Give everyone a password; make the app read the test's clock."""
    with database.writer_session() as session, session.begin():
        ensure_user(session, "rita", clock(), roles=["requester"])
        ensure_user(session, "zoe", clock(), roles=["requester"])  # asks for nothing here
        ensure_user(session, "ada", clock(), roles=["admin"])
        for user in USERS:
            give_password(session, user, PASSWORD)
    app.extensions["flowdesk"].commands.clock = clock
    return commands


@pytest.fixture
def team(app: Flask, database: Database, commands: Commands, clock: Clock) -> Commands:
    return make_team(app, database, commands, clock)


def csrf(client: FlaskClient) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/sign-in").text)
    assert found is not None
    return found.group(1)


def signed_in(app: Flask, username: str) -> FlaskClient:
    client = app.test_client()
    response = client.post(
        "/sign-in", data={"csrf_token": csrf(client), "username": username, "password": PASSWORD}
    )
    assert response.status_code == 302
    return client


def post(client: FlaskClient, path: str, **data: Any) -> Any:
    """Post like a page does: with the CSRF token and a fresh submission id."""
    form = {"csrf_token": csrf(client), "submission": str(uuid.uuid4()), **data}
    return client.post(path, data=form)


def open_task(database: Database, number: str, step: str | None = None) -> Task:
    with database.reading() as session:
        query = (
            select(Task)
            .join(Instance, Instance.id == Task.instance_id)
            .where(Instance.number == number, Task.status == "open")
            .order_by(Task.id)
        )
        if step:
            query = query.where(Task.step == step)
        task = session.scalars(query).first()
        assert task is not None
        session.expunge_all()
        return task


def task_row(database: Database, task_id: int) -> Task:
    with database.reading() as session:
        task = session.get(Task, task_id)
        assert task is not None
        session.expunge_all()
        return task


def status_of(database: Database, number: str) -> str:
    with database.reading() as session:
        return str(session.scalar(select(Instance.status).where(Instance.number == number)))


def count(database: Database, table: Any) -> int:
    with database.reading() as session:
        return int(session.scalar(select(func.count()).select_from(table)) or 0)


def section(html: str, heading_id: str) -> str:
    """Return the part of a page from a heading to the next section."""
    start = html.index(f'id="{heading_id}"')
    end = html.find("<section", start)
    return html[start : end if end != -1 else len(html)]


def incident(commands: Commands, requester: str | None = None, **changes: Any) -> str:
    return str(
        commands.start("it-incident", {**INCIDENT, **changes}, requester=requester)["number"]
    )


def queued_incident(commands: Commands) -> tuple[str, int]:
    """An incident whose task waits in the desktop-support queue (bob and dan)."""
    number = incident(commands)
    task = open_task(commands.database, number)
    commands.reassign(task.id, actor=str(task.assignee), group="desktop-support")
    return number, task.id


def test_an_agent_sees_their_tasks_nearest_breach_first_with_the_time_left_in_words(
    app: Flask, team: Commands, clock: Clock
) -> None:
    p3 = incident(team, category="network", impact="medium", urgency="medium")
    p1 = incident(team, category="network", impact="high", urgency="high")
    p2 = incident(team, category="network", impact="medium", urgency="high")
    clock.advance(minutes=5)
    page = signed_in(app, "erin").get("/inbox")
    assert page.status_code == 200
    mine = section(page.text, "mine-title")
    assert mine.index(p1) < mine.index(p2) < mine.index(p3)
    assert 'My tasks <span class="count">(3)</span>' in page.text
    assert "10 minutes left" in mine  # P1: 15 minutes to respond, 5 gone
    assert "55 minutes left" in mine
    assert re.search(r'<time datetime="2026-11-23T08:15:00\+00:00"', mine)
    assert "Overdue" not in mine


def test_filters_narrow_the_lists_and_overdue_work_is_marked_in_words(
    app: Flask, team: Commands, clock: Clock
) -> None:
    p3 = incident(team, category="network", impact="medium", urgency="medium")
    p1 = incident(team, category="network", impact="high", urgency="high")
    p2 = incident(team, category="network", impact="medium", urgency="high")
    clock.advance(minutes=20)
    erin = signed_in(app, "erin")

    def listed(query: str) -> set[str]:
        mine = section(erin.get(f"/inbox?{query}").text, "mine-title")
        return {number for number in (p1, p2, p3) if number in mine}

    assert listed("priority=P1") == {p1}
    assert listed("sla=breached") == {p1}
    assert listed("sla=due_soon") == {p2}
    assert listed("sla=on_track") == {p3}
    assert listed("workflow=major-incident") == set()
    assert listed("workflow=it-incident&sla=bogus") == {p1, p2, p3}
    overdue = section(erin.get("/inbox?sla=breached").text, "mine-title")
    assert "Overdue" in overdue
    assert "overdue by 5 minutes" in overdue


def test_someone_who_is_no_agent_finds_their_own_tasks_but_no_queue(
    app: Flask, team: Commands, database: Database
) -> None:
    """A manager who approves, or a requester asked to confirm a fix, is no agent: the
    inbox answered them "You may not do this", and only the bell led to their task."""
    assert app.test_client().get("/inbox").status_code == 302  # to the sign-in page
    number = str(team.start("it-incident", INCIDENT, requester="rita")["number"])
    resolve = open_task(database, number)
    team.complete(resolve.id, "resolved", {"resolution": "Cleared the jam"},
                  actor=str(resolve.assignee))  # fmt: skip
    confirm = open_task(database, number)
    assert confirm.assignee == "rita"

    rita = signed_in(app, "rita")
    page = rita.get("/inbox")

    assert page.status_code == 200
    assert "<h1>Your tasks</h1>" in page.text
    assert f'href="/tasks/{confirm.id}"' in section(page.text, "mine-title")
    assert 'id="queue-title"' not in page.text
    assert ">Your tasks</a>" in rita.get("/my-requests").text  # the header leads there
    assert "<h1>Your tasks</h1>" in signed_in(app, "zoe").get("/inbox").text  # nothing, said
    assert "Nothing here." in signed_in(app, "zoe").get("/inbox").text


def test_claim_moves_a_task_from_the_queue_to_my_tasks_and_a_second_claim_is_refused(
    app: Flask, team: Commands, database: Database
) -> None:
    number, task_id = queued_incident(team)
    bob, dan = signed_in(app, "bob"), signed_in(app, "dan")
    assert number in section(bob.get("/inbox").text, "queue-title")

    response = post(bob, f"/tasks/{task_id}/claim")
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/inbox")
    page = bob.get("/inbox").text
    assert f"You took {number}" in page
    assert number in section(page, "mine-title")
    assert number not in section(page, "queue-title")
    assert "Give back" in section(page, "mine-title")

    refused = post(dan, f"/tasks/{task_id}/claim")
    assert refused.status_code == 409
    assert f"{number} was already taken by bob; nothing was changed." in refused.text
    assert task_row(database, task_id).assignee == "bob"

    # The task page gives it back too (only the inbox's row did), to its holder alone.
    task_page = bob.get(f"/tasks/{task_id}").text
    assert f'action="/tasks/{task_id}/unclaim"' in task_page
    assert "Give it back" in task_page
    assert "Give it back" not in dan.get(f"/tasks/{task_id}").text
    assert post(bob, f"/tasks/{task_id}/unclaim").status_code == 303
    assert number in section(dan.get("/inbox").text, "queue-title")
    assert "Give it back" not in bob.get(f"/tasks/{task_id}").text  # queued: Take it


def test_two_claims_from_one_inbox_page_take_both_tasks_and_a_double_click_takes_one(
    app: Flask, team: Commands, database: Database
) -> None:
    first, second = queued_incident(team), queued_incident(team)
    bob = signed_in(app, "bob")
    queue_part = section(bob.get("/inbox").text, "queue-title")
    forms = {
        int(task): dict(re.findall(r'name="([a-z_]+)" value="([^"]+)"', fields))
        for task, fields in re.findall(
            r'<form method="post" action="/tasks/(\d+)/claim" class="inline">(.*?)</form>',
            queue_part,
            re.S,
        )
    }
    assert set(forms) == {first[1], second[1]}
    for task_id, fields in forms.items():
        assert bob.post(f"/tasks/{task_id}/claim", data=fields).status_code == 303
    again = bob.post(f"/tasks/{first[1]}/claim", data=forms[first[1]])
    assert again.status_code == 303  # the same form posted twice: done once, no error
    assert task_row(database, first[1]).assignee == task_row(database, second[1]).assignee
    assert task_row(database, first[1]).assignee == "bob"
    with database.reading() as session:
        claims = session.scalar(
            select(func.count()).where(Event.kind == "task_claimed", Event.actor == "bob")
        )
    assert claims == 2


def test_a_post_without_the_csrf_token_changes_nothing(
    app: Flask, team: Commands, database: Database
) -> None:
    _, task_id = queued_incident(team)
    response = signed_in(app, "bob").post(f"/tasks/{task_id}/claim", data={})
    assert response.status_code == 400
    assert task_row(database, task_id).assignee is None


def test_the_task_page_shows_earlier_data_read_only_and_the_task_form_with_its_buttons(
    app: Flask, team: Commands, database: Database
) -> None:
    number = incident(team)
    task = open_task(database, number)
    page = signed_in(app, "bob").get(f"/tasks/{task.id}")
    assert page.status_code == 200
    earlier = section(page.text, "earlier-title")
    assert "The printer on floor 3 is jammed" in earlier
    assert "alice@example.org" not in earlier  # not in the step's `show`
    assert f'name="t{task.id}.resolution"' in page.text
    assert 'name="outcome" value="resolved"' in page.text
    assert 'name="outcome" value="needs_info"' in page.text
    assert page.text.count("<h1") == 1


def test_completing_with_a_mistake_answers_422_and_changes_nothing(
    app: Flask, team: Commands, database: Database
) -> None:
    number = incident(team)
    task = open_task(database, number)
    events = count(database, Event)
    response = post(signed_in(app, "bob"), f"/tasks/{task.id}/complete", outcome="resolved")
    assert response.status_code == 422
    assert "There is a problem" in response.text
    assert task_row(database, task.id).status == "open"
    assert count(database, Event) == events
    assert status_of(database, number) == "in_progress"


def test_completing_the_task_moves_the_instance_on(
    app: Flask, team: Commands, database: Database
) -> None:
    number = incident(team)
    task = open_task(database, number)
    bob = signed_in(app, "bob")
    assert "Task due" in bob.get(f"/tasks/{task.id}").text
    response = post(
        bob,
        f"/tasks/{task.id}/complete",
        outcome="resolved",
        **{f"t{task.id}.resolution": "Cleared the jam", f"t{task.id}.cause": "hardware-fault"},
    )
    assert response.status_code == 303, response.text
    page = bob.get("/inbox").text
    assert f"You completed {number} P" in page  # the task's title names the number: once
    assert f"{number}: {number}" not in page
    done = task_row(database, task.id)
    assert (done.status, done.outcome, done.completed_by) == ("completed", "resolved", "bob")
    assert status_of(database, number) == "resolved"
    clocks = section(bob.get(f"/instances/{number}").text, "sla-title")
    assert "<strong>Paused</strong>" in clocks  # the resolution clock waits for the requester
    page = bob.get(f"/tasks/{task.id}").text
    assert "completed by bob (resolved)" in page
    assert "/complete" not in page
    assert "Task due" not in page  # it said how long was left, beside "completed"


def test_a_requester_who_confirms_the_fix_lands_on_their_request_not_an_inbox(
    app: Flask, team: Commands, database: Database
) -> None:
    """A requester has no inbox (it answers 403): after their task they see their request."""
    number = incident(team, requester="rita")
    work = open_task(database, number)
    team.complete(work.id, "resolved", {"resolution": "Cleared the jam"}, actor=str(work.assignee))
    confirm = open_task(database, number, "confirm")
    rita = signed_in(app, "rita")
    done = post(rita, f"/tasks/{confirm.id}/complete", outcome="approved")
    assert done.status_code == 303, done.text
    assert done.headers["Location"].endswith(f"/instances/{number}")
    landed = rita.get(done.headers["Location"])
    assert landed.status_code == 200
    assert "You completed" in landed.text
    assert status_of(database, number) == "closed"


def test_the_inbox_pages_by_25(app: Flask, team: Commands) -> None:
    numbers = [incident(team, category="network") for _ in range(26)]
    erin = signed_in(app, "erin")
    first = erin.get("/inbox").text
    assert 'My tasks <span class="count">(26)</span>' in first
    assert section(first, "mine-title").count("<tr data-task=") == 25
    assert 'href="/inbox?mine=2" rel="next"' in first
    second = section(erin.get("/inbox?mine=2").text, "mine-title")
    assert second.count("<tr data-task=") == 1
    assert 'href="/inbox?mine=1" rel="prev"' in second
    assert sum(number in second for number in numbers) == 1
    assert erin.get("/inbox?mine=99999999999999999999").status_code == 200


def test_an_admin_may_look_at_any_task_but_unknown_ones_are_not_found(
    app: Flask, team: Commands, database: Database
) -> None:
    task = open_task(database, incident(team))
    ada = signed_in(app, "ada")
    page = ada.get(f"/tasks/{task.id}")
    assert page.status_code == 200
    assert "only bob can act on it" in page.text
    assert f"/tasks/{task.id}/complete" not in page.text
    refused = post(ada, f"/tasks/{task.id}/complete", outcome="resolved")
    assert refused.status_code == 403
    assert task_row(database, task.id).status == "open"
    for path in ("/tasks/999999", "/tasks/99999999999999999999999"):
        assert ada.get(path).status_code == 404


def test_acting_on_a_task_someone_else_completed_answers_409_with_a_clear_message(
    app: Flask, team: Commands, database: Database
) -> None:
    number, task_id = queued_incident(team)
    bob, dan = signed_in(app, "bob"), signed_in(app, "dan")
    assert bob.get(f"/tasks/{task_id}").status_code == 200  # bob opens it, then dan is quicker
    fields = {"outcome": "resolved", f"t{task_id}.resolution": "Replaced the roller"}
    assert post(dan, f"/tasks/{task_id}/complete", **fields).status_code == 303
    events = count(database, Event)
    late = post(bob, f"/tasks/{task_id}/complete", **fields)
    assert late.status_code == 409
    assert (
        f"{number}&#39;s task was already completed by dan (resolved); nothing was changed."
        in late.text
    )
    assert count(database, Event) == events


def test_a_review_moves_on_after_the_second_of_three_approvals_from_the_task_pages(
    app: Flask, team: Commands, database: Database
) -> None:
    number = str(team.start("major-incident", MAJOR)["number"])
    plan = open_task(database, number, "plan")
    plan_data = {"plan": "Fail over", "rollback": "Fail back", "eta_minutes": 30}
    team.claim(plan.id, actor="ike")  # ike writes the plan; its author may not review it
    team.complete(plan.id, "done", plan_data, actor="ike")
    with database.reading() as session:
        reviews = {
            t.assignee or t.candidate_group: t.id
            for t in session.scalars(
                select(Task).where(Task.step == "review_plan", Task.status == "open")
            )
        }
    assert set(reviews) == {"incident-commanders", "communications", "sam"}
    ivy, cole, sam = signed_in(app, "ivy"), signed_in(app, "cole"), signed_in(app, "sam")

    page = ivy.get(f"/tasks/{reviews['incident-commanders']}")
    assert page.status_code == 200
    assert "Fail over" in page.text  # the plan, read-only
    assert 'value="approved"' in page.text
    assert 'value="rejected"' in page.text

    reject = post(ivy, f"/tasks/{reviews['incident-commanders']}/complete", outcome="rejected")
    assert reject.status_code == 422
    assert "Say why you reject" in reject.text

    approve = post(ivy, f"/tasks/{reviews['incident-commanders']}/complete", outcome="approved")
    assert approve.status_code == 303
    assert status_of(database, number) == "plan_review"
    approve = post(cole, f"/tasks/{reviews['communications']}/complete", outcome="approved")
    assert approve.status_code == 303
    assert status_of(database, number) == "recovering"

    late = post(sam, f"/tasks/{reviews['sam']}/complete", outcome="approved")
    assert late.status_code == 409
    assert "nothing was changed" in late.text


#: What may be done on a task page; the last, a comment, is the instance's: any agent may.
ACTIONS: tuple[tuple[str, Callable[[int], dict[str, str]]], ...] = (
    ("complete", lambda task: {"outcome": "resolved", f"t{task}.resolution": "x"}),
    ("claim", lambda task: {}),
    ("unclaim", lambda task: {}),
    ("reassign", lambda task: {"user": "erin"}),
    ("delegate", lambda task: {"to": "zoe"}),
    ("comments", lambda task: {"comment": "hello"}),
)


def test_a_stranger_gets_404_and_an_agent_of_another_team_reads_it_but_cannot_act(
    app: Flask, team: Commands, database: Database
) -> None:
    number = incident(team)
    task = open_task(database, number)
    events, comments = count(database, Event), count(database, Comment)
    zoe, erin = signed_in(app, "zoe"), signed_in(app, "erin")
    assert zoe.get(f"/tasks/{task.id}").status_code == 404
    assert zoe.get(f"/instances/{number}").status_code == 404
    # The service desk reads any task of an instance it sees, as the API shows it.
    seen = erin.get(f"/tasks/{task.id}")
    assert seen.status_code == 200
    assert 'name="outcome"' not in seen.text  # no buttons: not hers to do
    for client, actions in ((zoe, ACTIONS), (erin, ACTIONS[:-1])):
        for action, data in actions:
            sent = post(client, f"/tasks/{task.id}/{action}", **data(task.id))
            assert sent.status_code in (403, 404), (action, sent.status_code)
    assert post(zoe, f"/instances/{number}/comments", comment="hi").status_code in (403, 404)
    assert task_row(database, task.id).assignee == "bob"
    assert (count(database, Event), count(database, Comment)) == (events, comments)
    assert app.test_client().get(f"/tasks/{task.id}").status_code == 302


def test_reassign_and_delegate_hand_the_task_on(
    app: Flask, team: Commands, database: Database
) -> None:
    number = incident(team)
    task = open_task(database, number)
    bob = signed_in(app, "bob")
    assert post(bob, f"/tasks/{task.id}/delegate", to="nobody").status_code == 422
    assert post(bob, f"/tasks/{task.id}/delegate", to="dan").status_code == 303
    row = task_row(database, task.id)
    assert (row.assignee, row.delegated_by) == ("dan", "bob")
    assert number in section(signed_in(app, "dan").get("/inbox").text, "mine-title")
    assert post(bob, f"/tasks/{task.id}/reassign", group="network").status_code == 303
    assert task_row(database, task.id).candidate_group == "network"
    given = bob.get(f"/tasks/{task.id}")  # another team's now: he reads it, and no more
    assert given.status_code == 200
    assert 'name="outcome"' not in given.text


def test_script_payloads_come_back_escaped_on_the_task_and_instance_pages(
    app: Flask, team: Commands, database: Database
) -> None:
    payload = "<script>alert(1)</script>"
    number = incident(team, summary=payload, description=payload)
    task = open_task(database, number)
    bob = signed_in(app, "bob")
    added = post(bob, f"/tasks/{task.id}/comments", comment=payload, visibility="internal")
    assert added.status_code == 303
    for path in (f"/tasks/{task.id}", f"/instances/{number}", "/inbox"):
        page = bob.get(path)
        assert page.status_code == 200
        assert payload not in page.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
