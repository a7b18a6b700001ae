"""On call through every door: the API, the iCalendar feeds, the admin pages, the CLI.

The rules are the service's (`engine.service.oncall`): only admins change schedules, a bad
layer is refused saying where and changes nothing, a feed opens only with its secret.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient

from engine.service.commands import Commands
from engine.service.oncall import Schedules
from engine.service.people import ensure_user
from engine.service.tokens import issue_token
from engine.store.database import Database
from tests.infrastructure import give_password
from tests.web.test_admin import PASSWORD, post, sign_in
from web.cli import main

Headers = Callable[[str], dict[str, str]]
LAYERS = [
    {
        "name": "Primary",
        "members": ["erin", "lee"],
        "rotation": "daily",
        "handoff": "09:00",
        "start": "2026-11-23",
    }
]


@pytest.fixture
def network(database: Database, commands: Commands) -> Schedules:
    with database.writer_session() as session, session.begin():
        ensure_user(session, "root", commands.clock(), roles=["admin"])
        give_password(session, "root", PASSWORD)
        give_password(session, "erin", PASSWORD)
    schedules = Schedules(commands)
    schedules.save(
        "network", name="Network", time_zone="Europe/Amsterdam", layers=LAYERS, actor="root"
    )
    return schedules


@pytest.fixture
def auth(database: Database, network: Schedules) -> Headers:
    now = datetime.now(UTC)
    with database.writer_session() as session, session.begin():
        tokens = {name: issue_token(session, name, "tests", now)[1] for name in ("root", "erin")}
    return lambda username: {"Authorization": f"Bearer {tokens[username]}"}


def test_the_api_says_who_is_on_call_at_a_moment(client: FlaskClient, auth: Headers) -> None:
    found = client.get(
        "/api/v1/schedules/network/oncall?at=2026-11-24T10:00:00%2B01:00", headers=auth("erin")
    )
    assert found.status_code == 200
    assert found.json == {
        "schedule": "network",
        "at": "2026-11-24T09:00:00+00:00",
        "person": "lee",
        "layer": "Primary",
        "override": False,
        "until": "2026-11-25T08:00:00+00:00",
    }
    listed = client.get("/api/v1/schedules", headers=auth("erin")).json
    assert listed == {
        "items": [{"key": "network", "name": "Network", "time_zone": "Europe/Amsterdam"}]
    }


def test_the_api_refuses_a_moment_without_an_offset_and_an_unknown_schedule(
    client: FlaskClient, auth: Headers
) -> None:
    naive = client.get("/api/v1/schedules/network/oncall?at=2026-11-24T10:00", headers=auth("erin"))
    assert naive.status_code == 400
    assert "offset" in naive.json["errors"][0]["message"]
    assert client.get("/api/v1/schedules/nope/oncall", headers=auth("erin")).status_code == 404
    assert client.get("/api/v1/schedules/network/oncall").status_code == 401


def test_a_feed_opens_only_with_its_secret(
    client: FlaskClient, commands: Commands, network: Schedules
) -> None:
    from engine.service.oncall_feeds import Feeds

    token = Feeds(commands).create(schedule="network", actor="root")
    feed = client.get(f"/oncall/network.ics?token={token}")
    assert feed.status_code == 200
    assert feed.headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert feed.text.startswith("BEGIN:VCALENDAR\r\n")
    assert client.get("/oncall/network.ics?token=wrong").status_code == 404
    assert client.get("/oncall/network.ics").status_code == 404
    assert client.get(f"/oncall/users/erin.ics?token={token}").status_code == 404


def layer_form(index: int, **fields: str | list[str]) -> dict[str, str | list[str]]:
    """The fields of layer `index` of the schedule form, as a person fills them."""
    at = f"layers-{index}-"
    filled: dict[str, str | list[str]] = {
        "name": "Primary",
        "members": "erin\r\nlee",
        "rotation": "daily",
        "every": "",
        "handoff": "09:00",
        "start": "2026-11-23",
        "weekdays": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
        "from": "",
        "to": "",
    }
    return {at + name: value for name, value in {**filled, **fields}.items()}


def test_the_admin_page_lists_schedules_and_saves_one_from_the_form(
    client: FlaskClient, network: Schedules
) -> None:
    assert sign_in(client, "root").status_code == 302
    board = client.get("/admin/oncall")
    assert board.status_code == 200
    assert 'data-now="network"' in board.text
    assert "Network" in board.text
    assert '<select id="time_zone"' in client.get("/admin/oncall/new").text
    form = {
        "key": "night",
        "name": "Night",
        "time_zone": "UTC",
        **layer_form(0),
        **layer_form(
            1,
            name="Weekend",
            members="lee",
            rotation="hours",
            every="12",
            weekdays=["sat", "sun"],
            **{"from": "18:00", "to": "09:00"},
        ),
    }
    saved = post(client, "/admin/oncall", form)
    assert saved.status_code == 303
    assert [row["key"] for row in network.summaries()] == ["network", "night"]
    assert network.get("night").layers == [
        {**LAYERS[0], "rotation": {"every": 1, "unit": "days"}},
        {
            "name": "Weekend",
            "members": ["lee"],
            "rotation": {"every": 12, "unit": "hours"},
            "handoff": "09:00",
            "start": "2026-11-23",
            "restrict": {"weekdays": ["sat", "sun"], "from": "18:00", "to": "09:00"},
        },
    ]
    page = client.get("/admin/oncall/night").text
    assert 'id="layers-1-every" name="layers-1-every" value="12"' in page
    assert "The layers as a JSON document (read only)" in page
    assert "<textarea" not in page.split("layers-0-members")[0]  # no JSON to type
    made = post(client, "/admin/oncall/network/feed")
    link = re.search(r"data-feed-link>([^<]+)<", made.text)
    assert link is not None
    assert (
        client.get(link[1].replace("http://localhost", "").replace("&amp;", "&")).status_code == 200
    )


def test_adding_removing_and_moving_layers_keeps_what_was_typed(
    client: FlaskClient, network: Schedules
) -> None:
    assert sign_in(client, "root").status_code == 302
    typed = {"key": "night", "name": "Night", "time_zone": "Europe/Amsterdam"}
    first = layer_form(0, name="Evenings", members="erin\r\nlee", handoff="18:30")
    added = post(client, "/admin/oncall", {**typed, **first, "action": "add"})
    assert added.status_code == 200
    assert 'id="layers-1-name"' in added.text
    assert 'value="Evenings"' in added.text
    assert ">erin\nlee</textarea>" in added.text
    assert 'value="18:30"' in added.text
    assert '<option value="Europe/Amsterdam" selected>' in added.text
    second = layer_form(1, name="Nights", members="bob")
    moved = post(client, "/admin/oncall", {**typed, **first, **second, "action": "up-1"})
    assert moved.text.index('value="Nights"') < moved.text.index('value="Evenings"')
    removed = post(client, "/admin/oncall", {**typed, **first, **second, "action": "remove-0"})
    assert 'value="Evenings"' not in removed.text
    assert 'id="layers-0-name" name="layers-0-name" value="Nights"' in removed.text
    assert 'id="layers-1-name"' not in removed.text
    assert [row["key"] for row in network.summaries()] == ["network"]  # nothing saved


def test_a_problem_shows_next_to_its_control_and_a_refused_save_changes_nothing(
    client: FlaskClient, network: Schedules
) -> None:
    assert sign_in(client, "root").status_code == 302
    form = {
        "name": "Network",
        "time_zone": "Europe/Amsterdam",
        **layer_form(0),
        **layer_form(1, name="Backup", members="erin\r\nghost", rotation="days", every="0"),
    }
    refused = post(client, "/admin/oncall/network", form)
    assert refused.status_code == 422
    members = re.search(
        r'id="layers-1-members-error">(.*?)</p>\s*<textarea id="layers-1-members"',
        refused.text,
        re.S,
    )
    assert members is not None
    assert "There is no active user &#39;ghost&#39;." in members[1]
    assert re.search(r'id="layers-1-every-error">.*?Every is a whole number', refused.text, re.S)
    assert 'href="#layers-1-members">Layer 2: There is no active user' in refused.text
    assert ">erin\nghost</textarea>" in refused.text  # what was typed is kept
    assert network.get("network").layers == [
        {**LAYERS[0], "rotation": {"every": 1, "unit": "days"}}
    ]
    bad_key = post(client, "/admin/oncall", {**form, "key": "Bad Key", **layer_form(1)})
    assert bad_key.status_code == 422
    assert 'id="key-error"' in bad_key.text
    assert [row["key"] for row in network.summaries()] == ["network"]


def test_the_admin_pages_are_for_admins_only(client: FlaskClient, network: Schedules) -> None:
    assert sign_in(client, "erin").status_code == 302
    assert client.get("/admin/oncall").status_code == 403
    form = {"name": "Mine", "time_zone": "UTC", **layer_form(0)}
    assert post(client, "/admin/oncall/network", form).status_code == 403
    assert network.get("network").name == "Network"


def test_an_override_from_the_admin_page_is_read_in_the_schedules_zone(
    client: FlaskClient, network: Schedules
) -> None:
    assert sign_in(client, "root").status_code == 302
    form = {"person": "bob", "starts": "2026-11-28T00:00", "ends": "2026-11-29T00:00"}
    assert post(client, "/admin/oncall/network/overrides", form).status_code == 303
    saturday = datetime.fromisoformat("2026-11-28T00:30:00+01:00")
    assert network.now("network", saturday).person == "bob"
    assert (
        network.now("network", datetime.fromisoformat("2026-11-27T23:30:00+01:00")).person != "bob"
    )
    backwards = {**form, "starts": "2026-11-29T00:00", "ends": "2026-11-28T00:00"}
    refused = post(client, "/admin/oncall/network/overrides", backwards)
    assert refused.status_code == 422
    assert "must end after it starts" in refused.text


def test_the_command_line_saves_a_schedule_and_says_who_is_on_call(
    database_url: str, commands: Commands, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOWDESK_DATABASE_URL", database_url)
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(main, list(args))
        assert result.exit_code == code, result.output
        return result.output

    saved = run(
        "schedule", "save", "network", "--zone", "Europe/Amsterdam", "--layers", json.dumps(LAYERS)
    )
    assert saved == "schedule network saved\n"
    assert run("oncall-now", "network", "--at", "2026-11-24T08:59").startswith(
        "erin (layer Primary)"
    )
    assert run("oncall-now", "network", "--at", "2026-11-24T09:00").startswith(
        "lee (layer Primary)"
    )
    run(
        "schedule",
        "override",
        "network",
        "bob",
        "--from",
        "2026-11-24T12:00",
        "--to",
        "2026-11-24T13:00",
    )
    assert run("oncall-now", "network", "--at", "2026-11-24T12:30").startswith("bob (override)")
    bad = run("schedule", "save", "x", "--zone", "Nowhere/Atlantis", "--layers", "[]", code=1)
    assert "/time_zone: 'Nowhere/Atlantis' is not a time zone" in bad
    assert run("oncall-now", "nope", code=4).startswith(
        "Error: there is no on-call schedule 'nope'"
    )
    assert "/oncall/network.ics?token=fdcal_" in run("schedule", "feed", "network")
    policy = {"levels": [{"notify": [{"schedule": "network"}], "after": "PT10M"}], "repeat": 1}
    assert run("policy", "save", "urgent", json.dumps(policy)) == "policy urgent saved\n"
    assert json.loads(run("policy", "show", "urgent"))["repeat"] == 1
    refused = run("policy", "save", "broken", '{"levels": [{"notify": [{"team": "x"}]}]}', code=1)
    assert "/levels/0/notify/0" in refused


def test_an_agent_sees_who_is_on_call_and_makes_a_link_to_their_own_shifts(
    client: FlaskClient, network: Schedules
) -> None:
    assert sign_in(client, "erin").status_code == 302
    board = client.get("/oncall/")
    assert board.status_code == 200
    assert 'data-now="network"' in board.text
    assert "The next two weeks" in board.text
    made = post(client, "/oncall/my-feed")
    link = re.search(r"data-feed-link>([^<]+)<", made.text)
    assert link is not None
    assert "/oncall/users/erin.ics?token=fdcal_" in link[1]
    feed = client.get(link[1].replace("http://localhost", "").replace("&amp;", "&"))
    assert feed.status_code == 200
    assert "(lee)" not in feed.text


def test_a_requester_has_no_on_call_page(
    client: FlaskClient, database: Database, network: Schedules
) -> None:
    with database.writer_session() as session, session.begin():
        ensure_user(session, "rita", datetime.now(UTC), roles=["requester"])
        give_password(session, "rita", PASSWORD)
    assert sign_in(client, "rita").status_code == 302
    assert client.get("/oncall/").status_code == 403


def level_form(index: int, *targets: tuple[str, str], after: str = "") -> dict[str, str]:
    """The fields of level `index` of the policy form, as a person fills them."""
    at = f"levels-{index}-"
    fields = {at + "after": after}
    for number, (kind, which) in enumerate(targets):
        fields |= {f"{at}targets-{number}-kind": kind, f"{at}targets-{number}-which": which}
    return fields


def test_an_admin_saves_an_escalation_policy_with_the_form(
    client: FlaskClient, commands: Commands, network: Schedules
) -> None:
    from engine.service.escalation_policies import EscalationPolicies

    assert sign_in(client, "root").status_code == 302
    assert client.get("/admin/escalation-policies").status_code == 200
    form = {
        "key": "urgent",
        "name": "Urgent",
        "repeat": "2",
        "acknowledge": "60",
        **level_form(0, ("schedule", "network"), after="10"),
        **level_form(1, ("user", "erin"), ("user", "root"), after="30"),
    }
    assert post(client, "/admin/escalation-policies", form).status_code == 303
    assert EscalationPolicies(commands).get("urgent").document == {
        "levels": [
            {"notify": [{"schedule": "network"}], "after": "PT10M"},
            {"notify": [{"user": "erin"}, {"user": "root"}], "after": "PT30M"},
        ],
        "repeat": 2,
        "acknowledge_within": "PT60M",
    }
    page = client.get("/admin/escalation-policies").text
    assert "notifies schedule network; then waits 10 minutes" in page
    assert "The policy as a JSON document (read only)" in page
    editing = client.get("/admin/escalation-policies?edit=urgent").text
    assert 'id="levels-1-targets-1-which" name="levels-1-targets-1-which" value="root"' in editing
    assert 'id="acknowledge" name="acknowledge" value="60"' in editing


def test_adding_levels_and_targets_keeps_what_was_typed(
    client: FlaskClient, commands: Commands, network: Schedules
) -> None:
    from engine.service.escalation_policies import EscalationPolicies

    assert sign_in(client, "root").status_code == 302
    typed = {"key": "urgent", "name": "Urgent", "repeat": "1", "acknowledge": ""}
    first = level_form(0, ("group", "network-l2"), after="15")
    added = post(client, "/admin/escalation-policies", {**typed, **first, "action": "add"})
    assert added.status_code == 200
    assert 'id="levels-1-after"' in added.text
    assert 'value="network-l2"' in added.text
    assert '<option value="group" selected>' in added.text
    second = level_form(1, ("user", "erin"), after="5")
    target = post(
        client, "/admin/escalation-policies", {**typed, **first, **second, "action": "target-1"}
    )
    assert 'id="levels-1-targets-1-which"' in target.text
    moved = post(
        client, "/admin/escalation-policies", {**typed, **first, **second, "action": "up-1"}
    )
    assert moved.text.index('value="erin"') < moved.text.index('value="network-l2"')
    removed = post(
        client, "/admin/escalation-policies", {**typed, **first, **second, "action": "remove-0"}
    )
    assert 'value="network-l2"' not in removed.text
    assert 'id="levels-1-after"' not in removed.text
    assert EscalationPolicies(commands).all() == []


def test_a_policy_problem_shows_next_to_its_control_and_changes_nothing(
    client: FlaskClient, commands: Commands, network: Schedules
) -> None:
    from engine.service.escalation_policies import EscalationPolicies

    assert sign_in(client, "root").status_code == 302
    good = {
        "key": "urgent",
        "name": "Urgent",
        "repeat": "0",
        "acknowledge": "",
        **level_form(0, ("schedule", "network"), after="10"),
    }
    assert post(client, "/admin/escalation-policies", good).status_code == 303
    unknown = {
        **good,
        **level_form(0, ("schedule", "network"), ("group", "ghosts"), after="10"),
        **level_form(1, ("user", "erin")),
    }
    refused = post(client, "/admin/escalation-policies", unknown)
    assert refused.status_code == 422
    assert re.search(
        r'id="levels-0-targets-1-which-error">.*?There is no group &#39;ghosts&#39;',
        refused.text,
        re.S,
    )
    assert 'href="#levels-0-targets-1-which">Level 1: There is no group' in refused.text
    late = post(client, "/admin/escalation-policies", {**unknown, "levels-0-after": "soon"})
    assert late.status_code == 422
    assert re.search(r'id="levels-0-after-error">.*?whole number, like 15', late.text, re.S)
    assert 'value="soon"' in late.text
    assert EscalationPolicies(commands).get("urgent").document["levels"] == [
        {"notify": [{"schedule": "network"}], "after": "PT10M"}
    ]
    sign_in(client, "erin")
    assert post(client, "/admin/escalation-policies", good).status_code == 403
