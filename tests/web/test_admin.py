"""The admin pages (users, groups, workflows and their import) and each person's account page."""

from __future__ import annotations

import io
import json
import re
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from engine.service.commands import Commands
from engine.service.people import ensure_user
from engine.service.tokens import issue_token
from engine.store.database import Database
from engine.store.definitions import Definition, DefinitionVersion
from engine.store.people import Group, Membership, User
from tests.infrastructure import INCIDENT, PACK, give_password

PASSWORD = "correct horse battery"
WORKFLOW = json.loads((PACK / "it-incident.json").read_text())


@pytest.fixture
def people(database: Database, commands: Commands) -> None:
    """root, an admin, and bob, an agent, both with a password."""
    with database.writer_session() as session, session.begin():
        ensure_user(session, "root", commands.clock(), name="Root", roles=["admin"])
        give_password(session, "root", PASSWORD)
        give_password(session, "bob", PASSWORD)


def csrf(client: FlaskClient, path: str = "/sign-in") -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text)
    assert found is not None, path
    return found.group(1)


def sign_in(client: FlaskClient, username: str, password: str = PASSWORD) -> TestResponse:
    return client.post(
        "/sign-in",
        data={"csrf_token": csrf(client), "username": username, "password": password},
    )


@pytest.fixture
def admin(client: FlaskClient, people: None) -> FlaskClient:
    """A client signed in as root, the admin."""
    assert sign_in(client, "root").status_code == 302
    return client


def post(client: FlaskClient, path: str, data: dict[str, Any] | None = None) -> TestResponse:
    """Post a form the way its page would, CSRF token included."""
    token = csrf(client, "/account")
    return client.post(path, data={"csrf_token": token, **(data or {})})


def upload(client: FlaskClient, document: Any, filename: str = "flow.json") -> TestResponse:
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    return client.post(
        "/admin/workflows/import",
        data={"csrf_token": csrf(client, "/account"), "document": (io.BytesIO(body), filename)},
        content_type="multipart/form-data",
    )


def user_row(database: Database, username: str) -> User | None:
    with database.reading() as session:
        return session.scalar(select(User).where(User.username == username))


def versions(database: Database, key: str) -> list[int]:
    with database.reading() as session:
        return list(
            session.scalars(
                select(DefinitionVersion.version)
                .join(Definition, Definition.id == DefinitionVersion.definition_id)
                .where(Definition.key == key, Definition.kind == "workflow")
                .order_by(DefinitionVersion.version)
            )
        )


def test_the_admin_index_links_to_each_section(admin: FlaskClient) -> None:
    page = admin.get("/admin")
    assert page.status_code == 200
    # Every section of the admin's menu, on its first page too.
    for link in (
        "/admin/users", "/admin/groups", "/admin/workflows", "/admin/oncall",
        "/admin/services", "/admin/escalation-policies", "/admin/outbox",
        "/admin/retention", "/account",
    ):  # fmt: skip
        assert page.text.count(f'href="{link}"') >= 2, link  # in the menu, and in the list
    assert page.text.count("<h1") == 1


def test_the_workflows_page_sends_whoever_would_build_a_workflow_to_the_studio(
    admin: FlaskClient,
) -> None:
    page = admin.get("/admin/workflows")
    assert 'open it in the <a href="/designer/">Studio</a>' in page.text


def test_a_new_user_starts_with_no_role_ticked(admin: FlaskClient) -> None:
    """Agent was ticked: a requester or a manager who only approves, added in a hurry,
    became an agent, and saw the desk's tools (internal comments, cancel) on their own
    request."""
    page = admin.get("/admin/users/new").text
    roles = re.findall(r'<input[^>]*name="roles"[^>]*>', page)
    assert len(roles) == 4
    assert not [tag for tag in roles if "checked" in tag]


