// The workflow designer's editor commands: each returns a new document and never changes
// the one it was given.
//
// Run with `node --test tests/js/` (tests/unit/test_js_modules.py does).

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import * as model from "../../designer/static/designer/workflow/model.js";

const WORKFLOWS = new URL("../../workflows/", import.meta.url).pathname;
const incident = () => JSON.parse(readFileSync(`${WORKFLOWS}it-incident.json`, "utf8"));
const major = () => JSON.parse(readFileSync(`${WORKFLOWS}major-incident.json`, "utf8"));

/** a -> b -> c -> done, with a decision nowhere: the simplest chain. */
function chain() {
  return {
    kind: "workflow",
    format: 1,
    key: "chain",
    title: "Chain",
    first: "a",
    steps: {
      a: { type: "task", assign: { group: "desk" }, next: "b" },
      b: { type: "task", assign: { group: "desk" }, next: "c" },
      c: { type: "action", set: { x: { value: 1 } }, next: "done" },
      done: { type: "end" },
    },
  };
}

/** Run a command and check it left its input as it was. */
function pure(doc, command) {
  const before = structuredClone(doc);
  const result = command(doc);
  assert.deepEqual(doc, before, "the command changed the document it was given");
  return result;
}

test("a step added after another goes where that one went, with an id from its type", () => {
  const { doc, step } = pure(chain(), (d) => model.addStep(d, "task", { after: "a" }, { groups: [{ key: "desk" }] }));
  assert.equal(step, "task");
  assert.equal(doc.steps.a.next, "task");
  assert.deepEqual(doc.steps.task, { type: "task", assign: { group: "desk" }, next: "b" });
  const again = model.addStep(doc, "task", { after: "task" });
  assert.equal(again.step, "task_2", "a second task gets an id of its own");
  assert.deepEqual(again.doc.steps.task_2.assign, { requester: true }, "with no group known, the requester");
});

test("every step type can be added, each with what its type requires", () => {
  for (const type of model.STEP_TYPES) {
    const { doc, step } = model.addStep(chain(), type, { after: "b" });
    assert.equal(doc.steps[step].type, type);
    assert.equal(doc.steps.b.next, step);
    if (type !== "end") assert.ok(model.targets(doc.steps[step]).includes("c"), `${type} leads on to c`);
  }
  const parallel = model.addStep(chain(), "parallel", { after: "b" }).doc.steps.parallel;
  assert.deepEqual(Object.keys(parallel.branches), ["one", "two"]);
  assert.equal(parallel.branches.one.steps[parallel.branches.one.first].type, "end");
});

test("a step added at the start of a decision's lane changes that lane only", () => {
  const { doc, step } = pure(incident(), (d) => model.addStep(d, "approval", { routes: ["/steps/route/otherwise"] }));
  assert.equal(doc.steps.route.otherwise, step);
  assert.deepEqual(doc.steps[step].on, { approved: "work", rejected: "work" });
  assert.equal(doc.steps.ask_requester.next, "work", "the loop back to work still goes to work");
  assert.equal(doc.steps.reopen.next, "work");
});

test("a step added at the start of a parallel branch or of the workflow becomes its first", () => {
  const branch = model.addStep(major(), "task", { routes: ["/steps/recover/branches/restore/first"] });
  const restore = branch.doc.steps.recover.branches.restore;
  assert.equal(restore.first, branch.step);
  assert.equal(restore.steps[branch.step].next, "execute_plan", "it is added inside the branch");
  assert.equal(branch.doc.steps[branch.step], undefined);
  const top = model.addStep(chain(), "wait", { routes: ["/first"] });
  assert.equal(top.doc.first, "wait");
  assert.equal(top.doc.steps.wait.next, "a");
});

test("adding after a step that leads several ways asks for a lane", () => {
  assert.throws(() => model.addStep(incident(), "task", { after: "route" }), /leads several ways/);
  assert.throws(() => model.addStep(chain(), "task", { after: "done" }), /ends the flow/);
});

test("removing a step with one way on reconnects what led to it", () => {
  const { doc, note } = pure(chain(), (d) => model.removeStep(d, "b"));
  assert.equal(doc.steps.a.next, "c");
  assert.equal(doc.steps.b, undefined);
  assert.equal(note, "");
  const first = model.removeStep(chain(), "a").doc;
  assert.equal(first.first, "b", "removing the first step starts at the one after it");
});

test("removing a step that leads several ways says which routes now lead nowhere", () => {
  const { doc, broken, note } = model.removeStep(incident(), "work");
  assert.equal(doc.steps.work, undefined);
  assert.deepEqual(broken.sort(), ["'ask_requester'", "'reopen'", "'route' (otherwise)"]);
  assert.match(note, /led to 'work' and now lead nowhere/);
});

test("a route that leads nowhere is said as the panel says it, counted from 1", () => {
  const doc = incident();
  const branch = doc.steps.route.branches.findIndex((b) => b.next !== "work");
  const lost = doc.steps.route.branches[branch].next;
  if (model.targets(doc.steps[lost]).length === 1) doc.steps[lost].next = undefined;
  const { broken } = model.removeStep(doc, lost);
  assert.ok(broken.includes(`'route' (branch ${branch + 1})`), broken.join("; "));
});

