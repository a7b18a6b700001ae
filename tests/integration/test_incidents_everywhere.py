"""A step the engine runs with nobody to answer stops on an incident; a person is refused.

When a worker drives an instance (a timer fires, a child instance ends) and a step cannot
do its work - its task would go to someone who cannot take it, the SLA's calendar is not
published, a loop passes the step limit, the child's end cannot be taken in - the step
stops on an incident: on the instance, once, for an admin to retry after mending the
cause. An escalation (or an SLA breach) whose action cannot be carried out stops only
the rest of its rung: the tasks stay open, and a retry carries out the rest once. A
person whose own data names someone who cannot take a task is still refused.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from engine.catalog import Document
from engine.service.commands import Commands, Limits
from engine.service.definitions import publish_all
from engine.service.errors import Conflict
from engine.service.people import ensure_user
from engine.service.queries import InstanceView, incidents_of, instance_view
from engine.service.subflows import Subflows
from engine.service.submissions import InvalidData
from engine.store.database import Database
from engine.store.definitions import Definition
from engine.store.instances import Instance, Outbox, Timer
from engine.store.people import User
from tests.integration.conftest import Clock
from tests.integration.test_subflows import child_of, open_task, outbox, parent
from tests.integration.test_subflows import publish as publish_with_child


def publish(database: Database, clock: Clock, *documents: dict[str, Any]) -> None:
    """Publish the documents, and make ada an admin (the one who retries)."""
    with database.writer_session() as session, session.begin():
        publish_all(
            session, [Document(Path(f"{d['key']}.json"), d) for d in documents], clock(), "t"
        )
        ensure_user(session, "ada", clock(), roles=["admin"])


def flow(key: str, first: str, steps: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "kind": "workflow",
        "format": 1,
        "key": key,
        "title": key.capitalize(),
        "first": first,
        "steps": steps,
        **extra,
    }


def approval(then: str = "done", **extra: Any) -> dict[str, Any]:
    """An approval by the person the data names in `approver`."""
    return {
        "type": "approval",
        "assign": {"user": "{{ approver }}"},
        "on": {"approved": then, "rejected": then},
        **extra,
    }


def signoff() -> dict[str, Any]:
    """The desk prepares (after an hour, an escalation moves on); then the approver signs."""
    escalate = [{"after": "PT1H", "do": [{"complete": "done"}]}]
    prepare = {"type": "task", "assign": {"group": "service-desk"}, "escalate": escalate}
    return flow(
        "signoff",
        "prepare",
        {
            "prepare": {**prepare, "next": "approve"},
            "approve": approval(),
            "done": {"type": "end"},
        },
    )


def view(commands: Commands, number: str) -> InstanceView:
    found: InstanceView = commands.read(lambda session: instance_view(session, number))
    return found


def incidents(found: InstanceView) -> dict[str, str]:
    """The steps stopped on an incident, as the instance page and the API show them."""
    return dict(incidents_of(found.instance.state))


def fire_due(commands: Commands, clock: Clock, number: str) -> int:
    """Fire the instance's first pending timer, as the worker would when it is due."""
    timer = view(commands, number).timers[0]
    clock.now = timer.due_at
    assert commands.fire_timer(timer.id)["fired"] is True
    return timer.id


def timer_status(database: Database, timer_id: int) -> str:
    with database.reading() as session:
        return str(session.scalars(select(Timer.status).where(Timer.id == timer_id)).one())


def set_active(database: Database, username: str, active: bool) -> None:
    with database.writer_session() as session, session.begin():
        session.execute(update(User).where(User.username == username).values(active=active))


# A task the engine opens for someone who cannot take it ------------------------------------


