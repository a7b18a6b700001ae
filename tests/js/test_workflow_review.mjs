// A review's decision said in words, as the panel says it beside the quorum.
//
// Run with `node --test tests/js/` (tests/unit/test_js_modules.py does).

import assert from "node:assert/strict";
import { test } from "node:test";

import { reviewInWords } from "../../designer/static/designer/workflow/review.js";

const three = [{}, {}, {}];

test("a quorum the reviewers can meet says how many approve and how many reject", () => {
  assert.equal(
    reviewInWords({ reviewers: three, quorum: 2 }),
    "Approved when 2 of 3 approve. Rejected when approval can no longer be reached (2 rejections).",
  );
  assert.equal(
    reviewInWords({ reviewers: three, quorum: 3 }),
    "Approved when 3 of 3 approve. Rejected when approval can no longer be reached (1 rejection).",
  );
});

test("a quorum larger than the reviewers says it is never met, not '-1 rejections'", () => {
  assert.equal(
    reviewInWords({ reviewers: three, quorum: 5 }),
    "Never approved: 5 approvals are needed, and there are 3 reviewers.",
  );
  assert.equal(
    reviewInWords({ reviewers: [{}], quorum: 2 }),
    "Never approved: 2 approvals are needed, and there is 1 reviewer.",
  );
});
