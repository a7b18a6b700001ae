// The properties panel's pure helpers: starting values that the checker takes, and a kind
// select walked with the arrow keys giving back what was there.
import { test } from "node:test";
import assert from "node:assert/strict";

import { switchKind, withField } from "../../designer/static/designer/workflow/controls.js";
import { expressionOf } from "../../designer/static/designer/workflow/automatic.js";

test("a value turned into an expression starts as that value, written as an expression", () => {
  assert.equal(expressionOf({ value: "done" }), "'done'");
  assert.equal(expressionOf({ value: "it's" }), "'it\\'s'");
  assert.equal(expressionOf({ value: 3 }), "3");
  assert.equal(expressionOf({ value: false }), "false");
  assert.equal(expressionOf({ value: null }), "none");
  assert.equal(expressionOf({ value: [1] }), "none");
  assert.equal(expressionOf({ lookup: "priority" }), "none");
});

test("walking a kind select away and back gives the first value back, not a starter", () => {
  const at = "/steps/work/assign";
  const first = { group: "{{ team }}", strategy: "round_robin" };
  const requester = switchKind(at, "group", first, "requester", () => ({ requester: true }));
  assert.deepEqual(requester, { requester: true });
  const back = switchKind(at, "requester", requester, "group", () => ({ group: "applications" }));
  assert.deepEqual(back, first);
  assert.notEqual(back, first, "a copy, so an edit of one is not an edit of the other");
});

test("a kind never left starts from its starter", () => {
  assert.deepEqual(switchKind("/steps/other/assign", "group", { group: "a" }, "user", () => ({ user: "ivy" })), { user: "ivy" });
});

test("a field inserted into a template goes at its end, a space before it", () => {
  assert.equal(withField(undefined, "summary"), "{{ summary }}");
  assert.equal(withField("Re:", "summary"), "Re: {{ summary }}");
  assert.equal(withField("Re: ", "summary"), "Re: {{ summary }}");
});
