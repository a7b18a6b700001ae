// The decision-table grid: `tables.<name>` edited as rows and columns (inputs, then the
// output), with the combinations no row covers and those more than one row covers marked.
//
// The hit policy is the language's: rows are tried top to bottom and the first that matches
// wins (docs/workflow-language.md §7). So an overlap is not always a mistake: a catch-all
// row last is the usual way to say "everything else". `tableCoverage` tells the kinds
// apart; it is pure, for node tests.

import { el } from "../dom.js";
import { getAt, pointer, removeAt, setAt } from "./pointer.js";
import { joinWords } from "./durations.js";
import { Panel, button, control, fillSelect, idFor, rowButtons, textField } from "./controls.js";
import { moveItem, renameTable, tableUsers } from "./places.js";

export const ANY = "-";

/** Whether a cell matches an input value: "-" matches anything, a list any of its values,
 * a range ({ge, gt, le, lt}) the numbers or dates within it. */
export function cellMatches(cell, value) {
  if (cell === ANY) return true;
  if (Array.isArray(cell)) return cell.includes(value);
  if (isRange(cell)) return inRange(cell, value);
  return cell === value;
}

/** A range cell's bounds as the grid writes them, and back. */
const SIGNS = { ge: ">=", gt: ">", le: "<=", lt: "<" };
const BOUND_OF = { ">=": "ge", ">": "gt", "<=": "le", "<": "lt" };
const COMPARE = { ge: (v, b) => v >= b, gt: (v, b) => v > b, le: (v, b) => v <= b, lt: (v, b) => v < b };

export function isRange(cell) {
  return cell !== null && typeof cell === "object" && !Array.isArray(cell);
}

function inRange(cell, value) {
  return Object.entries(cell).every(([name, bound]) => typeof value === typeof bound && typeof value !== "boolean" && COMPARE[name]?.(value, bound));
}

/** A range cell in the grid's words: ">= 100 and < 500". */
export function rangeText(cell) {
  return Object.entries(cell).map(([name, bound]) => `${SIGNS[name] || name} ${say(bound)}`).join(" and ");
}

/**
 * A range cell from what a person types: ">= 100", "< 500", ">= 100 and < 500", a date
 * for a date ("< 2027-01-01"); null when the text is not a range (one lower bound at most,
 * one upper bound at most).
 */
export function rangeFrom(text) {
  const parts = text.trim().split(/\s+and\s+/i);
  if (parts.length > 2) return null;
  const cell = {};
  for (const part of parts) {
    const found = /^(>=|<=|>|<)\s*(\S.*)$/.exec(part.trim());
    if (!found) return null;
    const name = BOUND_OF[found[1]];
    if (Object.keys(cell).some((other) => other[0] === name[0])) return null;
    const raw = found[2].trim().replace(/^'(.*)'$/, "$1");
    cell[name] = raw !== "" && Number.isFinite(Number(raw)) ? Number(raw) : raw;
  }
  return cell;
}

/** The known values of a field: a choice's options, yes and no for a checkbox; else null. */
export function optionsOf(field) {
  if (!field) return null;
  if (Array.isArray(field.options) && field.options.length) return field.options;
  if (field.type === "checkbox" || field.type === "boolean") return [true, false];
  return null;
}

function product(lists) {
  return lists.reduce((combos, list) => combos.flatMap((combo) => list.map((value) => [...combo, value])), [[]]);
}

const say = (value) => (typeof value === "string" ? value : JSON.stringify(value));

/** "impact=low, urgency=high" for a combination of input values. */
export function combinationWords(inputs, values) {
  return inputs.map((input, i) => `${input}=${say(values[i])}`).join(", ");
}

/**
 * What the rows of `table` cover, given the options of each input (`options[input]`, an
 * array, or missing when not known):
 * `{complete, unknown: [inputs without options], gaps: [{values, text}],
 *   overlaps: [{values, text, rows}], pairs: [{rows: [i, j], kind, count, first}],
 *   rows: [{wins, overlaps: [j...], unused}]}`.
 * A pair's kind: `same` (both give the same output), `fallback` (the later row matches
 * everything the earlier does: a broader row behind a specific one), `shadowed` (the earlier
 * row matches everything the later does, which never wins there) or `conflict` (a partial
 * overlap with different outputs: the order decides). Only worked out when every input's
 * options are known (`complete`).
 */
