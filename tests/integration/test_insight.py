"""The dashboards over incidents the real service layer worked, on SQLite and PostgreSQL.

The clock starts on a working Monday, 09:00 in Amsterdam (the office calendar's hours),
so every figure below counts business time that is also wall time, except where the
test says otherwise.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from redis import Redis
from rq import Queue
from sqlalchemy import select, update

from engine.core.metrics import mean_time_between_failures
from engine.jobs import timers
from engine.jobs.worker import periodic, refresh_figures
from engine.service import insight
from engine.service.casework import Casework
from engine.service.catalogue import Catalogue
from engine.service.commands import Commands
from engine.service.definitions import publish_document
from engine.service.errors import InvalidInput, NotAllowed
from engine.service.figures import bring_up_to_date, stale_count
from engine.service.insight import Dashboard, Filters, Insight, read_filters
from engine.service.intake import Intake
from engine.service.people import ensure_user
from engine.service.person import Person
from engine.service.queries import instance_view
from engine.store.database import Database
from engine.store.insight import IncidentFigures
from engine.store.instances import Instance, Task
from tests.infrastructure import MAJOR, PACK
from tests.integration.conftest import INCIDENT, Clock
from tests.integration.workers import worker_process

HOUR = 3600.0
BOB = Person(1, "bob", "Bob", None, frozenset({"agent"}), frozenset({"service-desk"}))
RITA = Person(2, "rita", "Rita", None, frozenset({"requester"}), frozenset())


def work(database: Database, number: str) -> Task:
    with database.reading() as session:
        (task,) = [t for t in instance_view(session, number).tasks if t.status == "open"]
        return task


def start(commands: Commands, **changes: Any) -> str:
    return str(commands.start("it-incident", {**INCIDENT, **changes}, requester="alice")["number"])


def on_service(database: Database, number: str, service: str) -> None:
    """File an incident under a service (as intake does for an alert's incident)."""
    with database.writer_session() as session, session.begin():
        session.execute(
            update(Instance).where(Instance.number == number).values(service_key=service)
        )


@pytest.fixture
def worked(commands: Commands, database: Database, clock: Clock) -> dict[str, str]:
    """Three incidents: quick, paused and reopened, cancelled; on two services."""
    quick = start(commands)
    on_service(database, quick, "printing")
    clock.advance(minutes=30)
    Intake(commands).acknowledge(quick, actor="bob")
    clock.advance(hours=1)
    task = work(database, quick)
    commands.complete(task.id, "resolved", {"resolution": "New drum"}, actor=str(task.assignee))
    clock.advance(minutes=10)
    commands.complete(work(database, quick).id, "approved", {}, actor="alice")

    slow = start(commands, impact="low", urgency="low")
    on_service(database, slow, "printing")
    clock.advance(hours=1)
    task = work(database, slow)
    question = {"question": "Which printer?"}
    commands.complete(task.id, "needs_info", question, actor=str(task.assignee))
    clock.advance(hours=3)  # paused: waiting on the requester
    commands.complete(work(database, slow).id, "done", {"reply": "Floor 3"}, actor="alice")
    clock.advance(hours=1)
    task = work(database, slow)
    commands.complete(task.id, "resolved", {"resolution": "Driver"}, actor=str(task.assignee))
    clock.advance(hours=2)  # resolved: waiting on the requester's word
    commands.complete(work(database, slow).id, "rejected", {}, actor="alice")
    clock.advance(minutes=30)
    task = work(database, slow)
    commands.complete(task.id, "resolved", {"resolution": "Driver 2"}, actor=str(task.assignee))

    dropped = start(commands, category="network")
    on_service(database, dropped, "vpn")
    clock.advance(minutes=5)
    Casework(commands).cancel(dropped, "Reported twice", actor="bob")
    return {"quick": quick, "slow": slow, "dropped": dropped}


def dashboard(commands: Commands, clock: Clock, **given: list[str]) -> Dashboard:
    filters = read_filters(given, clock().date())
    return Insight(commands).dashboard(BOB, filters)


def by_key(table: Any) -> dict[str, dict[str, Any]]:
    return {row["key"]: row for row in table.records()}


def test_mtta_and_mttr_count_open_business_time_per_service(
    worked: dict[str, str], commands: Commands, clock: Clock
) -> None:
    board = dashboard(commands, clock)
    printing = by_key(board.panels["by_service"])["printing"]
    assert printing["incidents"] == 2
    # quick: acknowledged after 30 min; slow: the needs_info answer after 1 h.
    assert printing["mtta_s"] == pytest.approx(0.75 * HOUR)
    # quick: 1.5 h. slow: 1 h + 1 h (not the 3 h paused, nor the 2 h resolved), and not
    # its last half hour: 17:40-18:10 in Amsterdam is after the office's 17:30.
    assert printing["resolved"] == 2
    assert printing["mttr_s"] == pytest.approx(1.75 * HOUR)
    assert printing["reopened"] == 1
    vpn = by_key(board.panels["by_service"])["vpn"]
    assert (vpn["incidents"], vpn["resolved"], vpn["mttr_s"]) == (1, 0, None)


def test_sla_compliance_and_the_backlog_read_the_clocks_the_runtime_kept(
    worked: dict[str, str], commands: Commands, clock: Clock
) -> None:
    board = dashboard(commands, clock)
    sla = {row["clock"]: row for row in board.panels["sla"].records()}
    # quick (P2) answered in 30 min of its 1 h; slow (P4) in 1 h of its day; the
    # cancelled one is left out (it was not a failure to serve).
    assert (sla["response"]["met"], sla["response"]["breached"]) == (2, 0)
    assert sla["response"]["compliance"] == 100.0
    # quick closed in time; slow still counts (resolved, paused), dropped's stopped at cancel.
    assert sla["resolution"]["pending"] == 1
    assert board.panels["breaches"].rows == []
    backlog = board.panels["backlog"].records()
    assert [(row["priority"], row["age_0"], row["total"]) for row in backlog] == [("P4", 1, 1)]


def test_a_breach_is_listed_with_its_incident(
    worked: dict[str, str], commands: Commands, clock: Clock, database: Database
) -> None:
    clock.advance(hours=14, minutes=45)  # Tuesday, 09:00 in Amsterdam: office hours
    late = start(commands, impact="high", urgency="high")  # P1
    clock.advance(minutes=40)
    with database.reading() as session:
        due = [t.id for t in instance_view(session, late).timers if t.due_at <= clock()]
    for timer in due:  # as the worker would: the response warning, then the breach
        commands.fire_timer(timer)
    board = dashboard(commands, clock)
    breaches = board.panels["breaches"].records()
    assert [(b["number"], b["response"]) for b in breaches] == [(late, "breached")]
    sla = {row["clock"]: row for row in board.panels["sla"].records()}
    assert sla["response"]["breached"] == 1


def test_filters_narrow_every_panel_and_volume_counts_each_day(
    worked: dict[str, str], commands: Commands, clock: Clock
) -> None:
    board = dashboard(commands, clock, service=["vpn"])
    assert list(by_key(board.panels["by_service"])) == ["vpn"]
    assert board.panels["categories"].rows == [("network", 1)]
    today = clock().date().isoformat()
    assert board.panels["volume"].rows[-1] == (today, 1, 0)
    assert len(board.panels["volume"].rows) == 30
    weekly = dashboard(commands, clock, bucket=["week"], priority=["P2"])
    assert sum(row[1] for row in weekly.panels["volume"].rows) == 2  # quick and dropped
    assert weekly.panels["volume"].rows[-1][0] == "2026-11-23"  # a Monday
    before = dashboard(commands, clock, to=["2026-11-01"])
    assert before.panels["by_service"].rows == []


def test_the_whole_dashboard_says_what_each_panel_says_alone(
    worked: dict[str, str], commands: Commands, clock: Clock
) -> None:
    """The time, SLA and top-list panels share one grouped statement when read together
    (see `_Tally`); asked one at a time, each groups by its own key only."""
    filters = read_filters({}, clock().date())
    whole = Insight(commands).dashboard(BOB, filters).panels
    for name in insight.PANELS:
        alone = Insight(commands).dashboard(BOB, filters, [name]).panels[name]
        assert alone.rows == whole[name].rows, name
    assert by_key(whole["by_service"])["printing"]["incidents"] == 2
    assert whole["services"].rows == [("printing", 2), ("vpn", 1)]
    sla = {row[0]: row[1:4] for row in whole["sla"].rows}
    assert sum(sla["response"]) == 2  # the cancelled incident is left out of the SLA


def test_mtbf_in_sql_is_the_definition_of_engine_core(
    commands: Commands, clock: Clock, database: Database
) -> None:
    pairs = []
    for gap, length in ((0, 2), (5, 1), (1, 3)):
        clock.advance(hours=gap)
        number = start(commands)
        on_service(database, number, "mail")
        began = clock()
        clock.advance(hours=length)
        task = work(database, number)
        commands.complete(task.id, "resolved", {"resolution": "ok"}, actor=str(task.assignee))
        pairs.append((began, clock()))
    board = dashboard(commands, clock)
    row = by_key(board.panels["by_service"])["mail"]
    mean, failures = mean_time_between_failures(pairs)
    assert mean is not None
    assert (row["mtbf_s"], row["failures"]) == (mean.total_seconds(), failures)
    assert (row["mtbf_s"], row["failures"]) == (3 * HOUR, 2)


def test_figures_follow_the_timeline_and_only_what_changed_is_read_again(
    worked: dict[str, str], commands: Commands, clock: Clock, database: Database
) -> None:
    bring_up_to_date(commands)
    assert stale_count(commands) == 0
    clock.advance(hours=1)
    Casework(commands).reopen(worked["quick"], "The drum jams again", actor="bob")
    assert stale_count(commands) == 1
    assert bring_up_to_date(commands) == 1
    with database.reading() as session:
        row = session.scalar(
            select(IncidentFigures)
            .join(Instance, Instance.id == IncidentFigures.instance_id)
            .where(Instance.number == worked["quick"])
        )
        assert row is not None
        assert (row.open, row.resolve_s, row.reopenings) == (True, None, 1)


def test_only_the_instances_of_incident_workflows_are_counted(
    worked: dict[str, str], commands: Commands, clock: Clock, database: Database
) -> None:
    request = {"item": "laptop", "details": "A new one", "cost": 300, "manager": "sam"}
    commands.start("service-request", request, requester="alice")  # not an incident
    assert stale_count(commands) == 3  # the three incidents, not the request
    board = dashboard(commands, clock)
    assert sum(row[1] for row in board.panels["volume"].rows) == 3
    assert Insight(commands).choices(BOB)["workflow"] == ["it-incident"]

    # A workflow that says its instances are incidents is counted from then on.
    shipped = json.loads((PACK / "service-request.json").read_text())
    with database.writer_session() as session, session.begin():
        publish_document(session, "workflow", {**shipped, "incident": True}, clock(), "dana")
    assert stale_count(commands) == 1
    board = dashboard(commands, clock)
    assert sum(row[1] for row in board.panels["volume"].rows) == 4
    assert Insight(commands).choices(BOB)["workflow"] == ["it-incident", "service-request"]


def test_a_workflow_that_starts_saying_its_instances_are_incidents_after_a_view_counts_them_all(
    worked: dict[str, str], commands: Commands, clock: Clock, database: Database
) -> None:
    """Its instances were updated long before the figures last read: looking only at what
    changed since would leave them out for good, and the dashboard would say it is whole."""
    request = {"item": "laptop", "details": "A new one", "cost": 300, "manager": "sam"}
    commands.start("service-request", request, requester="alice")
    clock.advance(hours=1)
    commands.start("it-incident", INCIDENT, requester="alice")  # the newest figures
    assert sum(row[1] for row in dashboard(commands, clock).panels["volume"].rows) == 4

    shipped = json.loads((PACK / "service-request.json").read_text())
    with database.writer_session() as session, session.begin():
        publish_document(session, "workflow", {**shipped, "incident": True}, clock(), "dana")

    board = dashboard(commands, clock)
    assert sum(row[1] for row in board.panels["volume"].rows) == 5
    assert board.complete
    assert stale_count(commands) == 0


def test_figures_read_in_parts_after_an_upgrade_come_to_every_incident(
    worked: dict[str, str], commands: Commands, clock: Clock, database: Database
) -> None:
    """A read stopped at its budget; the oldest incident was updated last: the next reads
    still find the ones never read, whatever their age."""
    with database.writer_session() as session, session.begin():
        ids = sorted(session.scalars(select(Instance.id)))
        for age, instance_id in enumerate(ids):  # the later the number, the older the update
            older = {"updated_at": clock() - timedelta(days=30 + age)}
            session.execute(update(Instance).where(Instance.id == instance_id).values(older))
    assert len(ids) == 3
    assert bring_up_to_date(commands, most=2) == 2
    clock.advance(hours=1)
    assert bring_up_to_date(commands, most=2) == 1
    assert stale_count(commands) == 0


def test_an_incident_without_a_team_is_its_services_owners_as_the_owner_is_now(
    commands: Commands, clock: Clock, database: Database
) -> None:
    """The major incident names no team: it counts under its service's owner group, and
    under the new one once an admin gives the service another."""
    catalogue = Catalogue(commands)
    fields = {"name": "Payments", "start_data": {}, "owner_group": "network"}
    catalogue.save_service("payments", fields, actor=None, create=True)
    number = str(commands.start("major-incident", MAJOR, requester="alice")["number"])
    on_service(database, number, "payments")
    assert [row[0] for row in dashboard(commands, clock).panels["by_team"].rows] == ["network"]

    catalogue.save_service("payments", {"owner_group": "applications"}, actor=None, create=False)
    board = dashboard(commands, clock)
    assert [row[0] for row in board.panels["by_team"].rows] == ["applications"]
    assert board.complete

    catalogue.delete_service("payments", actor=None)
    assert [row[0] for row in dashboard(commands, clock).panels["by_team"].rows] == ["(none)"]


def test_a_major_incident_counts_under_the_service_its_declaration_files_it_under(
    commands: Commands, clock: Clock
) -> None:
    Catalogue(commands).save_service(
        "payments", {"name": "Payments", "start_data": {}}, actor=None, create=True
    )
    data = {**MAJOR, "main_service": "payments"}
    commands.start("major-incident", data, requester="bob")
    commands.start("major-incident", MAJOR, requester="bob")  # none named
    rows = dashboard(commands, clock, workflow=["major-incident"]).panels["services"].rows
    assert sorted(rows) == [("(none)", 1), ("payments", 1)]


def test_the_worker_reads_the_figures_of_changed_incidents_before_anyone_looks(
    worked: dict[str, str], commands: Commands, database_url: str, redis: Redis, redis_url: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    assert stale_count(commands) == 3
    assert any(job.func is refresh_figures for job in periodic(redis).get_jobs())
    Queue(timers.QUEUE, connection=redis).enqueue(refresh_figures)

    with worker_process(database_url, redis_url, tmp_path / "worker.log", "--burst") as worker:
        assert worker.process.wait(timeout=60) == 0, worker.output()[-4000:]

    assert stale_count(commands) == 0


def test_a_view_reads_at_most_its_budget_of_figures_and_says_the_rest_are_left_out(
    worked: dict[str, str], commands: Commands, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert stale_count(commands) == 3
    assert bring_up_to_date(commands, most=1) == 1
    assert stale_count(commands) == 2
    monkeypatch.setattr(insight, "VIEW_BUDGET", 1)  # as after an upgrade, on a large desk
    first = dashboard(commands, clock)  # reads one more: one is left out
    assert not first.complete
    assert sum(row[1] for row in first.panels["by_service"].rows) == 2
    second = dashboard(commands, clock)  # reads the last one
    assert second.complete
    assert sum(row[1] for row in second.panels["by_service"].rows) == 3


def test_only_the_service_desk_sees_the_dashboards(commands: Commands, clock: Clock) -> None:
    with commands.database.writer_session() as session, session.begin():
        ensure_user(session, "rita", clock(), roles=["requester"])
    with pytest.raises(NotAllowed, match="only the service desk"):
        Insight(commands).dashboard(RITA, read_filters({}, clock().date()))


def test_bad_filters_say_where_and_why() -> None:
    with pytest.raises(InvalidInput) as caught:
        read_filters(
            {"from": ["2026-13-01"], "bucket": ["month"], "colour": ["red"]}, date(2026, 12, 6)
        )
    where = sorted(problem.pointer for problem in caught.value.problems)
    assert where == ["/bucket", "/colour", "/from"]
    with pytest.raises(InvalidInput, match="a date is from"):
        read_filters({"to": ["9999-12-31"]}, date(2026, 12, 6))
    with pytest.raises(InvalidInput, match="control character"):
        read_filters({"team": ["desk\x00"]}, date(2026, 12, 6))
    with pytest.raises(InvalidInput, match="starts"):
        read_filters({"from": ["2026-12-07"], "to": ["2026-12-01"]}, date(2026, 12, 6))
    found = read_filters({"priority": ["P1", "P1", " "]}, date(2026, 12, 6))
    assert found == Filters(date(2026, 11, 7), date(2026, 12, 6), priority=("P1",))
    assert found.end - found.start == timedelta(days=29)
