"""The agents' inbox in a real browser, as new agents and approvers meet it.

An agent signs in, claims a queued incident and resolves it; the three reviewers of a
major incident approve from their own browsers. The pages are driven only by what a
person sees: labels, roles and button names. What comes before the part a test proves
(starting instances, writing the recovery plan) goes through the service layer.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Locator, Page, expect
from sqlalchemy import select

from engine.service.commands import Commands
from engine.store.database import Database
from engine.store.instances import Instance, Task
from tests.e2e.conftest import Problems, Window, blocking_violations
from tests.infrastructure import INCIDENT, MAJOR, give_password

PASSWORD = "correct horse battery"
RESOLUTION = "Cleared the paper path and replaced the worn roller."
PLAN = {"plan": "Fail over to the standby region", "rollback": "Fail back", "eta_minutes": 30}

#: Chromium logs every 4xx answer as a console error; these are the pages that answer one.
WRONG_PASSWORD = "the server responded with a status of 401"
FORM_WITH_ERRORS = "the server responded with a status of 422"
NOTHING_CHANGED = "the server responded with a status of 409"

#: The inbox's own address (not the sign-in page's `?next=/inbox`).
INBOX = re.compile(r"^http://[^/?]+/inbox$")


@pytest.fixture
def team(commands: Commands, database: Database) -> Commands:
    """The pack's people; those who sign in here have a password."""
    with database.writer_session() as session, session.begin():
        for username in ("dan", "ivy", "cole", "sam"):
            give_password(session, username, PASSWORD)
    return commands


# What a person does and sees -----------------------------------------------------------------


def sign_in(page: Page, username: str, password: str = PASSWORD) -> None:
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def signed_in_window(open_window: Callable[[], Window], username: str) -> Window:
    """Open a browser of `username`'s own, follow a link to the inbox and sign in there."""
    window = open_window()
    window.page.goto("/inbox")
    expect(window.page).to_have_url(re.compile(r"/sign-in\?next=/inbox$"))
    sign_in(window.page, username)
    expect(window.page).to_have_url(INBOX)
    return window


def my_tasks(page: Page) -> Locator:
    return page.get_by_role("region", name=re.compile(r"^My tasks"))


def my_queue(page: Page) -> Locator:
    return page.get_by_role("region", name=re.compile(r"^My groups. queue"))


def row_of(listing: Locator, number: str) -> Locator:
    return listing.get_by_role("row").filter(has_text=number)


def fact(page: Page, name: str) -> Locator:
    """The value of one fact (Status, Held by, ...) in the page's list of facts."""
    return (
        page.get_by_role("term")
        .filter(has_text=re.compile(f"^{name}$"))
        .locator("xpath=following-sibling::dd")
    )


def step_mark(page: Page, label: str) -> Locator:
    """A step in the instance page's list of steps, with its mark (Done, Active, Pending...)."""
    steps = page.get_by_role("region", name="Steps")
    return steps.get_by_role("listitem").filter(has_text=label)


def confirmation(page: Page) -> Locator:
    return page.get_by_role("status").filter(has_text="You ")


# What comes before, through the service layer ---------------------------------------------------


def open_tasks(database: Database, number: str, step: str) -> list[Task]:
    with database.reading() as session:
        tasks = list(
            session.scalars(
                select(Task)
                .join(Instance, Instance.id == Task.instance_id)
                .where(Instance.number == number, Task.step == step, Task.status == "open")
                .order_by(Task.id)
            )
        )
        session.expunge_all()
    return tasks


def task_row(database: Database, task_id: int) -> Task:
    with database.reading() as session:
        task = session.get(Task, task_id)
        assert task is not None
        session.expunge_all()
    return task


def instance_row(database: Database, number: str) -> Instance:
    with database.reading() as session:
        instance = session.scalars(select(Instance).where(Instance.number == number)).one()
        session.expunge_all()
    return instance


def queued_incident(commands: Commands) -> tuple[str, int]:
    """A hardware incident waiting in the desktop-support queue (bob and dan).

    Round robin gives the `work` task to a member at once; its holder gives it back.
    """
    number = str(commands.start("it-incident", INCIDENT)["number"])
    (work,) = open_tasks(commands.database, number, "work")
    assert work.assignee in ("bob", "dan")
    commands.unclaim(work.id, actor=str(work.assignee))
    return number, work.id


