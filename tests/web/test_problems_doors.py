"""Problems and recurring incidents through their doors: the desk's pages, the API, the CLI.

The rules themselves are proved in tests/integration/test_problems.py and
test_recurring.py; here each door shows that it reaches them and says their refusals.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from html import unescape
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import func, select

from engine.service.commands import Commands
from engine.service.people import ensure_user
from engine.service.problems import Problems
from engine.service.tokens import issue_token
from engine.store.database import Database
from engine.store.instances import Instance
from tests.infrastructure import INCIDENT, Clock, give_password
from tests.web.test_inbox import PASSWORD, make_team, open_task, post, signed_in
from web.cli import main

#: Three reports of one jammed printer.
ALIKE = (
    ("Printer jammed on floor 3", "The printer on the third floor jams on every print job."),
    ("Floor 3 printer jammed again", "Paper jammed in the printer, tray 2."),
    ("Jammed printer", "It says paper jam; the printer blinks red."),
)
REASON = "3 incidents in the category 'hardware' in 7 days, all about 'jammed' and 'printer'"


@pytest.fixture
def desk(app: Flask, database: Database, commands: Commands, clock: Clock) -> Commands:
    """The pack's team signing in, and pia of problem-management."""
    with database.writer_session() as session, session.begin():
        ensure_user(session, "pia", clock(), groups=["problem-management"])
        give_password(session, "pia", PASSWORD)
    return make_team(app, database, commands, clock)


def reports(commands: Commands, texts: Any = ALIKE) -> list[str]:
    return [
        str(
            commands.start(
                "it-incident",
                {**INCIDENT, "summary": summary, "description": text},
                requester="alice",
            )["number"]
        )
        for summary, text in texts
    ]


def instances(database: Database) -> int:
    with database.reading() as session:
        return int(session.scalar(select(func.count()).select_from(Instance)) or 0)


def token(database: Database, username: str) -> dict[str, str]:
    with database.writer_session() as session, session.begin():
        secret = issue_token(session, username, "tests", datetime.now(UTC))[1]
    return {"Authorization": f"Bearer {secret}"}


# The pages ------------------------------------------------------------------------------------


def test_the_problems_page_proposes_recurring_incidents_and_opens_a_problem_with_them(
    app: Flask, desk: Commands
) -> None:
    numbers = reports(desk)
    bob = signed_in(app, "bob")
    assert 'href="/problems"' in bob.get("/inbox").text  # the desk's menu leads here
    page = bob.get("/problems")
    assert page.status_code == 200
    assert REASON in unescape(page.text)
    assert all(number in page.text for number in numbers)
    opened = post(bob, "/problems", back="problems", incident=numbers, title="Printer jams")
    assert opened.status_code == 303
    assert opened.location.endswith("/instances/PRB-000001")
    problem = bob.get("/instances/PRB-000001").text
    assert "Incidents of this problem" in problem
    assert all(number in problem for number in numbers)
    incident = bob.get(f"/instances/{numbers[0]}").text
    assert "PRB-000001" in incident
    assert "Printer jams" in incident
    again = unescape(bob.get("/problems").text)
    assert REASON not in again  # linked now: never proposed again
    assert "PRB-000001" in again  # among the open problems
    assert bob.get("/problems?days=0").status_code == 400


