"""The checker catches what newcomers write wrong from the docs, and calls nothing else wrong.

`tests/checker_newcomers/` holds workflows written the way someone new to the
language writes them from docs/workflow-language.md: `broken/` ones with one
mistake each (and where the checker must say so, in which words), `sound/` ones
that must check clean. They are checked with the forms and workflows of `forms/`
and `context/`, and against the groups and users of `people.json`.

The docs' own examples must check clean too, and so must the shipped pack.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.catalog import Catalog, Document, FileProblem, parse_document, read_document
from engine.core.checker import References, check_workflow
from engine.core.fields import FieldInfo

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "checker_newcomers"
DOCS = ROOT / "docs" / "workflow-language.md"

#: Python's way of writing values, which a process owner should never read.
PYTHON_REPR = re.compile(r"[{\[(]'|\b(True|False|None)\b")


def corpus_documents() -> list[Document]:
    return [
        read_document(path)
        for folder in ("forms", "context")
        for path in sorted((CORPUS / folder).glob("*.json"))
    ]


def people() -> dict[str, list[str]]:
    found: dict[str, list[str]] = json.loads((CORPUS / "people.json").read_text(encoding="utf-8"))
    return found


def check_case(path: Path) -> tuple[dict[str, Any], list[FileProblem]]:
    """Check one corpus case with the corpus's forms, workflows, groups and users."""
    case: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    workflow = case["workflow"]
    main = (
        parse_document(path, workflow)  # written as text: it gives a key twice
        if isinstance(workflow, str)
        else Document(path, workflow)
    )
    extra = [
        Document(path.with_name(f"{path.stem}-form-{i}.json"), form)
        for i, form in enumerate(case.get("forms", ()))
    ]
    directory = people()
    catalog = Catalog(
        [*corpus_documents(), main, *extra], groups=directory["groups"], users=directory["users"]
    )
    return case, catalog.check(only=[main.path, *(doc.path for doc in extra)])


def cases(folder: str) -> list[Path]:
    return sorted((CORPUS / folder).glob("*.json"))


def test_the_corpus_is_large_enough_to_mean_something() -> None:
    assert len(cases("broken")) >= 60
    assert len(cases("sound")) >= 20


@pytest.mark.parametrize("path", cases("broken"), ids=lambda path: path.stem)
def test_a_newcomers_mistake_is_reported_where_it_is_and_nothing_else_is(path: Path) -> None:
    case, problems = check_case(path)

    found = [(p.problem.pointer, p.problem.message) for p in problems]
    assert len(found) == len(case["expect"]), "\n".join(map(str, problems))
    for expected in case["expect"]:
        assert any(
            pointer == expected["pointer"] and expected["message"] in message
            for pointer, message in found
        ), f"{expected} not in:\n" + "\n".join(map(str, problems))
    for _pointer, message in found:
        assert not PYTHON_REPR.search(message), message


@pytest.mark.parametrize("path", cases("sound"), ids=lambda path: path.stem)
def test_a_sound_workflow_written_from_the_docs_has_no_problem(path: Path) -> None:
    _case, problems = check_case(path)

    assert problems == [], "\n".join(map(str, problems))


def test_the_shipped_pack_checks_clean() -> None:
    assert Catalog.read([ROOT / "workflows"]).check() == []


# The docs' examples -----------------------------------------------------------------------------

#: Examples that are not definitions at all.
NOT_DEFINITIONS = {"format": "an instance's saved state (§21), not a definition"}

