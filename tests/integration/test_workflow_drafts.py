"""The workflow designer's service: drafts, checks as you go, publishing, templates, versions."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from designer.workflow_diff import diff_workflows
from engine.service.commands import Commands
from engine.service.drafts import Drafts
from engine.service.errors import Conflict, InvalidInput, NotAllowed, NotFound
from engine.service.people import ensure_user
from engine.service.workflow_drafts import WorkflowDrafts
from engine.service.workflow_templates import shipped_templates
from engine.store.database import Database

#: A small flow on the shipped service-request form: a decision reads the start form's cost.
LAPTOPS: dict[str, Any] = {
    "kind": "workflow",
    "format": 1,
    "key": "laptops",
    "title": "Laptops",
    "start": {"form": "service-request", "number_prefix": "LAP"},
    "first": "route",
    "steps": {
        "route": {
            "type": "decision",
            "branches": [{"when": {"field": "cost", "op": "gt", "value": 500}, "next": "approve"}],
            "otherwise": "fulfil",
        },
        "approve": {
            "type": "approval",
            "assign": {"group": "service-desk"},
            "form": "approval-decision",
            "on": {"approved": "fulfil", "rejected": "refused"},
        },
        "fulfil": {
            "type": "task",
            "assign": {"group": "service-desk"},
            "on": {"delivered": "done"},
        },
        "done": {"type": "end", "status": "completed"},
        "refused": {"type": "end", "status": "refused"},
    },
}

REQUEST = {"item": "laptop", "details": "A new one", "cost": 900, "manager": "sam"}


@pytest.fixture
def drafts(commands: Commands, database: Database) -> WorkflowDrafts:
    """The workflow designer's service, with dana (a designer) and root (an admin)."""
    with database.writer_session() as session, session.begin():
        ensure_user(session, "dana", commands.clock(), roles=["designer"])
        ensure_user(session, "root", commands.clock(), roles=["admin"])
    return WorkflowDrafts(commands)


def saved(drafts: WorkflowDrafts, document: dict[str, Any], key: str = "laptops") -> int:
    """Save a document as the next revision of a workflow's draft; return the revision."""
    return drafts.save(key, document, drafts.draft(key).revision, "dana").revision


def published(drafts: WorkflowDrafts, document: dict[str, Any], key: str = "laptops") -> int:
    saved(drafts, document, key)
    return drafts.publish(key, "dana", revision=None).version


def fields(check: Any, step: str) -> dict[str, dict[str, Any]]:
    return {field["key"]: field for field in check.fields_at[step]}


# Drafts --------------------------------------------------------------------------------------


def test_a_new_workflow_starts_blank_and_a_draft_is_kept_as_sent(drafts: WorkflowDrafts) -> None:
    blank = drafts.draft("laptops")
    assert (blank.revision, blank.latest_version) == (0, 0)
    assert blank.document["steps"] == {"done": {"type": "end"}}
    broken = {"kind": "workflow", "steps": "not yet"}
    assert drafts.save("laptops", broken, 0, "dana").revision == 1
    again = drafts.draft("laptops")
    assert (again.document, again.revision, again.saved_by) == (broken, 1, "dana")
    assert [w["key"] for w in drafts.workflows() if w["draft_revision"]] == ["laptops"]


def test_a_save_from_a_stale_revision_is_refused_and_changes_nothing(
    drafts: WorkflowDrafts,
) -> None:
    saved(drafts, LAPTOPS)
    saved(drafts, {**LAPTOPS, "title": "Second"})
    with pytest.raises(Conflict, match="revision 2, not 1"):
        drafts.save("laptops", {**LAPTOPS, "title": "Lost"}, 1, "root")
    assert drafts.draft("laptops").document["title"] == "Second"


# Checks as you go -----------------------------------------------------------------------------


