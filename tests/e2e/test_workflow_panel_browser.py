"""The workflow designer's properties panel holds up to a real person, in a real Chromium.

An edit made in the panel redraws it at once, and a check coming back from the server may
redraw it again (an edit on the canvas leaves the panel to its check): these tests prove
that a person typing or choosing does not feel it. Typing a group's name
into its select picks that group (the select's type-ahead is not started over by a
redraw); "Something else, written out" keeps its text box open and focused while a check
comes back; and the fixes found by going through each step type's panel as a new process
owner would (see each test's docstring).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, Route, expect
from sqlalchemy import select

from engine.catalog import Document
from engine.service.commands import Commands
from engine.service.definitions import publish_all
from engine.service.people import ensure_group
from engine.service.shell import utcnow
from engine.service.workflow_drafts import WorkflowDrafts
from engine.store.database import Database
from engine.store.definitions import Definition
from tests.e2e.conftest import Problems
from tests.e2e.workflow_designer import (
    card,
    create_workflow,
    make_designer,
    open_studio,
    open_workflow,
    properties,
    read_problems,
    select_card,
    tab_to,
    wait_for_check,
    wait_until_ready,
)

#: The check the page asks the server for after every edit.
CHECK = re.compile(r"/designer/api/workflows/[^/]+/check$")


@pytest.fixture
def dana(database: Database, commands: Commands) -> str:
    """A process owner with the designer role, in a database holding the shipped pack."""
    return make_designer(database, commands)


def saved_draft(database: Database, key: str) -> dict[str, Any]:
    """The draft of a workflow as the server holds it."""
    with database.reading() as session:
        definition = session.scalars(
            select(Definition).where(Definition.kind == "workflow", Definition.key == key)
        ).one()
        assert definition.draft is not None, f"{key} has no draft"
        return dict(definition.draft["document"])


def wait_until_saved(page: Page) -> None:
    """Wait until the latest edit is checked and the draft saved."""
    wait_for_check(page)
    expect(page.locator("#save-status")).to_have_text(re.compile(r"^Draft saved"))


def add_step(page: Page, kind: str) -> None:
    """Add a step from the palette, after the selected one; the panel then shows it."""
    page.get_by_role("region", name="Add a step").get_by_role(
        "button", name=kind, exact=True
    ).click()
    expect(properties(page).get_by_role("heading", name=re.compile(f"^{kind}:"))).to_be_visible()
    wait_for_check(page)


def a_task(page: Page, key: str) -> Locator:
    """A new blank workflow with one task, selected; return the properties panel."""
    open_studio(page)
    create_workflow(page, key)
    add_step(page, "Task")
    expect(card(page, "task")).to_have_attribute("aria-pressed", "true")
    return properties(page)


class HeldChecks:
    """Holds the page's checks until released: the answer then comes back when a test says."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.held: list[Route] = []
        page.route(CHECK, self.hold)

    def hold(self, route: Route) -> None:
        self.held.append(route)

    def release(self) -> None:
        assert self.held, "no check was asked for"
        for route in self.held:
            route.continue_()
        self.held.clear()
        self.page.unroute(CHECK)


# 1. Typing to pick in a select ----------------------------------------------------------------


def test_typing_a_group_name_into_its_select_picks_that_group(
    page: Page, problems: Problems, dana: str, database: Database
) -> None:
    panel = a_task(page, "typed-group")
    group = panel.get_by_label("Group", exact=True)
    tab_to(page, group)
    # Each letter is an edit, and each edit redraws the panel: the type-ahead goes on.
    page.keyboard.type("service-desk-")
    expect(group).to_have_value('"service-desk-l2"')
    expect(group).to_be_focused()
    wait_until_saved(page)
    assert saved_draft(database, "typed-group")["steps"]["task"]["assign"] == {
        "group": "service-desk-l2"
    }
    # The select kept is still the panel's: the arrow keys go on from where typing left.
    page.keyboard.press("ArrowUp")
    expect(group).to_have_value('"service-desk"')
    wait_until_saved(page)
    assert saved_draft(database, "typed-group")["steps"]["task"]["assign"] == {
        "group": "service-desk"
    }
    assert problems.all() == []


# 2. The written-out box -----------------------------------------------------------------------


