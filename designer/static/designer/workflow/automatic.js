// The properties of the steps nobody works on: decision, parallel, action, wait, subflow
// and end (docs/workflow-language.md §12). Called by properties.js with the step's context
// `{panel, view, id, at, step, siblings}`.

import { el } from "../dom.js";
import { getAt, pointer, removeAt, setAt } from "./pointer.js";
import { EditError, addBranch, removeBranch } from "./model.js";
import { button, calendarField, checkboxField, control, durationField, fieldsAt, fieldWords, group, idFor, numberField, rowButtons, selectField, stepField, switchKind, textField } from "./controls.js";
import { conditionEditor } from "./conditions.js";
import { notifyEditor } from "./people.js";
import { moveItem, moveKey, renameKey } from "./places.js";

const KEY = /^[a-z][a-z0-9_-]{0,62}$/;
const FIELD = /^[A-Za-z][A-Za-z0-9_]{0,62}(\.[A-Za-z][A-Za-z0-9_]{0,62})*$/;

/** The sections of an automatic step's panel. */
export function automaticSections(ctx) {
  const draw = { decision, parallel, action, wait, subflow, end }[ctx.step.type];
  return draw ? draw(ctx) : [el("p", {}, `A step of type ${ctx.step.type} has no properties here; see the JSON view.`)];
}

/** Run a model command; an EditError is said next to `where` instead of applied. */
function command(panel, label, fn, where) {
  try {
    const { doc } = fn(panel.doc);
    panel.apply(label, () => doc);
  } catch (problem) {
    if (!(problem instanceof EditError)) throw problem;
    where.textContent = problem.message;
    where.hidden = false;
  }
}

function said() {
  return el("p", { class: "error-message", role: "alert", hidden: "hidden" });
}

// ---------------------------------------------------------------- decision

function decision({ panel, view, id, at, step, siblings }) {
  const box = group(panel, `${at}/branches`, "Branches, tried in order", { hint: "The first branch whose condition holds wins; otherwise is taken when none does." });
  const branches = Array.isArray(step.branches) ? step.branches : [];
  const error = said();
  const list = el("ol", { class: "wf-branches" });
  branches.forEach((branch, index) => {
    const branchAt = `${at}/branches/${index}`;
    const item = el("li", { class: "wf-branch" });
    item.append(
      textField(panel, `${branchAt}/label`, `Branch ${index + 1}: name`, "Name a branch", { hint: "Optional; the timeline says it when the branch is taken." }),
      conditionEditor(view, { pointer: `${branchAt}/when`, step: id, legend: `Branch ${index + 1} is taken when`, panel }),
      stepField(panel, `${branchAt}/next`, `Branch ${index + 1} leads to`, "Change where a branch leads", siblings),
      rowButtons(`branch ${index + 1}`, index, branches.length, {
        up: () => panel.put("Move a branch", `${at}/branches`, moveItem(branches, index, -1)),
        down: () => panel.put("Move a branch", `${at}/branches`, moveItem(branches, index, 1)),
        remove: () => command(panel, "Remove a branch", (doc) => removeBranch(doc, id, index), error),
      }),
    );
    list.append(item);
  });
  box.append(list, error, button("Add a branch", { id: idFor(at, "add-branch") }, () => command(panel, "Add a branch", (doc) => addBranch(doc, id), error)));
  return [box, stepField(panel, `${at}/otherwise`, "Otherwise", "Change where otherwise leads", siblings)];
}

// ---------------------------------------------------------------- parallel

