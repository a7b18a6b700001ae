"""Instance state: saved and reloaded unchanged, format versions checked, clones independent."""

from __future__ import annotations

import json
from typing import Any

import pytest

from engine.core.errors import StateFormatError
from engine.core.state import (
    FORMAT,
    InstanceState,
    PendingTask,
    ResumePoint,
    Run,
    StoppedBreach,
    Timer,
    clone,
)


def busy_state() -> InstanceState:
    """A state mid-run: a parallel step with two branches, open tasks, timers, nested data,
    an escalation and an SLA breach stopped part way on incidents."""
    return InstanceState(
        workflow="major-incident",
        started_at="2027-03-26T15:00:00+00:00",
        data={
            "summary": "Mail is down",
            "impact": "high",
            "cost": 12.5,
            "vip": False,
            "affected": [{"site": "Delft", "users": 120}, {"site": "Leiden", "users": 40}],
            "caller": {"email": "ann@example.com", "phones": ["+31 15 000 0000"]},
            "notes": None,
        },
        status="in_progress",
        title="MAJOR: Mail is down",
        requester="ann",
        number="MAJ-000007",
        runs={
            1: Run(1, "respond", "2027-03-26T15:00:00+00:00", needed=2, done=["comms"]),
            2: Run(
                2,
                "restore",
                "2027-03-26T15:01:00+00:00",
                parent=1,
                branch="fix",
                tasks=["t-3"],
                incident="an escalation of step 'restore' failed: division by zero",
                resume=[ResumePoint(1, 2, 1, "2027-03-26T17:01:00+00:00")],
            ),
            4: Run(
                4,
                "review_plan",
                "2027-03-26T15:02:00+00:00",
                tasks=["t-5", "t-6"],
                votes={"t-5": "approved"},
                needed=2,
            ),
        },
        tasks={
            "t-3": PendingTask(2, {"group": "l2", "strategy": "round_robin"}),
            "t-5": PendingTask(4, {"user": "bob"}, role="reviewer"),
            "t-6": PendingTask(4, {"user": "cy"}, role="reviewer"),
        },
        timers={"7": Timer(2, "2027-03-26T15:31:00+00:00", rung=0, count=2), "8": Timer(4, "x")},
        seq=8,
        stopped_breaches={
            "resolution": StoppedBreach(
                2, "resolution target missed", "an action on the resolution breach failed: x"
            )
        },
    )


def saved(**changes: Any) -> dict[str, Any]:
    return busy_state().to_dict() | changes


def test_saved_state_carries_the_format_version() -> None:
    assert busy_state().to_dict()["format"] == FORMAT


def test_round_trip_changes_nothing() -> None:
    state = busy_state()
    assert InstanceState.from_dict(state.to_dict()) == state


def test_round_trip_through_json_changes_nothing() -> None:
    state = busy_state()
    text = json.dumps(state.to_dict())
    reloaded = InstanceState.from_dict(json.loads(text))
    assert reloaded == state
    assert json.dumps(reloaded.to_dict()) == text


def test_round_trip_of_an_ended_instance_keeps_its_outcome() -> None:
    state = InstanceState("it-incident", "2027-01-04T08:00:00+00:00", {"summary": "x"})
    state.status, state.ended_at, state.outcome = "closed", "2027-01-05T09:00:00+00:00", "closed"
    reloaded = InstanceState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert reloaded == state
    assert reloaded.ended


@pytest.mark.parametrize("version", [0, FORMAT + 1, 99, -1, "1", 1.5, None, True, [1]])
def test_unknown_or_future_format_is_refused(version: Any) -> None:
    with pytest.raises(StateFormatError, match="unknown instance state format"):
        InstanceState.from_dict(saved(format=version))


def test_state_without_a_format_is_refused() -> None:
    raw = saved()
    del raw["format"]
    with pytest.raises(StateFormatError, match="unknown instance state format None"):
        InstanceState.from_dict(raw)


@pytest.mark.parametrize("raw", [[], "state", None, 42])
def test_something_that_is_not_a_saved_state_is_refused(raw: Any) -> None:
    with pytest.raises(StateFormatError):
        InstanceState.from_dict(raw)


@pytest.mark.parametrize("key", ["workflow", "started_at", "data", "status", "seq"])
def test_state_missing_a_required_part_is_refused(key: str) -> None:
    raw = saved()
    del raw[key]
    with pytest.raises(StateFormatError, match=f"malformed: KeyError\\('{key}'\\)"):
        InstanceState.from_dict(raw)


@pytest.mark.parametrize(
    "changes",
    [
        {"runs": [{"id": 1, "step": "a"}]},
        {"runs": [{"id": 1, "step": "a", "since": "x", "votes": ["abc"]}]},
        {"runs": "many"},
        {"tasks": {"t-1": {"assign": {}}}},
        {"timers": {"1": "soon"}},
        {"runs": [{"id": 1, "step": "a", "since": "x", "resume": [{"rung": 0, "count": 1}]}]},
        {"stopped_breaches": {"resolution": {"action": 1}}},
    ],
)
def test_malformed_part_is_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(StateFormatError, match="malformed"):
        InstanceState.from_dict(saved(**changes))


def test_clone_is_equal_but_independent() -> None:
    original = busy_state()
    before = original.to_dict()
    copy = clone(original)
    assert copy == original

    copy.data["summary"] = "changed"
    copy.data["affected"][0]["users"] = 0
    copy.data["caller"]["phones"].append("+31 71 000 0000")
    copy.runs[4].votes["t-6"] = "rejected"
    copy.runs[2].tasks.clear()
    copy.tasks["t-3"].assign["group"] = "l3"
    copy.timers["7"].count += 1
    copy.runs[2].resume.clear()
    del copy.stopped_breaches["resolution"]
    del copy.tasks["t-5"]
    copy.next_id()

    assert original.to_dict() == before
    assert original == busy_state()


def test_mutating_the_original_does_not_touch_the_clone() -> None:
    original = busy_state()
    copy = clone(original)
    original.data["affected"].append({"site": "Gouda"})
    assert len(copy.data["affected"]) == 2


def test_next_id_gives_fresh_numbers_that_survive_a_reload() -> None:
    state = busy_state()
    assert state.next_id() == 9
    assert InstanceState.from_dict(state.to_dict()).next_id() == 10


@pytest.mark.parametrize("older", [1, 2])
def test_a_state_saved_in_an_older_format_reads_the_same_with_nothing_to_resume(
    older: int,
) -> None:
    raw = busy_state().to_dict()
    for run in raw["runs"]:
        run.pop("resume", None)
        if older == 1:
            run.pop("incident", None)
    del raw["stopped_breaches"]

    upgraded = InstanceState.from_dict({**raw, "format": older})

    assert upgraded.to_dict() == {**raw, "format": FORMAT}
    assert all(run.resume == [] for run in upgraded.runs.values())
    assert upgraded.stopped_breaches == {}
