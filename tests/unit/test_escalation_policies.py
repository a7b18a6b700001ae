"""Escalation policies as plain data: who each level pages and when, and what is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from engine.core.escalation_policies import (
    Target,
    notify_targets,
    page_at,
    pages,
    policy_from_document,
    policy_problems,
    unacknowledged_at,
)

START = datetime(2026, 12, 6, 22, 0, tzinfo=UTC)
POLICY = {
    "levels": [
        {"notify": [{"schedule": "network"}], "after": "PT15M"},
        {"notify": [{"group": "network-l2"}, {"user": "ivy"}], "after": "PT30M"},
    ],
    "repeat": 1,
    "acknowledge_within": "PT1H",
}


def test_levels_page_in_order_and_the_policy_repeats_then_stops() -> None:
    policy = policy_from_document("p", POLICY)
    assert [(p.at - START, p.level, p.round) for p in pages(policy, START)] == [
        (timedelta(0), 0, 0),
        (timedelta(minutes=15), 1, 0),
        (timedelta(minutes=45), 0, 1),
        (timedelta(minutes=60), 1, 1),
    ]
    assert notify_targets(policy, 1) == (Target("group", "network-l2"), Target("user", "ivy"))
    assert page_at(policy, START, START - timedelta(seconds=1)) is None
    latest = page_at(policy, START, START + timedelta(minutes=50))
    assert latest is not None
    assert (latest.level, latest.round) == (0, 1)
    assert unacknowledged_at(policy, START) == START + timedelta(hours=1)


def test_a_last_level_without_a_wait_ends_a_policy_that_does_not_repeat() -> None:
    doc = {"levels": [{"notify": [{"user": "ivy"}], "after": "PT5M"}, {"notify": [{"user": "bo"}]}]}
    assert policy_problems(doc) == []
    policy = policy_from_document("p", doc)
    assert [p.level for p in pages(policy, START)] == [0, 1]
    assert unacknowledged_at(policy, START) is None


def test_a_bad_policy_is_refused_saying_where() -> None:
    doc = {
        "levels": [
            {"notify": [{"team": "x"}], "after": "PT15S"},
            {"notify": [], "after": "P1M"},
            {"notify": [{"user": "ivy"}]},
        ],
        "repeat": 10,
        "colour": "red",
    }
    assert {p.pointer for p in policy_problems(doc)} == {
        "",
        "/repeat",
        "/levels/0/notify/0",
        "/levels/0/after",
        "/levels/1/notify",
        "/levels/1/after",
    }
    assert [p.pointer for p in policy_problems({"levels": []})] == ["/levels"]
    needs_wait = {**POLICY, "levels": [{"notify": [{"user": "ivy"}]}]}
    assert [p.pointer for p in policy_problems(needs_wait)] == ["/levels/0/after"]


@given(
    st.lists(st.integers(1, 600), min_size=1, max_size=5),
    st.integers(0, 3),
)
def test_pages_come_in_time_order_every_level_once_per_round(waits: list[int], repeat: int) -> None:
    doc = {
        "levels": [
            {"notify": [{"user": f"u{i}"}], "after": f"PT{m}M"} for i, m in enumerate(waits)
        ],
        "repeat": repeat,
    }
    assert policy_problems(doc) == []
    found = pages(policy_from_document("p", doc), START)
    assert len(found) == len(waits) * (repeat + 1)
    assert [p.at for p in found] == sorted(p.at for p in found)
    assert [p.level for p in found] == list(range(len(waits))) * (repeat + 1)
    assert found[-1].at - START == timedelta(minutes=sum(waits) * (repeat + 1) - waits[-1])
