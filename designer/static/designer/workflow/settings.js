// The workflow's own settings, shown when the workflow (not a step) is selected: its name,
// whether its instances are incidents, how an instance starts, the priorities, the SLA per
// priority, the business calendars it uses, what the requester sees, its decision tables
// and its own mail messages (docs/workflow-language.md §3-§8, §15).

import { el } from "../dom.js";
import { getAt, pointer, setAt } from "./pointer.js";
import { button, calendarField, checkboxField, control, durationField, fieldWords, group, idFor, insertPicker, rowButtons, selectField, textField, withField } from "./controls.js";
import { actionsEditor, priorityLevels } from "./ladder.js";
import { moveItem } from "./places.js";
import { allSteps } from "./routes.js";

const KEY = /^[a-z][a-z0-9_-]{0,62}$/;
const TEXTUAL = new Set(["text", "hidden", "calculated", "any", undefined, null]);

/** The parts of the workflow's panel. */
export function workflowSettings(panel) {
  const doc = panel.doc;
  return [
    el("h2", {}, `Workflow: ${doc.title || doc.key}`),
    keyView(panel),
    textField(panel, "/title", "Title", "Change the workflow's title", { hint: "The name people see; also each instance's title unless the start gives one." }),
    textField(panel, "/description", "Description", "Change the workflow's description", { multiline: true }),
    textField(panel, "/team", "Who works its requests", "Change who works its requests", {
      placeholder: "the service desk", write: (text) => text.trim() || undefined,
      hint: "In its requesters' words, like Facilities: the tracking page says “Write to Facilities”, and the mails are signed with it. Empty: the service desk.",
    }),
    checkboxField(panel, "/incident", "Its instances are incidents", "Change whether its instances are incidents", {
      hint: "Insight counts them (MTTA, MTTR, MTBF, SLA compliance) and the desk looks among them for recurring ones.",
    }),
    startSection(panel),
    prioritiesEditor(panel),
    slaSection(panel),
    calendarsUsed(panel),
    requesterSees(panel),
    tablesList(panel),
    messagesList(panel),
  ];
}

function keyView(panel) {
  const input = el("input", { type: "text", readonly: "readonly" });
  input.value = panel.doc.key || "";
  return control(panel, "/key", "Key", input, { hint: "The workflow's name for machines and subflows; fixed once the workflow exists." });
}

function startSection(panel) {
  const { view, doc } = panel;
  const forms = view.context?.forms || [];
  const box = group(panel, "/start", "How an instance starts");
  box.append(selectField(panel, "/start/form", "Start form", "Choose the start form", forms.map((f) => [f.key, f.title ? `${f.title} (${f.key})` : f.key]), {
    none: "No form (started by the API or a webhook)",
  }));
  if (doc.start?.form) box.append(button("Edit the start form", { id: idFor("/start/form", "edit") }, () => view.openForm(doc.start.form)));
  box.append(
    checkboxField(panel, "/start/public", "Offer it on the public portal, to people without an account", "Change whether the form is public"),
    textField(panel, "/start/number_prefix", "Number prefix", "Change the number prefix", { placeholder: "REQ", hint: "1 to 10 capital letters and digits: INC gives INC-000042." }),
    startTitle(panel),
  );
  const form = forms.find((f) => f.key === doc.start?.form);
  const textFields = (form?.fields || []).filter((f) => TEXTUAL.has(f.type));
  box.append(selectField(panel, "/start/confirm_to", "Send the tracking link to", "Change where the tracking link goes", textFields.map((f) => [f.key, fieldWords(f)]), {
    none: "Nobody (no confirmation email)", hint: "The start form's field holding the requester's email address.",
  }));
  const serviceFields = (form?.fields || []).filter((f) => f.form_type === "service");
  box.append(selectField(panel, "/start/service", "Its service in the catalogue is in", "Change where its service is", serviceFields.map((f) => [f.key, fieldWords(f)]), {
    none: "No field (its service is not recorded)", hint: "A service field of the start form: insight counts each request under the service it names.",
  }));
  return box;
}