#: A start form with every field the docs' fragments read.
DOCS_FORM = {
    "kind": "form",
    "format": 1,
    "key": "docs-example",
    "title": "What the examples read",
    "fields": [
        {"key": "summary", "type": "text", "label": "Summary", "required": True},
        {"key": "description", "type": "textarea", "label": "Description"},
        {"key": "resolution", "type": "textarea", "label": "Resolution"},
        {"key": "category", "type": "select", "label": "Category", "required": True,
         "options": ["password", "hardware", "software", "network", "access", "other"]},
        {"key": "impact", "type": "radio", "label": "Impact", "options": ["high", "medium", "low"]},
        {"key": "urgency", "type": "radio", "label": "Urgency",
         "options": ["high", "medium", "low"]},
        {"key": "cost", "type": "number", "label": "Cost", "required": True},
        {"key": "item", "type": "text", "label": "Item"},
        {"key": "urgent", "type": "checkbox", "label": "Urgent"},
        {"key": "vip", "type": "checkbox", "label": "VIP"},
        {"key": "manager", "type": "user", "label": "Manager"},
        {"key": "approver", "type": "user", "label": "Approver"},
        {"key": "approvers", "type": "multiselect", "label": "Approvers", "required": True,
         "options": ["ann", "bob"]},
        {"key": "service_owner", "type": "user", "label": "Service owner"},
        {"key": "services", "type": "multiselect", "label": "Services",
         "options": ["payments", "email", "erp"]},
        {"key": "email", "type": "text", "label": "Email"},
        {"key": "needed_by", "type": "date", "label": "Needed by"},
        {"key": "eta_minutes", "type": "number", "label": "ETA"},
        {"key": "source", "type": "text", "label": "Source"},
        {"key": "affected_service", "type": "text", "label": "Affected service"},
        {"key": "incident_number", "type": "text", "label": "Incident", "required": True},
        {"key": "question", "type": "textarea", "label": "Question"},
        {"key": "reopened", "type": "number", "label": "Times reopened"},
    ],
}  # fmt: skip


def docs_examples() -> Iterator[tuple[int, Any]]:
    """Yield (line, value) for every JSON example of the language reference."""
    text = DOCS.read_text(encoding="utf-8")
    for match in re.finditer(r"```json\n(.*?)```", text, re.S):
        yield text.count("\n", 0, match.start()) + 2, json.loads(match.group(1))


def harness(**parts: Any) -> dict[str, Any]:
    """A sound workflow that reads the docs' form, with its tables and SLA, around a fragment."""
    tables = next(v for _line, v in docs_examples() if isinstance(v, dict) and "tables" in v)
    sla = next(v for _line, v in docs_examples() if isinstance(v, dict) and "sla" in v)
    doc: dict[str, Any] = {
        "kind": "workflow",
        "format": 1,
        "key": "docs-harness",
        "title": "Docs harness",
        "start": {"form": "docs-example", "number_prefix": "DOC"},
        "priorities": ["P1", "P2", "P3", "P4"],
        **copy.deepcopy(tables),
        **copy.deepcopy(sla),
        "first": "categorize",
        "steps": {
            "categorize": {
                "type": "action",
                "set": {"priority": {"lookup": "priority"}, "team": {"lookup": "team"}},
                "next": "ask",
            },
            # The statuses the SLA example pauses for.
            "ask": {"type": "task", "status": "waiting_on_requester", "next": "confirm"},
            "confirm": {"type": "task", "status": "resolved", "next": "example"},
            "example": {"type": "task", "assign": {"group": "service-desk"}, "next": "closed"},
            "closed": {"type": "end"},
        },
    }
    # An example's own tables go beside the docs' first ones, and are looked up with them:
    # a table's cells are checked where a step looks it up.
    own = parts.get("tables", {})
    doc.update({**parts, "tables": {**doc["tables"], **own}})
    if own and "categorize" in doc["steps"]:
        lookups = doc["steps"]["categorize"]["set"]
        lookups.update({table["output"]: {"lookup": key} for key, table in own.items()})
    if "steps" in parts:  # the example's own steps: no status to pause for
        doc["sla"].pop("pause_while")
    return doc


def with_step(step: dict[str, Any]) -> dict[str, Any]:
    """Put a step example at `example`, every step it leads to being an end."""
    doc = harness()
    del doc["steps"]["closed"]
    doc["steps"]["example"] = step
    targets = [step.get("next"), step.get("otherwise"), *step.get("on", {}).values()]
    targets += [branch["next"] for branch in step.get("branches", []) if "next" in branch]
    for rung in step.get("escalate", ()):
        targets += [action["goto"] for action in rung["do"] if "goto" in action]
    for target in targets:
        if isinstance(target, str) and target not in doc["steps"]:
            doc["steps"][target] = {"type": "end"}
    return doc