def test_an_escalation_moving_on_to_an_inactive_approver_stops_there_once_until_a_retry(
    commands: Commands, database: Database, clock: Clock
) -> None:
    publish(database, clock, signoff())
    number = str(commands.start("signoff", {"approver": "dan"}, requester="alice")["number"])
    set_active(database, "dan", False)  # dan left after the request came in

    timer = fire_due(commands, clock, number)

    stopped = view(commands, number)
    assert list(incidents(stopped)) == ["approve"]
    assert "no active user 'dan'" in incidents(stopped)["approve"]
    assert "approver" in incidents(stopped)["approve"]  # which field named him
    assert stopped.tasks == []
    assert "incident" in [event.kind for event in stopped.events]
    assert timer_status(database, timer) != "pending"  # nothing left for the sweep to retry
    assert commands.fire_timer(timer)["fired"] is False

    set_active(database, "dan", True)
    commands.retry(number, actor="ada")

    moved_on = view(commands, number)
    assert incidents(moved_on) == {}
    assert [(task.step, task.assignee) for task in moved_on.tasks] == [("approve", "dan")]


def test_an_escalation_reassigning_to_someone_inactive_is_an_incident_and_the_task_stays(
    commands: Commands, database: Database, clock: Clock
) -> None:
    rung = {"after": "PT1H", "do": [{"reassign": {"user": "{{ backup }}"}}]}
    work = {"type": "task", "assign": {"group": "service-desk"}, "escalate": [rung]}
    publish(
        database,
        clock,
        flow("triage", "work", {"work": {**work, "next": "done"}, "done": {"type": "end"}}),
    )
    number = str(commands.start("triage", {"backup": "dan"}, requester="alice")["number"])
    set_active(database, "dan", False)

    timer = fire_due(commands, clock, number)

    after = view(commands, number)
    assert [(task.assignee, task.candidate_group) for task in after.tasks] == [
        (None, "service-desk")
    ]
    (why,) = [event.why for event in after.events if event.kind == "incident"]
    assert why is not None
    assert "no active user 'dan'" in why
    assert "task_reassigned" not in [event.kind for event in after.events]
    assert timer_status(database, timer) != "pending"


def test_an_escalation_never_hands_an_approval_to_its_own_requester(
    commands: Commands, database: Database, clock: Clock
) -> None:
    rung = {"after": "PT1H", "do": [{"reassign": {"user": "alice"}}]}
    approve = {**approval(), "assign": {"group": "service-desk"}, "escalate": [rung]}
    publish(
        database, clock, flow("spend", "approve", {"approve": approve, "done": {"type": "end"}})
    )
    number = str(commands.start("spend", {}, requester="alice")["number"])

    fire_due(commands, clock, number)

    after = view(commands, number)
    assert [(task.assignee, task.candidate_group) for task in after.tasks] == [
        (None, "service-desk")
    ]
    (why,) = [event.why for event in after.events if event.kind == "incident"]
    assert why is not None
    assert "alice requested" in why
    assert "separation of duties" in why


def backup_desk(**extra: Any) -> dict[str, Any]:
    """The desk works; each hour (three times) the desk is reminded, the task goes to the
    backup the data names and the requester hears that it is being worked on."""
    rung = {
        "after": "PT1H",
        "do": [
            {"remind": "assignee"},
            {"reassign": {"user": "{{ backup }}"}},
            {"remind": "requester"},
        ],
        "repeat": {"every": "PT1H", "limit": 2},
    }
    work = {"type": "task", "assign": {"group": "service-desk"}, "escalate": [rung]}
    steps = {"work": {**work, "next": "done"}, "done": {"type": "end"}}
    return flow("backup", "work", steps, **extra)


def reminded(database: Database, number: str) -> list[Any]:
    """Whom the instance's reminders went to, oldest first, as the outbox holds them."""
    with database.reading() as session:
        payloads = session.scalars(
            select(Outbox.payload)
            .where(Outbox.kind == "notify", Outbox.payload["number"].as_string() == number)
            .order_by(Outbox.id)
        )
        return [payload["to"] for payload in payloads if payload["template"] == "reminder"]


