"""What a new workflow starts from: a workflow of the shipped pack, or a published form.

The templates are the workflows of the pack `flowdesk up` loads (`workflows/` beside the
code), read as `flowdesk load` reads them (`engine.catalog.Catalog`). "From a form" makes a
small working flow around a published form: the request, one approval, and an end for
each answer, which passes the checker as it is made.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.catalog import Catalog

#: The shipped pack: the workflows `flowdesk up` loads unless told otherwise.
SHIPPED_PACK = Path(__file__).resolve().parents[2] / "workflows"


@dataclass(frozen=True, slots=True)
class Template:
    """A workflow to start from: its id (the shipped workflow's key), title and description."""

    id: str
    title: str
    description: str
    document: Mapping[str, Any]

    def to_json(self) -> dict[str, str]:
        return {"id": self.id, "title": self.title, "description": self.description}

    def for_key(self, key: str) -> dict[str, Any]:
        """Return a copy of the template as a new workflow called `key`."""
        document = copy.deepcopy(dict(self.document))
        document["key"] = key
        return document


def shipped_templates(pack: Path = SHIPPED_PACK) -> tuple[Template, ...]:
    """Return the workflows of a pack as templates, by id (none when there is no pack)."""
    return _read(pack.resolve())


@functools.cache
def _read(pack: Path) -> tuple[Template, ...]:
    # Read once per process: the pack ships with the code and does not change under it.
    if not pack.is_dir():
        return ()
    found = []
    for document in Catalog.read([pack]).of_kind("workflow"):
        content = document.content
        if document.key and isinstance(content, dict):
            found.append(
                Template(
                    document.key,
                    str(content.get("title") or document.key),
                    str(content.get("description") or ""),
                    content,
                )
            )
    return tuple(sorted(found, key=lambda template: template.id))


def from_form(key: str, form: Mapping[str, Any], group: str | None) -> dict[str, Any]:
    """Return a request -> approval -> done workflow started by a published form.

    The approval goes to `group`, or to the requester's manager when there is no group.
    """
    title = str(form.get("title") or form["key"])
    assign = {"group": group} if group else {"manager_of": "{{ instance.requester }}"}
    return {
        "kind": "workflow",
        "format": 1,
        "key": key,
        "title": title,
        "start": {"form": form["key"], "number_prefix": "REQ"},
        "first": "approve",
        "steps": {
            "approve": {
                "type": "approval",
                "label": "Approval",
                "title": f"Approve {{{{ instance.number }}}}: {title}",
                "assign": assign,
                "on": {"approved": "completed", "rejected": "rejected"},
            },
            "completed": {
                "type": "end",
                "label": "Done",
                "status": "completed",
                "outcome": "completed",
            },
            "rejected": {
                "type": "end",
                "label": "Rejected",
                "status": "rejected",
                "outcome": "rejected",
            },
        },
    }
