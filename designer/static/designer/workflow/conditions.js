// The typed condition builder: decision branches and `auto_approve` without code.
//
// A structured condition (`{"field", "op", "value"}`, grouped by `all`, `any` and `not`, as
// deep as needed) is built with pickers: only the fields that exist at that step (the
// checker's `fields_at`), only the operators that suit the field's kind, and a value input
// of that kind. An expression is the escape hatch, checked by the server on every edit. A
// condition the builder cannot show is shown as JSON, never lost.
//
// The pure part (kinds, operators, the JSON built, shapes) comes first, for node tests.

import { el } from "../dom.js";
import { getAt, setAt } from "./pointer.js";
import { Panel, button, fieldWords, fillSelect, idFor, option, rowButtons } from "./controls.js";
import { personWords } from "./people.js";

/** The kind of value a field holds, from its form type or the checker's kind of value. */
const KIND_OF = {
  select: "choice", radio: "choice", text: "text", textarea: "text", hidden: "text", string: "text",
  user: "user", number: "number", integer: "number", date: "date", datetime: "datetime",
  checkbox: "boolean", boolean: "boolean", "yes/no": "boolean", multiselect: "list", list: "list",
  array: "list", file: "presence", table: "presence", calculated: "any", any: "any",
};

const WORDS = {
  eq: "is", ne: "is not", lt: "is less than", le: "is at most", gt: "is more than", ge: "is at least",
  in: "is one of", not_in: "is none of", contains: "contains", empty: "is empty", not_empty: "is filled in",
};
const DATE_WORDS = { lt: "is before", le: "is on or before", gt: "is after", ge: "is on or after", eq: "is on", ne: "is not on" };

/** The operators of each kind, in the order offered (see docs/workflow-language.md §16). */
const OPERATORS = {
  choice: ["eq", "ne", "in", "not_in", "empty", "not_empty"],
  ordered_choice: ["eq", "ne", "lt", "le", "gt", "ge", "in", "not_in", "empty", "not_empty"],
  text: ["eq", "ne", "contains", "in", "not_in", "empty", "not_empty"],
  user: ["eq", "ne", "in", "not_in", "empty", "not_empty"],
  number: ["eq", "ne", "lt", "le", "gt", "ge", "in", "not_in", "empty", "not_empty"],
  date: ["lt", "le", "gt", "ge", "eq", "ne", "empty", "not_empty"],
  datetime: ["lt", "le", "gt", "ge", "eq", "ne", "empty", "not_empty"],
  boolean: ["eq", "ne", "empty", "not_empty"],
  list: ["contains", "empty", "not_empty"],
  presence: ["empty", "not_empty"],
  any: ["eq", "ne", "lt", "le", "gt", "ge", "in", "not_in", "contains", "empty", "not_empty"],
};
export const ALL_OPS = OPERATORS.any;
const NO_VALUE = new Set(["empty", "not_empty"]);
const LISTED = new Set(["in", "not_in"]);

/** The kind of a field: choice, text, user, number, date, datetime, boolean, list, presence, any. */
export function kindOf(field) {
  if (!field) return "any";
  // The form's own type (a user picker, a date) says more than the kind of value it holds.
  const kind = KIND_OF[field.form_type] || KIND_OF[field.type] || "any";
  if (kind === "text" && Array.isArray(field.options) && field.options.length) return "choice";
  return kind;
}

/** Whether a choice's options are all numbers, or all dates: then it has an order. */
function orderedChoice(field) {
  const options = field?.options || [];
  return options.length > 0 && (options.every((o) => typeof o === "number") || options.every((o) => typeof o === "string" && /^\d{4}-\d\d-\d\d/.test(o)));
}

/** The operators a field may be compared with: [[op, words]]. */
export function operatorsFor(field) {
  let kind = kindOf(field);
  if (kind === "choice" && orderedChoice(field)) kind = "ordered_choice";
  const dated = kind === "date" || kind === "datetime";
  return OPERATORS[kind].map((op) => [op, (dated && DATE_WORDS[op]) || (kind === "list" && op === "contains" ? "includes" : WORDS[op])]);
}

