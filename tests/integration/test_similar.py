"""Similar incidents: ranked by the full-text index, boosted by service and category, with
how each was resolved and its problem's workaround; the rest left out; the desk only."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event

from engine.service.casework import Casework
from engine.service.commands import Commands
from engine.service.definitions import publish_document
from engine.service.errors import InvalidInput, NotAllowed, NotFound
from engine.service.finder import Finder
from engine.service.people import ensure_user
from engine.service.person import Person
from engine.service.requests import REQUESTER
from engine.service.similar import Similar, terms
from tests.infrastructure import INCIDENT, Clock
from tests.similar_seeds import (
    link_problem,
    on_service,
    open_incident,
    open_task_of,
    problem,
    resolved_incident,
)


def person(commands: Commands, username: str) -> Person:
    return Finder(commands).person(username)


def similar_to(commands: Commands, number: str, who: str = "bob", **options: Any) -> list[str]:
    found = Similar(commands).of(person(commands, who), number, **options)
    return [item.number for item in found.items]


def test_the_words_looked_for_leave_out_common_and_short_ones_title_first() -> None:
    assert terms("The VPN drops", "It drops every hour, and the VPN is slow") == (
        "vpn",
        "drops",
        "hour",  # not "every": a printer jam and a VPN matched on it
        "slow",
    )
    assert terms("a an to of", None) == ()
    assert len(terms(" ".join(f"word{n}" for n in range(40)))) == 16


def test_the_most_alike_resolved_incidents_come_first_with_how_each_was_resolved(
    commands: Commands, clock: Clock
) -> None:
    vpn = resolved_incident(
        commands,
        "VPN connection drops every hour",
        "The VPN client disconnects after an hour at home.",
        category="network",
        resolution="Updated the VPN client to 5.2.",
    )
    clock.advance(hours=2)
    slow = resolved_incident(
        commands, "VPN is slow", "Pages load slowly.", category="network", resolution="Moved."
    )
    resolved_incident(commands, "The printer is jammed", "It blinks red.")
    subject = open_incident(
        commands, "VPN drops every hour", "The VPN disconnects every hour.", category="network"
    )

    found = Similar(commands).of(person(commands, "erin"), subject)

    assert [item.number for item in found.items] == [vpn, slow]  # the printer shares no word
    assert found.terms == ("vpn", "drops", "hour", "disconnects")  # "every" tells nothing
    first = found.items[0]
    assert first.title == "VPN connection drops every hour"
    assert (first.status, first.outcome) == ("closed", "resolved")
    assert first.resolution == "Updated the VPN client to 5.2."
    assert first.resolved_by == "erin"  # the network team's; alice only confirmed
    assert first.resolved_at == datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    assert first.time_to_resolve_s == 0  # resolved the moment it was reported
    assert (first.same_category, first.same_service) == (True, False)
    assert first.problem is None
    assert found.items[0].score > found.items[1].score


def test_a_requester_confirming_through_their_tracking_link_is_not_named_its_resolver(
    commands: Commands,
) -> None:
    """Someone without an account confirms through their link (as `~requester`): the
    resolver is the service desk's person who resolved it, and when they did."""
    data = {**INCIDENT, "summary": "VPN drops every hour", "category": "network"}
    number = str(commands.start("it-incident", data)["number"])
    work = open_task_of(commands, number)
    commands.complete(work.id, "resolved", {"resolution": "New client."}, actor=str(work.assignee))
    confirm = open_task_of(commands, number)
    commands.complete(confirm.id, "approved", actor=REQUESTER, requester_of=number)
    subject = open_incident(commands, "VPN drops every hour", "Again.", category="network")
    (found,) = Similar(commands).of(person(commands, "erin"), subject).items
    assert (found.number, found.resolved_by) == (number, work.assignee)


def test_a_shared_service_and_category_raise_an_incident_above_one_as_alike_in_words(
    commands: Commands,
) -> None:
    words = ("Mail stuck in the outbox", "Mail stays in the outbox.")
    plain = resolved_incident(commands, *words, category="other")
    same_category = resolved_incident(commands, *words, category="network")
    same_service = resolved_incident(commands, *words, category="other")
    subject = open_incident(commands, *words, category="network")
    # Equal words: the newest first, then each boost lifts its own.
    assert similar_to(commands, subject) == [same_category, same_service, plain]

    on_service(commands, subject, "mail")
    on_service(commands, same_service, "mail")
    found = Similar(commands).of(person(commands, "bob"), subject).items
    assert [item.number for item in found] == [same_service, same_category, plain]
    assert (found[0].same_service, found[0].same_category) == (True, False)
    assert found[0].score == pytest.approx(found[2].score * 1.5)  # the same words and team
    assert (found[1].same_service, found[1].same_category) == (False, True)


#: A workflow whose work has no resolution field: the resolver's comment says what was done.
OUTAGE = {
    "kind": "workflow",
    "format": 1,
    "key": "outage",
    "title": "Outage",
    "start": {"number_prefix": "OUT", "title": "{{ summary }}"},
    "first": "fix",
    "steps": {
        "fix": {
            "type": "task",
            "title": "Fix {{ summary }}",
            "assign": {"group": "network"},
            "on": {"fixed": "done"},
        },
        "done": {"type": "end", "status": "fixed", "outcome": "fixed"},
    },
}


