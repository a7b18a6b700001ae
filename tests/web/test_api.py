"""The REST API under `/api/v1`, as a script with an API token would use it."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from engine.service.commands import Commands
from engine.service.definitions import publish_document
from engine.service.people import ensure_user
from engine.service.tokens import issue_token
from engine.store.database import Database
from engine.store.instances import Event, Instance
from tests.infrastructure import INCIDENT, PACK

Headers = Callable[..., dict[str, str]]


@pytest.fixture
def auth(database: Database, commands: Commands) -> Headers:
    """Bearer headers: the pack's agents, ada (admin), dee (designer), rita and ray (requesters)."""
    now = datetime.now(UTC)
    tokens: dict[str, str] = {}
    with database.writer_session() as session, session.begin():
        ensure_user(session, "ada", now, roles=["admin"])
        ensure_user(session, "dee", now, roles=["designer"])
        ensure_user(session, "rita", now, roles=["requester"])
        ensure_user(session, "ray", now, roles=["requester"])
        for username in ("ada", "dee", "rita", "ray", "bob", "dan", "erin"):
            tokens[username] = issue_token(session, username, "tests", now)[1]

    def headers(username: str, key: str | None = None) -> dict[str, str]:
        found = {"Authorization": f"Bearer {tokens[username]}"}
        if key is not None:
            found["Idempotency-Key"] = key
        return found

    return headers


def start(client: FlaskClient, auth: Headers, user: str = "rita", **data: Any) -> Any:
    response = client.post(
        "/api/v1/instances",
        json={"workflow": "it-incident", "data": {**INCIDENT, **data}},
        headers=auth(user),
    )
    assert response.status_code == 201, response.json
    return response


def count(database: Database, model: Any) -> int:
    with database.reading() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_starting_an_instance_answers_201_where_it_lives_with_the_caller_as_requester(
    client: FlaskClient, auth: Headers
) -> None:
    response = start(client, auth)
    assert response.headers["Location"] == "/api/v1/instances/INC-000001"
    body = response.json
    assert body["number"] == "INC-000001"
    assert body["requester"] == "rita"
    assert body["priority"] == "P2"
    assert [task["assignee"] for task in body["tasks"]] == ["bob"]
    assert body["sla"]["state"] in ("on_track", "due_soon", "breached")
    assert body["timeline"][0]["kind"] == "started"
    assert client.get(response.headers["Location"], headers=auth("rita")).json == body


def test_a_start_form_mistake_is_a_422_with_a_pointer_into_data(
    client: FlaskClient, auth: Headers, database: Database
) -> None:
    response = client.post(
        "/api/v1/instances",
        json={"workflow": "it-incident", "data": {**INCIDENT, "email": "not an address"}},
        headers=auth("rita"),
    )
    assert response.status_code == 422
    assert response.json["code"] == "invalid"
    assert [(e["field"], e["pointer"]) for e in response.json["errors"]] == [
        ("data.email", "/data/email")
    ]
    assert count(database, Instance) == 0


def test_a_required_text_of_only_spaces_is_unanswered_through_the_api_as_on_the_form_page(
    client: FlaskClient, auth: Headers, database: Database
) -> None:
    response = client.post(
        "/api/v1/instances",
        json={"workflow": "it-incident", "data": {**INCIDENT, "summary": "   \t "}},
        headers=auth("rita"),
    )
    assert response.status_code == 422
    assert [e["pointer"] for e in response.json["errors"]] == ["/data/summary"]
    assert count(database, Instance) == 0