def test_a_sound_flow_checks_clean_and_says_what_each_step_may_read(
    drafts: WorkflowDrafts,
) -> None:
    check = drafts.check("laptops", LAPTOPS)
    assert check.to_json()["ok"], check.problems
    start = fields(check, "$start")
    assert start["item"]["options"] == ["laptop", "monitor", "software", "access", "other"]
    assert (start["cost"]["type"], start["cost"]["step"]) == ("number", None)
    route = fields(check, "route")
    assert route["cost"]["maybe_missing"] is False
    assert route["needed_by"]["maybe_missing"] is True  # the start form does not require it
    assert route["needed_by"]["form_type"] == "date"  # a date picker, not a text box
    assert "approval_comment" not in route
    fulfil = fields(check, "fulfil")
    assert fulfil["approval_comment"]["step"] == "approve"
    assert fulfil["approval_comment"]["maybe_missing"] is True  # not on the cheap route


def test_a_condition_on_a_field_that_does_not_exist_is_a_problem_at_its_pointer(
    drafts: WorkflowDrafts,
) -> None:
    broken = copy.deepcopy(LAPTOPS)
    broken["steps"]["route"]["branches"][0]["when"]["field"] = "costs"
    broken["steps"]["approve"]["assign"] = {"group": "nobody-here"}
    problems = {p.pointer: p.message for p in drafts.check("laptops", broken).problems}
    assert "costs" in problems["/steps/route/branches/0/when/field"]
    assert "nobody-here" in problems["/steps/approve/assign/group"]


def test_a_check_answers_each_field_once_and_each_step_by_index(drafts: WorkflowDrafts) -> None:
    check = drafts.check("laptops", LAPTOPS)
    answer = check.to_json()
    listed = answer["fields"]
    expanded = {
        step: [{**listed[index], "step": by, "maybe_missing": missing} for index, by, missing in at]
        for step, at in answer["fields_at"].items()
    }
    assert expanded == check.fields_at
    assert len(listed) < sum(len(at) for at in answer["fields_at"].values())


def test_a_draft_that_breaks_the_schema_gets_problems_and_no_fields(
    drafts: WorkflowDrafts,
) -> None:
    check = drafts.check("laptops", {"kind": "workflow", "key": "laptops"})
    assert check.problems
    assert check.fields_at == {}
    assert (check.to_json()["fields"], check.to_json()["fields_at"]) == ([], {})


def test_a_draft_must_keep_the_key_it_is_saved_as(drafts: WorkflowDrafts) -> None:
    problems = drafts.check("laptops", {**LAPTOPS, "key": "other"}).problems
    assert [p.pointer for p in problems] == ["/key"]


# Publishing -----------------------------------------------------------------------------------


def test_publishing_freezes_a_version_that_instances_then_start_on(
    drafts: WorkflowDrafts, commands: Commands
) -> None:
    revision = saved(drafts, LAPTOPS)
    done = drafts.publish("laptops", "dana", revision=revision)
    assert (done.version, done.created) == (1, True)
    assert [v["published_by"] for v in drafts.versions("laptops")] == ["dana"]
    number = commands.start("laptops", REQUEST, requester="alice")["number"]
    assert str(number).startswith("LAP-")


def test_publishing_the_latest_content_again_changes_nothing_and_an_older_one_comes_back(
    drafts: WorkflowDrafts,
) -> None:
    assert published(drafts, LAPTOPS) == 1
    saved(drafts, {**LAPTOPS, "title": "Laptops, better"})
    assert drafts.publish("laptops", "dana", revision=None).version == 2
    same = drafts.publish("laptops", "dana", revision=None)
    assert (same.version, same.created, same.latest) == (2, False, 2)
    saved(drafts, LAPTOPS)
    back = drafts.publish("laptops", "dana", revision=None)
    assert (back.version, back.created, back.latest, back.same_as) == (3, True, 3, 1)
    assert len(drafts.versions("laptops")) == 3


