"""Issue 16's first "done when": a process owner builds an incident workflow with the UI alone.

From an empty canvas, only with clicks, typing, selects and keys in the workflow designer, a
process owner builds a workflow equivalent to the shipped `it-incident`: a public start form
with a number prefix, the impact x urgency table filled in the grid, an action that looks the
priority up, typed conditions from the condition builder, a 2-of-3 review, an auto-approve
rule, an escalation ladder in business hours, per-step field permissions and SLA targets per
priority. The owner simulates the draft, publishes it, and one instance runs end to end: a
requester without an account reports on the public portal, agents act in their inboxes.
The JSON the designer exported passes `flowdesk check`. A second test drives the simulation
panel with the keyboard alone.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from playwright.sync_api import Locator, Page, expect
from sqlalchemy import select

from engine.service.commands import Commands
from engine.store.database import Database
from engine.store.instances import Instance, Task
from tests.e2e.conftest import Problems, Window
from tests.e2e.workflow_designer import (
    PASSWORD,
    create_workflow,
    make_designer,
    open_studio,
    tab_to,
    wait_until_ready,
)
from tests.infrastructure import PACK, give_password
from web.cli import main as flowdesk

KEY = "desk-incident"
AGENTS = ("bob", "dan", "ivy", "cole")


@pytest.fixture
def owner(commands: Commands, database: Database) -> str:
    """A process owner (the designer role), and the agents of the pack with a password."""
    with database.writer_session() as session, session.begin():
        for username in AGENTS:
            give_password(session, username, PASSWORD)
    return make_designer(database, commands, "olga")


# Finding one's way in the designer -------------------------------------------------------------


def panel(page: Page) -> Locator:
    return page.get_by_role("region", name="Properties")


def enter(box: Locator, text: str) -> None:
    """Type into a box and leave it: the designer applies a text box when it is left."""
    box.fill(text)
    box.press("Tab")


def open_settings(page: Page) -> Locator:
    page.get_by_role("button", name="Workflow settings").click()
    expect(panel(page).get_by_role("heading", name=re.compile("^Workflow: "))).to_be_visible()
    return panel(page)


def card(page: Page, step: str) -> Locator:
    return page.locator(f"#canvas .wf-card-select[data-step='{step}']")


def select_step(page: Page, step: str) -> Locator:
    card(page, step).click()
    expect(card(page, step)).to_have_attribute("aria-pressed", "true")
    return panel(page)


def add_step(page: Page, kind: str, step: str) -> Locator:
    """Add a step from the palette (after the selected one) and give it an id."""
    page.get_by_role("region", name="Add a step").get_by_role(
        "button", name=kind, exact=True
    ).click()
    properties = panel(page)
    expect(properties.get_by_role("heading", name=re.compile(f"^{kind}"))).to_be_visible()
    enter(properties.get_by_label("Id", exact=True), step)
    expect(card(page, step)).to_have_attribute("aria-pressed", "true")
    return properties


# Building it, part by part ---------------------------------------------------------------------


def set_up_the_start(page: Page) -> None:
    settings = open_settings(page)
    enter(settings.get_by_label("Title", exact=True), "Desk incident")
    settings.get_by_label("Its instances are incidents").check()
    settings.get_by_label("Start form").select_option(
        label="Report an IT problem (incident-report)"
    )
    settings.get_by_label("Offer it on the public portal").check()
    enter(settings.get_by_label("Number prefix"), "DSK")
    settings.get_by_label("Insert a field into the instance title").select_option(
        label="Summary (summary)"
    )
    expect(settings.get_by_label("Instance title", exact=True)).to_have_value("{{ summary }}")


def set_the_priorities_and_sla(page: Page) -> None:
    settings = open_settings(page)
    for _ in range(4):
        settings.get_by_role("button", name="Add a level").click()
    expect(settings.get_by_label("Level 4", exact=True)).to_have_value("P4")
    settings.get_by_label("This workflow has service level targets").check()
    sla = settings.get_by_role("group", name="Service level targets (SLA)")
    sla.get_by_label("Counted in").select_option(label="Business hours: office")
    for level, response, resolution in (
        ("P1", "PT15M", "PT4H"),
        ("P2", "1 hour", "8 hours"),
        ("P3", "PT4H", "P3D"),
        ("P4", "P1D", "P5D"),
    ):
        enter(sla.get_by_label(f"{level} response"), response)
        enter(sla.get_by_label(f"{level} resolution"), resolution)
    expect(sla.get_by_label("P2 resolution")).to_have_value("PT8H")


PRIORITY_MATRIX = [
    ("high", "high", "P1"),
    ("high", "medium", "P2"),
    ("medium", "high", "P2"),
    ("high", "low", "P3"),
    ("medium", "medium", "P3"),
    ("low", "high", "P3"),
]


def build_the_priority_table(page: Page) -> None:
    settings = open_settings(page)
    settings.get_by_label("New table's name").fill("priority")
    settings.get_by_role("button", name="Add a table").click()
    table = panel(page)
    expect(table.get_by_role("heading", name="Decision table priority")).to_be_visible()
    enter(table.get_by_label("Description"), "ITIL priority matrix: impact x urgency.")
    table.get_by_label("Input 1").select_option(label="Who is affected? (impact)")
    table.get_by_role("button", name="Add an input").click()
    table.get_by_label("Input 2").select_option(label="Can you keep working? (urgency)")
    for _ in PRIORITY_MATRIX:
        table.get_by_role("button", name="Add a row").click()
    for row, (impact, urgency, priority) in enumerate(PRIORITY_MATRIX, start=1):
        table.get_by_label(f"Row {row}, impact").select_option(label=impact)
        table.get_by_label(f"Row {row}, urgency").select_option(label=urgency)
        enter(table.get_by_label(f"Row {row}, then priority"), priority)
    last = len(PRIORITY_MATRIX) + 1
    expect(table.get_by_label(f"Row {last}, impact")).to_have_value('"-"')
    enter(table.get_by_label(f"Row {last}, then priority"), "P4")
    expect(table.get_by_role("region", name="Gaps and overlaps")).to_contain_text(
        "Every combination is covered"
    )


def lay_out_the_steps(page: Page) -> None:
    """The main line first (each step added after the selected one), then the branch."""
    add_step(page, "Action", "categorize")
    add_step(page, "Task", "work")
    add_step(page, "Review", "check_fix")
    add_step(page, "Approval", "confirm")
    enter(select_step(page, "done").get_by_label("Id", exact=True), "closed")
    select_step(page, "categorize")
    add_step(page, "Action", "self_service")
    select_step(page, "categorize")
    add_step(page, "Decision", "route")


def look_up_the_priority(page: Page) -> None:
    step = select_step(page, "categorize")
    enter(step.get_by_label("Label"), "Categorize and prioritize")
    step.get_by_label("Value 1: how").select_option(label="Looked up in a decision table")
    expect(step.get_by_label("Table", exact=True)).to_have_value('"priority"')
    expect(step.get_by_label("Value 1: field")).to_have_value("priority")


def route_password_resets(page: Page) -> None:
    step = select_step(page, "route")
    enter(step.get_by_label("Label"), "Known fix?")
    enter(step.get_by_label("Branch 1: name"), "Password reset")
    branch = step.get_by_role("group", name="Branch 1 is taken when")
    branch.get_by_role("button", name="Use the builder instead").click()
    branch.get_by_label("Field").select_option(label="What is it about? (category)")
    branch.get_by_label("Comparison").select_option(label="is")
    branch.get_by_label("Value").select_option(label="Password or sign-in (password)")
    step.get_by_label("Branch 1 leads to").select_option(label="self_service")
    step.get_by_label("Otherwise").select_option(label="work")
    select_step(page, "self_service")
    step = panel(page)
    enter(step.get_by_label("Label"), "Send password reset instructions")
    enter(step.get_by_label("Value 1: field"), "resolution")
    step.get_by_label("Value 1: how").select_option(label="Text")
    enter(step.get_by_label("Value", exact=True), "Reset your password at the self-service page.")
    step.get_by_label("Then").select_option(label="confirm")


def rung(step: Locator, number: int) -> Locator:
    """One rung of a step's escalation ladder, by its words ("Rung 2: after ...")."""
    return step.get_by_role("listitem").filter(has=step.page.get_by_text(f"Rung {number}:"))


