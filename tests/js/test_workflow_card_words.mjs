// Who a card says a step's work goes to: never a raw template.
//
// Run with `node --test tests/js/` (tests/unit/test_js_modules.py does).

import assert from "node:assert/strict";
import { test } from "node:test";

import { assignmentWords } from "../../designer/static/designer/workflow/canvas.js";

test("a person named by a template is said by what it reads", () => {
  const approval = (assign) => assignmentWords({ type: "approval", assign });
  assert.equal(approval({ manager_of: "{{ instance.requester }}" }), "Approved by the manager of the requester");
  assert.equal(approval({ user: "{{ approver }}" }), "Approved by the person in approver");
  assert.equal(approval({ user: "sam" }), "Approved by user sam");
});
