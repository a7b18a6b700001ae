"""The instance list: who sees what, the filter language, full-text search, sorting, seek paging
and saved views, on the real database (SQLite, and PostgreSQL when configured)."""

from __future__ import annotations

import base64
import csv
import io
import json
from datetime import timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from engine.service.catalogue import Catalogue
from engine.service.commands import Commands
from engine.service.errors import Conflict, InvalidInput, NotAllowed, NotFound
from engine.service.filters import BadFilter, Query, parse, parse_search
from engine.service.finder import Finder
from engine.service.person import Person
from engine.service.views import SavedViews
from engine.store.database import Database
from tests.infrastructure import INCIDENT, Clock
from web.cli import main


def person(username: str, *groups: str, roles: tuple[str, ...] = ()) -> Person:
    return Person(1, username, username, None, frozenset(roles), frozenset(groups))


BOB = person("bob", "desktop-support", "service-desk")  # an agent
ERIN = person("erin", "network")
ALICE = person("alice")  # a requester
SAM = person("sam")


def numbers(finder: Finder, who: Person, query: Query | None = None, **kwargs: object) -> list[str]:
    return [item.number for item in finder.find(who, query or Query(), **kwargs).items]  # type: ignore[arg-type]


def start(commands: Commands, requester: str, **data: str) -> str:
    return str(commands.start("it-incident", {**INCIDENT, **data}, requester=requester)["number"])


def test_an_agent_finds_an_incident_by_a_word_of_a_comment_and_a_requester_not_by_a_note(
    commands: Commands, clock: Clock
) -> None:
    finder = Finder(commands)
    a = start(commands, "alice", summary="Screen flickers")
    b = start(commands, "sam", summary="Mail is slow")
    commands.comment(a, "The vendor promised a new backlight", actor="bob", public=True)
    commands.comment(b, "Suspect the hypervisor again", actor="bob", public=False)
    at = clock()
    assert numbers(finder, BOB, parse({"text": "backlight"}, at)) == [a]
    assert numbers(finder, BOB, parse({"text": "hyperv"}, at)) == [b]  # a word's start
    assert numbers(finder, BOB, parse({"text": "flickers screen"}, at)) == [a]  # any order
    assert numbers(finder, BOB, parse({"text": a}, at)) == [a]  # by number
    assert numbers(finder, BOB, parse({"text": a.rpartition("-")[2].lstrip("0")}, at)) == [a]
    assert numbers(finder, BOB, parse({"text": "it blinks"}, at)) == [b, a]  # the description
    # The requester finds their own by its public comment; never by an internal note.
    assert numbers(finder, ALICE, parse({"text": "backlight"}, at)) == [a]
    assert numbers(finder, SAM, parse({"text": "hypervisor"}, at)) == []
    assert numbers(finder, SAM, parse({"text": "backlight"}, at)) == []  # alice's
    assert numbers(finder, SAM) == [b]
    assert numbers(finder, ALICE) == [a]