test("removing a step drops it from separation of duties", () => {
  const doc = chain();
  doc.steps.c = { type: "approval", assign: { group: "desk" }, not_by: ["requester", "b"], on: { approved: "done", rejected: "done" } };
  assert.deepEqual(model.removeStep(doc, "b").doc.steps.c.not_by, ["requester"]);
});

test("moving a step up or down rewires the routes around it", () => {
  const up = pure(chain(), (d) => model.moveStep(d, "b", -1)).doc;
  assert.deepEqual([up.first, up.steps.b.next, up.steps.a.next, up.steps.c.next], ["b", "a", "c", "done"]);
  const down = model.moveStep(chain(), "b", 1).doc;
  assert.deepEqual([down.first, down.steps.a.next, down.steps.c.next, down.steps.b.next], ["a", "c", "b", "done"]);
  assert.throws(() => model.moveStep(chain(), "a", -1), /already the first/);
  assert.throws(() => model.moveStep(chain(), "c", 1), /already the last|Nothing comes after/);
});

test("a step moved down past a decision goes after the lanes, where they join", () => {
  const { doc } = model.moveStep(incident(), "categorize", 1);
  assert.equal(doc.first, "route");
  assert.equal(doc.steps.self_service.next, "categorize");
  assert.equal(doc.steps.work.on.resolved, "categorize");
  assert.equal(doc.steps.categorize.next, "who_confirms");
});

test("a decision does not move by itself: it says why", () => {
  assert.throws(() => model.moveStep(incident(), "route", -1), /several ways/);
});

test("a step dropped on a slot in another lane moves there", () => {
  const { doc } = model.moveStepTo(incident(), "reopen", { routes: ["/steps/route/branches/0/next"] });
  assert.equal(doc.steps.route.branches[0].next, "reopen");
  assert.equal(doc.steps.reopen.next, "self_service");
  assert.equal(doc.steps.confirm.on.rejected, "work", "what led to it leads to where it went");
});

test("a copy goes right after the original, with a new id", () => {
  const { doc, step } = pure(chain(), (d) => model.copyStep(d, "b"));
  assert.equal(step, "b_copy");
  assert.equal(doc.steps.b.next, "b_copy");
  assert.equal(doc.steps.b_copy.next, "c");
});

test("a copy of a parallel step renames the steps inside its branches", () => {
  const { doc, step } = model.copyStep(major(), "recover");
  const copy = doc.steps[step];
  assert.equal(copy.branches.restore.first, "execute_plan_copy");
  assert.equal(copy.branches.restore.steps.execute_plan_copy.next, "restored_copy");
  const ids = model.allSteps(doc).map((s) => s.id);
  assert.equal(new Set(ids).size, ids.length, "every id is still unique");
});

test("a copy of a decision follows the lanes, its own lanes empty", () => {
  const { doc, step } = model.copyStep(incident(), "route");
  assert.equal(doc.steps.self_service.next, step);
  assert.equal(doc.steps[step].otherwise, "who_confirms");
  assert.equal(doc.steps[step].branches[0].next, "who_confirms");
});

test("renaming a step renames every reference to it", () => {
  const doc = incident();
  doc.steps.confirm.escalate.push({ after: "P9D", do: [{ goto: "work" }] });
  doc.steps.confirm.not_by = ["work"];
  const renamed = pure(doc, (d) => model.renameStep(d, "work", "fix")).doc;
  assert.equal(renamed.steps.route.otherwise, "fix");
  assert.equal(renamed.steps.ask_requester.next, "fix");
  assert.equal(renamed.steps.reopen.next, "fix");
  assert.equal(renamed.steps.confirm.escalate.at(-1).do[0].goto, "fix");
  assert.deepEqual(renamed.steps.confirm.not_by, ["fix"]);
  assert.deepEqual(Object.keys(renamed.steps).indexOf("fix"), Object.keys(doc.steps).indexOf("work"), "in the same place");
  const first = model.renameStep(major(), "execute_plan", "restore_it").doc;
  assert.equal(first.steps.recover.branches.restore.first, "restore_it");
  assert.equal(model.renameStep(chain(), "a", "start_here").doc.first, "start_here");
});

test("a rename to a taken or malformed id is refused with the reason", () => {
  assert.throws(() => model.renameStep(chain(), "a", "b"), /already a step 'b'/);
  assert.throws(() => model.renameStep(chain(), "a", "Not-an-id"), /lower-case letters/);
});