def test_the_written_out_box_stays_open_and_focused_while_a_check_comes_back(
    page: Page, problems: Problems, dana: str, database: Database
) -> None:
    panel = a_task(page, "written-group")
    checks = HeldChecks(page)
    # An edit whose check is held back: its answer redraws the panel later.
    with page.expect_request(CHECK):
        panel.get_by_label("Who in the group gets it").select_option(
            label="Round robin: members in turn"
        )
    panel.get_by_label("Group", exact=True).select_option(label="Something else, written out")
    written = panel.get_by_label("Group, written out")
    expect(written).to_be_focused()

    checks.release()
    wait_for_check(page)
    expect(written).to_be_visible()
    expect(written).to_be_focused()

    page.keyboard.type("night-desk")
    page.keyboard.press("Enter")
    wait_until_saved(page)
    assert saved_draft(database, "written-group")["steps"]["task"]["assign"] == {
        "group": "night-desk",
        "strategy": "round_robin",
    }
    # The checker's word on it shows next to the box it concerns.
    expect(written).to_have_accessible_description(re.compile("night-desk"))
    assert any("night-desk" in text for text in read_problems(page))

    # Picking one of the groups leaves the written-out mode, and closes the box.
    panel.get_by_label("Group", exact=True).select_option(label="service-desk")
    expect(written).to_be_hidden()
    wait_until_saved(page)
    assert saved_draft(database, "written-group")["steps"]["task"]["assign"]["group"] == (
        "service-desk"
    )
    assert problems.all() == []


# 3. Going through the panels as a new process owner ------------------------------------------


def incident(page: Page, key: str) -> Locator:
    """A new workflow from the IT incident template; return the properties panel."""
    open_studio(page)
    template = page.get_by_label("Start from").locator("option", has_text="IT incident")
    create_workflow(page, key, start=template.first.inner_text().strip())
    return properties(page)


def test_the_arrow_keys_walk_the_insert_a_field_picker_and_enter_inserts_one_field(
    page: Page, problems: Problems, dana: str, database: Database
) -> None:
    """The picker inserted a field at every arrow press: a keyboard passing over the
    fields inserted each one. Now the arrows only choose, and Enter inserts."""
    panel = a_task(page, "inserted")
    title = panel.get_by_label("Task title", exact=True)
    picker = panel.get_by_label("Insert a field into the task title")
    expect(picker).to_have_accessible_description(re.compile("Enter inserts it"))
    tab_to(page, picker)
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    expect(picker).to_have_value("instance.requester")
    expect(title).to_have_value("")
    page.keyboard.press("Enter")
    expect(title).to_have_value("{{ instance.requester }}")
    expect(picker).to_be_focused()
    wait_until_saved(page)
    assert saved_draft(database, "inserted")["steps"]["task"]["title"] == (
        "{{ instance.requester }}"
    )
    assert problems.all() == []


def test_walking_the_assignment_kinds_with_the_arrows_gives_the_first_one_back(
    page: Page, problems: Problems, dana: str, database: Database
) -> None:
    """Each arrow press on "Assigned to" is a change: walking down and back up replaced
    the group named in a field (and its round robin) by the first group there is."""
    panel = incident(page, "walked")
    select_card(page, "work")
    kind = panel.get_by_label("Assigned to")
    tab_to(page, kind)
    expect(kind).to_have_value('"group"')
    # (A task's "no assignment" is the requester's, so "The requester" is not listed again.)
    for key, value in (("ArrowDown", '"on_call"'), ("ArrowDown", '"manager_of"')):
        page.keyboard.press(key)
        expect(kind).to_have_value(value)
    for key, value in (("ArrowUp", '"on_call"'), ("ArrowUp", '"group"')):
        page.keyboard.press(key)
        expect(kind).to_have_value(value)
    wait_until_saved(page)
    assert saved_draft(database, "walked")["steps"]["work"]["assign"] == {
        "group": "{{ team }}",
        "strategy": "round_robin",
    }
    assert problems.all() == []


