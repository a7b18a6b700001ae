"""Reading a form document: its value fields, its pages, and lookup by key."""

from __future__ import annotations

import pytest

from forms.checker import check_form
from forms.definition import Form
from tests.unit.forms.conftest import field, form_doc

PAGED = {
    "kind": "form",
    "format": 1,
    "key": "onboarding",
    "title": "New starter",
    "pages": [
        {"title": "Who", "fields": [field("who_heading", "section"), field("name")]},
        {
            "title": "What they need",
            "fields": [
                field("laptop", "checkbox"),
                field("items", "table", columns=[field("item"), field("qty", "number")]),
            ],
        },
    ],
}


def test_paged_form_lists_value_fields_across_pages_in_order() -> None:
    form = Form.from_document(PAGED)

    assert [f["key"] for f in form.fields] == ["name", "laptop", "items"]
    assert [page.title for page in form.pages] == ["Who", "What they need"]
    assert [f["key"] for f in form.pages[0].fields] == ["who_heading", "name"]
    assert check_form(PAGED) == []


def test_form_without_pages_is_one_page_named_after_the_form() -> None:
    form = Form.from_document(form_doc(field("name"), field("part", "section")))

    ((title, fields),) = form.pages
    assert title == "Request"
    assert [f["key"] for f in fields] == ["name", "part"]


def test_field_is_found_by_key_but_not_a_section_or_column() -> None:
    form = Form.from_document(PAGED)

    assert form.field("laptop")["type"] == "checkbox"
    for key in ("who_heading", "qty", "nothing"):
        with pytest.raises(KeyError):
            form.field(key)


def test_field_infos_describe_value_fields_across_pages() -> None:
    infos = Form.from_document(PAGED).field_infos()
    assert [(i.key, i.type) for i in infos] == [
        ("name", "string"), ("laptop", "boolean"), ("items", "table")
    ]  # fmt: skip


def test_form_has_fields_or_pages_not_both() -> None:
    both = {**PAGED, "fields": [field("name")]}
    neither = {key: value for key, value in PAGED.items() if key != "pages"}

    assert [(p.pointer, p.message) for p in check_form(both)] == [
        ("", "use 'fields' or 'pages', not both")
    ]
    assert [(p.pointer, p.message) for p in check_form(neither)] == [
        ("", "needs 'fields' or 'pages'")
    ]


def test_keys_must_be_unique_across_pages() -> None:
    doc = {**PAGED, "pages": [*PAGED["pages"], {"title": "Again", "fields": [field("name")]}]}
    assert [(p.pointer, p.message) for p in check_form(doc)] == [
        (
            "/pages/2/fields/0/key",
            "the key 'name' is already used by the field 'Name' (/pages/0/fields/1); "
            "each field needs its own key",
        )
    ]
