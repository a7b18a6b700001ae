// Decision tables in the designer: the combinations no row covers, and those several rows do.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

import {
  cellMatches,
  rangeFrom,
  rangeText,
  coverageWords,
  literalFrom,
  optionsOf,
  tableCoverage,
} from "../../designer/static/designer/workflow/tables.js";
import { renameTable } from "../../designer/static/designer/workflow/places.js";

const incident = JSON.parse(readFileSync(new URL("../../workflows/it-incident.json", import.meta.url)));
const levels = ["high", "medium", "low"];

test("the it-incident matrix leaves no combination of impact and urgency uncovered", () => {
  const report = tableCoverage(incident.tables.priority, { impact: levels, urgency: levels });
  assert.equal(report.complete, true);
  assert.deepEqual(report.gaps, []);
});

test("the it-incident catch-all row is a fallback behind the specific rows, never a conflict", () => {
  const report = tableCoverage(incident.tables.priority, { impact: levels, urgency: levels });
  assert.deepEqual(
    report.pairs.map((p) => [p.rows, p.kind]),
    [0, 1, 2, 3, 4, 5].map((row) => [[row, 6], "fallback"]),
  );
  assert.deepEqual(report.rows[6].overlaps, [0, 1, 2, 3, 4, 5]);
  assert.equal(report.rows[6].wins, 3); // medium/low, low/medium, low/low
  assert.ok(report.rows.every((row) => !row.unused));
});

test("without its catch-all row the matrix lists each missing combination in words", () => {
  const table = { ...incident.tables.priority, rows: incident.tables.priority.rows.slice(0, -1) };
  const report = tableCoverage(table, { impact: levels, urgency: levels });
  assert.deepEqual(report.gaps.map((g) => g.text), [
    "impact=medium, urgency=low",
    "impact=low, urgency=medium",
    "impact=low, urgency=low",
  ]);
  assert.equal(coverageWords(table, report)[0].text, "No row for impact=medium, urgency=low: the lookup gives nothing (null).");
  assert.deepEqual(report.pairs, []);
});

test("a missing row and a doubled row are both found, and both doubled rows are marked", () => {
  const table = {
    inputs: ["impact", "urgency"],
    output: "priority",
    rows: [
      { when: ["high", "high"], then: "P1" },
      { when: ["high", "low"], then: "P2" },
      { when: ["low", "high"], then: "P2" },
      { when: ["low", "high"], then: "P3" },
    ],
    default: "P4",
  };
  const report = tableCoverage(table, { impact: ["high", "low"], urgency: ["high", "low"] });
  assert.deepEqual(report.gaps.map((g) => g.text), ["impact=low, urgency=low"]);
  assert.deepEqual(report.overlaps.map((o) => [o.text, o.rows]), [["impact=low, urgency=high", [2, 3]]]);
  assert.deepEqual(report.rows[2].overlaps, [3]);
  assert.deepEqual(report.rows[3].overlaps, [2]);
  assert.equal(report.rows[3].unused, true);
  const words = coverageWords(table, report).map((l) => l.text);
  assert.deepEqual(words, [
    "No row for impact=low, urgency=low: the default P4 applies.",
    "Row 4 is never used where row 3 matches (impact=low, urgency=high): row 3 matches everything it does.",
  ]);
});

test("two rows that partly overlap with different results are a conflict the order decides", () => {
  const table = {
    inputs: ["impact", "urgency"],
    output: "priority",
    rows: [
      { when: ["high", "-"], then: "P1" },
      { when: ["-", "high"], then: "P2" },
      { when: ["low", "low"], then: "P3" },
    ],
  };
  const report = tableCoverage(table, { impact: ["high", "low"], urgency: ["high", "low"] });
  assert.deepEqual(report.pairs.map((p) => [p.rows, p.kind]), [[[0, 1], "conflict"]]);
  assert.match(coverageWords(table, report)[0].text, /^Rows 1 and 2 both match impact=high, urgency=high and give different results; row 1 wins/);
});

test("rows giving the same result may overlap harmlessly, and a list cell matches each of its values", () => {
  const table = {
    inputs: ["category"],
    output: "team",
    rows: [
      { when: [["software", "access"]], then: "applications" },
      { when: ["access"], then: "applications" },
    ],
  };
  const report = tableCoverage(table, { category: ["software", "access", "hardware"] });
  assert.deepEqual(report.pairs.map((p) => p.kind), ["same"]);
  assert.deepEqual(report.gaps.map((g) => g.text), ["category=hardware"]);
});

test("gaps and overlaps are not worked out while an input's options are unknown", () => {
  const report = tableCoverage(incident.tables.priority, { impact: levels });
  assert.equal(report.complete, false);
  assert.deepEqual(report.unknown, ["urgency"]);
  assert.deepEqual(report.gaps, []);
});

test("a cell matches as the engine matches: exact values, lists and the '-' wildcard", () => {
  assert.ok(cellMatches("-", undefined));
  assert.ok(cellMatches(["a", "b"], "b"));
  assert.ok(!cellMatches("high", "High"));
  assert.ok(!cellMatches(true, 1));
  assert.deepEqual(optionsOf({ type: "checkbox" }), [true, false]);
  assert.equal(optionsOf({ type: "text" }), null);
});

test("a typed result keeps the kind of the results around it", () => {
  assert.equal(literalFrom("3", 2), 3);
  assert.equal(literalFrom("P3", "P1"), "P3");
  assert.equal(literalFrom("true", false), true);
  assert.equal(literalFrom("", "P1"), null);
});

test("renaming a table renames every lookup of it, in order", () => {
  const renamed = renameTable(incident, "priority", "matrix");
  assert.deepEqual(Object.keys(renamed.tables), ["matrix", "team"]);
  assert.deepEqual(renamed.steps.categorize.set.priority, { lookup: "matrix" });
  assert.deepEqual(incident.steps.categorize.set.priority, { lookup: "priority" });
});

test("a catch-all row behind specific rows is said once, as the row that takes the rest", () => {
  const report = tableCoverage(incident.tables.priority, { impact: levels, urgency: levels });
  assert.deepEqual(coverageWords(incident.tables.priority, report).map((l) => l.text), [
    "Row 7 also matches everything rows 1, 2, 3, 4, 5 and 6 match; they win there, being first, and row 7 takes the rest.",
  ]);
});

test("a range cell is typed as a person says it, and said back the same way", () => {
  assert.deepEqual(rangeFrom(">= 100 and < 500"), { ge: 100, lt: 500 });
  assert.deepEqual(rangeFrom("<=2026-12-31"), { le: "2026-12-31" });
  assert.deepEqual(rangeFrom("> 'abc'"), { gt: "abc" });
  assert.equal(rangeText({ ge: 100, lt: 500 }), ">= 100 and < 500");
  assert.equal(rangeFrom("> 1 and > 2"), null); // two lower bounds
  assert.equal(rangeFrom("100..500"), null);
  assert.equal(rangeFrom(">= 1 and < 5 and < 9"), null);
});

test("a range cell matches the numbers within it, and nothing of another kind", () => {
  const band = { ge: 100, lt: 500 };
  assert.equal(cellMatches(band, 100), true);
  assert.equal(cellMatches(band, 499.99), true);
  assert.equal(cellMatches(band, 500), false);
  assert.equal(cellMatches(band, "200"), false);
  assert.equal(cellMatches(band, undefined), false);
  assert.equal(cellMatches({ lt: "2027-01-01" }, "2026-12-31"), true);
});