def test_filters_combine_and_each_narrows_the_list(commands: Commands, clock: Clock) -> None:
    finder = Finder(commands)
    low = start(commands, "alice", impact="low", urgency="low")
    clock.advance(hours=2)
    high = start(commands, "sam", impact="high", urgency="high")
    at = clock()
    everything = numbers(finder, BOB)
    assert everything == [high, low]
    priorities = {i.number: i.priority for i in finder.find(BOB, Query()).items}
    assert priorities[high] != priorities[low]
    assert numbers(finder, BOB, parse({"priority": str(priorities[high])}, at)) == [high]
    assert numbers(finder, BOB, parse({"requester": "alice,sam"}, at)) == [high, low]
    assert numbers(finder, ALICE, parse({"requester": "me"}, at)) == [low]
    assert numbers(finder, BOB, parse({"workflow": "major-incident"}, at)) == []
    status = finder.find(BOB, Query()).items[0].status
    assert numbers(finder, BOB, parse({"status": f"{status},closed"}, at)) == [high, low]
    assert numbers(finder, BOB, parse({"status": "closed"}, at)) == []
    assert numbers(finder, BOB, parse({"created": ">=-1h"}, at)) == [high]
    assert numbers(finder, BOB, parse({"created": "..-1h"}, at)) == [low]
    day = at.date().isoformat()
    assert numbers(finder, BOB, parse({"created": day, "updated": f"{day}..{day}"}, at)) == [
        high,
        low,
    ]
    assert numbers(finder, BOB, parse({"ended": "today"}, at)) == []
    steps = {i.number: i.steps for i in finder.find(BOB, Query()).items}
    assert numbers(finder, BOB, parse({"step": steps[low][0]}, at)) == (
        [high, low] if steps[high] == steps[low] else [low]
    )
    # Who holds the work: by name, `me`, or a group (`mine`: the asker's groups).
    holders = {i.number: i.holders for i in finder.find(BOB, Query()).items}
    held_by_erin = [n for n in (high, low) if "erin" in holders[n] or "queue network" in holders[n]]
    assert numbers(finder, ERIN, parse({"group": "mine"}, at)) == [
        n for n in (high, low) if any("network" in h for h in holders[n]) or n in held_by_erin
    ]
    assert numbers(finder, BOB, parse({"group": "mine", "priority": "P9"}, at)) == []
    assert numbers(finder, BOB, parse({"assignee": "nobody-at-all"}, at)) == []


