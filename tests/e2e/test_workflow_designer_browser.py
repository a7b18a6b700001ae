"""The workflow designer in a real browser, as a process owner meets it.

A designer builds and publishes a workflow with the keyboard alone; moves, removes, undoes
and redoes steps by key and by drag; meets problems next to what they concern; starts from
a template or a published form. axe scans every screen of the designer, and the page's
console, uncaught exceptions and CSP violations are watched on every path. With
FLOWDESK_DOCS_SCREENSHOTS naming a folder, the docs' screenshots are saved there.
"""

from __future__ import annotations

import json
import re
import shutil
import struct
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from playwright.sync_api import Locator, Page, expect
from sqlalchemy import select

from engine.core.checker import check_workflow
from engine.service.commands import Commands
from engine.service.workflow_context import references
from engine.store.database import Database
from engine.store.definitions import Definition, DefinitionVersion
from tests.e2e.conftest import Problems, blocking_violations
from tests.e2e.workflow_designer import (
    SCREENSHOTS,
    VIEWPORT,
    add_after_selection,
    card,
    create_workflow,
    make_designer,
    open_studio,
    open_workflow,
    problem_entries,
    problems_section,
    properties,
    read_problems,
    screenshot,
    select_card,
    tab_to,
    wait_for_check,
)
from web.cli import main as flowdesk

PACK = Path(__file__).resolve().parents[2] / "workflows"


@pytest.fixture
def dana(database: Database, commands: Commands) -> str:
    """A process owner with the designer role, in a database holding the shipped pack."""
    return make_designer(database, commands)


# What the service holds ---------------------------------------------------------------------


def published(database: Database, key: str) -> dict[int, Any]:
    """The published versions of a workflow: version -> document."""
    with database.reading() as session:
        rows = session.execute(
            select(DefinitionVersion.version, DefinitionVersion.content)
            .join(Definition)
            .where(Definition.kind == "workflow", Definition.key == key)
        ).all()
    return {row.version: row.content for row in rows}


def saved_draft(database: Database, key: str) -> dict[str, Any]:
    with database.reading() as session:
        definition = session.scalars(
            select(Definition).where(Definition.kind == "workflow", Definition.key == key)
        ).one()
        assert definition.draft is not None, f"{key} has no draft"
        return dict(definition.draft["document"])


def checker_problems(database: Database, document: dict[str, Any]) -> list[str]:
    """What the checker says of a workflow, against what is published and who exists."""
    with database.reading() as session:
        refs = references(session, document)
    return [str(problem) for problem in check_workflow(document, refs)]


def flowdesk_check(tmp_path: Path, document: dict[str, Any]) -> tuple[int, str]:
    """Run `flowdesk check` on the workflow beside the shipped forms and calendars."""
    folder = tmp_path / "checked"
    for part in ("forms", "calendars"):
        shutil.copytree(PACK / part, folder / part)
    path = folder / f"{document['key']}.json"
    path.write_text(json.dumps(document, indent=2))
    result = CliRunner().invoke(flowdesk, ["check", str(path)])
    return result.exit_code, result.output


# The page -----------------------------------------------------------------------------------


def palette_entry(page: Page, name: str) -> Locator:
    return page.get_by_role("region", name="Add a step").get_by_role(
        "button", name=name, exact=True
    )


def announced(page: Page) -> Locator:
    return page.locator("#announce")


def canvas_order(page: Page) -> list[str]:
    steps = page.locator("#canvas .wf-card-select").evaluate_all(
        "(cards) => cards.map((card) => card.dataset.step)"
    )
    return [str(step) for step in steps]


def json_view(page: Page) -> Locator:
    return page.locator("#json")


def choose_by_arrows(page: Page, control: Locator, value: str) -> None:
    """Tab to a select and walk its options with the arrow keys until `value` is chosen.

    Each arrow press applies at once (a change event), as in any select.
    """
    tab_to(page, control)
    wanted = json.dumps(value)
    values = control.locator("option").evaluate_all("(options) => options.map((o) => o.value)")
    assert wanted in values, f"{value} is not offered: {values}"
    for _ in range(len(values)):
        current = control.input_value()
        if current == wanted:
            break
        down = values.index(wanted) > values.index(current)
        page.keyboard.press("ArrowDown" if down else "ArrowUp")
        expect(control).not_to_have_value(current)
    expect(control).to_have_value(wanted)


def type_into(page: Page, control: Locator, text: str) -> None:
    """Tab to a text box, type, and Tab away (the box applies what is typed on leaving)."""
    tab_to(page, control)
    page.keyboard.press("Control+A")
    page.keyboard.type(text)
    page.keyboard.press("Tab")
    expect(control).to_have_value(text)


