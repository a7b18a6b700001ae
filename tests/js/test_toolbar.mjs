// The editors' toolbars: the arrow keys, Home and End walk their buttons, round at either end.
import { test } from "node:test";
import assert from "node:assert/strict";

import { nextIndex } from "../../designer/static/designer/toolbar.js";

test("the arrows move one button along and go round at the ends", () => {
  assert.equal(nextIndex("ArrowRight", 0, 4), 1);
  assert.equal(nextIndex("ArrowRight", 3, 4), 0);
  assert.equal(nextIndex("ArrowLeft", 0, 4), 3);
  assert.equal(nextIndex("ArrowLeft", 2, 4), 1);
});

test("Home and End reach the first and the last button", () => {
  assert.equal(nextIndex("Home", 2, 4), 0);
  assert.equal(nextIndex("End", 0, 4), 3);
});

test("other keys, and a focus outside the toolbar's buttons, move nothing", () => {
  assert.equal(nextIndex("ArrowDown", 1, 4), -1);
  assert.equal(nextIndex("a", 1, 4), -1);
  assert.equal(nextIndex("ArrowRight", -1, 4), -1);
});