def framed(value: Any) -> dict[str, Any] | str:
    """Return a checkable workflow around a docs example, or why it is not checked."""
    if isinstance(value, list):  # expressions, one per decision branch
        return with_step({
            "type": "decision",
            "branches": [{"when": source, "next": "closed"} for source in value],
            "otherwise": "closed",
        })  # fmt: skip
    if isinstance(value, str):  # a recipient
        return with_step(
            {
                "type": "action",
                "notify": {"to": value, "template": "request-received"},
                "next": "closed",
            }
        )
    first = next(iter(value))
    if first in NOT_DEFINITIONS:
        return NOT_DEFINITIONS[first]
    if "type" in value:
        return with_step(value)
    if "reopen" in value:  # the step it names is the harness's own main task
        doc = harness(**value)
        doc["steps"][value["reopen"]["to"]] = doc["steps"].pop("example")
        doc["steps"]["confirm"]["next"] = value["reopen"]["to"]
        return doc
    if {"start", "priorities", "tables", "sla", "requester_sees"} & set(value):
        return harness(**value)
    if "first" in value:
        return harness(**value)
    if value.keys() & {"user", "group", "on_call", "requester", "manager_of"}:
        return with_step({"type": "task", "assign": value, "next": "closed"})
    if "escalate" in value:  # its ladder completes as approved: an approval's
        step = {"type": "approval", "assign": {"group": "service-desk"}, **value}
        return with_step({**step, "on": {"approved": "closed", "rejected": "closed"}})
    if value.keys() & {"to", "webhook"}:
        return with_step({"type": "action", "notify": value, "next": "closed"})
    if "email" in value:
        return with_step(
            {
                "type": "action",
                "notify": {"to": value, "template": "request-received"},
                "next": "closed",
            }
        )
    # A lone branch, its `otherwise` leading elsewhere.
    if "when" in value:
        return with_step({"type": "decision", "branches": [value], "otherwise": "other"})
    if value.keys() & {"field", "all", "any", "not"}:
        return with_step(
            {
                "type": "decision",
                "branches": [{"when": value, "next": "closed"}],
                "otherwise": "other",
            }
        )
    if "title" in value:
        return with_step(
            {"type": "task", "assign": {"group": "service-desk"}, "next": "closed", **value}
        )
    return f"an example of an unknown kind: {sorted(value)}"


def docs_catalog(extra: list[Document]) -> Catalog:
    """The docs' complete documents, the pack's forms, the corpus's child workflow."""
    complete = [
        Document(Path(f"docs-{line}.json"), value)
        for line, value in docs_examples()
        if isinstance(value, dict) and value.get("kind") in ("workflow", "form")
    ]
    pack = [read_document(p) for p in sorted((ROOT / "workflows").glob("*/*.json"))]
    child = [read_document(CORPUS / "context" / "problem-record.json")]
    child.append(read_document(CORPUS / "forms" / "problem-report.json"))
    form = Document(Path("docs-example.json"), DOCS_FORM)
    return Catalog([*complete, *pack, *child, form, *extra])


def test_every_complete_document_in_the_docs_checks_clean() -> None:
    catalog = docs_catalog([])
    complete = [d.path for d in catalog.documents if d.path.name.startswith("docs-")]

    assert len(complete) >= 4
    assert catalog.check(only=complete) == []


@pytest.mark.parametrize(
    ("line", "value"),
    [pytest.param(line, value, id=f"line-{line}") for line, value in docs_examples()
     if not (isinstance(value, dict) and "kind" in value)],
)  # fmt: skip
def test_every_example_fragment_in_the_docs_checks_clean(line: int, value: Any) -> None:
    doc = framed(value)
    if isinstance(doc, str):
        pytest.skip(doc)
    path = Path(f"example-at-line-{line}.json")

    problems = docs_catalog([Document(path, doc)]).check(only=[path])

    assert problems == [], "\n".join(map(str, problems))