def test_a_retry_carries_out_the_rest_of_a_failed_rung_once_and_keeps_its_repeats(
    commands: Commands, database: Database, clock: Clock
) -> None:
    publish(database, clock, backup_desk())
    begun = clock()
    number = str(commands.start("backup", {"backup": "dan"}, requester="alice")["number"])
    set_active(database, "dan", False)

    fire_due(commands, clock, number)

    stopped = view(commands, number)
    assert list(incidents(stopped)) == ["work"]
    assert "no active user 'dan'" in incidents(stopped)["work"]
    (task,) = stopped.tasks  # still open, where it was: the desk can work on it
    assert (task.assignee, task.candidate_group) == (None, "service-desk")
    assert reminded(database, number) == ["assignee"]  # the action before the one that failed
    assert stopped.timers == []  # the rung's next time waits for the retry

    set_active(database, "dan", True)
    clock.now = begun + timedelta(hours=1, minutes=20)
    commands.retry(number, actor="ada")

    retried = view(commands, number)
    assert incidents(retried) == {}
    assert [(task.id, task.assignee) for task in retried.tasks] == [(task.id, "dan")]
    assert reminded(database, number) == ["assignee", "requester"]  # the rest, once
    assert [timer.due_at for timer in retried.timers] == [begun + timedelta(hours=2)]
    assert "retried" in [event.kind for event in retried.events]

    fire_due(commands, clock, number)  # the rung's second time: every action again

    assert reminded(database, number) == ["assignee", "requester", "assignee", "requester"]
    assert [timer.due_at for timer in view(commands, number).timers] == [begun + timedelta(hours=3)]


END = {"type": "end"}

#: The form the plan branch counts the shifts with.
SHIFT_COUNT = {
    "kind": "form",
    "format": 1,
    "key": "shift-count",
    "title": "Shift count",
    "fields": [{"key": "shifts", "type": "number", "label": "Shifts"}],
}


def shift_desk() -> dict[str, Any]:
    """The backup desk, whose backup is the person on shift: a division by the number of
    shifts, which fails until a sibling branch has counted them."""
    work = backup_desk()["steps"]["work"]
    work["escalate"][0]["do"][1] = {"reassign": {"user": "{{ team[(shift / shifts) | int] }}"}}
    count = {"type": "task", "assign": {"group": "network"}, "form": "shift-count"}
    branches = {
        "desk": {"first": "work", "steps": {"work": {**work, "next": "worked"}, "worked": END}},
        "plan": {
            "first": "count",
            "steps": {"count": {**count, "next": "counted"}, "counted": END},
        },
    }
    steps = {"both": {"type": "parallel", "branches": branches, "next": "done"}, "done": END}
    return flow("shifts", "both", steps)


def test_a_rung_stopped_by_its_data_goes_on_once_a_sibling_branch_fixed_it_and_retried(
    commands: Commands, database: Database, clock: Clock
) -> None:
    publish(database, clock, SHIFT_COUNT, shift_desk())
    begun = clock()
    data = {"team": ["dan", "lee"], "shift": 1, "shifts": 0}
    number = str(commands.start("shifts", data, requester="alice")["number"])

    fire_due(commands, clock, number)

    assert "division by zero" in incidents(view(commands, number))["work"]
    assert reminded(database, number) == ["assignee"]
    (count,) = [task for task in view(commands, number).tasks if task.step == "count"]
    clock.now = begun + timedelta(hours=1, minutes=10)
    commands.complete(count.id, "done", {"shifts": 2}, actor="erin")
    assert list(incidents(view(commands, number))) == ["work"]  # until an admin retries
    clock.now = begun + timedelta(hours=1, minutes=20)

    commands.retry(number, actor="ada")

    retried = view(commands, number)
    assert incidents(retried) == {}
    assert [(task.step, task.assignee) for task in retried.tasks] == [("work", "dan")]
    assert reminded(database, number) == ["assignee", "requester"]
    assert [timer.due_at for timer in retried.timers] == [begun + timedelta(hours=2)]