function parallel({ panel, id, at, step, siblings }) {
  const box = group(panel, `${at}/branches`, "Branches, started together in this order");
  const names = Object.keys(step.branches || {});
  const error = said();
  const list = el("ol", { class: "wf-branches" });
  names.forEach((name, index) => {
    const branchAt = `${at}${pointer("branches", name)}`;
    const branch = step.branches[name];
    const item = el("li", { class: "wf-branch" });
    item.append(
      keyField(panel, branchAt, name, `Branch ${index + 1}: name`, (wanted) => {
        if (!KEY.test(wanted)) return "A branch name is lower-case letters, digits, - and _, starting with a letter.";
        if (names.includes(wanted)) return `There is already a branch ${wanted}.`;
        panel.put("Rename a branch", `${at}/branches`, renameKey(step.branches, name, wanted));
        return "";
      }),
      textField(panel, `${branchAt}/label`, `Branch ${index + 1}: label`, "Label a branch"),
      stepField(panel, `${branchAt}/first`, `Branch ${index + 1} starts at`, "Change where a branch starts", Object.keys(branch.steps || {})),
      rowButtons(`branch ${name}`, index, names.length, {
        up: () => panel.put("Move a branch", `${at}/branches`, moveKey(step.branches, name, -1)),
        down: () => panel.put("Move a branch", `${at}/branches`, moveKey(step.branches, name, 1)),
        remove: () => command(panel, "Remove a branch", (doc) => removeBranch(doc, id, name), error),
      }),
    );
    list.append(item);
  });
  box.append(list, error, button("Add a branch", { id: idFor(at, "add-branch") }, () => command(panel, "Add a branch", (doc) => addBranch(doc, id), error)));
  const join = step.join ?? "all";
  const joinBox = group(panel, `${at}/join`, "Go on when");
  const pick = selectField(panel, `${at}/join--kind`, "Join", "Change the join", [["all", "All branches have finished"], ["number", "A number of branches have finished"]], {
    onChange: (value) => panel.put("Change the join", `${at}/join`, value === "number" ? 1 : undefined),
  });
  pick.querySelector("select").value = JSON.stringify(typeof join === "number" ? "number" : "all");
  joinBox.append(pick);
  if (typeof join === "number") joinBox.append(numberField(panel, `${at}/join`, `Branches needed, of ${names.length}`, "Change the join", { min: "1", max: String(names.length), step: "1" }));
  return [box, joinBox, stepField(panel, `${at}/next`, "After the join", "Change the step after the join", siblings)];
}

/** A text box renaming a key (a branch, a field); `rename(wanted)` applies it or says why not. */
function keyField(panel, at, current, words, rename, { list = null } = {}) {
  const input = el("input", { type: "text", spellcheck: "false", list });
  input.value = current;
  const box = control(panel, `${at}--name`, words, input);
  const error = el("p", { class: "error-message", id: idFor(at, "name-error"), hidden: "hidden" });
  box.append(error);
  input.addEventListener("change", () => {
    const wanted = input.value.trim();
    if (wanted === current) return;
    const problem = rename(wanted);
    error.hidden = !problem;
    error.textContent = problem;
    if (problem) input.setAttribute("aria-describedby", `${input.getAttribute("aria-describedby") || ""} ${error.id}`.trim());
  });
  return box;
}

// ---------------------------------------------------------------- action

const HOW = [
  ["text", "Text"], ["number", "A number"], ["yesno", "Yes or no"], ["null", "Nothing (empty it)"],
  ["json", "A list or an object (JSON)"], ["expr", "Computed by an expression"], ["lookup", "Looked up in a decision table"],
];

/** How a `set` entry gives its value, as the "How" picker says it. */
export function setHow(entry) {
  if (entry && "lookup" in entry) return "lookup";
  if (entry && "expr" in entry) return "expr";
  const value = entry?.value;
  if (value === null) return "null";
  if (typeof value === "number") return "number";
  if (typeof value === "boolean") return "yesno";
  if (typeof value === "object") return "json";
  return "text";
}

/** A first entry given `how`; an expression starts as the value it replaces, so it parses. */
function starterSet(how, tables, entry) {
  return { text: { value: "" }, number: { value: 0 }, yesno: { value: true }, null: { value: null }, json: { value: [] }, expr: { expr: expressionOf(entry) }, lookup: { lookup: tables[0] || "" } }[how];
}