@pytest.mark.parametrize(
    ("raw", "status", "pointer"),
    [
        ("{not json", 400, None),
        ('{"workflow": "it-incident", "data": {"n": NaN}}', 400, None),
        ('{"workflow": "it-incident", "data": {"n": 1e9999}}', 400, None),
        ('{"workflow": "it-incident", "workflow": "it-incident"}', 400, None),
        ("[1, 2]", 422, ""),
        ('{"workflow": 5}', 422, "/workflow"),
        ('{"workflow": "it-incident", "surprise": true}', 422, ""),
        ('{"data": {}}', 422, "/workflow"),
        ('{"workflow": "it-incident", "data": {"summary": "a\\u0000b"}}', 422, "/data/summary"),
        ('{"workflow": "it-incident", "data": {"summary": "\\ud800"}}', 422, "/data/summary"),
        ('{"workflow": "it-incident", "data": {"n": ' + "9" * 400 + "}}", 422, None),
        ('{"workflow": "it-incident", "data": {"n": ' + "9" * 5000 + "}}", 400, None),
        ("[" * 100_000 + "]" * 100_000, 400, None),
    ],
)
def test_bad_input_is_refused_in_the_stable_shape_and_changes_nothing(
    client: FlaskClient,
    auth: Headers,
    database: Database,
    raw: str,
    status: int,
    pointer: str | None,
) -> None:
    response = client.post(
        "/api/v1/instances", data=raw, content_type="application/json", headers=auth("rita")
    )
    assert response.status_code == status, response.json
    assert set(response.json) == {"code", "message", "errors"}
    if pointer is not None:
        assert pointer in [error["pointer"] for error in response.json["errors"]]
    assert count(database, Instance) == 0


def test_instances_list_by_filter_and_page_and_only_agents_see_every_one(
    client: FlaskClient, auth: Headers
) -> None:
    for summary in ("VPN down", "Printer jam", "Mail slow"):
        start(client, auth, summary=summary)
    listed = client.get("/api/v1/instances?limit=2", headers=auth("bob")).json
    assert (listed["total"], listed["limit"], listed["offset"]) == (3, 2, 0)
    assert [item["number"] for item in listed["items"]] == ["INC-000003", "INC-000002"]
    rest = client.get("/api/v1/instances?limit=2&offset=2", headers=auth("bob")).json
    assert [item["number"] for item in rest["items"]] == ["INC-000001"]
    found = client.get("/api/v1/instances?text=printer", headers=auth("bob")).json
    assert [item["title"] for item in found["items"]] == ["Printer jam"]
    assert client.get("/api/v1/instances?workflow=major-incident", headers=auth("bob")).json[
        "total"
    ] == (0)
    assert client.get("/api/v1/instances?service=vpn", headers=auth("bob")).json["total"] == 0
    assert client.get("/api/v1/instances?service=VPN!", headers=auth("bob")).status_code == 400
    at_the_end = client.get("/api/v1/instances?created=9999-12-31", headers=auth("bob"))
    assert at_the_end.status_code == 400  # an OverflowError, a 500, before
    assert at_the_end.json["errors"][0]["field"] == "created"
    assert client.get("/api/v1/instances?sla=on_track", headers=auth("bob")).json["total"] in (
        0,
        3,
    )
    assert client.get("/api/v1/instances", headers=auth("rita")).json["total"] == 3
    # Someone else's requests stay out of sight, even when asked for by name.
    assert client.get("/api/v1/instances?requester=rita", headers=auth("ray")).json["total"] == 0


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=201", "limit=ten", "offset=-1", "sla=late", "text=" + "x" * 201]
)
def test_a_wrong_query_parameter_is_a_400_naming_it(
    client: FlaskClient, auth: Headers, query: str
) -> None:
    response = client.get(f"/api/v1/instances?{query}", headers=auth("bob"))
    assert response.status_code == 400
    assert response.json["errors"][0]["field"] == query.split("=")[0]


def test_an_instance_the_caller_may_not_see_is_not_found(
    client: FlaskClient, auth: Headers
) -> None:
    start(client, auth)
    for path in ("/api/v1/instances/INC-000001", "/api/v1/instances/INC-000001/comments"):
        assert client.get(path, headers=auth("ray")).status_code == 404
        assert client.get(path, headers=auth("dan")).status_code == 200  # an agent
    assert client.get("/api/v1/instances/INC-999999", headers=auth("bob")).status_code == 404
    refused = client.post(
        "/api/v1/instances/INC-000001/comments", json={"text": "hi"}, headers=auth("ray")
    )
    assert refused.status_code == 404
    assert client.get("/api/v1/tasks/1", headers=auth("ray")).status_code == 404
    assert client.post("/api/v1/tasks/1/claim", headers=auth("ray")).status_code == 404


