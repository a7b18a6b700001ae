"""Plain-data helpers shared by the form tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from forms.definition import Form

ROOT = Path(__file__).resolve().parents[3]


def form_doc(*fields: dict[str, Any], key: str = "request") -> dict[str, Any]:
    return {"kind": "form", "format": 1, "key": key, "title": "Request", "fields": list(fields)}


def field(key: str, kind: str = "text", **more: Any) -> dict[str, Any]:
    return {"key": key, "type": kind, "label": key.replace("_", " ").capitalize(), **more}


def make(*fields: dict[str, Any]) -> Form:
    return Form.from_document(form_doc(*fields))


def shipped(key: str) -> Form:
    path = ROOT / "workflows" / "forms" / f"{key}.json"
    return Form.from_document(json.loads(path.read_text(encoding="utf-8")))


@pytest.fixture
def incident_report() -> Form:
    return shipped("incident-report")


#: A filled-in incident report that is sound.
GOOD_REPORT = {
    "name": "Ann Lee",
    "email": "ann@example.org",
    "summary": "VPN is down",
    "description": "Nobody on the 3rd floor can connect.",
    "category": "network",
    "impact": "high",
    "urgency": "high",
    "affected_service": "VPN",
}