# 1. The keyboard alone ----------------------------------------------------------------------


def test_a_designer_builds_and_publishes_a_three_step_workflow_with_the_keyboard_alone(
    page: Page, problems: Problems, dana: str, database: Database, tmp_path: Path
) -> None:
    open_studio(page)
    tab_to(page, page.get_by_label("Key of the new workflow"))
    page.keyboard.type("laptop-loan")
    tab_to(page, page.get_by_role("button", name="New workflow"))
    page.keyboard.press("Enter")
    expect(page.locator("#workflow-designer[data-ready=true]")).to_have_count(1)
    wait_for_check(page)
    panel = properties(page)

    # A task for the service desk, from the palette: it goes before the blank flow's end.
    tab_to(page, palette_entry(page, "Task"))
    page.keyboard.press("Enter")
    expect(card(page, "task")).to_be_focused()
    expect(announced(page)).to_have_text("Task 'task' added, step 1 of 2.")
    type_into(page, panel.get_by_label("Label", exact=True), "Prepare the laptop")
    choose_by_arrows(page, panel.get_by_label("Group", exact=True), "service-desk")

    # An approval after it, from the add menu of the task's card.
    tab_to(page, card(page, "task"), backwards=True)
    add_after_selection(page, "Approval")
    expect(card(page, "approval")).to_be_focused()
    expect(announced(page)).to_have_text("Approval 'approval' added, step 2 of 3.")
    choose_by_arrows(page, panel.get_by_label("Group", exact=True), "service-desk-l2")

    # An end for a rejection: added after the approval, then named.
    tab_to(page, card(page, "approval"), backwards=True)
    add_after_selection(page, "End")
    expect(card(page, "end")).to_be_focused()
    type_into(page, panel.get_by_label("Label", exact=True), "Refused")
    type_into(page, panel.get_by_label("Final status", exact=True), "rejected")
    assert read_problems(page) == ["Step done: no route leads to step 'done'; it can never run"]

    # An approval leads to the blank flow's end: arrow keys walk the canvas (its cards and
    # the + between them), Enter selects.
    tab_to(page, card(page, "end"), backwards=True)
    page.keyboard.press("ArrowUp")
    expect(page.get_by_role("button", name="Add a step after approval, before end")).to_be_focused()
    page.keyboard.press("ArrowUp")
    expect(card(page, "approval")).to_be_focused()
    page.keyboard.press("Enter")
    expect(card(page, "approval")).to_have_attribute("aria-pressed", "true")
    choose_by_arrows(page, panel.get_by_label("approved leads to"), "done")
    assert read_problems(page) == []
    expect(page.locator("#problems-summary")).to_have_text("No problems.")

    tab_to(page, page.get_by_role("button", name="Publish"), backwards=True)
    page.keyboard.press("Enter")
    expect(page.locator("#outcome")).to_have_text("Published workflow laptop-loan version 1.")
    expect(page.locator("#outcome")).to_be_focused()
    expect(announced(page)).to_have_text("Published workflow laptop-loan version 1.")
    expect(page.locator("#versions")).to_contain_text("Version 1, published")
    assert problems.all() == []

    (version,) = published(database, "laptop-loan").items()
    assert version[0] == 1
    document = version[1]
    assert document == saved_draft(database, "laptop-loan")
    steps = document["steps"]
    assert document["first"] == "task"
    assert steps["task"] == {
        "type": "task", "label": "Prepare the laptop", "assign": {"group": "service-desk"},
        "next": "approval",
    }  # fmt: skip
    assert steps["approval"]["assign"] == {"group": "service-desk-l2"}
    assert steps["approval"]["on"] == {"approved": "done", "rejected": "end"}
    assert steps["end"] == {"type": "end", "label": "Refused", "status": "rejected"}
    assert checker_problems(database, document) == []
    code, said = flowdesk_check(tmp_path, document)
    assert code == 0, said
    assert said.startswith("1 document(s) checked, no problems"), said


# 2. axe on every screen ---------------------------------------------------------------------


def scan(page: Page, where: str) -> list[str]:
    """Wait for the check to settle, then scan the page with axe."""
    wait_for_check(page)
    return blocking_violations(page, where)