def test_tasks_mine_and_queue_then_claim_from_the_queue(
    client: FlaskClient, auth: Headers, commands: Commands
) -> None:
    start(client, auth)
    mine = client.get("/api/v1/tasks?view=mine", headers=auth("bob")).json
    assert [(item["id"], item["instance"]) for item in mine["items"]] == [(1, "INC-000001")]
    assert mine["total"] == 1
    commands.unclaim(1, actor="bob")  # back in desktop-support's queue
    queued = client.get("/api/v1/tasks?view=queue", headers=auth("dan")).json
    assert [item["id"] for item in queued["items"]] == [1]
    assert queued["total"] == 1
    assert client.get("/api/v1/tasks?view=queue", headers=auth("erin")).json["total"] == 0
    assert client.post("/api/v1/tasks/1/claim", headers=auth("erin")).status_code == 403
    assert client.get("/api/v1/tasks/1", headers=auth("erin")).json["assignee"] is None
    claimed = client.post("/api/v1/tasks/1/claim", headers=auth("dan"))
    assert claimed.status_code == 200
    assert claimed.json["assignee"] == "dan"
    again = client.post("/api/v1/tasks/1/claim", headers=auth("bob"))
    assert again.status_code == 409
    assert again.json["code"] == "conflict"
    assert client.get("/api/v1/tasks/1", headers=auth("dan")).json["assignee"] == "dan"
    assert client.get("/api/v1/tasks/99", headers=auth("dan")).status_code == 404
    assert client.get(f"/api/v1/tasks/{2**70}", headers=auth("dan")).status_code == 404
    # One task, one address: other scripts' digits are not read as the number.
    for other_digits in ("\uff11", "\u0661", "\u0967"):  # full-width, Arabic-Indic, Devanagari 1
        assert client.get(f"/api/v1/tasks/{other_digits}", headers=auth("dan")).status_code == 404
        assert (
            client.post(f"/api/v1/tasks/{other_digits}/claim", headers=auth("dan")).status_code
            == 404
        )


def test_completing_checks_the_tasks_form_then_completes_once_per_key(
    client: FlaskClient, auth: Headers, database: Database
) -> None:
    start(client, auth)
    mistake = client.post(
        "/api/v1/tasks/1/complete",
        json={"outcome": "resolved", "data": {"cause": "gremlins"}},
        headers=auth("bob"),
    )
    assert mistake.status_code == 422
    pointers = {error["pointer"] for error in mistake.json["errors"]}
    assert pointers == {"/data/resolution", "/data/cause"}
    assert client.post(
        "/api/v1/tasks/1/complete", json={"outcome": "resolved"}, headers=auth("dan")
    ).status_code in (403, 422)
    done = {"outcome": "resolved", "data": {"resolution": "Cleared the jam"}}
    first = client.post("/api/v1/tasks/1/complete", json=done, headers=auth("bob", "k-1"))
    assert first.status_code == 200
    assert (first.json["status"], first.json["outcome"], first.json["completed_by"]) == (
        "completed",
        "resolved",
        "bob",
    )
    assert first.json["instance_status"] == "resolved"
    events = count(database, Event)
    repeat = client.post("/api/v1/tasks/1/complete", json=done, headers=auth("bob", "k-1"))
    assert repeat.status_code == 200
    assert repeat.json == first.json
    assert count(database, Event) == events
    late = client.post("/api/v1/tasks/1/complete", json=done, headers=auth("bob"))
    assert late.status_code == 409
    assert count(database, Event) == events


