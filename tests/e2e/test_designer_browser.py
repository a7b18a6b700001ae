"""The form designer in a real browser, as a new process owner meets it.

A designer builds an outage report from an empty canvas with the designer's own controls
(palette, properties, rule builder, keyboard), undoes and redoes, publishes; then a
requester with no account fills in the published form. Only the workflow that offers
the form to the public is published through the service layer.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect
from sqlalchemy import select

from engine.catalog import Document
from engine.service.catalogue import Catalogue
from engine.service.commands import Commands
from engine.service.definitions import publish_all
from engine.service.people import ensure_user
from engine.store.database import Database
from engine.store.definitions import Definition, DefinitionVersion
from engine.store.instances import Instance
from tests.e2e.conftest import Problems, blocking_violations
from tests.infrastructure import give_password

PASSWORD = "correct horse battery"
#: A 1x1 PNG, for the screenshot field.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d49444154789c6360000002000100ffff03000006000557bfabd40000000049454e44ae426082"
)
OUTAGE_FLOW = {
    "kind": "workflow",
    "format": 1,
    "key": "outage",
    "title": "Report an outage",
    "start": {"form": "outage-report", "public": True, "number_prefix": "OUT"},
    "first": "closed",
    "steps": {"closed": {"type": "end", "status": "closed"}},
}


@pytest.fixture
def dana(commands: Commands, database: Database) -> str:
    """A process owner who has never used the designer."""
    with database.writer_session() as session, session.begin():
        ensure_user(session, "dana", commands.clock(), name="Dana", roles=["designer"])
        give_password(session, "dana", PASSWORD)
    return "dana"


def open_designer(page: Page, key: str) -> None:
    page.goto("/designer/")
    page.get_by_label("Username").fill("dana")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("Key of the new form").fill(key)
    page.get_by_role("button", name="New form").click()
    expect(page.locator("#designer[data-ready=true]")).to_have_count(1)


def properties(page: Page) -> Locator:
    return page.get_by_role("region", name="Properties")


def add(page: Page, kind: str, label: str, required: bool = False) -> None:
    """Add a field from the palette and name it, as a person would."""
    page.get_by_role("region", name="Add a field").get_by_role(
        "button", name=kind, exact=True
    ).click()
    panel = properties(page)
    expect(panel.get_by_label("Label", exact=True)).to_be_focused()
    # Typed into the box as it was focused: what it holds ("Text") is replaced, not added to.
    page.keyboard.type(label)
    expect(panel.get_by_label("Label", exact=True)).to_have_value(label)
    if required:
        panel.get_by_label("An answer is required").check()


def canvas_order(page: Page) -> list[str]:
    return page.locator("#canvas .canvas-label").all_text_contents()


def saved_draft(database: Database, key: str) -> dict:
    with database.reading() as session:
        definition = session.scalars(select(Definition).where(Definition.key == key)).one()
        return dict(definition.draft["document"])


def build_the_outage_form(page: Page) -> None:
    page.get_by_label("Title", exact=True).fill("Report an outage")
    add(page, "Text", "Summary", required=True)
    add(page, "Drop-down", "Impact", required=True)
    panel = properties(page)
    panel.get_by_label("Option 1: value").fill("high")
    panel.get_by_label("Option 2: value").fill("low")
    panel.get_by_role("button", name="Add an option").click()
    panel.get_by_label("Option 3: value").fill("medium")
    add(page, "Date", "Started on", required=True)
    add(page, "File", "Screenshot")
    add(page, "Table", "Affected devices")
    panel.get_by_label("Column 1: label").fill("Device")
    panel.get_by_role("button", name="Add a column").click()
    panel.get_by_label("Column 2: label").fill("Serial")
    add(page, "Text", "Affected service")
    shown = panel.get_by_role("group", name="Show this field only when")
    shown.get_by_role("button", name="Add a rule").click()
    shown.get_by_label("Field").select_option(label="Impact")
    shown.get_by_label("Comparison").select_option(label="is")
    shown.get_by_label("Value").select_option(label="high")
    add(page, "Paragraph", "Description")
    add(page, "Email", "Contact email")


def test_a_process_owner_builds_publishes_and_a_requester_fills_in_a_form(
    page: Page,
    problems: Problems,
    dana: str,
    database: Database,
    commands: Commands,
    tmp_path: Path,
) -> None:
    open_designer(page, "outage-report")
    build_the_outage_form(page)
    order = [
        "Summary", "Impact", "Started on", "Screenshot", "Affected devices",
        "Affected service", "Description", "Contact email",
    ]  # fmt: skip
    expect(page.locator("#canvas .canvas-label")).to_have_text(order)

    # Reorder by keyboard alone: Contact email goes above Description.
    email = page.get_by_role("button", name=re.compile(r"^Contact email"))
    email.focus()
    page.keyboard.press("Alt+ArrowUp")
    moved = [*order[:6], "Contact email", "Description"]
    expect(page.locator("#canvas .canvas-label")).to_have_text(moved)
    expect(page.locator("#announce")).to_have_text("'Contact email' moved to position 7 of 8.")
    expect(page.get_by_role("button", name=re.compile(r"^Contact email"))).to_be_focused()

    page.keyboard.press("Control+z")
    expect(page.locator("#canvas .canvas-label")).to_have_text(order)
    expect(page.get_by_role("button", name=re.compile(r"^Contact email"))).to_be_focused()
    page.keyboard.press("Control+Shift+Z")
    expect(page.locator("#canvas .canvas-label")).to_have_text(moved)
    page.get_by_role("button", name="Undo").click()
    page.get_by_role("button", name="Redo").click()
    expect(page.locator("#canvas .canvas-label")).to_have_text(moved)

    page.get_by_role("button", name="Publish").click()
    expect(page.locator("#outcome")).to_contain_text("Version 1 is published.")
    # Told as done, not in the red of a refusal (as it was).
    expect(page.locator("#outcome")).to_have_css("border-left-color", "rgb(27, 127, 59)")
    assert problems.all() == []

    form = saved_draft(database, "outage-report")
    with database.reading() as session:
        published = session.scalars(
            select(DefinitionVersion.content)
            .join(Definition)
            .where(Definition.key == "outage-report")
        ).one()
    assert published == form
    assert [(f["key"], f["type"]) for f in form["fields"]] == [
        ("summary", "text"), ("impact", "select"), ("started_on", "date"), ("screenshot", "file"),
        ("affected_devices", "table"), ("affected_service", "text"), ("contact_email", "text"),
        ("description", "textarea"),
    ]  # fmt: skip
    fields = {f["key"]: f for f in form["fields"]}
    assert fields["impact"]["options"] == ["high", "low", "medium"]
    assert fields["started_on"]["required"] is True
    assert [c["key"] for c in fields["affected_devices"]["columns"]] == ["device", "serial"]
    assert fields["affected_service"]["visible_if"] == {
        "field": "impact", "op": "eq", "value": "high"
    }  # fmt: skip
    assert fields["contact_email"]["format"] == "email"

    with database.writer_session() as session, session.begin():
        publish_all(session, [Document(Path("<outage>"), OUTAGE_FLOW)], commands.clock(), "setup")

    # A requester without an account fills it in.
    page.context.clear_cookies()
    page.goto("/new/outage")
    page.get_by_label("Summary").fill("The VPN is down")
    page.get_by_label("Impact").select_option("high")
    page.get_by_label("Started on").fill("2026-11-20")
    shot = tmp_path / "screen.png"
    shot.write_bytes(PNG)
    page.get_by_label("Screenshot").set_input_files(str(shot))
    page.get_by_label("Row 1 Device").fill("laptop-42")
    page.get_by_label("Row 1 Serial").fill("SN-1")
    page.get_by_label("Affected service").fill("VPN")
    page.get_by_label("Contact email").fill("ada@example.org")
    page.get_by_label("Description").fill("Nobody can connect.")
    page.get_by_role("button", name=re.compile("Send|Submit")).click()
    expect(page).to_have_url(re.compile(r"/track/"))

    with database.reading() as session:
        instance = session.scalars(select(Instance)).one()
    data = dict(instance.state["data"])
    (screenshot,) = data.pop("screenshot")
    assert screenshot["name"] == "screen.png"
    assert data == {
        "summary": "The VPN is down",
        "impact": "high",
        "started_on": "2026-11-20",
        "affected_devices": [{"device": "laptop-42", "serial": "SN-1"}],
        "affected_service": "VPN",
        "contact_email": "ada@example.org",
        "description": "Nobody can connect.",
    }


def test_the_designer_page_has_no_serious_accessibility_problems(
    page: Page, problems: Problems, dana: str
) -> None:
    open_designer(page, "incident-report")
    page.get_by_role("button", name=re.compile(r"^What is it about\?")).click()
    expect(properties(page).get_by_label("Label", exact=True)).to_have_value("What is it about?")
    assert blocking_violations(page, "designer") == []
    assert problems.all() == []


def test_publishing_a_form_with_a_problem_shows_it_at_the_field_and_publishes_nothing(
    page: Page, problems: Problems, dana: str, database: Database
) -> None:
    problems.expect("the server responded with a status of 422")
    open_designer(page, "broken")
    page.get_by_label("Title", exact=True).fill("Broken")
    add(page, "Text", "Name")
    add(page, "Text", "Other")
    properties(page).get_by_label("Key").fill("name")
    page.get_by_role("button", name="Publish").click()
    outcome = page.locator("#outcome")
    expect(outcome).to_contain_text("Nothing was published")
    expect(outcome).to_have_css("border-left-color", "rgb(176, 0, 32)")
    expect(outcome).to_contain_text("already used")
    second = page.locator("#canvas .canvas-field").nth(1)
    expect(second.locator(".canvas-problems")).to_contain_text("already used")
    expect(properties(page).get_by_label("Key")).to_have_accessible_description(
        re.compile("already used")
    )
    with database.reading() as session:
        assert session.scalars(select(DefinitionVersion).join(Definition).where(
            Definition.key == "broken")).all() == []  # fmt: skip


def test_dragging_is_one_more_way_to_add_and_move_fields_and_undo_takes_it_back(
    page: Page, problems: Problems, dana: str, database: Database
) -> None:
    open_designer(page, "dragged")
    add(page, "Text", "Summary")
    add(page, "Paragraph", "Description")
    labels = page.locator("#canvas .canvas-label")
    page.get_by_role("button", name=re.compile(r"^Description")).drag_to(
        page.get_by_role("button", name=re.compile(r"^Summary")), target_position={"x": 5, "y": 2}
    )
    expect(labels).to_have_text(["Description", "Summary"])
    palette = page.get_by_role("region", name="Add a field")
    palette.get_by_role("button", name="Date", exact=True).drag_to(
        page.get_by_role("button", name=re.compile(r"^Description")),
        target_position={"x": 5, "y": 2},
    )
    expect(labels).to_have_text(["Date", "Description", "Summary"])
    page.get_by_role("button", name="Undo").click()
    page.get_by_role("button", name="Undo").click()
    expect(labels).to_have_text(["Summary", "Description"])
    expect(page.get_by_role("status").filter(has_text="Draft saved")).to_be_visible()
    assert [f["key"] for f in saved_draft(database, "dragged")["fields"]] == [
        "summary", "description"
    ]  # fmt: skip
    assert problems.all() == []


def broken_form(kind: str) -> tuple[dict, int, str]:
    """A form with one kind of problem, the index of the field it concerns, and its words."""
    fields = [
        {"key": "impact", "type": "radio", "label": "Impact", "options": ["high", "low"]},
        {"key": "service", "type": "text", "label": "Service"},
        {"key": "details", "type": "textarea", "label": "Details"},
    ]
    if kind == "missing label":
        del fields[1]["label"]
        found = (1, "every field needs a label")
    elif kind == "duplicate key":
        fields[2]["key"] = "service"
        found = (2, "already used")
    elif kind == "rule cycle":
        fields[1]["visible_if"] = {"field": "details", "op": "not_empty"}
        fields[2]["visible_if"] = {"field": "service", "op": "not_empty"}
        found = (1, "go round in a circle")
    else:
        assert kind == "required but never shown"
        fields[1]["required"] = True
        fields[1]["visible_if"] = {"field": "impact", "op": "eq", "value": "critical"}
        found = (1, "can never be shown")
    form = {"kind": "form", "format": 1, "key": "broken", "title": "Broken", "fields": fields}
    return form, *found


@pytest.mark.parametrize(
    "kind", ["missing label", "duplicate key", "rule cycle", "required but never shown"]
)
def test_each_kind_of_problem_is_shown_next_to_its_field_and_nothing_is_published(
    page: Page, problems: Problems, dana: str, database: Database, kind: str
) -> None:
    problems.expect("the server responded with a status of 422")
    form, index, words = broken_form(kind)
    open_designer(page, "broken")
    page.get_by_label("The form as JSON").fill(json.dumps(form))
    page.get_by_role("button", name="Apply the JSON").click()
    expect(page.locator("#json-errors")).to_contain_text(words)
    page.locator("#json-errors").get_by_role("button").filter(has_text=words).first.click()
    selected = page.locator("#canvas .canvas-select").nth(index)
    expect(selected).to_have_attribute("aria-pressed", "true")
    expect(selected).to_be_focused()
    page.get_by_role("button", name="Publish").click()
    expect(page.locator("#outcome")).to_contain_text("Nothing was published")
    field = page.locator("#canvas .canvas-field").nth(index)
    expect(field.locator(".canvas-problems")).to_contain_text(words)
    expect(field.get_by_role("button")).to_have_accessible_description(re.compile(words))
    with database.reading() as session:
        assert session.scalars(select(DefinitionVersion).join(Definition).where(
            Definition.key == "broken")).all() == []  # fmt: skip
    assert problems.all() == []


def test_renaming_a_field_a_workflow_routes_on_asks_before_publishing(
    page: Page, problems: Problems, dana: str, database: Database
) -> None:
    problems.expect("the server responded with a status of 409")
    open_designer(page, "incident-report")
    page.get_by_role("button", name=re.compile(r"^What is it about\?")).click()
    properties(page).get_by_label("Key").fill("topic")
    page.get_by_role("button", name="Publish").click()
    outcome = page.locator("#outcome")
    expect(outcome).to_contain_text("Published workflows use fields this version renames")
    expect(outcome).to_contain_text("Workflow 'it-incident'")
    expect(outcome).to_contain_text("category")
    outcome.get_by_role("button", name="Publish anyway").click()
    expect(outcome).to_contain_text("Version 2 is published.")
    assert problems.all() == []


def test_typing_into_a_property_keeps_what_is_typed_and_one_undo_takes_it_all_back(
    page: Page, problems: Problems, dana: str, database: Database
) -> None:
    open_designer(page, "typed")
    page.get_by_label("Title", exact=True).fill("Typed")
    add(page, "File", "Screenshot")
    accepted = properties(page).get_by_label("Accepted types")
    accepted.press_sequentially("image/*, application/pdf")
    expect(accepted).to_have_value("image/*, application/pdf")
    expect(page.get_by_role("status").filter(has_text="Draft saved")).to_be_visible()
    (field,) = saved_draft(database, "typed")["fields"]
    assert field["accept"] == ["image/*", "application/pdf"]
    page.get_by_role("button", name="Undo").click()
    expect(accepted).to_have_value("")

    add(page, "Table", "Devices")
    properties(page).get_by_label("Column 1: type").select_option(label="drop-down")
    properties(page).get_by_label("Column 1: options").fill("")
    properties(page).get_by_label("Column 1: options").press_sequentially("laptop, phone")
    expect(page.get_by_role("status").filter(has_text="Draft saved")).to_be_visible()
    table = saved_draft(database, "typed")["fields"][1]
    assert table["columns"][0]["options"] == ["laptop", "phone"]
    assert problems.all() == []


def test_a_rule_may_combine_comparisons_without_code(
    page: Page, problems: Problems, dana: str, database: Database
) -> None:
    open_designer(page, "combined")
    page.get_by_label("Title", exact=True).fill("Combined")
    add(page, "Buttons", "Impact")
    add(page, "Tick box", "Customers affected")
    add(page, "Text", "Service")
    shown = properties(page).get_by_role("group", name="Show this field only when")
    shown.get_by_role("button", name="Add a rule").click()
    shown.get_by_role("button", name="Add a comparison").click()
    expect(shown.get_by_label("Field 2")).to_be_focused()
    shown.get_by_label("Field 2").select_option(label="Customers affected")
    expect(shown.get_by_label("Value 2")).to_have_value("true")
    shown.get_by_label("When").select_option(label="any of these holds")
    shown.get_by_label("Value 1").select_option(label="Option 2")
    expect(page.get_by_role("status").filter(has_text="Draft saved")).to_be_visible()
    service = saved_draft(database, "combined")["fields"][2]
    assert service["visible_if"] == {
        "any": [
            {"field": "impact", "op": "eq", "value": "Option 2"},
            {"field": "customers_affected", "op": "eq", "value": True},
        ]
    }
    shown.get_by_role("button", name="Remove comparison 2").click()
    expect(page.get_by_role("status").filter(has_text="Draft saved")).to_be_visible()
    service = saved_draft(database, "combined")["fields"][2]
    assert service["visible_if"] == {"field": "impact", "op": "eq", "value": "Option 2"}
    assert problems.all() == []


def test_a_choice_of_bare_numbers_is_edited_ruled_on_and_published_as_numbers(
    page: Page, problems: Problems, dana: str, database: Database
) -> None:
    survey = {
        "kind": "form", "format": 1, "key": "survey", "title": "How did we do?",
        "fields": [
            {"key": "score", "type": "radio", "label": "Score", "options": [1, 2, 3]},
            {"key": "why", "type": "text", "label": "What went wrong?"},
        ],
    }  # fmt: skip
    open_designer(page, "survey")
    page.get_by_label("The form as JSON").fill(json.dumps(survey))
    page.get_by_role("button", name="Apply the JSON").click()
    page.get_by_role("button", name=re.compile(r"^Score")).click()
    panel = properties(page)
    expect(panel.get_by_label("Option 3: value")).to_have_value("3")
    panel.get_by_role("button", name="Add an option").click()
    expect(panel.get_by_label("Option 4: value")).to_have_value("4")
    panel.get_by_label("Option 2: words shown (optional)").fill("Two")
    panel.get_by_label("Default answer").fill("2")
    page.get_by_role("button", name=re.compile(r"^What went wrong")).click()
    shown = properties(page).get_by_role("group", name="Show this field only when")
    shown.get_by_role("button", name="Add a rule").click()
    shown.get_by_label("Field").select_option(label="Score")
    shown.get_by_label("Value").select_option(label="1")

    page.get_by_role("button", name="Publish").click()
    expect(page.locator("#outcome")).to_contain_text("Version 1 is published.")
    score, why = saved_draft(database, "survey")["fields"]
    assert score["options"] == [1, {"value": 2, "label": "Two"}, 3, 4]
    assert score["default"] == 2
    assert why["visible_if"] == {"field": "score", "op": "eq", "value": 1}
    assert problems.all() == []


def test_a_service_field_offers_the_catalogue_in_the_preview_and_publishes_as_one(
    page: Page, problems: Problems, dana: str, database: Database, commands: Commands
) -> None:
    catalogue = Catalogue(commands)
    for key, name in (("vpn", "Remote access (VPN)"), ("mail", "E-mail")):
        catalogue.save_service(key, {"name": name, "start_data": {}}, actor=None, create=True)
    open_designer(page, "outages")
    page.get_by_label("Title", exact=True).fill("Report an outage")
    add(page, "Service", "Which service is down?", required=True)

    preview = page.locator("#preview").get_by_label("Which service is down?")
    expect(preview.locator("option")).to_have_text(
        ["Choose a service", "E-mail", "Remote access (VPN)"]
    )
    page.get_by_role("button", name="Publish").click()
    expect(page.locator("#outcome")).to_contain_text("Version 1 is published.")
    (field,) = saved_draft(database, "outages")["fields"]
    assert (field["type"], field["label"], field["required"]) == (
        "service",
        "Which service is down?",
        True,
    )
    assert problems.all() == []
