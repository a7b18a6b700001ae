"""Simulating a draft workflow before it is published: the real runtime on a fake clock.

A designer replays a draft with sample data: the path it takes and why, the tasks it
opens and whom they would go to (read from the real directory, in words), due times in
business hours, when each escalation and SLA timer would fire. An action that cannot be
carried out stops the replay at its index; nothing is ever written.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, inspect, select, table

from engine.service.commands import Commands
from engine.service.people import add_shift, ensure_group, ensure_user
from engine.service.simulation import Limits, Simulations
from engine.store.database import Database
from tests.integration.conftest import INCIDENT, PACK

#: Friday 27 November 2026, 16:00 in Amsterdam: an hour before the office closes.
FRIDAY_AFTERNOON = "2026-11-27T15:00:00+00:00"

PURCHASE: dict[str, Any] = {
    "kind": "workflow", "format": 1, "key": "hardware-purchase", "title": "Hardware purchase",
    "start": {"form": "incident-report", "number_prefix": "HW", "title": "{{ summary }}"},
    "priorities": ["P1", "P2"],
    "sla": {
        "calendar": "office", "targets_by": "priority", "warn_at": 0.75,
        "targets": {"P1": {"response": "PT15M", "resolution": "PT4H"},
                    "P2": {"response": "PT1H", "resolution": "PT8H"}},
    },
    "first": "prioritise",
    "steps": {
        "prioritise": {"type": "action", "set": {"priority": {"value": "P2"}}, "next": "route"},
        "route": {
            "type": "decision", "label": "Hardware?",
            "branches": [{"label": "Hardware", "next": "review",
                          "when": {"field": "category", "op": "eq", "value": "hardware"}}],
            "otherwise": "fix",
        },
        "review": {
            "type": "review", "label": "Review the purchase", "form": "review-vote",
            "reviewers": [
                {"role": "desk", "assign": {"group": "desktop-support", "strategy": "round_robin"}},
                {"role": "network", "assign": {"user": "erin"}},
                {"role": "on call", "assign": {"on_call": "ops"}},
            ],
            "quorum": 2,
            "on": {"approved": "fix", "rejected": "refused"},
        },
        "fix": {
            "type": "task", "label": "Order it", "form": "incident-resolution",
            "assign": {"group": "service-desk"},
            "due": "PT4H", "calendar": "office",
            "escalate": [
                {"after": "PT1H", "do": [{"remind": "assignee"}]},
                {"after": "PT2H", "do": [{"reassign": "next_tier"}]},
            ],
            "on": {"resolved": "sign_off"},
        },
        "sign_off": {"type": "approval", "label": "Manager signs off",
                     "assign": {"manager_of": "{{ instance.requester }}"},
                     "on": {"approved": "done", "rejected": "refused"}},
        "done": {"type": "end", "status": "closed", "outcome": "bought"},
        "refused": {"type": "end", "status": "closed", "outcome": "refused"},
    },
}  # fmt: skip


@pytest.fixture
def directory(database: Database, commands: Commands) -> None:
    """bob asks (sam is his manager); ivy is on call for ops; service-desk's next tier is L2."""
    at = commands.clock()
    with database.writer_session() as session, session.begin():
        ensure_user(session, "sam", at, manager=None)
        ensure_user(session, "bob", at, manager="sam")
        ensure_group(session, "service-desk", next_tier="service-desk-l2")
        ensure_group(session, "ops")
        add_shift(
            session,
            "ops",
            "ivy",
            datetime(2026, 11, 1, tzinfo=UTC),
            datetime(2026, 12, 31, tzinfo=UTC),
        )


@pytest.fixture
def simulations(commands: Commands, directory: None) -> Simulations:
    return Simulations(commands)


def run(simulations: Simulations, *actions: Any, **body: Any) -> dict[str, Any]:
    document = body.pop("document", PURCHASE)
    request = {
        "data": {**INCIDENT, "category": "hardware"},
        "start_at": FRIDAY_AFTERNOON,
        "requester": "bob",
        "actions": list(actions),
        **body,
    }
    return simulations.run(document["key"], document, request)


