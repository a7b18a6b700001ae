"""Form rendering: accessible HTML that works without JavaScript and escapes everything."""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from jinja2 import Environment

from forms.rendering import field_id, fields_by_key, has_files, register, template_loader

ROOT = Path(__file__).resolve().parents[3]
PAYLOAD = "<script>alert(1)</script>"
IMPORT = '{% from "forms/macros.html" import error_summary, form_body, values_list %}'
VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta"})
CONTROLS = frozenset({"input", "select", "textarea", "output"})

EVERY_TYPE: dict[str, Any] = {
    "kind": "form",
    "format": 1,
    "key": "everything",
    "title": "Everything",
    "pages": [
        {
            "title": "About you",
            "help": "So we can reach you.",
            "fields": [
                {"key": "name", "type": "text", "label": "Your name", "required": True},
                {"key": "email", "type": "text", "format": "email", "label": "Your email address",
                 "help": "We write to you here.", "required": True},
                {"key": "phone", "type": "text", "format": "phone", "label": "Phone"},
                {"key": "site", "type": "text", "format": "url", "label": "Web site"},
                {"key": "manager", "type": "user", "label": "Your manager"},
                {"key": "source", "type": "hidden", "label": "Source", "default": "portal"},
            ],
        },
        {
            "title": "The problem",
            "fields": [
                {"key": "details_heading", "type": "section", "label": "Details",
                 "help": "Tell us more."},
                {"key": "details", "type": "textarea", "label": "What happened?", "required": True},
                {"key": "count", "type": "number", "label": "How many?", "min": 0, "max": 10,
                 "integer": True},
                {"key": "since", "type": "date", "label": "Since when?"},
                {"key": "started", "type": "datetime", "label": "Started at"},
                {"key": "category", "type": "select", "label": "Category",
                 "options": [{"value": "hw", "label": "Hardware"}, "software"]},
                {"key": "tags", "type": "multiselect", "label": "Tags",
                 "options": [{"value": "vpn", "label": "VPN"}, "mail"], "public": True},
                {"key": "impact", "type": "radio", "label": "Who is affected?", "required": True,
                 "options": [{"value": "high", "label": "Everyone"},
                             {"value": "low", "label": "Only me"}]},
                {"key": "service", "type": "text", "label": "Which service?",
                 "visible_if": {"field": "impact", "op": "eq", "value": "high"},
                 "required_if": {"field": "impact", "op": "eq", "value": "high"}},
                {"key": "agree", "type": "checkbox", "label": "Keep me posted", "public": True},
                {"key": "costs_heading", "type": "section", "label": "Costs"},
                {"key": "items", "type": "table", "label": "Items", "min_rows": 1, "max_rows": 5,
                 "public": True,
                 "columns": [
                     {"key": "item", "type": "text", "label": "Item", "required": True},
                     {"key": "qty", "type": "number", "label": "Quantity",
                      "help": "Whole numbers."},
                     {"key": "kind", "type": "select", "label": "Kind",
                      "options": ["part", {"value": "work", "label": "Labour"}]},
                     {"key": "size", "type": "radio", "label": "Size", "options": ["S", "L"]},
                     {"key": "marks", "type": "multiselect", "label": "Marks",
                      "options": ["new", "used"]},
                     {"key": "urgent", "type": "checkbox", "label": "Urgent"},
                 ]},
                {"key": "total", "type": "calculated", "label": "Total", "expr": "1"},
                {"key": "evidence", "type": "file", "label": "Evidence", "max_files": 3,
                 "max_size": 5242880, "accept": ["application/pdf", "image/png"]},
            ],
        },
    ],
}  # fmt: skip


@dataclass
class Element:
    tag: str
    attrs: dict[str, str | None]
    ancestors: tuple[Element, ...]
    text: str = ""
    has_legend: bool = False
    children: list[Element] = field(default_factory=list)

    def get(self, name: str) -> str | None:
        return self.attrs.get(name)


