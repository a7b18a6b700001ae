"""An admin mends an instance stopped by its own data from its page, in a real Chromium: the
correction refused says why at the boxes, and the one taken lets the stopped step go on."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from playwright.sync_api import Page, expect

from engine.catalog import Document
from engine.service.commands import Commands
from engine.service.definitions import publish_all
from engine.service.people import ensure_user
from engine.store.database import Database
from tests.e2e.conftest import Problems, blocking_violations
from tests.infrastructure import give_password
from tests.web.test_retry_corrections import SPLIT, SPLIT_FORM, data_of, stops

PASSWORD = "correct horse battery"
#: The page answering a correction it refuses (the browser says so in its console).
REFUSED = "the server responded with a status of 422"


def test_an_admin_corrects_a_value_on_the_instance_page_and_the_step_goes_on(
    page: Page, problems: Problems, database: Database, commands: Commands
) -> None:
    problems.expect(REFUSED)
    now = datetime.now(UTC)
    documents = [Document(Path("split-request.json"), SPLIT_FORM), Document(Path("s.json"), SPLIT)]
    with database.writer_session() as session, session.begin():
        publish_all(session, documents, now, "test")
        ensure_user(session, "ada", now, roles=["admin"])
        ensure_user(session, "maria", now)
        give_password(session, "ada", PASSWORD)
    data = {"budget": 1200, "heads": 0, "approver": "maria", "note": "Team lunch"}
    number = str(commands.start("split", data, requester="ada")["number"])

    page.goto(f"/instances/{number}")
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    stopped = page.get_by_role("alert", name="Stopped on an incident")
    expect(stopped).to_contain_text("division by zero")
    found = blocking_violations(page, "instance page, stopped")

    stopped.get_by_label("Field").fill("heads")
    stopped.get_by_label("New value").fill("three")
    stopped.get_by_role("button", name="Try the stopped steps again").click()
    field = page.get_by_role("alert", name="Stopped on an incident").get_by_label("Field")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_have_accessible_description(re.compile("heads: Enter a whole number"))
    found += blocking_violations(page, "instance page, correction refused")

    field.fill("parts")
    page.get_by_label("New value").fill("4")
    page.get_by_role("button", name="Try the stopped steps again").click()
    expect(page.get_by_role("status").filter(has_text="parts of")).to_contain_text(
        "was corrected, and its stopped steps were tried again"
    )
    expect(page.get_by_role("alert", name="Stopped on an incident")).to_have_count(0)
    assert stops(database, number) == {}
    assert data_of(database, number)["per_head"] == 300
    assert problems.all() == []
    assert not found, "axe found serious or critical problems:\n" + "\n".join(found)
