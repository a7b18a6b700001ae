"""Page helpers for the workflow designer's browser tests: what a person does, in a few words.

Each helper drives the page as a person would (keys, clicks, focus moves), waits with
Playwright's `expect`, and never calls the page's own JavaScript. Other test modules may
import these; they change nothing but the page they are given.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from playwright.sync_api import Locator, Page, ViewportSize, expect

from engine.service.commands import Commands
from engine.service.people import ensure_user
from engine.store.database import Database
from tests.infrastructure import give_password

PASSWORD = "correct horse battery"

#: Big enough for the palette, the canvas and the properties side by side in a screenshot.
VIEWPORT: ViewportSize = {"width": 1400, "height": 900}

#: The folder for the docs' screenshots, when the environment names one.
SCREENSHOTS = "FLOWDESK_DOCS_SCREENSHOTS"

#: How many Tab presses `tab_to` tries before it gives up.
MAX_TABS = 120


def make_designer(database: Database, commands: Commands, username: str = "dana") -> str:
    """Create a process owner with the designer role and a password; return the username."""
    with database.writer_session() as session, session.begin():
        ensure_user(session, username, commands.clock(), name="Dana", roles=["designer"])
        give_password(session, username, PASSWORD)
    return username


def open_studio(page: Page, username: str = "dana") -> None:
    """Sign in on the studio's index (it asks first) and wait for the index."""
    page.set_viewport_size(VIEWPORT)
    page.goto("/designer/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Studio", exact=True)).to_be_visible()


def open_workflow(page: Page, key: str) -> None:
    """Open the designer of a workflow from the studio's list, and wait until it is ready."""
    page.get_by_role("table").filter(has_text="Every workflow").get_by_role(
        "row", name=re.compile(rf"\b{re.escape(key)}\b")
    ).get_by_role("link").click()
    wait_until_ready(page)


def create_workflow(page: Page, key: str, start: str = "A blank workflow") -> None:
    """Start a new workflow on the studio's index: its key, what it starts from (the words)."""
    page.get_by_label("Key of the new workflow").fill(key)
    page.get_by_label("Start from").select_option(label=start)
    page.get_by_role("button", name="New workflow").click()
    wait_until_ready(page)


def wait_until_ready(page: Page) -> None:
    """Wait until the designer has drawn the draft and its first check has come back."""
    expect(page.locator("#workflow-designer[data-ready=true]")).to_have_count(1)
    wait_for_check(page)


def card(page: Page, step: str) -> Locator:
    """The button of a step's card on the canvas (what is clicked, focused and dragged)."""
    return page.locator(f"#canvas .wf-card-select[data-step='{step}']")


def select_card(page: Page, step: str) -> None:
    """Select a step by clicking its card; the properties panel then shows it."""
    card(page, step).click()
    expect(card(page, step)).to_have_attribute("aria-pressed", "true")


def add_after_selection(page: Page, kind: str) -> None:
    """Add a step of `kind` (its palette name) after the selected card, by keys alone.

    Insert on the card opens the add menu; the arrow keys walk it; Enter picks.
    """
    selected = page.locator("#canvas .wf-card-select[aria-pressed=true]")
    selected.focus()
    page.keyboard.press("Insert")
    menu = page.get_by_role("group", name="Add a step here")
    wanted = menu.get_by_role("button", name=re.compile(rf"^{re.escape(kind)}\b"))
    expect(wanted).to_be_visible()
    for _ in range(menu.get_by_role("button").count()):
        if wanted.evaluate("(node) => node === document.activeElement"):
            break
        page.keyboard.press("ArrowDown")
    expect(wanted).to_be_focused()
    page.keyboard.press("Enter")
    expect(menu).to_have_count(0)


def wait_for_check(page: Page) -> None:
    """Wait until the checker's answer to the latest edit is shown.

    The page counts its edits (`data-edit` on `#workflow-designer`) and names the edit
    whose check it shows (`data-checked-edit`): the check is in when both agree.
    """
    designer = page.locator("#workflow-designer")
    expect(designer).to_have_attribute("data-checked-edit", re.compile(r"^\d+$"))
    edit = designer.get_attribute("data-edit")
    expect(designer).to_have_attribute("data-checked-edit", edit or "0")
    expect(problems_section(page)).not_to_have_attribute("aria-busy", "true")


def problems_section(page: Page) -> Locator:
    """The Problems region: its summary, and the list of problems (busy while checking)."""
    return page.get_by_role("region", name="Problems")


def problem_entries(page: Page) -> Locator:
    """The entries of the problems list (buttons that jump to what they concern)."""
    return page.locator("#problems li button")


def read_problems(page: Page) -> list[str]:
    """Wait for the check to settle; return the problems list's entries as shown."""
    wait_for_check(page)
    return problem_entries(page).all_text_contents()


def properties(page: Page) -> Locator:
    """The properties panel."""
    return page.get_by_role("region", name="Properties")


def tab_to(page: Page, target: Locator, *, backwards: bool = False) -> None:
    """Press Tab (Shift+Tab backwards) until `target` has the focus, as a keyboard user does."""
    key = "Shift+Tab" if backwards else "Tab"
    for _ in range(MAX_TABS):
        if target.evaluate("(node) => node === document.activeElement"):
            return
        page.keyboard.press(key)
    expect(target).to_be_focused()


def screenshot(page: Page, what: str) -> Path | None:
    """Save `workflow-designer-<what>.png` for the docs when FLOWDESK_DOCS_SCREENSHOTS names
    a folder; else save nothing and return None."""
    folder = os.environ.get(SCREENSHOTS)
    if not folder:
        return None
    path = Path(folder) / f"workflow-designer-{what}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path))
    return path