def set_up_the_work(page: Page) -> None:
    """The agents' task: a group in turn, its form with permissions, due in business hours."""
    step = select_step(page, "work")
    enter(step.get_by_label("Label"), "Work on the incident")
    enter(step.get_by_label("Status while it waits"), "in_progress")
    step.get_by_label("Group", exact=True).select_option(label="desktop-support")
    step.get_by_label("Who in the group gets it").select_option(
        label="Round robin: members in turn"
    )
    step.get_by_label("Form", exact=True).select_option(
        label="Resolve the incident (incident-resolution)"
    )
    grid = step.get_by_role("table", name="What the assignee may do with each field of the form")
    grid.get_by_label("What did you do?: Required").check()
    grid.get_by_label("Cause: Read-only").check()
    grid.get_by_label("Question for the requester: Hidden").check()
    step.get_by_label("Ways on").select_option(label="Several outcomes, each a button")
    enter(step.get_by_label("Outcome", exact=True), "resolved")
    expect(step.get_by_label("resolved leads to")).to_have_value('"check_fix"')
    enter(step.get_by_label("Due within"), "8 hours")
    step.get_by_label("Counted in").first.select_option(label="Business hours: office")


def add_the_escalation_ladder(page: Page) -> None:
    """Remind after 30 working minutes (then hourly, 3 times); after 2 hours, next tier."""
    step = select_step(page, "work")
    step.get_by_role("button", name="Add a rung").click()
    first = rung(step, 1)
    enter(first.get_by_label("After"), "30 min")
    first.get_by_label("Repeat it").check()
    expect(rung(step, 1).get_by_label("More times, at most")).to_have_value("3")
    step.get_by_role("button", name="Add a rung").click()
    second = rung(step, 2)
    enter(second.get_by_label("After"), "PT2H")
    second.get_by_label("Action 1", exact=True).select_option(label="Reassign")
    second.get_by_role("button", name="Add an action").click()
    second.get_by_label("Action 2", exact=True).select_option(label="Raise the priority")
    expect(rung(step, 2)).to_contain_text("move to the next tier and raise the priority one level")