/** A literal value as an expression: "done" -> 'done', 3 -> 3, null -> none. */
export function expressionOf(entry) {
  const value = entry && "value" in entry ? entry.value : null;
  if (value === null || typeof value === "object") return "none";
  if (typeof value === "string") return `'${value.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
  return value === true ? "true" : value === false ? "false" : String(value);
}

function action(ctx) {
  const { panel, at, step, siblings } = ctx;
  const problem = checkboxField(panel, `${at}/open_problem`, "Open a problem linked to this instance", "Change whether it opens a problem", {
    hint: "As Open a problem on its page does: problem management finds the root cause. An instance linked to a problem already keeps it.",
  });
  return [setEditor(ctx), notifyList(panel, `${at}/notify`, { step: ctx.id, present: step.notify }), problem, stepField(panel, `${at}/next`, "Then", "Change the next step", siblings)];
}

function setEditor({ panel, view, id, at, step }) {
  const box = group(panel, `${at}/set`, "Set values", { hint: "In the order written: a later value sees an earlier one." });
  const entries = Object.entries(step.set || {});
  const tables = Object.keys(panel.doc.tables || {});
  const listId = idFor(at, "set-fields");
  const datalist = el("datalist", { id: listId });
  fieldsAt(view, id).forEach((f) => datalist.append(el("option", { value: f.key }, fieldWords(f))));
  const list = el("ol", { class: "wf-set" });
  entries.forEach(([field, entry], index) => {
    const entryAt = `${at}${pointer("set", field)}`;
    const how = setHow(entry);
    const item = el("li", { class: "wf-set-entry" });
    item.append(keyField(panel, entryAt, field, `Value ${index + 1}: field`, (wanted) => {
      if (!FIELD.test(wanted)) return "A field is letters, digits and _, or a dotted path like caller.email.";
      if (step.set[wanted] !== undefined) return `${wanted} is set already.`;
      panel.put("Rename a field set", `${at}/set`, renameKey(step.set, field, wanted));
      return "";
    }, { list: listId }));
    const pick = selectField(panel, `${entryAt}--how`, `Value ${index + 1}: how`, "Change how a value is given", HOW, {
      onChange: (value) => {
        const fresh = switchKind(entryAt, how, entry, value, () => starterSet(value, tables, entry));
        const output = value === "lookup" ? panel.doc.tables?.[fresh.lookup]?.output : null;
        panel.apply("Change how a value is given", (doc) => {
          const next = setAt(doc, entryAt, fresh);
          return output && output !== field && step.set[output] === undefined ? setAt(next, `${at}/set`, renameKey(getAt(next, `${at}/set`), field, output)) : next;
        });
      },
    });
    pick.querySelector("select").value = JSON.stringify(how);
    item.append(pick, setValue(panel, entryAt, entry, how, { step, field, tables, at }));
    item.append(rowButtons(`value ${field}`, index, entries.length, {
      up: () => panel.put("Move a value", `${at}/set`, moveKey(step.set, field, -1)),
      down: () => panel.put("Move a value", `${at}/set`, moveKey(step.set, field, 1)),
      remove: () => panel.apply("Remove a value", (doc) => removeAt(doc, entryAt, { prune: true })),
    }));
    list.append(item);
  });
  box.append(datalist, list, button("Add a value", { id: idFor(at, "add-set") }, () => {
    let n = entries.length + 1;
    while (step.set?.[`field_${n}`] !== undefined) n += 1;
    panel.put("Add a value", `${at}${pointer("set", `field_${n}`)}`, { value: "" });
  }));
  return box;
}

function setValue(panel, at, entry, how, { step, field, tables, at: stepAt }) {
  if (how === "null") return el("p", { class: "hint" }, "The field is emptied (set to nothing).");
  if (how === "lookup") {
    const choices = tables.map((t) => [t, `Table ${t}${panel.doc.tables[t].output ? `, gives ${panel.doc.tables[t].output}` : ""}`]);
    return selectField(panel, `${at}/lookup`, "Table", "Choose the table", choices, {
      onChange: (table) => panel.apply("Choose the table", (doc) => {
        const next = setAt(doc, `${at}/lookup`, table);
        const output = doc.tables?.[table]?.output;
        return output && output !== field && step.set[output] === undefined ? setAt(next, `${stepAt}/set`, renameKey(getAt(next, `${stepAt}/set`), field, output)) : next;
      }),
      hint: "The value is stored under the table's output field.",
    });
  }
  if (how === "expr") {
    const input = el("textarea", { rows: "2", spellcheck: "false", class: "wf-expression" });
    input.value = (entry.expr || "").trim();
    input.addEventListener("input", () => panel.apply("Edit the expression", (doc) => setAt(doc, `${at}/expr`, input.value || " "), `${at}/expr`));
    return control(panel, `${at}/expr`, "Expression", input, { hint: "Like (reopened or 0) + 1. Checked as you type." });
  }
  if (how === "yesno") return selectField(panel, `${at}/value`, "Value", "Change a value", [[true, "Yes (true)"], [false, "No (false)"]]);
  if (how === "json") {
    const input = el("textarea", { rows: "3", spellcheck: "false", class: "wf-json" });
    input.value = JSON.stringify(entry.value, null, 1);
    const box = control(panel, `${at}/value`, "Value (JSON)", input);
    const error = el("p", { class: "error-message", id: idFor(`${at}/value`, "json-error"), hidden: "hidden" });
    input.addEventListener("change", () => {
      try {
        panel.put("Change a value", `${at}/value`, JSON.parse(input.value));
      } catch (problem) {
        error.hidden = false;
        error.textContent = `This is not JSON, so nothing was changed: ${problem.message}`;
        input.setAttribute("aria-describedby", `${input.getAttribute("aria-describedby") || ""} ${error.id}`.trim());
        input.setAttribute("aria-invalid", "true");
      }
    });
    box.append(error);
    return box;
  }
  const input = el("input", { type: how === "number" ? "number" : "text" });
  input.value = entry.value ?? "";
  input.addEventListener("change", () => panel.apply("Change a value", (doc) => setAt(doc, `${at}/value`, how === "number" ? Number(input.value || 0) : input.value)));
  return control(panel, `${at}/value`, "Value", input);
}

/** `notify`: one notification or a list of them, edited as a list. */
function notifyList(panel, at, { step, present }) {
  const box = group(panel, at, "Notifications", { hint: "Sent after the values are set." });
  const items = present === undefined ? [] : Array.isArray(present) ? present : [present];
  const itemAt = (i) => (Array.isArray(present) ? `${at}/${i}` : at);
  const putAll = (label, next) => panel.put(label, at, next.length === 0 ? undefined : next.length === 1 && !Array.isArray(present) ? next[0] : next);
  const list = el("ol", { class: "wf-notify-list" });
  items.forEach((_, index) => {
    const item = el("li");
    item.append(notifyEditor(panel, itemAt(index), { step, inAction: true }));
    item.append(rowButtons(`notification ${index + 1}`, index, items.length, {
      up: () => putAll("Move a notification", moveItem(items, index, -1)),
      down: () => putAll("Move a notification", moveItem(items, index, 1)),
      remove: () => putAll("Remove a notification", items.filter((_, i) => i !== index)),
    }));
    list.append(item);
  });
  box.append(list, button("Add a notification", { id: idFor(at, "add") }, () => panel.put("Add a notification", at, items.length ? [...items, { to: "requester", template: "reminder" }] : { to: "requester", template: "reminder" })));
  return box;
}

// ---------------------------------------------------------------- wait

const DATED = new Set(["date", "datetime", "calculated", "any", undefined, null]);

function wait({ panel, view, id, at, step, siblings }) {
  const box = group(panel, at, "Wait");
  const mode = "until" in step ? "until" : "for";
  const dates = fieldsAt(view, id).filter((f) => DATED.has(f.type));
  const pick = selectField(panel, `${at}--wait`, "Wait", "Change how the step waits", [["for", "For a length of time"], ["until", "Until the date in a field"]], {
    onChange: (value) => panel.apply("Change how the step waits", (doc) => {
      if (value === "until") return setAt(removeAt(removeAt(doc, `${at}/for`), `${at}/calendar`), `${at}/until`, dates[0]?.key || "");
      return setAt(removeAt(doc, `${at}/until`), `${at}/for`, "PT1H");
    }),
  });
  pick.querySelector("select").value = JSON.stringify(mode);
  box.append(pick);
  if (mode === "for") {
    const working = () => Boolean(step.calendar);
    box.append(
      durationField(panel, `${at}/for`, "For", "Change how long to wait", { working, optional: false }),
      calendarField(panel, `${at}/calendar`, "Counted in", "Change the wait's calendar"),
    );
  } else {
    box.append(selectField(panel, `${at}/until`, "Until the date in", "Change the date to wait for", dates.filter((f) => f.type === "date" || f.type === "datetime").map((f) => [f.key, fieldWords(f)]), {
      none: "Choose a date field", hint: "A date field waits until the start of that day (UTC).",
    }));
  }
  return [box, stepField(panel, `${at}/next`, "Then", "Change the next step", siblings)];
}

// ---------------------------------------------------------------- subflow

function subflow({ panel, view, id, at, step, siblings }) {
  const known = (view.context?.workflows || []).map((w) => (typeof w === "string" ? { key: w } : w));
  const listId = idFor(at, "workflows");
  const datalist = el("datalist", { id: listId });
  known.forEach((w) => datalist.append(el("option", { value: w.key }, w.title || w.key)));
  const which = textField(panel, `${at}/workflow`, "Workflow to start", "Choose the workflow to start", { list: listId, hint: "Its key; it must be published, or known to the checker." });
  which.append(datalist);
  const parent = fieldsAt(view, id);
  const data = mapping(panel, `${at}/data`, step.data, {
    legend: "Data passed to it", left: "Its start form's field", right: "Takes this field of ours",
    rightChoices: parent.map((f) => [f.key, fieldWords(f)]), hint: "Only fields: to pass a computed value, set a field in an action first.",
  });
  const waits = step.wait !== false;
  const parts = [which, data, checkboxField(panel, `${at}/wait`, "Wait for it to end", "Change whether to wait", { on: undefined, off: false, checked: waits })];
  if (waits) {
    parts.push(mapping(panel, `${at}/result`, step.result, { legend: "Data brought back when it ends", left: "Our field", right: "Takes its field", hint: "Copied when the child ends." }));
    parts.push(childRoutes({ panel, at, step, siblings }));
  }
  parts.push(stepField(panel, `${at}/next`, waits ? "Then (any other outcome)" : "Then", "Change the next step", siblings));
  return parts;
}

/** A map of field names to field names (`data`, `result`), one row each. */
function mapping(panel, at, current, { legend, left, right, rightChoices = null, hint = "" }) {
  const box = group(panel, at, legend, { hint });
  const entries = Object.entries(current || {});
  const list = el("ol", { class: "wf-mapping" });
  entries.forEach(([key, value], index) => {
    const rowAt = `${at}${pointer(key)}`;
    const item = el("li");
    item.append(keyField(panel, rowAt, key, `${left} ${index + 1}`, (wanted) => {
      if (!FIELD.test(wanted)) return "A field is letters, digits and _, or a dotted path like caller.email.";
      if (current[wanted] !== undefined) return `${wanted} is there already.`;
      panel.put("Rename a field", at, renameKey(current, key, wanted));
      return "";
    }));
    if (rightChoices) item.append(selectField(panel, rowAt, `${right} (${key})`, "Change a field passed", rightChoices, { none: "Choose a field" }));
    else item.append(textField(panel, rowAt, `${right} (${key})`, "Change a field brought back"));
    item.append(rowButtons(`field ${key}`, index, entries.length, { remove: () => panel.apply("Remove a field", (doc) => removeAt(doc, rowAt, { prune: true })) }));
    list.append(item);
  });
  box.append(list, button("Add a field", { id: idFor(at, "add") }, () => {
    let n = entries.length + 1;
    while (current?.[`field_${n}`] !== undefined) n += 1;
    panel.put("Add a field", `${at}${pointer(`field_${n}`)}`, rightChoices?.[0]?.[0] || `field_${n}`);
  }));
  return box;
}

function childRoutes({ panel, at, step, siblings }) {
  const box = group(panel, `${at}/on`, "By the child's outcome", { hint: "Outcomes not listed go to Then." });
  const routes = step.on || {};
  const list = el("ol");
  Object.entries(routes).forEach(([outcome], index, all) => {
    const routeAt = `${at}${pointer("on", outcome)}`;
    const item = el("li");
    item.append(
      keyField(panel, routeAt, outcome, `Outcome ${index + 1}`, (wanted) => {
        if (!/^[a-z][a-z0-9_]{0,62}$/.test(wanted)) return "An outcome is lower-case letters, digits and _.";
        if (routes[wanted] !== undefined) return `${wanted} is there already.`;
        panel.put("Rename an outcome", `${at}/on`, renameKey(routes, outcome, wanted));
        return "";
      }),
      stepField(panel, routeAt, `${outcome} leads to`, "Change where an outcome leads", siblings),
      rowButtons(`outcome ${outcome}`, index, all.length, { remove: () => panel.apply("Remove an outcome", (doc) => removeAt(doc, routeAt, { prune: true })) }),
    );
    list.append(item);
  });
  box.append(list, button("Add an outcome", { id: idFor(at, "add-outcome") }, () => {
    let n = Object.keys(routes).length + 1;
    while (routes[`outcome_${n}`] !== undefined) n += 1;
    panel.put("Add an outcome", `${at}${pointer("on", `outcome_${n}`)}`, siblings[0] || "");
  }));
  return box;
}

// ---------------------------------------------------------------- end

function end({ panel, at, id }) {
  return [
    textField(panel, `${at}/outcome`, "Outcome", "Change the outcome", { placeholder: id, hint: `A short name for reports, like resolved. Without it: ${id}.` }),
    textField(panel, `${at}/status`, "Final status", "Change the final status", { placeholder: "completed", hint: "Without it: completed. Inside a parallel branch, an end only ends its branch." }),
  ];
}