def task(answer: dict[str, Any], step: str, role: str = "") -> dict[str, Any]:
    found = [t for t in answer["tasks"] if t["step"] == step and role in t["title"]]
    assert len(found) == 1, answer["tasks"]
    return found[0]


def timers(answer: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    return [(t["kind"], t["at"], t["step"]) for t in answer["timers"]]


def said(answer: dict[str, Any]) -> str:
    return "\n".join(f"[{e['step']}] {e['text']}" for e in answer["timeline"])


def row_counts(database: Database) -> dict[str, int]:
    with database.reading() as session:
        names = inspect(session.get_bind()).get_table_names()
        return {
            name: session.scalar(select(func.count()).select_from(table(name))) or 0
            for name in names
        }


# The path, the tasks and whom they go to ----------------------------------------------------


def test_a_decision_leads_to_a_review_whose_tasks_are_said_against_real_people(
    simulations: Simulations,
) -> None:
    answer = run(simulations)

    assert answer["ok"] is True
    assert "error" not in answer
    assert answer["path"] == ["prioritise", "route", "review"]
    assert "[route] -> review: 'Hardware' matched: category is 'hardware'" in said(answer)
    assert answer["status"] == "open"
    assert answer["data"]["priority"] == "P2"
    # bob asked, so the round robin passes him over; erin by name; ivy on call.
    desk = task(answer, "review", "(desk)")
    assert desk["goes_to"] == (
        "round robin in desktop-support: next would be dan; "
        "bob is passed over (separation of duties)"
    )
    assert desk["outcomes"] == ["approved", "rejected"]
    assert task(answer, "review", "(network)")["goes_to"] == "erin"
    assert task(answer, "review", "(on call)")["goes_to"] == (
        "whoever is on call on schedule ops at that time: ivy"
    )


def test_a_review_of_three_decides_once_two_approve_and_the_work_opens_in_office_hours(
    simulations: Simulations,
) -> None:
    first = run(simulations)
    desk, network = task(first, "review", "(desk)"), task(first, "review", "(network)")

    answer = run(
        simulations,
        {"complete": desk["id"], "outcome": "approved", "data": {}},
        {"complete": network["id"], "outcome": "approved", "data": {"comment": "Fine"}},
    )

    assert "error" not in answer
    assert answer["path"] == ["prioritise", "route", "review", "fix"]
    assert "approved: 2 of 3 approved, 0 rejected, 2 needed" in said(answer)
    (fix,) = answer["tasks"]
    assert fix["goes_to"] == "the queue of group service-desk (bob)"
    # Friday 16:00 in Amsterdam: one office hour left, then Monday from 08:30 (UTC+1).
    assert fix["due_at"] == "2026-11-30T10:30:00+00:00"
    assert timers(answer)[:3] == [
        ("escalation", "2026-11-27T16:00:00+00:00", "fix"),  # Friday 17:00, closing time
        ("escalation", "2026-11-30T08:30:00+00:00", "fix"),  # Monday 09:30
        ("due", "2026-11-30T10:30:00+00:00", "fix"),
    ]
    texts = [t["text"] for t in answer["timers"]]
    assert "escalation 2 of 'Order it': reassign to the next tier" in texts


def test_an_escalation_reassigns_to_the_next_tier_and_the_manager_signs_off(
    simulations: Simulations,
) -> None:
    first = run(simulations)
    votes = [
        {"complete": task(first, "review", role)["id"], "outcome": "approved"}
        for role in ("(desk)", "(on call)")
    ]
    answer = run(simulations, *votes, {"fire": "next"}, {"fire": "next"})

    fix = task(answer, "fix")
    assert fix["goes_to"] == "the queue of group service-desk-l2, the next tier after service-desk"
    assert answer["now"] == "2026-11-30T08:30:00+00:00"
    assert "no answer after 2h of office hours (escalation 2)" in said(answer)

    done = run(
        simulations,
        *votes,
        {"complete": fix["id"], "outcome": "resolved", "data": {"resolution": "Ordered"}},
    )
    assert task(done, "sign_off")["goes_to"] == "the manager of bob: sam"
    final = run(
        simulations,
        *votes,
        {"complete": fix["id"], "outcome": "resolved", "data": {"resolution": "Ordered"}},
        {"complete": task(done, "sign_off")["id"], "outcome": "approved"},
    )
    assert final["status"] == "closed"
    assert final["outcome"] == "bought"
    assert final["path"][-2:] == ["sign_off", "done"]
    assert final["tasks"] == []
    assert final["timers"] == []


# The SLA -------------------------------------------------------------------------------------


def test_the_sla_warns_then_breaches_at_the_times_the_office_calendar_gives(
    simulations: Simulations,
) -> None:
    before = run(simulations)
    sla = [(kind, at) for kind, at, _step in timers(before) if kind.startswith("sla")]
    # Response: an office hour from Friday 16:00; warned at 75 %, 45 minutes in.
    assert ("sla_warning", "2026-11-27T15:45:00+00:00") in sla
    # Resolution: 8 office hours, one on Friday, seven on Monday from 08:30: 15:30 (UTC+1);
    # warned after 6 hours, at 13:30.
    assert ("sla_warning", "2026-11-30T12:30:00+00:00") in sla

    warned = run(simulations, {"fire": "next"})
    assert warned["now"] == "2026-11-27T15:45:00+00:00"
    assert ("sla_breach", "2026-11-27T16:00:00+00:00", None) in timers(warned)
    assert "the response SLA is breached" in [t["text"] for t in warned["timers"]]

    breached = run(simulations, {"fire": "next"}, {"advance": "PT30M"})
    assert breached["now"] == "2026-11-27T16:15:00+00:00"
    kinds = [e["kind"] for e in breached["timeline"]]
    assert kinds.count("sla_warning") == 1
    assert kinds.count("sla_breached") == 1
    assert "response target missed" in said(breached)


# Refusals ------------------------------------------------------------------------------------


def test_an_action_that_cannot_be_done_stops_the_replay_at_its_index(
    simulations: Simulations,
) -> None:
    first = run(simulations)
    desk = task(first, "review", "(desk)")

    unknown = run(simulations, {"advance": "PT5M"}, {"complete": "t999", "outcome": "approved"})
    assert unknown["error"]["action"] == 1
    assert "there is no open task 't999'" in unknown["error"]["message"]
    assert unknown["now"] == "2026-11-27T15:05:00+00:00"  # the action before it stands

    wrong = run(simulations, {"complete": desk["id"], "outcome": "maybe"})
    assert wrong["error"] == {
        "action": 0,
        "message": "'maybe' is not an outcome of step 'review'; choose one of: approved, rejected",
    }
    assert len(wrong["tasks"]) == 3

    votes = [
        {"complete": task(first, "review", role)["id"], "outcome": "approved"}
        for role in ("(desk)", "(on call)")
    ]
    opened = run(simulations, *votes)
    unfilled = run(
        simulations, *votes, {"complete": task(opened, "fix")["id"], "outcome": "resolved"}
    )
    assert unfilled["error"]["action"] == 2
    assert "resolution" in unfilled["error"]["message"]
    assert unfilled["path"][-1] == "fix"


def test_the_requester_cannot_review_their_own_request(simulations: Simulations) -> None:
    first = run(simulations)
    desk = task(first, "review", "(desk)")

    answer = run(simulations, {"complete": desk["id"], "outcome": "approved", "by": "bob"})

    assert answer["error"]["action"] == 0
    assert "bob requested it, so separation of duties" in answer["error"]["message"]


def test_one_person_votes_once_in_a_review_as_the_service_says(simulations: Simulations) -> None:
    """The simulation took a second vote from someone who had voted (an escalation had given
    them every vote): a quorum of 2 "passed" on one person's votes, which the service
    refuses, so the real request waited for ever."""
    first = run(simulations)
    desk, network = task(first, "review", "(desk)"), task(first, "review", "(network)")

    answer = run(
        simulations,
        {"complete": desk["id"], "outcome": "approved", "by": "erin"},
        {"complete": network["id"], "outcome": "approved", "by": "erin"},
    )

    assert answer["error"]["action"] == 1
    assert (
        "erin already has a vote in this review; one person votes once"
        in (answer["error"]["message"])
    )


def test_a_group_named_by_the_data_that_does_not_exist_is_said_plainly(
    simulations: Simulations,
) -> None:
    document = copy.deepcopy(PURCHASE)
    document["steps"]["fix"]["assign"] = {"group": "{{ name }}"}
    data = {**INCIDENT, "category": "network", "impact": "high", "name": "nobody"}

    answer = run(simulations, document=document, data=data)

    assert answer["path"] == ["prioritise", "route", "fix"]

    assert task(answer, "fix")["goes_to"] == "group 'nobody' does not exist"


def test_a_draft_with_problems_is_answered_with_them_and_not_simulated(
    simulations: Simulations,
) -> None:
    document = copy.deepcopy(PURCHASE)
    document["steps"]["route"]["otherwise"] = "nowhere"

    answer = run(simulations, document=document)

    assert answer["ok"] is False
    assert any(p["pointer"] == "/steps/route/otherwise" for p in answer["problems"])
    assert "path" not in answer


def test_too_many_actions_or_steps_are_refused_saying_the_limit(
    commands: Commands, directory: None
) -> None:
    few = Simulations(commands, Limits(max_actions=2, max_steps=3))
    with pytest.raises(Exception, match="at most 2 actions are simulated; 3 were sent"):
        run(few, {"advance": "PT1M"}, {"advance": "PT1M"}, {"advance": "PT1M"})
    first = run(few)
    votes = [
        {"complete": task(first, "review", role)["id"], "outcome": "rejected", "comment": "No"}
        for role in ("(desk)", "(network)")
    ]
    stopped = run(few, *votes)
    assert stopped["error"]["action"] == 1
    assert stopped["error"]["message"].startswith("the simulation stopped after 3 steps")
    assert stopped["path"][-1] == "refused"


# Nothing is written --------------------------------------------------------------------------


def test_simulating_writes_nothing(simulations: Simulations, database: Database) -> None:
    before = row_counts(database)
    incident = json.loads((PACK / "it-incident.json").read_text())
    answer = simulations.run(
        "it-incident",
        incident,
        {"data": {"category": "network", "impact": "high"}, "actions": [{"fire": "next"}] * 20},
    )
    assert "error" not in answer or answer["error"]["action"] > 0
    assert row_counts(database) == before


def test_a_subflow_waits_until_the_designer_says_how_its_child_ends(
    simulations: Simulations,
) -> None:
    fields = ["name", "email", "summary", "description", "category", "impact", "urgency"]
    document = {
        "kind": "workflow", "format": 1, "key": "escalated", "title": "Escalated",
        "start": {"form": "incident-report"},
        "first": "incident",
        "steps": {
            "incident": {"type": "subflow", "workflow": "it-incident",
                         "data": {name: name for name in fields},
                         "on": {"resolved": "done"}, "next": "follow_up"},
            "follow_up": {"type": "task", "assign": {"group": "service-desk"}, "next": "done"},
            "done": {"type": "end"},
        },
    }  # fmt: skip

    waiting = run(simulations, document=document)
    (child,) = waiting["tasks"]
    assert child["outcomes"] == ["resolved", "completed"]
    assert "it-incident, which a simulation does not run" in child["goes_to"]

    answer = run(simulations, {"complete": child["id"], "outcome": "completed"}, document=document)
    assert answer["path"] == ["incident", "follow_up"]
    assert task(answer, "follow_up")["goes_to"] == "the queue of group service-desk (bob)"