export function tableCoverage(table, options) {
  const inputs = table.inputs || [];
  const rows = table.rows || [];
  const unknown = inputs.filter((input) => !Array.isArray(options[input]) || options[input].length === 0);
  const report = { complete: unknown.length === 0 && inputs.length > 0, unknown, gaps: [], overlaps: [], pairs: [], rows: rows.map(() => ({ wins: 0, overlaps: [], unused: false })) };
  if (!report.complete) return report;
  const combos = product(inputs.map((input) => options[input]));
  const matched = rows.map(() => new Set());
  combos.forEach((values, c) => {
    const hits = rows.flatMap((row, r) => ((row.when || []).length === inputs.length && values.every((v, i) => cellMatches(row.when[i], v)) ? [r] : []));
    hits.forEach((r) => matched[r].add(c));
    const text = combinationWords(inputs, values);
    if (hits.length === 0) report.gaps.push({ values: Object.fromEntries(inputs.map((input, i) => [input, values[i]])), text });
    else report.rows[hits[0]].wins += 1;
    if (hits.length > 1) report.overlaps.push({ values: Object.fromEntries(inputs.map((input, i) => [input, values[i]])), text, rows: hits });
  });
  for (let i = 0; i < rows.length; i += 1) {
    for (let j = i + 1; j < rows.length; j += 1) {
      const shared = [...matched[i]].filter((c) => matched[j].has(c));
      if (!shared.length) continue;
      let kind = "conflict";
      if (JSON.stringify(rows[i].then) === JSON.stringify(rows[j].then)) kind = "same";
      else if (shared.length === matched[j].size) kind = "shadowed";
      else if (shared.length === matched[i].size) kind = "fallback";
      report.pairs.push({ rows: [i, j], kind, count: shared.length, first: combinationWords(inputs, combos[shared[0]]) });
      report.rows[i].overlaps.push(j);
      report.rows[j].overlaps.push(i);
    }
  }
  report.rows.forEach((row) => { row.unused = row.wins === 0; });
  return report;
}

/** The coverage report in sentences, for the panel and for people reading a test. */
export function coverageWords(table, report) {
  const lines = [];
  const hasDefault = Object.hasOwn(table, "default");
  for (const gap of report.gaps) {
    const then = hasDefault ? `the default ${say(table.default)} applies` : "the lookup gives nothing (null)";
    lines.push({ kind: "gap", text: `No row for ${gap.text}: ${then}.` });
  }
  // A broad row behind specific ones is one sentence, not one per specific row.
  const fallbacks = new Map();
  for (const pair of report.pairs.filter((p) => p.kind === "fallback")) {
    fallbacks.set(pair.rows[1], [...(fallbacks.get(pair.rows[1]) || []), pair.rows[0]]);
  }
  for (const [j, earlier] of fallbacks) {
    const rows = earlier.length === 1 ? `row ${earlier[0] + 1}` : `rows ${joinWords(earlier.map((i) => String(i + 1)))}`;
    const they = earlier.length === 1 ? "it wins" : "they win";
    lines.push({ kind: "fallback", text: `Row ${j + 1} also matches everything ${rows} ${earlier.length === 1 ? "matches" : "match"}; ${they} there, being first, and row ${j + 1} takes the rest.`, rows: [...earlier, j] });
  }
  for (const { rows: [i, j], kind, count, first } of report.pairs.filter((p) => p.kind !== "fallback")) {
    const more = count > 1 ? ` (and ${count - 1} more)` : "";
    const text = {
      same: `Rows ${i + 1} and ${j + 1} both match ${first}${more}, with the same result.`,
      shadowed: `Row ${j + 1} is never used where row ${i + 1} matches (${first}${more}): row ${i + 1} matches everything it does.`,
      conflict: `Rows ${i + 1} and ${j + 1} both match ${first}${more} and give different results; row ${i + 1} wins, being first.`,
    }[kind];
    lines.push({ kind, text, rows: [i, j] });
  }
  return lines;
}