def test_pickers_offer_only_what_the_checker_takes_and_say_the_rest_in_a_box(
    page: Page, problems: Problems, dana: str, database: Database
) -> None:
    """The group picker offered every text field, the checker refusing those whose
    options are not groups (category: access, hardware...); with no on-call schedule,
    "Whoever is on call" showed an empty picker; "Computed by an expression" started as
    a blank expression the checker refused."""
    panel = incident(page, "offered")
    select_card(page, "work")
    group = panel.get_by_label("Group", exact=True)
    offered = group.locator("option").all_inner_texts()
    assert "The group in the field team" in offered, offered
    assert not [text for text in offered if "(category)" in text or "(impact)" in text], offered

    panel.get_by_label("Assigned to").select_option(label="Whoever is on call")
    expect(panel.get_by_label("On-call schedule, written out")).to_be_visible()
    page.get_by_role("button", name="Undo").click()
    expect(panel.get_by_label("Assigned to")).to_have_value('"group"')

    select_card(page, "self_service")
    panel.get_by_label("Value 1: how").select_option(label="Computed by an expression")
    expression = panel.get_by_label("Expression", exact=True)
    expect(expression).to_have_value(re.compile(r"^'Reset your password yourself"))
    found = read_problems(page)
    assert not [text for text in found if text.startswith("Step self_service:")], found
    # Back to text: the text is there again, as it was.
    panel.get_by_label("Value 1: how").select_option(label="Text")
    expect(panel.get_by_label("Value", exact=True)).to_have_value(
        re.compile("^Reset your password yourself")
    )
    assert problems.all() == []


def test_a_group_added_in_another_tab_is_offered_once_the_designer_is_back_in_view(
    page: Page, problems: Problems, dana: str, database: Database, commands: Commands
) -> None:
    """The pickers kept the groups of the moment the page opened: a group just added under
    Admin was not offered until the page was reloaded, and nothing said to."""
    panel = incident(page, "new-group")
    select_card(page, "work")
    group = panel.get_by_label("Group", exact=True)
    assert "finance" not in group.locator("option").all_inner_texts()
    with database.writer_session() as session, session.begin():
        ensure_group(session, "finance", "Finance")
    # Another tab in front, then this one again.
    for state in ("hidden", "visible"):
        page.evaluate(
            """(state) => {
                const seen = {value: state, configurable: true};
                Object.defineProperty(document, "visibilityState", seen);
                document.dispatchEvent(new Event("visibilitychange"));
            }""",
            state,
        )
    expect(group.locator("option", has_text="Finance")).to_have_count(1)
    assert problems.all() == []


def test_fit_shows_the_whole_flow_with_no_scroll_left_over(
    page: Page, problems: Problems, dana: str
) -> None:
    """A scaled canvas kept its unscaled room: after Fit the viewport still scrolled, and a
    card selected before had scrolled the flow's left lane out of view."""
    page.set_viewport_size({"width": 1000, "height": 900})
    incident(page, "fitted")
    viewport = page.locator("#viewport")
    select_card(page, "self_service")
    viewport.evaluate("(node) => { node.scrollLeft = node.scrollWidth; }")

    page.get_by_role("button", name="Fit").click()

    sizes = viewport.evaluate("(n) => [n.scrollLeft, n.scrollWidth, n.clientWidth]")
    assert sizes[0] == 0, sizes
    assert sizes[1] <= sizes[2] + 1, sizes  # nothing left to scroll to
    zoom = page.locator("#zoom-level").inner_text()
    assert zoom != "100%", zoom  # the flow was wider than the viewport: it was scaled down
    assert problems.all() == []


# 4. A canvas edit and the panel --------------------------------------------------------------


def test_a_step_moved_on_the_canvas_offers_the_fields_that_exist_where_it_now_is(
    page: Page, problems: Problems, dana: str, commands: Commands
) -> None:
    """A move on the canvas leaves the panel to the move's check (the fields it offers come
    with it): the panel is drawn once, and offers what exists at the step's new place."""
    drafts = WorkflowDrafts(commands)
    drafts.create("moved", dana)
    drafts.save("moved", MOVED, drafts.draft("moved").revision, dana)
    open_studio(page)
    open_workflow(page, "moved")
    select_card(page, "work")
    picker = properties(page).get_by_label("Insert a field into the task title")
    noted = picker.locator("option", has_text="checked_by_desk")
    expect(noted).to_have_count(1)

    card(page, "work").focus()
    page.keyboard.press("Alt+ArrowUp")  # above the action that sets the field
    expect(card(page, "work")).to_be_focused()
    wait_for_check(page)
    expect(noted).to_have_count(0)
    page.keyboard.press("Alt+ArrowDown")
    wait_for_check(page)
    expect(noted).to_have_count(1)
    assert problems.all() == []


