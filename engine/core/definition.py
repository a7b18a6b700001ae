"""Workflow definitions: a checked JSON document turned into an immutable `Workflow`."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any

from engine.core.errors import DefinitionError, Problem
from engine.core.expressions import compile_template
from engine.core.schema import iter_steps, shipped_problems
from engine.core.steps import STEP_TYPES, Step
from engine.core.tables import DecisionTable

#: The version of the workflow language this engine reads.
FORMAT = 1
#: Where an anonymous requester's address is read when the workflow names no
#: `start.confirm_to`.
ADDRESS_FIELD = "email"


#: Who works a workflow's requests when it does not say (`team`).
DEFAULT_TEAM = "the service desk"


class Workflow:
    """A workflow definition: steps (nested ones included) by id, tables, SLA policy."""

    __slots__ = (
        "_title_template",
        "calendars",
        "doc",
        "first",
        "incident",
        "key",
        "priorities",
        "priority_field",
        "sla",
        "start",
        "steps",
        "tables",
        "team",
        "title",
    )

    def __init__(self, doc: Mapping[str, Any]) -> None:
        self.doc = doc
        self.key: str = doc["key"]
        self.title: str = doc["title"]
        self.first: str = doc["first"]
        #: Who works its requests, as requesters read it ("Write to Facilities").
        self.team: str = doc.get("team") or DEFAULT_TEAM
        #: Its instances are incidents: Insight and the recurring incidents count them.
        self.incident: bool = bool(doc.get("incident", False))
        self.start: Mapping[str, Any] = doc.get("start", {})
        self.sla: Mapping[str, Any] | None = doc.get("sla")
        self.tables = MappingProxyType(
            {key: DecisionTable.from_document(key, t) for key, t in doc.get("tables", {}).items()}
        )
        self.priority_field: str = (self.sla or {}).get("targets_by", "priority")
        self.priorities: tuple[str, ...] = tuple(
            doc.get("priorities") or (self.sla or {}).get("targets", {})
        )
        self.steps: Mapping[str, Step] = MappingProxyType(
            {
                sid: STEP_TYPES[sdoc["type"]](sid, sdoc, pointer, parallel, branch)
                for sid, sdoc, pointer, parallel, branch in iter_steps(doc["steps"])
            }
        )
        self._title_template = compile_template(self.start.get("title") or self.title)
        self.calendars: frozenset[str] = frozenset(_calendar_names(doc))

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> Workflow:
        """Build a workflow from JSON, refusing a document that breaks the schema."""
        problems = shipped_problems("workflow", doc)
        if problems:
            raise DefinitionError(problems, "workflow")
        try:
            return cls(doc)
        except ValueError as exc:  # a duration or expression the checker would have refused
            raise DefinitionError([Problem("", str(exc))], "workflow") from None

    def __repr__(self) -> str:
        return f"<Workflow {self.key}>"

    def title_for(self, context: Mapping[str, Any]) -> str:
        """Return the title of a new instance: the start title template, filled in."""
        return self._title_template(context)

    def in_flow_order(self) -> list[Step]:
        """The steps in the order a request meets them: from the first, each before the
        steps it leads to (breadth first, so a decision's branches side by side), then any
        step no route reaches, in the document's order. A document may keep its steps in any
        order (the designer's drafts sort them): "Done" listed first reads as done first."""
        found: dict[str, Step] = {}
        waiting = deque([self.first])
        while waiting:
            step = self.steps.get(waiting.popleft())
            if step is None or step.id in found:
                continue
            found[step.id] = step
            waiting.extend(step.routes().values())
        return [*found.values(), *(s for s in self.steps.values() if s.id not in found)]

    @property
    def number_prefix(self) -> str:
        """Return the prefix of instance numbers (`INC` in `INC-000042`)."""
        prefix: str = self.start.get("number_prefix", "REQ")
        return prefix


def _calendar_names(doc: Mapping[str, Any]) -> Iterator[str]:
    """Yield every business calendar a workflow counts time in."""
    if "calendar" in doc.get("sla", {}):
        yield doc["sla"]["calendar"]
    for _sid, step, _pointer, _parallel, _branch in iter_steps(doc["steps"]):
        if "calendar" in step:
            yield step["calendar"]
        for rung in step.get("escalate", ()):
            if "calendar" in rung:
                yield rung["calendar"]
