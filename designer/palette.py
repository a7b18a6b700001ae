"""The palette: every field type of the form language, with the field each one adds."""

from __future__ import annotations

from typing import Any

#: What the palette offers: the name shown, and the field it adds (the editor gives it a key).
PALETTE: tuple[dict[str, Any], ...] = (
    {"name": "Text", "field": {"type": "text", "label": "Text"}},
    {"name": "Email", "field": {"type": "text", "format": "email", "label": "Email"}},
    {"name": "Phone", "field": {"type": "text", "format": "phone", "label": "Phone"}},
    {"name": "Paragraph", "field": {"type": "textarea", "label": "Paragraph"}},
    {"name": "Number", "field": {"type": "number", "label": "Number"}},
    {"name": "Date", "field": {"type": "date", "label": "Date"}},
    {"name": "Date and time", "field": {"type": "datetime", "label": "Date and time"}},
    {
        "name": "Drop-down",
        "field": {"type": "select", "label": "Choice", "options": ["Option 1", "Option 2"]},
    },
    {
        "name": "Buttons",
        "field": {"type": "radio", "label": "Choice", "options": ["Option 1", "Option 2"]},
    },
    {
        "name": "Several choices",
        "field": {"type": "multiselect", "label": "Choices", "options": ["Option 1", "Option 2"]},
    },
    {"name": "Tick box", "field": {"type": "checkbox", "label": "Yes or no"}},
    {"name": "File", "field": {"type": "file", "label": "File"}},
    {"name": "Person", "field": {"type": "user", "label": "Person"}},
    {"name": "Service", "field": {"type": "service", "label": "Service"}},
    {
        "name": "Table",
        "field": {
            "type": "table",
            "label": "Table",
            "columns": [{"key": "column_1", "type": "text", "label": "Column 1"}],
        },
    },
    {"name": "Section", "field": {"type": "section", "label": "Section"}},
    {"name": "Hidden value", "field": {"type": "hidden", "label": "Hidden value"}},
    {"name": "Calculated", "field": {"type": "calculated", "label": "Calculated", "expr": "0"}},
)
