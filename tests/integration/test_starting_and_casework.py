"""Who may start what, logging a call, and acting on a whole instance, in the service layer."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import func, select

from engine.service import tracking
from engine.service.apply import REQUESTER_TASK
from engine.service.casework import Casework
from engine.service.commands import Commands
from engine.service.errors import Conflict, InvalidInput, NotAllowed
from engine.service.notifications import Notifications
from engine.service.people import ensure_user
from engine.service.published import Published
from engine.service.queries import instance_view
from engine.service.requests import NewFile, Requests, token_hash
from engine.service.starting import Caller, Starting
from engine.service.submissions import InvalidData
from engine.store.casework import InstanceLink
from engine.store.database import Database
from engine.store.instances import Attachment, Comment, Instance, Outbox, Task, TrackingLink
from tests.integration.conftest import INCIDENT, MAJOR

REQUEST = {"item": "laptop", "details": "A new one", "cost": 300, "manager": "sam"}


@pytest.fixture
def starting(commands: Commands) -> Starting:
    return Starting(commands, Published(commands.database))


@pytest.fixture(autouse=True)
def rita(commands: Commands) -> str:
    """A requester: no role but that one, in no group (the pack's team are all agents)."""
    with commands.database.writer_session() as session, session.begin():
        ensure_user(session, "rita", commands.clock(), roles=["requester"])
    return "rita"


@pytest.fixture
def casework(commands: Commands) -> Casework:
    return Casework(commands)


def rows(database: Database, model: Any) -> int:
    with database.reading() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def incident(commands: Commands, requester: str = "alice", **changes: Any) -> str:
    data = {**INCIDENT, **changes}
    return str(commands.start("it-incident", data, requester=requester)["number"])


def kinds(database: Database, number: str) -> list[str]:
    with database.reading() as session:
        return [event.kind for event in instance_view(session, number).events]


def instance(database: Database, number: str) -> Instance:
    with database.reading() as session:
        row = session.scalar(select(Instance).where(Instance.number == number))
        assert row is not None
        session.expunge(row)
        return row


# Starting ---------------------------------------------------------------------------------


def test_signed_in_people_start_a_signed_in_workflow_and_nobody_else_does(
    starting: Starting, database: Database
) -> None:
    number = starting.start("service-request", REQUEST, person="alice")["number"]
    assert instance(database, str(number)).requester == "alice"
    with pytest.raises(NotAllowed, match="sign in"):
        starting.start("service-request", REQUEST, person=None)
    with pytest.raises(NotAllowed, match="not an active user"):
        starting.start("service-request", REQUEST, person="nobody-here")
    assert rows(database, Instance) == 1


def test_only_the_named_groups_and_admins_start_a_group_workflow(
    starting: Starting, database: Database
) -> None:
    with pytest.raises(NotAllowed, match="only members of incident-commanders, service-desk"):
        starting.start("major-incident", MAJOR, person="alice")
    assert rows(database, Instance) == 0
    assert starting.start("major-incident", MAJOR, person="ivy")["number"] == "MAJ-000001"
    assert starting.start("major-incident", MAJOR, person="bob")["number"] == "MAJ-000002"


def test_the_refusal_comes_before_the_data_is_read(starting: Starting) -> None:
    with pytest.raises(NotAllowed):
        starting.start("major-incident", {"surprise": 1}, person="alice")


def test_anyone_starts_a_public_workflow_and_follows_it_by_its_link(
    starting: Starting, database: Database
) -> None:
    """Started for nobody from a script, as on the portal: a tracking link, mailed to the
    address the workflow's confirm_to names. Without one the request was made, and nobody
    could ever follow or answer it: "task 22 is assigned to someone else"."""
    with pytest.raises(InvalidInput, match="needs a tracking link"):
        starting.start("it-incident", INCIDENT, person=None)
    assert rows(database, Instance) == 0
    link = "http://desk.example/track/" + "s" * 48
    answer = starting.start("it-incident", INCIDENT, person=None, token="s" * 48, link=link)
    assert answer["number"] == "INC-000001"
    assert rows(database, TrackingLink) == 1
    row = instance(database, "INC-000001")
    with database.reading() as session:
        mail = session.scalars(select(Outbox).where(Outbox.instance_id == row.id)).all()
    [sent] = [m.payload for m in mail if m.payload.get("template") == "request-received"]
    assert (sent["to"], sent["link"]) == ({"email": INCIDENT["email"]}, link)


def test_the_new_request_list_offers_what_a_person_may_start(
    starting: Starting, commands: Commands
) -> None:
    from engine.service.person import Person

    alice = Person(1, "alice", "Alice", None, frozenset(), frozenset())
    ivy = Person(2, "ivy", "Ivy", None, frozenset(), frozenset({"incident-commanders"}))
    assert [w.key for w in starting.startable(alice)] == ["it-incident", "service-request"]
    assert [w.key for w in starting.startable(ivy)] == [
        "action-item",  # a postmortem's follow-up, by hand
        "it-incident",
        "major-incident",
        "service-request",
    ]
    assert [w.key for w in starting.startable(None)] == ["it-incident"]
    # Each in its start form's words to requesters; a start form that says nothing, nothing.
    described = {w.key: w.description for w in starting.startable(alice)}
    assert described["it-incident"].startswith("Tell us what is not working.")
    assert described["service-request"] == ""
    with pytest.raises(NotAllowed):
        starting.start_form(alice, "major-incident")


def test_an_agent_logs_a_phone_call_for_a_user_who_becomes_the_requester(
    starting: Starting, database: Database
) -> None:
    answer = starting.log_call(
        "it-incident", INCIDENT, agent="bob", channel="phone", caller=Caller(user="alice")
    )
    row = instance(database, str(answer["number"]))
    assert (row.requester, row.channel, row.logged_by, row.caller) == (
        "alice",
        "phone",
        "bob",
        None,
    )
    with database.reading() as session:
        logged = [e for e in instance_view(session, row.number).events if e.kind == "logged"]
    assert logged[0].actor == "bob"
    assert logged[0].why == "from a phone call by alice"


def test_a_caller_without_an_account_gets_a_tracking_link_by_mail(
    starting: Starting, database: Database
) -> None:
    caller = Caller(name="Carol Caller", email="carol@example.org", phone="+44 20 7946 0000")
    answer = starting.log_call(
        "it-incident",
        INCIDENT,
        agent="bob",
        channel="walk_in",
        caller=caller,
        token="t" * 48,
        link="http://desk.example/track/" + "t" * 48,
    )
    row = instance(database, str(answer["number"]))
    assert row.requester is None
    assert row.caller == {
        "name": "Carol Caller",
        "email": "carol@example.org",
        "phone": "+44 20 7946 0000",
    }
    assert rows(database, TrackingLink) == 1
    with database.reading() as session:
        mail = session.scalars(select(Outbox).where(Outbox.instance_id == row.id)).all()
    sent = [m.payload for m in mail if m.payload.get("template") == "request-received"]
    assert sent[0]["to"] == {"email": "carol@example.org"}
    assert sent[0]["link"].endswith("t" * 48)


@pytest.mark.parametrize(
    ("agent", "channel", "caller", "error", "where"),
    [
        ("rita", "phone", Caller(user="sam"), NotAllowed, None),
        ("bob", "pigeon", Caller(user="sam"), InvalidInput, "/channel"),
        ("bob", "phone", Caller(user="ghost"), InvalidInput, "/caller"),
        ("bob", "phone", Caller(name="Carol"), InvalidInput, "/caller/email"),
        (
            "bob",
            "phone",
            Caller(name="Carol", email="a@b.org\nBcc: x@y.org"),
            InvalidInput,
            "/caller/email",
        ),
        ("bob", "phone", Caller(user="sam", name="Carol"), InvalidInput, "/caller"),
    ],
)
def test_a_call_logged_wrongly_is_refused_and_changes_nothing(
    starting: Starting,
    database: Database,
    agent: str,
    channel: str,
    caller: Caller,
    error: type[Exception],
    where: str | None,
) -> None:
    with pytest.raises(error) as refused:
        starting.log_call(
            "it-incident", INCIDENT, agent=agent, channel=channel, caller=caller, token="x" * 48
        )
    if where is not None:
        assert [p.pointer for p in refused.value.problems][:1] == [where]  # type: ignore[attr-defined]
    assert rows(database, Instance) == 0


# Acting on an instance -----------------------------------------------------------------


def close(commands: Commands, database: Database, number: str) -> None:
    with database.reading() as session:
        work = instance_view(session, number).tasks[0]
    commands.complete(work.id, "resolved", {"resolution": "Cleared"}, actor="bob")
    with database.reading() as session:
        confirm = instance_view(session, number).tasks[0]
    commands.complete(confirm.id, "approved", {}, actor="alice")


def test_a_closed_incident_reopens_at_the_step_its_workflow_names(
    commands: Commands, casework: Casework, database: Database
) -> None:
    number = incident(commands)
    close(commands, database, number)
    assert instance(database, number).ended_at is not None
    answer = casework.reopen(number, "The printer jams again", actor="alice")
    row = instance(database, number)
    assert row.ended_at is None
    assert [task["step"] for task in answer["opened_tasks"]] == ["work"]
    assert "reopened" in kinds(database, number)
    assert row.resolution_due_at is not None  # the SLA counts again from the reopening
    with pytest.raises(Conflict, match="has not ended"):
        casework.reopen(number, "again", actor="bob")


def test_only_the_desk_and_the_requester_reopen_and_not_a_cancelled_one(
    commands: Commands, casework: Casework, database: Database
) -> None:
    number = incident(commands)
    close(commands, database, number)
    with pytest.raises(NotAllowed):
        casework.reopen(number, "mine now", actor="rita")
    other = incident(commands)
    casework.cancel(other, "Reported twice by mistake", actor="bob")
    with pytest.raises(Conflict, match="cancelled"):
        casework.reopen(other, "please", actor="bob")
    with pytest.raises(InvalidInput):
        casework.reopen(number, "   ", actor="bob")


def test_a_new_priority_retargets_the_sla_clocks_and_needs_a_reason(
    commands: Commands, casework: Casework, database: Database
) -> None:
    number = incident(commands)
    before = instance(database, number)
    assert before.priority == "P2"
    casework.set_priority(number, "P1", "The whole floor is affected", actor="bob")
    after = instance(database, number)
    assert after.priority == "P1"
    assert after.resolution_due_at < before.resolution_due_at  # type: ignore[operator]
    assert {"priority_changed", "sla_changed"} <= set(kinds(database, number))
    with pytest.raises(InvalidInput, match="'P9' is not a priority"):
        casework.set_priority(number, "P9", "why not", actor="bob")
    with pytest.raises(NotAllowed):
        casework.set_priority(number, "P4", "I am not in a hurry", actor="rita")
    with pytest.raises(InvalidInput):
        casework.set_priority(number, "P4", "", actor="bob")
    assert instance(database, number).priority == "P1"


def test_related_incidents_show_on_both_pages_once(
    commands: Commands, casework: Casework, database: Database
) -> None:
    one, two = incident(commands), incident(commands, requester="sam")
    casework.link(one, two, actor="bob")
    assert [link.number for link in casework.links(one).related] == [two]
    assert [link.number for link in casework.links(two).related] == [one]
    assert "linked" in kinds(database, one)
    assert "linked" in kinds(database, two)
    with pytest.raises(Conflict, match="already linked"):
        casework.link(two, one, actor="bob")
    with pytest.raises(InvalidInput, match="itself"):
        casework.link(one, one, actor="bob")
    with pytest.raises(InvalidInput, match="no instance INC-999999"):
        casework.link(one, "INC-999999", actor="bob")
    with pytest.raises(NotAllowed):
        casework.link(one, two, actor="rita")
    assert rows(database, InstanceLink) == 1


def test_a_duplicate_closes_into_its_original_and_its_requester_is_told(
    commands: Commands, casework: Casework, database: Database
) -> None:
    original = incident(commands)
    duplicate = incident(commands, requester="sam")
    answer = casework.mark_duplicate(
        duplicate, original, "Same jammed printer", actor="bob", link="http://x/instances/D"
    )
    assert (answer["status"], answer["ended"]) == ("duplicate", True)
    links = casework.links(original)
    assert [d.number for d in links.duplicates] == [duplicate]
    assert casework.links(duplicate).duplicate_of.number == original  # type: ignore[union-attr]
    assert "duplicate_added" in kinds(database, original)
    with database.reading() as session:
        dup_id = instance(database, duplicate).id
        told = [
            m.payload
            for m in session.scalars(select(Outbox).where(Outbox.instance_id == dup_id))
            if m.payload.get("template") == "instance-merged"
        ]
        said = session.scalars(select(Comment.body).where(Comment.instance_id == dup_id)).all()
    assert told == [
        {
            "to": "requester",
            "template": "instance-merged",
            "original": original,
            "link": "http://x/instances/D",
            "instance": dup_id,
            "number": duplicate,
        }
    ]
    assert said[0].startswith(f"Closed as a duplicate of {original}")
    with pytest.raises(Conflict, match="cannot be reopened"):
        casework.reopen(duplicate, "not the same", actor="bob")


def test_a_requester_without_an_account_is_not_sent_a_link_behind_sign_in(
    commands: Commands, casework: Casework, database: Database
) -> None:
    """The desk's page of the duplicate is behind sign-in: mailed to someone without an
    account it led to a sign-in page. Their mail points them to their tracking link."""
    original = incident(commands)
    anonymous = str(commands.start("it-incident", dict(INCIDENT))["number"])
    casework.mark_duplicate(
        anonymous, original, "Same printer", actor="bob", link="http://x/instances/A"
    )
    with database.reading() as session:
        dup_id = instance(database, anonymous).id
        (told,) = [
            m.payload
            for m in session.scalars(select(Outbox).where(Outbox.instance_id == dup_id))
            if m.payload.get("template") == "instance-merged"
        ]
    assert "link" not in told  # the mail says their tracking link shows it instead


def test_a_duplicate_must_point_at_an_original_that_is_not_one(
    commands: Commands, casework: Casework, database: Database
) -> None:
    first, second, third = (incident(commands) for _ in range(3))
    casework.mark_duplicate(second, first, "same", actor="bob")
    with pytest.raises(InvalidInput, match=f"{second} is itself a duplicate of {first}"):
        casework.mark_duplicate(third, second, "same", actor="bob")
    with pytest.raises(Conflict, match="has ended"):
        casework.mark_duplicate(second, third, "same", actor="bob")
    with pytest.raises(NotAllowed):
        casework.mark_duplicate(third, first, "same", actor="rita")
    assert instance(database, third).ended_at is None


def test_the_requesters_of_duplicates_hear_when_the_original_ends(
    commands: Commands, casework: Casework, database: Database
) -> None:
    """Their mail said "you will hear when it is solved", and nothing ever told them."""
    original = incident(commands)
    with_account = incident(commands, requester="sam")
    requests = Requests(commands)
    requests.submit("it-incident", dict(INCIDENT), token="d" * 48)  # no account, a link
    without = str(instance_by_token(database).number)
    for duplicate in (with_account, without):
        casework.mark_duplicate(duplicate, original, "Same jammed printer", actor="bob")

    commands.cancel(original, "The printer was replaced", actor="bob")

    heard = Notifications(commands).items("sam")[0]
    said = f"{original}, which your request {with_account} was merged into, is now cancelled"
    assert said in [n.summary for n in heard if n.kind == "request_changed"]
    with database.reading() as session:
        mailed = [
            m.payload
            for m in session.scalars(
                select(Outbox).where(Outbox.instance_id == instance(database, without).id)
            )
            if m.payload.get("template") == "original-ended"
        ]
    assert [m["note"] for m in mailed] == [{"original": original, "status": "cancelled"}]


def test_files_a_requester_adds_later_are_held_to_the_reports_own_rules_in_the_service(
    commands: Commands, database: Database
) -> None:
    """The rule lives in the service: a door that skipped the web's checks still cannot add
    a file the request's form would not take, and nothing of the refused call is kept."""
    requests, published = Requests(commands), Published(commands.database)
    requests.submit("it-incident", dict(INCIDENT), token="t" * 48)
    rules = tracking.added_files(requests, published, "t" * 48)
    assert (rules["max_files"], rules["max_size"]) == (3, 5 * 1024 * 1024)

    def new(name: str, kind: str, size: int = 100) -> NewFile:
        return NewFile(None, name, kind, size, "0" * 64, name.replace(".", "") + "0" * 24)

    for files, message in (
        ([new("a.zip", "application/zip")], "'a.zip' is not a file this request takes"),
        ([new("b.png", "image/png", 5 * 1024 * 1024 + 1)], "'b.png' is larger than 5 MB"),
        ([new(f"{n}.png", "image/png") for n in range(4)], "Add at most 3 files at once."),
    ):
        with pytest.raises(InvalidInput, match=re.escape(message)):
            tracking.attach(requests, published, "t" * 48, files)
    with database.reading() as session:
        assert session.scalar(select(func.count()).select_from(Attachment)) == 0
    tracking.attach(requests, published, "t" * 48, [new("c.webp", "image/webp")])
    with database.reading() as session:
        assert session.scalar(select(func.count()).select_from(Attachment)) == 1


def test_a_start_naming_its_own_requester_where_they_are_kept_out_is_refused_at_the_field(
    commands: Commands, database: Database
) -> None:
    """The service owner reviews a major incident's plan, and its requester may not: alice
    declaring one with herself as service owner would leave the review stopped with nobody
    able to act. Refused at the start, at the field, it is mended by naming someone else."""
    before = count_instances(database)
    with pytest.raises(InvalidData) as refused:
        commands.start("major-incident", {**MAJOR, "service_owner": "sam"}, requester="sam")
    assert [(e.field, e.message) for e in refused.value.fields] == [
        (
            "service_owner",
            "sam makes this request, so they may not review it at 'Review the recovery plan' "
            "(separation of duties); name someone else",
        )
    ]
    assert count_instances(database) == before
    started = commands.start("major-incident", {**MAJOR, "service_owner": "sam"}, requester="ivy")
    assert str(started["number"]).startswith("MAJ-")


def count_instances(database: Database) -> int:
    with database.reading() as session:
        return int(session.scalar(select(func.count()).select_from(Instance)) or 0)


def test_a_priority_changed_is_in_the_titles_of_the_open_tasks(
    commands: Commands, casework: Casework, database: Database
) -> None:
    """The work's title names the priority ("INC-000001 P3: ..."): the inbox, the bell and
    the task page kept the old one after the priority changed."""
    number = incident(commands)
    with database.reading() as session:
        before = session.scalars(select(Task.title).where(Task.status == "open")).one()
    level = before.split(":")[0].split()[-1]
    wanted = "P1" if level != "P1" else "P2"
    casework.set_priority(number, wanted, "The whole floor is down", actor="bob")
    with database.reading() as session:
        after = session.scalars(select(Task.title).where(Task.status == "open")).one()
    assert after == before.replace(f" {level}:", f" {wanted}:", 1)


def test_an_instance_nobody_follows_by_a_link_sends_no_mail_about_one(
    commands: Commands, database: Database
) -> None:
    """An incident opened by an alert has an address in its data (the tool's) but no
    tracking link: the "Is your problem solved?" mail sent its reader to a link they never
    got. An instance made on the portal, with its link, still sends it."""
    number = str(commands.start("it-incident", dict(INCIDENT))["number"])
    with database.reading() as session:
        work = session.scalars(select(Task).where(Task.status == "open")).one()
    commands.complete(work.id, "resolved", {"resolution": "Restarted it."}, actor="bob")
    with database.reading() as session:
        instance_id = session.scalars(select(Instance.id).where(Instance.number == number)).one()
        mailed = [
            row.payload.get("template")
            for row in session.scalars(select(Outbox).where(Outbox.instance_id == instance_id))
        ]
    assert REQUESTER_TASK not in mailed


def instance_by_token(database: Database) -> Instance:
    """The instance the tracking token of "d" * 48 opens."""
    with database.reading() as session:
        found = session.scalars(
            select(Instance)
            .join(TrackingLink, TrackingLink.instance_id == Instance.id)
            .where(TrackingLink.token_hash == token_hash("d" * 48))
        ).one()
        session.expunge(found)
        return found