function startTitle(panel) {
  const start = panel.view.fieldsAt?.$start || [];
  const box = textField(panel, "/start/title", "Instance title", "Change the instance title", { hint: "A template like {{ summary }}; without it, the workflow's title." });
  box.append(insertPicker(idFor("/start/title", "insert"), "Insert a field into the instance title", start, (key) => panel.put("Change the instance title", "/start/title", withField(getAt(panel.doc, "/start/title"), key))));
  return box;
}

/** A list of texts edited one per line: add, rename, reorder, remove. */
function textList(panel, at, legend, { words, fresh, hint = "" }) {
  const items = getAt(panel.doc, at) || [];
  const box = group(panel, at, legend, { hint });
  const list = el("ol");
  const putAll = (label, next) => panel.put(label, at, next.length ? next : undefined);
  items.forEach((item, index) => {
    const line = el("li");
    line.append(textField(panel, `${at}/${index}`, `${words} ${index + 1}`, `Change a ${words.toLowerCase()}`), rowButtons(`${words.toLowerCase()} ${item}`, index, items.length, {
      up: () => putAll(`Move a ${words.toLowerCase()}`, moveItem(items, index, -1)),
      down: () => putAll(`Move a ${words.toLowerCase()}`, moveItem(items, index, 1)),
      remove: () => putAll(`Remove a ${words.toLowerCase()}`, items.filter((_, i) => i !== index)),
    }));
    list.append(line);
  });
  box.append(list, button(`Add a ${words.toLowerCase()}`, { id: idFor(at, "add") }, () => putAll(`Add a ${words.toLowerCase()}`, [...items, fresh(items)])));
  return box;
}

function prioritiesEditor(panel) {
  return textList(panel, "/priorities", "Priorities, most urgent first", {
    words: "Level",
    fresh: (items) => `P${items.length + 1}`,
    hint: "Used to raise the priority, and to order the SLA targets.",
  });
}

function slaSection(panel) {
  const { doc } = panel;
  const sla = doc.sla;
  const box = group(panel, "/sla", "Service level targets (SLA)");
  const levels = priorityLevels(doc);
  const starter = { targets: Object.fromEntries((levels.length ? levels : ["P1"]).map((l) => [l, { resolution: "P1D" }])) };
  box.append(checkboxField(panel, "/sla", "This workflow has service level targets", "Change whether there is an SLA", { on: sla || starter, checked: Boolean(sla) }));
  if (!sla) return box;
  const working = () => Boolean(getAt(panel.doc, "/sla/calendar"));
  box.append(
    calendarField(panel, "/sla/calendar", "Counted in", "Change the SLA's calendar"),
    textField(panel, "/sla/targets_by", "Priority field", "Change the SLA's priority field", { placeholder: "priority", hint: "The field whose value picks the targets; raise priority changes it." }),
  );
  const table = el("table", { class: "wf-sla-targets" });
  table.append(el("caption", {}, "Targets per priority"));
  const head = el("tr");
  head.append(el("th", { scope: "col" }, "Priority"), el("th", { scope: "col" }, "Response within"), el("th", { scope: "col" }, "Resolution within"), el("th", { scope: "col" }, ""));
  const thead = el("thead");
  thead.append(head);
  const body = el("tbody");
  const rows = [...new Set([...levels, ...Object.keys(sla.targets || {})])];
  for (const level of rows) {
    const at = `/sla${pointer("targets", level)}`;
    const tr = el("tr");
    tr.append(el("th", { scope: "row" }, level));
    for (const which of ["response", "resolution"]) {
      const td = el("td");
      td.append(durationField(panel, `${at}/${which}`, `${level} ${which}`, `Change the ${which} target of ${level}`, { working, hint: null }));
      tr.append(td);
    }
    const td = el("td");
    td.append(panel.slot(at));
    if (!levels.includes(level)) td.append(el("p", { class: "hint" }, "Not one of the priorities."));
    tr.append(td);
    body.append(tr);
  }
  table.append(thead, body);
  box.append(table);
  const warn = el("input", { type: "number", min: "1", max: "99", step: "1" });
  warn.value = sla.warn_at === undefined ? "" : String(Math.round(sla.warn_at * 100));
  warn.placeholder = "75";
  warn.addEventListener("change", () => panel.put("Change when the SLA warns", "/sla/warn_at", warn.value === "" ? undefined : Number(warn.value) / 100));
  box.append(control(panel, "/sla/warn_at", "Warn at (% of the target)", warn, { hint: "Without it: 75%." }));
  box.append(pauseWhile(panel), actionsEditor(panel, "/sla/on_breach", { legend: "On a breach", allowEmpty: true }));
  return box;
}