def test_an_admin_creates_a_user_with_a_password_who_can_then_sign_in(
    app: Any, admin: FlaskClient, database: Database
) -> None:
    response = post(
        admin,
        "/admin/users",
        {
            "username": "nina",
            "name": "Nina N",
            "email": "nina@example.org",
            "roles": ["agent", "designer"],
            "groups": ["network"],
            "password": "a long enough password",
        },
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/users/nina"
    assert "The user nina was created." in admin.get("/admin/users/nina").text
    listing = admin.get("/admin/users").text
    assert "Nina N" in listing
    assert "nina@example.org" in listing
    assert "agent, designer" in listing
    fresh = app.test_client()
    assert sign_in(fresh, "nina", "a long enough password").status_code == 302
    assert fresh.get("/api/v1/me").json["groups"] == ["network"]


def test_bad_input_is_shown_at_its_field_and_changes_nothing(
    admin: FlaskClient, database: Database
) -> None:
    response = post(
        admin,
        "/admin/users",
        {
            "username": "Bad Name!",
            "email": "not-an-address",
            "roles": ["wizard"],
            "groups": ["no-such-group"],
            "password": "short",
        },
    )
    assert response.status_code == 422
    for words in (
        "A username is 1 to 80",
        "Enter an email address",
        "Unknown role wizard",
        "There is no group no-such-group",
        "A password needs at least 10 characters",
    ):
        assert words in response.text
    assert 'aria-invalid="true"' in response.text
    assert 'href="#email"' in response.text
    assert user_row(database, "Bad Name!") is None
    taken = post(admin, "/admin/users", {"username": "bob", "roles": ["agent"]})
    assert taken.status_code == 422
    assert "There is already a user &#39;bob&#39;" in taken.text


def test_deactivating_a_user_stops_their_sign_in_and_their_token_but_keeps_them(
    app: Any, admin: FlaskClient, database: Database, commands: Commands
) -> None:
    with database.writer_session() as session, session.begin():
        _, token = issue_token(session, "bob", "script", commands.clock())
    headers = {"Authorization": f"Bearer {token}"}
    bob = app.test_client()
    assert sign_in(bob, "bob").status_code == 302
    assert app.test_client().get("/api/v1/me", headers=headers).status_code == 200
    response = post(
        admin,
        "/admin/users/bob",
        {"name": "Bob", "roles": ["agent"], "groups": ["desktop-support"], "manager": ""},
    )
    assert response.status_code == 303
    row = user_row(database, "bob")
    assert row is not None
    assert row.active is False
    assert app.test_client().get("/api/v1/me", headers=headers).status_code == 401
    assert sign_in(app.test_client(), "bob").status_code == 401
    assert bob.get("/account").status_code == 302  # the open session ends too
    assert "no (deactivated)" in admin.get("/admin/users").text


def test_an_admin_can_neither_deactivate_themselves_nor_drop_their_own_admin_role(
    admin: FlaskClient, database: Database
) -> None:
    for form, words in (
        ({"roles": ["admin"]}, "You cannot deactivate your own account."),
        ({"roles": ["agent"], "active": "yes"}, "You cannot remove your own admin role."),
    ):
        response = post(admin, "/admin/users/root", {"name": "Root", **form})
        assert response.status_code == 422
        assert words in response.text
    row = user_row(database, "root")
    assert row is not None
    assert row.active
    assert row.roles == ["admin"]


def test_an_admin_sets_a_password_and_a_short_one_is_refused(app: Any, admin: FlaskClient) -> None:
    assert post(admin, "/admin/users/dan/password", {"password": "short"}).status_code == 422
    assert post(
        admin, "/admin/users/dan/password", {"password": "dans new password"}
    ).status_code == (303)
    assert sign_in(app.test_client(), "dan", "dans new password").status_code == 302


def test_groups_are_created_with_a_next_tier_and_members_come_and_go(
    admin: FlaskClient, database: Database
) -> None:
    bad = post(admin, "/admin/groups", {"key": "net-l3", "next_tier": "nowhere"})
    assert bad.status_code == 422
    assert "There is no group &#39;nowhere&#39;" in bad.text
    created = post(
        admin, "/admin/groups", {"key": "net-l3", "name": "Net L3", "next_tier": "network"}
    )
    assert created.headers["Location"] == "/admin/groups/net-l3"
    assert post(admin, "/admin/groups/net-l3/members", {"username": "erin"}).status_code == 303
    assert post(admin, "/admin/groups/net-l3/members", {"username": "ghost"}).status_code == 422
    listing = admin.get("/admin/groups").text
    assert "Net L3" in listing
    assert "erin" in listing
    with database.reading() as session:
        group = session.scalar(select(Group).where(Group.key == "net-l3"))
        assert group is not None
        assert group.next_tier_id is not None
        assert session.scalar(select(func.count()).where(Membership.group_id == group.id)) == 1
    self_tier = post(admin, "/admin/groups/net-l3", {"name": "Net L3", "next_tier": "net-l3"})
    assert self_tier.status_code == 422
    assert post(admin, "/admin/groups/net-l3/members/erin/remove").status_code == 303
    with database.reading() as session:
        assert session.scalar(select(func.count()).where(Membership.group_id == group.id)) == 0


ADMIN_GETS = [
    "/admin",
    "/admin/users",
    "/admin/users/new",
    "/admin/users/dan",
    "/admin/groups",
    "/admin/groups/network",
    "/admin/workflows",
    "/admin/workflows/it-incident",
]
ADMIN_POSTS: list[tuple[str, dict[str, Any]]] = [
    ("/admin/users", {"username": "mallory", "roles": ["admin"], "password": PASSWORD + "!"}),
    ("/admin/users/bob", {"name": "Bob", "roles": ["admin"], "active": "yes"}),
    ("/admin/users/dan", {"name": "Dan", "roles": ["agent"]}),
    ("/admin/users/dan/password", {"password": "taken over by bob"}),
    ("/admin/groups", {"key": "evil"}),
    ("/admin/groups/network", {"name": "Renamed"}),
    ("/admin/groups/network/members", {"username": "bob"}),
    ("/admin/groups/desktop-support/members/dan/remove", {}),
]


def _snapshot(database: Database) -> Any:
    with database.reading() as session:
        users = session.execute(
            select(User.username, User.name, User.roles, User.active, User.password_hash)
        ).all()
        groups = session.execute(select(Group.key, Group.name, Group.next_tier_id)).all()
        members = session.execute(select(Membership.user_id, Membership.group_id)).all()
        published = session.execute(select(DefinitionVersion.id)).all()
    return sorted(map(tuple, users)), sorted(groups), sorted(members), sorted(published)


def test_a_non_admin_is_refused_every_admin_page_and_action_and_nothing_changes(
    app: Any, client: FlaskClient, people: None, database: Database
) -> None:
    before = _snapshot(database)
    for path in ADMIN_GETS:
        assert app.test_client().get(path).status_code == 302, path  # anonymous: sign in first
    assert sign_in(client, "bob").status_code == 302
    for path in ADMIN_GETS:
        assert client.get(path).status_code == 403, path
    for path, data in ADMIN_POSTS:
        assert post(client, path, data).status_code == 403, path
    changed = dict(WORKFLOW, title="Taken over")
    assert upload(client, changed).status_code == 403
    assert _snapshot(database) == before


def test_an_admin_post_without_the_csrf_token_is_refused(
    admin: FlaskClient, database: Database
) -> None:
    before = _snapshot(database)
    response = admin.post("/admin/groups", data={"key": "no-token"})
    assert response.status_code == 400
    assert _snapshot(database) == before


def test_importing_a_broken_workflow_lists_its_problems_by_pointer_and_publishes_nothing(
    admin: FlaskClient, database: Database
) -> None:
    broken = json.loads(json.dumps(WORKFLOW))
    broken["steps"]["categorize"]["next"] = "nowhere"
    response = upload(admin, broken)
    assert response.status_code == 422
    assert "<code>/steps/categorize/next</code>" in response.text
    assert "nothing was published" in response.text
    assert versions(database, "it-incident") == [1]
    not_json = upload(admin, b'{"kind": "workflow",', "bad.json")
    assert not_json.status_code == 422
    assert "this is not valid JSON (line 1" in not_json.text
    assert upload(admin, b"{}", "notes.txt").status_code == 422
    assert versions(database, "it-incident") == [1]


def test_importing_a_changed_workflow_publishes_version_2_and_the_same_file_again_is_unchanged(
    admin: FlaskClient, database: Database, commands: Commands
) -> None:
    commands.start("it-incident", INCIDENT, requester="alice")
    changed = dict(WORKFLOW, title="IT incident, revised")
    response = upload(admin, changed)
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/workflows/it-incident"
    page = admin.get("/admin/workflows/it-incident").text
    assert "Published workflow it-incident version 2." in page
    assert versions(database, "it-incident") == [1, 2]
    assert 'data-instances="1">1<' in page
    assert 'data-instances="2">0<' in page
    commands.start("it-incident", INCIDENT, requester="alice")
    listing = admin.get("/admin/workflows").text
    assert 'data-instances="it-incident-1">1<' in listing
    assert 'data-instances="it-incident-2">1<' in listing
    again = upload(admin, changed)
    assert again.status_code == 303
    assert (
        "is unchanged: version 2 has the same content" in admin.get(again.headers["Location"]).text
    )
    assert versions(database, "it-incident") == [1, 2]


def test_the_account_page_makes_a_token_that_works_until_it_is_revoked(
    app: Any, client: FlaskClient, people: None, database: Database
) -> None:
    assert sign_in(client, "bob").status_code == 302
    assert post(client, "/account/tokens", {"name": " "}).status_code == 422
    made = post(client, "/account/tokens", {"name": "nightly report"})
    assert made.status_code == 201
    assert made.headers["Cache-Control"] == "no-store"
    found = re.search(r'value="(fd_[^"]+)"', made.text)
    assert found is not None
    headers = {"Authorization": f"Bearer {found.group(1)}"}
    api = app.test_client()
    assert api.get("/api/v1/me", headers=headers).json["username"] == "bob"
    page = client.get("/account").text
    assert "nightly report" in page
    assert found.group(1) not in page
    revoke = re.search(r'action="(/account/tokens/\d+/revoke)"', page)
    assert revoke is not None
    assert post(client, revoke.group(1)).status_code == 303
    assert api.get("/api/v1/me", headers=headers).status_code == 401
    assert "revoked" in client.get("/account").text


def test_a_person_cannot_revoke_another_persons_token(
    client: FlaskClient, people: None, database: Database, commands: Commands
) -> None:
    with database.writer_session() as session, session.begin():
        token_id, _ = issue_token(session, "root", "root's", commands.clock())
    assert sign_in(client, "bob").status_code == 302
    assert post(client, f"/account/tokens/{token_id}/revoke").status_code == 404


def test_changing_your_password_needs_the_current_one(
    app: Any, client: FlaskClient, people: None
) -> None:
    assert sign_in(client, "bob").status_code == 302
    new = "a brand new password"
    wrong = post(
        client,
        "/account/password",
        {"current_password": "guess", "new_password": new, "confirm_password": new},
    )
    assert wrong.status_code == 422
    assert "Your current password is not right." in wrong.text
    assert sign_in(app.test_client(), "bob", new).status_code == 401
    right = post(
        client,
        "/account/password",
        {"current_password": PASSWORD, "new_password": new, "confirm_password": new},
    )
    assert right.status_code == 303
    assert sign_in(app.test_client(), "bob", new).status_code == 302
    assert sign_in(app.test_client(), "bob", PASSWORD).status_code == 401


def signed_in(client: FlaskClient) -> bool:
    return client.get("/account").status_code == 200


def test_a_new_password_signs_out_every_other_session_but_this_one(
    app: Any, client: FlaskClient, people: None
) -> None:
    laptop, phone = client, app.test_client()
    assert sign_in(laptop, "bob").status_code == 302
    assert sign_in(phone, "bob").status_code == 302
    new = "a brand new password"
    changed = post(
        laptop,
        "/account/password",
        {"current_password": PASSWORD, "new_password": new, "confirm_password": new},
    )
    assert changed.status_code == 303
    assert "signed out everywhere else" in laptop.get("/account").text
    assert not signed_in(phone)
    assert phone.get("/inbox").headers["Location"].startswith("/sign-in")
    assert sign_in(phone, "bob", new).status_code == 302
    assert signed_in(phone)


def test_an_admin_setting_a_password_signs_its_user_out_but_not_the_admin(
    app: Any, admin: FlaskClient
) -> None:
    bob = app.test_client()
    assert sign_in(bob, "bob").status_code == 302
    assert (
        post(admin, "/admin/users/bob/password", {"password": "bobs new password"}).status_code
        == 303
    )
    assert not signed_in(bob)
    assert (
        post(admin, "/admin/users/root/password", {"password": "roots new password"}).status_code
        == 303
    )
    assert signed_in(admin)


def test_the_account_page_needs_a_sign_in(client: FlaskClient) -> None:
    response = client.get("/account")
    assert response.status_code == 302
    assert "/sign-in" in response.headers["Location"]


@pytest.mark.parametrize("settings", [{"SIGN_IN_RATE_LIMIT": "3 per minute"}])
def test_guessing_the_current_password_is_rate_limited(client: FlaskClient, people: None) -> None:
    assert sign_in(client, "bob").status_code == 302
    guesses = {"new_password": "x" * 12, "confirm_password": "x" * 12}
    codes = [
        post(client, "/account/password", {"current_password": f"guess {n}", **guesses}).status_code
        for n in range(4)
    ]
    assert codes == [422, 422, 422, 429]


def test_text_no_database_keeps_is_refused_at_its_field_and_never_fails_the_server(
    admin: FlaskClient, database: Database
) -> None:
    before = _snapshot(database)
    made = post(admin, "/admin/users", {"username": "nina", "name": "Nina\x00", "roles": ["agent"]})
    assert made.status_code == 422
    assert "The name cannot hold control characters" in made.text
    for email in ("nina\x00@example.org", "nina@example.org\r\nBcc: all@example.org"):
        answer = post(admin, "/admin/users", {"username": "nina", "email": email})
        assert answer.status_code == 422
        assert "Enter an email address like name@example.org." in answer.text
    renamed = post(admin, "/admin/groups/network", {"name": "Net\nwork"})
    assert renamed.status_code == 422
    assert admin.get("/admin/users/bob%00").status_code == 404
    assert admin.get("/admin/groups/network%00").status_code == 404
    assert post(admin, "/admin/groups/network/members", {"username": "bob\x00"}).status_code == 422
    assert post(admin, "/admin/groups/network/members/bob%00/remove").status_code == 404
    tier = post(admin, "/admin/groups", {"key": "net-l3", "next_tier": "network\x00"})
    assert tier.status_code == 422
    named = post(admin, "/account/tokens", {"name": "nightly\nreport"})
    assert named.status_code == 422
    assert "cannot hold control characters" in named.text
    assert post(admin, f"/account/tokens/{2**64}/revoke").status_code == 404
    assert _snapshot(database) == before