class Page(HTMLParser):
    """Every element of an HTML fragment, with its ancestors and its text."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.html = html
        self.elements: list[Element] = []
        self._open: list[Element] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, dict(attrs), tuple(self._open))
        if self._open:
            self._open[-1].children.append(element)
        if tag == "legend" and self._open and self._open[-1].tag == "fieldset":
            self._open[-1].has_legend = True
        self.elements.append(element)
        if tag not in VOID:
            self._open.append(element)

    def handle_endtag(self, tag: str) -> None:
        while self._open:
            if self._open.pop().tag == tag:
                break

    def handle_data(self, data: str) -> None:
        for element in self._open:
            element.text += data

    def all(self, tag: str | None = None, **attrs: str) -> list[Element]:
        return [
            e
            for e in self.elements
            if (tag is None or e.tag == tag)
            and all(
                e.get(name.rstrip("_").replace("_", "-")) == value for name, value in attrs.items()
            )
        ]

    def by_id(self, element_id: str) -> Element:
        (found,) = [e for e in self.elements if e.get("id") == element_id]
        return found

    def ids(self) -> list[str]:
        return [e.attrs["id"] or "" for e in self.elements if "id" in e.attrs]


def _attr(name: str) -> str:
    """Spell an HTML attribute as a keyword: class_ -> class, data_add_row -> data-add-row."""
    return name.rstrip("_").replace("_", "-")


def words(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def env() -> Environment:
    environment = Environment(loader=template_loader(), autoescape=True)
    register(environment)
    return environment


@pytest.fixture(scope="module")
def incident() -> dict[str, Any]:
    path = ROOT / "workflows" / "forms" / "incident-report.json"
    doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return doc


def render(env: Environment, source: str, **context: Any) -> Page:
    return Page(env.from_string(IMPORT + source).render(**context))


def form_page(
    env: Environment,
    doc: dict[str, Any],
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    **options: Any,
) -> Page:
    return render(
        env,
        "{{ error_summary(errors, by_key, prefix) }}"
        "{{ form_body(doc, values, errors, prefix=prefix, **options) }}",
        doc=doc,
        values=values or {},
        errors=errors or {},
        by_key=fields_by_key(doc),
        prefix=options.pop("prefix", ""),
        options=options,
    )


def assert_accessible(page: Page) -> None:
    """Unique ids; every control labelled once (or grouped under a legend); references resolve."""
    ids = page.ids()
    assert [i for i, n in Counter(ids).items() if n > 1] == []
    labels = Counter(e.get("for") for e in page.all("label"))
    for control in page.elements:
        if control.tag not in CONTROLS or control.get("type") == "hidden":
            continue
        labelled = labels[control.get("id")] == 1
        grouped = any(a.tag == "fieldset" and a.has_legend for a in control.ancestors)
        assert labelled or (grouped and labels[control.get("id")] == 0), control.attrs
    for element in page.elements:
        for ref in (element.get("aria-describedby") or "").split():
            assert ref in ids, (element.attrs, ref)
        if element.get("aria-labelledby"):
            assert element.get("aria-labelledby") in ids
    for label in page.all("label"):
        assert label.get("for") in ids
    for link in page.all("a"):
        assert (link.get("href") or "#")[1:] in ids


def test_field_ids_are_the_dotted_path_with_dashes() -> None:
    assert field_id("impact") == "f-impact"
    assert field_id("items.0.qty") == "f-items-0-qty"
    assert field_id("items.0.qty", "w") == "w-items-0-qty"


def test_a_form_with_a_file_field_needs_multipart() -> None:
    upload = {"key": "proof", "type": "file", "label": "Proof"}
    in_table = {"key": "rows", "type": "table", "label": "Rows", "columns": [upload]}
    plain = {"key": "name", "type": "text", "label": "Name"}

    assert has_files(EVERY_TYPE)
    assert has_files({"key": "f", "title": "F", "fields": [plain, in_table]})
    assert not has_files({"key": "f", "title": "F", "fields": [plain]})


def test_the_incident_report_renders_every_control_labelled(
    env: Environment, incident: dict[str, Any]
) -> None:
    page = form_page(env, incident)

    assert_accessible(page)
    assert page.by_id("f-email").get("type") == "email"
    assert page.by_id("f-email").get("autocomplete") == "email"
    assert page.by_id("f-name").get("autocomplete") == "name"
    assert page.by_id("f-email").get("aria-describedby") == "f-email-hint"
    assert page.by_id("f-source").attrs == {
        "type": "hidden", "id": "f-source", "name": "source", "value": "portal"
    }  # fmt: skip
    assert page.all("div", class_="error-summary") == []


def test_every_field_type_renders_accessibly(env: Environment) -> None:
    values = {"items": [{"item": "Cable", "qty": 2, "marks": ["new"]}], "total": 12}
    page = form_page(env, EVERY_TYPE, values, {"items.0.qty": "Enter a whole number"})

    assert_accessible(page)
    assert [words(h.text) for h in page.all("h2", class_="form-page__title")] == [
        "About you", "The problem"
    ]  # fmt: skip
    assert [words(legend.text) for legend in page.all("legend", class_="form-section__title")] == [
        "Details", "Costs"
    ]  # fmt: skip
    types = {e.get("name"): e.get("type") for e in page.all("input")}
    assert types["phone"] == "tel"
    assert types["site"] == "url"
    assert types["since"] == "date"
    assert types["started"] == "datetime-local"
    assert types["agree"] == "checkbox"
    assert page.by_id("f-count").get("step") == "1"
    assert page.by_id("f-manager").get("autocomplete") == "off"
    assert len(page.all("input", name="tags", type="checkbox")) == 2
    assert len(page.all("input", name="impact", type="radio")) == 2


def test_a_file_field_says_its_limits_and_takes_several_files(env: Environment) -> None:
    page = form_page(env, EVERY_TYPE)

    upload = page.by_id("f-evidence")
    assert (upload.get("type"), upload.get("accept")) == ("file", "application/pdf,image/png")
    assert "multiple" in upload.attrs
    assert words(page.by_id("f-evidence-hint").text) == (
        "Up to 3 files, each at most 5 MB. Allowed types: PDF, PNG."
    )


def test_a_calculated_field_is_shown_never_posted(env: Environment) -> None:
    page = form_page(env, EVERY_TYPE, {"total": 12})

    total = page.by_id("f-total")
    assert total.tag == "output"
    assert words(total.text) == "12"
    assert page.all(name="total") == []


def test_a_table_has_a_row_per_value_and_one_blank_row(env: Environment) -> None:
    values = {"items": [{"item": "Cable"}, {"item": "Plug", "qty": 3}]}
    page = form_page(env, EVERY_TYPE, values)

    assert [row.get("data-row") for row in page.all("tr") if row.get("data-row")] == ["0", "1", "2"]
    assert page.by_id("f-items-1-qty").get("value") == "3"
    assert page.by_id("f-items-2-item").get("value") == ""
    assert words(page.all("label", for_="f-items-2-qty")[0].text) == "Row 3 Quantity"
    assert page.by_id("f-items-1-qty").get("aria-describedby") == "f-items-qty-hint"
    button = page.all("button", data_add_row="items")[0]
    assert "hidden" in button.attrs
    assert button.get("data-max-rows") == "5"


def test_a_table_keeps_cells_posted_flat_on_a_re_render(env: Environment) -> None:
    page = form_page(env, EVERY_TYPE, {"items.0.item": "Cable", "items.1.qty": "x3"})

    assert page.by_id("f-items-0-item").get("value") == "Cable"
    assert page.by_id("f-items-1-qty").get("value") == "x3"
    assert page.by_id("f-items-2-item").get("value") == ""


def test_an_error_marks_the_field_and_the_summary_links_to_it(
    env: Environment, incident: dict[str, Any]
) -> None:
    errors = {"email": "Enter an email address like name@example.org", "name": "Enter your name"}
    page = form_page(env, incident, {"email": "ann"}, errors)

    email = page.by_id("f-email")
    assert email.get("aria-invalid") == "true"
    assert email.get("aria-describedby") == "f-email-hint f-email-error"
    assert words(page.by_id("f-email-error").text) == (
        "Error: Enter an email address like name@example.org"
    )
    assert "aria-invalid" not in page.by_id("f-summary").attrs
    summary = page.all("div", class_="error-summary")[0]
    assert (summary.get("role"), summary.get("tabindex")) == ("alert", "-1")
    assert [(a.get("href"), words(a.text)) for a in page.all("a")] == [
        ("#f-name", "Your name: Enter your name"),
        ("#f-email", "Your email address: Enter an email address like name@example.org"),
    ]
    assert_accessible(page)


def test_an_error_in_a_table_cell_links_to_the_cell_with_the_column_label(
    env: Environment,
) -> None:
    errors = {"items.0.qty": "Enter a whole number", "impact": "Say who is affected"}
    page = form_page(env, EVERY_TYPE, {}, errors)

    assert [(a.get("href"), words(a.text)) for a in page.all("a")] == [
        ("#f-impact", "Who is affected?: Say who is affected"),
        ("#f-items-0-qty", "Quantity (row 1): Enter a whole number"),
    ]
    assert page.by_id("f-items-0-qty").get("aria-invalid") == "true"
    assert page.by_id("f-impact").get("aria-invalid") == "true"
    assert_accessible(page)


def test_a_prefix_goes_into_names_ids_and_summary_links(
    env: Environment, incident: dict[str, Any]
) -> None:
    page = form_page(env, incident, {}, {"email": "Enter an email address"}, prefix="data.")

    assert page.by_id("f-data-email").get("name") == "data.email"
    assert page.all("a")[0].get("href") == "#f-data-email"
    assert_accessible(page)


def test_script_in_values_documents_and_errors_comes_back_escaped(env: Environment) -> None:
    text = json.dumps(EVERY_TYPE)
    for option_label in ("Hardware", "Everyone", "Labour"):
        text = text.replace(option_label, PAYLOAD)
    doc = json.loads(text)
    doc["pages"][0]["title"] = doc["pages"][1]["help"] = PAYLOAD
    for page_doc in doc["pages"]:
        for item in page_doc["fields"]:
            item["label"] = item["help"] = PAYLOAD
            for column in item.get("columns", ()):
                column["label"] = column["help"] = PAYLOAD
    doc["pages"][1]["fields"][0]["label"] = PAYLOAD
    values = dict.fromkeys(fields_by_key(doc), PAYLOAD)
    values["items"] = [{"item": PAYLOAD, "kind": PAYLOAD}]
    errors = {"name": PAYLOAD, "items.0.item": PAYLOAD, PAYLOAD: PAYLOAD}

    page = form_page(env, doc, values, errors)
    listing = render(env, "{{ values_list(doc, values) }}", doc=doc, values=values)

    for html in (page.html, listing.html):
        assert "<script" not in html.lower()
        assert "&lt;script&gt;" in html


def test_fields_hidden_by_a_rule_are_hidden_and_disabled_only_when_visibility_is_known(
    env: Environment, incident: dict[str, Any]
) -> None:
    shown = set(fields_by_key(incident)) - {"affected_service"}
    everything = form_page(env, incident)
    known = form_page(env, incident, visible=shown)

    assert "hidden" not in everything.by_id("w-affected_service").attrs
    assert "disabled" not in everything.by_id("f-affected_service").attrs
    assert "hidden" in known.by_id("w-affected_service").attrs
    assert "disabled" in known.by_id("f-affected_service").attrs
    assert "hidden" not in known.by_id("w-summary").attrs


def test_a_conditional_field_says_in_words_when_it_is_needed(
    env: Environment, incident: dict[str, Any]
) -> None:
    page = form_page(env, incident)

    wrapper = page.by_id("w-affected_service")
    assert wrapper.get("data-visible-if") == (
        "the answer to “Who is affected?” is 'A whole team, site or customers'"
    )
    assert words(page.by_id("f-affected_service-condition").text) == (
        "Only needed when the answer to “Who is affected?” is 'A whole team, site or customers'."
    )
    assert "f-affected_service-condition" in (
        page.by_id("f-affected_service").get("aria-describedby") or ""
    )


def test_a_section_whose_fields_are_all_hidden_is_hidden(env: Environment) -> None:
    shown = set(fields_by_key(EVERY_TYPE)) - {"items", "total", "evidence"}
    page = form_page(env, EVERY_TYPE, visible=shown)

    assert "hidden" in page.by_id("s-costs_heading").attrs
    assert "hidden" not in page.by_id("s-details_heading").attrs


def test_optional_fields_say_so_and_required_ones_are_marked_for_assistive_tech(
    env: Environment, incident: dict[str, Any]
) -> None:
    page = form_page(env, EVERY_TYPE)

    markers = {
        (e.ancestors[-1].get("for") or e.ancestors[-1].tag): "hidden" not in e.attrs
        for e in page.all("span", class_="optional")
    }
    assert markers["f-name"] is False
    assert markers["f-phone"] is True
    assert markers["f-service"] is False  # required_if: no promise either way
    assert page.by_id("f-name").get("aria-required") == "true"
    assert "required" in page.by_id("f-name").attrs
    assert "required" not in page.by_id("f-phone").attrs


def test_the_current_required_set_overrides_the_document(
    env: Environment, incident: dict[str, Any]
) -> None:
    page = form_page(env, incident, required=["affected_service"])

    assert "required" in page.by_id("f-affected_service").attrs
    assert "required" not in page.by_id("f-name").attrs


def test_a_re_render_keeps_what_was_chosen(env: Environment) -> None:
    values = {"category": "hw", "tags": ["mail"], "impact": "low", "agree": "true", "count": "7x"}
    page = form_page(env, EVERY_TYPE, values)

    assert [o.get("value") for o in page.all("option") if "selected" in o.attrs] == ["hw"]
    assert [e.get("value") for e in page.all("input") if "checked" in e.attrs] == [
        "mail", "low", "true"
    ]  # fmt: skip
    assert page.by_id("f-count").get("value") == "7x"


SCORES = {
    "kind": "form",
    "format": 1,
    "key": "survey",
    "title": "How did we do?",
    "fields": [
        {"key": "score", "type": "radio", "label": "Score", "options": [1, 2, 3]},
        {"key": "size", "type": "select", "label": "Size", "options": [1.0, 2.0, 2.5]},
    ],
}


def test_bare_number_options_are_buttons_labelled_with_the_number(env: Environment) -> None:
    page = form_page(env, SCORES, {"score": 2})

    buttons = page.all("input", name="score")
    labels = {label.get("for"): words(label.text) for label in page.all("label")}
    assert [(b.get("type"), b.get("value"), labels[b.get("id")]) for b in buttons] == [
        ("radio", "1", "1"), ("radio", "2", "2"), ("radio", "3", "3")
    ]  # fmt: skip
    assert [b.get("value") for b in buttons if "checked" in b.attrs] == ["2"]
    assert_accessible(page)


def test_a_whole_number_option_is_written_and_chosen_as_a_whole_number(env: Environment) -> None:
    page = form_page(env, SCORES, {"size": 2})  # 2 is the option 2.0: the same number

    assert [(o.get("value"), words(o.text)) for o in page.all("option")] == [
        ("", "Choose an answer"), ("1", "1"), ("2", "2"), ("2.5", "2.5")
    ]  # fmt: skip
    assert [o.get("value") for o in page.all("option") if "selected" in o.attrs] == ["2"]


def test_an_answer_among_bare_numbers_is_shown_as_the_number(env: Environment) -> None:
    page = render(env, "{{ values_list(doc, data) }}", doc=SCORES, data={"score": 3, "size": 2.5})

    assert [words(e.text) for e in page.all("dd")] == ["3", "2.5"]


def test_values_list_shows_answers_in_words(env: Environment) -> None:
    data = {
        "name": "Ann",
        "category": "hw",
        "tags": ["vpn", "mail"],
        "agree": False,
        "evidence": [{"name": "screen.png", "size": 10}],
        "items": [{"item": "Cable", "qty": 2, "kind": "work", "urgent": True}],
        "source": "portal",
        "details": "",
    }
    page = render(env, "{{ values_list(doc, data) }}", doc=EVERY_TYPE, data=data)

    rows = {words(r.children[0].text): words(r.children[1].text) for r in page.all("div")}
    del rows["Items"]
    assert rows == {
        "Your name": "Ann",
        "Category": "Hardware",
        "Tags": "VPN, mail",
        "Keep me posted": "No",
        "Evidence": "screen.png",
    }
    assert [words(th.text) for th in page.all("th")] == [
        "Item", "Quantity", "Kind", "Size", "Marks", "Urgent"
    ]  # fmt: skip
    assert [words(td.text) for td in page.all("td")] == ["Cable", "2", "Labour", "", "", "Yes"]


def test_values_list_shows_only_public_fields_when_asked(
    env: Environment, incident: dict[str, Any]
) -> None:
    data = {"name": "Ann", "email": "ann@example.org", "summary": "VPN is down"}
    page = render(env, "{{ values_list(doc, data, public_only=true) }}", doc=incident, data=data)

    assert [words(e.text) for e in page.all("dt")] == ["Summary"]
    assert "ann@example.org" not in page.html


def test_read_only_fields_show_their_value_without_a_control(
    env: Environment, incident: dict[str, Any]
) -> None:
    page = form_page(env, incident, {"impact": "high"}, readonly={"impact"})

    assert page.all("input", name="impact") == []
    assert words(page.by_id("f-impact").text) == "A whole team, site or customers"
    assert_accessible(page)


def contrast(first: str, second: str) -> float:
    def luminance(colour: str) -> float:
        channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
        r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    high, low = sorted((luminance(first), luminance(second)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_the_form_styles_keep_text_readable() -> None:
    css = (ROOT / "web" / "static" / "forms.css").read_text(encoding="utf-8")
    colours = dict(re.findall(r"--fd-([a-z-]+):\s*(#[0-9a-fA-F]{6});", css))

    for name in ("text", "hint", "error"):
        assert contrast(colours[name], colours["background"]) >= 4.5, name
    assert contrast(colours["focus"], colours["focus-text"]) >= 4.5


def test_the_script_needs_no_inline_code_or_eval() -> None:
    script = (ROOT / "web" / "static" / "forms.js").read_text(encoding="utf-8")

    for risky in ("eval(", "new Function", "innerHTML", "outerHTML", "document.write"):
        assert risky not in script


def test_an_error_below_a_field_shows_at_the_field(env: Environment) -> None:
    errors = {"tags.1": "Choose tags from the list", "items.0": "Fill in the row"}
    page = form_page(env, EVERY_TYPE, {}, errors)

    assert words(page.by_id("f-tags-error").text) == "Error: Choose tags from the list"
    assert words(page.by_id("f-items-error").text) == "Error: Fill in the row"
    assert [a.get("href") for a in page.all("a")] == ["#f-tags", "#f-items"]
    assert_accessible(page)


SERVICE_FORM: dict[str, Any] = {
    "kind": "form",
    "format": 1,
    "key": "outage",
    "title": "Outage",
    "fields": [
        {"key": "service", "type": "service", "label": "Which service is down?", "required": True}
    ],
}


def test_a_service_field_offers_the_catalogue_by_name_and_keeps_an_answer_it_no_longer_has() -> (
    None
):
    """The catalogue is asked only when a page has a service field; an answer whose service
    was removed since is still shown, said as such, rather than silently changed."""
    asked: list[int] = []

    def services() -> list[tuple[str, str]]:
        asked.append(1)
        return [("mail", "E-mail"), ("vpn", "Remote access (VPN)")]

    environment = Environment(loader=template_loader(), autoescape=True)
    register(environment, services=services)
    plain = dict(SERVICE_FORM, fields=[{"key": "name", "type": "text", "label": "Name"}])
    form_page(environment, plain)
    assert asked == []

    page = form_page(environment, SERVICE_FORM, {"service": "vpn"})
    assert_accessible(page)
    select = page.by_id("f-service")
    assert select.tag == "select"
    offered = [(o.get("value"), words(o.text)) for o in page.all("option")]
    assert offered == [("", "Choose a service"), ("mail", "E-mail"), ("vpn", "Remote access (VPN)")]
    assert [o.get("value") for o in page.all("option") if "selected" in o.attrs] == ["vpn"]

    assert asked == [1]

    rows = {
        **SERVICE_FORM,
        "fields": [
            {
                "key": "outages",
                "type": "table",
                "label": "Outages",
                "columns": [{"key": "service", "type": "service", "label": "Service"}],
            }
        ],
    }
    asked.clear()
    table = form_page(environment, rows, {"outages": [{"service": "mail"}, {"service": "vpn"}]})
    assert [s.get("name") for s in table.all("select")][:2] == [
        "outages.0.service",
        "outages.1.service",
    ]
    assert asked == [1]  # once for the form, not once a row

    listed = render(
        environment, "{{ values_list(doc, data) }}", doc=SERVICE_FORM, data={"service": "vpn"}
    )
    assert [words(dd.text) for dd in listed.all("dd")] == ["Remote access (VPN)"]

    gone = form_page(environment, SERVICE_FORM, {"service": "fax"})
    chosen = [words(o.text) for o in gone.all("option") if "selected" in o.attrs]
    assert chosen == ["fax (not in the catalogue)"]


def test_a_service_field_says_so_when_the_catalogue_has_no_service_yet() -> None:
    """A fresh install's catalogue is empty: the drop-down says there is nothing to choose
    rather than asking the requester to choose from nothing."""
    environment = Environment(loader=template_loader(), autoescape=True)
    register(environment, services=list)
    optional = dict(SERVICE_FORM, fields=[{**SERVICE_FORM["fields"][0], "required": False}])
    page = form_page(environment, optional)
    assert_accessible(page)
    offered = [(o.get("value"), words(o.text)) for o in page.all("option")]
    assert offered == [("", "No services to choose from yet")]
