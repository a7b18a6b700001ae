// The canvas's layout: every shipped workflow, and a large generated one, drawn whole.
//
// Run with `node --test tests/js/` (tests/unit/test_js_modules.py does).

import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

import { buildLayout, eachSequence, locateCard } from "../../designer/static/designer/workflow/layout.js";
import { allSteps, forwardRoutes, gotoRoutes } from "../../designer/static/designer/workflow/routes.js";

const WORKFLOWS = new URL("../../workflows/", import.meta.url).pathname;

function shipped() {
  return readdirSync(WORKFLOWS)
    .filter((name) => name.endsWith(".json"))
    .map((name) => [name, JSON.parse(readFileSync(join(WORKFLOWS, name), "utf8"))]);
}

/** The cards of a layout by step id, and every route pointer it draws. */
function drawn(layout) {
  const cards = [];
  const routes = new Set();
  eachSequence(layout, (items) => {
    for (const item of items) {
      if (item.kind === "card") {
        cards.push(item.id);
        for (const link of [...item.links, ...item.gotos]) link.routes.forEach((r) => routes.add(r));
      }
      if (item.kind === "slot" || item.kind === "link") item.routes.forEach((r) => routes.add(r));
      if (item.kind === "lanes") item.lanes.forEach((lane) => lane.routes.forEach((r) => routes.add(r)));
    }
  });
  return { cards, routes };
}

function assertWhole(doc) {
  const layout = buildLayout(doc);
  const { cards, routes } = drawn(layout);
  const steps = allSteps(doc);
  assert.deepEqual([...cards].sort(), steps.map((s) => s.id).sort(), "every step is one card");
  for (const s of steps) {
    for (const route of [...forwardRoutes(s.step, s.pointer), ...gotoRoutes(s.step, s.pointer)]) {
      assert.ok(routes.has(route.pointer), `the route ${route.pointer} is drawn`);
    }
  }
  assert.deepEqual([...layout.order].sort(), [...cards].sort(), "the outline lists every card");
  return layout;
}

/** A workflow of `size` steps: chains, decisions whose lanes rejoin, and loops back. */
export function generated(size) {
  const steps = {};
  const id = (n) => `s${n}`;
  for (let n = 0; n < size - 1; n += 1) {
    if (n % 10 === 3) {
      steps[id(n)] = {
        type: "decision",
        branches: [{ when: { field: "x", op: "eq", value: n }, next: id(n + 1) }],
        otherwise: id(n + 2),
      };
    } else if (n % 10 === 7) {
      steps[id(n)] = { type: "task", assign: { group: "g" }, on: { ok: id(n + 1), again: id(n - 2) } };
    } else {
      steps[id(n)] = { type: "task", assign: { group: "g" }, next: id(n + 1) };
    }
  }
  steps[id(size - 1)] = { type: "end" };
  return { kind: "workflow", format: 1, key: "big", title: "Big", first: id(0), steps };
}

for (const [name, doc] of shipped()) {
  test(`${name}: every step is drawn once and every route is drawn`, () => {
    assertWhole(doc);
  });
}

test("it-incident: the route decision opens two lanes that join where someone may confirm", () => {
  const doc = JSON.parse(readFileSync(join(WORKFLOWS, "it-incident.json"), "utf8"));
  const layout = assertWhole(doc);
  const { items, index } = locateCard(layout, "route");
  const block = items[index + 1];
  assert.equal(block.kind, "lanes");
  assert.equal(block.join, "who_confirms");
  assert.deepEqual(block.lanes.map((lane) => lane.label), ["Password reset", "Otherwise"]);
  const after = items.slice(index + 2).find((item) => item.kind === "card");
  assert.equal(after.id, "who_confirms", "the lanes join again at who_confirms, drawn once below them");
  const asks = items[items.indexOf(after) + 1];
  assert.equal(asks.kind, "lanes");
  assert.deepEqual(asks.lanes.map((lane) => lane.label), ["A monitoring alert: nobody to ask", "Otherwise"]);
});