function pauseWhile(panel) {
  const current = panel.doc.sla?.pause_while || [];
  const statuses = new Set(current);
  allSteps(panel.doc).forEach(({ step }) => { if (step?.status && step.type !== "end") statuses.add(step.status); });
  const box = group(panel, "/sla/pause_while", "The clocks pause while the status is");
  [...statuses].forEach((status, index) => {
    const id = idFor("/sla/pause_while", String(index));
    const tick = el("input", { type: "checkbox", id });
    tick.checked = current.includes(status);
    tick.addEventListener("change", () => {
      const next = [...statuses].filter((s) => (s === status ? tick.checked : current.includes(s)));
      panel.put("Change when the SLA pauses", "/sla/pause_while", next.length ? next : undefined);
    });
    const line = el("div", { class: "field--checkbox" });
    line.append(tick, el("label", { for: id }, status));
    box.append(line);
  });
  if (!statuses.size) box.append(el("p", { class: "hint" }, "No step sets a status yet."));
  return box;
}

/** The business calendars the workflow counts in, and where; unknown ones are said. */
export function calendarsIn(doc) {
  const used = new Map();
  const note = (key, where) => {
    if (!key) return;
    if (!used.has(key)) used.set(key, []);
    used.get(key).push(where);
  };
  note(doc.sla?.calendar, "the SLA");
  for (const { id, step } of allSteps(doc)) {
    note(step?.calendar, id);
    (step?.escalate || []).forEach((rung, i) => note(rung?.calendar, `${id}, escalation ${i + 1}`));
  }
  return used;
}

function calendarsUsed(panel) {
  const known = new Set(panel.view.context?.calendars || []);
  const box = el("section", { class: "wf-group", "aria-labelledby": "wf-calendars-heading" });
  box.append(el("h3", { id: "wf-calendars-heading" }, "Business calendars used"));
  const used = calendarsIn(panel.doc);
  if (!used.size) {
    box.append(el("p", { class: "hint" }, "None: every duration is wall time. Pick a calendar on the SLA, a step or a rung."));
    return box;
  }
  const list = el("ul");
  for (const [key, where] of used) {
    list.append(el("li", {}, `${key}${known.has(key) ? "" : " (not a published calendar)"}: ${where.join("; ")}`));
  }
  box.append(list);
  return box;
}

function requesterSees(panel) {
  const { view, doc } = panel;
  const current = doc.requester_sees;
  const box = group(panel, "/requester_sees", "What the requester sees");
  box.append(checkboxField(panel, "/requester_sees", "Choose the fields the requester sees", "Change what the requester sees", {
    on: (view.fieldsAt?.$start || []).filter((f) => f.type !== "hidden" && f.type !== "calculated").map((f) => f.key), checked: Array.isArray(current),
    hint: "Unticked: the start form's fields (but hidden and calculated ones), and fields later forms mark public.",
  }));
  if (!Array.isArray(current)) return box;
  const fields = new Map();
  for (const f of view.fieldsAt?.$start || []) fields.set(f.key, f);
  for (const list of Object.values(view.fieldsAt || {})) for (const f of list) if (!fields.has(f.key)) fields.set(f.key, f);
  for (const key of current) if (!fields.has(key)) fields.set(key, { key, label: `${key} (not filled in anywhere)` });
  [...fields.values()].forEach((field, index) => {
    const id = idFor("/requester_sees", String(index));
    const tick = el("input", { type: "checkbox", id });
    tick.checked = current.includes(field.key);
    tick.addEventListener("change", () => {
      const next = [...fields.keys()].filter((k) => (k === field.key ? tick.checked : current.includes(k)));
      panel.put("Change what the requester sees", "/requester_sees", next);
    });
    const line = el("div", { class: "field--checkbox" });
    line.append(tick, el("label", { for: id }, fieldWords(field)));
    box.append(line);
  });
  return box;
}

