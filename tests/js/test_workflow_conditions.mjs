// The typed condition builder's rules: operators by the field's kind, and the JSON it builds.
import { test } from "node:test";
import assert from "node:assert/strict";

import {
  buildable,
  comparisonFor,
  kindOf,
  listFromText,
  operatorsFor,
  optionWords,
  shapeOf,
  starterCondition,
  toExpression,
} from "../../designer/static/designer/workflow/conditions.js";

const ops = (field) => operatorsFor(field).map(([op]) => op);
const category = { key: "category", type: "select", options: ["password", "network", "other"] };
const cost = { key: "cost", type: "number" };
const neededBy = { key: "needed_by", type: "date" };
const laptop = { key: "needs_laptop", type: "checkbox" };
const services = { key: "services", type: "multiselect", options: ["email", "payments"] };

test("a choice is compared by equality and membership, never by order", () => {
  assert.deepEqual(ops(category), ["eq", "ne", "in", "not_in", "empty", "not_empty"]);
});

test("a choice among numbers has an order", () => {
  assert.ok(ops({ key: "level", type: "select", options: [1, 2, 3] }).includes("lt"));
});

test("numbers are ordered, dates are before or after, yes/no is only equal or not", () => {
  assert.deepEqual(ops(cost), ["eq", "ne", "lt", "le", "gt", "ge", "in", "not_in", "empty", "not_empty"]);
  assert.deepEqual(operatorsFor(neededBy).slice(0, 2), [["lt", "is before"], ["le", "is on or before"]]);
  assert.deepEqual(ops(laptop), ["eq", "ne", "empty", "not_empty"]);
});

test("a list is looked into with contains, a file only filled in or not", () => {
  assert.deepEqual(operatorsFor(services), [["contains", "includes"], ["empty", "is empty"], ["not_empty", "is filled in"]]);
  assert.deepEqual(ops({ key: "screenshots", type: "file" }), ["empty", "not_empty"]);
  assert.ok(!ops({ key: "summary", type: "text" }).includes("lt"));
  assert.ok(ops({ key: "summary", type: "text" }).includes("contains"));
});

test("the form's own type wins over the kind of value the checker knows", () => {
  // fields_at says a user field holds a "string"; its form_type says pick a person.
  assert.equal(kindOf({ key: "approver", type: "string", form_type: "user" }), "user");
  assert.equal(kindOf({ key: "needed_by", type: "string", form_type: "date" }), "date");
  assert.equal(kindOf({ key: "summary", type: "string" }), "text");
});

test("a field of unknown kind offers every operator", () => {
  assert.equal(kindOf({ key: "x", type: "calculated" }), "any");
  assert.equal(kindOf(undefined), "any");
  assert.equal(ops({ key: "x" }).length, 11);
});

test("a comparison is built with a value of the field's kind", () => {
  assert.deepEqual(comparisonFor(category, "eq"), { field: "category", op: "eq", value: "password" });
  assert.deepEqual(comparisonFor(category, "in"), { field: "category", op: "in", value: ["password"] });
  assert.deepEqual(comparisonFor(cost, "lt"), { field: "cost", op: "lt", value: 0 });
  assert.deepEqual(comparisonFor(laptop, "eq"), { field: "needs_laptop", op: "eq", value: true });
  assert.deepEqual(comparisonFor(category, "empty"), { field: "category", op: "empty" });
});

test("changing the operator keeps the value where it still fits", () => {
  assert.deepEqual(comparisonFor(category, "in", "network"), { field: "category", op: "in", value: ["network"] });
  assert.deepEqual(comparisonFor(category, "eq", ["other", "network"]), { field: "category", op: "eq", value: "other" });
  assert.deepEqual(comparisonFor(cost, "ge", 500), { field: "cost", op: "ge", value: 500 });
  assert.deepEqual(comparisonFor(cost, "ge", "500"), { field: "cost", op: "ge", value: 0 });
});

test("the first rule reads the first field that exists at the step, or there is none", () => {
  assert.deepEqual(starterCondition([category, cost]), { field: "category", op: "eq", value: "password" });
  assert.equal(starterCondition([]), null);
});

test("the builder shows nested all, any and not groups, and nothing it could lose", () => {
  const nested = { all: [{ field: "impact", op: "in", value: ["high"] }, { any: [{ field: "cost", op: "ge", value: 500 }, { not: { field: "approver", op: "not_empty" } }] }] };
  assert.equal(shapeOf(nested), "builder");
  assert.equal(shapeOf("cost > 5"), "expression");
  assert.equal(shapeOf(undefined), "none");
  assert.equal(shapeOf({ all: [] }), "json");
  assert.equal(shapeOf({ field: "cost", op: "eq", value: 1, note: "x" }), "json");
  assert.equal(shapeOf({ field: "cost", op: "empty", value: 1 }), "json");
  assert.equal(shapeOf({ field: "cost", op: "in", value: 3 }), "json");
  assert.equal(buildable({ all: [{ field: "a", op: "eq", value: 1 }], any: [] }), false);
});

test("a structured condition becomes the matching expression", () => {
  assert.equal(toExpression({ field: "category", op: "eq", value: "password" }), "category == 'password'");
  assert.equal(
    toExpression({ all: [{ field: "cost", op: "ge", value: 5000 }, { field: "category", op: "ne", value: "software" }] }),
    "(cost >= 5000) and (category != 'software')",
  );
  assert.equal(toExpression({ field: "impact", op: "in", value: ["high", "medium"] }), "impact in ['high', 'medium']");
  assert.equal(toExpression({ field: "services", op: "contains", value: "payments" }), "'payments' in services");
  assert.equal(toExpression({ not: { field: "vip", op: "eq", value: true } }), "not (vip == true)");
  assert.equal(toExpression({ field: "name", op: "eq", value: "O'Brien" }), "name == 'O\\'Brien'");
});

test("values typed with commas become a list of the field's kind", () => {
  assert.deepEqual(listFromText("1, 2,3", cost), [1, 2, 3]);
  assert.deepEqual(listFromText("a, b", { key: "t", type: "text" }), ["a", "b"]);
});

test("an option is said as the form says it, with the value it stores when they differ", () => {
  const impact = { key: "impact", type: "text", options: ["high", "low", 3], option_labels: ["A whole team", "low", "3"] };
  assert.equal(optionWords(impact, 0), "A whole team (high)");
  assert.equal(optionWords(impact, 1), "low", "a label that is its value is said once");
  assert.equal(optionWords(impact, 2), "3");
  assert.equal(optionWords(category, 1), "network", "a field the context gave no labels");
});
