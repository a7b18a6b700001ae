"""The public portal in a real browser, as a requester without an account meets it.

The page is driven only by what a person sees: labels, roles and button names.
The service desk's side goes through the service layer, as the inbox would.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from playwright.sync_api import Locator, Page, Response, expect
from sqlalchemy import select

from engine.service.commands import Commands
from engine.store.database import Database
from engine.store.instances import Instance, Task
from tests.e2e.conftest import Problems, blocking_violations

#: What the requester means to send, as they would type or choose it.
TYPED = {
    "name": "Ada Lovelace",
    "email": "ada@example.org",
    "summary": "The printer on floor 3 is jammed",
    "description": "It blinks red and eats every page.",
}
CHOSEN = {"category": "hardware", "impact": "medium", "urgency": "high"}

RESOLUTION = "Cleared the paper path and replaced the worn roller."
FEEDBACK = "Printing again, thank you!"
VALIDATE = "/api/v1/forms/incident-report/validate"
EMAIL_ERROR = "Enter an email address like name@example.org"


def fill_report(page: Page, **overrides: str) -> None:
    """Fill in the report form by its labels, as a person would."""
    typed = {**TYPED, **overrides}
    page.get_by_label("Your name").fill(typed["name"])
    page.get_by_label("Your email address").fill(typed["email"])
    page.get_by_label("Summary").fill(typed["summary"])
    page.get_by_label("What happened?").fill(typed["description"])
    page.get_by_label("What is it about?").select_option(label="Laptop, phone or printer")
    page.get_by_role("group", name="Who is affected?").get_by_label("A few people").check()
    page.get_by_role("group", name="Can you keep working?").get_by_label(
        "No, work has stopped"
    ).check()


def send(page: Page) -> None:
    page.get_by_role("button", name="Send", exact=True).click()


def status_line(page: Page) -> Locator:
    return page.get_by_text(re.compile(r"^Status: "))


def validation_of(sent: str) -> Callable[[Response], bool]:
    """Match the live validation's answer to a post that holds `sent` (urlencoded)."""

    def match(response: Response) -> bool:
        request = response.request
        return request.url.endswith(VALIDATE) and sent in (request.post_data or "")

    return match


def resolve_as_service_desk(commands: Commands, database: Database) -> None:
    """Bob of desktop-support resolves the open incident through the service layer."""
    with database.reading() as session:
        work = session.scalars(select(Task).where(Task.step == "work", Task.status == "open")).one()
    commands.complete(work.id, "resolved", {"resolution": RESOLUTION}, actor="bob")


def test_a_new_requester_reports_fixes_a_mistake_follows_and_confirms(
    page: Page, problems: Problems, commands: Commands, database: Database
) -> None:
    problems.expect("the server responded with a status of 422")  # the form with errors
    page.goto("/new/it-incident")
    expect(page.get_by_role("heading", level=1)).to_have_text("Report an IT problem")

    fill_report(page, email="ada at example", summary="")
    send(page)

    summary = page.get_by_role("alert").filter(has_text="There is a problem")
    expect(summary).to_be_visible()
    expect(summary).to_be_focused()
    expect(page).to_have_title(re.compile(r"^Error: "))
    email = page.get_by_label("Your email address")
    summary_field = page.get_by_label("Summary")
    email_link = summary.get_by_role("link", name=EMAIL_ERROR)
    expect(email_link).to_have_attribute("href", f"#{email.get_attribute('id')}")
    expect(summary.get_by_role("link")).to_have_count(2)
    expect(email).to_have_attribute("aria-invalid", "true")
    expect(email).to_have_accessible_description(re.compile(EMAIL_ERROR))
    expect(summary_field).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Your name")).to_have_value(TYPED["name"])  # what was typed stays

    email_link.click()
    expect(email).to_be_focused()
    email.fill(TYPED["email"])
    summary_field.fill(TYPED["summary"])
    send(page)

    expect(page).to_have_url(re.compile(r"/track/[0-9a-f]{48}\?new=INC-000001$"))
    received = page.get_by_role("status")
    expect(received).to_contain_text("We received your request")
    expect(received).to_contain_text("Your tracking number is INC-000001.")
    expect(status_line(page)).to_have_text("Status: Being worked on")
    link = received.get_by_role("link")
    expect(link).to_have_text(page.url.split("?")[0])  # the address to keep is this page's
    private_link = link.get_attribute("href")
    assert private_link is not None

    resolve_as_service_desk(commands, database)

    page.goto(private_link)
    expect(page.get_by_role("heading", level=1)).to_have_text(f"INC-000001: {TYPED['summary']}")
    expect(status_line(page)).to_have_text("Status: Resolved: please confirm")
    expect(page.get_by_role("region", name="Work on the incident")).to_contain_text(RESOLUTION)
    question = page.get_by_role("region", name="Is your problem solved? (INC-000001)")
    question.get_by_label("Anything to add?").fill(FEEDBACK)
    question.get_by_role("button", name="Yes, it is solved").click()

    expect(status_line(page)).to_have_text("Status: Closed")
    expect(page.get_by_role("button", name="Yes, it is solved")).to_have_count(0)
    assert problems.all() == []

    with database.reading() as session:
        instance = session.scalars(select(Instance)).one()
    assert instance.number == "INC-000001"
    assert instance.status == "closed"
    assert instance.ended_at is not None
    # Exactly what was typed and chosen, the form's hidden default, what the workflow
    # derived and the two answers: no CSRF token, submission id or honeypot, nothing hidden.
    assert instance.state["data"] == {
        **TYPED,
        **CHOSEN,
        "source": "portal",
        "priority": "P2",
        "team": "desktop-support",
        "resolution": RESOLUTION,
        "feedback": FEEDBACK,
    }


