"""The workflow designer's JSON API over HTTP: who may use it, drafts, checks, publishing."""

from __future__ import annotations

import copy
import json
import posixpath
import re
from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from engine.service.commands import Commands
from engine.service.people import ensure_user
from engine.store.database import Database
from tests.infrastructure import PACK, give_password
from tests.integration.test_workflow_drafts import LAPTOPS, REQUEST
from tests.web.test_admin import PASSWORD, sign_in
from tests.web.test_designer import Designer as FormDesigner

API = "/designer/api/workflows"


@pytest.fixture
def people(database: Database, commands: Commands) -> None:
    """dana, a designer; root, an admin; bob, an agent; alice, a requester; all with a password."""
    with database.writer_session() as session, session.begin():
        ensure_user(session, "dana", commands.clock(), name="Dana", roles=["designer"])
        ensure_user(session, "root", commands.clock(), name="Root", roles=["admin"])
        ensure_user(session, "bob", commands.clock(), roles=["agent"])
        for username in ("dana", "root", "bob", "alice"):
            give_password(session, username, PASSWORD)


class Designer(FormDesigner):
    """The form designer's browser, calling the workflow designer's API."""

    api = API

    def save(self, key: str, document: Any) -> TestResponse:
        revision = self.get(f"/{key}/draft").json["revision"]
        return self.send(
            "PUT", f"/{key}/draft", {"document": document}, **{"If-Match": f'"{revision}"'}
        )


@pytest.fixture
def dana(client: FlaskClient, people: None) -> Designer:
    assert sign_in(client, "dana").status_code == 302
    return Designer(client)


# Who may use it ------------------------------------------------------------------------------


def test_visitors_get_401(client: FlaskClient, people: None) -> None:
    assert client.get(API).status_code == 401
    assert client.get(f"{API}/context").status_code == 401
    assert client.post(f"{API}/laptops/check", json={}).status_code in (400, 401)


@pytest.mark.parametrize("username", ["bob", "alice"])
def test_agents_and_requesters_are_refused_every_call(
    client: FlaskClient, people: None, username: str
) -> None:
    assert sign_in(client, username).status_code == 302
    for method, path in [
        ("GET", ""),
        ("GET", "/context"),
        ("GET", "/it-incident/draft"),
        ("GET", "/it-incident/versions"),
        ("GET", "/it-incident/diff?from=1&to=1"),
    ]:
        response = client.open(f"{API}{path}", method=method)
        assert response.status_code == 403, path
        assert response.json["code"] == "forbidden"


def test_admins_may_design_workflows_too(client: FlaskClient, people: None) -> None:
    assert sign_in(client, "root").status_code == 302
    assert client.get(API).status_code == 200


def test_writes_without_the_csrf_token_are_refused(dana: Designer) -> None:
    put = dana.client.put(f"{API}/laptops/draft", json={"document": LAPTOPS, "revision": 0})
    created = dana.client.post(f"{API}/laptops/new", json={})
    assert (put.status_code, created.status_code) == (400, 400)
    assert dana.get("/laptops/draft").json["revision"] == 0


# Drafts and checks ---------------------------------------------------------------------------


def test_a_designer_creates_saves_checks_and_publishes_a_workflow(dana: Designer) -> None:
    created = dana.send("POST", "/laptops/new", {})
    assert created.status_code == 201
    assert created.headers["ETag"] == '"1"'
    saved = dana.send("PUT", "/laptops/draft", {"document": LAPTOPS}, **{"If-Match": '"1"'})
    assert saved.status_code == 200
    assert (saved.json["revision"], saved.json["saved_by"]) == (2, "dana")
    check = dana.send("POST", "/laptops/check").json
    assert (check["ok"], check["problems"], check["warnings"]) == (True, [], [])
    # Each field is listed once; a step names its fields by index, with who fills them in.
    fields = check["fields"]
    cost = next(
        [fields[index], step, missing]
        for index, step, missing in check["fields_at"]["route"]
        if fields[index]["key"] == "cost"
    )
    assert cost == [{"key": "cost", "label": "Estimated cost (EUR)", "type": "number",
                     "form_type": "number"}, None, False]  # fmt: skip
    assert len({json.dumps(field, sort_keys=True) for field in fields}) == len(fields)
    published = dana.send("POST", "/laptops/publish", {"revision": 2})
    assert published.status_code == 201
    assert (published.json["version"], published.json["created"]) == (1, True)
    again = dana.send("POST", "/laptops/publish", {})
    assert (again.status_code, again.json["version"]) == (200, 1)
    listed = {w["key"]: w for w in dana.get("").json["workflows"]}
    assert listed["laptops"]["latest_version"] == 1
    assert listed["laptops"]["unpublished_changes"] is False