# Size -------------------------------------------------------------------------------------------


def big_workflow(segments: int) -> tuple[dict[str, Any], References]:
    """A sound workflow of `segments` x 9 steps: tasks with forms and escalations, decisions,
    actions, approvals and parallel steps, each segment reading what the one before filled in."""
    forms = {}
    steps: dict[str, Any] = {}
    for index in range(segments):
        forms[f"form-{index}"] = (
            FieldInfo(f"amount_{index}", "number", required=True),
            FieldInfo(f"kind_{index}", "string", ("a", "b", "c"), choice=True),
        )
        here, after = f"s{index}", f"s{index + 1}" if index + 1 < segments else "done"
        earlier = f"amount_{index - 1}" if index else "amount_start"
        steps[f"{here}_task"] = {
            "type": "task",
            "title": f"Work {index}: {{{{ {earlier} }}}}",
            "assign": {"group": "desk", "strategy": "round_robin"},
            "form": f"form-{index}",
            "escalate": [{"after": "PT1H", "do": [{"remind": "assignee"}]}],
            "on": {"ok": f"{here}_route", "again": f"{here}_task"},
        }
        steps[f"{here}_route"] = {
            "type": "decision",
            "branches": [
                {"when": {"field": f"kind_{index}", "op": "eq", "value": "a"},
                 "next": f"{here}_act"},
                {"when": f"amount_{index} > {earlier}", "next": f"{here}_approve"},
            ],
            "otherwise": f"{here}_par",
        }  # fmt: skip
        steps[f"{here}_act"] = {
            "type": "action",
            "set": {f"total_{index}": {"expr": f"amount_{index} + 1"}},
            "next": f"{here}_par",
        }
        steps[f"{here}_approve"] = {
            "type": "approval",
            "assign": {"group": "managers"},
            "auto_approve": {"field": f"amount_{index}", "op": "lt", "value": 500},
            "on": {"approved": f"{here}_par", "rejected": f"{here}_task"},
        }
        steps[f"{here}_par"] = {
            "type": "parallel",
            "branches": {
                "left": {"first": f"{here}_l", "steps": {
                    f"{here}_l": {"type": "task", "assign": {"group": "desk"},
                                  "next": f"{here}_le"},
                    f"{here}_le": {"type": "end"}}},
                "right": {"first": f"{here}_r", "steps": {
                    f"{here}_r": {"type": "wait", "for": "PT1H", "next": f"{here}_re"},
                    f"{here}_re": {"type": "end"}}},
            },
            "next": f"{after}_task" if index + 1 < segments else "done",
        }  # fmt: skip
    steps["done"] = {"type": "end"}
    forms["start"] = (FieldInfo("amount_start", "number", required=True),)
    doc = {
        "kind": "workflow", "format": 1, "key": "big", "title": "Big",
        "start": {"form": "start"}, "first": "s0_task", "steps": steps,
    }  # fmt: skip
    return doc, References(forms=forms, calendars=frozenset(), workflows=frozenset())


def test_a_workflow_of_five_hundred_steps_is_checked_through_to_its_last_step() -> None:
    doc, references = big_workflow(56)
    last = "/steps/s55_route/branches/0/when/value"
    broken = copy.deepcopy(doc)
    broken["steps"]["s55_route"]["branches"][0]["when"]["value"] = "d"
    typo = copy.deepcopy(doc)
    typo["steps"]["s55_act"]["set"]["total_55"]["expr"] = "amount_56 + 1"

    assert len(doc["steps"]) + 4 * 56 >= 500
    assert check_workflow(doc, references) == []
    assert [(p.pointer, p.message) for p in check_workflow(broken, references)] == [
        (last, "'kind_55' is never 'd': its options are 'a', 'b', 'c'")
    ]
    (problem,) = check_workflow(typo, references)
    assert problem.pointer == "/steps/s55_act/set/total_55/expr"
    assert "there is no field 'amount_56'" in problem.message