/** The fields a table's columns may read: those of the steps that use it, else any step's. */
export function fieldsForTable(view, name) {
  const users = tableUsers(view.doc, name);
  const lists = users.length ? users.map((id) => view.fieldsAt?.[id] || []) : Object.values(view.fieldsAt || {});
  const found = new Map();
  for (const list of lists) for (const field of list) if (!found.has(field.key)) found.set(field.key, field);
  return found;
}

// ---------------------------------------------------------------- the DOM

/** The grid editor of the table `name`. */
export function tableEditor(view, name, panel = null) {
  const own = panel || new Panel(view);
  const at = pointer("tables", name);
  const table = getAt(view.doc, at);
  const box = el("section", { class: "wf-table-editor", "aria-labelledby": idFor(at, "heading") });
  box.append(el("h2", { id: idFor(at, "heading") }, `Decision table ${name}`));
  if (!table) {
    box.append(el("p", {}, `There is no table ${name}.`));
    return box;
  }
  const fields = fieldsForTable(view, name);
  const options = Object.fromEntries((table.inputs || []).map((input) => [input, optionsOf(fields.get(input))]));
  const report = tableCoverage(table, options);
  box.append(
    nameField(own, view, name),
    textField(own, `${at}/description`, "Description", "Describe the table", { multiline: true }),
    inputsEditor(own, at, table, fields),
    outputField(own, view, at, table, fields),
    grid(own, at, table, options, report, fields),
    defaultField(own, at, table),
    coverageSection(table, report),
    own.slot(at),
  );
  const remove = button("Remove this table", { class: "small danger", id: idFor(at, "remove") }, () => {
    own.apply(`Remove the table ${name}`, (doc) => removeAt(doc, at, { prune: true }));
    view.select({ workflow: true });
  });
  box.append(remove);
  if (!panel) own.distribute(at, null);
  return box;
}

function nameField(panel, view, name) {
  const input = el("input", { type: "text", spellcheck: "false" });
  input.value = name;
  const at = pointer("tables", name);
  const box = control(panel, `${at}--name`, "Name", input, { hint: "Lower-case letters, digits, - and _. Steps that look it up follow a new name." });
  const error = el("p", { class: "error-message", id: idFor(at, "name-error"), hidden: "hidden" });
  box.append(error);
  input.addEventListener("change", () => {
    const wanted = input.value.trim();
    let problem = "";
    if (!/^[a-z][a-z0-9_-]{0,62}$/.test(wanted)) problem = "A table's name is lower-case letters, digits, - and _, starting with a letter.";
    else if (wanted !== name && view.doc.tables?.[wanted]) problem = `There is already a table ${wanted}.`;
    if (problem) {
      error.hidden = false;
      error.textContent = problem;
      input.setAttribute("aria-describedby", `${input.getAttribute("aria-describedby")} ${error.id}`);
      return;
    }
    if (wanted === name) return;
    panel.apply(`Rename the table ${name}`, (doc) => renameTable(doc, name, wanted));
    view.select({ table: wanted });
  });
  return box;
}

