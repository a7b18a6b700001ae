"""The workflow designer as a keyboard user meets it: where the focus goes, and what keys do.

Every test drives real keys. The focus never falls to the page's body after an edit, an
undo or a rename (from there a keyboard user starts over at the top of the page).
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Locator, Page, expect

from engine.service.commands import Commands
from engine.store.database import Database
from tests.e2e.conftest import Problems, blocking_violations
from tests.e2e.workflow_designer import (
    MAX_TABS,
    card,
    create_workflow,
    make_designer,
    open_studio,
    properties,
    tab_to,
    wait_for_check,
    wait_until_ready,
)


@pytest.fixture
def dana(database: Database, commands: Commands) -> str:
    """A process owner with the designer role, in a database holding the shipped pack."""
    return make_designer(database, commands)


def palette_entry(page: Page, name: str) -> Locator:
    return page.get_by_role("region", name="Add a step").get_by_role(
        "button", name=name, exact=True
    )


def a_line(page: Page, key: str, kinds: tuple[str, ...] = ("Task", "Action")) -> None:
    """A blank workflow with these steps, added from the palette in turn, the last selected."""
    open_studio(page)
    create_workflow(page, key)
    for kind in kinds:
        palette_entry(page, kind).click()
        expect(card(page, kind.lower())).to_have_attribute("aria-pressed", "true")
    wait_for_check(page)


def focused(page: Page) -> str:
    """What has the focus, in a few words, for an assertion's message."""
    return str(page.evaluate("() => document.activeElement?.outerHTML.slice(0, 120)"))


# 1. The focus after a rename and after an undo ----------------------------------------------


def test_renaming_a_step_keeps_the_focus_in_its_id_box_and_tab_moves_on_from_there(
    page: Page, problems: Problems, dana: str
) -> None:
    a_line(page, "renames", ("Task",))
    panel = properties(page)
    tab_to(page, panel.get_by_label("Id", exact=True))
    page.keyboard.press("Control+A")
    page.keyboard.type("prepare")
    page.keyboard.press("Enter")
    expect(card(page, "prepare")).to_have_attribute("aria-pressed", "true")
    expect(panel.get_by_label("Id", exact=True)).to_be_focused()
    expect(panel.get_by_label("Id", exact=True)).to_have_value("prepare")

    page.keyboard.press("Control+A")
    page.keyboard.type("prep")
    page.keyboard.press("Tab")
    expect(card(page, "prep")).to_have_attribute("aria-pressed", "true")
    expect(panel.get_by_label("Label", exact=True)).to_be_focused()
    page.keyboard.type("Prepare the laptop")
    page.keyboard.press("Enter")
    expect(card(page, "prep")).to_contain_text("Prepare the laptop")
    wait_for_check(page)
    assert problems.all() == []


def test_a_rename_confirmed_by_a_click_on_another_box_of_the_step_leaves_the_focus_there(
    page: Page, problems: Problems, dana: str
) -> None:
    """The click confirms the rename as the id box loses the focus; the box clicked is drawn
    again under the new id, and the focus follows it rather than falling to the page."""
    a_line(page, "clicks", ("Task",))
    panel = properties(page)
    panel.get_by_label("Id", exact=True).fill("prepare")
    panel.get_by_label("Label", exact=True).click()

    expect(card(page, "prepare")).to_have_attribute("aria-pressed", "true")
    expect(panel.get_by_label("Label", exact=True)).to_be_focused()
    page.keyboard.type("Prepare the laptop")
    page.keyboard.press("Enter")
    expect(card(page, "prepare")).to_contain_text("Prepare the laptop")
    wait_for_check(page)
    assert problems.all() == []


def test_an_undo_keeps_the_focus_on_its_card_or_moves_it_to_the_card_it_touched(
    page: Page, problems: Problems, dana: str
) -> None:
    a_line(page, "undos")
    # The focus on a card the undo leaves alone (not the selected one): it stays there.
    card(page, "task").focus()
    page.keyboard.press("Control+z")  # takes the action away; the task leads on as before
    expect(card(page, "action")).to_have_count(0)
    assert page.evaluate("() => document.activeElement?.id") == "wf-card-task", focused(page)
    page.keyboard.press("Control+Shift+Z")
    expect(card(page, "action")).to_be_visible()
    expect(card(page, "task")).to_be_focused()

    # The focus on the card the undo takes away: it goes to the card the undo touched.
    card(page, "action").focus()
    page.keyboard.press("Control+z")
    expect(card(page, "action")).to_have_count(0)
    expect(card(page, "task")).to_be_focused()

    # Undo pressed on its button: the focus stays there while there is more to undo.
    page.keyboard.press("Control+Shift+Z")
    expect(card(page, "action")).to_be_visible()
    card(page, "action").focus()
    page.keyboard.press("Delete")  # the end is selected next, and the task leads to it
    expect(card(page, "done")).to_be_focused()
    tab_to(page, page.get_by_role("button", name="Undo"), backwards=True)
    page.keyboard.press("Enter")
    expect(card(page, "action")).to_be_visible()
    expect(page.get_by_role("button", name="Undo")).to_be_focused()

    # Until there is nothing left to undo: the button is disabled, and the focus goes to the
    # card the last undo touched or, as here (it took the first step away), the selected one.
    for _ in range(5):
        if page.get_by_role("button", name="Undo").is_disabled():
            break
        page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Undo")).to_be_disabled()
    expect(card(page, "task")).to_have_count(0)
    expect(card(page, "done")).to_be_focused()
    wait_for_check(page)
    assert problems.all() == []