REVIEWERS = (("desk lead", "ivy"), ("communications", "cole"), ("service owner", "sam"))


def add_the_review(page: Page) -> None:
    """Three named reviewers; two approvals approve (2 of 3)."""
    step = select_step(page, "check_fix")
    enter(step.get_by_label("Label"), "Check the fix")
    for _ in REVIEWERS[1:]:
        step.get_by_role("button", name="Add a reviewer").click()
    for number, (role, person) in enumerate(REVIEWERS, start=1):
        reviewer = step.get_by_role("listitem").filter(
            has=page.get_by_label(f"Reviewer {number}: role")
        )
        enter(reviewer.get_by_label(f"Reviewer {number}: role"), role)
        reviewer.get_by_label(f"Reviewer {number}", exact=True).select_option(label="A person")
        reviewer.get_by_label("Person", exact=True).select_option(label=person)
    step.get_by_label("Form", exact=True).select_option(label="Your review (review-vote)")
    step.get_by_label("Approved by").select_option(label="A number of them (N of M)")
    expect(step.get_by_label("Approvals needed, of 3")).to_have_value("2")
    expect(step.get_by_text("Approved when 2 of 3 approve.")).to_be_visible()
    step.get_by_label("rejected leads to").select_option(label="Work on the incident (work)")