def test_a_step_added_from_the_palette_is_never_edited_through_the_panel_of_another(
    page: Page, problems: Problems, dana: str, database: Database
) -> None:
    """A canvas edit that selects another step holds the panel until the edit's check draws
    it (or PANEL_WAIT_MS passes): meanwhile the panel, still showing the step selected before,
    takes no input, so nothing typed or clicked goes to the wrong step."""
    panel = a_task(page, "added-at-once")
    add_step(page, "Action")
    first = page.locator("#canvas .wf-card-select[aria-pressed=true]").get_attribute("data-step")
    checks = HeldChecks(page)
    with page.expect_request(CHECK):
        page.get_by_role("region", name="Add a step").get_by_role(
            "button", name="Action", exact=True
        ).click()
    selected = page.locator("#canvas .wf-card-select[aria-pressed=true]")
    expect(selected).not_to_have_attribute("data-step", first or "")
    new = selected.get_attribute("data-step")
    # Read at once: either held (inert, busy) or drawn for the new step already.
    shows, held = page.evaluate(
        """() => {
          const panel = document.getElementById("properties");
          const id = panel.querySelector(".wf-step-heading + .field input");
          return [id ? id.value : null, panel.inert && panel.getAttribute("aria-busy") === "true"];
        }"""
    )
    assert held or shows == new, (shows, held)
    # The check is still held: the panel is drawn for the new step once PANEL_WAIT_MS passes.
    expect(panel.get_by_label("Id", exact=True)).to_have_value(new or "")
    assert page.evaluate("() => document.getElementById('properties').inert") is False
    checks.release()
    wait_until_saved(page)
    steps = saved_draft(database, "added-at-once")["steps"]
    assert {first, new} <= set(steps)
    assert problems.all() == []


def test_a_label_typed_in_the_panel_keeps_the_box_and_names_the_step_everywhere(
    page: Page, problems: Problems, dana: str
) -> None:
    """A label is stored as typed without drawing the panel again: the box keeps the focus
    and the caret, and the panel's heading, the card and the outline say the new label."""
    panel = a_task(page, "retitled")
    box = panel.get_by_label("Label", exact=True)
    box.fill("Triage the call")
    box.press("Enter")
    expect(box).to_be_focused()
    expect(panel.locator(".wf-step-heading")).to_have_text("Task: Triage the call")
    expect(page.locator("#canvas .wf-card-select[aria-pressed=true]")).to_contain_text(
        "Triage the call"
    )
    page.keyboard.type(" now")
    page.keyboard.press("Enter")
    expect(panel.locator(".wf-step-heading")).to_have_text("Task: Triage the call now")
    # Typed in one box, one undo step: undone, the step has no label again.
    page.locator("#undo").click()
    expect(panel.locator(".wf-step-heading")).to_have_text("Task: task")
    expect(panel.get_by_label("Label", exact=True)).to_have_value("")
    assert problems.all() == []


#: An action that sets a field, then a task whose title may insert it.
MOVED: dict[str, Any] = {
    "kind": "workflow", "format": 1, "key": "moved", "title": "Moved",
    "start": {"form": "service-request"},
    "first": "note",
    "steps": {
        "note": {"type": "action", "set": {"checked_by_desk": {"value": True}}, "next": "work"},
        "work": {"type": "task", "assign": {"group": "service-desk"}, "next": "done"},
        "done": {"type": "end", "status": "completed"},
    },
}  # fmt: skip


def test_a_duration_box_reads_plain_words_and_says_a_kept_mistake_once(
    page: Page, problems: Problems, dana: str, database: Database
) -> None:
    """The box takes words or ISO 8601, so its advice offers both while typing; a wrong
    value kept is the check's to report there, and the panel says it once, not twice."""
    problems.expect("the server responded with a status of 422")
    panel = a_task(page, "due-words")
    due = panel.get_by_label("Due within")
    due.fill("2 days")
    expect(panel.locator(".wf-duration-words")).to_have_text("2 days (P2D)")
    due.press("Enter")
    wait_until_saved(page)
    assert saved_draft(database, "due-words")["steps"]["task"]["due"] == "P2D"

    due = panel.get_by_label("Due within")
    due.fill("soon")
    expect(panel.locator(".wf-duration-words")).to_have_text(
        "'soon' is not a duration; write it like 30 min, 4 hours, 2 days or 1 week, "
        "or in ISO 8601 like PT30M"
    )
    due.press("Enter")
    wait_for_check(page)
    assert any("'soon' is not a duration" in text for text in read_problems(page))
    expect(panel.get_by_text(re.compile("'soon' is not a duration"))).to_have_count(1)
    expect(panel.locator(".wf-duration-words")).to_have_text("")