# 2. The arrow keys walk the cards and every "+", the first included -------------------------


def test_the_arrow_keys_walk_the_cards_and_every_plus_from_the_first_one(
    page: Page, problems: Problems, dana: str
) -> None:
    a_line(page, "arrows")
    first = page.get_by_role("button", name="Add a step before task")
    between = page.get_by_role("button", name="Add a step after task, before action")
    tab_to(page, first)
    walk = [card(page, "task"), between, card(page, "action")]
    for there in walk:
        page.keyboard.press("ArrowDown")
        expect(there).to_be_focused()
    for there in [between, card(page, "task"), first]:
        page.keyboard.press("ArrowUp")
        expect(there).to_be_focused()
    page.keyboard.press("ArrowUp")  # nothing above the first +: it keeps the focus
    expect(first).to_be_focused()

    # Enter on it opens the add menu there, as a click does: the step goes first.
    page.keyboard.press("Enter")
    menu = page.get_by_role("group", name="Add a step here")
    expect(menu.get_by_role("button").first).to_be_focused()
    menu.get_by_role("button", name="Wait", exact=False).first.press("Enter")
    expect(card(page, "wait")).to_be_focused()
    page.keyboard.press("ArrowUp")
    expect(page.get_by_role("button", name="Add a step before wait")).to_be_focused()
    wait_for_check(page)
    assert problems.all() == []


# 3. Skip to the canvas ----------------------------------------------------------------------


def tabs_to_the_canvas(page: Page) -> int:
    """How many Tabs from the top of the page reach a card or a + of the canvas."""
    for count in range(1, MAX_TABS + 1):
        page.keyboard.press("Tab")
        if page.evaluate("() => Boolean(document.activeElement?.closest('#canvas'))"):
            return count
    raise AssertionError(f"{MAX_TABS} Tabs did not reach the canvas: {focused(page)}")


def test_the_first_tab_offers_to_skip_to_the_canvas_and_enter_lands_on_a_card(
    page: Page, problems: Problems, dana: str
) -> None:
    a_line(page, "skips")
    expect(page.locator("#save-status")).to_have_text(re.compile(r"^Draft saved"))
    page.reload()
    wait_until_ready(page)
    assert tabs_to_the_canvas(page) > 20, "the header, the toolbar and the palette come first"

    page.reload()
    wait_until_ready(page)
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to the canvas")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()  # shown once it has the focus
    assert blocking_violations(page, "the skip link, focused") == []
    page.keyboard.press("Enter")
    expect(card(page, "task")).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(page.get_by_role("button", name="Add a step after task, before action")).to_be_focused()

    # With a step selected, Enter lands on its card.
    card(page, "action").click()
    expect(card(page, "action")).to_have_attribute("aria-pressed", "true")
    page.locator("h1").click()
    tab_to(page, skip, backwards=True)
    page.keyboard.press("Enter")
    expect(card(page, "action")).to_be_focused()
    assert problems.all() == []


def test_f2_on_a_card_goes_to_its_properties_and_escape_comes_back(
    page: Page, problems: Problems, dana: str
) -> None:
    """From a card, the panel was a Tab for every card and "+" after it (twenty in a flow of
    eight steps), and nothing led back."""
    a_line(page, "f2")
    card(page, "task").focus()
    page.keyboard.press("F2")  # the task, not yet selected: selected, and its first control
    expect(card(page, "task")).to_have_attribute("aria-pressed", "true")
    expect(properties(page).locator(":focus")).to_have_count(1)
    page.keyboard.press("Escape")
    expect(card(page, "task")).to_be_focused()
    assert "F2" in (card(page, "task").get_attribute("aria-keyshortcuts") or "")
    assert problems.all() == []