def add_the_confirmation(page: Page) -> None:
    """The requester confirms, unless only they were affected: then it approves by itself."""
    step = select_step(page, "confirm")
    enter(step.get_by_label("Label"), "Reporter confirms the fix")
    enter(step.get_by_label("Status while it waits"), "resolved")
    step.get_by_label("Assigned to").select_option(label="The requester")
    step.get_by_label("Form", exact=True).select_option(
        label="Is your problem solved? (resolution-confirmation)"
    )
    enter(step.get_by_label("Button of approved"), "Yes, it is solved")
    step.get_by_label("rejected leads to").select_option(label="Work on the incident (work)")
    rule = step.get_by_role("group", name="Approve automatically when")
    rule.get_by_role("button", name="Add a rule").click()
    rule.get_by_label("Field").select_option(label="Who is affected? (impact)")
    rule.get_by_label("Comparison").select_option(label="is")
    rule.get_by_label("Value").select_option(label="Only me (low)")  # its label, then value
    step = select_step(page, "closed")
    enter(step.get_by_label("Label"), "Closed")
    enter(step.get_by_label("Outcome"), "resolved")
    enter(step.get_by_label("Final status"), "closed")


def pause_the_sla_while_the_requester_confirms(page: Page) -> None:
    settings = open_settings(page)
    pauses = settings.get_by_role("group", name="The clocks pause while the status is")
    pauses.get_by_label("resolved", exact=True).check()


# Simulating, publishing, exporting ---------------------------------------------------------------


def simulation(page: Page) -> Locator:
    return page.get_by_role("region", name="Simulate")


def simulate_the_draft(page: Page) -> None:
    """Start with sample data, follow the path, see the escalation fire, complete the work."""
    sim = simulation(page)
    sim.scroll_into_view_if_needed()
    # The options say what they say on the form, not the values they store.
    sim.get_by_label("What is it about?").select_option(label="Laptop, phone or printer")
    sim.get_by_label("Who is affected?").select_option(label="A few people")
    sim.get_by_label("Can you keep working?").select_option(label="No, work has stopped")
    sim.get_by_role("button", name="Start", exact=True).click()
    said = sim.get_by_role("status")
    expect(said).to_contain_text("Started. Now at 'Work on the incident'. 1 open task.")
    path = "Categorize and prioritize.*Known fix\\?.*Work on the incident"  # by their labels
    expect(sim.locator(".sim-path")).to_have_text(re.compile(path))
    work = sim.get_by_role("region", name="Task Work on the incident")
    expect(work).to_contain_text(re.compile(r"Goes to .*\b(bob|dan)\b"))
    sim.get_by_role("button", name="Jump to the next timer").click()
    expect(said).to_contain_text("Jumped to the next timer.")
    timeline = sim.locator(".sim-timeline")
    expect(timeline).to_contain_text("escalation 1")
    work.get_by_role("button", name=re.compile(": Resolved$")).click()
    expect(said).to_contain_text("Now at 'Check the fix'. 3 open tasks.")
    for _, person in REVIEWERS:
        expect(sim.get_by_text(f"Goes to {person}.", exact=True)).to_have_count(1)


def publish(page: Page) -> None:
    page.get_by_role("button", name="Publish", exact=True).click()
    outcome = page.locator("#outcome")
    expect(outcome).to_be_focused()
    expect(outcome).to_contain_text(f"Published workflow {KEY} version 1.")


def export_the_json(page: Page, folder: Path) -> Path:
    """Download the workflow with Export JSON into a copy of the pack, beside its forms."""
    pack = folder / "pack"
    shutil.copytree(PACK, pack)
    with page.expect_download() as download:
        page.get_by_role("button", name="Export JSON").click()
    exported = pack / f"{KEY}.json"
    download.value.save_as(exported)
    return exported


# One instance, end to end: the portal and the inbox ----------------------------------------------


def report_an_incident(window: Window) -> str:
    """A requester without an account reports, on the new workflow's public form."""
    page = window.page
    page.goto(f"/new/{KEY}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Report an IT problem")
    page.get_by_label("Your name").fill("Ada Lovelace")
    page.get_by_label("Your email address").fill("ada@example.org")
    page.get_by_label("Summary").fill("My laptop does not start")
    page.get_by_label("What happened?").fill("The screen stays black.")
    page.get_by_label("What is it about?").select_option(label="Laptop, phone or printer")
    page.get_by_role("group", name="Who is affected?").get_by_label("Only me").check()
    page.get_by_role("group", name="Can you keep working?").get_by_label("Yes, it can wait").check()
    page.get_by_role("button", name="Send", exact=True).click()
    received = page.get_by_role("status").filter(has_text="We received your request")
    expect(received).to_contain_text("Your tracking number is DSK-000001.")
    return "DSK-000001"