def test_completing_the_task_while_its_rung_waits_for_a_retry_moves_on_and_ends_the_incident(
    commands: Commands, database: Database, clock: Clock
) -> None:
    publish(database, clock, backup_desk())
    number = str(commands.start("backup", {"backup": "dan"}, requester="alice")["number"])
    set_active(database, "dan", False)
    fire_due(commands, clock, number)
    (task,) = view(commands, number).tasks

    commands.complete(task.id, "done", {}, actor="bob")

    done = view(commands, number)
    assert done.instance.status == "completed"
    assert incidents(done) == {}
    with pytest.raises(Conflict, match="has ended; nothing is left to do"):
        commands.retry(number, actor="ada")


def test_a_retry_carries_out_the_rest_of_an_sla_breachs_actions_once(
    commands: Commands, database: Database, clock: Clock
) -> None:
    on_breach = [{"raise_priority": True}, {"reassign": {"user": "dan"}}, {"remind": "assignee"}]
    work = {"type": "task", "assign": {"group": "service-desk"}, "next": "done"}
    publish(
        database,
        clock,
        flow(
            "breach",
            "work",
            {"work": work, "done": {"type": "end"}},
            priorities=["P1", "P2"],
            sla={
                "calendar": "office",
                "targets": {"P1": {"resolution": "PT4H"}, "P2": {"resolution": "PT8H"}},
                "warn_at": 0.99,
                "on_breach": on_breach,
            },
        ),
    )
    number = str(commands.start("breach", {"priority": "P2"}, requester="alice")["number"])
    set_active(database, "dan", False)
    fire_due(commands, clock, number)  # the warning

    fire_due(commands, clock, number)  # the breach

    breached = view(commands, number)
    assert breached.instance.priority == "P1"  # the action before the one that failed
    (why,) = [event.why for event in breached.events if event.kind == "incident"]
    assert why is not None
    assert why.startswith("an action on the resolution breach failed: ")
    assert "no active user 'dan'" in why
    assert [task.assignee for task in breached.tasks] == [None]
    assert reminded(database, number) == []
    assert incidents(breached) == {"the resolution SLA breach": why}  # page, API and CLI

    set_active(database, "dan", True)
    clock.advance(minutes=30)
    commands.retry(number, actor="ada")

    retried = view(commands, number)
    assert [task.assignee for task in retried.tasks] == ["dan"]
    assert reminded(database, number) == ["assignee"]
    assert retried.instance.priority == "P1"
    assert [event.kind for event in retried.events].count("priority_changed") == 1
    assert incidents(retried) == {}
    with pytest.raises(Conflict, match="no step stopped on an incident"):
        commands.retry(number, actor="ada")  # nothing is left to retry


def test_a_person_whose_completed_task_leads_to_an_approver_named_earlier_is_not_refused(
    commands: Commands, database: Database, clock: Clock
) -> None:
    publish(database, clock, signoff())
    number = str(commands.start("signoff", {"approver": "dan"}, requester="alice")["number"])
    set_active(database, "dan", False)
    (prepare,) = view(commands, number).tasks

    commands.complete(prepare.id, "done", {}, actor="bob")  # bob named nobody: his work stands

    after = view(commands, number)
    assert list(incidents(after)) == ["approve"]
    assert "task_completed" in [event.kind for event in after.events]


def test_a_person_whose_own_data_names_someone_inactive_is_refused_with_a_pointer(
    commands: Commands, database: Database, clock: Clock
) -> None:
    form = {
        "kind": "form",
        "format": 1,
        "key": "nomination",
        "title": "Nomination",
        "fields": [{"key": "approver", "type": "text", "label": "Approver"}],
    }
    ask = {"type": "task", "assign": {"group": "service-desk"}, "form": "nomination"}
    steps = {"ask": {**ask, "next": "approve"}, "approve": approval(), "done": {"type": "end"}}
    publish(database, clock, form, flow("nominate", "ask", steps))
    number = str(commands.start("nominate", {}, requester="alice")["number"])
    (ask_task,) = view(commands, number).tasks

    with pytest.raises(InvalidData) as refused:
        commands.complete(ask_task.id, "done", {"approver": "ghost"}, actor="bob")

    assert [error.field for error in refused.value.fields] == ["approver"]
    assert "no active user 'ghost'" in str(refused.value)
    assert incidents(view(commands, number)) == {}