# 4. Ctrl+C is the browser's while text is selected ------------------------------------------


def announced(page: Page) -> Locator:
    return page.locator("#announce")


NOTHING_COPIED = "Nothing copied yet: Ctrl+C on a step copies it."


def clipboard(page: Page) -> str:
    return str(page.evaluate("() => navigator.clipboard.readText()"))


def test_ctrl_c_copies_selected_text_or_a_box_s_text_and_else_the_card_it_is_on(
    page: Page, problems: Problems, dana: str
) -> None:
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    a_line(page, "copies")
    help_words = "Select a step with a click or Enter."
    page.get_by_text(help_words).click(click_count=3)  # the canvas's help, as a reader selects it
    tab_to(page, card(page, "task"))
    page.keyboard.press("Control+c")
    assert help_words in clipboard(page)
    page.keyboard.press("Control+v")
    expect(announced(page)).to_have_text(NOTHING_COPIED)

    # In a text box, Ctrl+C copies what is selected there.
    panel = properties(page)
    tab_to(page, panel.get_by_label("Label", exact=True))
    page.keyboard.type("Tell the requester")
    page.keyboard.press("Control+A")
    page.keyboard.press("Control+c")
    assert clipboard(page) == "Tell the requester"

    # Back on a card through the Id box, which selects its text as the Tab passes: that
    # is no text of the page selected (the browser's Ctrl+C copies nothing of it), the
    # card is copied.
    tab_to(page, card(page, "action"), backwards=True)
    page.keyboard.press("Control+v")
    expect(announced(page)).to_have_text(NOTHING_COPIED)
    page.keyboard.press("Control+c")
    expect(announced(page)).to_have_text(
        "'action' copied. Ctrl+V pastes it after the selected step."
    )
    page.keyboard.press("Control+v")
    expect(card(page, "action_copy")).to_be_focused()
    assert clipboard(page) == "Tell the requester", "a step is copied within the page"
    wait_for_check(page)
    assert problems.all() == []


# 5. The toolbar's arrow keys -----------------------------------------------------------------


def test_the_arrow_keys_walk_the_toolbar_and_go_round_at_its_ends(
    page: Page, problems: Problems, dana: str
) -> None:
    """`role="toolbar"` promises the arrow keys; Tab still stops at each of its buttons."""
    a_line(page, "toolbar", kinds=("Task",))
    toolbar = page.get_by_role("toolbar", name="Editing")
    undo = toolbar.get_by_role("button", name="Undo")
    expect(undo).to_be_enabled()  # the step added: the first button there is to reach
    settings = toolbar.get_by_role("button", name="Workflow settings")
    settings.focus()

    page.keyboard.press("ArrowRight")
    expect(toolbar.get_by_role("button", name="Publish")).to_be_focused()
    page.keyboard.press("End")
    expect(toolbar.get_by_role("button", name="Show the JSON")).to_be_focused()
    page.keyboard.press("ArrowRight")  # round to the first
    expect(undo).to_be_focused()
    page.keyboard.press("ArrowLeft")  # and back round to the last
    expect(toolbar.get_by_role("button", name="Show the JSON")).to_be_focused()
    page.keyboard.press("Home")
    expect(undo).to_be_focused()
    expect(toolbar.get_by_role("button", name="Redo")).to_be_disabled()  # nothing undone
    page.keyboard.press("Tab")  # each enabled button is still a tab stop of its own
    expect(settings).to_be_focused()
    assert problems.all() == []


def test_a_row_button_keeps_the_focus_after_its_move_and_after_the_undo(
    page: Page, problems: Problems, dana: str
) -> None:
    """A row's Up and Down buttons have no id of their own: the panel drawn again after the
    move, or after Ctrl+Z, put the focus on the page's body. It stays on the same button."""
    a_line(page, "rows", kinds=("Task",))
    page.get_by_role("button", name="Workflow settings").click()
    levels = page.get_by_role("group", name="Priorities, most urgent first")
    for _ in range(3):
        levels.get_by_role("button", name="Add a level").click()
        wait_for_check(page)
    down = levels.get_by_role("button", name="Move level P1 down")
    down.focus()

    page.keyboard.press("Enter")
    wait_for_check(page)
    expect(levels.get_by_label("Level 2", exact=True)).to_have_value("P1")
    expect(page.get_by_role("button", name="Move level P1 down")).to_be_focused()

    page.keyboard.press("Control+z")
    wait_for_check(page)
    expect(levels.get_by_label("Level 1", exact=True)).to_have_value("P1")
    expect(page.get_by_role("button", name="Move level P1 down")).to_be_focused()
    assert problems.all() == []