def sign_in(window: Window, username: str) -> Page:
    page = window.page
    page.goto("/inbox")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/inbox$"))
    return page


def open_my_task(page: Page, number: str) -> None:
    mine = page.get_by_role("region", name=re.compile(r"^My tasks"))
    mine.get_by_role("row").filter(has_text=number).get_by_role("link").click()


def resolve_the_work(window: Window, agent: str, number: str) -> None:
    """The agent the round robin chose resolves: the required field, not the read-only one."""
    page = sign_in(window, agent)
    open_my_task(page, number)
    act = page.get_by_role("region", name="Resolve the incident")
    expect(act.get_by_label("Question for the requester")).to_have_count(0)  # hidden here
    act.get_by_label("What did you do?").fill("Replaced the power supply.")
    act.get_by_role("button", name="Resolved").click()
    expect(page.get_by_role("status").filter(has_text="You ")).to_contain_text(
        f"You completed {number}"
    )


def approve_the_fix(window: Window, reviewer: str, number: str) -> None:
    page = sign_in(window, reviewer)
    open_my_task(page, number)
    page.get_by_role("region", name="Your review").get_by_role("button", name="Approve").click()
    expect(page.get_by_role("status").filter(has_text="You ")).to_contain_text(
        f"You completed {number}"
    )


# What the service says -------------------------------------------------------------------------


def holder_of(database: Database, number: str, step: str) -> str:
    with database.reading() as session:
        task = session.scalars(
            select(Task)
            .join(Instance, Instance.id == Task.instance_id)
            .where(Instance.number == number, Task.step == step, Task.status == "open")
        ).one()
        return str(task.assignee)


def status_of(database: Database, number: str) -> tuple[str, str | None, bool]:
    """The instance's status, its priority, and whether it has ended."""
    with database.reading() as session:
        instance = session.scalars(select(Instance).where(Instance.number == number)).one()
        return instance.status, instance.priority, instance.ended_at is not None


def same_shape_as_it_incident(built: dict[str, Any]) -> None:
    """What makes it equivalent: the step types, the table, the SLA, the review, the ladder."""
    shipped = json.loads((PACK / "it-incident.json").read_text())
    types = {step["type"] for step in built["steps"].values()}
    assert {step["type"] for step in shipped["steps"].values()} <= types
    assert "review" in types
    assert built["incident"] is shipped["incident"] is True
    assert built["start"] == {
        "form": "incident-report",
        "public": True,
        "number_prefix": "DSK",
        "title": "{{ summary }}",
    }
    assert built["priorities"] == shipped["priorities"]
    assert built["tables"]["priority"] == shipped["tables"]["priority"]
    assert built["sla"]["targets"] == shipped["sla"]["targets"]
    assert built["sla"]["calendar"] == "office"
    assert built["steps"]["categorize"]["set"] == {"priority": {"lookup": "priority"}}
    assert (
        built["steps"]["route"]["branches"][0]["when"]
        == (shipped["steps"]["route"]["branches"][0]["when"])
    )
    review = built["steps"]["check_fix"]
    assert (len(review["reviewers"]), review["quorum"]) == (3, 2)
    assert built["steps"]["confirm"]["auto_approve"] == {
        "field": "impact",
        "op": "eq",
        "value": "low",
    }
    work = built["steps"]["work"]
    assert work["calendar"] == "office"
    assert work["escalate"] == shipped["steps"]["work"]["escalate"]
    assert work["fields"] == {"resolution": "required", "cause": "read_only", "question": "hidden"}


# The tests -------------------------------------------------------------------------------------


