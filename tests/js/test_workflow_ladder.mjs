// The escalation ladder's first actions: what a process owner gets when they add one.
//
// Run with `node --test tests/js/` (tests/unit/test_js_modules.py does).

import assert from "node:assert/strict";
import { test } from "node:test";

import { starterAction } from "../../designer/static/designer/workflow/ladder.js";

test("an approval left unanswered is completed as rejected unless the owner says otherwise", () => {
  for (const type of ["approval", "review"]) {
    assert.deepEqual(starterAction("complete", { step: { type } }), { complete: "rejected" });
  }
});

test("a task is completed with its first outcome, as its owner listed them", () => {
  const step = { type: "task", on: { resolved: "confirm", needs_info: "ask" } };
  assert.deepEqual(starterAction("complete", { step }), { complete: "resolved" });
  assert.deepEqual(starterAction("complete", { step: { type: "task", next: "x" } }), { complete: "done" });
});