def test_a_broken_draft_is_not_published_and_the_problems_say_where(
    drafts: WorkflowDrafts,
) -> None:
    broken = copy.deepcopy(LAPTOPS)
    broken["steps"]["fulfil"]["on"] = {"delivered": "nowhere"}
    saved(drafts, broken)
    with pytest.raises(InvalidInput) as refused:
        drafts.publish("laptops", "dana", revision=None)
    assert "/steps/fulfil/on/delivered" in [p.pointer for p in refused.value.problems]
    assert drafts.versions("laptops") == []


def test_a_workflow_draft_is_never_published_as_another_kind(drafts: WorkflowDrafts) -> None:
    form = {"kind": "form", "format": 1, "key": "laptops", "title": "Sneaky", "fields": []}
    saved(drafts, form)
    with pytest.raises(InvalidInput) as refused:
        drafts.publish("laptops", "dana", revision=None)
    assert [p.pointer for p in refused.value.problems] == ["/kind"]
    assert Drafts(drafts.shell).versions("laptops") == []  # no form was published either


def test_publishing_a_stale_revision_is_refused(drafts: WorkflowDrafts) -> None:
    saved(drafts, LAPTOPS)
    saved(drafts, {**LAPTOPS, "title": "Newer"})
    with pytest.raises(Conflict, match="revision 2"):
        drafts.publish("laptops", "dana", revision=1)
    assert drafts.versions("laptops") == []


def test_a_workflow_never_created_cannot_be_published(drafts: WorkflowDrafts) -> None:
    with pytest.raises(NotFound, match="create it first"):
        drafts.publish("ghost", "dana", revision=None)


def test_only_designers_and_admins_may_create_save_or_publish(drafts: WorkflowDrafts) -> None:
    for person in ("alice", "bob"):  # a requester; an agent of the service desk
        with pytest.raises(NotAllowed, match="designers and admins"):
            drafts.create("laptops", person)
        with pytest.raises(NotAllowed):
            drafts.save("laptops", LAPTOPS, 0, person)
    saved(drafts, LAPTOPS)
    with pytest.raises(NotAllowed, match="publish workflows"):
        drafts.publish("laptops", "bob", revision=None)
    assert drafts.versions("laptops") == []
    assert drafts.publish("laptops", "root", revision=None).created


# Starting from something ----------------------------------------------------------------------


def with_subflow(key: str, workflow: str) -> dict[str, Any]:
    """A flow whose first step starts `workflow` and waits for it."""
    return {
        **LAPTOPS, "key": key,
        "first": "child",
        "steps": {**LAPTOPS["steps"], "child": {
            "type": "subflow", "workflow": workflow,
            "data": {"item": "item", "details": "details", "cost": "cost", "manager": "manager"},
            "next": "route",
        }},
    }  # fmt: skip


def test_a_check_sees_what_was_published_since_the_last_check(drafts: WorkflowDrafts) -> None:
    """The published catalog is worked out once per set of versions: a new one is seen."""
    parent = with_subflow("parent", "laptops")
    unknown = drafts.check("parent", parent).problems
    assert [p.pointer for p in unknown] == ["/steps/child/workflow"]
    published(drafts, LAPTOPS)
    assert drafts.check("parent", parent).problems == []
    # A new version that no longer ends as 'refused': the parent's route on it is now wrong.
    parent["steps"]["child"]["on"] = {"refused": "refused"}
    assert drafts.check("parent", parent).problems == []
    changed = copy.deepcopy(LAPTOPS)
    changed["steps"]["approve"]["on"]["rejected"] = "done"
    del changed["steps"]["refused"]
    published(drafts, changed)
    assert [p.pointer for p in drafts.check("parent", parent).problems] == [
        "/steps/child/on/refused"
    ]


def test_a_draft_that_starts_itself_is_checked_as_drawn_not_as_published(
    drafts: WorkflowDrafts,
) -> None:
    published(drafts, LAPTOPS)
    itself = with_subflow("laptops", "laptops")
    assert drafts.check("laptops", itself).problems == []
    # The draft's own start form, not the published one's, is what its subflow must fill in.
    itself["start"] = {"form": "approval-decision"}
    problems = drafts.check("laptops", itself).problems
    assert any(p.pointer.startswith("/steps/child/data") for p in problems), problems