def test_the_service_filter_finds_what_is_filed_under_a_service_at_every_door(
    commands: Commands, clock: Clock, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reported from the portal, the API or a script: the service its report named."""
    Catalogue(commands).save_service(
        "vpn", {"name": "VPN", "start_data": {}}, actor=None, create=True
    )
    vpn = start(commands, "alice", impact="high", affected_service="vpn")
    other = start(commands, "alice", impact="high")
    finder, at = Finder(commands), clock()
    assert numbers(finder, BOB, parse({"service": "vpn"}, at)) == [vpn]
    assert numbers(finder, BOB, parse({"service": "vpn,payments"}, at)) == [vpn]
    assert numbers(finder, BOB, parse_search("service:payments", at)) == []
    assert numbers(finder, BOB) == [other, vpn]
    with pytest.raises(BadFilter, match="service"):
        parse({"service": "VPN!"}, at)
    monkeypatch.setenv("FLOWDESK_DATABASE_URL", database_url)
    listed = CliRunner().invoke(main, ["list", "service:vpn", "--as", "bob"])
    assert listed.exit_code == 0, listed.output
    assert vpn in listed.output
    assert other not in listed.output
    exported = CliRunner().invoke(main, ["list", "--as", "bob", "--csv", "--sort", "number"])
    rows = list(csv.reader(io.StringIO(exported.output)))
    service = rows[0].index("Service")
    assert [(row[0], row[service]) for row in rows[1:]] == [(vpn, "vpn"), (other, "")]


def test_the_sla_filter_tells_breached_from_on_track_per_clock(
    commands: Commands, clock: Clock
) -> None:
    finder = Finder(commands)
    first = start(commands, "alice", impact="high", urgency="high")
    at = clock()
    assert numbers(finder, BOB, parse({"sla": "breached"}, at)) == []
    assert numbers(finder, BOB, parse({"sla": "ok,at_risk"}, at)) == [first]
    clock.advance(days=30)
    later = clock()
    assert numbers(finder, BOB, parse({"sla": "breached"}, later)) == [first]
    assert numbers(finder, BOB, parse({"sla": "resolution:breached"}, later)) == [first]
    assert numbers(finder, BOB, parse({"sla": "none"}, later)) == []


@pytest.mark.parametrize(
    "sort",
    [
        "-created",
        "created",
        "number",
        "updated",
        "-updated",
        "priority",
        "-priority",
        "status",
        "-status",
    ],
)
def test_seek_paging_reads_every_instance_once_in_the_sort_order(
    commands: Commands, clock: Clock, database: Database, sort: str
) -> None:
    finder = Finder(commands)
    made = []
    for n in range(7):
        made.append(start(commands, "alice", impact=("low", "high")[n % 2], urgency="medium"))
        clock.advance(minutes=1)
    with database.writer_session() as session, session.begin():  # one without a priority
        session.execute(
            text("UPDATE instances SET priority = NULL WHERE number = :n"), {"n": made[3]}
        )
    whole = numbers(finder, BOB, sort=sort, limit=200)
    assert sorted(whole) == sorted(made)
    paged, cursor = [], None
    while True:
        page = finder.find(BOB, Query(), sort=sort, cursor=cursor, limit=2)
        paged += [item.number for item in page.items]
        assert page.total == 7
        assert page.exact
        if page.next is None:
            break
        cursor = page.next
    assert paged == whole
    if sort.lstrip("-") == "priority":
        assert whole[-1] == made[3]  # rows without a value come last either way


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        ({"colour": "red"}, "colour"),
        ({"status": "Open!"}, "status"),
        ({"workflow": "IT Incident"}, "workflow"),
        ({"sla": "late"}, "sla"),
        ({"sla": "reply:breached"}, "sla"),
        ({"created": "last tuesday"}, "created"),
        ({"updated": "2026-12-05..2026-12-01"}, "updated"),
        ({"ended": ".."}, "ended"),
        ({"priority": ",".join(f"P{n}" for n in range(30))}, "priority"),
        ({"text": "x" * 201}, "text"),
        ({"assignee": "bob smith"}, "assignee"),
    ],
)
def test_a_bad_filter_is_refused_with_an_error_naming_it(
    clock: Clock, raw: dict[str, str], named: str
) -> None:
    with pytest.raises(BadFilter) as refused:
        parse(raw, clock())
    assert refused.value.filter == named
    assert refused.value.problems[0].pointer == f"/{named}"
    assert named in refused.value.message


def test_a_bad_sort_or_cursor_is_refused_naming_it(commands: Commands) -> None:
    finder = Finder(commands)
    with pytest.raises(BadFilter) as refused:
        finder.find(BOB, Query(), sort="title")
    assert refused.value.filter == "sort"
    cursor = finder.find(BOB, Query(), sort="updated", limit=1).next
    for wrong in ("nonsense", "eyJ4Ijox", cursor or "x"):
        with pytest.raises(BadFilter) as refused:
            finder.find(BOB, Query(), sort="-created", cursor=wrong)
        assert refused.value.filter == "cursor"


def forged(*parts: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(parts).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        forged("-created", None, 2**63),
        forged("-created", None, -(2**70)),
        forged("-created", None, 0),
        base64.urlsafe_b64encode(b"[" * 3000).decode(),
        "A" * 5000,
    ],
    ids=["past 64 bits", "negative", "zero", "nested", "long"],
)
def test_a_forged_cursor_is_refused_naming_it_not_a_500(
    commands: Commands, cursor: str, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A row id past what the database holds, or JSON nested 3,000 deep, was a 500 (the
    desk and the CLI: only the API checked a cursor's length)."""
    with pytest.raises(BadFilter) as refused:
        Finder(commands).find(BOB, Query(), sort="-created", cursor=cursor)
    assert refused.value.filter == "cursor"
    monkeypatch.setenv("FLOWDESK_DATABASE_URL", database_url)
    listed = CliRunner().invoke(main, ["list", "--as", "bob", "--cursor", cursor])
    assert listed.exit_code == 1
    assert "cursor" in listed.output


@pytest.mark.parametrize(
    "when",
    ["9999-12-31", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "..9999-12-31"],
)
def test_a_date_at_the_ends_of_the_calendar_is_refused_naming_it_not_a_500(
    clock: Clock, when: str
) -> None:
    with pytest.raises(BadFilter) as refused:
        parse({"created": when}, clock())
    assert refused.value.filter == "created"
    assert "too near the ends of the calendar" in refused.value.message
    with pytest.raises(BadFilter):
        parse_search(f"updated:{when}", clock())


def test_a_search_line_reads_filters_and_words(clock: Clock) -> None:
    query = parse_search('status:open priority:P1 priority:P2 "floor 3" printer', clock())
    assert query.status == ("open",)
    assert query.priority == ("P1", "P2")
    assert query.text == "floor 3 printer"
    assert query.filters == {"status": "open", "priority": "P1,P2", "text": "floor 3 printer"}


def test_a_changed_title_is_found_by_its_new_words(commands: Commands, clock: Clock) -> None:
    finder = Finder(commands)
    number = start(commands, "alice", summary="Keyboard missing keys")
    with commands.database.writer_session() as session, session.begin():
        from engine.store.search import SearchIndex

        instance_id = session.scalar(
            text("SELECT id FROM instances WHERE number = :n"), {"n": number}
        )
        SearchIndex(session.connection(), session.get_bind().dialect.name).retitle(
            instance_id, "Trackpad frozen"
        )
    assert numbers(finder, BOB, parse({"text": "trackpad"}, clock())) == [number]
    assert numbers(finder, BOB, parse({"text": "keyboard"}, clock())) == [number]  # in the data


def test_saved_views_are_kept_per_person_and_shared_with_a_group(
    commands: Commands, clock: Clock
) -> None:
    views = SavedViews(commands)
    dan = person("dan", "desktop-support")
    mine = views.create(BOB, "Breached P1s", {"sla": "breached", "priority": "P1"}, "-updated")
    assert (mine.filters, mine.sort, mine.group) == (
        {"sla": "breached", "priority": "P1"},
        "-updated",
        None,
    )
    assert [v.name for v in views.visible(dan)] == []
    with pytest.raises(NotFound):
        views.get(dan, mine.id)
    shared = views.update(BOB, mine.id, name="My team's breached P1s", group="desktop-support")
    assert [v.name for v in views.visible(dan)] == ["My team's breached P1s"]
    assert views.get(dan, mine.id).editable is False
    assert [v.name for v in views.visible(ERIN)] == []
    with pytest.raises(NotAllowed):
        views.update(dan, shared.id, name="Mine now")
    with pytest.raises(NotAllowed):
        views.delete(dan, shared.id)
    with pytest.raises(NotFound):
        views.delete(ERIN, shared.id)
    with pytest.raises(NotAllowed):  # bob is not in network
        views.update(BOB, shared.id, group="network")
    with pytest.raises(InvalidInput):
        views.update(BOB, shared.id, group="no-such-group")
    with pytest.raises(Conflict):
        views.create(BOB, "My team's breached P1s", {})
    with pytest.raises(BadFilter) as refused:
        views.create(BOB, "Odd", {"sla": "late"})
    assert refused.value.filter == "sla"
    with pytest.raises(InvalidInput):
        views.create(BOB, "  ", {})
    views.delete(BOB, shared.id)
    assert views.visible(BOB) == []
    assert views.visible(dan) == []
    assert clock() - timedelta(0) == clock()


def test_flowdesk_list_reads_the_same_language_and_refuses_a_bad_filter_naming_it(
    commands: Commands, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from engine.service.people import ensure_user
    from web.cli import main

    with commands.database.writer_session() as session, session.begin():
        ensure_user(session, "rita", commands.clock(), roles=["requester"])
    printer = start(commands, "rita")
    other = start(commands, "sam", summary="Badge reader broken")
    commands.comment(other, "Facilities replaced the reader", actor="bob", public=True)
    monkeypatch.setenv("FLOWDESK_DATABASE_URL", database_url)
    runner = CliRunner()
    found = runner.invoke(main, ["list", "--as", "bob", "facilities"])
    assert found.exit_code == 0, found.output
    assert other in found.output
    assert printer not in found.output
    own = runner.invoke(main, ["list", "--as", "rita"])
    assert printer in own.output
    assert other not in own.output
    exported = runner.invoke(main, ["list", "--as", "bob", "--csv", "--sort", "number"])
    assert exported.output.splitlines()[1].startswith(printer)
    refused = runner.invoke(main, ["list", "--as", "bob", "sla:late"])
    assert refused.exit_code == 1
    assert "the filter 'sla'" in refused.output
