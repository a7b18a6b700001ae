"""No task stays with someone who has left: the admin pages and the task page.

Deactivating a user on their admin page hands their tasks back to their groups' queues
and lists those with nowhere to go; an admin reassigns any open task from its page; a
group takes back a task whose holder has left. Users named after a word of the workflow
language are refused at the admin page and at the command line.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from engine.catalog import Document
from engine.service.commands import Commands
from engine.service.definitions import publish_all
from engine.store.database import Database
from engine.store.people import User
from tests.infrastructure import Clock
from tests.web.test_inbox import incident, make_team, open_task, post, signed_in, task_row
from web.cli import main

APPROVAL = {
    "kind": "workflow",
    "format": 1,
    "key": "sign-off",
    "title": "Sign-off",
    "first": "approve",
    "steps": {
        "approve": {
            "type": "approval",
            "assign": {"user": "{{ approver }}"},
            "on": {"approved": "done", "rejected": "done"},
        },
        "done": {"type": "end"},
    },
}


@pytest.fixture
def team(app: Flask, database: Database, commands: Commands, clock: Clock) -> Commands:
    """The pack's team with passwords (see `test_inbox`), and the sign-off workflow."""
    with database.writer_session() as session, session.begin():
        publish_all(session, [Document(Path("sign-off.json"), APPROVAL)], clock(), "test")
    return make_team(app, database, commands, clock)


def users_named(database: Database, username: str) -> int:
    with database.reading() as session:
        query = select(func.count()).select_from(User).where(User.username == username)
        return int(session.scalar(query) or 0)


def deactivate(client: FlaskClient, username: str, groups: list[str]) -> str:
    """Untick `active` on the user's admin page; return the page it leads to."""
    response = post(
        client,
        f"/admin/users/{username}",
        name=username,
        roles="agent",
        groups=groups,
        manager="",
    )
    assert response.status_code == 303, response.text
    return client.get(response.headers["Location"]).text


def leave_by_hand(database: Database, username: str) -> None:
    """Stop a user without the admin page (as for a task opened before the hand-back)."""
    with database.writer_session() as session, session.begin():
        session.execute(update(User).where(User.username == username).values(active=False))


def test_deactivating_a_user_sends_their_task_back_to_the_queue(
    app: Flask, team: Commands, database: Database
) -> None:
    task = open_task(database, incident(team, requester="rita"))
    assert (task.assignee, task.candidate_group) == ("bob", "desktop-support")

    page = deactivate(signed_in(app, "ada"), "bob", ["desktop-support", "service-desk"])

    assert "was saved" in page
    assert "still holds" not in page
    moved = task_row(database, task.id)
    assert (moved.assignee, moved.candidate_group) == (None, "desktop-support")
    queue = signed_in(app, "dan").get("/inbox").text
    assert f"/tasks/{task.id}" in queue


def test_a_task_with_nowhere_to_go_is_listed_for_the_admin_who_reassigns_it(
    app: Flask, team: Commands, database: Database
) -> None:
    started = team.start("sign-off", {"approver": "sam"}, requester="rita")
    (task,) = started["opened_tasks"]
    admin = signed_in(app, "ada")

    page = deactivate(admin, "sam", [])

    assert f"sam still holds 1 open task with no group to go back to: {started['number']}" in page
    assert f'href="/tasks/{task["id"]}"' in page
    task_page = admin.get(f"/tasks/{task['id']}").text
    assert 'id="hand-title"' in task_page
    response = post(admin, f"/tasks/{task['id']}/reassign", user="dan", reason="sam has left")
    assert response.status_code == 303
    assert task_row(database, task["id"]).assignee == "dan"
    assert "Tasks still waiting on sam" not in admin.get("/admin/users/sam").text


def test_an_admin_reassigns_a_task_held_by_someone_else_from_its_page(
    app: Flask, team: Commands, database: Database
) -> None:
    task = open_task(database, incident(team, requester="rita"))
    admin = signed_in(app, "ada")

    assert 'id="hand-title"' in admin.get(f"/tasks/{task.id}").text
    response = post(admin, f"/tasks/{task.id}/reassign", group="network")

    assert response.status_code == 303
    moved = task_row(database, task.id)
    assert (moved.assignee, moved.candidate_group) == (None, "network")


def test_the_group_takes_back_a_task_whose_holder_has_left_and_only_then(
    app: Flask, team: Commands, database: Database
) -> None:
    task = open_task(database, incident(team, requester="rita"))
    dan = signed_in(app, "dan")
    assert 'id="hand-title"' not in dan.get(f"/tasks/{task.id}").text
    refused = post(dan, f"/tasks/{task.id}/reassign", group="desktop-support")
    assert refused.status_code == 403
    assert task_row(database, task.id).assignee == "bob"

    leave_by_hand(database, "bob")

    assert 'id="hand-title"' in dan.get(f"/tasks/{task.id}").text
    response = post(dan, f"/tasks/{task.id}/reassign", group="desktop-support")
    assert response.status_code == 303
    assert task_row(database, task.id).assignee is None


def test_an_approver_off_the_desk_is_not_offered_to_hand_on_and_is_refused(
    app: Flask, team: Commands, database: Database
) -> None:
    started = team.start("sign-off", {"approver": "zoe"}, requester="rita")
    (task,) = started["opened_tasks"]
    zoe = signed_in(app, "zoe")

    page = zoe.get(f"/tasks/{task['id']}").text

    assert 'id="hand-title"' not in page
    assert post(zoe, f"/tasks/{task['id']}/reassign", user="dan").status_code == 403
    assert post(zoe, f"/tasks/{task['id']}/delegate", to="dan").status_code == 403
    assert task_row(database, task["id"]).assignee == "zoe"


def test_a_reserved_username_is_refused_on_the_admin_form(
    app: Flask, team: Commands, database: Database
) -> None:
    response = post(signed_in(app, "ada"), "/admin/users", username="requester", roles="agent")

    assert response.status_code == 422
    assert "has a meaning of its own" in response.text
    assert users_named(database, "requester") == 0


def test_a_reserved_username_is_refused_at_the_command_line(
    database_url: str, database: Database, team: Commands
) -> None:
    result = CliRunner().invoke(
        main, ["user", "system"], env={"FLOWDESK_DATABASE_URL": database_url}
    )

    assert result.exit_code == 1
    assert "has a meaning of its own" in result.output
    assert users_named(database, "system") == 0