/** The columns read: add, change, reorder and remove inputs; the rows' cells follow. */
function inputsEditor(panel, at, table, fields) {
  const inputs = table.inputs || [];
  const box = el("fieldset", { class: "wf-group" });
  box.append(el("legend", {}, "Inputs (the columns read)"), panel.slot(`${at}/inputs`));
  const list = el("ol");
  const reshape = (label, fn) => panel.apply(label, (doc) => {
    const current = getAt(doc, at);
    const next = fn(current.inputs, (current.rows || []).map((row) => row.when || []));
    return setAt(doc, at, { ...current, inputs: next.inputs, rows: current.rows.map((row, r) => ({ ...row, when: next.cells[r] })) });
  });
  inputs.forEach((input, index) => {
    const item = el("li");
    const select = el("select", { id: idFor(`${at}/inputs/${index}`) });
    fillSelect(select, [...fields.values()].map((f) => [f.key, f.label && f.label !== f.key ? `${f.label} (${f.key})` : f.key]), input);
    select.addEventListener("change", () => panel.put("Change a table input", `${at}/inputs/${index}`, JSON.parse(select.value)));
    item.append(control(panel, `${at}/inputs/${index}`, `Input ${index + 1}`, select));
    item.append(rowButtons(`input ${input}`, index, inputs.length, {
      up: () => reshape("Move a table input", (ins, cells) => ({ inputs: moveItem(ins, index, -1), cells: cells.map((c) => moveItem(c, index, -1)) })),
      down: () => reshape("Move a table input", (ins, cells) => ({ inputs: moveItem(ins, index, 1), cells: cells.map((c) => moveItem(c, index, 1)) })),
      remove: inputs.length > 1 ? () => reshape("Remove a table input", (ins, cells) => ({ inputs: ins.filter((_, i) => i !== index), cells: cells.map((c) => c.filter((_, i) => i !== index)) })) : null,
    }));
    list.append(item);
  });
  box.append(list);
  const unused = [...fields.keys()].find((key) => !inputs.includes(key));
  box.append(button("Add an input", { id: idFor(at, "add-input"), disabled: unused ? null : "disabled" }, () => reshape("Add a table input", (ins, cells) => ({ inputs: [...ins, unused], cells: cells.map((c) => [...c, ANY]) }))));
  return box;
}

function outputField(panel, view, at, table, fields) {
  const listId = idFor(at, "output-fields");
  const datalist = el("datalist", { id: listId });
  for (const key of fields.keys()) datalist.append(el("option", { value: key }));
  const box = textField(panel, `${at}/output`, "Output (the field the table fills)", "Change the table output", { list: listId, hint: "A step's set must store the lookup under this name." });
  box.append(datalist);
  return box;
}

/** The values an output cell is likely to hold: the priorities, or the output field's options. */
function outputValues(view, table, fields) {
  const byPriority = table.output === (view.doc.sla?.targets_by || "priority") ? view.doc.priorities || Object.keys(view.doc.sla?.targets || {}) : [];
  const known = new Set([...byPriority, ...(optionsOf(fields?.get?.(table.output)) || []), ...(table.rows || []).map((r) => r.then)]);
  return [...known].filter((v) => v !== null && v !== undefined);
}

/** A typed literal from a text box, of the kind of `like` where it fits: "3" -> 3 after 2. */
export function literalFrom(text, like) {
  const t = text.trim();
  if (t === "") return null;
  if (typeof like === "number" && Number.isFinite(Number(t))) return Number(t);
  if (typeof like === "boolean" && (t === "true" || t === "false")) return t === "true";
  return t;
}