def test_the_studio_and_every_selection_of_it_incident_pass_axe(
    page: Page, problems: Problems, dana: str
) -> None:
    open_studio(page)
    screenshot(page, "studio")
    found = blocking_violations(page, "the studio's index")
    open_workflow(page, "it-incident")
    found += scan(page, "it-incident, nothing selected")
    page.get_by_role("button", name="Workflow settings").click()
    expect(panel_heading(page)).to_have_text(re.compile("^Workflow: "))
    found += scan(page, "the workflow settings")
    edit_table = properties(page).get_by_role("button", name=re.compile("^Edit table")).first
    table = edit_table.inner_text().removeprefix("Edit table ")
    edit_table.click()
    expect(properties(page).get_by_label("Name", exact=True)).to_have_value(table)
    found += scan(page, "a decision table")
    for step, heading in [
        ("work", "Task: "), ("confirm", "Approval: "), ("route", "Decision: "),
        ("categorize", "Action: "), ("closed", "End: "),
    ]:  # fmt: skip
        select_card(page, step)
        expect(panel_heading(page)).to_contain_text(heading)
        if step == "work":
            screenshot(page, "canvas")
        found += scan(page, f"the {heading[:-2].lower()} {step}")
    # A wait and a subflow, added to the draft after the task.
    for kind in ("Wait", "Subflow"):
        select_card(page, "work")
        palette_entry(page, kind).click()
        expect(panel_heading(page)).to_contain_text(f"{kind}: ")
        found += scan(page, f"a new {kind.lower()}")
    assert found == []
    assert problems.all() == []


def panel_heading(page: Page) -> Locator:
    return properties(page).locator("#properties > h2")


def test_the_review_parallel_simulation_versions_and_json_screens_pass_axe(
    page: Page, problems: Problems, dana: str
) -> None:
    open_studio(page)
    open_workflow(page, "major-incident")
    found = []
    for step, heading in [("review_plan", "Review: "), ("recover", "Parallel branches: ")]:
        select_card(page, step)
        expect(panel_heading(page)).to_contain_text(heading)
        found += scan(page, f"the {heading[:-2].lower()} {step}")

    simulation = page.get_by_role("region", name="Simulate")
    simulation.get_by_role("button", name="Start", exact=True).press("Enter")
    expect(simulation.get_by_role("button", name="Restart")).to_be_enabled()
    found += scan(page, "the simulation after a start")

    select_card(page, "plan")
    properties(page).get_by_label("Label", exact=True).fill("Write the plan")
    properties(page).get_by_label("Label", exact=True).press("Enter")
    expect(page.get_by_role("status").filter(has_text="Draft saved")).to_be_visible()
    versions = page.get_by_role("region", name="Versions")
    versions.get_by_role("button", name="Show the changes").click()
    expect(versions.locator("#diff li").first).to_contain_text("plan")
    versions.scroll_into_view_if_needed()
    screenshot(page, "versions-diff")
    found += scan(page, "the versions with a diff")

    page.get_by_role("button", name="Show the JSON").click()
    expect(json_view(page)).to_contain_text('"key": "major-incident"')
    found += scan(page, "the JSON view")
    assert found == []
    assert problems.all() == []


def test_the_simulation_start_button_stays_readable_under_the_mouse(
    page: Page, problems: Problems, dana: str
) -> None:
    open_studio(page)
    open_workflow(page, "major-incident")
    start = page.get_by_role("region", name="Simulate").get_by_role(
        "button", name="Start", exact=True
    )
    start.hover()
    assert blocking_violations(page, "a hovered Start button") == []
    assert problems.all() == []


# 3. Moves, removal, undo and redo -----------------------------------------------------------


def build_a_line(page: Page, key: str) -> None:
    """A blank workflow with a task, an action and a wait, added from the palette in turn."""
    open_studio(page)
    create_workflow(page, key)
    for kind in ("Task", "Action", "Wait"):
        palette_entry(page, kind).click()
        expect(card(page, kind.lower())).to_have_attribute("aria-pressed", "true")
    wait_for_check(page)
    assert canvas_order(page) == ["task", "action", "wait", "done"]