def test_a_draft_keeps_the_workflows_own_messages_and_checks_them(dana: Designer) -> None:
    document = copy.deepcopy(LAPTOPS)
    document["steps"]["approve"]["on"]["rejected"] = "tell_refused"
    document["steps"]["tell_refused"] = {
        "type": "action",
        "notify": {"to": "requester", "template": "laptop-refused"},
        "next": "refused",
    }
    document["messages"] = {
        "laptop-refused": {"subject": "No {{ item }} for you", "body": "It costs {{ cost }}."}
    }
    dana.send("POST", "/laptops/new", {})

    assert dana.save("laptops", document).status_code == 200
    assert dana.get("/laptops/draft").json["document"]["messages"] == document["messages"]
    assert dana.send("POST", "/laptops/check").json["problems"] == []

    document["steps"]["tell_refused"]["notify"]["template"] = "laptop-refuse"
    dana.save("laptops", document)
    check = dana.send("POST", "/laptops/check").json
    assert [(p["pointer"], p["message"].split(";")[0]) for p in check["problems"]] == [
        ("/messages/laptop-refused", "no notify sends the message 'laptop-refused', so it is "
         "never sent"),
        ("/steps/tell_refused/notify/template", "there is no message 'laptop-refuse'"),
    ]  # fmt: skip
    assert "did you mean 'laptop-refused'?" in check["problems"][1]["message"]


def test_a_stale_save_is_409_and_a_save_without_a_revision_428(dana: Designer) -> None:
    assert dana.save("laptops", LAPTOPS).status_code == 200
    assert dana.save("laptops", {**LAPTOPS, "title": "Two"}).status_code == 200
    stale = dana.send("PUT", "/laptops/draft", {"document": LAPTOPS}, **{"If-Match": '"1"'})
    assert (stale.status_code, stale.json["code"]) == (409, "conflict")
    assert dana.send("PUT", "/laptops/draft", {"document": LAPTOPS}).status_code == 428
    # A revision is a whole number as written: `true` and 1.9 were read as revision 1.
    for wrong in (True, 1.9, "1.0", -1):
        sent = dana.send("PUT", "/laptops/draft", {"document": LAPTOPS, "revision": wrong})
        assert sent.status_code == 422, (wrong, sent.json)
        assert "the revision must be a whole number" in sent.json["message"]
    assert dana.get("/laptops/draft").json["document"]["title"] == "Two"


def test_a_broken_draft_is_refused_with_pointers(dana: Designer) -> None:
    broken = copy.deepcopy(LAPTOPS)
    broken["steps"]["route"]["branches"][0]["when"]["field"] = "costs"
    dana.save("laptops", broken)
    check = dana.send("POST", "/laptops/check", {"document": broken}).json
    assert check["ok"] is False
    assert [p["pointer"] for p in check["problems"]] == ["/steps/route/branches/0/when/field"]
    refused = dana.send("POST", "/laptops/publish", {})
    assert refused.status_code == 422
    assert refused.json["problems"][0]["pointer"] == "/steps/route/branches/0/when/field"
    assert dana.get("/laptops/versions").json["versions"] == []


