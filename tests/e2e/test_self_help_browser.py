"""Self-help on the public form, in a real browser: a requester describing their trouble
sees the workaround the service desk published for a matching known error, and only that."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from engine.service.commands import Commands
from tests.e2e.conftest import Problems, blocking_violations
from tests.similar_seeds import problem

PUBLISHED = "Printer on floor 3 jams"
WORKAROUND = "Print on the floor 2 printer until the new roller arrives."
UNPUBLISHED = "Printer on floor 3 jams badly"


def test_a_requester_typing_a_report_sees_the_published_workaround_of_a_known_error(
    page: Page, problems: Problems, commands: Commands
) -> None:
    problem(commands, PUBLISHED, WORKAROUND, root_cause="Worn roller from vendor Acme")
    problem(commands, UNPUBLISHED, "Kick it twice.", publish=False)
    page.goto("/new/it-incident")

    page.get_by_label("Summary").fill("The printer on floor 3 jams")
    page.get_by_label("What happened?").fill("It jams on every page I print.")

    expect(page.get_by_role("status")).to_have_text(
        "1 known problem may be yours; its workaround is shown below."
    )
    answers = page.get_by_role("region", name="Known problems that may be yours")
    expect(answers.get_by_role("heading", level=3)).to_have_text([PUBLISHED])
    expect(answers).to_contain_text(f"Workaround: {WORKAROUND}")
    expect(answers).not_to_contain_text("Kick it")
    expect(answers).not_to_contain_text("Acme")
    assert page.url.endswith("/new/it-incident")  # still on the form, nothing sent
    expect(page.get_by_role("button", name="Send", exact=True)).to_be_enabled()
    assert blocking_violations(page, "the report form with self-help") == []

    # Words that match no known error take the answers away again.
    page.get_by_label("Summary").fill("My monitor flickers")
    page.get_by_label("What happened?").fill("The screen goes black for a second.")
    expect(answers).to_be_hidden()
    assert problems.all() == []