function grid(panel, at, table, options, report, fields) {
  const inputs = table.inputs || [];
  const rows = table.rows || [];
  const wrap = el("div", { class: "wf-table-wrap" });
  const outputs = outputValues(panel.view, table, fields);
  const listId = idFor(at, "outputs");
  const datalist = el("datalist", { id: listId });
  outputs.forEach((value) => datalist.append(el("option", { value: say(value) })));
  const grid = el("table", { class: "wf-table-grid" });
  grid.append(el("caption", {}, "Rows are tried top to bottom; the first that matches wins. \"any\" matches every value, even none; a number or a date may match a range, like >= 100 and < 500."));
  const head = el("tr");
  head.append(el("th", { scope: "col" }, "Row"));
  inputs.forEach((input) => head.append(el("th", { scope: "col" }, input)));
  head.append(el("th", { scope: "col" }, `Then ${table.output || "(output)"}`), el("th", { scope: "col" }, "Coverage"), el("th", { scope: "col" }, "Order"));
  const thead = el("thead");
  thead.append(head);
  const body = el("tbody");
  rows.forEach((row, r) => {
    const rowAt = `${at}/rows/${r}`;
    const marks = report.rows[r] || { overlaps: [], unused: false };
    const conflict = report.pairs.some((p) => p.rows.includes(r) && (p.kind === "conflict" || p.kind === "shadowed"));
    const tr = el("tr", { class: marks.unused && report.complete ? "wf-row--unused" : conflict ? "wf-row--overlap" : marks.overlaps.length ? "wf-row--fallback" : null });
    tr.append(el("th", { scope: "row" }, `${r + 1}`));
    inputs.forEach((input, i) => {
      const td = el("td");
      td.append(cellEditor(panel, `${rowAt}/when/${i}`, (row.when || [])[i], options[input], `Row ${r + 1}, ${input}`));
      tr.append(td);
    });
    const then = el("input", { type: "text", list: listId, id: idFor(`${rowAt}/then`), "aria-label": `Row ${r + 1}, then ${table.output || "output"}` });
    then.value = row.then === null || row.then === undefined ? "" : say(row.then);
    then.addEventListener("change", () => panel.apply("Change a table result", (doc) => setAt(doc, `${rowAt}/then`, literalFrom(then.value, row.then ?? outputs[0]))));
    const thenCell = el("td");
    thenCell.append(then, panel.slot(`${rowAt}/then`, then));
    tr.append(thenCell);
    const note = el("td", { class: "wf-coverage-note" });
    if (report.complete && marks.unused) note.textContent = "Never used: rows above match everything it does.";
    else if (marks.overlaps.length) note.textContent = overlapNote(report, r);
    note.append(panel.slot(rowAt), panel.slot(`${rowAt}/when`));
    tr.append(note);
    const order = el("td");
    const put = (label, next) => panel.apply(label, (doc) => setAt(doc, `${at}/rows`, next));
    order.append(rowButtons(`row ${r + 1}`, r, rows.length, {
      up: () => put("Move a table row", moveItem(rows, r, -1)),
      down: () => put("Move a table row", moveItem(rows, r, 1)),
      remove: rows.length > 1 ? () => put("Remove a table row", rows.filter((_, i) => i !== r)) : null,
    }));
    tr.append(order);
    body.append(tr);
  });
  grid.append(thead, body);
  const last = rows[rows.length - 1];
  const catchAll = last && (last.when || []).every((cell) => cell === ANY);
  const add = button("Add a row", { id: idFor(at, "add-row") }, () => {
    const fresh = { when: inputs.map(() => ANY), then: null };
    const next = catchAll ? [...rows.slice(0, -1), fresh, last] : [...rows, fresh];
    panel.apply("Add a table row", (doc) => setAt(doc, `${at}/rows`, next));
  });
  wrap.append(grid, datalist, add);
  if (catchAll) wrap.append(el("p", { class: "hint" }, "A new row goes above the last row, which matches everything."));
  return wrap;
}

/** What a row's coverage cell says about the rows it overlaps. */
function overlapNote(report, r) {
  const behind = report.pairs.filter((p) => p.kind === "fallback" && p.rows[0] === r).map((p) => p.rows[1] + 1);
  const catches = report.pairs.filter((p) => p.kind === "fallback" && p.rows[1] === r).map((p) => p.rows[0] + 1);
  const others = report.pairs.filter((p) => p.kind !== "fallback" && p.rows.includes(r)).map((p) => p.rows[0] === r ? p.rows[1] + 1 : p.rows[0] + 1);
  const words = [];
  if (others.length) words.push(`Overlaps row ${joinWords(others.map(String))}.`);
  if (catches.length) words.push(`Catches the rest after row${catches.length > 1 ? "s" : ""} ${joinWords(catches.map(String))}.`);
  if (behind.length) words.push(`Wins over row ${joinWords(behind.map(String))}.`);
  return words.join(" ");
}