/** A first value for a comparison of `field` with `op`, keeping `previous` when it fits. */
function firstValue(field, op, previous) {
  const kind = kindOf(field);
  const options = field?.options || [];
  if (LISTED.has(op)) {
    if (Array.isArray(previous)) return previous;
    if (previous !== undefined && previous !== null && previous !== "") return [previous];
    return options.length ? [options[0]] : [];
  }
  if (Array.isArray(previous)) previous = previous[0];
  if (kind === "boolean") return typeof previous === "boolean" ? previous : true;
  if (kind === "number") return typeof previous === "number" ? previous : 0;
  if (options.length) return options.includes(previous) ? previous : options[0];
  return typeof previous === "string" ? previous : "";
}

/** The comparison of `field` with `op`: `{"field", "op", "value"?}`, the value kept where it fits. */
export function comparisonFor(field, op, previous) {
  const comparison = { field: field.key, op };
  if (!NO_VALUE.has(op)) comparison.value = firstValue(field, op, previous);
  return comparison;
}

/** A first condition on the first of `fields`, or null when there is no field to read. */
export function starterCondition(fields) {
  const first = (fields || [])[0];
  return first ? comparisonFor(first, operatorsFor(first)[0][0]) : null;
}

const LITERAL = (v) => v === null || ["string", "number", "boolean"].includes(typeof v);

/** Whether the builder can show a condition as it is, every part of it. */
export function buildable(condition) {
  if (!condition || typeof condition !== "object" || Array.isArray(condition)) return false;
  const keys = Object.keys(condition);
  if ("field" in condition || "op" in condition) {
    if (typeof condition.field !== "string" || !ALL_OPS.includes(condition.op)) return false;
    if (keys.some((k) => !["field", "op", "value"].includes(k))) return false;
    if (NO_VALUE.has(condition.op)) return !("value" in condition);
    if (LISTED.has(condition.op)) return Array.isArray(condition.value) && condition.value.every(LITERAL);
    return "value" in condition && LITERAL(condition.value);
  }
  if (keys.length !== 1) return false;
  if (keys[0] === "not") return buildable(condition.not);
  if (keys[0] === "all" || keys[0] === "any") {
    return Array.isArray(condition[keys[0]]) && condition[keys[0]].length > 0 && condition[keys[0]].every(buildable);
  }
  return false;
}

/** How a condition is shown: none, expression, builder or json (the builder cannot show it). */
export function shapeOf(condition) {
  if (condition === undefined) return "none";
  if (typeof condition === "string") return "expression";
  return buildable(condition) ? "builder" : "json";
}

const SYMBOL = { eq: "==", ne: "!=", lt: "<", le: "<=", gt: ">", ge: ">=", in: "in", not_in: "not in" };