def test_a_start_naming_an_approver_who_cannot_approve_is_refused_with_a_pointer(
    commands: Commands, database: Database, clock: Clock
) -> None:
    publish(
        database, clock, flow("direct", "approve", {"approve": approval(), "done": {"type": "end"}})
    )

    with pytest.raises(InvalidData) as missing:
        commands.start("direct", {"approver": "ghost"}, requester="alice")
    with pytest.raises(InvalidData) as own:
        commands.start("direct", {"approver": "alice"}, requester="alice")

    assert [error.field for error in missing.value.fields] == ["approver"]
    (error,) = own.value.fields
    assert error.field == "approver"
    # A user name is written as it is, even at the start of the message: not "Alice". The
    # refused start never had a number, so none is named.
    assert error.message.startswith("alice makes this request, so they may not approve it")
    assert "separation of duties" in error.message
    assert "REQ-" not in error.message


# The SLA's calendar, the step limit ------------------------------------------------------


def urgent() -> dict[str, Any]:
    """After an hour's wait the desk works; the SLA counts office hours from the start."""
    return flow(
        "urgent",
        "pause",
        {
            "pause": {"type": "wait", "for": "PT1H", "next": "work"},
            "work": {"type": "task", "assign": {"group": "service-desk"}, "next": "done"},
            "done": {"type": "end"},
        },
        priorities=["P1", "P2"],
        sla={
            "calendar": "office",
            "targets": {"P1": {"resolution": "PT4H"}, "P2": {"resolution": "PT8H"}},
        },
    )


def test_the_instance_lists_show_a_priority_read_from_a_dotted_field_and_its_raise(
    commands: Commands, database: Database, clock: Clock
) -> None:
    raise_it = {"after": "PT1H", "do": [{"raise_priority": True}]}
    work = {"type": "task", "assign": {"group": "service-desk"}, "escalate": [raise_it]}
    ticket = flow(
        "ticket",
        "work",
        {"work": {**work, "next": "done"}, "done": {"type": "end"}},
        priorities=["P1", "P2"],
        sla={
            "calendar": "office",
            "targets_by": "ticket.priority",
            "targets": {"P1": {"resolution": "PT4H"}, "P2": {"resolution": "PT8H"}},
        },
    )
    publish(database, clock, ticket)
    number = str(commands.start("ticket", {"ticket": {"priority": "P2"}})["number"])
    assert view(commands, number).instance.priority == "P2"  # the column inboxes sort by

    fire_due(commands, clock, number)

    assert view(commands, number).instance.priority == "P1"


def rename_calendar(database: Database, key: str, to: str) -> None:
    with database.writer_session() as session, session.begin():
        session.execute(
            update(Definition)
            .where(Definition.kind == "calendar", Definition.key == key)
            .values(key=to)
        )


def test_a_timer_while_the_sla_calendar_is_not_published_stops_the_step_until_a_retry(
    commands: Commands, database: Database, clock: Clock
) -> None:
    publish(database, clock, urgent())
    number = str(commands.start("urgent", {"priority": "P1"}, requester="alice")["number"])
    assert view(commands, number).instance.resolution_due_at is not None  # the clock counts
    rename_calendar(database, "office", "office-withdrawn")
    worker = Commands(database, clock=clock)  # a worker's own look-ups: no 'office' now

    timer = fire_due(worker, clock, number)

    stopped = view(worker, number)
    assert list(incidents(stopped)) == ["work"]
    assert "business calendar 'office'" in incidents(stopped)["work"]
    assert stopped.tasks == []
    assert timer_status(database, timer) != "pending"

    rename_calendar(database, "office-withdrawn", "office")
    Commands(database, clock=clock).retry(number, actor="ada")

    moved_on = view(commands, number)
    assert incidents(moved_on) == {}
    assert [task.step for task in moved_on.tasks] == ["work"]