def publish_outage(commands: Commands, clock: Clock) -> None:
    with commands.database.writer_session() as session, session.begin():
        publish_document(session, "workflow", OUTAGE, clock(), "tests")


def test_itself_its_duplicates_its_original_open_cancelled_and_other_workflows_are_left_out(
    commands: Commands, clock: Clock
) -> None:
    publish_outage(commands, clock)
    words = ("Projector in room 4 shows nothing", "The projector in room 4 shows no picture.")
    kept = resolved_incident(commands, *words)
    waiting = resolved_incident(commands, *words, closed=False)  # stands resolved: counts
    original = resolved_incident(commands, *words)
    still_open = open_incident(commands, *words)
    cancelled = open_incident(commands, *words)
    commands.cancel(cancelled, "Reported twice", actor="bob")
    subject = open_incident(commands, *words)
    duplicate = open_incident(commands, *words)
    desk = Casework(commands)
    desk.mark_duplicate(duplicate, subject, "The same projector", actor="bob")
    outage = str(commands.start("outage", {"summary": words[0]})["number"])
    commands.complete(open_task_of(commands, outage).id, "fixed", actor="erin")

    # As alike in words and category: the newest first. Not the outage: another workflow.
    assert similar_to(commands, subject) == [original, waiting, kept]
    desk.mark_duplicate(subject, original, "Already resolved there", actor="bob")
    assert similar_to(commands, subject) == [waiting, kept]  # not the one it merged into
    assert subject not in similar_to(commands, kept)  # a duplicate was never resolved
    assert still_open not in similar_to(commands, kept)


def test_a_linked_problem_gives_its_number_status_and_workaround(
    commands: Commands, clock: Clock
) -> None:
    known = problem(commands, "Printers jam on every floor", "Print on the floor 2 printer.")
    linked = resolved_incident(commands, "Printer jams on floor 3", resolution="Cleared it.")
    link_problem(commands, linked, known, clock())
    subject = open_incident(commands, "The printer jams again", "Floor 3, paper jam.")

    [item] = Similar(commands).of(person(commands, "bob"), subject).items
    assert item.number == linked
    assert item.problem is not None
    assert (item.problem.number, item.problem.status) == (known, "known_error")
    assert item.problem.title == "Printers jam on every floor"
    assert item.problem.workaround == "Print on the floor 2 printer."


def test_without_a_resolution_field_the_resolvers_last_comment_says_how(
    commands: Commands, clock: Clock
) -> None:
    publish_outage(commands, clock)
    past = str(commands.start("outage", {"summary": "Wifi down in hall B"})["number"])
    commands.comment(past, "Looking at the access point.", actor="erin")
    commands.comment(past, "Rebooted the access point in hall B.", actor="erin", public=False)
    commands.comment(past, "Thanks, erin!", actor="bob")  # the last word, but not the resolver's
    clock.advance(minutes=90)
    commands.complete(open_task_of(commands, past).id, "fixed", actor="erin")
    subject = str(commands.start("outage", {"summary": "Wifi down in hall B again"})["number"])

    [item] = Similar(commands).of(person(commands, "bob"), subject).items
    assert item.resolution == "Rebooted the access point in hall B."  # an internal note: desk
    assert (item.resolved_by, item.outcome, item.status) == ("erin", "fixed", "fixed")
    assert item.time_to_resolve_s == 90 * 60


def test_only_the_service_desk_asks_and_a_stranger_learns_nothing(commands: Commands) -> None:
    with commands.database.writer_session() as session, session.begin():
        for requester in ("rita", "zoe"):
            ensure_user(session, requester, commands.clock(), roles=["requester"])
    mine = open_incident(commands, "Keyboard is broken", "Keys stick.", requester="rita")
    with pytest.raises(NotAllowed, match="only the service desk sees similar incidents"):
        Similar(commands).of(person(commands, "rita"), mine)  # her own: she may see it
    with pytest.raises(NotFound, match=f"there is no instance {mine}"):
        Similar(commands).of(person(commands, "zoe"), mine)  # not hers to see
    with pytest.raises(NotFound, match="there is no instance INC-999999"):
        Similar(commands).of(person(commands, "bob"), "INC-999999")
    with pytest.raises(InvalidInput, match="ask for 1 to 20 similar incidents, not 21") as refused:
        Similar(commands).of(person(commands, "bob"), mine, limit=21)
    assert refused.value.problems[0].pointer == "/limit"


@pytest.fixture
def statements(commands: Commands) -> Iterator[list[str]]:
    """Every SQL statement the database runs while the test watches."""
    seen: list[str] = []

    def count(*args: Any) -> None:
        if args[2].lstrip().upper().startswith(("SELECT", "WITH")):  # not SQLite's checkpoints
            seen.append(args[2])

    event.listen(commands.database.engine, "before_cursor_execute", count)
    yield seen
    event.remove(commands.database.engine, "before_cursor_execute", count)


def test_the_statements_read_do_not_grow_with_the_incidents_shown(
    commands: Commands, statements: list[str]
) -> None:
    words = ("Laptop battery drains fast", "The battery is empty by noon.")
    for _ in range(6):
        resolved_incident(commands, *words)
    subject = open_incident(commands, *words)

    statements.clear()
    assert len(similar_to(commands, subject, limit=1)) == 1
    one = len(statements)
    statements.clear()
    assert len(similar_to(commands, subject, limit=6)) == 6
    assert len(statements) == one
