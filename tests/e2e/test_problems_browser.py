"""Recurring incidents lead to a problem, in a real browser: proposed, opened, linked, shown.

The three incidents are reported through the service layer; what the test proves is what
an agent sees and does: the proposal and why, the button that opens the problem with the
three linked, the problem's page listing them, and the incident's page naming its problem.
"""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from engine.service.commands import Commands
from engine.store.database import Database
from tests.e2e.conftest import Problems, blocking_violations
from tests.infrastructure import INCIDENT, give_password

PASSWORD = "correct horse battery"
ALIKE = (
    ("Printer jammed on floor 3", "The printer on the third floor jams on every print job."),
    ("Floor 3 printer jammed again", "Paper jammed in the printer, tray 2."),
    ("Jammed printer", "It says paper jam; the printer blinks red."),
)
REASON = "3 incidents in the category 'hardware' in 7 days, all about 'jammed' and 'printer'"


def test_three_alike_incidents_lead_to_a_problem_that_links_them(
    page: Page, problems: Problems, commands: Commands, database: Database
) -> None:
    with database.writer_session() as session, session.begin():
        give_password(session, "bob", PASSWORD)
    numbers = [
        str(
            commands.start(
                "it-incident",
                {**INCIDENT, "summary": summary, "description": text},
                requester="alice",
            )["number"]
        )
        for summary, text in ALIKE
    ]
    page.goto("/problems")
    page.get_by_label("Username").fill("bob")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/problems$"))
    proposal = page.get_by_role("article", name=REASON)
    for number in numbers:
        expect(proposal.get_by_role("link", name=number)).to_be_visible()
    found = blocking_violations(page, "problems, a proposal")

    proposal.get_by_label("Title of the problem").fill("Printer jams on floor 3")
    proposal.get_by_role("button", name="Open a problem with these 3 incidents").click()
    expect(page).to_have_url(re.compile(r"/instances/PRB-000001$"))
    expect(page.get_by_text("The problem PRB-000001 was opened")).to_be_visible()
    linked = page.get_by_role("region", name="Incidents of this problem")
    for number in numbers:
        expect(linked.get_by_role("link", name=number)).to_be_visible()
    found += blocking_violations(page, "the problem's page")

    linked.get_by_role("link", name=numbers[0]).click()
    expect(page).to_have_url(re.compile(rf"/instances/{numbers[0]}$"))
    problem = page.get_by_role("region", name="Problem", exact=True)
    expect(problem.get_by_role("link", name="PRB-000001")).to_be_visible()
    expect(problem).to_contain_text("Printer jams on floor 3")
    expect(problem).to_contain_text("Investigating")
    found += blocking_violations(page, "an incident with its problem")

    page.goto("/problems")
    expect(page.get_by_role("article", name=REASON)).to_have_count(0)  # never proposed again
    expect(page.get_by_role("link", name="PRB-000001")).to_be_visible()  # an open problem
    found += blocking_violations(page, "problems, one open")
    assert found == []
    assert problems.all() == []
