"""The Insight dashboards in a real browser: a manager filters to one service, exports CSV.

The incidents are made through the service layer beforehand, on two services; the desk
agent then uses only the page's labels, its Show button and its download link.
"""

from __future__ import annotations

import csv
import io
import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import update

from engine.service.commands import Commands
from engine.store.database import Database
from engine.store.instances import Instance
from tests.e2e.conftest import Problems, blocking_violations
from tests.infrastructure import INCIDENT, give_password

PASSWORD = "correct horse battery"


@pytest.fixture
def incidents(commands: Commands, database: Database) -> dict[str, list[str]]:
    """Two printing incidents and one VPN incident, started today; bob signs in."""
    made: dict[str, list[str]] = {"printing": [], "vpn": []}
    for service in ("printing", "printing", "vpn"):
        number = str(commands.start("it-incident", dict(INCIDENT), requester="alice")["number"])
        made[service].append(number)
    with database.writer_session() as session, session.begin():
        give_password(session, "bob", PASSWORD)
        for service, numbers in made.items():
            session.execute(
                update(Instance).where(Instance.number.in_(numbers)).values(service_key=service)
            )
    return made


def by_service(page: Page) -> dict[str, str]:
    """The "Times by service" table: each service's number of incidents."""
    table = page.get_by_role("table", name="Times by service — the numbers")
    rows = table.locator("tbody tr")
    return {
        rows.nth(i).locator("th").inner_text(): rows.nth(i).locator("td").first.inner_text()
        for i in range(rows.count())
    }


def test_a_manager_filters_the_dashboard_to_one_service_and_exports_its_rows(
    page: Page, problems: Problems, incidents: dict[str, list[str]]
) -> None:
    page.goto("/insight")
    page.get_by_label("Username").fill("bob")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Insight")
    expect(page.get_by_role("table", name="Times by service — the numbers")).to_contain_text("vpn")
    assert by_service(page) == {"printing": "2", "vpn": "1"}
    assert blocking_violations(page, "insight") == []

    page.get_by_label("Service", exact=True).select_option("printing")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"[?&]service=printing(&|$)"))
    expect(page.get_by_label("Service", exact=True)).to_have_value("printing")
    table = page.get_by_role("table", name="Times by service — the numbers")
    expect(table).not_to_contain_text("vpn")
    assert by_service(page) == {"printing": "2"}
    assert blocking_violations(page, "insight, one service") == []

    with page.expect_download() as downloading:
        page.get_by_role("link", name="Download “Times by service” as CSV").click()
    path = downloading.value.path()
    assert path is not None
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
    assert rows[0][:2] == ["Service", "Incidents"]
    assert [row[:2] for row in rows[1:]] == [["printing", "2"]]
    assert problems.all() == []
