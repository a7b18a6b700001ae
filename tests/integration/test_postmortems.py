"""Postmortems of major incidents through the service layer, on SQLite and PostgreSQL.

The incident is worked for real (`tests.major_incidents`): the draft is read off its
timeline, its SLA clocks and the alert of the incident linked to it.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from engine.service.casework import Casework
from engine.service.catalogue import Catalogue
from engine.service.commands import Commands
from engine.service.errors import Conflict, InvalidInput, NotAllowed, NotFound, TooLarge
from engine.service.figures import bring_up_to_date
from engine.service.intake import Intake
from engine.service.people import ensure_user
from engine.service.postmortem_text import render
from engine.service.postmortems import ACTION_ITEM, Postmortems
from engine.service.queries import instance_view, open_tasks
from engine.store.database import Database
from engine.store.insight import IncidentFigures
from engine.store.instances import Instance, Task
from engine.store.postmortems import Postmortem
from tests import intake_payloads as payloads
from tests.infrastructure import INCIDENT, Clock
from tests.major_incidents import declare, resolve

MONITORING = {
    "name": "Monitoring",
    "email": "monitoring@example.org",
    "category": "hardware",
    "impact": "low",
    "urgency": "low",
}


@pytest.fixture
def postmortems(commands: Commands) -> Postmortems:
    return Postmortems(commands)


@pytest.fixture
def resolved(commands: Commands, database: Database, clock: Clock) -> str:
    """A resolved major incident, related to the incident an Alertmanager alert opened."""
    catalogue = Catalogue(commands)
    catalogue.save_service(
        "payments", {"name": "Payments", "start_data": MONITORING}, actor=None, create=True
    )
    token = catalogue.add_integration("payments", "alertmanager", "prod", actor=None)[1]
    body = payloads.alertmanager()
    alerted = Intake(commands).receive("alertmanager", token, json.dumps(body).encode(), body)
    assert alerted.number is not None
    number = declare(commands)
    Casework(commands).link(number, alerted.number, actor="bob")
    resolve(commands, database, number, lambda minutes: clock.advance(minutes=minutes))
    clock.advance(minutes=10)
    return number


def count(database: Database, model: Any, *where: Any) -> int:
    with database.reading() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def test_a_draft_tells_what_happened_when_who_acted_the_sla_outcome_and_linked_alerts(
    postmortems: Postmortems, resolved: str
) -> None:
    found = postmortems.draft(resolved, actor="ivy")
    body = found.body
    assert body.startswith(f"# Postmortem: {resolved} MAJOR: Payments are down")
    for section in ("Summary", "Impact", "SLA outcome", "Timeline", "Root cause"):
        assert f"\n## {section}\n" in body
    assert "\n## What went well\n" in body
    assert "\n## What went badly\n" in body
    assert "- Customers: Nobody can pay." in body
    assert "2026-11-23 08:03 UTC: Took “Write the recovery plan” (ivy)" in body
    assert "2026-11-23 08:08 UTC: Completed “Write the recovery plan”: done (ivy)" in body
    assert "Voted approved on “Review the recovery plan” (sam)" in body
    assert "Completed “Carry out the recovery plan”: done (ike)" in body
    assert "Who acted: bob, ivy, sam, cole, ike." in body
    assert "- Response: **met** (target 15 min; acknowledged after 3 min of open time)" in body
    assert "- Resolution: **breached** (target 4h; resolved after 4h43 of open time)" in body
    assert "- Alert from alertmanager (trigger" in body
    assert "BlackBox Probe Failure: https://server.example.org" in body
    assert "- Related: INC-000001" in body
    assert "Failed over to the spare database; the primary's disk was full" in body
    assert (found.revision, found.created_by, found.actions) == (1, "ivy", [])
    assert [(r.revision, r.saved_by) for r in found.revisions] == [(1, "ivy")]


def test_the_sla_outcome_is_the_one_insight_counts(
    postmortems: Postmortems, commands: Commands, database: Database, resolved: str
) -> None:
    body = postmortems.draft(resolved, actor="ivy").body
    bring_up_to_date(commands)
    with database.reading() as session:
        figures = session.execute(
            select(IncidentFigures.response, IncidentFigures.resolution, IncidentFigures.ack_s)
            .join(Instance, Instance.id == IncidentFigures.instance_id)
            .where(Instance.number == resolved)
        ).one()
    assert (figures.response, figures.resolution) == ("met", "breached")
    assert f"- Response: **{figures.response}**" in body
    assert f"acknowledged after {int(figures.ack_s // 60)} min" in body


def test_drafting_is_recorded_on_the_timeline(
    postmortems: Postmortems, database: Database, resolved: str
) -> None:
    postmortems.draft(resolved, actor="ivy")
    with database.reading() as session:
        last = instance_view(session, resolved).events[-1]
    assert (last.kind, last.actor) == ("postmortem_drafted", "ivy")


def test_only_a_resolved_major_incident_has_a_postmortem_drafted_once(
    postmortems: Postmortems, commands: Commands, database: Database, resolved: str
) -> None:
    incident = str(commands.start("it-incident", dict(INCIDENT), requester="alice")["number"])
    with pytest.raises(InvalidInput, match=f"{incident} is not a major incident"):
        postmortems.draft(incident, actor="bob")
    still_open = declare(commands)
    with pytest.raises(Conflict, match="is still planning: its postmortem is drafted once"):
        postmortems.draft(still_open, actor="bob")
    dropped = declare(commands)
    Casework(commands).cancel(dropped, "A false alarm", actor="bob")
    with pytest.raises(Conflict, match="has no postmortem: it was cancelled"):
        postmortems.draft(dropped, actor="bob")
    with pytest.raises(NotFound, match="there is no instance MAJ-999999"):
        postmortems.draft("MAJ-999999", actor="bob")
    assert count(database, Postmortem) == 0
    postmortems.draft(resolved, actor="bob")
    with pytest.raises(Conflict, match="already has a postmortem; edit it instead"):
        postmortems.draft(resolved, actor="ivy")
    assert count(database, Postmortem) == 1
    assert postmortems.postmortem(still_open, actor="bob") is None


def test_only_the_service_desk_writes_and_reads_postmortems(
    postmortems: Postmortems, database: Database, clock: Clock, resolved: str
) -> None:
    with database.writer_session() as session, session.begin():
        ensure_user(session, "rita", clock(), roles=["requester"])
    refused = "only the service desk writes and reads postmortems, and rita is not on it"
    with pytest.raises(NotAllowed, match=refused):
        postmortems.draft(resolved, actor="rita")
    assert count(database, Postmortem) == 0
    drafted = postmortems.draft(resolved, actor="bob")
    with pytest.raises(NotAllowed, match=refused):
        postmortems.postmortem(resolved, actor="rita")
    with pytest.raises(NotAllowed, match=refused):
        postmortems.save(resolved, "# Mine", drafted.revision, actor="rita")
    with pytest.raises(NotAllowed, match=refused):
        postmortems.add_action(resolved, "Alarm", due=date(2026, 12, 1), actor="rita", owner="sam")
    with pytest.raises(NotAllowed, match=refused):
        postmortems.export(resolved, actor="rita")
    kept = postmortems.postmortem(resolved, actor="bob")
    assert kept is not None
    assert (kept.body, kept.revision, kept.actions) == (drafted.body, 1, [])


def test_edits_are_kept_by_revision_and_a_save_over_a_newer_one_is_a_conflict(
    postmortems: Postmortems, clock: Clock, resolved: str
) -> None:
    drafted = postmortems.draft(resolved, actor="bob")
    clock.advance(minutes=5)
    ivys = postmortems.save(resolved, "# Postmortem\n\nThe disk filled up.", 1, actor="ivy")
    assert (ivys.revision, ivys.updated_by, ivys.body) == (
        2,
        "ivy",
        "# Postmortem\n\nThe disk filled up.\n",
    )
    with pytest.raises(Conflict, match="ivy saved revision 2, and yours started from revision 1"):
        postmortems.save(resolved, drafted.body + "\nCole's lines", 1, actor="cole")
    clock.advance(minutes=5)
    coles = postmortems.save(resolved, ivys.body + "\nCole's lines", 2, actor="cole")
    assert coles.revision == 3
    assert coles.body.endswith("\nCole's lines\n")
    assert [(r.revision, r.saved_by) for r in coles.revisions] == [
        (3, "cole"),
        (2, "ivy"),
        (1, "bob"),
    ]
    assert coles.revisions[0].saved_at - coles.revisions[1].saved_at == timedelta(minutes=5)
    with pytest.raises(InvalidInput, match="the postmortem cannot be empty"):
        postmortems.save(resolved, "  \n ", 3, actor="cole")
    with pytest.raises(TooLarge, match="the limit is 100000"):
        postmortems.save(resolved, "x" * 100_001, 3, actor="cole")
    with pytest.raises(NotFound, match="there is no instance MAJ-999999"):
        postmortems.save("MAJ-999999", "# New", 1, actor="cole")
    kept = postmortems.postmortem(resolved, actor="bob")
    assert kept is not None
    assert (kept.revision, kept.body) == (3, coles.body)


def test_action_items_become_tasks_in_their_assignees_inbox_due_on_their_day(
    postmortems: Postmortems, commands: Commands, database: Database, resolved: str
) -> None:
    postmortems.draft(resolved, actor="ivy")
    alarm = postmortems.add_action(
        resolved, "Alert on disk usage at 80%", due=date(2026, 12, 4), actor="ivy", owner="sam"
    )
    drill = postmortems.add_action(
        resolved, "Rehearse the fail-over", due=date(2026, 12, 11), actor="ivy", group="network"
    )
    assert (alarm.number, alarm.who, alarm.state) == ("ACT-000001", "sam", "open, with sam")
    assert (drill.who, drill.state) == ("the network queue", "open, in the queue")
    with database.reading() as session:
        (sams,) = [t for t in open_tasks(session, "sam") if t.title.startswith("Action item")]
        (erins,) = [t for t in open_tasks(session, "erin") if t.title.startswith("Action item")]
        parent = session.scalar(select(Instance.parent_id).where(Instance.number == "ACT-000001"))
        incident = session.scalar(select(Instance.id).where(Instance.number == resolved))
    assert sams.title == "Action item ACT-000001: Alert on disk usage at 80%"
    assert sams.due_at == datetime(2026, 12, 4, 23, 59, tzinfo=UTC)
    assert (erins.candidate_group, erins.assignee) == ("network", None)
    assert erins.due_at == datetime(2026, 12, 11, 23, 59, tzinfo=UTC)
    assert parent == incident

    commands.complete(sams.id, "done", {"done_notes": "Alert added"}, actor="sam")
    found = postmortems.postmortem(resolved, actor="cole")
    assert found is not None
    assert [(item.number, item.state) for item in found.actions] == [
        ("ACT-000001", "done (sam)"),
        ("ACT-000002", "open, in the queue"),
    ]
    document = found.document()
    assert "| ACT-000001 | Alert on disk usage at 80% | sam | 2026-12-04 | done (sam) |" in document
    assert "| ACT-000002 | Rehearse the fail-over | the network queue | 2026-12-11 |" in document
    with database.reading() as session:
        last = instance_view(session, resolved).events[-1]
    assert (last.kind, last.why) == (
        "action_item_added",
        "ACT-000002: Rehearse the fail-over, for network, due 2026-12-11",
    )


def test_an_action_item_that_cannot_be_given_is_refused_and_nothing_starts(
    postmortems: Postmortems, commands: Commands, database: Database, resolved: str
) -> None:
    day = date(2026, 12, 4)
    with pytest.raises(Conflict, match="has no postmortem yet; draft it first"):
        postmortems.add_action(resolved, "Alarm", due=day, actor="ivy", owner="sam")
    postmortems.draft(resolved, actor="ivy")
    both = "give the action item to a person or to a team, not both and not neither"
    with pytest.raises(InvalidInput, match=both):
        postmortems.add_action(
            resolved, "Alarm", due=day, actor="ivy", owner="sam", group="network"
        )
    with pytest.raises(InvalidInput, match=both):
        postmortems.add_action(resolved, "Alarm", due=day, actor="ivy")
    with pytest.raises(InvalidInput, match="the action item cannot be empty"):
        postmortems.add_action(resolved, "  ", due=day, actor="ivy", owner="sam")
    with pytest.raises(InvalidInput) as unknown:
        postmortems.add_action(resolved, "Alarm", due=day, actor="ivy", owner="nobody")
    assert [problem.pointer for problem in unknown.value.problems] == ["/owner"]
    with pytest.raises(InvalidInput, match="there is no team \\(group\\) 'ghosts'"):
        postmortems.add_action(resolved, "Alarm", due=day, actor="ivy", group="ghosts")
    with pytest.raises(InvalidInput, match="the due day 2026-11-01 has passed"):
        postmortems.add_action(resolved, "Alarm", due=date(2026, 11, 1), actor="ivy", owner="sam")
    it = str(commands.start("it-incident", dict(INCIDENT), requester="alice")["number"])
    with pytest.raises(InvalidInput, match="not a major incident"):
        postmortems.add_action(it, "Alarm", due=day, actor="ivy", owner="sam")
    assert count(database, Instance, Instance.workflow_key == ACTION_ITEM) == 0
    assert count(database, Task, Task.title.like("Action item%")) == 0


def test_exports_are_the_whole_document_in_markdown_and_a_printable_page(
    postmortems: Postmortems, resolved: str
) -> None:
    drafted = postmortems.draft(resolved, actor="ivy")
    text = "# Postmortem\n\n<script>alert(1)</script>\n\n[Runbook](javascript:alert(1))\n"
    postmortems.save(resolved, text, drafted.revision, actor="ivy")
    postmortems.add_action(resolved, "Alarm", due=date(2026, 12, 4), actor="ivy", owner="sam")
    markdown = postmortems.export(resolved, actor="cole")
    assert markdown.startswith(text)
    assert "## Action items\n\n| Action item | What | Who | Due | State |" in markdown
    assert "| ACT-000001 | Alarm | sam | 2026-12-04 | open, with sam |" in markdown
    page = postmortems.export(resolved, actor="cole", form="html")
    assert page.startswith("<!doctype html>")
    assert "@page { size: A4;" in page
    assert "<title>Postmortem of MAJ-000001</title>" in page
    assert "<h2>Action items</h2>" in page
    assert "<td>ACT-000001</td>" in page
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert 'href="javascript:' not in page
    with pytest.raises(InvalidInput, match="there is no export 'pdf'; choose markdown or html"):
        postmortems.export(resolved, actor="cole", form="pdf")


def test_markdown_renders_without_raw_html_or_script_links() -> None:
    html = render(
        "## Cause\n\n<img src=x onerror=alert(1)> **full disk**\n\n"
        "[a](javascript:alert(1)) [b](vbscript:x) [c](https://example.org/runbook)\n\n"
        "| When | What |\n|---|---|\n| 08:00 | Declared |\n"
    )
    assert "<h2>Cause</h2>" in html
    assert "&lt;img src=x onerror=alert(1)&gt; <strong>full disk</strong>" in html
    assert '<a href="https://example.org/runbook">c</a>' in html
    assert "javascript:" not in html.replace("[a](javascript:alert(1))", "")
    assert '<a href="vbscript' not in html
    assert "<td>Declared</td>" in html
