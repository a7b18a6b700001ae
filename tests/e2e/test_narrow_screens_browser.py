"""The studio and the desk on a phone's screen (375 x 740): no page is wider than the screen.

The signed-in header wraps its links; the workflow designer stacks the palette, the flow and
the properties, and a wide flow scrolls inside its own box. Signed in as someone with every
role, so the header holds every link it can.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, ViewportSize, expect

from engine.service.commands import Commands
from engine.service.people import ensure_user
from engine.store.database import Database
from tests.e2e.conftest import Problems, blocking_violations
from tests.e2e.workflow_designer import (
    PASSWORD,
    card,
    create_workflow,
    open_studio,
    properties,
    wait_for_check,
)
from tests.infrastructure import give_password

#: A small phone, upright.
PHONE: ViewportSize = {"width": 375, "height": 740}


@pytest.fixture
def dana(database: Database, commands: Commands) -> str:
    """A process owner who also works the desk and administers it: the fullest header."""
    with database.writer_session() as session, session.begin():
        ensure_user(
            session, "dana", commands.clock(), name="Dana", roles=["designer", "agent", "admin"]
        )
        give_password(session, "dana", PASSWORD)
    return "dana"


def page_width(page: Page) -> int:
    return int(page.evaluate("() => document.documentElement.scrollWidth"))


def test_the_workflow_designer_fits_a_phone_and_its_flow_scrolls_in_its_own_box(
    page: Page, problems: Problems, dana: str
) -> None:
    open_studio(page)
    create_workflow(page, "narrow")
    page.get_by_role("region", name="Add a step").get_by_role(
        "button", name="Decision", exact=True
    ).click()  # lanes side by side: the widest flow a blank one becomes in a click
    wait_for_check(page)
    expect(page.locator("#save-status")).to_have_text(re.compile(r"^Draft saved"))
    page.set_viewport_size(PHONE)
    page.reload()
    wait_for_check(page)
    assert page_width(page) <= PHONE["width"]
    viewport = page.locator("#viewport")
    assert viewport.evaluate("(box) => box.scrollWidth > box.clientWidth"), "the flow scrolls"

    # By keys: skip to the canvas, walk it, select; the panel is below the flow.
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to the canvas")).to_be_focused()
    page.keyboard.press("Enter")
    expect(card(page, "decision")).to_be_focused()
    expect(card(page, "decision")).to_be_in_viewport()
    page.keyboard.press("Enter")
    expect(card(page, "decision")).to_have_attribute("aria-pressed", "true")
    wait_for_check(page)
    flow = viewport.bounding_box()
    panel = properties(page).bounding_box()
    assert flow is not None
    assert panel is not None
    assert panel["y"] >= flow["y"] + flow["height"], "the properties come after the flow"
    assert page_width(page) <= PHONE["width"]
    assert blocking_violations(page, "the workflow designer on a phone") == []

    page.get_by_role("button", name="Show the JSON").press("Enter")
    expect(page.locator("#json")).to_contain_text('"key": "narrow"')
    assert page_width(page) <= PHONE["width"]
    assert problems.all() == []


def test_the_studio_the_form_designer_and_the_inbox_fit_a_phone(
    page: Page, problems: Problems, dana: str
) -> None:
    open_studio(page)
    page.set_viewport_size(PHONE)
    page.reload()
    assert page_width(page) <= PHONE["width"], "the studio's lists"
    page.goto("/designer/forms/service-request")
    expect(page.locator("#designer[data-ready=true]")).to_have_count(1)
    assert page_width(page) <= PHONE["width"], "the form designer"
    page.goto("/inbox")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    assert page_width(page) <= PHONE["width"], "the inbox"
    assert blocking_violations(page, "the inbox on a phone") == []
    assert problems.all() == []