def test_keys_move_remove_and_bring_back_a_step_exactly(
    page: Page, problems: Problems, dana: str, database: Database
) -> None:
    build_a_line(page, "moves")
    page.get_by_role("button", name="Show the JSON").click()
    card(page, "wait").focus()
    page.keyboard.press("Alt+ArrowUp")
    expect(announced(page)).to_have_text("'wait' moved up, now step 2 of 4.")
    expect(card(page, "wait")).to_be_focused()
    assert canvas_order(page) == ["task", "wait", "action", "done"]
    before = json.loads(json_view(page).inner_text())
    assert before["steps"]["wait"]["next"] == "action"

    page.keyboard.press("Delete")
    expect(announced(page)).to_have_text("'wait' removed. Undo brings it back.")
    expect(card(page, "action")).to_be_focused()
    assert canvas_order(page) == ["task", "action", "done"]
    removed = json.loads(json_view(page).inner_text())
    assert removed["steps"]["task"]["next"] == "action", "what led to it leads on"

    page.keyboard.press("Control+z")
    expect(card(page, "wait")).to_be_visible()
    assert json.loads(json_view(page).inner_text()) == before
    assert canvas_order(page) == ["task", "wait", "action", "done"]
    page.keyboard.press("Control+Shift+Z")
    expect(card(page, "wait")).to_have_count(0)
    assert json.loads(json_view(page).inner_text()) == removed
    wait_for_check(page)
    expect(page.get_by_role("status").filter(has_text="Draft saved")).to_be_visible()
    assert saved_draft(database, "moves") == removed
    assert problems.all() == []


def test_dragging_adds_a_step_on_a_slot_and_moves_a_card_to_another(
    page: Page, problems: Problems, dana: str, database: Database
) -> None:
    build_a_line(page, "dragged")
    page.get_by_role("button", name="Fit").click()
    slot = page.get_by_role("button", name="Add a step after task, before action")
    palette_entry(page, "Approval").drag_to(slot)
    expect(card(page, "approval")).to_be_visible()
    assert canvas_order(page) == ["task", "approval", "action", "wait", "done"]
    wait_for_check(page)  # as a person would see the first drop settle before the next

    first = page.get_by_role("button", name="Add a step before task")
    card(page, "wait").drag_to(first)
    expect(page.locator("#canvas .wf-card-select").first).to_have_attribute("data-step", "wait")
    assert canvas_order(page) == ["wait", "task", "approval", "action", "done"]
    assert read_problems(page) == []
    expect(page.get_by_role("status").filter(has_text="Draft saved")).to_be_visible()
    draft = saved_draft(database, "dragged")
    assert draft["first"] == "wait"
    assert draft["steps"]["wait"]["next"] == "task"
    assert draft["steps"]["approval"]["on"] == {"approved": "action", "rejected": "action"}
    assert problems.all() == []


# 4. Problems next to what they concern ------------------------------------------------------


def test_problems_show_on_their_card_jump_to_their_control_and_block_publishing(
    page: Page, problems: Problems, dana: str, database: Database
) -> None:
    problems.expect("the server responded with a status of 422")
    open_studio(page)
    create_workflow(page, "broken")
    palette_entry(page, "Task").click()
    palette_entry(page, "Decision").click()
    panel = properties(page)

    # An end on the decision's first branch, then removed: the branch leads nowhere.
    lane = page.get_by_role("region", name="Condition 1, from decision")
    lane.get_by_role("button", name="Add a step before done").click()
    page.get_by_role("group", name="Add a step here").get_by_role(
        "button", name=re.compile("^End")
    ).click()
    expect(lane.locator(".wf-card-select")).to_have_attribute("data-step", "end")
    card(page, "end").press("Delete")
    expect(announced(page)).to_contain_text(
        "'decision' (branch 1) led to 'end' and now lead nowhere"
    )
    # The task goes to a group that does not exist.
    select_card(page, "task")
    wait_for_check(page)  # see the report: a check coming back hides the box being opened
    panel.get_by_label("Group", exact=True).select_option(label="Something else, written out")
    written = panel.get_by_label("Group, written out")
    expect(written).to_be_focused()
    written.fill("nobody-here")
    written.press("Enter")

    found = read_problems(page)
    assert any(text.startswith("Step task: ") and "nobody-here" in text for text in found), found
    # The problem names its branch, as the panel counts them.
    assert any(text.startswith("Step decision, branch 1: ") for text in found), found
    task_card = page.locator(".wf-card[data-step='task']")
    expect(task_card.locator(".wf-card-problems")).to_contain_text("nobody-here")
    expect(card(page, "task")).to_have_accessible_description(re.compile("nobody-here"))
    decision_card = page.locator(".wf-card[data-step='decision']")
    expect(decision_card).to_have_class(re.compile("wf-card--problem"))
    problems_section(page).scroll_into_view_if_needed()
    screenshot(page, "problems")

    problem_entries(page).filter(has_text="Step decision, branch 1: ").first.click()
    expect(card(page, "decision")).to_have_attribute("aria-pressed", "true")
    expect(panel.get_by_label("Branch 1 leads to")).to_be_focused()
    problem_entries(page).filter(has_text="nobody-here").first.click()
    expect(card(page, "task")).to_have_attribute("aria-pressed", "true")
    expect(panel.get_by_label("Group, written out")).to_be_focused()

    page.get_by_role("button", name="Publish").click()
    outcome = page.locator("#outcome")
    expect(outcome).to_contain_text("Nothing was published: fix these problems first")
    expect(outcome).to_contain_text("nobody-here")
    assert published(database, "broken") == {}
    assert problems.all() == []