# 7. The workflow's own messages --------------------------------------------------------------


def test_a_notify_offers_the_workflows_own_messages_and_an_edit_keeps_them(
    page: Page, problems: Problems, dana: str, database: Database, commands: Commands
) -> None:
    """A notify offers the workflow's own messages, and the shipped ones, where it names
    its message, and saving an edit elsewhere keeps them as they were."""
    panel = incident(page, "told")
    document = saved_draft(database, "told")
    document["messages"] = {
        "told-you": {"subject": "{{ instance.number }}", "body": "Try the self-service page."}
    }
    document["steps"]["self_service"]["notify"]["template"] = "told-you"
    drafts = WorkflowDrafts(commands)
    drafts.save("told", document, drafts.draft("told").revision, dana)
    page.reload()
    wait_until_ready(page)

    select_card(page, "self_service")
    message = panel.get_by_label("Message template")
    expect(message).to_have_value("told-you")
    offered = page.locator(f"datalist#{message.get_attribute('list')} option")
    values = [option.get_attribute("value") for option in offered.all()]
    assert values[0] == "told-you", values
    assert {"reminder", "password-reset"} <= set(values), values

    message.fill("password-reset")
    message.press("Tab")
    wait_until_saved(page)
    saved = saved_draft(database, "told")
    assert saved["messages"] == document["messages"]
    assert saved["steps"]["self_service"]["notify"]["template"] == "password-reset"
    assert any("told-you" in text and "never sent" in text for text in read_problems(page))
    assert problems.all() == []


def test_a_process_owner_writes_a_message_sends_it_and_removes_it_when_nothing_sends_it(
    page: Page, problems: Problems, dana: str, database: Database
) -> None:
    """A message of the workflow's own is written in its settings (name, subject, body with a
    field inserted), sent by a notify, and removed again once no notify sends it: the
    checker's "never sent" is said at the message, beside its Remove button."""
    panel = incident(page, "told")
    page.get_by_role("button", name="Workflow settings").click()
    messages = panel.get_by_role("group", name="Mail messages of its own")
    messages.get_by_label("New message's name").fill("Told You")
    messages.get_by_role("button", name="Add a message").click()
    expect(messages.get_by_role("alert")).to_contain_text("lower-case letters")
    messages.get_by_label("New message's name").fill("told-you")
    messages.get_by_role("button", name="Add a message").click()
    wait_until_saved(page)
    messages = panel.get_by_role("group", name="Mail messages of its own")
    expect(messages.get_by_text("no notify sends the message 'told-you'")).to_be_visible()

    subject = messages.get_by_label("Subject of told-you")
    subject.fill("{{ instance.number }}: try the self-service page")
    subject.press("Tab")
    wait_until_saved(page)
    body = panel.get_by_label("Body of told-you", exact=True)
    body.fill("Hello,\n\nthe page fixes most printers:")
    body.press("Tab")
    wait_until_saved(page)
    picker = panel.get_by_label("Insert a field into the body of told-you")
    picker.select_option(label=picker.locator("option", has_text="summary").first.inner_text())
    wait_until_saved(page)
    assert saved_draft(database, "told")["messages"] == {
        "told-you": {
            "subject": "{{ instance.number }}: try the self-service page",
            "body": "Hello,\n\nthe page fixes most printers: {{ summary }}",
        }
    }

    select_card(page, "self_service")
    template = panel.get_by_label("Message template")
    template.fill("told-you")
    template.press("Tab")
    wait_until_saved(page)
    assert not any("told-you" in text for text in read_problems(page))

    template.fill("reminder")
    template.press("Tab")
    wait_until_saved(page)
    assert any("told-you" in text and "never sent" in text for text in read_problems(page))
    page.get_by_role("button", name="Workflow settings").click()
    panel.get_by_role("button", name="Remove the message told-you").click()
    wait_until_saved(page)
    assert "messages" not in saved_draft(database, "told")
    assert not any("told-you" in text for text in read_problems(page))
    assert problems.all() == []


def test_who_works_the_requests_is_set_in_the_settings_and_emptied_back_to_the_desk(
    page: Page, problems: Problems, dana: str, database: Database
) -> None:
    panel = incident(page, "facilities")
    page.get_by_role("button", name="Workflow settings").click()
    team = panel.get_by_label("Who works its requests")
    expect(team).to_have_attribute("placeholder", "the service desk")

    team.fill("Facilities")
    team.press("Tab")
    wait_until_saved(page)
    assert saved_draft(database, "facilities")["team"] == "Facilities"

    panel.get_by_label("Who works its requests").fill("  ")
    panel.get_by_label("Who works its requests").press("Tab")
    wait_until_saved(page)
    assert "team" not in saved_draft(database, "facilities")
    assert problems.all() == []