/** One cell: "any", one option, or several options; a text box when the options are unknown. */
function cellEditor(panel, at, cell, options, words) {
  const box = el("div", { class: "wf-cell" });
  const put = (value) => panel.apply("Change a table cell", (doc) => setAt(doc, at, value));
  if (!options) {
    const input = el("input", { type: "text", id: idFor(at), "aria-label": words, size: "12" });
    input.value = cell === ANY ? "-" : Array.isArray(cell) ? cell.map(say).join(", ") : isRange(cell) ? rangeText(cell) : say(cell ?? "");
    input.title = "- matches anything; several values separated by commas; a range like >= 100 and < 500";
    input.addEventListener("change", () => {
      const text = input.value.trim();
      const like = Array.isArray(cell) ? cell[0] : isRange(cell) ? Object.values(cell)[0] : cell;
      const range = /^[<>]/.test(text) ? rangeFrom(text) : null;
      if (text === "" || text === "-") put(ANY);
      else if (range) put(range);
      else if (text.includes(",")) put(text.split(",").map((t) => literalFrom(t, like)).filter((v) => v !== null));
      else put(literalFrom(text, like));
    });
    box.append(input, panel.slot(at, input));
    return box;
  }
  const select = el("select", { id: idFor(at), "aria-label": words });
  const several = Array.isArray(cell);
  const choices = [[ANY, "any"], ...options.map((o) => [o, say(o)]), ["__several__", "several…"]];
  fillSelect(select, choices, several ? "__several__" : cell);
  select.addEventListener("change", () => {
    const value = JSON.parse(select.value);
    put(value === "__several__" ? options.slice(0, 2) : value);
  });
  box.append(select);
  if (several) {
    options.forEach((value, i) => {
      const id = idFor(at, String(i));
      const tick = el("input", { type: "checkbox", id });
      tick.checked = cell.includes(value);
      tick.addEventListener("change", () => {
        const next = options.filter((o, k) => (k === i ? tick.checked : cell.includes(o)));
        put(next.length ? next : ANY);
      });
      const line = el("span", { class: "field--checkbox" });
      line.append(tick, el("label", { for: id }, `${say(value)}`));
      box.append(line);
    });
  }
  box.append(panel.slot(at, select));
  return box;
}

function defaultField(panel, at, table) {
  const has = Object.hasOwn(table, "default");
  const id = idFor(`${at}/default`, "on");
  const box = el("div", { class: "field" });
  const tick = el("input", { type: "checkbox", id });
  tick.checked = has;
  tick.addEventListener("change", () => panel.apply(tick.checked ? "Give the table a default" : "Remove the table's default", (doc) => (tick.checked ? setAt(doc, `${at}/default`, null) : removeAt(doc, `${at}/default`))));
  const line = el("div", { class: "field--checkbox" });
  line.append(tick, el("label", { for: id }, "When no row matches, give a default"));
  box.append(line);
  if (has) {
    const input = el("input", { type: "text", id: idFor(`${at}/default`) });
    input.value = table.default === null ? "" : say(table.default);
    input.addEventListener("change", () => panel.apply("Change the table's default", (doc) => setAt(doc, `${at}/default`, literalFrom(input.value, table.default ?? table.rows?.[0]?.then))));
    box.append(el("label", { for: input.id }, "Default"), input);
    box.append(panel.slot(`${at}/default`, input));
  }
  return box;
}

function coverageSection(table, report) {
  const box = el("section", { class: "wf-coverage", "aria-label": "Gaps and overlaps" });
  box.append(el("h3", {}, "Gaps and overlaps"));
  if (!report.complete) {
    const which = report.unknown.length ? `: ${joinWords(report.unknown)} ${report.unknown.length === 1 ? "has" : "have"} no known options here` : "";
    box.append(el("p", { class: "hint" }, `Worked out when every input is a choice with known options${which}.`));
    return box;
  }
  const lines = coverageWords(table, report);
  if (!lines.length) {
    box.append(el("p", {}, "Every combination is covered by exactly one row."));
    return box;
  }
  const gaps = lines.filter((l) => l.kind === "gap");
  const rest = lines.filter((l) => l.kind !== "gap");
  if (gaps.length) {
    box.append(el("h4", {}, `Not covered (${gaps.length})`));
    const list = el("ul", { class: "wf-gaps" });
    gaps.forEach((l) => list.append(el("li", {}, l.text)));
    box.append(list);
  } else {
    box.append(el("p", {}, "Every combination is covered by a row."));
  }
  if (rest.length) {
    box.append(el("h4", {}, `Covered by more than one row (${rest.length})`));
    const list = el("ul", { class: "wf-overlaps" });
    rest.forEach((l) => list.append(el("li", { class: `wf-overlap--${l.kind}` }, l.text)));
    box.append(list);
  }
  return box;
}