@pytest.mark.long
def test_a_process_owner_builds_simulates_publishes_and_runs_an_incident_workflow(
    page: Page,
    problems: Problems,
    owner: str,
    open_window: Callable[[], Window],
    database: Database,
    tmp_path: Path,
) -> None:
    """Build it-incident's equivalent with the UI alone, simulate, publish, run, check."""
    open_studio(page, owner)
    create_workflow(page, KEY)
    set_up_the_start(page)
    set_the_priorities_and_sla(page)
    build_the_priority_table(page)
    lay_out_the_steps(page)
    look_up_the_priority(page)
    route_password_resets(page)
    set_up_the_work(page)
    add_the_escalation_ladder(page)
    add_the_review(page)
    add_the_confirmation(page)
    pause_the_sla_while_the_requester_confirms(page)
    expect(page.locator("#problems-summary")).to_have_text("No problems.")

    simulate_the_draft(page)
    publish(page)
    exported = export_the_json(page, tmp_path)
    assert problems.all() == []

    requester = open_window()
    number = report_an_incident(requester)
    agent = holder_of(database, number, "work")
    assert agent in ("bob", "dan")
    resolve_the_work(open_window(), agent, number)
    approve_the_fix(open_window(), "ivy", number)
    assert status_of(database, number) == ("in_progress", "P4", False)  # 1 approval of 2
    approve_the_fix(open_window(), "cole", number)
    # Only the requester was affected, so the confirmation approved itself.
    assert status_of(database, number) == ("closed", "P4", True)
    assert requester.problems.all() == []

    checked = CliRunner().invoke(flowdesk, ["check", str(exported)])
    assert checked.exit_code == 0, checked.output
    assert "1 document(s) checked, no problems" in checked.output
    same_shape_as_it_incident(json.loads(exported.read_text()))


def test_the_simulation_panel_works_by_keyboard_alone_and_says_what_happened(
    page: Page, problems: Problems, owner: str
) -> None:
    """Start, jump to the next timer, complete an outcome and go back, with keys alone."""
    open_studio(page, owner)
    page.get_by_label("Key of the new workflow").fill("kb-incident")
    page.get_by_label("Start from").select_option(value="template:it-incident")
    page.get_by_role("button", name="New workflow").click()
    wait_until_ready(page)
    sim = simulation(page)
    said = sim.get_by_role("status")

    category = sim.get_by_label("What is it about?")
    tab_to(page, category)
    page.keyboard.press("ArrowDown")  # from the sample (password) to the next option
    expect(category).to_have_value("1")
    start = sim.get_by_role("button", name="Start", exact=True)
    tab_to(page, start)
    page.keyboard.press("Enter")
    expect(said).to_have_text("Started. Now at 'Work on the incident'. 1 open task.")
    expect(start).to_be_focused()

    jump = sim.get_by_role("button", name="Jump to the next timer")
    tab_to(page, jump)
    page.keyboard.press("Enter")
    jumped = r"^Jumped to the next timer\. Now at 'Work on the incident'\."
    expect(said).to_have_text(re.compile(jumped))
    expect(sim.locator(".sim-timeline")).to_contain_text("fired")  # an SLA warning, here
    expect(jump).to_be_focused()

    resolved = sim.get_by_role("button", name="Complete 'Work on the incident': Resolved")
    tab_to(page, resolved)
    page.keyboard.press("Enter")
    expect(said).to_have_text(
        "Completed 'Work on the incident': Resolved. "
        "Now at 'Reporter confirms the fix'. 1 open task."
    )
    # The button pressed is gone with the old results: the focus stays in the panel.
    expect(sim.get_by_text(re.compile(r"^Status: resolved\."))).to_be_focused()
    # An approval whose form has no comment field takes the comment sent with it.
    expect(sim.get_by_label("Comment (a rejection needs one)")).to_have_value("A sample reason")

    back = sim.get_by_role("button", name="Back one step")
    tab_to(page, back, backwards=True)
    page.keyboard.press("Enter")
    expect(said).to_have_text(
        re.compile(r"^Went back one step\. Now at 'Work on the incident'\. 1 open task\.")
    )
    expect(back).to_be_focused()
    assert problems.all() == []