# 5. Templates and forms ---------------------------------------------------------------------


def create_from_template(page: Page, key: str, template: str) -> None:
    """Open the studio and start a new workflow `key` from the template named `template`."""
    open_studio(page)
    option = page.get_by_label("Start from").locator("option", has_text=template)
    create_workflow(page, key, start=option.first.inner_text().strip())


def test_a_new_workflow_from_the_service_request_template_has_its_steps(
    page: Page, problems: Problems, dana: str, database: Database
) -> None:
    create_from_template(page, "laptop-request", "Service request")
    assert canvas_order(page) == ["approve", "fulfil", "tell_requester", "declined", "fulfilled"]
    expect(page.locator("#problems-summary")).to_have_text(re.compile("^No problems"))
    draft = saved_draft(database, "laptop-request")
    assert draft["key"] == "laptop-request"
    assert checker_problems(database, draft) == []
    assert problems.all() == []


def test_a_step_added_inside_a_lane_after_an_edit_above_it_lands_where_its_plus_is(
    page: Page, problems: Problems, dana: str, database: Database
) -> None:
    # A lanes block an edit leaves as it was is kept whole on the canvas; its "+" buttons
    # must still add where they are drawn, though a step added above moved every place.
    create_from_template(page, "lanes-kept", "Service request")
    lanes = page.locator("#canvas li.wf-lanes").first
    lanes.evaluate("(node) => { node.dataset.drawnBefore = 'yes'; }")

    page.get_by_role("button", name="Add a step before approve").click()
    page.get_by_role("group", name="Add a step here").get_by_role(
        "button", name=re.compile("^Task")
    ).click()
    wait_for_check(page)
    expect(lanes).to_have_attribute("data-drawn-before", "yes")  # the same block, kept
    page.get_by_role("button", name="Add a step after tell_requester, before declined").click()
    page.get_by_role("group", name="Add a step here").get_by_role(
        "button", name=re.compile("^Wait")
    ).click()
    wait_for_check(page)
    expect(page.get_by_role("status").filter(has_text="Draft saved")).to_be_visible()

    draft = saved_draft(database, "lanes-kept")
    added = draft["steps"]["tell_requester"]["next"]
    assert draft["steps"][added]["type"] == "wait"
    assert draft["steps"][added]["next"] == "declined"
    assert draft["steps"][draft["first"]]["type"] == "task"
    assert draft["steps"][draft["first"]]["next"] == "approve"
    assert problems.all() == []


def test_a_new_workflow_from_a_published_form_is_a_request_an_approval_and_an_end(
    page: Page, problems: Problems, dana: str, database: Database, tmp_path: Path
) -> None:
    open_studio(page)
    create_workflow(page, "report", start="Report an IT problem (incident-report)")
    assert canvas_order(page) == ["approve", "completed", "rejected"]
    assert read_problems(page) == []
    draft = saved_draft(database, "report")
    assert draft["start"]["form"] == "incident-report"
    assert draft["steps"]["approve"]["on"] == {"approved": "completed", "rejected": "rejected"}
    assert checker_problems(database, draft) == []
    code, said = flowdesk_check(tmp_path, draft)
    assert code == 0, said
    assert said.startswith("1 document(s) checked, no problems"), said
    assert problems.all() == []


# 6. Screenshots for the docs ----------------------------------------------------------------


def png_size(path: Path) -> tuple[int, int]:
    """The width and height a PNG file says it has."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_screenshots_are_saved_for_the_docs_only_when_a_folder_is_named(
    page: Page, problems: Problems, dana: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    open_studio(page)
    monkeypatch.delenv(SCREENSHOTS, raising=False)
    assert screenshot(page, "check") is None
    folder = tmp_path / "shots"
    monkeypatch.setenv(SCREENSHOTS, str(folder))
    saved = screenshot(page, "check")
    assert saved == folder / "workflow-designer-check.png"
    assert png_size(saved) == (VIEWPORT["width"], VIEWPORT["height"])
    assert [p.name for p in folder.iterdir()] == ["workflow-designer-check.png"]
    assert problems.all() == []