test("decisions and parallel steps gain and lose branches, never below their minimum", () => {
  const added = model.addBranch(incident(), "route").doc;
  assert.equal(added.steps.route.branches.length, 2);
  assert.equal(added.steps.route.branches[1].next, "work", "a new condition leads where otherwise does");
  assert.equal(model.removeBranch(added, "route", 0).doc.steps.route.branches.length, 1);
  assert.throws(() => model.removeBranch(incident(), "route", 0), /at least one condition/);
  const wider = model.addBranch(major(), "recover");
  assert.equal(wider.branch, "branch_3");
  const branch = wider.doc.steps.recover.branches.branch_3;
  assert.equal(branch.steps[branch.first].type, "end");
  assert.deepEqual(Object.keys(model.removeBranch(wider.doc, "recover", "restore").doc.steps.recover.branches), ["communicate", "branch_3"]);
  assert.throws(() => model.removeBranch(major(), "recover", "restore"), /at least two branches/);
  assert.throws(() => model.addBranch(chain(), "a"), /only decisions and parallel/);
});

test("any step can be made the first of its flow", () => {
  assert.equal(model.setFirst(chain(), "c").doc.first, "c");
  assert.equal(model.setFirst(major(), "restored").doc.steps.recover.branches.restore.first, "restored");
});

test("a problem's pointer names the step it concerns, nested ones included", () => {
  assert.equal(model.stepOfPointer("/steps/work/assign/group"), "work");
  assert.equal(model.stepOfPointer("/steps/recover/branches/restore/steps/execute_plan/assign"), "execute_plan");
  assert.equal(model.stepOfPointer("/steps/route/branches/0/when"), "route");
  assert.equal(model.stepOfPointer("/sla/targets"), null);
});

test("the properties panel's pointer edits are offered here too", () => {
  const doc = model.setAt(chain(), "/steps/a/label", "Start");
  assert.equal(doc.steps.a.label, "Start");
  assert.equal(model.removeAt(doc, "/steps/a/label").steps.a.label, undefined);
});

test("an edit shares every step it does not change with the document it was made from", () => {
  const doc = chain();
  const labelled = pure(doc, (d) => model.setAt(d, "/steps/a/label", "Start"));
  assert.notEqual(labelled.steps.a, doc.steps.a, "the edited step is a new object");
  for (const id of ["b", "c", "done"]) assert.equal(labelled.steps[id], doc.steps[id], `${id} is the same object`);
  const moved = pure(doc, (d) => model.moveStep(d, "a", 1)).doc;
  assert.deepEqual(Object.keys(moved.steps).sort(), ["a", "b", "c", "done"]);
  assert.equal(moved.steps.c, doc.steps.c, "a step the move does not touch keeps its identity");
  assert.equal(moved.steps.done, doc.steps.done);
  const pruned = pure(labelled, (d) => model.removeAt(d, "/steps/c/set/x", { prune: true }));
  assert.equal(pruned.steps.c.set, undefined, "the emptied setting is pruned");
  assert.equal(pruned.steps.b, doc.steps.b);
});

test("the steps an undo touched are those it brought back, then those it changed", () => {
  const doc = chain();
  const removed = model.removeStep(doc, "b").doc;
  assert.deepEqual(model.touchedSteps(removed, doc), ["b", "a"], "undoing a removal brings b back, and a leads to it again");
  const added = model.addStep(doc, "wait", model.pasteWhere(doc, "a")).doc;
  assert.deepEqual(model.touchedSteps(added, doc), ["a"], "undoing an addition: a leads on as before");
  assert.deepEqual(model.touchedSteps(doc, doc), []);
  const settings = model.setAt(doc, "/title", "Another");
  assert.deepEqual(model.touchedSteps(settings, doc), [], "the workflow's settings are no step");
  const nested = major();
  const relabelled = model.setAt(nested, "/steps/recover/branches/restore/steps/execute_plan/label", "Run it");
  assert.deepEqual(model.touchedSteps(relabelled, nested), ["execute_plan"], "a nested step, not its parallel");
});

test("the workflow's own messages, which the Studio does not edit yet, stay as they were through every command", () => {
  const messages = { "b-done": { subject: "{{ instance.number }} done", body: "Done: {{ x }}" } };
  let doc = { ...chain(), messages: structuredClone(messages) };
  doc.steps.c.notify = { to: "requester", template: "b-done" };
  doc = pure(doc, (d) => model.addStep(d, "task", { after: "a" }, { groups: [{ key: "desk" }] })).doc;
  doc = pure(doc, (d) => model.renameStep(d, "c", "tell")).doc;
  doc = pure(doc, (d) => model.moveStep(d, "b", 1)).doc;
  doc = pure(doc, (d) => model.removeStep(d, "task")).doc;
  assert.deepEqual(doc.messages, messages);
  assert.equal(doc.steps.tell.notify.template, "b-done");
});

test("a problem's place names the branch, outcome or escalation it is in, counted from 1", () => {
  assert.equal(model.routeOfPointer("/steps/route/branches/1/next"), "branch 2");
  assert.equal(model.routeOfPointer("/steps/route/branches/0/when/field"), "branch 1");
  assert.equal(model.routeOfPointer("/steps/approve/on/rejected"), "outcome rejected");
  assert.equal(model.routeOfPointer("/steps/work/escalate/2/do/0/reassign"), "escalation 3");
  assert.equal(model.routeOfPointer("/steps/work/assign/group"), "");
  assert.equal(model.routeOfPointer("/steps/fan/branches/a/steps/x/next"), "");
});
