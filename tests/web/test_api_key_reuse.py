"""The API refuses an Idempotency-Key sent again with a different request: 422, `key_reused`."""

from __future__ import annotations

from flask.testing import FlaskClient

from engine.store.database import Database
from engine.store.instances import Comment
from tests.web.test_api import Headers, auth, count, start
from tests.web.test_inbox import open_task

__all__ = ["auth"]  # a fixture

REFUSED = {
    "code": "key_reused",
    "message": "this idempotency key was already used for a different request (another "
    "complete); nothing was changed: a new request needs a new key",
    "errors": [],
}


def test_a_key_reused_to_complete_another_task_answers_422_and_leaves_it_open(
    client: FlaskClient, auth: Headers, database: Database
) -> None:
    first, second = (open_task(database, start(client, auth).json["number"]) for _ in "ab")
    body = {"outcome": "resolved", "data": {"resolution": "Cleared the jam"}}
    bob = auth(str(first.assignee), "k1")
    done = client.post(f"/api/v1/tasks/{first.id}/complete", json=body, headers=bob)
    assert done.status_code == 200

    reused = client.post(f"/api/v1/tasks/{second.id}/complete", json=body, headers=bob)

    assert (reused.status_code, reused.json) == (422, REFUSED)
    assert open_task(database, "INC-000002").id == second.id
    again = client.post(f"/api/v1/tasks/{first.id}/complete", json=body, headers=bob)
    assert (again.status_code, again.json) == (200, done.json)


def test_a_key_reused_for_a_comment_on_another_instance_answers_422(
    client: FlaskClient, auth: Headers, database: Database
) -> None:
    start(client, auth)
    start(client, auth)
    said = client.post(
        "/api/v1/instances/INC-000002/comments", json={"text": "on 2"}, headers=auth("rita", "k2")
    )
    assert said.status_code == 201

    reused = client.post(
        "/api/v1/instances/INC-000001/comments", json={"text": "on 1"}, headers=auth("rita", "k2")
    )

    assert reused.status_code == 422
    assert reused.json["code"] == "key_reused"
    assert count(database, Comment) == 1
