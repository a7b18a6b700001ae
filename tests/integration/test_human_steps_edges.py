"""Human steps at their edges, through the commands on a real database.

Reviewers named in the instance's data (one name, a name twice, nothing usable), and
the reason of a rejected vote on the timeline.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from engine.catalog import Document
from engine.service.commands import Commands
from engine.service.definitions import publish_all, publish_document
from engine.service.errors import InvalidInput, NotAllowed
from engine.service.people import ensure_user
from engine.service.queries import instance_view
from engine.service.submissions import InvalidData
from engine.store.database import Database
from engine.store.instances import Instance, Task
from tests.integration.conftest import Clock

#: A change reviewed by the people its starter names in `approvers`; the pack's
#: `approval-decision` form keeps the reason in `approval_comment`.
CHANGE_VOTE = {
    "kind": "workflow",
    "format": 1,
    "key": "change-vote",
    "title": "Change vote",
    "start": {"number_prefix": "CHV"},
    "first": "vote",
    "steps": {
        "vote": {
            "type": "review",
            "title": "Vote on the change",
            "reviewers": {"from": "approvers"},
            "form": "approval-decision",
            "quorum": "all",
            "on": {"approved": "done", "rejected": "declined"},
        },
        "done": {"type": "end"},
        "declined": {"type": "end", "status": "declined"},
    },
}


@pytest.fixture
def change_vote(commands: Commands, database: Database, clock: Clock) -> Commands:
    with database.writer_session() as session, session.begin():
        publish_all(session, [Document(Path("change-vote.json"), CHANGE_VOTE)], clock(), "t")
    return commands


def started(commands: Commands, approvers: Any) -> tuple[str, list[dict[str, Any]]]:
    answer = commands.start("change-vote", {"approvers": approvers}, requester="alice")
    return str(answer["number"]), list(answer["opened_tasks"])


def open_tasks(database: Database, number: str) -> list[Task]:
    with database.reading() as session:
        return [task for task in instance_view(session, number).tasks if task.status == "open"]


def test_one_name_in_the_field_gives_that_person_one_task(
    change_vote: Commands, database: Database
) -> None:
    number, opened = started(change_vote, "ivy")

    assert [task["assignee"] for task in opened] == ["ivy"]
    change_vote.complete(opened[0]["id"], "approved", {}, actor="ivy")
    with database.reading() as session:
        assert instance_view(session, number).instance.status == "completed"


def test_a_name_given_twice_gives_one_task_and_one_vote(
    change_vote: Commands, database: Database
) -> None:
    number, opened = started(change_vote, ["ivy", "cole", "ivy"])

    assert sorted(task["assignee"] for task in opened) == ["cole", "ivy"]
    (ivys,) = [task for task in opened if task["assignee"] == "ivy"]
    change_vote.complete(ivys["id"], "approved", {}, actor="ivy")
    assert [task.assignee for task in open_tasks(database, number)] == ["cole"]


def test_a_comment_sent_with_a_vote_is_the_reason_the_vote_shows(
    change_vote: Commands, database: Database
) -> None:
    number, opened = started(change_vote, ["ivy", "cole"])
    (ivys,) = [task for task in opened if task["assignee"] == "ivy"]

    change_vote.complete(ivys["id"], "rejected", {}, actor="ivy", comment="No rollback plan")

    with database.reading() as session:
        events = instance_view(session, number).events
    assert [(e.actor, e.why) for e in events if e.kind == "voted"] == [("ivy", "No rollback plan")]


def test_a_field_that_names_nobody_stops_the_review_on_an_incident_anyone_can_read(
    change_vote: Commands, database: Database
) -> None:
    number, opened = started(change_vote, 42)

    assert opened == []
    with database.reading() as session:
        view = instance_view(session, number)
        (run,) = view.instance.state["runs"]
        reasons = [event.why for event in view.events if event.kind == "incident"]
    why = (
        "step 'vote' stopped: the reviewers come from the field 'approvers', which holds "
        "a number; it should hold user names"
    )
    assert run["incident"] == why
    assert reasons == [why]


def test_the_reason_that_satisfies_the_rejection_rule_is_the_one_the_vote_shows(
    change_vote: Commands, database: Database
) -> None:
    number, opened = started(change_vote, ["ivy", "cole"])
    (ivys,) = [task for task in opened if task["assignee"] == "ivy"]

    change_vote.complete(
        ivys["id"], "rejected", {"approval_comment": "No rollback plan"}, actor="ivy"
    )

    with database.reading() as session:
        view = instance_view(session, number)
        votes = [(event.actor, event.why) for event in view.events if event.kind == "voted"]
        assert view.instance.status == "declined"
    assert votes == [("ivy", "No rollback plan")]


#: A review of two votes from one group's queue: one person could claim both.
QUEUE_REVIEW: dict[str, Any] = {
    "kind": "workflow", "format": 1, "key": "queue-review", "title": "Queue review",
    "first": "review",
    "steps": {
        "review": {
            "type": "review", "label": "Review",
            "reviewers": [{"role": "first", "assign": {"group": "desktop-support"}},
                          {"role": "second", "assign": {"group": "desktop-support"}}],
            "quorum": "all",
            "on": {"approved": "done", "rejected": "done"},
        },
        "done": {"type": "end"},
    },
}  # fmt: skip


def test_one_person_votes_once_in_a_review_whichever_door_gives_them_a_second_vote(
    commands: Commands, database: Database
) -> None:
    """A quorum counts people: who holds or cast one vote of a review may not claim, be
    given or cast another, so one person cannot meet a 2-of-2 alone."""
    with database.writer_session() as session, session.begin():
        assert publish_document(session, "workflow", QUEUE_REVIEW, datetime.now(UTC), "t").created
    number = str(commands.start("queue-review", {}, requester="alice")["number"])
    with database.reading() as session:
        first, second = session.scalars(
            select(Task.id).where(Task.status == "open").order_by(Task.id)
        ).all()
    commands.claim(first, actor="bob")
    for attempt in (
        lambda: commands.claim(second, actor="bob"),
        lambda: commands.reassign(second, actor="dan", user="bob"),
    ):
        with pytest.raises(NotAllowed, match=f"bob already has a vote in this review of {number}"):
            attempt()
    commands.complete(first, "approved", actor="bob")
    with pytest.raises(NotAllowed, match="one person votes once"):
        commands.claim(second, actor="bob")  # cast already
    commands.claim(second, actor="dan")
    commands.complete(second, "approved", actor="dan")
    with database.reading() as session:
        ended = select(Instance.ended_at).where(Instance.number == number)
        assert session.scalars(ended).one() is not None  # two people, two votes: approved


#: An approval by the requester's manager, first thing.
MANAGER_SIGNS: dict[str, Any] = {
    "kind": "workflow", "format": 1, "key": "manager-signs", "title": "Manager signs",
    "first": "sign",
    "steps": {
        "sign": {"type": "approval", "label": "Manager signs",
                 "assign": {"manager_of": "{{ instance.requester }}"},
                 "on": {"approved": "done", "rejected": "done"}},
        "done": {"type": "end"},
    },
}  # fmt: skip


def test_a_managers_task_with_no_manager_to_take_it_is_refused_not_left_with_nobody(
    commands: Commands, database: Database
) -> None:
    """A requester without an account, or without a manager, has nobody to take their
    manager's approval: the task would wait where no inbox shows it. The start is refused,
    saying why, and keeps nothing."""
    at = commands.clock()
    with database.writer_session() as session, session.begin():
        assert publish_document(session, "workflow", MANAGER_SIGNS, at, "t").created
        ensure_user(session, "sam", at)
        ensure_user(session, "rita", at, manager=None)
        ensure_user(session, "bob", at, manager="sam")
    for requester, said in (
        (None, "the requester has no account, so no manager to take the task of step 'sign'"),
        ("rita", "'rita' has no manager to take the task of step 'sign'"),
    ):
        with pytest.raises(InvalidInput, match=re.escape(said)):
            commands.start("manager-signs", {}, requester=requester)
    with database.reading() as session:
        assert session.scalars(select(Instance.id)).all() == []
    commands.start("manager-signs", {}, requester="bob")
    with database.reading() as session:
        assert session.scalars(select(Task.assignee)).all() == ["sam"]


#: A task, then a review by the people a start field names.
LATER_REVIEW: dict[str, Any] = {
    "kind": "workflow", "format": 1, "key": "later-review", "title": "Later review",
    "first": "draft",
    "steps": {
        "draft": {"type": "task", "assign": {"group": "desktop-support"}, "next": "review"},
        "review": {"type": "review", "label": "Change board", "reviewers": {"from": "board"},
                   "quorum": "all", "on": {"approved": "done", "rejected": "done"}},
        "done": {"type": "end"},
    },
}  # fmt: skip


def test_a_start_naming_its_requester_among_a_later_reviews_people_is_refused_at_the_field(
    commands: Commands, database: Database
) -> None:
    at = commands.clock()
    with database.writer_session() as session, session.begin():
        assert publish_document(session, "workflow", LATER_REVIEW, at, "t").created
    with pytest.raises(InvalidData) as refused:
        commands.start("later-review", {"board": ["bob", "alice"]}, requester="alice")
    assert [(e.field, e.message) for e in refused.value.fields] == [
        (
            "board",
            "alice makes this request, so they may not review it at 'Change board' "
            "(separation of duties); name someone else",
        )
    ]
    commands.start("later-review", {"board": ["bob", "dan"]}, requester="alice")


#: An approval given to one person the workflow names.
BOB_SIGNS: dict[str, Any] = {
    "kind": "workflow", "format": 1, "key": "bob-signs", "title": "Bob signs",
    "first": "sign",
    "steps": {
        "sign": {"type": "approval", "label": "Sign-off", "assign": {"user": "bob"},
                 "on": {"approved": "done", "rejected": "done"}},
        "done": {"type": "end"},
    },
}  # fmt: skip


def test_a_start_refused_by_separation_of_duties_names_no_number_it_never_had(
    commands: Commands, database: Database
) -> None:
    """The refusal keeps the number from ever existing: saying "bob requested WF-000001"
    named a request nobody can find."""
    at = commands.clock()
    with database.writer_session() as session, session.begin():
        assert publish_document(session, "workflow", BOB_SIGNS, at, "t").created
        ensure_user(session, "bob", at)
    with pytest.raises(InvalidInput) as refused:
        commands.start("bob-signs", {}, requester="bob")
    assert str(refused.value) == (
        "bob makes this request, so they may not approve it at 'Sign-off' (separation of duties)"
    )
    with database.reading() as session:
        assert session.scalars(select(Instance.id)).all() == []
    assert commands.start("bob-signs", {}, requester="alice")["number"].endswith("000001")