def test_the_incident_page_opens_links_and_unlinks_and_says_each_refusal_in_place(
    app: Flask, desk: Commands, database: Database
) -> None:
    one, two = reports(desk, ALIKE[:2])
    bob = signed_in(app, "bob")
    page = bob.get(f"/instances/{one}").text
    assert "Open a problem" in page
    assert "Link to a problem" in page
    opened = post(bob, "/problems", back=one, incident=one, title="Printer jams")
    assert opened.location.endswith("/instances/PRB-000001")
    linked = post(bob, "/problems/link", back=two, incident=two, problem="prb-000001")
    assert linked.status_code == 303
    assert linked.location.endswith(f"/instances/{two}#problem")
    refused = post(bob, "/problems/link", back=two, incident=two, problem="PRB-000001")
    assert refused.status_code == 409
    assert f"{two} is already linked to the problem PRB-000001" in refused.text
    Problems(desk).record("PRB-000001", "Worn rollers", "Use tray 1", actor="pia")
    shown = bob.get(f"/instances/{two}").text
    assert "Worn rollers" in shown
    assert "Use tray 1" in shown
    unlinked = post(bob, "/problems/unlink", back="PRB-000001", problem="PRB-000001", incident=two)
    assert unlinked.location.endswith("/instances/PRB-000001#problem")
    assert "No problem is linked" in bob.get(f"/instances/{two}").text
    before = instances(database)
    rita = signed_in(app, "rita")
    assert post(rita, "/problems", back="problems", incident=two).status_code == 403
    assert rita.get("/problems").status_code == 403
    assert instances(database) == before


def test_a_problem_resolved_on_its_task_page_tells_the_owner_of_its_incident(
    app: Flask, desk: Commands, database: Database
) -> None:
    [number] = reports(desk, ALIKE[:1])
    holder = open_task(database, number).assignee
    problems = Problems(desk)
    problem = str(problems.open([number], actor="bob", title="Printer jams")["number"])
    problems.record(problem, "Worn rollers", "Use tray 1", actor="pia")
    fix = open_task(database, problem)
    done = post(
        signed_in(app, "pia"),
        f"/tasks/{fix.id}/complete",
        outcome="resolved",
        **{f"t{fix.id}.resolution": "New rollers"},
    )
    assert done.status_code in (302, 303)
    bell = signed_in(app, str(holder)).get("/notifications").text
    assert f"The problem {problem} (Printer jams) is resolved: New rollers" in bell


# The API --------------------------------------------------------------------------------------


def test_the_api_opens_links_records_and_resolves_a_problem(
    app: Flask, desk: Commands, database: Database
) -> None:
    one, two = reports(desk, ALIKE[:2])
    client, bob, pia = app.test_client(), token(database, "bob"), token(database, "pia")
    made = client.post("/api/v1/problems", json={"incidents": [one]}, headers=bob)
    assert made.status_code == 201
    assert made.headers["Location"].endswith("/api/v1/problems/PRB-000001")
    body = made.get_json()
    assert (body["status"], [i["number"] for i in body["incidents"]]) == ("investigating", [one])
    linked = client.post("/api/v1/problems/PRB-000001/incidents", json={"number": two}, headers=bob)
    assert [i["number"] for i in linked.get_json()["incidents"]] == [one, two]
    twice = client.post("/api/v1/problems/PRB-000001/incidents", json={"number": two}, headers=bob)
    assert twice.status_code == 409
    assert "already linked to the problem PRB-000001" in twice.get_json()["message"]
    of = client.get(f"/api/v1/instances/{two}/problem", headers=bob).get_json()
    assert of["problem"]["number"] == "PRB-000001"
    gone = client.delete(f"/api/v1/problems/PRB-000001/incidents/{two}", headers=bob)
    assert [i["number"] for i in gone.get_json()["incidents"]] == [one]
    assert client.get(f"/api/v1/instances/{two}/problem", headers=bob).get_json() == {
        "problem": None
    }
    known = "/api/v1/problems/PRB-000001/known-error"
    cause = {"root_cause": "Worn rollers", "workaround": "Use tray 1"}
    assert client.post(known, json=cause, headers=bob).status_code == 403  # not the task's group
    empty = client.post(known, json={**cause, "workaround": ""}, headers=pia)
    assert empty.status_code == 422
    assert empty.get_json()["errors"][0]["pointer"] == "/workaround"
    recorded = client.post(known, json={**cause, "publish_workaround": True}, headers=pia)
    assert recorded.get_json()["status"] == "known_error"
    resolved = client.post(
        "/api/v1/problems/PRB-000001/resolve", json={"resolution": "New rollers"}, headers=pia
    )
    assert (resolved.get_json()["status"], resolved.get_json()["ended"]) == ("resolved", True)
    rita = token(database, "rita")
    refused = client.post("/api/v1/problems", json={"incidents": [two]}, headers=rita)
    assert refused.status_code == 403


