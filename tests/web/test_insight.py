"""The dashboards through their doors: the page with its SVG charts and tables, the CSV of a
table, and the API; the service desk only."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from flask import Flask
from sqlalchemy import update

from engine.service.catalogue import Catalogue
from engine.service.commands import Commands
from engine.service.tokens import issue_token
from engine.store.database import Database
from engine.store.instances import Instance
from tests.infrastructure import INCIDENT, Clock
from tests.web.test_inbox import open_task, signed_in, team
from web.insight.charts import duration

__all__ = ["team"]


def incidents(commands: Commands, database: Database, clock: Clock) -> list[str]:
    """Two printing incidents (one resolved in 90 min) and one on the VPN."""
    made = []
    for service, summary in (("printing", "=HYPERLINK(evil)"), ("printing", "Jam"), ("vpn", "VPN")):
        data = {**INCIDENT, "summary": summary}
        number = str(commands.start("it-incident", data, requester="alice")["number"])
        with database.writer_session() as session, session.begin():
            session.execute(
                update(Instance).where(Instance.number == number).values(service_key=service)
            )
        made.append(number)
    clock.advance(minutes=90)
    work = open_task(database, made[0])
    commands.complete(work.id, "resolved", {"resolution": "Drum"}, actor=str(work.assignee))
    return made


def test_an_agent_filters_the_dashboard_to_one_service_and_reads_charts_and_numbers(
    app: Flask, team: Commands, database: Database, clock: Clock
) -> None:
    incidents(team, database, clock)
    Catalogue(team).save_service(
        "printing", {"name": "Printers", "start_data": {}}, actor=None, create=True
    )
    bob = signed_in(app, "bob")
    page = bob.get("/insight?service=printing")
    assert page.status_code == 200
    html = page.text
    assert 'href="/insight"' in bob.get("/inbox").text  # the desk's menu leads here
    assert '<option value="printing" selected>Printers</option>' in html  # said by its name
    assert html.count('<svg role="img"') >= 8
    # The chart's bar says its number in text; its table follows with the same figure.
    assert "1 h 30 min" in html
    assert '<th scope="row">Printers</th>' in html
    assert '<th scope="row">vpn</th>' not in html
    assert "Download “Times by service” as CSV" in html


def test_a_table_downloads_as_csv_with_formula_cells_defused(
    app: Flask, team: Commands, database: Database, clock: Clock
) -> None:
    made = incidents(team, database, clock)
    bob = signed_in(app, "bob")
    answer = bob.get("/insight/by_service.csv?service=printing")
    assert answer.status_code == 200
    assert answer.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(answer.text)))
    assert rows[0][:4] == ["Service", "Incidents", "Acknowledged", "MTTA (hours)"]
    assert rows[1][:2] == ["printing", "2"]
    assert rows[1][5] == "1.50"  # MTTR, hours
    # Answered after 90 min of its 1 h: a breach, listed with a title no spreadsheet runs.
    breaches = list(csv.reader(io.StringIO(bob.get("/insight/breaches.csv").text)))
    assert [(row[0], row[1], row[5]) for row in breaches[1:]] == [
        (made[0], "'=HYPERLINK(evil)", "breached")
    ]
    assert bob.get("/insight/nothing.csv").status_code == 404


def test_bad_filters_are_named_on_the_page_and_refused_by_the_api(
    app: Flask, team: Commands, database: Database
) -> None:
    bob = signed_in(app, "bob")
    page = bob.get("/insight?from=2026-02-30&bucket=year")
    assert page.status_code == 400
    assert "is not a date like 2026-12-31" in page.text
    assert "is not a bucket" in page.text
    token = _token(database, "bob")
    answer = app.test_client().get("/api/v1/insight?to=soon", headers=token)
    assert answer.status_code == 422
    refused = answer.get_json()
    assert refused["errors"][0]["pointer"] == "/to"
    unknown = app.test_client().get("/api/v1/insight?panel=nope", headers=token)
    assert unknown.status_code == 422
    assert "there is no panel 'nope'" in unknown.get_json()["message"]


def test_the_api_answers_the_panels_asked_for_in_seconds(
    app: Flask, team: Commands, database: Database, clock: Clock
) -> None:
    incidents(team, database, clock)
    answer = app.test_client().get(
        "/api/v1/insight?panel=by_service&panel=backlog&service=printing",
        headers=_token(database, "bob"),
    )
    assert answer.status_code == 200
    body = answer.get_json()
    assert sorted(body["panels"]) == ["backlog", "by_service"]
    (printing,) = body["panels"]["by_service"]["rows"]
    assert (printing["key"], printing["mttr_s"], printing["resolved"]) == ("printing", 5400.0, 1)
    assert body["filters"]["service"] == ["printing"]


def test_requesters_get_no_dashboards_at_any_door(
    app: Flask, team: Commands, database: Database
) -> None:
    rita = signed_in(app, "rita")
    assert rita.get("/insight").status_code == 403
    assert rita.get("/insight/sla.csv").status_code == 403
    assert 'href="/insight"' not in rita.get("/").text
    answer = app.test_client().get("/api/v1/insight", headers=_token(database, "rita"))
    assert answer.status_code == 403
    assert app.test_client().get("/insight").status_code in (302, 401)


def _token(database: Database, username: str) -> dict[str, str]:
    with database.writer_session() as session, session.begin():
        secret = issue_token(session, username, "tests", datetime.now(UTC))[1]
    return {"Authorization": f"Bearer {secret}"}


def test_a_duration_under_a_minute_is_said_in_seconds_not_as_no_time() -> None:
    """A major incident acknowledged in 7 s read "0 min" on the dashboard."""
    assert [duration(s) for s in (6.9, 26.9, 59.4, 60, 90 * 60)] == [
        "7 s",
        "27 s",
        "59 s",
        "1 min",
        "1 h 30 min",
    ]
