"""Problems in the service layer: opened from incidents, linked, known error, resolved, told."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from engine.service.casework import Casework
from engine.service.catalogue import Catalogue
from engine.service.commands import Commands
from engine.service.errors import Conflict, InvalidInput, NotAllowed, NotFound
from engine.service.notifications import Notifications
from engine.service.people import ensure_user
from engine.service.problems import Problems, open_for_step
from engine.service.queries import instance_view
from engine.service.subflows import Subflows
from engine.service.submissions import InvalidData
from engine.store.casework import InstanceLink
from engine.store.database import Database
from engine.store.instances import Instance, Outbox, Task
from engine.store.notifications import Notification
from tests.infrastructure import Clock
from tests.integration.conftest import INCIDENT
from tests.major_incidents import declare, resolve


@pytest.fixture
def problems(commands: Commands) -> Problems:
    """The service, with pia in problem-management and rita, a requester off the desk."""
    with commands.database.writer_session() as session, session.begin():
        ensure_user(session, "pia", commands.clock(), groups=["problem-management"])
        ensure_user(session, "rita", commands.clock(), roles=["requester"])
    return Problems(commands)


def incident(commands: Commands, summary: str = "VPN drops every hour", **changes: Any) -> str:
    data = {**INCIDENT, "summary": summary, "category": "network", **changes}
    return str(commands.start("it-incident", data, requester="alice")["number"])


def kinds(database: Database, number: str) -> list[str]:
    with database.reading() as session:
        return [event.kind for event in instance_view(session, number).events]


def count(database: Database, model: Any, *where: Any) -> int:
    with database.reading() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def write(database: Database, statement: Any, values: dict[str, Any]) -> None:
    with database.writer_session() as session, session.begin():
        session.execute(statement, values)


def open_task(database: Database, number: str) -> Task:
    with database.reading() as session:
        task = session.scalars(
            select(Task)
            .join(Instance, Instance.id == Task.instance_id)
            .where(Instance.number == number, Task.status == "open")
        ).one()
        session.expunge(task)
        return task


def test_a_problem_opened_from_incidents_links_each_on_both_timelines(
    commands: Commands, problems: Problems, database: Database
) -> None:
    one, two = incident(commands), incident(commands, "VPN drops after login")
    answer = problems.open([one, two.lower()], actor="bob")
    number = str(answer["number"])
    assert number == "PRB-000001"
    assert answer["incidents"] == [one, two]
    found = problems.problem(number)
    assert (found.title, found.status, found.category) == (
        "VPN drops every hour",  # the first incident's, as none was given
        "investigating",
        "network",  # both incidents are about the network
    )
    assert [linked.number for linked in found.incidents] == [one, two]
    of = problems.problem_of(one)
    assert of is not None
    assert (of.number, of.status, of.root_cause, of.workaround) == (
        number,
        "investigating",
        None,
        None,
    )
    assert "problem_linked" in kinds(database, one)
    assert kinds(database, number).count("incident_linked") == 2
    # A problem is not a related instance nor an original: casework's links leave it out.
    links = Casework(commands).links(one)
    assert (links.related, links.duplicate_of, links.duplicates) == ([], None, [])
    # Problem management gets the work, in its queue.
    assert open_task(database, number).candidate_group == "problem-management"


def test_a_problem_is_filed_under_its_incidents_service_while_the_catalogue_holds_it(
    commands: Commands, problems: Problems, database: Database
) -> None:
    """Its service is a service of the catalogue, as an incident's: named by key, filed
    under it, and never a word the catalogue does not hold."""
    catalogue = Catalogue(commands)
    catalogue.save_service("vpn", {"name": "VPN", "start_data": {}}, actor=None, create=True)
    high = {"impact": "high", "affected_service": "vpn"}
    filed = problems.open([incident(commands, **high)], actor="bob")
    catalogue.save_service("gone", {"name": "Gone", "start_data": {}}, actor=None, create=True)
    old = incident(commands, "Gone again", impact="high", affected_service="gone")
    catalogue.delete_service("gone", actor=None)
    unfiled = problems.open([old], actor="bob")
    with database.reading() as session:
        kept = dict(session.execute(select(Instance.number, Instance.service_key)).all())
    assert (kept[str(filed["number"])], kept[str(unfiled["number"])]) == ("vpn", None)
    assert problems.problem(str(filed["number"])).service == "vpn"

    data = {"title": "VPN drops", "service": "<b>VPN</b>"}
    with pytest.raises(InvalidData, match="There is no service '<b>VPN</b>'"):
        commands.start("problem", data, requester="bob")


def test_an_incident_has_one_problem_at_most(
    commands: Commands, problems: Problems, database: Database
) -> None:
    one, two, three = incident(commands), incident(commands), incident(commands)
    first = str(problems.open([one], actor="bob", title="VPN drops")["number"])
    second = str(problems.open([two], actor="bob", title="Slow VPN")["number"])
    before = count(database, Instance)
    with pytest.raises(Conflict, match=f"{one} is already linked to the problem {first}"):
        problems.open([three, one], actor="bob", title="Both")
    with pytest.raises(Conflict, match=f"already linked to the problem {first}"):
        problems.link(second, one, actor="bob")
    with pytest.raises(Conflict, match=f"already linked to the problem {first}"):
        problems.link(first, one, actor="bob")
    assert count(database, Instance) == before  # the refused open started nothing
    assert count(database, InstanceLink) == 2
    # The database refuses a second problem too, whoever writes the row.
    with database.reading() as session:
        ids = dict(session.execute(select(Instance.number, Instance.id)).all())
    row = {
        "instance_id": ids[one],
        "other_id": ids[second],
        "kind": "problem",
        "created_by": "bob",
        "created_at": commands.clock(),
    }
    with pytest.raises(IntegrityError):
        write(database, insert(InstanceLink), row)


def test_linking_and_unlinking_say_why_they_are_refused(
    commands: Commands, problems: Problems, database: Database
) -> None:
    one, two = incident(commands), incident(commands)
    number = str(problems.open([one], actor="bob")["number"])
    problems.link(number, two, actor="bob")
    assert [i.number for i in problems.problem(number).incidents] == [one, two]
    problems.unlink(number, one, actor="bob")
    assert problems.problem_of(one) is None
    assert "problem_unlinked" in kinds(database, one)
    assert "incident_unlinked" in kinds(database, number)
    with pytest.raises(InvalidInput, match=f"{one} is not linked to {number}") as refused:
        problems.unlink(number, one, actor="bob")
    assert refused.value.problems[0].pointer == "/incident"
    with pytest.raises(InvalidInput, match="is a problem itself"):
        problems.link(number, str(problems.open([one], actor="bob")["number"]), actor="bob")
    with pytest.raises(InvalidInput, match="there is no incident INC-999999"):
        problems.link(number, "INC-999999", actor="bob")
    with pytest.raises(NotFound, match="there is no problem INC-000001"):
        problems.link("INC-000001", two, actor="bob")
    with pytest.raises(InvalidInput, match="name the problem"):
        problems.link(" ", two, actor="bob")
    with pytest.raises(NotFound):  # a number no instance can have names nothing
        problems.problem("PRB-\x00")
    with pytest.raises(InvalidInput, match="at least one incident") as empty:
        problems.open([], actor="bob")
    assert empty.value.problems[0].pointer == "/incidents"
    with pytest.raises(InvalidInput, match="there is no incident INC-424242") as missing:
        problems.open([two, "INC-424242"], actor="bob")
    assert missing.value.problems[0].pointer == "/incidents/1"


def test_only_the_service_desk_opens_links_and_unlinks(
    commands: Commands, problems: Problems, database: Database
) -> None:
    one, two = incident(commands), incident(commands)
    number = str(problems.open([one], actor="bob")["number"])
    before = count(database, Instance), count(database, InstanceLink)
    with pytest.raises(NotAllowed, match="only the service desk opens problems"):
        problems.open([two], actor="rita")
    with pytest.raises(NotAllowed):
        problems.link(number, two, actor="rita")
    with pytest.raises(NotAllowed):
        problems.unlink(number, one, actor="rita")
    assert (count(database, Instance), count(database, InstanceLink)) == before


def test_the_root_cause_makes_a_known_error_and_only_problem_management_records_it(
    commands: Commands, problems: Problems
) -> None:
    one = incident(commands)
    number = str(problems.open([one], actor="bob")["number"])
    with pytest.raises(InvalidData) as missing:
        problems.record(number, "A certificate expires hourly", "", actor="pia")
    assert [error.field for error in missing.value.fields] == ["workaround"]
    with pytest.raises(NotAllowed):  # bob works the desk, not in problem-management
        problems.record(number, "Cause", "Workaround", actor="bob")
    problems.record(
        number,
        "The VPN gateway's certificate is renewed every hour",
        "Reconnect with the client's 'keep alive' option on",
        publish_workaround=True,
        actor="pia",
    )
    found = problems.problem_of(one)
    assert found is not None
    assert (found.status, found.root_cause, found.workaround, found.publish_workaround) == (
        "known_error",
        "The VPN gateway's certificate is renewed every hour",
        "Reconnect with the client's 'keep alive' option on",
        True,
    )
    with pytest.raises(Conflict, match="is known error: its root cause is recorded while"):
        problems.record(number, "Again", "Again", actor="pia")


def test_resolving_a_problem_tells_the_owners_of_its_incidents_and_mails_who_asked(
    commands: Commands, problems: Problems, database: Database
) -> None:
    # Two of the desktop team's (bob and dan, by turns), one in the network queue (erin's).
    held = incident(commands, "VPN drops on my laptop", category="hardware")
    ended = incident(commands, "VPN drops at night", category="hardware")
    holder = open_task(database, held).assignee
    work = open_task(database, ended)
    commands.complete(work.id, "resolved", {"resolution": "Reconnected"}, actor=str(work.assignee))
    commands.complete(open_task(database, ended).id, "approved", {}, actor="alice")
    # The queued one: its network group's members own it.
    queued = incident(commands, "VPN drops for the whole floor")
    queued_task = open_task(database, queued)
    commands.unclaim(queued_task.id, actor=str(queued_task.assignee))
    Notifications(commands).set_mail_kinds("erin", ["problem_resolved"])
    number = str(problems.open([held, ended, queued], actor="bob", title="VPN drops")["number"])
    with pytest.raises(Conflict, match="is investigating: it is resolved once it is a known"):
        problems.resolve(number, "Too soon", actor="pia")
    problems.record(number, "Certificate renewal", "Reconnect", actor="pia")
    problems.resolve(number, "The  certificate now lasts a year", actor="pia")
    assert problems.problem(number).status == "resolved"
    with database.reading() as session:
        told = session.execute(
            select(Notification.recipient, Notification.number, Notification.summary).where(
                Notification.kind == "problem_resolved"
            )
        ).all()
        mails = session.scalars(select(Outbox.payload).where(Outbox.kind == "notify")).all()
    assert {(recipient, at) for recipient, at, _ in told} == {
        (str(holder), held),
        (str(work.assignee), ended),  # ended: whoever resolved it
        ("erin", queued),
    }
    assert {summary for _, _, summary in told} == {
        f"The problem {number} (VPN drops) is resolved: The certificate now lasts a year"
    }
    mailed = [m for m in mails if m["note"]["kind"] == "problem_resolved"]
    assert [(m["to"], m["number"]) for m in mailed] == [({"user": "erin"}, queued)]


def test_a_major_incident_that_asks_for_a_problem_record_opens_one_linked_to_it(
    commands: Commands, problems: Problems, database: Database, clock: Clock
) -> None:
    """The recovery report's "Open a problem record" opens a problem through the outbox,
    linked to the major incident, its requester the commander who asked, once."""
    number = declare(commands)
    resolve(commands, database, number, lambda m: clock.advance(minutes=m), problem_record=True)
    assert problems.problem_of(number) is None  # the worker opens it, after the commit

    Subflows(commands).carry_out_pending()
    Subflows(commands).carry_out_pending()

    of = problems.problem_of(number)
    assert of is not None
    assert of.status == "investigating"
    found = problems.problem(of.number)
    with database.reading() as session:
        major = session.scalars(select(Instance).where(Instance.number == number)).one()
        asked_by = session.scalar(select(Instance.requester).where(Instance.number == of.number))
    assert found.title == major.title
    assert [linked.number for linked in found.incidents] == [number]
    assert asked_by == "ike"  # who restored the service and asked for the record
    assert open_task(database, of.number).candidate_group == "problem-management"
    assert count(database, Instance, Instance.workflow_key == "problem") == 1
    assert "problem_linked" in kinds(database, number)


def test_a_major_incident_linked_to_a_problem_already_keeps_it_and_says_so(
    commands: Commands, problems: Problems, database: Database, clock: Clock
) -> None:
    number = declare(commands)
    had = str(problems.open([number], actor="bob")["number"])
    resolve(commands, database, number, lambda m: clock.advance(minutes=m), problem_record=True)

    Subflows(commands).carry_out_pending()

    assert count(database, Instance, Instance.workflow_key == "problem") == 1
    of = problems.problem_of(number)
    assert of is not None
    assert of.number == had
    with database.reading() as session:
        said = [
            e.why for e in instance_view(session, number).events if e.kind == "problem_not_opened"
        ]
    assert said == [f"not opened: {number} is already linked to the problem {had}"]


def test_a_step_asking_a_problem_to_open_a_problem_opens_none(
    commands: Commands, problems: Problems, database: Database
) -> None:
    """The checker refuses `open_problem` in the problem workflow; were such a row there all
    the same, the worker opens nothing (each problem would have opened the next)."""
    number = str(problems.open([incident(commands)], actor="bob")["number"])

    def body(uow: Any, at: Any) -> str | None:
        row = uow.repository.lock_instance(uow.repository.instance_id(number))
        return open_for_step(commands, uow, at, row, "bob")

    note = commands.execute("test", None, body)

    assert note == f"not opened: {number} is a problem itself"
    assert count(database, Instance, Instance.workflow_key == "problem") == 1