def test_a_check_sends_only_the_fields_that_changed_from_those_seen(dana: Designer) -> None:
    first = dana.send("POST", "/laptops/check", {"document": LAPTOPS}).json
    held = {"fields": first["fields_digest"], "steps": first["fields_steps"]}
    assert set(first["fields_at"]) == set(first["fields_steps"])  # nothing held: all of them
    same = dana.send("POST", "/laptops/check", {"document": LAPTOPS, "fields_seen": held}).json
    assert same["fields_at"] == {}
    assert "fields" not in same
    assert (same["fields_digest"], same["fields_steps"], same["ok"]) == (
        first["fields_digest"], first["fields_steps"], True,
    )  # fmt: skip
    # A step that sets a field where none did: the list of fields grows, and the steps it
    # reaches come again with it.
    noted = copy.deepcopy(LAPTOPS)
    noted["first"] = "note"
    noted["steps"]["note"] = {"type": "action", "set": {"seen": {"value": True}}, "next": "route"}
    changed = dana.send("POST", "/laptops/check", {"document": noted, "fields_seen": held}).json
    assert changed["fields_digest"] != first["fields_digest"]
    route = [changed["fields"][index]["key"] for index, _, _ in changed["fields_at"]["route"]]
    assert "seen" in route
    assert set(changed["fields_steps"]) == set(first["fields_steps"]) | {"note"}
    # The same flow with one label changed: the fields are as they were, none is sent again.
    held = {"fields": changed["fields_digest"], "steps": changed["fields_steps"]}
    relabelled = copy.deepcopy(noted)
    relabelled["steps"]["note"]["label"] = "Note that it was seen"
    again = dana.send("POST", "/laptops/check", {"document": relabelled, "fields_seen": held})
    assert "fields" not in again.json
    assert again.json["fields_at"] == {}
    # A page that lost one step's fields gets that step's again, and only it.
    lost = {**held, "steps": {k: v for k, v in held["steps"].items() if k != "route"}}
    one = dana.send("POST", "/laptops/check", {"document": noted, "fields_seen": lost}).json
    assert (set(one["fields_at"]), "fields" in one) == ({"route"}, False)
    assert one["fields_at"]["route"] == changed["fields_at"]["route"]
    # Anything that is not what the server gave is a page that holds nothing.
    for odd in ([1], "digest", {"fields": 3, "steps": [1]}, None):
        sent = dana.send("POST", "/laptops/check", {"document": LAPTOPS, "fields_seen": odd}).json
        assert (sent["fields"], sent["fields_at"]) == (first["fields"], first["fields_at"])


def test_moving_a_step_leaves_the_list_of_fields_as_it_was(dana: Designer) -> None:
    """The list is in the order of the fields' content, not of the steps: a move sends only
    the steps whose fields changed."""
    noted = copy.deepcopy(LAPTOPS)
    noted["first"] = "note"
    noted["steps"]["note"] = {"type": "action", "set": {"seen": {"value": True}}, "next": "route"}
    first = dana.send("POST", "/laptops/check", {"document": noted}).json
    held = {"fields": first["fields_digest"], "steps": first["fields_steps"]}
    moved = copy.deepcopy(noted)  # `note` after `route`'s first branch target, not before it
    moved["first"] = "route"
    target = moved["steps"]["route"]["branches"][0]["next"]
    moved["steps"]["route"]["branches"][0]["next"] = "note"
    moved["steps"]["note"]["next"] = target
    answer = dana.send("POST", "/laptops/check", {"document": moved, "fields_seen": held}).json
    assert answer["ok"], answer["problems"]
    assert "fields" not in answer
    assert 0 < len(answer["fields_at"]) < len(answer["fields_steps"])
    assert "seen" not in [first["fields"][i]["key"] for i, _, _ in answer["fields_at"]["route"]]


def test_a_body_that_is_not_json_is_400_saying_where(dana: Designer) -> None:
    response = dana.client.post(
        f"{API}/laptops/check",
        data='{"document": ',
        content_type="application/json",
        headers={"X-CSRFToken": dana.token},
    )
    assert response.status_code == 400
    assert response.json["code"] == "bad_json"


def test_the_designers_own_calls_are_not_taken_for_workflow_keys(dana: Designer) -> None:
    context = dana.get("/context").json
    assert {"forms", "groups", "users", "calendars", "schedules", "templates"} <= set(context)
    assert {"reminder", "request-declined"} <= set(context["messages"])
    assert "service-desk" in [g["key"] for g in context["groups"]]
    assert "office" in context["calendars"]
    shipped = sorted(json.loads(path.read_text())["key"] for path in PACK.glob("*.json"))
    assert {"it-incident", "major-incident", "service-request"} <= set(shipped)
    assert [t["id"] for t in context["templates"]] == shipped
    form = next(f for f in context["forms"] if f["key"] == "service-request")
    item = next(f for f in form["fields"] if f["key"] == "item")
    assert item["options"][0] == "laptop"
    report = next(f for f in context["forms"] if f["key"] == "incident-report")
    impact = next(f for f in report["fields"] if f["key"] == "impact")
    # What the pickers and the simulation show: the form's words, beside the values stored.
    assert impact["options"] == ["high", "medium", "low"]
    assert impact["option_labels"] == ["A whole team, site or customers", "A few people", "Only me"]
    taken = dana.get("/context/draft")
    assert taken.status_code == 404
    assert "taken by the designer" in taken.json["message"]
    assert dana.get("/Not_A_Key/draft").status_code == 404


