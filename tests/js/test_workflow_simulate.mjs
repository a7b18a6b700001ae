// The simulation panel says steps and outcomes as the process owner named them, not by id.
import { test } from "node:test";
import assert from "node:assert/strict";

import { outcomeName, stepName } from "../../designer/static/designer/workflow/simulate.js";

const steps = {
  work: { type: "task", label: "Work on the incident" },
  ask_requester: { type: "task" },
  confirm: { type: "approval", buttons: { approved: "Yes, it is solved" } },
  both: {
    type: "parallel",
    branches: { it: { first: "laptop", steps: { laptop: { type: "task", label: "Order a laptop" } } } },
  },
};

test("a step is said by its label, else by its id in words, inside branches too", () => {
  assert.equal(stepName(steps, "work"), "Work on the incident");
  assert.equal(stepName(steps, "ask_requester"), "Ask requester");
  assert.equal(stepName(steps, "laptop"), "Order a laptop");
  assert.equal(stepName(steps, "gone"), "Gone", "a step the draft no longer has");
});

test("an outcome is said as its button says it on the task page", () => {
  assert.equal(outcomeName(steps.confirm, "approved"), "Yes, it is solved");
  assert.equal(outcomeName(steps.confirm, "rejected"), "Reject");
  assert.equal(outcomeName(steps.work, "needs_info"), "Needs info");
  assert.equal(outcomeName(undefined, "done"), "Send");
});