function tablesList(panel) {
  const { view, doc } = panel;
  const tables = doc.tables || {};
  const box = group(panel, "/tables", "Decision tables");
  const list = el("ul");
  for (const name of Object.keys(tables)) {
    const item = el("li");
    const at = pointer("tables", name);
    const open = button(`Edit table ${name}`, { id: idFor(at, "open") }, () => view.select({ table: name }));
    item.append(open, el("span", { class: "hint" }, ` ${tables[name].inputs?.join(" x ") || ""} -> ${tables[name].output || ""}`), panel.slot(at, open));
    list.append(item);
  }
  box.append(list);
  box.append(...namedAdder(panel, "/tables", "table", tables, { placeholder: "priority" }, (name) => {
    const first = Object.values(view.fieldsAt || {}).flat().find((f) => Array.isArray(f.options) && f.options.length);
    panel.apply(`Add the table ${name}`, (d) => setAt(d, pointer("tables", name), { inputs: [first?.key || "category"], output: name, rows: [{ when: ["-"], then: null }] }));
    view.select({ table: name });
  }));
  return box;
}

/**
 * A name box and an "Add a <what>" button for a map of named things (`at`, holding `taken`):
 * a name that is not a key, or is taken, is said beside it; a good one goes to `add`.
 */
function namedAdder(panel, at, what, taken, { placeholder, hint = "" }, add) {
  const input = el("input", { type: "text", spellcheck: "false", placeholder });
  const box = control(panel, `${at}--new`, `New ${what}'s name`, input, { hint });
  const error = el("p", { class: "error-message", hidden: "hidden", role: "alert" });
  const create = button(`Add a ${what}`, { id: idFor(at, "add") }, () => {
    const name = input.value.trim();
    const problem = !KEY.test(name) ? `A ${what}'s name is lower-case letters, digits, - and _, starting with a letter.` : taken[name] ? `There is already a ${what} ${name}.` : "";
    error.hidden = !problem;
    error.textContent = problem;
    if (!problem) add(name);
  });
  return [box, create, error];
}


/** Every field the workflow's templates may read somewhere, once each, for a message. */
function fieldsAnywhere(view) {
  const fields = new Map();
  for (const list of Object.values(view.fieldsAt || {})) for (const f of list) if (!fields.has(f.key)) fields.set(f.key, f);
  return [...fields.values()];
}

/** The workflow's own mail messages: a subject and a body each, filled in like a title. */
function messagesList(panel) {
  const { view, doc } = panel;
  const messages = doc.messages || {};
  const box = group(panel, "/messages", "Mail messages of its own", {
    hint: "A notification sends one by its name (its message template). Values like {{ instance.number }}, {{ instance.title }} or a field's {{ key }} are filled in as it is sent.",
  });
  const fields = fieldsAnywhere(view);
  const list = el("ul", { class: "wf-messages" });
  for (const key of Object.keys(messages)) {
    const at = pointer("messages", key);
    const item = el("li");
    const subject = textField(panel, `${at}/subject`, `Subject of ${key}`, `Change the subject of ${key}`);
    const body = textField(panel, `${at}/body`, `Body of ${key}`, `Change the body of ${key}`, { multiline: true });
    body.append(insertPicker(idFor(`${at}/body`, "insert"), `Insert a field into the body of ${key}`, fields, (field) => panel.put(`Change the body of ${key}`, `${at}/body`, withField(getAt(panel.doc, `${at}/body`), field))));
    const remove = button(`Remove the message ${key}`, { id: idFor(at, "remove"), class: "small danger" }, () => {
      const rest = { ...(panel.doc.messages || {}) };
      delete rest[key];
      panel.put(`Remove the message ${key}`, "/messages", Object.keys(rest).length ? rest : undefined);
    });
    item.append(el("h4", {}, key), panel.slot(at), subject, body, remove);
    list.append(item);
  }
  box.append(list);
  const words = { placeholder: "access-granted", hint: "Lower-case letters, digits, - and _." };
  box.append(...namedAdder(panel, "/messages", "message", messages, words, (name) => {
    panel.put(`Add the message ${name}`, pointer("messages", name), {
      subject: "{{ instance.number }}: {{ instance.title }}",
      body: "Hello,\n\nabout {{ instance.number }}: \n",
    });
  }));
  return box;
}