@pytest.mark.parametrize("template", [t.id for t in shipped_templates()])
def test_a_new_workflow_from_each_shipped_template_passes_the_checker(
    drafts: WorkflowDrafts, template: str
) -> None:
    draft = drafts.create("my-copy", "dana", template=template)
    assert draft.revision == 1
    assert draft.document["key"] == "my-copy"
    assert draft.document["title"] == next(t.title for t in drafts.templates if t.id == template)
    assert drafts.check("my-copy", draft.document).problems == []


def test_a_new_workflow_from_a_form_is_a_working_approval_flow(
    drafts: WorkflowDrafts, commands: Commands
) -> None:
    draft = drafts.create("laptop-orders", "dana", form="service-request")
    assert draft.document["start"]["form"] == "service-request"
    assert draft.document["title"] == "Request something"
    assert drafts.check("laptop-orders", draft.document).problems == []
    assert drafts.publish("laptop-orders", "dana", revision=1).created
    number = commands.start("laptop-orders", REQUEST, requester="alice")["number"]
    assert drafts.running("laptop-orders")["steps"] == {"approve": 1}, number


def test_a_new_workflow_needs_a_free_key_and_a_known_template_or_form(
    drafts: WorkflowDrafts,
) -> None:
    drafts.create("laptops", "dana")
    with pytest.raises(Conflict, match="already a workflow 'laptops'"):
        drafts.create("laptops", "dana", template="it-incident")
    with pytest.raises(Conflict):
        drafts.create("it-incident", "dana")  # published by the pack
    with pytest.raises(NotFound, match="no template 'nope'"):
        drafts.create("other", "dana", template="nope")
    with pytest.raises(NotFound, match="no published form 'nope'"):
        drafts.create("other", "dana", form="nope")
    assert drafts.draft("other").revision == 0


# Versions, running instances and the diff ----------------------------------------------------


def test_running_counts_open_instances_by_the_step_they_wait_at(
    drafts: WorkflowDrafts, commands: Commands
) -> None:
    assert drafts.running("laptops") == {"version": 0, "steps": {}}
    published(drafts, LAPTOPS)
    commands.start("laptops", REQUEST, requester="alice")
    commands.start("laptops", REQUEST, requester="sam")
    commands.start("laptops", {**REQUEST, "cost": 100}, requester="alice")
    assert drafts.running("laptops") == {"version": 1, "steps": {"approve": 2, "fulfil": 1}}


def test_a_draft_removing_a_step_where_instances_wait_is_warned_of(
    drafts: WorkflowDrafts, commands: Commands
) -> None:
    published(drafts, LAPTOPS)
    commands.start("laptops", REQUEST, requester="alice")
    without = copy.deepcopy(LAPTOPS)
    del without["steps"]["approve"], without["steps"]["refused"]
    without["steps"]["route"]["branches"][0]["next"] = "fulfil"
    check = drafts.check("laptops", without)
    assert check.problems == []
    assert [w.message for w in check.warnings] == [
        "1 running instance(s) of version 1 wait at step 'approve', which this draft "
        "removes; they finish on version 1"
    ]


def test_the_diff_between_versions_is_said_in_words(drafts: WorkflowDrafts) -> None:
    published(drafts, LAPTOPS)
    changed = copy.deepcopy(LAPTOPS)
    changed["steps"]["approve"]["assign"] = {"group": "network"}
    changed["steps"]["fulfil"]["on"] = {"delivered": "check"}
    changed["steps"]["check"] = {
        "type": "task",
        "assign": {"requester": True},
        "on": {"ok": "done"},
    }
    saved(drafts, changed)
    old, new = drafts.documents("laptops", 1, None)
    texts = [c.text for c in diff_workflows(old, new)]
    assert "step 'approve': assignment changed from group service-desk to group network" in texts
    assert "step 'check' (task) was added after 'fulfil'" in texts
    assert "step 'fulfil': outcome 'delivered' now goes to 'check' (was 'done')" in texts