def test_a_repeated_start_with_the_same_key_starts_one_instance_for_that_caller_only(
    client: FlaskClient, auth: Headers, database: Database
) -> None:
    body = {"workflow": "it-incident", "data": INCIDENT}
    first = client.post("/api/v1/instances", json=body, headers=auth("rita", "report-1"))
    again = client.post("/api/v1/instances", json=body, headers=auth("rita", "report-1"))
    assert first.json["number"] == again.json["number"] == "INC-000001"
    assert count(database, Instance) == 1
    other = client.post("/api/v1/instances", json=body, headers=auth("ray", "report-1"))
    assert other.json["number"] == "INC-000002"
    bad = client.post("/api/v1/instances", json=body, headers=auth("rita", "x" * 101))
    assert bad.status_code == 400
    assert bad.json["errors"][0]["field"] == "Idempotency-Key"


def test_comments_public_for_all_who_see_the_instance_internal_notes_for_agents(
    client: FlaskClient, auth: Headers
) -> None:
    start(client, auth)
    path = "/api/v1/instances/INC-000001/comments"
    said = client.post(path, json={"text": "Still blinking"}, headers=auth("rita"))
    assert said.status_code == 201
    assert said.headers["Location"] == path
    assert (said.json["author"], said.json["public"]) == ("rita", True)
    assert client.post(
        path, json={"text": "note", "public": False}, headers=auth("rita")
    ).status_code == (403)
    note = client.post(path, json={"text": "Toner?", "public": False}, headers=auth("bob"))
    assert note.status_code == 201
    assert [c["text"] for c in client.get(path, headers=auth("bob")).json["items"]] == [
        "Still blinking",
        "Toner?",
    ]
    assert [c["text"] for c in client.get(path, headers=auth("rita")).json["items"]] == [
        "Still blinking"
    ]
    timeline = client.get("/api/v1/instances/INC-000001", headers=auth("rita")).json["timeline"]
    assert [event["kind"] for event in timeline].count("commented") == 1
    empty = client.post(path, json={"text": "   "}, headers=auth("rita"))
    assert (empty.status_code, empty.json["code"]) == (422, "invalid")


def test_only_agents_cancel_and_a_second_cancel_is_a_conflict(
    client: FlaskClient, auth: Headers
) -> None:
    start(client, auth)
    path = "/api/v1/instances/INC-000001/cancel"
    refused = client.post(path, json={"reason": "changed my mind"}, headers=auth("rita"))
    assert (refused.status_code, refused.json["code"]) == (403, "forbidden")
    unchanged = client.get("/api/v1/instances/INC-000001", headers=auth("rita")).json
    assert (unchanged["status"], len(unchanged["tasks"])) == ("in_progress", 1)
    cancelled = client.post(path, json={"reason": "duplicate"}, headers=auth("bob"))
    assert cancelled.status_code == 200
    assert (cancelled.json["status"], cancelled.json["ended"], cancelled.json["tasks"]) == (
        "cancelled",
        True,
        [],
    )
    assert client.post(path, json={"reason": "again"}, headers=auth("bob")).status_code == 409
    assert client.post(path, json={}, headers=auth("bob")).status_code == 422


