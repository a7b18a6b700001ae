// The workflow designer's properties panel: every option of the language for the selected
// step, the workflow itself, or a decision table, without code.
//
// `renderProperties(root, view)` empties `root` and draws it again; each control is bound
// to a JSON Pointer of `view.doc`, edits go through `view.apply(label, doc => newDoc)`, and
// the checker's problems are shown next to the control they concern. Focus (and text typed
// but not yet applied) survives a redraw, so a check coming back never takes a box away.

import { el } from "../dom.js";
import { getAt, pointer, removeAt, setAt } from "./pointer.js";
import { EditError, renameStep } from "./model.js";
import { Panel, button, calendarField, checkboxField, control, durationField, fieldsAt, fieldWords, group, idFor, insertPicker, redraw, rowButtons, selectField, stepField, textField, withField } from "./controls.js";
import { conditionEditor } from "./conditions.js";
import { ladderEditor } from "./ladder.js";
import { assignEditor } from "./people.js";
import { isHuman, moveKey, renameKey, siblingIds, stepPointer } from "./places.js";
import { quorumEditor, reviewersEditor } from "./review.js";
import { tableEditor } from "./tables.js";
import { automaticSections } from "./automatic.js";
import { workflowSettings } from "./settings.js";

const TYPE_WORDS = {
  task: "Task", approval: "Approval", review: "Review", parallel: "Parallel branches", decision: "Decision",
  action: "Action", wait: "Wait", subflow: "Subflow", end: "End",
};
const WAITS = new Set(["task", "approval", "review", "wait"]);
const PERMISSIONS = [["editable", "Editable"], ["read_only", "Read-only"], ["hidden", "Hidden"], ["required", "Required"]];
const OUTCOME = /^[a-z][a-z0-9_]{0,62}$/;

/** Draw the panel of `view.selection` into `root`. */
export function renderProperties(root, view) {
  const panel = new Panel(view);
  const rest = el("div", { class: "wf-other-problems", role: "group", "aria-label": "Other problems here", hidden: "hidden" });
  const selection = view.selection || {};
  let parts;
  let scope = null;
  if (selection.step) {
    const at = stepPointer(view.doc, selection.step);
    parts = at ? stepPanel(panel, selection.step, at) : [el("p", {}, `There is no step ${selection.step}.`)];
    scope = at;
  } else if (selection.table) {
    parts = [tableEditor(view, selection.table, panel)];
    scope = pointer("tables", selection.table);
  } else if (selection.workflow) {
    parts = workflowSettings(panel);
    scope = "";
  } else {
    parts = [el("p", { class: "hint" }, "Select a step to edit it, or the workflow's settings.")];
  }
  if (scope !== null) {
    const left = panel.distribute(scope, null);
    // On the workflow's panel, a step's problems belong to the step, shown on its card.
    const own = scope === "" ? left.filter((p) => !(p.pointer || "").startsWith("/steps/")) : left;
    showRest(rest, own);
  }
  redraw(root, [rest, ...parts]);
}

function showRest(rest, problems) {
  if (!problems.length) return;
  rest.hidden = false;
  rest.append(el("p", { class: "error-message" }, "Problems here:"));
  const list = el("ul");
  for (const problem of problems) list.append(el("li", {}, `${problem.pointer || "/"}: ${problem.message}`));
  rest.append(list);
}

// ---------------------------------------------------------------- a step

function stepPanel(panel, id, at) {
  const step = getAt(panel.doc, at);
  const ctx = { panel, view: panel.view, id, at, step, siblings: siblingIds(panel.doc, id).filter((s) => s !== id) };
  const parts = [el("h2", { class: "wf-step-heading" }, heading(step, id)), ...common(ctx)];
  if (isHuman(step)) parts.push(...humanSections(ctx));
  else parts.push(...automaticSections(ctx));
  return parts;
}

function heading(step, id) {
  return `${TYPE_WORDS[step.type] || step.type}: ${step.label || id}`;
}

/** Say the selected step's label in the panel's heading again (see `textField`'s `shown`). */
export function retitle(root, doc, selection) {
  const shown = root.querySelector(".wf-step-heading");
  const at = selection?.step ? stepPointer(doc, selection.step) : null;
  if (shown && at) shown.textContent = heading(getAt(doc, at), selection.step);
}

