"""On-call schedules, overrides, swaps, feeds and escalation policies through the service."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from engine.service.commands import Commands
from engine.service.definitions import load_folder
from engine.service.errors import InvalidInput, NotAllowed, NotFound
from engine.service.escalation_policies import EscalationPolicies
from engine.service.oncall import Schedules
from engine.service.oncall_feeds import Feeds
from engine.service.people import add_shift, ensure_user
from engine.store.database import Database
from tests.infrastructure import Clock

# The clock starts on Monday 23 November 2026, 08:00 UTC (09:00 in Amsterdam).
PRIMARY = {
    "name": "Primary",
    "members": ["erin", "lee", "bob"],
    "rotation": "daily",
    "handoff": "09:00",
    "start": "2026-11-23",
}
WEEKEND = {
    "name": "Weekend",
    "members": ["dan"],
    "rotation": "weekly",
    "handoff": "00:00",
    "start": "2026-11-02",
    "restrict": {"weekdays": ["sat", "sun"]},
}


@pytest.fixture
def admin(database: Database, clock: Clock) -> str:
    with database.writer_session() as session, session.begin():
        ensure_user(session, "root", clock(), roles=["admin"])
    return "root"


@pytest.fixture
def schedules(commands: Commands, admin: str) -> Schedules:
    found = Schedules(commands)
    found.save(
        "network",
        name="Network",
        time_zone="Europe/Amsterdam",
        layers=[PRIMARY, WEEKEND],
        actor=admin,
    )
    return found


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_the_rotation_hands_off_daily_and_the_weekend_layer_covers_the_weekend(
    schedules: Schedules,
) -> None:
    assert schedules.now("network").person == "erin"
    assert schedules.now("network", at("2026-11-24T08:59:00+01:00")).person == "erin"
    assert schedules.now("network", at("2026-11-24T09:00:00+01:00")).person == "lee"
    assert schedules.now("network", at("2026-11-25T12:00:00+01:00")).person == "bob"
    saturday = schedules.now("network", at("2026-11-28T12:00:00+01:00"))
    assert (saturday.person, saturday.layer) == ("dan", "Weekend")
    # Monday again: the weekend layer is over, Sunday's turn of the rotation runs on.
    assert schedules.now("network", at("2026-11-30T00:00:00+01:00")).person == "erin"


def test_now_says_until_when(schedules: Schedules) -> None:
    now = schedules.now("network")
    assert now.until == at("2026-11-24T09:00:00+01:00")
    assert now.to_json()["layer"] == "Primary"


def test_only_an_admin_changes_a_schedule(schedules: Schedules) -> None:
    with pytest.raises(NotAllowed, match="only an admin"):
        schedules.save("network", time_zone="UTC", layers=[], actor="erin")
    with pytest.raises(NotAllowed):
        schedules.delete("network", actor="erin")
    assert schedules.get("network").time_zone == "Europe/Amsterdam"


def test_a_bad_schedule_is_refused_saying_where_and_changes_nothing(
    schedules: Schedules, admin: str
) -> None:
    broken = {**PRIMARY, "handoff": "9am", "members": ["erin", "nobody"]}
    with pytest.raises(InvalidInput) as refused:
        schedules.save("network", time_zone="Mars/Olympus", layers=[broken], actor=admin)
    pointers = {problem.pointer for problem in refused.value.problems}
    assert pointers == {"/time_zone", "/layers/0/handoff", "/layers/0/members/1"}
    assert "there is no active user 'nobody'" in refused.value.message
    assert schedules.get("network").layers[0]["handoff"] == "09:00"
    with pytest.raises(InvalidInput, match="rotation"):
        schedules.save(
            "other",
            time_zone="UTC",
            layers=[{**PRIMARY, "rotation": {"every": 0, "unit": "days"}}],
            actor=admin,
        )
    assert [row["key"] for row in schedules.summaries()] == ["network"]


def test_an_override_wins_and_a_member_may_take_a_shift_for_themselves(
    schedules: Schedules, admin: str
) -> None:
    saturday = (at("2026-11-28T00:00:00+01:00"), at("2026-11-29T00:00:00+01:00"))
    schedules.add_override("network", "lee", *saturday, reason="I take Saturday", actor="lee")
    assert schedules.now("network", at("2026-11-28T12:00:00+01:00")).person == "lee"
    assert schedules.now("network", at("2026-11-28T12:00:00+01:00")).override
    assert schedules.now("network", at("2026-11-29T12:00:00+01:00")).person == "dan"
    with pytest.raises(NotAllowed):
        schedules.add_override("network", "erin", *saturday, actor="lee")
    with pytest.raises(NotAllowed, match="member"):
        schedules.add_override("network", "sam", *saturday, actor="sam")
    made = schedules.add_override("network", "sam", *saturday, actor=admin)
    assert schedules.now("network", at("2026-11-28T12:00:00+01:00")).person == "sam"
    schedules.remove_override("network", made, actor=admin)
    assert schedules.now("network", at("2026-11-28T12:00:00+01:00")).person == "lee"
    with pytest.raises(InvalidInput, match="end after"):
        schedules.add_override("network", "lee", saturday[1], saturday[0], actor="lee")


def test_a_swap_trades_two_shifts_as_two_overrides(schedules: Schedules) -> None:
    erins = (at("2026-11-23T09:00:00+01:00"), at("2026-11-24T09:00:00+01:00"))
    lees = (at("2026-11-24T09:00:00+01:00"), at("2026-11-25T09:00:00+01:00"))
    schedules.swap("network", erins, lees, actor="lee")
    assert schedules.now("network", at("2026-11-23T12:00:00+01:00")).person == "lee"
    assert schedules.now("network", at("2026-11-24T12:00:00+01:00")).person == "erin"
    assert len(schedules.get("network").overrides) == 2
    with pytest.raises(InvalidInput, match="not one person's shift"):
        schedules.swap(
            "network", (erins[0], lees[1]), (lees[1], lees[1] + timedelta(days=1)), actor=None
        )
    later = (at("2026-11-25T09:00:00+01:00"), at("2026-11-26T09:00:00+01:00"))
    with pytest.raises(NotAllowed):
        schedules.swap("network", lees, later, actor="dan")


def test_an_on_call_task_goes_through_the_schedule_of_that_key(
    commands: Commands, schedules: Schedules, database: Database, clock: Clock, tmp_path: Path
) -> None:
    flow = {
        "kind": "workflow",
        "format": 1,
        "key": "page",
        "title": "Page the on-call engineer",
        "first": "respond",
        "steps": {
            "respond": {"type": "task", "assign": {"on_call": "network"}, "next": "done"},
            "done": {"type": "end"},
        },
    }
    (tmp_path / "page.json").write_text(json.dumps(flow))
    with database.writer_session() as session, session.begin():
        load_folder(session, tmp_path, clock(), None)
        # A shift for the same key is not read: the schedule answers.
        add_shift(session, "network", "sam", clock(), clock() + timedelta(days=9))
    first = commands.start("page", {})["opened_tasks"][0]
    assert (first["assignee"], first["group"]) == ("erin", "network")
    clock.advance(days=1)
    assert commands.start("page", {})["opened_tasks"][0]["assignee"] == "lee"


def test_someone_on_call_who_cannot_sign_in_is_passed_over(
    commands: Commands, schedules: Schedules, database: Database, clock: Clock, admin: str
) -> None:
    from engine.service.oncall import on_call_now

    schedules.add_override("network", "sam", clock(), clock() + timedelta(hours=2), actor=admin)
    with database.writer_session() as session, session.begin():
        ensure_user(session, "sam", clock())
        from engine.store.people import User

        session.query(User).filter_by(username="sam").update({"active": False})
    with database.writer_session() as session:
        from engine.store.repository import Repository

        repo = Repository(session.connection(), row_locks=False)
        assert on_call_now(repo, "network", clock()) == "erin"


def test_an_unknown_key_falls_back_to_the_on_call_shifts(
    commands: Commands, schedules: Schedules, database: Database, clock: Clock
) -> None:
    from engine.service.oncall import on_call_now
    from engine.store.repository import Repository

    with database.writer_session() as session, session.begin():
        add_shift(session, "legacy", "sam", clock(), clock() + timedelta(hours=1))
    with database.writer_session() as session:
        repo = Repository(session.connection(), row_locks=False)
        assert on_call_now(repo, "legacy", clock()) == "sam"
        assert on_call_now(repo, "nothing", clock()) is None


def test_feeds_open_only_with_their_secret_and_show_the_shifts(
    commands: Commands, schedules: Schedules, admin: str
) -> None:
    feeds = Feeds(commands)
    with pytest.raises(NotAllowed):
        feeds.create(schedule="network", actor="erin")
    token = feeds.create(schedule="network", actor=admin)
    text = feeds.calendar(token, schedule="network")
    assert text.startswith("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n")
    assert text.endswith("END:VCALENDAR\r\n")
    assert "DTSTART:20261123T080000Z\r\nDTEND:20261124T080000Z" in text
    assert "SUMMARY:On call: Network (erin)" in text
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n"))
    with pytest.raises(NotFound):
        feeds.calendar(token + "x", schedule="network")
    with pytest.raises(NotFound):
        feeds.calendar(token, person="erin")
    mine = feeds.create(person="erin", actor="erin")
    own = feeds.calendar(mine, person="erin")
    assert "(erin)" in own
    assert "(lee)" not in own
    with pytest.raises(NotAllowed):
        feeds.create(person="lee", actor="erin")
    feeds.revoke(mine, actor="erin")
    with pytest.raises(NotFound):
        feeds.calendar(mine, person="erin")


POLICY: dict[str, Any] = {
    "levels": [
        {"notify": [{"schedule": "network"}], "after": "PT15M"},
        {"notify": [{"group": "service-desk-l2"}, {"user": "ivy"}], "after": "PT30M"},
    ],
    "repeat": 1,
    "acknowledge_within": "PT1H",
}


def test_an_escalation_policy_pages_level_after_level(
    commands: Commands, schedules: Schedules, admin: str, clock: Clock
) -> None:
    policies = EscalationPolicies(commands)
    saved = policies.save("network-urgent", POLICY, name="Network, urgent", actor=admin)
    assert saved.to_json()["repeat"] == 1
    assert policies.notified("network-urgent", 0) == ["erin"]
    assert policies.notified("network-urgent", 1) == ["lee", "ivy"]
    assert policies.notified("network-urgent", 0, clock() + timedelta(days=1)) == ["lee"]
    assert [p.key for p in policies.all()] == ["network-urgent"]
    from engine.service.escalation_policies import paged
    from engine.store.repository import Repository

    with commands.database.writer_session() as session:
        repo = Repository(session.connection(), row_locks=False)
        assert paged(repo, "network-urgent", 0, clock()) == ["erin"]
        assert paged(repo, "network-urgent", 5, clock()) == []
        assert paged(repo, "nope", 0, clock()) is None
    from engine.core.escalation_policies import pages

    times = [(p.at - clock(), p.level, p.round) for p in pages(saved.policy, clock())]
    assert times == [
        (timedelta(0), 0, 0),
        (timedelta(minutes=15), 1, 0),
        (timedelta(minutes=45), 0, 1),
        (timedelta(minutes=60), 1, 1),
    ]


def test_a_policy_naming_what_does_not_exist_is_refused(
    commands: Commands, schedules: Schedules, admin: str
) -> None:
    policies = EscalationPolicies(commands)
    bad = {"levels": [{"notify": [{"schedule": "nope"}, {"group": "ghosts"}, {"user": "zed"}]}]}
    with pytest.raises(InvalidInput) as refused:
        policies.save("p", bad, actor=admin)
    assert [p.pointer for p in refused.value.problems] == [
        "/levels/0/notify/0",
        "/levels/0/notify/1",
        "/levels/0/notify/2",
    ]
    with pytest.raises(InvalidInput, match="after"):
        policies.save("p", {**POLICY, "levels": [{"notify": [{"user": "ivy"}]}]}, actor=admin)
    with pytest.raises(NotAllowed):
        policies.save("p", POLICY, actor="erin")
    assert policies.all() == []


def test_now_refuses_a_moment_without_a_time_zone(schedules: Schedules) -> None:
    with pytest.raises(InvalidInput, match="time zone"):
        schedules.now("network", datetime(2026, 11, 23, 9))
    with pytest.raises(NotFound):
        schedules.now("nope")
    assert schedules.now("network", datetime(2026, 11, 23, 9, tzinfo=UTC)).person == "erin"
    with pytest.raises(InvalidInput, match="from 1970 to 2200"):
        schedules.now("network", datetime(9999, 12, 31, tzinfo=UTC))


def test_a_layer_starting_in_a_year_out_of_reach_is_refused(
    schedules: Schedules, admin: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        schedules.save(
            "far", time_zone="UTC", layers=[{**PRIMARY, "start": "0001-01-01"}], actor=admin
        )
    assert [p.pointer for p in refused.value.problems] == ["/layers/0/start"]
