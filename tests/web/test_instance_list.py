"""The instance list through its doors: the page, the REST API and its CSV, with one filter
language, the same refusals, and saved views whose rules the service keeps."""

from __future__ import annotations

import csv
import io
import re

import pytest
from flask.testing import FlaskClient

from engine.service.catalogue import Catalogue
from engine.service.commands import Commands
from engine.store.database import Database
from tests.infrastructure import give_password
from tests.web.test_api import Headers, auth, start

__all__ = ["auth"]

PASSWORD = "correct horse battery"


def sign_in(client: FlaskClient, username: str) -> None:
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/sign-in").text)
    assert token is not None
    answer = client.post(
        "/sign-in", data={"csrf_token": token.group(1), "username": username, "password": PASSWORD}
    )
    assert answer.status_code == 302


@pytest.fixture
def passwords(database: Database, auth: Headers) -> None:
    with database.writer_session() as session, session.begin():
        for username in ("bob", "dan", "erin", "rita", "ray"):
            give_password(session, username, PASSWORD)


def csrf(client: FlaskClient, path: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text)
    assert found is not None
    return found.group(1)


def test_the_api_lists_by_the_filter_language_and_pages_by_cursor(
    client: FlaskClient, auth: Headers, commands: Commands
) -> None:
    made = [
        start(client, auth, summary=f"Laptop {n} will not boot").json["number"] for n in range(5)
    ]
    commands.comment(made[2], "The firmware update bricked it", actor="bob", public=False)
    seen, cursor = [], None
    while True:
        query = "/api/v1/instances?limit=2&sort=number" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(query, headers=auth("bob")).json
        seen += [item["number"] for item in page["items"]]
        assert page["total"] == 5
        assert page["total_exact"]
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == made
    found = client.get("/api/v1/instances?q=firmware%20status:open,new", headers=auth("bob")).json
    assert [item["number"] for item in found["items"]] in ([made[2]], [])
    by_word = client.get("/api/v1/instances?text=firmware", headers=auth("bob")).json
    assert [item["number"] for item in by_word["items"]] == [made[2]]
    # The requester never finds an instance by an internal note.
    assert client.get("/api/v1/instances?text=firmware", headers=auth("rita")).json["total"] == 0
    item = by_word["items"][0]
    assert set(item["sla"]) == {"response", "resolution"}
    assert item["holders"]


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("status=Open!", "status"),
        ("sla=reply:late", "sla"),
        ("created=last%20week", "created"),
        ("q=colour:red%20sla:late", "sla"),
        ("cursor=bm9wZQ", "cursor"),
        ("sort=title", "sort"),
    ],
)
def test_a_bad_filter_is_a_400_naming_it_on_the_api_and_the_page(
    client: FlaskClient, auth: Headers, passwords: None, query: str, named: str
) -> None:
    answer = client.get(f"/api/v1/instances?{query}", headers=auth("bob"))
    assert answer.status_code == 400
    assert answer.json["errors"][0]["field"] == named
    sign_in(client, "bob")
    page = client.get(f"/instances?{query}")
    assert page.status_code == 400
    assert f"the filter &#39;{named}&#39;" in page.text or named == "sort"


def test_the_page_finds_by_a_comment_word_and_sorts_and_exports_what_it_lists(
    client: FlaskClient, auth: Headers, commands: Commands, passwords: None
) -> None:
    first = start(client, auth, summary='=HYPERLINK("http://evil")').json["number"]
    second = start(client, auth, user="ray", summary="Projector is dim").json["number"]
    commands.comment(second, "Lamp ordered from the vendor", actor="bob", public=True)
    sign_in(client, "bob")
    page = client.get("/instances?q=lamp")
    assert page.status_code == 200
    assert second in page.text
    assert first not in page.text
    resorted = client.get("/instances?sort=updated").text
    assert re.search(r'aria-sort="ascending"><a href="[^"]*sort=-updated"', resorted)
    exported = client.get("/instances.csv?sort=number")
    assert exported.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(exported.text)))
    assert rows[0][0] == "Number"
    assert [row[0] for row in rows[1:]] == [first, second]
    assert rows[1][1].startswith("'=HYPERLINK")  # no formula runs in a spreadsheet
    # A requester's list and export hold only what they may see.
    client.post("/sign-out", data={"csrf_token": csrf(client, "/instances")})
    sign_in(client, "ray")
    assert first not in client.get("/instances").text
    assert first not in client.get("/instances.csv").text