def test_an_action_opens_a_problem_when_its_box_is_ticked_and_no_longer_when_unticked(
    page: Page, problems: Problems, dana: str, database: Database
) -> None:
    """An action's "Open a problem linked to this instance" writes `open_problem`, which the
    checker takes (the shipped problem workflow is published); unticked, it is gone."""
    panel = incident(page, "learned")
    select_card(page, "self_service")
    box = panel.get_by_label("Open a problem linked to this instance")
    expect(box).not_to_be_checked()

    box.check()
    wait_until_saved(page)
    assert saved_draft(database, "learned")["steps"]["self_service"]["open_problem"] is True
    assert read_problems(page) == []

    panel.get_by_label("Open a problem linked to this instance").uncheck()
    wait_until_saved(page)
    assert "open_problem" not in saved_draft(database, "learned")["steps"]["self_service"]
    assert problems.all() == []


OUTAGE_FORM = {
    "kind": "form",
    "format": 1,
    "key": "outage-report",
    "title": "Report an outage",
    "fields": [
        {"key": "email", "type": "text", "format": "email", "label": "Your email address"},
        {"key": "down", "type": "service", "label": "Which service is down?", "required": True},
    ],
}


def test_the_settings_offer_the_start_forms_address_and_service_fields(
    page: Page, problems: Problems, dana: str, database: Database
) -> None:
    """Where the tracking link goes offers the start form's text fields, and where its
    service is offers its service fields; choosing one writes it."""
    with database.writer_session() as session, session.begin():
        publish_all(session, [Document(Path("outage-report.json"), OUTAGE_FORM)], utcnow(), dana)
    panel = incident(page, "outages")
    page.get_by_role("button", name="Workflow settings").click()
    panel.get_by_label("Start form").select_option(label="Report an outage (outage-report)")
    wait_until_saved(page)

    link = panel.get_by_label("Send the tracking link to")
    assert '"email"' in [o.get_attribute("value") for o in link.locator("option").all()]
    service = panel.get_by_label("Its service in the catalogue is in")
    offered = [o.get_attribute("value") for o in service.locator("option").all()]
    # The new start form's service fields, and the shipped report's, named until it is changed.
    assert offered == ["", '"down"', '"affected_service"']

    service.select_option('"down"')
    wait_until_saved(page)
    assert saved_draft(database, "outages")["start"]["service"] == "down"
    assert not any("/start/service" in text for text in read_problems(page))


def test_what_is_typed_after_tab_or_a_click_goes_to_the_next_box(
    page: Page, problems: Problems, dana: str, database: Database
) -> None:
    """A box's text is stored as it is left. The panel was drawn again at that moment, while
    the browser moved the focus on: the box reached by Tab or a click was replaced, the
    focus fell to the page's body, and what was typed next was lost, without a word."""
    panel = incident(page, "moved-on")
    page.get_by_role("button", name="Workflow settings").click()
    panel.get_by_label("Title", exact=True).fill("Buy things")
    page.keyboard.press("Tab")
    page.keyboard.press("Control+A")
    page.keyboard.type("What the company needs.")
    description = panel.get_by_label("Description", exact=True)
    expect(description).to_have_value("What the company needs.")

    prefix = panel.get_by_label("Number prefix")
    prefix.click()  # a click, not Tab: the description is stored as it is left
    page.keyboard.press("Control+A")
    page.keyboard.type("PUR")
    expect(prefix).to_have_value("PUR")
    expect(prefix).to_be_focused()
    panel.get_by_label("Instance title", exact=True).click()
    page.keyboard.press("Control+A")
    page.keyboard.type("Purchase of {{ summary }}")
    page.keyboard.press("Enter")  # Enter stores it, and the focus stays in the box
    expect(panel.get_by_label("Instance title", exact=True)).to_be_focused()

    wait_until_saved(page)
    draft = saved_draft(database, "moved-on")
    assert (draft["title"], draft["description"]) == ("Buy things", "What the company needs.")
    assert draft["start"]["number_prefix"] == "PUR"
    assert draft["start"]["title"] == "Purchase of {{ summary }}"
    assert problems.all() == []