def major_incident_in_review(commands: Commands) -> tuple[str, dict[str, int]]:
    """A major incident whose plan ike wrote (so ivy may review it): its three reviews."""
    number = str(commands.start("major-incident", MAJOR)["number"])
    (plan,) = open_tasks(commands.database, number, "plan")
    commands.claim(plan.id, actor="ike")
    commands.complete(plan.id, "done", PLAN, actor="ike")
    reviews = {
        task.assignee or str(task.candidate_group): task.id
        for task in open_tasks(commands.database, number, "review_plan")
    }
    assert set(reviews) == {"incident-commanders", "communications", "sam"}
    return number, reviews


# The behaviour ---------------------------------------------------------------------------------


def test_an_agent_signs_in_claims_a_queued_incident_and_resolves_it(
    page: Page, problems: Problems, team: Commands, database: Database
) -> None:
    number, task_id = queued_incident(team)

    page.goto("/sign-in")
    sign_in(page, "dan")
    expect(page).to_have_url(INBOX)  # an agent's home is the inbox
    expect(my_tasks(page)).to_contain_text("Nothing here.")
    queued = row_of(my_queue(page), number)
    expect(queued).to_contain_text("queue desktop-support")
    queued.get_by_role("button", name=f"Claim {number}").click()

    expect(confirmation(page)).to_have_text(f"You took {number}.")
    expect(row_of(my_queue(page), number)).to_have_count(0)
    mine = row_of(my_tasks(page), number)
    expect(mine).to_contain_text("dan")
    expect(mine.get_by_role("button", name=f"Give back {number}")).to_be_visible()
    mine.get_by_role("link", name=re.compile(number)).click()

    expect(page).to_have_url(re.compile(f"/tasks/{task_id}$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(f"{number} P2: {INCIDENT['summary']}")
    expect(fact(page, "Held by")).to_have_text("dan")
    earlier = page.get_by_role("region", name="What we know so far")
    expect(earlier).to_contain_text(INCIDENT["summary"])
    expect(earlier.get_by_role("textbox")).to_have_count(0)  # read-only
    act = page.get_by_role("region", name="Resolve the incident")
    act.get_by_label("What did you do?").fill(RESOLUTION)
    act.get_by_label("Cause").select_option("hardware-fault")
    act.get_by_role("button", name="Resolved").click()

    expect(page).to_have_url(INBOX)
    expect(confirmation(page)).to_contain_text(f"You completed {number}")
    expect(row_of(my_tasks(page), number)).to_have_count(0)

    page.goto(f"/instances/{number}")
    expect(fact(page, "Status")).to_have_text("Resolved")
    expect(step_mark(page, "Work on the incident")).to_contain_text("Done")
    expect(step_mark(page, "Reporter confirms the fix")).to_contain_text("Active")
    timeline = page.get_by_role("region", name="Timeline")
    expect(timeline.get_by_role("listitem").filter(has_text="dan: Task taken")).to_have_count(1)
    expect(timeline).to_contain_text("dan: Task completed")
    assert problems.all() == []

    done = task_row(database, task_id)
    assert (done.status, done.outcome, done.completed_by) == ("completed", "resolved", "dan")
    assert done.data == {"resolution": RESOLUTION, "cause": "hardware-fault"}
    instance = instance_row(database, number)
    assert instance.status == "resolved"
    assert instance.state["data"]["resolution"] == RESOLUTION


def test_three_reviewers_approve_from_their_inboxes_and_the_second_approval_moves_on(
    open_window: Callable[[], Window], team: Commands, database: Database
) -> None:
    number, reviews = major_incident_in_review(team)
    ivy = signed_in_window(open_window, "ivy")
    cole = signed_in_window(open_window, "cole")
    sam = signed_in_window(open_window, "sam")
    sam.problems.expect(NOTHING_CHANGED)

    # Sam, the service owner, holds his review himself; the others find theirs in the queue.
    expect(row_of(my_queue(ivy.page), number)).to_contain_text("queue incident-commanders")
    expect(row_of(my_queue(cole.page), number)).to_contain_text("queue communications")
    row_of(my_tasks(sam.page), number).get_by_role("link").click()
    expect(fact(sam.page, "Step")).to_have_text("Review the recovery plan (service owner)")

    for reviewer, role in ((ivy, "incident commander"), (cole, "communications lead")):
        page = reviewer.page
        row_of(my_queue(page), number).get_by_role("link").click()
        expect(fact(page, "Step")).to_have_text(f"Review the recovery plan ({role})")
        earlier = page.get_by_role("region", name="What we know so far")
        expect(earlier).to_contain_text(PLAN["plan"])
        page.get_by_role("region", name="Your review").get_by_role("button", name="Approve").click()
        expect(confirmation(page)).to_contain_text(f"You completed {number}")
        expect(confirmation(page)).to_contain_text("(Approve)")
        if reviewer is ivy:
            assert instance_row(database, number).status == "plan_review"  # one of two

    # Sam opened his task before the quorum was reached; he is told, and nothing changes.
    sam.page.get_by_role("region", name="Your review").get_by_role("button", name="Approve").click()
    expect(sam.page.get_by_role("heading", level=1)).to_have_text("Nothing was changed")
    expect(sam.page.get_by_role("alert")).to_have_text(
        f"{number}'s task was withdrawn (cancelled); nothing was changed."
    )
    sam.page.get_by_role("link", name="See the task as it is now").click()
    expect(sam.page.get_by_role("status")).to_have_text(
        "This task was withdrawn (cancelled); there is nothing left to do on it."
    )
    expect(sam.page.get_by_role("button", name="Approve")).to_have_count(0)
    sam.page.get_by_role("link", name="Inbox", exact=True).click()
    expect(row_of(my_tasks(sam.page), number)).to_have_count(0)

    page = cole.page
    page.goto(f"/instances/{number}")
    expect(fact(page, "Status")).to_have_text("Recovering")
    expect(step_mark(page, "Review the recovery plan")).to_contain_text("Done")
    expect(step_mark(page, "Carry out the recovery plan")).to_contain_text("Active")
    expect(step_mark(page, "Post the status page update")).to_contain_text("Active")
    for window in (ivy, cole, sam):
        assert window.problems.all() == []

    done = {who: task_row(database, task_id) for who, task_id in reviews.items()}
    assert {who: (t.status, t.outcome, t.completed_by) for who, t in done.items()} == {
        "incident-commanders": ("completed", "approved", "ivy"),
        "communications": ("completed", "approved", "cole"),
        "sam": ("cancelled", None, None),
    }
    assert instance_row(database, number).status == "recovering"


# Accessibility -----------------------------------------------------------------------------------


def test_the_sign_in_inbox_task_and_instance_pages_have_no_serious_accessibility_problems(
    page: Page, problems: Problems, team: Commands
) -> None:
    problems.expect(WRONG_PASSWORD)
    problems.expect(FORM_WITH_ERRORS)
    number, task_id = queued_incident(team)
    other = str(team.start("it-incident", INCIDENT)["number"])
    (work,) = open_tasks(team.database, other, "work")
    if work.assignee != "dan":
        team.reassign(work.id, actor=str(work.assignee), user="dan")

    page.goto("/sign-in")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    found = blocking_violations(page, "sign-in")
    sign_in(page, "dan", "not the password")
    expect(page.get_by_role("alert")).to_contain_text("The username or password is not right.")
    found += blocking_violations(page, "sign-in, wrong password")

    sign_in(page, "dan")
    expect(row_of(my_tasks(page), other)).to_be_visible()
    expect(row_of(my_queue(page), number)).to_be_visible()
    found += blocking_violations(page, "inbox, a task of mine and one in the queue")

    page.goto(f"/tasks/{task_id}")
    act = page.get_by_role("region", name="Resolve the incident")
    expect(act.get_by_label("What did you do?")).to_be_visible()
    found += blocking_violations(page, "task page")
    act.get_by_role("button", name="Resolved").click()
    expect(page.get_by_role("alert").filter(has_text="There is a problem")).to_be_visible()
    expect(act.get_by_label("What did you do?")).to_have_attribute("aria-invalid", "true")
    found += blocking_violations(page, "task page, resolution missing")

    page.goto(f"/instances/{number}")
    expect(fact(page, "Status")).to_have_text("In progress")
    found += blocking_violations(page, "instance page")
    assert problems.all() == []
    assert not found, "axe found serious or critical problems:\n" + "\n".join(found)


def test_a_review_task_page_has_no_serious_accessibility_problems(
    page: Page, problems: Problems, team: Commands
) -> None:
    problems.expect(FORM_WITH_ERRORS)
    number, reviews = major_incident_in_review(team)
    page.goto(f"/tasks/{reviews['incident-commanders']}")
    sign_in(page, "ivy")
    review = page.get_by_role("region", name="Your review")
    expect(review.get_by_role("button", name="Reject")).to_be_visible()
    found = blocking_violations(page, "review task page")
    review.get_by_role("button", name="Reject").click()
    expect(review.get_by_label("Comment")).to_have_accessible_description(
        re.compile("Say why you reject")
    )
    found += blocking_violations(page, "review task page, rejected without a comment")
    page.goto(f"/instances/{number}")
    expect(fact(page, "Status")).to_have_text("Plan review")
    found += blocking_violations(page, "major incident page in review")
    assert problems.all() == []
    assert not found, "axe found serious or critical problems:\n" + "\n".join(found)