def test_a_loop_past_the_step_limit_on_a_timer_stops_on_an_incident_and_a_retry_goes_on(
    commands: Commands, database: Database, clock: Clock
) -> None:
    # Approved automatically while n < limit, counted, approved again: a human step in the
    # loop, so the checker lets it be, and each round passes two steps without waiting.
    approve = {"type": "approval", "assign": {"group": "service-desk"}}
    steps = {
        "pause": {"type": "wait", "for": "PT1H", "next": "approve"},
        "approve": {
            **approve,
            "auto_approve": "n < limit",
            "on": {"approved": "count", "rejected": "done"},
        },
        "count": {"type": "action", "set": {"n": {"expr": "n + 1"}}, "next": "approve"},
        "done": {"type": "end"},
    }
    publish(database, clock, flow("spin", "pause", steps))
    number = str(commands.start("spin", {"n": 0, "limit": 700}, requester="alice")["number"])

    timer = fire_due(commands, clock, number)

    stopped = view(commands, number)
    ((step, why),) = incidents(stopped).items()
    assert "1000 steps" in why
    assert 0 < stopped.instance.state["data"]["n"] < 700  # the work done so far is kept
    assert timer_status(database, timer) != "pending"

    commands.retry(number, actor="ada")  # another thousand steps are enough to get there

    moved_on = view(commands, number)
    assert incidents(moved_on) == {}
    assert moved_on.instance.state["data"]["n"] == 700
    assert [task.step for task in moved_on.tasks] == ["approve"]
    assert step in ("approve", "count")


# A child whose end its parent cannot take in -----------------------------------------------


def test_a_child_whose_end_the_parent_cannot_take_in_stops_the_parent_step_for_a_retry(
    database: Database, clock: Clock, commands: Commands
) -> None:
    small = Commands(database, clock=clock, limits=Limits(max_data_bytes=2048))
    publish_with_child(database, clock, parent())
    publish(database, clock)  # no more documents: ada
    subflows = Subflows(small)
    notes = "n" * 1700  # the parent's own data: the child's answer will not fit beside it
    number = str(small.start("outage", {"summary": "Mail is slow", "notes": notes})["number"])
    subflows.carry_out_pending()
    child = child_of(database, number).number
    small.complete(open_task(database, child), "known_error", {"cause": "c" * 450}, actor="bob")

    subflows.carry_out_pending()

    stopped = view(small, number)
    assert list(incidents(stopped)) == ["problem"]
    assert f"the end of {child} could not be taken in" in incidents(stopped)["problem"]
    assert outbox(database, "subflow_finished")[0][0] == "failed"

    small.retry(number, actor="ada")  # the step starts again: a new child
    subflows.carry_out_pending()
    second = [c for c in _children(database, number) if c != child]
    assert len(second) == 1
    small.complete(open_task(database, second[0]), "known_error", {"cause": "Disk"}, actor="bob")
    subflows.carry_out_pending()

    moved_on = view(small, number)
    assert incidents(moved_on) == {}
    assert moved_on.instance.state["data"]["root_cause"] == "Disk"
    assert [task.step for task in moved_on.tasks] == ["workaround"]


def _children(database: Database, number: str) -> list[str]:
    with database.reading() as session:
        parent_id = session.scalars(select(Instance.id).where(Instance.number == number)).one()
        return list(
            session.scalars(
                select(Instance.number).where(Instance.parent_id == parent_id).order_by(Instance.id)
            )
        )