# Starting from something, versions and the diff ---------------------------------------------


def test_new_from_a_template_or_a_form_and_a_taken_key_is_409(dana: Designer) -> None:
    from_template = dana.send("POST", "/my-incidents/new", {"template": "it-incident"})
    assert from_template.status_code == 201
    assert from_template.json["document"]["key"] == "my-incidents"
    assert dana.send("POST", "/my-incidents/check").json["ok"] is True
    from_form = dana.send("POST", "/orders/new", {"form": "service-request"})
    assert from_form.status_code == 201
    assert dana.send("POST", "/orders/check").json["ok"] is True
    taken = dana.send("POST", "/it-incident/new", {})
    assert (taken.status_code, taken.json["code"]) == (409, "conflict")
    assert dana.send("POST", "/x/new", {"template": 3}).status_code == 422


def test_versions_say_where_instances_wait_and_the_diff_speaks_words(
    dana: Designer, commands: Commands
) -> None:
    dana.save("laptops", LAPTOPS)
    assert dana.send("POST", "/laptops/publish", {}).status_code == 201
    commands.start("laptops", REQUEST, requester="alice")
    versions = dana.get("/laptops/versions").json
    assert [v["version"] for v in versions["versions"]] == [1]
    assert versions["running"] == {"version": 1, "steps": {"approve": 1}}
    changed = copy.deepcopy(LAPTOPS)
    changed["steps"]["approve"]["assign"] = {"group": "network"}
    dana.save("laptops", changed)
    changes = dana.get("/laptops/diff?from=1").json["changes"]
    assert changes == [
        {
            "kind": "changed",
            "step": "approve",
            "text": "step 'approve': assignment changed from group service-desk to group network",
        }
    ]
    assert dana.get("/laptops/diff?from=7").status_code == 404
    dana.save("laptops", ["a draft is kept as sent, even when it is not an object"])
    refused = dana.get("/laptops/diff?from=1")
    assert refused.status_code == 422
    assert refused.json["message"] == "only workflows that are JSON objects can be compared"


# The page: what it comes with, to open fast ---------------------------------------------------


def test_the_page_comes_with_its_draft_checked_and_names_every_module_it_imports(
    dana: Designer,
) -> None:
    broken = copy.deepcopy(LAPTOPS)
    broken["steps"]["approve"]["on"]["rejected"] = "nowhere"
    dana.send("POST", "/laptops/new", {})
    assert dana.save("laptops", broken).status_code == 200

    page = dana.client.get("/designer/workflows/laptops").text
    found = re.search(r'<script type="application/json" id="workflow-config">(.*?)</script>', page)
    assert found is not None
    opening = json.loads(found.group(1))["opening"]
    assert opening["draft"]["document"] == broken
    assert opening["check"] == dana.send("POST", "/laptops/check").json
    assert "/steps/approve/on/rejected" in [p["pointer"] for p in opening["check"]["problems"]]
    assert {form["key"] for form in opening["context"]["forms"]} >= {"service-request"}
    assert "laptops" in {w["key"] for w in opening["context"]["workflows"]}
    assert opening["running"] == {"version": 0, "steps": {}}

    preloaded = re.findall(r'<link rel="modulepreload" href="([^"]+)">', page)
    assert preloaded[0] == "/designer/static/workflow/editor.js"
    assert {"properties.js", "simulate.js", "canvas.js", "pointer.js", "dom.js", "api.js"} <= {
        url.rsplit("/", 1)[1] for url in preloaded
    }
    for url in preloaded:
        module = dana.client.get(url)
        source = module.text
        module.close()
        assert (module.status_code, module.mimetype) == (200, "text/javascript"), url
        for imported in re.findall(r'^import [^;]*?from "([^"]+)"', source, re.MULTILINE):
            target = posixpath.normpath(posixpath.join(posixpath.dirname(url), imported))
            assert target in preloaded, f"{url} imports {imported}, which is not preloaded"