def test_the_form_shows_fields_and_errors_live_as_the_requester_answers(
    page: Page, problems: Problems
) -> None:
    page.goto("/new/it-incident")
    service = page.get_by_label("Which service is affected?")
    expect(service).to_be_attached()
    expect(service).to_be_hidden()

    with page.expect_response(validation_of("impact=high")) as answered:
        page.get_by_role("group", name="Who is affected?").get_by_label(
            "A whole team, site or customers"
        ).check()
    assert answered.value.ok
    expect(service).to_be_visible()
    expect(service).to_be_enabled()
    expect(service).not_to_have_attribute("aria-required", "true")  # "If you know"
    expect(service.locator("option")).to_have_text(["No services to choose from yet"])

    email = page.get_by_label("Your email address")
    email.fill("ada at example")
    expect(email).not_to_have_attribute("aria-invalid", "true")  # not while still typing
    with page.expect_response(validation_of("email=ada+at+example")) as answered:
        email.press("Tab")
    assert answered.value.ok
    expect(email).to_have_attribute("aria-invalid", "true")
    expect(email).to_have_accessible_description(re.compile(EMAIL_ERROR))
    expect(page).to_have_url(re.compile(r"/new/it-incident$"))  # nothing was sent

    email.fill(TYPED["email"])
    email.press("Tab")
    expect(email).not_to_have_attribute("aria-invalid", "true")
    assert problems.all() == []


def test_the_report_form_has_no_serious_accessibility_problems(page: Page) -> None:
    page.goto("/new/it-incident")
    expect(page.get_by_role("button", name="Send", exact=True)).to_be_visible()
    found = blocking_violations(page, "empty form")
    fill_report(page, email="ada at example", summary="")
    send(page)
    expect(page.get_by_role("alert").filter(has_text="There is a problem")).to_be_focused()
    found += blocking_violations(page, "form with errors")
    assert not found, "axe found serious or critical problems:\n" + "\n".join(found)


def test_the_tracking_page_has_no_serious_accessibility_problems(
    page: Page, commands: Commands, database: Database
) -> None:
    page.goto("/new/it-incident")
    fill_report(page)
    send(page)
    expect(page.get_by_role("status")).to_contain_text("Your tracking number is INC-000001.")
    found = blocking_violations(page, "confirmation")
    resolve_as_service_desk(commands, database)
    page.reload()
    expect(page.get_by_role("button", name="Yes, it is solved")).to_be_visible()
    found += blocking_violations(page, "resolved, asking to confirm")
    assert not found, "axe found serious or critical problems:\n" + "\n".join(found)