def test_designers_publish_a_new_version_an_unchanged_one_or_get_the_problems(
    client: FlaskClient, auth: Headers
) -> None:
    document = json.loads((PACK / "it-incident.json").read_text())
    unchanged = client.post("/api/v1/workflows", json=document, headers=auth("dee"))
    assert unchanged.status_code == 200
    assert unchanged.json == {
        "kind": "workflow",
        "key": "it-incident",
        "version": 1,
        "created": False,
        "latest_version": 1,
        "message": "The workflow it-incident is unchanged: version 1 has the same content, "
        "so nothing was published.",
    }
    changed = {**document, "title": "IT incident (v2)"}
    published = client.post("/api/v1/workflows", json=changed, headers=auth("dee"))
    assert published.status_code == 201
    assert published.json["version"] == 2
    location = published.headers["Location"]
    assert location == "/api/v1/workflows/it-incident/versions/2"
    frozen = client.get(location, headers=auth("bob")).json
    assert (frozen["content"]["title"], frozen["published_by"]) == ("IT incident (v2)", "dee")
    listed = client.get("/api/v1/workflows", headers=auth("bob")).json["items"]
    (it,) = [item for item in listed if item["key"] == "it-incident"]
    assert {"latest_version": 2, "versions": 2}.items() <= it.items()
    back = client.post("/api/v1/workflows", json=document, headers=auth("dee"))  # a rollback
    assert back.status_code == 201
    assert (back.json["version"], back.json["created"], back.json["latest_version"]) == (
        3,
        True,
        3,
    )
    assert back.json["message"] == (
        "Published workflow it-incident version 3 (the same as version 1)."
    )
    broken = {**document, "first": "nowhere"}
    problems = client.post("/api/v1/workflows", json=broken, headers=auth("ada"))
    assert problems.status_code == 422
    assert "/first" in [error["pointer"] for error in problems.json["errors"]]
    for user in ("bob", "rita"):
        assert client.post("/api/v1/workflows", json=changed, headers=auth(user)).status_code == 403
    assert client.get(
        "/api/v1/workflows/it-incident/versions/4", headers=auth("bob")
    ).status_code == (404)


ENDPOINTS = [
    ("GET", "/api/v1/me"),
    ("GET", "/api/v1/instances"),
    ("POST", "/api/v1/instances"),
    ("GET", "/api/v1/instances/INC-000001"),
    ("POST", "/api/v1/instances/INC-000001/cancel"),
    ("GET", "/api/v1/instances/INC-000001/comments"),
    ("POST", "/api/v1/instances/INC-000001/comments"),
    ("GET", "/api/v1/tasks"),
    ("GET", "/api/v1/tasks/1"),
    ("POST", "/api/v1/tasks/1/claim"),
    ("POST", "/api/v1/tasks/1/complete"),
    ("GET", "/api/v1/workflows"),
    ("POST", "/api/v1/workflows"),
    ("GET", "/api/v1/workflows/it-incident/versions/1"),
]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_without_a_token_every_endpoint_but_the_public_forms_answers_401_in_json(
    client: FlaskClient, auth: Headers, method: str, path: str
) -> None:
    response = client.open(path, method=method, json={})
    assert response.status_code == 401
    assert response.json["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    wrong = client.open(path, method=method, json={}, headers={"Authorization": "Bearer fd_x"})
    assert wrong.status_code == 401


def test_the_public_forms_need_no_token(client: FlaskClient, commands: Commands) -> None:
    assert client.get("/api/v1/forms/incident-report/schema").status_code == 200
    checked = client.post("/api/v1/forms/incident-report/validate", json={})
    assert checked.status_code == 200
    assert checked.json["valid"] is False


@pytest.mark.parametrize("settings", [{"VALIDATE_RATE_LIMIT": "2 per minute"}])
def test_live_validation_answers_429_past_the_limit_the_operator_set(client: FlaskClient) -> None:
    answers = [
        client.post("/api/v1/forms/incident-report/validate", json={}).status_code for _ in range(3)
    ]
    assert answers == [200, 200, 429]


def test_an_instance_stopped_on_an_incident_says_so_and_only_admins_retry_it(
    client: FlaskClient, auth: Headers, database: Database, commands: Commands
) -> None:
    from tests.web.test_instances import RATIO

    with database.writer_session() as session, session.begin():
        publish_document(session, "workflow", RATIO, datetime.now(UTC), "test")
    number = commands.start("ratio", {"cost": 500, "people": 0}, requester="rita")["number"]

    shown = client.get(f"/api/v1/instances/{number}", headers=auth("bob")).json
    ((step, why),) = [(i["step"], i["why"]) for i in shown["incidents"]]
    assert step == "route"
    assert "division by zero" in why
    assert client.post(f"/api/v1/instances/{number}/retry", headers=auth("bob")).status_code == 403
    retried = client.post(f"/api/v1/instances/{number}/retry", headers=auth("ada"))
    assert retried.status_code == 200
    assert [event["kind"] for event in retried.json["timeline"]][-2:] == ["retried", "incident"]