def test_the_diff_sees_renames_ladders_conditions_and_table_rows() -> None:
    old = copy.deepcopy(LAPTOPS)
    old["tables"] = {
        "team": {"inputs": ["item"], "output": "team", "rows": [
            {"when": ["laptop"], "then": "desk"}, {"when": ["access"], "then": "identity"}]},
    }  # fmt: skip
    new = copy.deepcopy(old)
    new["steps"]["deliver"] = new["steps"].pop("fulfil")
    new["steps"]["route"]["otherwise"] = "deliver"
    new["steps"]["approve"]["on"]["approved"] = "deliver"
    new["steps"]["route"]["branches"][0]["when"] = {"field": "cost", "op": "ge", "value": 1000}
    new["steps"]["approve"]["escalate"] = [{"after": "P1D", "do": [{"remind": "assignee"}]}]
    new["tables"]["team"]["rows"][1]["then"] = "security"
    new["start"]["public"] = True
    texts = [c.text for c in diff_workflows(old, new)]
    assert texts == [
        "step 'fulfil' was renamed to 'deliver'",
        "step 'route': branch 1: condition changed from cost is more than 500 "
        "to cost is at least 1000",
        "step 'approve': escalation 1 added: after P1D: remind the assignee",
        "the workflow is now public",
        "table 'team': row 2 changed from (access gives identity) to (access gives security)",
    ]


def test_a_step_renamed_in_a_draft_that_orders_its_steps_otherwise_is_said_renamed() -> None:
    """The designer's draft came back with its steps in another order than the version it
    came from: the steps leading to the renamed one were the same, listed otherwise, and the
    rename was said as a step removed and another added."""
    old = copy.deepcopy(LAPTOPS)
    new = copy.deepcopy(old)
    new["steps"]["deliver"] = new["steps"].pop("fulfil")
    new["steps"]["route"]["otherwise"] = "deliver"
    new["steps"]["approve"]["on"]["approved"] = "deliver"
    deliver = new["steps"].pop("deliver")
    new["steps"] = {"deliver": deliver, **dict(reversed(new["steps"].items()))}  # reordered
    texts = [c.text for c in diff_workflows(old, new)]
    assert "step 'fulfil' was renamed to 'deliver'" in texts
    assert not [t for t in texts if "was removed" in t or "was added" in t]


def test_a_step_removed_and_an_unrelated_one_added_are_not_said_to_be_a_rename() -> None:
    old = copy.deepcopy(LAPTOPS)
    new = copy.deepcopy(old)
    fulfil = new["steps"].pop("fulfil")
    new["steps"]["route"]["otherwise"] = "done"
    new["steps"]["approve"]["on"]["approved"] = "done"
    new["steps"]["audit"] = {**fulfil, "label": "Audit"}  # to the same end, led by nothing
    texts = [c.text for c in diff_workflows(old, new)]
    assert not [t for t in texts if "renamed" in t], texts
    assert "step 'fulfil' was removed" in texts


def test_the_diff_says_which_of_the_workflows_own_messages_changed() -> None:
    old = {
        **LAPTOPS,
        "messages": {"a": {"subject": "A", "body": "a"}, "b": {"subject": "B", "body": "b"}},
    }
    new = {
        **LAPTOPS,
        "messages": {"a": {"subject": "A!", "body": "a"}, "c": {"subject": "C", "body": "c"}},
    }

    assert [c.text for c in diff_workflows(old, new)] == [
        "message 'a': its subject changed",
        "message 'b' was removed",
        "message 'c' was added",
    ]


def test_the_diff_says_who_works_the_requests_now() -> None:
    changes = diff_workflows(LAPTOPS, {**LAPTOPS, "team": "Facilities"})

    assert [c.text for c in changes] == ["the workflow's team set to 'Facilities'"]