function literal(value) {
  if (value === null) return "none";
  if (typeof value === "string") return `'${value.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
  if (Array.isArray(value)) return `[${value.map(literal).join(", ")}]`;
  return String(value);
}

/**
 * A structured condition as an expression, for the switch to the escape hatch:
 * `{"field": "cost", "op": "ge", "value": 500}` -> `cost >= 500`. Where the two forms differ
 * (an expression fails on ordering a missing field; `not x` takes 0 and false for empty),
 * the server's check says so under the box.
 */
export function toExpression(condition, nested = false) {
  if (typeof condition === "string") return condition;
  if (!buildable(condition)) return "";
  const wrap = (text) => (nested ? `(${text})` : text);
  if ("all" in condition) return wrap(condition.all.map((c) => toExpression(c, true)).join(" and "));
  if ("any" in condition) return wrap(condition.any.map((c) => toExpression(c, true)).join(" or "));
  if ("not" in condition) return `not ${toExpression(condition.not, true)}`;
  const { field, op, value } = condition;
  if (op === "empty") return wrap(`not ${field}`);
  if (op === "not_empty") return wrap(`${field} is defined and ${field} is not none and ${field} != ''`);
  if (op === "contains") return wrap(`${literal(value)} in ${field}`);
  return wrap(`${field} ${SYMBOL[op]} ${literal(value)}`);
}

/** Values typed in one box, separated by commas, of the field's kind: "1, 2" -> [1, 2]. */
export function listFromText(text, field) {
  const number = kindOf(field) === "number";
  return text.split(",").map((t) => t.trim()).filter((t) => t !== "").map((t) => (number && Number.isFinite(Number(t)) ? Number(t) : t));
}

// ---------------------------------------------------------------- the DOM

/**
 * The condition at `pointer` (a decision branch's `when`, an `auto_approve`), for the step
 * `step`. With `optional`, the condition can be left out (auto_approve); otherwise removing
 * it is not offered.
 */
export function conditionEditor(view, { pointer: at, step, optional = false, legend = "Condition", panel = null }) {
  const own = panel || new Panel(view);
  const fields = view.fieldsAt?.[step] || [];
  const condition = getAt(view.doc, at);
  const box = el("fieldset", { class: "wf-condition", id: idFor(at, "condition") });
  box.append(el("legend", {}, legend));
  const shape = shapeOf(condition);
  const ctx = { panel: own, view, fields, step };
  if (shape === "none") box.append(...startButtons(ctx, at));
  else box.append(modeSwitch(ctx, at, condition, shape, optional));
  if (shape === "builder") box.append(nodeEditor(ctx, at, condition, { root: true }));
  if (shape === "expression") box.append(expressionBox(ctx, at, condition));
  if (shape === "json") box.append(jsonBox(ctx, at, condition));
  if (shape !== "none") box.append(own.slot(at));
  if (!panel) own.distribute(at, null);
  return box;
}

function startButtons({ panel, fields }, at) {
  const starter = starterCondition(fields);
  const build = button("Add a rule", { id: idFor(at, "add") }, () => panel.put("Add a condition", at, starter));
  if (!starter) build.disabled = true;
  const write = button("Write an expression", { id: idFor(at, "add-expression") }, () => panel.put("Add a condition", at, " "));
  const parts = [build, write];
  if (!starter) parts.unshift(el("p", { class: "hint" }, "No field exists at this point of the flow, so only an expression can be written."));
  return parts;
}

function modeSwitch({ panel, fields }, at, condition, shape, optional) {
  const bar = el("div", { class: "wf-condition-mode" });
  if (shape === "builder") {
    bar.append(button("Write it as an expression", { id: idFor(at, "to-expression") }, () => panel.put("Write the condition as an expression", at, toExpression(condition))));
  } else {
    const starter = starterCondition(fields);
    const back = button("Use the builder instead", { id: idFor(at, "to-builder") }, () => panel.put("Build the condition with pickers", at, starter));
    if (!starter) back.disabled = true;
    bar.append(back);
    if (shape === "expression") bar.append(el("p", { class: "hint" }, "The builder starts a new rule; Undo brings this one back."));
  }
  if (optional) bar.append(button("Remove the condition", { class: "small danger", id: idFor(at, "remove") }, () => panel.put("Remove the condition", at, undefined)));
  return bar;
}

function expressionBox({ panel }, at, text) {
  const input = el("textarea", { rows: "2", class: "wf-expression", spellcheck: "false", id: idFor(at) });
  input.value = text.trim() === "" ? "" : text;
  // Checked as it is typed: every keystroke is an edit, merged into one undo step.
  input.addEventListener("input", () => panel.apply("Edit the expression", (doc) => setAt(doc, at, input.value || " "), at));
  const box = el("div", { class: "field" });
  box.append(
    el("label", { for: input.id }, "Expression"),
    el("p", { class: "hint", id: `${input.id}--hint` }, "Like cost >= 5000 and category != 'software'. Checked as you type."),
    input,
  );
  input.setAttribute("aria-describedby", `${input.id}--hint`);
  panel.slot(at, input);
  return box;
}

function jsonBox({ panel }, at, condition) {
  const input = el("textarea", { rows: "5", class: "wf-json", spellcheck: "false", id: idFor(at, "json") });
  input.value = JSON.stringify(condition, null, 2);
  const note = el("p", { class: "hint", id: `${input.id}--hint` }, "The builder cannot show this condition, so here it is as JSON. Edit it here, or start over with the builder.");
  const error = el("p", { class: "error-message", id: `${input.id}--error`, hidden: "hidden" });
  input.setAttribute("aria-describedby", `${note.id} ${error.id}`);
  input.addEventListener("change", () => {
    try {
      panel.put("Edit the condition as JSON", at, JSON.parse(input.value));
    } catch (problem) {
      error.hidden = false;
      error.textContent = `This is not JSON, so nothing was changed: ${problem.message}`;
    }
  });
  const box = el("div", { class: "field" });
  box.append(el("label", { for: input.id }, "Condition (JSON)"), note, input, error);
  panel.slot(at, input);
  return box;
}

/** One node: a comparison, or an all/any group; `not` shows as a tick on the node it wraps. */
function nodeEditor(ctx, at, node, { root = false, negated = null, place = null } = {}) {
  if ("not" in node) return nodeEditor(ctx, `${at}/not`, node.not, { root, negated: at, place });
  const item = el("div", { class: "all" in node || "any" in node ? "wf-condition-group" : "wf-comparison" });
  const head = el("div", { class: "wf-condition-head" });
  head.append(notBox(ctx, at, node, negated));
  if (place) head.append(rowButtons(place.what, place.index, place.count, place.buttons));
  item.append(head);
  if ("all" in node || "any" in node) item.append(groupEditor(ctx, at, node, root));
  else item.append(comparisonEditor(ctx, at, node));
  if (root && !("all" in node || "any" in node)) {
    item.append(button("Add another comparison", { id: idFor(at, "more") }, () => ctx.panel.put("Add a comparison", negated || at, { all: [negated ? { not: node } : node, starterCondition(ctx.fields)] })));
  }
  return item;
}

function notBox({ panel }, at, node, negated) {
  const id = idFor(negated || at, "not"); // the same box before and after the turn, for focus
  const box = el("span", { class: "field--checkbox" });
  const input = el("input", { type: "checkbox", id });
  input.checked = Boolean(negated);
  input.addEventListener("change", () => {
    if (negated) panel.put("Drop the not", negated, node);
    else panel.put("Turn the condition around", at, { not: node });
  });
  box.append(input, el("label", { for: id }, "not (the opposite of this)"));
  return box;
}

function groupEditor(ctx, at, node, root) {
  const { panel, fields } = ctx;
  const mode = "all" in node ? "all" : "any";
  const parts = node[mode];
  const box = el("div", { class: "wf-condition-children" });
  const select = el("select", { id: idFor(at, "mode") });
  select.append(option("all", "All of these hold", mode === "all"), option("any", "Any of these holds", mode === "any"));
  select.addEventListener("change", () => panel.put("Change how the comparisons combine", at, { [JSON.parse(select.value)]: parts }));
  const modeBox = el("div", { class: "field" });
  modeBox.append(el("label", { for: select.id }, "When"), select);
  box.append(modeBox);
  const list = el("ol", { class: "wf-condition-list" });
  parts.forEach((child, index) => {
    const childAt = `${at}/${mode}/${index}`;
    const change = (next) => panel.put("Change the condition", at, { [mode]: next });
    const buttons = {
      up: () => change(moveInList(parts, index, -1)),
      down: () => change(moveInList(parts, index, 1)),
      remove: parts.length > 1 ? () => change(parts.filter((_, i) => i !== index)) : null,
    };
    const li = el("li");
    li.append(nodeEditor(ctx, childAt, child, { place: { what: `comparison ${index + 1}`, index, count: parts.length, buttons } }));
    list.append(li);
  });
  box.append(list);
  const starter = starterCondition(fields);
  const none = starter ? null : "disabled";
  const end = `${at}/${mode}/${parts.length}`;
  box.append(
    button("Add a comparison", { id: idFor(at, "add-comparison"), disabled: none }, () => panel.put("Add a comparison", end, starter)),
    button("Add a group", { id: idFor(at, "add-group"), disabled: none }, () => panel.put("Add a group", end, { [mode === "all" ? "any" : "all"]: [starter] })),
  );
  if (parts.length === 1) {
    box.append(button("Ungroup", { id: idFor(at, "ungroup") }, () => panel.put("Ungroup the condition", at, parts[0])));
  }
  return box;
}

function moveInList(list, index, delta) {
  const to = index + delta;
  if (to < 0 || to >= list.length) return list;
  const copy = [...list];
  [copy[index], copy[to]] = [copy[to], copy[index]];
  return copy;
}

function comparisonEditor(ctx, at, node) {
  const { panel, fields } = ctx;
  const row = el("div", { class: "wf-comparison-row" });
  const field = fields.find((f) => f.key === node.field);
  const known = field || { key: node.field, type: "any" };
  const pick = el("select", { id: idFor(`${at}/field`) });
  if (!field) pick.append(el("option", { value: "" }, `${node.field} (no such field here)`));
  for (const f of fields) {
    const item = el("option", { value: f.key }, fieldWords(f));
    item.selected = f.key === node.field;
    pick.append(item);
  }
  pick.addEventListener("change", () => {
    const chosen = fields.find((f) => f.key === pick.value);
    if (!chosen) return;
    const ops = operatorsFor(chosen).map(([op]) => op);
    panel.put("Compare another field", at, comparisonFor(chosen, ops.includes(node.op) ? node.op : ops[0]));
  });
  row.append(labelled(panel, `${at}/field`, "Field", pick));
  const ops = operatorsFor(known);
  const op = el("select", { id: idFor(`${at}/op`) });
  if (!ops.some(([o]) => o === node.op)) op.append(option(node.op, `${WORDS[node.op] || node.op} (does not suit this field)`, true));
  for (const [value, words] of ops) op.append(option(value, words, value === node.op));
  op.addEventListener("change", () => panel.put("Change the comparison", at, comparisonFor(known, JSON.parse(op.value), node.value)));
  row.append(labelled(panel, `${at}/op`, "Comparison", op));
  if (!NO_VALUE.has(node.op)) row.append(valueEditor(ctx, `${at}/value`, known, node));
  return row;
}

function labelled(panel, at, words, input) {
  const box = el("div", { class: "field" });
  if (!input.id) input.id = idFor(at);
  box.append(el("label", { for: input.id }, words), input, panel.slot(at, input));
  return box;
}

/** The value input of a comparison, by the field's kind (see docs/workflow-language.md §16). */
function valueEditor({ panel, view }, at, field, node) {
  const kind = kindOf(field);
  const options = field.options || [];
  const id = idFor(at);
  const put = (value) => panel.put("Change the value", at, value);
  const users = (view.context?.users || []).map((u) => [u.username, personWords(u)]);
  if (LISTED.has(node.op) && options.length) return optionTicks(panel, at, field, options, node.value || [], put);
  let input;
  if (LISTED.has(node.op) && kind === "user") {
    input = el("select", { multiple: "multiple", size: "5" });
    fillSelect(input, users, undefined);
    [...input.options].forEach((o) => { o.selected = (node.value || []).includes(JSON.parse(o.value)); });
    input.addEventListener("change", () => put([...input.selectedOptions].map((o) => JSON.parse(o.value))));
  } else if (LISTED.has(node.op)) {
    input = el("input", { type: "text" });
    input.value = (node.value || []).join(", ");
    input.addEventListener("change", () => put(listFromText(input.value, field)));
  } else if (options.length) {
    input = el("select");
    fillSelect(input, options.map((o, index) => [o, optionWords(field, index)]), node.value);
    input.addEventListener("change", () => put(JSON.parse(input.value)));
  } else if (kind === "boolean") {
    input = el("select");
    fillSelect(input, [[true, "yes (ticked)"], [false, "no (not ticked)"]], node.value);
    input.addEventListener("change", () => put(JSON.parse(input.value)));
  } else if (kind === "user") {
    input = el("select");
    fillSelect(input, users, node.value === "" ? undefined : node.value, "Choose a person");
    input.addEventListener("change", () => put(input.value === "" ? "" : JSON.parse(input.value)));
  } else {
    const type = { number: "number", date: "date", datetime: "datetime-local" }[kind] || "text";
    input = el("input", { type });
    input.value = node.value ?? "";
    input.addEventListener("change", () => put(type === "number" && input.value !== "" ? Number(input.value) : input.value));
  }
  input.id = id;
  const hint = LISTED.has(node.op) && !options.length && kind !== "user" ? "Separated by commas" : "";
  const box = el("div", { class: "field" });
  box.append(el("label", { for: id }, "Value"));
  if (hint) {
    box.append(el("p", { class: "hint", id: `${id}--hint` }, hint));
    input.setAttribute("aria-describedby", `${id}--hint`);
  }
  box.append(input, panel.slot(at, input));
  return box;
}

/** What an option of a field says: its label on the form, with the value it stores when they differ. */
export function optionWords(field, index) {
  const value = String((field?.options || [])[index]);
  const label = (field?.option_labels || [])[index];
  return typeof label === "string" && label !== value ? `${label} (${value})` : value;
}

function optionTicks(panel, at, field, options, chosen, put) {
  const box = el("fieldset", { class: "wf-ticks", id: idFor(at) });
  box.append(el("legend", {}, "Values"));
  options.forEach((value, index) => {
    const id = idFor(at, String(index));
    const tick = el("input", { type: "checkbox", id });
    tick.checked = chosen.includes(value);
    tick.addEventListener("change", () => put(options.filter((o, i) => (i === index ? tick.checked : chosen.includes(o)))));
    const line = el("span", { class: "field--checkbox" });
    line.append(tick, el("label", { for: id }, optionWords(field, index)));
    box.append(line);
  });
  box.append(panel.slot(at));
  return box;
}

