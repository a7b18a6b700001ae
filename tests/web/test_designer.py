"""The form designer: its JSON API (drafts, checks, preview, publish, versions, diffs) and pages."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from designer.diff import diff_forms
from designer.palette import PALETTE
from engine.core.schema import validator
from engine.service.commands import Commands
from engine.service.people import ensure_user
from engine.store.database import Database
from tests.infrastructure import PACK, give_password
from tests.web.test_admin import PASSWORD, sign_in

INCIDENT_FORM = json.loads((PACK / "forms" / "incident-report.json").read_text())

SMALL = {
    "kind": "form",
    "format": 1,
    "key": "laptop-request",
    "title": "Ask for a laptop",
    "fields": [
        {"key": "model", "type": "select", "label": "Model", "required": True,
         "options": ["small", "large"]},
        {"key": "needed_by", "type": "date", "label": "Needed by", "required": True},
        {"key": "reason", "type": "textarea", "label": "Why?", "max_length": 50,
         "visible_if": {"field": "model", "op": "eq", "value": "large"}},
    ],
}  # fmt: skip


@pytest.fixture
def people(database: Database, commands: Commands) -> None:
    """dana, a designer; root, an admin; bob, an agent; all with a password."""
    with database.writer_session() as session, session.begin():
        ensure_user(session, "dana", commands.clock(), name="Dana", roles=["designer"])
        ensure_user(session, "root", commands.clock(), name="Root", roles=["admin"])
        for username in ("dana", "root", "bob"):
            give_password(session, username, PASSWORD)


class Designer:
    """A browser signed in as a designer, calling the API the way the page does."""

    #: Where the API's calls go.
    api = "/designer/api"

    def __init__(self, client: FlaskClient) -> None:
        self.client = client
        page = client.get("/designer/forms/laptop-request").text
        found = re.search(r'<meta name="csrf-token" content="([^"]+)"', page)
        assert found is not None
        self.token = found.group(1)

    def get(self, path: str) -> TestResponse:
        return self.client.get(f"{self.api}{path}")

    def send(self, method: str, path: str, body: Any = None, **headers: str) -> TestResponse:
        return self.client.open(
            f"{self.api}{path}",
            method=method,
            json=body if body is not None else {},
            headers={"X-CSRFToken": self.token, **headers},
        )

    def save(self, key: str, document: Any) -> TestResponse:
        revision = self.get(f"/forms/{key}/draft").json["revision"]
        return self.send("PUT", f"/forms/{key}/draft", {"document": document, "revision": revision})

    def publish(self, key: str, **body: Any) -> TestResponse:
        return self.send("POST", f"/forms/{key}/publish", body)


@pytest.fixture
def dana(client: FlaskClient, people: None) -> Designer:
    assert sign_in(client, "dana").status_code == 302
    return Designer(client)


# Who may use it ------------------------------------------------------------------------------


def test_visitors_are_sent_to_sign_in_and_the_api_answers_them_401(
    client: FlaskClient, people: None
) -> None:
    page = client.get("/designer/forms/laptop-request")
    assert page.status_code == 302
    assert "/sign-in" in page.headers["Location"]
    assert client.get("/designer/api/forms").status_code == 401
    assert client.put("/designer/api/forms/x/draft", json={}).status_code in (400, 401)


def test_agents_are_refused_every_page_and_call(client: FlaskClient, people: None) -> None:
    assert sign_in(client, "bob").status_code == 302
    assert client.get("/designer/").status_code == 403
    assert client.get("/designer/forms/laptop-request").status_code == 403
    for method, path in [
        ("GET", "/forms"),
        ("GET", "/forms/incident-report/draft"),
        ("GET", "/forms/incident-report/versions"),
        ("GET", "/forms/incident-report/diff?from=1&to=1"),
    ]:
        assert client.open(f"/designer/api{path}", method=method).status_code == 403, path


def test_admins_may_design_too(client: FlaskClient, people: None) -> None:
    assert sign_in(client, "root").status_code == 302
    assert client.get("/designer/api/forms").status_code == 200


def test_a_save_without_the_csrf_token_is_refused(dana: Designer) -> None:
    response = dana.client.put(
        "/designer/api/forms/laptop-request/draft", json={"document": SMALL, "revision": 0}
    )
    assert response.status_code == 400
    assert dana.get("/forms/laptop-request/draft").json["revision"] == 0


# Drafts --------------------------------------------------------------------------------------


def test_a_new_form_starts_blank_and_a_draft_is_stored_as_sent(dana: Designer) -> None:
    blank = dana.get("/forms/laptop-request/draft").json
    assert blank["revision"] == 0
    assert blank["document"]["fields"] == []
    broken = {"kind": "form", "fields": [{"type": "text"}], "anything": [1, 2]}
    saved = dana.send(
        "PUT", "/forms/laptop-request/draft", {"document": broken}, **{"If-Match": '"0"'}
    )
    assert saved.status_code == 200
    assert saved.json["revision"] == 1
    assert saved.headers["ETag"] == '"1"'
    again = dana.get("/forms/laptop-request/draft").json
    assert again["document"] == broken
    assert again["saved_by"] == "dana"
    listed = {f["key"]: f for f in dana.get("/forms").json["forms"]}
    assert listed["laptop-request"]["latest_version"] == 0
    assert listed["laptop-request"]["unpublished_changes"] is True
    assert listed["incident-report"]["latest_version"] == 1


def test_a_body_that_is_not_json_is_refused_saying_where_it_stops(dana: Designer) -> None:
    for path in ("/forms/laptop-request/draft", "/forms/laptop-request/check"):
        answer = dana.client.open(
            f"/designer/api{path}",
            method="PUT" if path.endswith("draft") else "POST",
            data=b'{"document": {"key": "laptop-request",, }}',
            headers={"X-CSRFToken": dana.token, "Content-Type": "application/json"},
        )
        assert answer.status_code == 400, path
        assert answer.json["code"] == "bad_json"
        assert "line 1 column 39" in answer.json["message"]
    listed = dana.send("POST", "/forms/laptop-request/check", [1, 2])
    assert listed.status_code == 422
    assert "send a JSON object" in listed.json["message"]
    assert dana.get("/forms/laptop-request/draft").json["revision"] == 0


def test_a_save_from_a_stale_revision_is_refused_with_409(dana: Designer) -> None:
    first = dana.send("PUT", "/forms/laptop-request/draft", {"document": SMALL, "revision": 0})
    assert first.status_code == 200
    stale = dana.send("PUT", "/forms/laptop-request/draft", {"document": {}, "revision": 0})
    assert stale.status_code == 409
    assert stale.json["code"] == "conflict"
    assert dana.get("/forms/laptop-request/draft").json["document"] == SMALL
    missing = dana.send("PUT", "/forms/laptop-request/draft", {"document": SMALL})
    assert missing.status_code == 428


def test_an_existing_form_opens_on_its_latest_version(dana: Designer) -> None:
    draft = dana.get("/forms/incident-report/draft").json
    assert draft["document"] == INCIDENT_FORM
    assert draft["latest_version"] == 1


# Checks and preview --------------------------------------------------------------------------


def test_check_reports_each_problem_at_its_field(dana: Designer) -> None:
    document = copy.deepcopy(SMALL)
    document["fields"][1]["key"] = "model"
    answer = dana.send("POST", "/forms/laptop-request/check", {"document": document}).json
    assert answer["ok"] is False
    assert [p["pointer"] for p in answer["problems"]] == ["/fields/1/key"]
    sound = dana.send("POST", "/forms/laptop-request/check", {"document": SMALL}).json
    assert sound == {"ok": True, "problems": [], "warnings": []}


def test_preview_renders_with_the_server_renderer_and_validates_like_a_submit(
    dana: Designer,
) -> None:
    answer = dana.send(
        "POST",
        "/forms/laptop-request/preview",
        {"document": SMALL, "data": {"model": "large", "reason": "x" * 60}},
    ).json
    assert 'name="preview.model"' in answer["html"]
    assert "Needed by" in answer["html"]
    errors = {e["field"]: e["message"] for e in answer["errors"]}
    assert errors == {
        "needed_by": "Fill in this field",
        "reason": "Enter at most 50 characters (this has 60)",
    }
    assert "reason" in answer["visible"]
    plain = dana.send("POST", "/forms/laptop-request/preview", {"document": SMALL}).json
    assert plain["errors"] == []
    assert "reason" not in plain["visible"]
    posted = dana.send(
        "POST",
        "/forms/laptop-request/preview",
        {"document": SMALL, "post": {"model": ["small"], "needed_by": ["2026-13-01"]}},
    ).json
    assert posted["errors"] == [
        {"field": "needed_by", "pointer": "/needed_by", "message": "Enter a date like 2026-03-01"}
    ]


def test_preview_refuses_a_service_the_catalogue_does_not_hold_as_a_submit_would(
    dana: Designer,
) -> None:
    document = copy.deepcopy(SMALL)
    document["fields"].append({"key": "paid_by", "type": "service", "label": "Paid by"})
    sample = {"model": "small", "needed_by": "2026-12-24", "paid_by": "nope"}
    answer = dana.send(
        "POST", "/forms/laptop-request/preview", {"document": document, "data": sample}
    )
    assert answer.json["valid"] is False
    assert answer.json["errors"] == [
        {
            "field": "paid_by",
            "pointer": "/paid_by",
            "message": "There is no service 'nope' in the catalogue; choose one it has",
        }
    ]


def test_preview_of_a_form_with_problems_says_where_they_are(dana: Designer) -> None:
    document = copy.deepcopy(SMALL)
    del document["fields"][0]["label"]
    answer = dana.send("POST", "/forms/laptop-request/preview", {"document": document})
    assert answer.status_code == 200
    assert answer.json["ok"] is False
    assert answer.json["html"] is None
    assert answer.json["problems"][0]["pointer"] == "/fields/0/label"


# Publishing ----------------------------------------------------------------------------------


def _broken(kind: str) -> tuple[dict[str, Any], str]:
    document = copy.deepcopy(SMALL)
    fields = document["fields"]
    if kind == "missing label":
        del fields[1]["label"]
        return document, "/fields/1/label"
    if kind == "duplicate key":
        fields[2]["key"] = "needed_by"
        return document, "/fields/2/key"
    if kind == "unknown field in a rule":
        fields[2]["visible_if"] = {"field": "modle", "op": "eq", "value": "large"}
        return document, "/fields/2/visible_if/field"
    if kind == "required but never shown":
        fields[2]["required"] = True
        fields[2]["visible_if"] = {"field": "model", "op": "eq", "value": "huge"}
        return document, "/fields/2/visible_if"
    assert kind == "rule cycle"
    fields[0]["visible_if"] = {"field": "reason", "op": "not_empty"}
    return document, "/fields/0/visible_if"


@pytest.mark.parametrize(
    "kind",
    [
        "missing label",
        "duplicate key",
        "unknown field in a rule",
        "required but never shown",
        "rule cycle",
    ],
)
def test_each_kind_of_problem_blocks_publishing_and_is_reported_at_its_field(
    dana: Designer, kind: str
) -> None:
    document, pointer = _broken(kind)
    assert dana.save("laptop-request", document).status_code == 200
    answer = dana.publish("laptop-request", confirm=True)
    assert answer.status_code == 422
    assert pointer in [p["pointer"] for p in answer.json["problems"]]
    assert dana.get("/forms/laptop-request/versions").json["versions"] == []


def test_publishing_freezes_a_version_and_a_second_publish_of_the_same_changes_nothing(
    dana: Designer,
) -> None:
    assert dana.save("laptop-request", SMALL).status_code == 200
    first = dana.publish("laptop-request")
    assert first.status_code == 201
    assert first.json["version"] == 1
    again = dana.publish("laptop-request")
    assert again.status_code == 200
    assert again.json == {
        "version": 1,
        "created": False,
        "latest_version": 1,
        "message": "Nothing was published: the draft is identical to version 1.",
        "warnings": [],
    }
    (version,) = dana.get("/forms/laptop-request/versions").json["versions"]
    assert version["version"] == 1
    assert version["published_by"] == "dana"


def test_publishing_a_stale_revision_is_refused(dana: Designer) -> None:
    assert dana.save("laptop-request", SMALL).status_code == 200
    assert dana.publish("laptop-request", revision=0).status_code == 409
    assert dana.publish("laptop-request", revision=1).status_code == 201


def test_removing_a_field_a_published_workflow_reads_warns_and_needs_confirmation(
    dana: Designer,
) -> None:
    document = copy.deepcopy(INCIDENT_FORM)
    category = next(f for f in document["fields"] if f["key"] == "category")
    category["key"] = "topic"
    assert dana.save("incident-report", document).status_code == 200
    checked = dana.send("POST", "/forms/incident-report/check").json
    assert checked["ok"] is True
    assert checked["warnings"]
    refused = dana.publish("incident-report")
    assert refused.status_code == 409
    assert refused.json["code"] == "confirm"
    warnings = refused.json["warnings"]
    assert {w["workflow"] for w in warnings} >= {"it-incident"}
    assert any("category" in w["message"] for w in warnings)
    assert len(dana.get("/forms/incident-report/versions").json["versions"]) == 1
    confirmed = dana.publish("incident-report", confirm=True)
    assert confirmed.status_code == 201
    assert confirmed.json["version"] == 2


# Versions and diffs --------------------------------------------------------------------------


def test_the_diff_between_two_versions_says_what_changed_in_words(dana: Designer) -> None:
    assert dana.save("laptop-request", SMALL).status_code == 200
    assert dana.publish("laptop-request").status_code == 201
    changed = copy.deepcopy(SMALL)
    fields = changed["fields"]
    fields[1]["key"] = "wanted_by"  # same label: a rename
    fields[0]["options"] = ["small", "large", "huge"]
    fields.pop(2)
    fields.insert(0, {"key": "phone", "type": "text", "format": "phone", "label": "Phone"})
    assert dana.save("laptop-request", changed).status_code == 200
    assert dana.publish("laptop-request").status_code == 201
    answer = dana.get("/forms/laptop-request/diff?from=1&to=2").json
    texts = [c["text"] for c in answer["changes"]]
    assert texts == [
        "'Needed by': the key was renamed from 'needed_by' to 'wanted_by'",
        "the field 'Why?' was removed",
        "the text field 'Phone' was added at position 1",
        "'Model': option 'huge' added",
    ]
    to_draft = dana.get("/forms/laptop-request/diff?from=2").json
    assert to_draft["changes"] == []
    assert dana.get("/forms/laptop-request/diff?from=3&to=1").status_code == 404


# Pages ---------------------------------------------------------------------------------------


def test_the_palette_offers_every_field_type_of_the_form_language() -> None:
    schema = validator("form", "forms").schema
    types = set(schema["$defs"]["field"]["properties"]["type"]["enum"])
    assert {entry["field"]["type"] for entry in PALETTE} == types


def test_the_designer_page_loads_its_modules_with_no_inline_script(dana: Designer) -> None:
    page = dana.client.get("/designer/forms/laptop-request")
    assert page.status_code == 200
    html = page.text
    assert '<script type="module" src="/designer/static/editor.js"' in html
    assert not re.search(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", html)
    assert 'style="' not in html
    for module in ("editor.js", "commands.js", "designer.css"):
        served = dana.client.get(f"/designer/static/{module}")
        served.close()
        assert served.status_code == 200, module


def test_the_list_of_forms_offers_a_new_form(dana: Designer) -> None:
    page = dana.client.get("/designer/").text
    assert "incident-report" in page
    assert "New form" in page
    made = dana.client.post("/designer/new", data={"key": "Bad key!", "csrf_token": dana.token})
    assert made.status_code == 422
    made = dana.client.post("/designer/new", data={"key": "laptop", "csrf_token": dana.token})
    assert made.status_code == 303
    assert made.headers["Location"].endswith("/designer/forms/laptop")


# The diff, on plain data ------------------------------------------------------------------


def test_a_field_moved_among_others_is_the_only_one_said_to_have_moved() -> None:
    old = {"fields": [{"key": k, "type": "text", "label": k.upper()} for k in "abcde"]}
    new = {"fields": [old["fields"][i] for i in (0, 3, 1, 2, 4)]}
    assert [c.text for c in diff_forms(old, new)] == ["'D' moved from position 4 to 2"]


def test_options_reordered_pages_added_and_a_property_removed_are_said_in_words() -> None:
    field = {"key": "size", "type": "select", "label": "Size", "options": ["s", "m"], "help": "?"}
    old = {"title": "T", "fields": [field]}
    new = {
        "title": "T",
        "pages": [
            {"title": "One", "fields": [{**field, "options": ["m", "s"], "help": None}]},
            {"title": "Two", "fields": []},
        ],
    }
    assert [c.text for c in diff_forms(old, new)] == [
        "the form has 2 pages (it had 0)",
        "'Size': help text removed (it was '?')",
        "'Size': options reordered",
    ]


def test_a_draft_that_is_not_a_form_is_compared_without_failing() -> None:
    assert diff_forms({"fields": "nonsense"}, {"fields": [None, 3]}) == []