def test_the_page_offers_the_catalogues_services_by_name_and_finds_by_one(
    client: FlaskClient, auth: Headers, commands: Commands, passwords: None
) -> None:
    Catalogue(commands).save_service(
        "vpn", {"name": "Remote access", "start_data": {}}, actor=None, create=True
    )
    down = start(client, auth, impact="high", affected_service="vpn").json["number"]
    other = start(client, auth, summary="Projector is dim").json["number"]
    sign_in(client, "bob")
    page = client.get("/instances?service=vpn").text
    assert '<option value="vpn" selected>Remote access</option>' in page
    assert down in page
    assert other not in page
    # Each row names its service by the catalogue's name, and the export by its key.
    listed = client.get("/instances?sort=number").text
    assert '<th scope="col">Service</th>' in listed

    def service_cell(number: str) -> str:
        row = re.search(rf'data-number="{number}">(.*?)</tr>', listed, re.S)
        assert row is not None
        return re.findall(r"<td>(.*?)</td>", row.group(1), re.S)[3]  # after priority, status

    assert (service_cell(down), service_cell(other)) == ("Remote access", "\N{EN DASH}")
    rows = list(csv.reader(io.StringIO(client.get("/instances.csv?sort=number").text)))
    service = rows[0].index("Service")
    assert [(row[0], row[service]) for row in rows[1:]] == [(down, "vpn"), (other, "")]
    found = client.get("/api/v1/instances?sort=number", headers=auth("bob")).json["items"]
    assert [(item["number"], item["service"]) for item in found] == [(down, "vpn"), (other, None)]
    # A list with nothing filed under a service has no column for it.
    assert "Service</th>" not in client.get("/instances?text=projector").text


def test_a_saved_view_is_shared_with_a_group_and_only_its_owner_changes_it(
    client: FlaskClient, auth: Headers, passwords: None
) -> None:
    start(client, auth, summary="Printer out of toner")
    made = client.post(
        "/api/v1/views",
        json={"name": "Toner", "filters": {"text": "toner"}, "sort": "-updated"},
        headers=auth("bob"),
    )
    assert made.status_code == 201, made.json
    view = made.json
    assert made.headers["Location"].endswith(f"/api/v1/views/{view['id']}")
    # Not yet shared: dan (desktop-support, like bob) does not see it.
    assert client.get(f"/api/v1/views/{view['id']}", headers=auth("dan")).status_code == 404
    shared = client.patch(
        f"/api/v1/views/{view['id']}", json={"group": "desktop-support"}, headers=auth("bob")
    )
    assert shared.status_code == 200
    assert shared.json["group"] == "desktop-support"
    assert [v["name"] for v in client.get("/api/v1/views", headers=auth("dan")).json["items"]] == [
        "Toner"
    ]
    refused = client.patch(
        f"/api/v1/views/{view['id']}", json={"name": "Dan's"}, headers=auth("dan")
    )
    assert refused.status_code == 403
    assert client.delete(f"/api/v1/views/{view['id']}", headers=auth("dan")).status_code == 403
    assert client.delete(f"/api/v1/views/{view['id']}", headers=auth("erin")).status_code == 404
    wrong = client.patch(
        f"/api/v1/views/{view['id']}", json={"group": "network"}, headers=auth("bob")
    )
    assert wrong.status_code == 403  # bob is not in network
    bad = client.post(
        "/api/v1/views", json={"name": "Odd", "filters": {"sla": "late"}}, headers=auth("bob")
    )
    assert bad.status_code == 400
    assert bad.json["errors"][0]["field"] == "sla"
    exported = client.get(f"/api/v1/views/{view['id']}/export", headers=auth("dan"))
    assert exported.status_code == 200
    assert "Printer out of toner" in exported.text
    # The page shows dan the shared view, without the forms that change it.
    sign_in(client, "dan")
    listed = client.get(f"/instances?view={view['id']}")
    assert "Toner" in listed.text
    assert "Printer out of toner" in listed.text
    assert f"/views/{view['id']}/rename" not in listed.text
    token = csrf(client, "/instances")
    assert client.post(f"/views/{view['id']}/delete", data={"csrf_token": token}).status_code == 403
    # On the page, dan saves one of his own.
    saved = client.post(
        "/views", data={"csrf_token": token, "name": "Mine", "text": "toner", "sort": "-updated"}
    )
    assert saved.status_code == 303
    assert "Mine" in client.get(saved.headers["Location"]).text
    assert client.delete(f"/api/v1/views/{view['id']}", headers=auth("bob")).status_code == 204
    assert client.get(f"/api/v1/views/{view['id']}", headers=auth("bob")).status_code == 404


def test_a_view_saved_from_the_page_keeps_its_group_filter_apart_from_whom_it_is_shared_with(
    client: FlaskClient, auth: Headers, passwords: None
) -> None:
    """The list's `group` filter and the save form's "Share with" were both posted as
    `group`: a view filtered on a group and shared with another came back empty, and one
    filtered on `group=mine` could not be saved at all."""
    sign_in(client, "dan")
    page = client.get("/instances?group=mine&status=open")
    assert page.status_code == 200
    token = csrf(client, "/instances")
    for name, shared in (("My team, open", ""), ("Desk, open", "desktop-support")):
        form = {"csrf_token": token, "name": name, "group": "mine", "status": "open",
                "sort": "-updated", "share_with": shared}  # fmt: skip
        assert client.post("/views", data=form).status_code == 303
    views = {v["name"]: v for v in client.get("/api/v1/views", headers=auth("dan")).json["items"]}
    assert views["My team, open"]["filters"] == {"group": "mine", "status": "open"}
    assert views["My team, open"]["group"] is None
    assert views["Desk, open"]["filters"] == {"group": "mine", "status": "open"}
    assert views["Desk, open"]["group"] == "desktop-support"