function common(ctx) {
  const { panel, at, step } = ctx;
  const parts = [idField(ctx), textField(panel, `${at}/label`, "Label", "Change the step's label", { hint: "Its name on the canvas and the timeline.", shown: true })];
  if (isHuman(step)) parts.push(templateField(ctx, `${at}/title`, "Task title", "Change the task title"));
  parts.push(textField(panel, `${at}/description`, "Description", "Change the step's description", { multiline: true, hint: "For the people who maintain the workflow.", shown: true }));
  const shown = WAITS.has(step.type) || (step.type === "subflow" && step.wait !== false);
  if (shown || (step.status !== undefined && step.type !== "end")) parts.push(statusField(ctx, `${at}/status`, "Status while it waits", "Change the status"));
  return parts;
}

/** The control a pointer last went down on (a label stands for its control): a rename
 * confirmed by that click gives it the focus once it is drawn again (see `idField`). */
const pressed = { id: "" };
document.addEventListener("pointerdown", (event) => {
  const node = event.target instanceof Element ? event.target.closest("label")?.control || event.target : null;
  pressed.id = node?.id || "";
}, true);

function idField({ panel, view, id, at }) {
  const input = el("input", { type: "text", spellcheck: "false" });
  input.value = id;
  const box = control(panel, `${at}--id`, "Id", input, { hint: "Lower-case letters, digits and _. Routes to the step follow a new id." });
  const error = el("p", { class: "error-message", id: idFor(at, "id-error"), hidden: "hidden" });
  box.append(error);
  const rename = () => {
    const wanted = input.value.trim();
    const pointer = stepPointer(view.doc, id);
    // A box being removed by the redraw of its own rename sends a change too: done already.
    if (wanted === id || !input.isConnected || pointer === null) return;
    const focused = document.activeElement === input;
    // Confirmed by a click on another control of the step (the change comes as the box
    // loses the focus, before the control clicked has it): that control is drawn again under
    // the new id, and the focus goes to it rather than to the page's body.
    const before = idFor(pointer);
    const elsewhere = focused ? "" : pressed.id;
    const within = elsewhere === before || elsewhere.startsWith(`${before}-`);
    try {
      const { doc } = renameStep(view.doc, id, wanted);
      panel.apply(`Rename the step ${id}`, () => doc);
      view.select({ step: wanted });
    } catch (problem) {
      if (!(problem instanceof EditError)) throw problem;
      error.hidden = false;
      error.textContent = problem.message;
      const described = (input.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
      if (!described.includes(error.id)) input.setAttribute("aria-describedby", [...described, error.id].join(" "));
      return;
    }
    // Every control of the panel is named after the step's pointer: the box the focus was in
    // is a new one now, and the focus goes to it rather than to the page's body.
    const moved = stepPointer(view.doc, wanted);
    const after = idFor(moved);
    if (focused) document.getElementById(idFor(`${moved}--id`))?.focus();
    else if (within) document.getElementById(after + elsewhere.slice(before.length))?.focus();
  };
  input.addEventListener("change", rename);
  // Tab renames before it moves on, so it moves on from the new box: the one it would move
  // to from the old box is drawn again, as a new one, by the rename.
  input.addEventListener("keydown", (event) => {
    if (event.key === "Tab") rename();
  });
  return box;
}

/** A template box with an "insert a field" picker, so no {{ }} has to be typed. */
function templateField({ panel, view, id }, at, words, label) {
  const box = textField(panel, at, words, label, { hint: "Text; {{ field }} fills in a field, like {{ instance.number }} {{ summary }}.", shown: true });
  const fields = [...fieldsAt(view, id), { key: "instance.number", label: "Instance number" }, { key: "instance.requester", label: "Requester" }];
  box.append(insertPicker(idFor(at, "insert"), `Insert a field into the ${words.toLowerCase()}`, fields, (key) => panel.put(label, at, withField(getAt(panel.doc, at), key))));
  return box;
}

/** A status: lower-case words, offered from those the workflow already uses. */
export function statusField({ panel }, at, words, label, { hint = "What people see as the request's status, like in_progress." } = {}) {
  const listId = idFor(at, "statuses");
  const list = el("datalist", { id: listId });
  const used = new Set([...(panel.doc.sla?.pause_while || []), "open", "in_progress", "waiting_on_requester", "resolved"]);
  (function collect(steps) {
    for (const step of Object.values(steps || {})) {
      if (step?.status) used.add(step.status);
      if (step?.type === "parallel") Object.values(step.branches || {}).forEach((b) => collect(b.steps));
    }
  })(panel.doc.steps);
  used.forEach((status) => list.append(el("option", { value: status })));
  const box = textField(panel, at, words, label, { list: listId, hint });
  box.append(list);
  return box;
}

// ---------------------------------------------------------------- human steps

function humanSections(ctx) {
  const { panel, at, step, id } = ctx;
  const parts = [textField(panel, `${at}/instructions`, "Instructions", "Change the instructions", { multiline: true, hint: "Plain text shown above the task's form.", shown: true })];
  const who = group(panel, `${at}/assign`, "Who does it");
  if (step.type === "review") who.append(reviewersEditor(ctx));
  else who.append(assignEditor(panel, `${at}/assign`, { step: id, words: "Assigned to", none: step.type === "task" ? "The requester (no assignment)" : null }));
  who.append(notByEditor(ctx));
  parts.push(who, formSection(ctx));
  if (step.type === "review") parts.push(quorumEditor(ctx));
  parts.push(routesEditor(ctx));
  if (step.type === "approval") {
    parts.push(conditionEditor(ctx.view, { pointer: `${at}/auto_approve`, step: id, optional: true, legend: "Approve automatically when", panel }));
  }
  const time = group(panel, `${at}/due`, "Time");
  const working = () => Boolean(getAt(panel.doc, `${at}/calendar`));
  time.append(
    durationField(panel, `${at}/due`, "Due within", "Change when it is due", { working, hint: "From the moment the step starts. ISO 8601 like PT8H, or words like 8 hours." }),
    calendarField(panel, `${at}/calendar`, "Counted in", "Change the step's calendar", { hint: "For the due time and the escalations." }),
  );
  parts.push(time, ladderEditor(ctx.view, { pointer: `${at}/escalate`, step: id, panel }));
  return parts;
}

function notByEditor({ panel, at, step, id }) {
  const current = step.not_by;
  const box = el("div", { class: "wf-not-by" });
  const mode = current === undefined ? "default" : "listed";
  const defaults = step.type === "task" ? "Nobody is kept out" : "The requester is kept out (unless the step is theirs)";
  box.append(selectField(panel, `${at}/not_by--mode`, "Separation of duties", "Change who is kept out", [["default", defaults], ["listed", "Keep out the people ticked below"]], {
    onChange: (value) => panel.put("Change who is kept out", `${at}/not_by`, value === "listed" ? (step.type === "task" ? [] : ["requester"]) : undefined),
  }));
  box.querySelector("select").value = JSON.stringify(mode);
  if (mode === "listed") {
    const ticks = el("fieldset", { class: "wf-ticks" });
    ticks.append(el("legend", {}, "May not act here"), panel.slot(`${at}/not_by`));
    const others = Object.keys(panel.doc.steps || {}).length ? humanStepIds(panel.doc).filter((s) => s !== id) : [];
    const choices = [["requester", "The requester"], ...others.map((s) => [s, `Whoever did ${s}`])];
    for (const value of current) if (!choices.some(([v]) => v === value)) choices.push([value, `${value} (as written)`]);
    choices.forEach(([value, words], index) => {
      const tickId = idFor(`${at}/not_by`, String(index));
      const tick = el("input", { type: "checkbox", id: tickId });
      tick.checked = current.includes(value);
      tick.addEventListener("change", () => {
        const next = choices.map(([v]) => v).filter((v) => (v === value ? tick.checked : current.includes(v)));
        panel.put("Change who is kept out", `${at}/not_by`, next);
      });
      const line = el("div", { class: "field--checkbox" });
      line.append(tick, el("label", { for: tickId }, words));
      ticks.append(line);
    });
    if (!current.length) ticks.append(el("p", { class: "hint" }, "Nobody ticked: anyone may act."));
    box.append(ticks);
  }
  return box;
}

function humanStepIds(doc) {
  const found = [];
  (function walk(steps) {
    for (const [key, step] of Object.entries(steps || {})) {
      if (isHuman(step)) found.push(key);
      if (step?.type === "parallel") Object.values(step.branches || {}).forEach((b) => walk(b.steps));
    }
  })(doc.steps);
  return found;
}

// ---------------------------------------------------------------- the step's form

/** A form key for a new form of this step: "<workflow>-<step>", as the key rules allow. */
export function newFormKey(doc, stepId, taken = []) {
  const base = `${doc.key || "workflow"}-${stepId}`.toLowerCase().replace(/[^a-z0-9_-]+/g, "-").replace(/^[^a-z]+/, "").slice(0, 56) || "form";
  let key = base;
  for (let n = 2; taken.includes(key); n += 1) key = `${base}-${n}`;
  return key;
}

function formSection(ctx) {
  const { panel, view, at, step, id } = ctx;
  const forms = view.context?.forms || [];
  const box = group(panel, `${at}/form`, "The form");
  box.append(selectField(panel, `${at}/form`, "Form", "Choose the step's form", forms.map((f) => [f.key, f.title ? `${f.title} (${f.key})` : f.key]), { none: "No form" }));
  const actions = el("div", { class: "wf-form-actions" });
  actions.append(button("Create a form", { id: idFor(at, "create-form") }, () => {
    const key = newFormKey(panel.doc, id, forms.map((f) => f.key));
    panel.put("Create a form for the step", `${at}/form`, key);
    view.openForm(key);
  }));
  if (step.form) actions.append(button("Edit this form", { id: idFor(at, "edit-form") }, () => view.openForm(step.form)));
  box.append(actions);
  const form = forms.find((f) => f.key === step.form);
  if (step.form && !form) box.append(el("p", { class: "hint" }, `${step.form} is not a published form yet: its fields show here once it is published.`));
  box.append(permissionGrid(ctx, form), showEditor(ctx));
  return box;
}

/** One row per field of the form, one radio per permission: the step's `fields`. */
function permissionGrid({ panel, at, step }, form) {
  const rules = step.fields || {};
  const fields = (form?.fields || []).filter((f) => f.type !== "section");
  const stale = Object.keys(rules).filter((key) => !fields.some((f) => f.key === key));
  const wrap = el("div", { class: "wf-permissions" });
  if (!fields.length && !stale.length) return wrap;
  const table = el("table", { class: "wf-permission-grid" });
  table.append(el("caption", {}, "What the assignee may do with each field of the form"));
  const head = el("tr");
  head.append(el("th", { scope: "col" }, "Field"), ...PERMISSIONS.map(([, words]) => el("th", { scope: "col" }, words)));
  const thead = el("thead");
  thead.append(head);
  const body = el("tbody");
  for (const field of [...fields, ...stale.map((key) => ({ key, label: `${key} (not in the form)` }))]) {
    const fieldAt = `${at}${pointer("fields", field.key)}`;
    const current = rules[field.key] || "editable";
    const tr = el("tr");
    const name = el("th", { scope: "row", id: idFor(fieldAt, "name") }, field.label || field.key);
    name.append(panel.slot(fieldAt));
    tr.append(name);
    for (const [value, words] of PERMISSIONS) {
      const td = el("td");
      const radio = el("input", { type: "radio", name: idFor(fieldAt, "perm"), id: idFor(fieldAt, value), value, "aria-label": `${field.label || field.key}: ${words}` });
      radio.checked = current === value;
      radio.addEventListener("change", () => panel.apply(`Make ${field.key} ${words.toLowerCase()}`, (doc) => (value === "editable" ? removeAt(doc, fieldAt, { prune: true }) : setAt(doc, fieldAt, value))));
      td.append(radio);
      tr.append(td);
    }
    body.append(tr);
  }
  table.append(thead, body);
  wrap.append(table);
  if (stale.length) {
    wrap.append(button("Forget the rules of fields the form does not have", { id: idFor(`${at}/fields`, "stale") }, () => panel.apply("Forget rules of missing fields", (doc) => {
      let next = doc;
      for (const key of stale) next = removeAt(next, `${at}${pointer("fields", key)}`, { prune: true });
      return next;
    })));
  }
  return wrap;
}

/** `show`: the earlier fields shown read-only above the form; by default all of them. */
function showEditor({ panel, view, at, step, id }) {
  const box = el("div", { class: "wf-show" });
  const listed = Array.isArray(step.show);
  box.append(checkboxField(panel, `${at}/show`, "Show only some of the fields filled in so far", "Choose which earlier fields to show", {
    on: fieldsAt(view, id).map((f) => f.key), checked: listed, hint: "Unticked: the assignee sees every field filled in so far, read-only.",
  }));
  if (!listed) return box;
  const ticks = el("fieldset", { class: "wf-ticks" });
  ticks.append(el("legend", {}, "Shown above the form"));
  const keys = [...new Set([...fieldsAt(view, id).map((f) => f.key), ...step.show])];
  keys.forEach((key, index) => {
    const tickId = idFor(`${at}/show`, String(index));
    const tick = el("input", { type: "checkbox", id: tickId });
    tick.checked = step.show.includes(key);
    tick.addEventListener("change", () => panel.put("Choose which earlier fields to show", `${at}/show`, keys.filter((k) => (k === key ? tick.checked : step.show.includes(k)))));
    const field = fieldsAt(view, id).find((f) => f.key === key);
    const line = el("div", { class: "field--checkbox" });
    line.append(tick, el("label", { for: tickId }, field ? fieldWords(field) : `${key} (not here)`));
    ticks.append(line);
  });
  box.append(ticks);
  return box;
}

// ---------------------------------------------------------------- outcomes and routes

function routesEditor(ctx) {
  const { panel, at, step, siblings } = ctx;
  const box = group(panel, `${at}/on`, "Outcomes and where they lead");
  const fixed = step.type === "approval" || step.type === "review";
  if (!fixed) {
    const mode = step.on ? "on" : "next";
    const pick = selectField(panel, `${at}--routes`, "Ways on", "Change the step's ways on", [["next", "One way on (one button)"], ["on", "Several outcomes, each a button"]], {
      onChange: (value) => panel.apply("Change the step's ways on", (doc) => toRoutes(doc, at, value)),
    });
    pick.querySelector("select").value = JSON.stringify(mode);
    box.append(pick);
    if (mode === "next") {
      box.append(
        stepField(panel, `${at}/next`, "Then", "Change the next step", siblings),
        textField(panel, `${at}${pointer("buttons", "done")}`, "Button", "Change the button's words", { placeholder: "Send" }),
      );
      return box;
    }
  }
  const outcomes = fixed ? ["approved", "rejected"] : Object.keys(step.on || {});
  const list = el("ol", { class: "wf-outcomes" });
  outcomes.forEach((outcome, index) => {
    const item = el("li", { class: "wf-outcome" });
    if (!fixed) item.append(outcomeName(ctx, outcome));
    else item.append(el("p", { class: "wf-outcome-name" }, outcome === "approved" ? "Approved" : "Rejected"));
    item.append(
      textField(panel, `${at}${pointer("buttons", outcome)}`, `Button of ${outcome}`, "Change a button's words", { placeholder: fixed ? (outcome === "approved" ? "Approve" : "Reject") : outcome.replace(/_/g, " ") }),
      stepField(panel, `${at}${pointer("on", outcome)}`, `${outcome} leads to`, "Change where an outcome leads", siblings),
    );
    if (!fixed) {
      item.append(rowButtons(`outcome ${outcome}`, index, outcomes.length, {
        up: () => panel.put("Move an outcome", `${at}/on`, moveKey(step.on, outcome, -1)),
        down: () => panel.put("Move an outcome", `${at}/on`, moveKey(step.on, outcome, 1)),
        remove: outcomes.length > 1 ? () => panel.apply("Remove an outcome", (doc) => removeAt(removeAt(doc, `${at}${pointer("on", outcome)}`), `${at}${pointer("buttons", outcome)}`, { prune: true })) : null,
      }));
    }
    list.append(item);
  });
  box.append(list);
  if (!fixed) {
    box.append(button("Add an outcome", { id: idFor(at, "add-outcome") }, () => {
      let n = outcomes.length + 1;
      while (outcomes.includes(`outcome_${n}`)) n += 1;
      panel.put("Add an outcome", `${at}${pointer("on", `outcome_${n}`)}`, siblings[0] || "");
    }));
  }
  return box;
}

/** Switch a task between `next` and `on`, keeping where it led. */
function toRoutes(doc, at, mode) {
  const step = getAt(doc, at);
  if (mode === "on" && !step.on) {
    const next = removeAt(doc, `${at}/next`);
    return setAt(next, `${at}/on`, { done: step.next || "" });
  }
  if (mode === "next" && step.on) {
    const first = Object.values(step.on)[0] || "";
    return setAt(removeAt(doc, `${at}/on`), `${at}/next`, first);
  }
  return doc;
}

function outcomeName({ panel, at, step }, outcome) {
  const input = el("input", { type: "text", spellcheck: "false" });
  input.value = outcome;
  const box = control(panel, `${at}${pointer("on", outcome)}--name`, "Outcome", input, { hint: "Lower-case letters, digits and _, like needs_info." });
  const error = el("p", { class: "error-message", id: idFor(`${at}/on/${outcome}`, "name-error"), hidden: "hidden" });
  box.append(error);
  input.addEventListener("change", () => {
    const wanted = input.value.trim();
    if (wanted === outcome) return;
    const problem = !OUTCOME.test(wanted) ? "An outcome is lower-case letters, digits and _, starting with a letter." : step.on[wanted] !== undefined ? `There is already an outcome ${wanted}.` : "";
    if (problem) {
      error.hidden = false;
      error.textContent = problem;
      input.setAttribute("aria-describedby", `${input.getAttribute("aria-describedby") || ""} ${error.id}`.trim());
      input.setAttribute("aria-invalid", "true");
      return;
    }
    panel.apply("Rename an outcome", (doc) => {
      let next = setAt(doc, `${at}/on`, renameKey(step.on, outcome, wanted));
      if (step.buttons?.[outcome] !== undefined) next = setAt(next, `${at}/buttons`, renameKey(step.buttons, outcome, wanted));
      return next;
    });
  });
  return box;
}
