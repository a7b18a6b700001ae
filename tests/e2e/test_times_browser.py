"""Times read right in a real Chromium: the browser's own zone and language, then the choice
made on the account page, which comes first; the account page passes axe, errors included."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from engine.service.commands import Commands
from engine.store.database import Database
from tests.e2e.conftest import ACTION_TIMEOUT_MS, Problems, blocking_violations, watch
from tests.infrastructure import INCIDENT, give_password

PASSWORD = "correct horse battery"


@pytest.fixture
def kolkata(browser: Browser, portal: str) -> Iterator[Page]:
    """A browser in India, its language German."""
    context = browser.new_context(base_url=portal, timezone_id="Asia/Kolkata", locale="de-DE")
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    yield context.new_page()
    context.close()


def started_moment(page: Page) -> str:
    return page.locator("dt:text-is('Started') + dd time").inner_text()


def test_pages_say_times_in_the_browsers_zone_until_the_person_chooses_their_own(
    kolkata: Page, commands: Commands, database: Database
) -> None:
    page, problems = kolkata, watch(kolkata)
    with database.writer_session() as session, session.begin():
        give_password(session, "dan", PASSWORD)
    number = commands.start("it-incident", INCIDENT, requester="alice")["number"]

    page.goto(f"/instances/{number}")
    page.get_by_label("Username").fill("dan")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(str(number))
    # The first page told the server the browser's zone: the next ones say times in it.
    page.reload()
    expect(page.locator("dt:text-is('Started') + dd time")).to_have_text(
        re.compile(r"^\d{2}\.\d{2}\.\d{4}, \d{2}:\d{2} IST$")
    )

    page.goto("/account")
    reading = page.get_by_role("region", name="Times and dates")
    found = blocking_violations(page, "account page")
    reading.get_by_label("Time zone").select_option("America/New_York")
    reading.get_by_label("Date format").select_option("en_US")
    reading.get_by_role("button", name="Save times and dates").click()
    expect(page.get_by_text("Pages now say times and dates as you chose.")).to_be_visible()

    page.goto(f"/instances/{number}")
    said = started_moment(page)
    assert re.fullmatch(r"[A-Z][a-z]{2} \d{1,2}, \d{4}, \d{1,2}:\d{2}\W[AP]M E[SD]T", said), said
    assert problems.all() == []
    assert not found, "axe found serious or critical problems:\n" + "\n".join(found)


def test_the_account_page_refuses_a_zone_that_is_not_one_and_passes_axe(
    page: Page, problems: Problems, commands: Commands, database: Database
) -> None:
    problems.expect("the server responded with a status of 422")  # the refusal itself
    with database.writer_session() as session, session.begin():
        give_password(session, "dan", PASSWORD)
    page.goto("/account")
    page.get_by_label("Username").fill("dan")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    zone = page.get_by_label("Time zone")
    # A zone this machine no longer knows, as a stale form or a hand-made post would send.
    zone.evaluate("(select) => { select.options[1].value = 'Europe/Atlantis'; }")
    zone.select_option(index=1)
    page.get_by_role("button", name="Save times and dates").click()
    expect(page.get_by_role("alert")).to_contain_text("'Europe/Atlantis' is not a time zone")
    expect(page.get_by_label("Time zone")).to_have_attribute("aria-invalid", "true")
    found = blocking_violations(page, "account page, a zone that is not one")
    assert problems.all() == []
    assert not found, "axe found serious or critical problems:\n" + "\n".join(found)