def test_the_api_lists_recurring_incidents_with_why(
    app: Flask, desk: Commands, database: Database
) -> None:
    numbers = reports(desk)
    client, bob = app.test_client(), token(database, "bob")
    found = client.get("/api/v1/recurring", headers=bob).get_json()
    assert (found["days"], found["at_least"]) == (7, 3)
    [proposal] = found["proposals"]
    assert (proposal["rule"], proposal["reason"]) == ("category", REASON)
    assert [i["number"] for i in proposal["incidents"]] == numbers
    assert client.get("/api/v1/recurring?at_least=4", headers=bob).get_json()["proposals"] == []
    assert client.get("/api/v1/recurring?days=0", headers=bob).status_code == 400


# The command line -----------------------------------------------------------------------------


@pytest.fixture
def flowdesk(database_url: str, desk: Commands, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("FLOWDESK_DATABASE_URL", database_url)
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(main, list(args))
        assert result.exit_code == code, result.output
        return result.output

    return run


def test_the_command_line_lists_recurring_incidents_and_works_a_problem_through(
    flowdesk: Any,
) -> None:
    numbers = []
    for summary, text in ALIKE:  # started now, by the real clock the command line reads
        data = json.dumps({**INCIDENT, "summary": summary, "description": text})
        numbers.append(flowdesk("start", "it-incident", "--as", "alice", "--data", data).strip())
    listed = flowdesk("recurring", "--as", "bob")
    assert REASON in listed
    assert f"open it: flowdesk problem open {' '.join(numbers)} --as bob" in listed
    assert "not" in flowdesk("recurring", "--as", "rita", code=3)
    opened = flowdesk("problem", "open", *numbers, "--title", "Printer jams", "--as", "bob")
    assert opened.startswith("PRB-000001  investigating  Printer jams")
    refused = flowdesk("problem", "open", numbers[0], "--as", "bob", code=5)
    assert f"{numbers[0]} is already linked to the problem PRB-000001" in refused
    flowdesk("problem", "unlink", "PRB-000001", numbers[0], "--as", "rita", code=3)
    assert numbers[0] not in flowdesk("problem", "unlink", "PRB-000001", numbers[0], "--as", "bob")
    assert numbers[0] in flowdesk("problem", "link", "PRB-000001", numbers[0], "--as", "bob")
    assert "PRB-000001" in flowdesk("problem", "show", numbers[0])
    flowdesk(
        "problem",
        "known-error",
        "PRB-000001",
        "--root-cause",
        "Worn rollers",
        "--workaround",
        "Use tray 1",
        "--as",
        "pia",
    )
    done = flowdesk(
        "problem", "resolve", "PRB-000001", "--resolution", "New rollers", "--as", "pia"
    )
    assert done.startswith("PRB-000001  resolved  Printer jams")
    assert "resolution: New rollers" in done
    flowdesk("recurring", "--as", "bob", "--days", "0", code=2)


def test_the_command_line_refuses_a_window_in_its_variable_that_is_no_count(
    flowdesk: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FLOWDESK_RECURRING_DAYS=-5 was passed over in silence and the default 7 used; the web
    app now refuses it as it starts, and the command line says so too."""
    monkeypatch.setenv("FLOWDESK_RECURRING_DAYS", "-5")
    said = flowdesk("recurring", "--as", "bob", code=1)
    assert "FLOWDESK_RECURRING_DAYS='-5' must be greater than 0" in said
    assert "--days" in flowdesk("recurring", "--help")