test("lanes inside a lane that join where the outer lanes join are said to join once", () => {
  const task = (next) => ({ type: "task", assign: { group: "g" }, next });
  const doc = {
    kind: "workflow", format: 1, key: "nested", first: "outer",
    steps: {
      outer: { type: "decision", branches: [{ when: { field: "a", equals: 1 }, next: "inner" }], otherwise: "z" },
      inner: { type: "decision", branches: [{ when: { field: "b", equals: 1 }, next: "x" }], otherwise: "y" },
      x: task("end"), y: task("end"), z: task("end"), end: { type: "end" },
    },
  };
  const layout = assertWhole(doc);
  const outer = layout.seq.find((item) => item.kind === "lanes");
  assert.equal(outer.join, "end");
  assert.equal(outer.joinsOuter, false, "the outer lanes say where they join");
  const inner = outer.lanes[0].seq.find((item) => item.kind === "lanes");
  assert.equal(inner.from, "inner");
  assert.equal(inner.joinsOuter, true, "the inner lanes join at the same step: said once, below");
});

test("a loop is drawn as a link that goes back, not as the step again", () => {
  const doc = JSON.parse(readFileSync(join(WORKFLOWS, "it-incident.json"), "utf8"));
  const layout = buildLayout(doc);
  const { items } = locateCard(layout, "reopen");
  const link = items.find((item) => item.kind === "link");
  assert.equal(link.to, "work");
  assert.equal(link.back, true);
});

test("a step whose other outcome goes back shows it on the card and goes on in one line", () => {
  const doc = JSON.parse(readFileSync(join(WORKFLOWS, "major-incident.json"), "utf8"));
  const layout = buildLayout(doc);
  const card = layout.cards.get("review_plan");
  assert.deepEqual(card.links.map((l) => [l.label, l.to, l.back]), [["rejected", "plan", true]]);
});

test("parallel branches are lanes with their own steps, joined at the step after them", () => {
  const doc = JSON.parse(readFileSync(join(WORKFLOWS, "major-incident.json"), "utf8"));
  const layout = buildLayout(doc);
  const { items, index } = locateCard(layout, "recover");
  const block = items[index + 1];
  assert.equal(block.parallel, true);
  assert.equal(block.join, "follow_up");
  assert.deepEqual(block.lanes.map((l) => l.routes[0]), [
    "/steps/recover/branches/restore/first",
    "/steps/recover/branches/communicate/first",
  ]);
});

test("steps the start never reaches are listed apart, each drawn once", () => {
  const doc = {
    first: "a",
    steps: {
      a: { type: "task", next: "done" },
      orphan: { type: "task", next: "also_orphan" },
      also_orphan: { type: "task", next: "done" },
      done: { type: "end" },
    },
  };
  const layout = assertWhole(doc);
  assert.equal(layout.unreached.length, 1);
  assert.deepEqual(layout.unreached[0].filter((i) => i.kind === "card").map((i) => i.id), ["orphan", "also_orphan"]);
});

test("a route to a step that does not exist is drawn as a link that says so", () => {
  const doc = { first: "a", steps: { a: { type: "task", next: "nowhere" } } };
  const layout = assertWhole(doc);
  const link = layout.seq.find((item) => item.kind === "link");
  assert.deepEqual([link.to, link.missing], ["nowhere", true]);
});

test("a draft half written (no steps, a step that is not an object) is still drawn", () => {
  assert.deepEqual(buildLayout({}).order, []);
  assert.deepEqual(buildLayout({ first: "a", steps: { a: null } }).order, ["a"]);
  assert.deepEqual(buildLayout({ first: "a", steps: { a: { type: "parallel", branches: 3 } } }).order, ["a"]);
});

test("a generated 100-step workflow is drawn whole in well under 10 ms", () => {
  const doc = generated(100);
  assertWhole(doc);
  for (let i = 0; i < 5; i += 1) buildLayout(doc); // warm up, as a page that has run a while
  const times = [];
  for (let i = 0; i < 20; i += 1) {
    const start = performance.now();
    buildLayout(doc);
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  assert.ok(times[10] < 10, `median ${times[10].toFixed(2)} ms`);
});

test("a decision shows a lane per condition even when every lane leads to the same step", () => {
  const doc = {
    first: "choose",
    steps: {
      choose: { type: "decision", branches: [{ when: "false", next: "done" }], otherwise: "done" },
      done: { type: "end" },
    },
  };
  const layout = assertWhole(doc);
  const block = layout.seq.find((item) => item.kind === "lanes");
  assert.deepEqual(block.lanes.map((lane) => lane.routes), [["/steps/choose/branches/0/next"], ["/steps/choose/otherwise"]]);
  assert.equal(block.join, "done");
});
