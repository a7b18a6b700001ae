// The simulation panel: run the draft on the server's runtime with sample data and a fake
// clock, before publishing. The server replays the whole list of actions on every call
// (POST .../simulate): stepping on adds an action, "Back one step" drops the last one,
// "Restart" empties the list. The panel keeps only that list and the last answer.
//
// Every control is a labelled native control, reachable by keyboard; what each call did is
// announced in a polite live region. Times show in the reader's time zone, with the zone.

import { el, momentFormat } from "../dom.js";

let panels = 0;

/** Say a UTC time in the reader's own zone: "Mon 23 Nov, 09:30 CET". */
export function localTime(iso) {
  if (!iso) return "";
  const format = momentFormat({
    weekday: "short", day: "numeric", month: "short",
    hour: "2-digit", minute: "2-digit", timeZoneName: "short",
  });
  return format.format(new Date(iso));
}

/**
 * The form's own type of a field (select, textarea, checkbox...): the designer's context
 * says it in `form_type`, and in `type` the kind of value it holds (string, boolean...).
 */
export function formType(field) {
  return field.form_type || { boolean: "checkbox", list: "multiselect" }[field.type] || field.type;
}

/** A sample value for a field, as a careful requester might fill it in. */
export function sampleValue(field, today = new Date()) {
  const day = today.toISOString().slice(0, 10);
  const type = formType(field);
  if (field.options && field.options.length) {
    return type === "multiselect" ? [field.options[0]] : field.options[0];
  }
  switch (type) {
    case "number": return 1;
    case "checkbox": return false;
    case "date": return day;
    case "datetime": return `${day}T09:00:00+00:00`;
    case "file": case "table": case "hidden": case "user": case "service": return undefined;
    default:
      if (field.format === "email" || /e-?mail/i.test(field.key)) return "requester@example.org";
      return `Example ${String(field.label || field.key).toLowerCase()}`;
  }
}

/** Find a step by id, in the top level or inside parallel branches. */
export function findStep(steps, id) {
  for (const [key, step] of Object.entries(steps || {})) {
    if (key === id) return step;
    for (const branch of Object.values(step?.branches && !Array.isArray(step.branches) ? step.branches : {})) {
      const found = findStep(branch?.steps, id);
      if (found) return found;
    }
  }
  return null;
}

/** What people call a step: its label, else its id in words ("ask_requester": "Ask requester"). */
export function stepName(steps, id) {
  const label = findStep(steps, id)?.label;
  return typeof label === "string" && label.trim() ? label : sentence(id);
}

/** What an outcome's button says, as on the task page: the step's words, a usual word, or the outcome. */
export function outcomeName(step, outcome) {
  const given = step?.buttons && typeof step.buttons === "object" ? step.buttons[outcome] : undefined;
  return typeof given === "string" && given.trim() ? given : (DEFAULT_BUTTONS[outcome] || sentence(outcome));
}

const DEFAULT_BUTTONS = { approved: "Approve", rejected: "Reject", done: "Send" };

function sentence(id) {
  const words = String(id).replaceAll("_", " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

function formFields(context, key) {
  const form = (context?.forms || []).find((f) => f.key === key);
  return form ? form.fields || [] : [];
}

/** One labelled input for a form field; `read()` gives its value (undefined: left empty). */
function fieldInput(prefix, field, value) {
  const id = `${prefix}-${field.key}`;
  const type = formType(field);
  const label = el("label", { for: id }, field.label || field.key);
  let input;
  if (field.options && field.options.length && type !== "multiselect") {
    input = el("select", { id });
    input.append(el("option", { value: "" }, "(empty)"));
    field.options.forEach((option, index) => {
      const node = el("option", { value: String(index) }, String(field.option_labels?.[index] ?? option));
      if (option === value) node.selected = true;
      input.append(node);
    });
    const read = () => (input.value === "" ? undefined : field.options[Number(input.value)]);
    return { row: el("div", { class: "sim-field" }), label, input, read };
  }
  if (type === "checkbox") {
    input = el("input", { id, type: "checkbox" });
    input.checked = value === true;
    return { row: el("div", { class: "sim-field" }), label, input, read: () => input.checked };
  }
  if (type === "textarea") {
    input = el("textarea", { id, rows: "2" });
  } else {
    input = el("input", { id, type: { number: "number", date: "date" }[type] || "text" });
  }
  if (value !== undefined) {
    input.value = Array.isArray(value) ? JSON.stringify(value) : String(value);
  }
  const read = () => {
    const text = input.value;
    if (text === "") return undefined;
    if (type === "number") return Number(text);
    if (type === "multiselect") {
      try { return JSON.parse(text); } catch { return [text]; }
    }
    return text;
  };
  return { row: el("div", { class: "sim-field" }), label, input, read };
}

function inputsFor(prefix, fields, valueOf) {
  const inputs = [];
  for (const field of fields) {
    if (["file", "table", "hidden"].includes(formType(field))) continue;
    const made = fieldInput(prefix, field, valueOf(field));
    made.row.append(made.label, made.input);
    inputs.push({ key: field.key, ...made });
  }
  return inputs;
}

function valuesOf(inputs) {
  const data = {};
  for (const { key, read } of inputs) {
    const value = read();
    if (value !== undefined) data[key] = value;
  }
  return data;
}

/**
 * Draw the simulation panel in `root`.
 * `api.simulate(body)` answers `{status, ok, body}`; `getDocument()` gives the workflow being
 * designed; `context` is the designer's context (forms with their fields, users);
 * `onHighlight(stepIds)` lets the canvas highlight the path taken.
 */
export function renderSimulation(root, { api, getDocument, context, onHighlight = () => {} }) {
  const prefix = `sim${++panels}`;
  const simulate = (body) =>
    (typeof api.simulate === "function" ? api.simulate(body) : api.call("POST", "/simulate", body));
  let actions = [];
  let answer = null;
  let busy = false;

  root.replaceChildren();
  // The page's section already has the "Simulate" heading; the panel starts below it.
  const intro = el("p", {}, "Run the draft with sample data on a fake clock. Nothing is saved or sent.");
  const live = el("p", { class: "sim-live", role: "status", "aria-live": "polite" });

  // Start data --------------------------------------------------------------------------
  const start = el("form", { class: "sim-start", "aria-labelledby": `${prefix}-start` });
  const startTitle = el("h3", { id: `${prefix}-start` }, "Start data");
  const startRows = el("div", { class: "sim-start-fields" });
  let startForm;
  let startInputs = [];
  const requesterId = `${prefix}-requester`;
  const requester = el("input", { id: requesterId, type: "text", list: `${requesterId}-list`, autocomplete: "off" });
  const people = el("datalist", { id: `${requesterId}-list` });
  for (const user of context?.users || []) people.append(el("option", { value: user.username }, user.name || ""));
  const atId = `${prefix}-at`;
  const startAt = el("input", { id: atId, type: "datetime-local" });
  const now = new Date();
  now.setSeconds(0, 0);
  startAt.value = new Date(now.getTime() - now.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
  const startButton = el("button", { type: "submit" }, "Start");
  const requesterRow = el("div", { class: "sim-field" });
  requesterRow.append(
    el("label", { for: requesterId }, "Requester (optional: a user name; else a made-up requester)"),
    requester,
    people,
  );
  const atRow = el("div", { class: "sim-field" });
  atRow.append(el("label", { for: atId }, "Start at (your local time)"), startAt);
  start.append(
    startTitle,
    startRows,
    requesterRow,
    atRow,
    startButton,
  );

  // Controls ----------------------------------------------------------------------------
  const controls = el("div", { class: "sim-controls", role: "group", "aria-label": "Simulation controls" });
  const fireButton = el("button", { type: "button" }, "Jump to the next timer");
  const advanceId = `${prefix}-advance`;
  const advanceInput = el("input", { id: advanceId, type: "text", value: "PT1H", size: "8", "aria-describedby": `${advanceId}-help` });
  const advanceHelp = el("span", { id: `${advanceId}-help`, class: "sim-help" }, "An ISO 8601 duration of wall time, like PT30M or P1D.");
  const advanceButton = el("button", { type: "button" }, "Advance");
  const backButton = el("button", { type: "button" }, "Back one step");
  const restartButton = el("button", { type: "button" }, "Restart");
  controls.append(
    fireButton,
    el("label", { for: advanceId }, "Advance by"), advanceInput, advanceButton, advanceHelp,
    backButton, restartButton,
  );

  // Results -----------------------------------------------------------------------------
  const results = el("div", { class: "sim-results" });

  root.append(intro, start, controls, live, results);

  /**
   * Draw the start form's fields, with sample values, when the draft's start form is not
   * the one drawn: the panel is drawn once, and the start form may be chosen later.
   */
  function syncStart() {
    const key = getDocument()?.start?.form;
    if (startForm !== undefined && key === startForm) return;
    startForm = key;
    const fields = formFields(context, key);
    const hadFocus = startRows.contains(document.activeElement);
    startInputs = inputsFor(`${prefix}-data`, fields, (field) => sampleValue(field));
    startRows.replaceChildren(...(startInputs.length ? startInputs.map((i) => i.row) : [el("p", {}, "The workflow has no start form.")]));
    if (hadFocus) (startInputs[0]?.input || requester).focus();
  }
  syncStart();
  // Check again whenever the panel comes into view or into use.
  root.addEventListener("focusin", syncStart);
  root.addEventListener("pointerover", syncStart);
  if (typeof IntersectionObserver === "function") {
    new IntersectionObserver((seen) => { if (seen.some((e) => e.isIntersecting)) syncStart(); }).observe(root);
  }

  // While a call runs, the buttons only say they are unavailable: a disabled button would
  // drop the keyboard focus that pressed it.
  function setBusy(value) {
    busy = value;
    for (const button of [startButton, fireButton, advanceButton, backButton, restartButton]) {
      if (value) button.setAttribute("aria-disabled", "true");
      else button.removeAttribute("aria-disabled");
    }
    root.setAttribute("aria-busy", value ? "true" : "false");
  }

  /** Keep the keyboard in the panel when what held the focus was redrawn or turned off. */
  function keepFocus() {
    const active = document.activeElement;
    if (active && active !== document.body && active.isConnected && !active.disabled) return;
    const now = results.querySelector(".sim-now");
    if (now) now.focus();
    else startButton.focus();
  }

  function body(list) {
    const sent = {
      document: getDocument(),
      data: valuesOf(startInputs),
      actions: list,
    };
    if (requester.value.trim()) sent.requester = requester.value.trim();
    if (startAt.value) sent.start_at = new Date(startAt.value).toISOString();
    return sent;
  }

  async function replay(list, said) {
    if (busy) return;
    setBusy(true);
    try {
      const response = await simulate(body(list));
      const reply = response.body || {};
      if (!response.ok) {
        const where = (reply.problems || []).map((p) => `${p.pointer}: ${p.message}`).join("; ");
        live.textContent = `The simulation was refused: ${reply.message || response.status}${where ? ` (${where})` : ""}`;
        return;
      }
      answer = reply;
      if (reply.error && typeof reply.error.action === "number") {
        actions = list.slice(0, reply.error.action);
      } else {
        actions = list;
      }
      draw();
      live.textContent = announce(reply, said);
    } catch (error) {
      live.textContent = `The simulation could not be reached: ${error.message}`;
    } finally {
      setBusy(false);
      updateControls();
      keepFocus();
    }
  }

  function announce(reply, said) {
    if (!reply.ok) return `The draft has ${reply.problems.length} problem(s); fix them to simulate.`;
    if (reply.error) return `That could not be done: ${reply.error.message}`;
    const steps = getDocument()?.steps;
    const where = reply.path.length ? ` Now at '${stepName(steps, reply.path[reply.path.length - 1])}'.` : "";
    const tasks = reply.tasks.length === 1 ? "1 open task" : `${reply.tasks.length} open tasks`;
    const ended = reply.outcome ? ` The instance ended: ${reply.status} (${reply.outcome}).` : "";
    return `${said}${where} ${tasks}.${ended}`;
  }

  function updateControls() {
    const running = answer && answer.ok && !answer.outcome;
    fireButton.disabled = busy || !running || !(answer.timers || []).some((t) => t.kind !== "due");
    advanceButton.disabled = busy || !running;
    backButton.disabled = busy || actions.length === 0;
    restartButton.disabled = busy || !answer;
  }

  function draw() {
    results.replaceChildren();
    if (!answer) return;
    if (!answer.ok) {
      onHighlight([]);
      const list = el("ul", { class: "sim-problems" });
      for (const problem of answer.problems || []) list.append(el("li", {}, `${problem.pointer || "/"}: ${problem.message}`));
      results.append(el("h3", {}, "Fix these first"), list);
      return;
    }
    onHighlight(answer.path);
    const steps = getDocument()?.steps;
    const status = String(answer.status).replaceAll("_", " ");
    const state = answer.outcome ? `ended: ${status} (${String(answer.outcome).replaceAll("_", " ")})` : status;
    results.append(el("p", { class: "sim-now", tabindex: "-1" }, `Status: ${state}. Clock: ${localTime(answer.now)}.`));
    if (answer.error) {
      results.append(el("p", { class: "sim-error", role: "alert" }, `Action ${answer.error.action === null ? "start" : answer.error.action + 1} could not be done: ${answer.error.message}`));
    }
    results.append(el("h3", {}, "Path"));
    const path = el("ol", { class: "sim-path" });
    for (const step of answer.path) path.append(el("li", {}, stepName(steps, step)));
    results.append(path);
    results.append(el("h3", {}, "Open tasks"));
    if (!answer.tasks.length) results.append(el("p", {}, "None."));
    for (const task of answer.tasks) results.append(taskCard(task));
    results.append(el("h3", {}, "Upcoming timers"));
    if (!answer.timers.length) results.append(el("p", {}, "None."));
    const timers = el("ul", { class: "sim-timers" });
    for (const timer of answer.timers) {
      timers.append(el("li", { "data-kind": timer.kind }, `${localTime(timer.at)} — ${kindWords(timer.kind)}: ${timer.text}`));
    }
    results.append(timers);
    results.append(el("h3", {}, "Timeline"));
    const timeline = el("ol", { class: "sim-timeline" });
    for (const entry of answer.timeline) {
      timeline.append(el("li", {}, `${localTime(entry.at)}${entry.step ? ` [${stepName(steps, entry.step)}]` : ""} ${entry.text}`));
    }
    results.append(timeline);
  }

  function taskCard(task) {
    const card = el("section", { class: "sim-task", "aria-label": `Task ${task.title}` });
    card.append(el("h4", {}, task.title));
    card.append(el("p", {}, `Goes to ${task.goes_to}.`));
    if (task.due_at) card.append(el("p", {}, `Due ${localTime(task.due_at)}.`));
    const step = findStep(getDocument()?.steps, task.step);
    const fields = step?.form ? formFields(context, step.form) : [];
    // The fields this step lets its assignee fill in, text prefilled with samples (a field
    // its rules hide is dropped by the server); choices only when required.
    const rules = step?.fields || {};
    const editable = fields.filter((f) => !["read_only", "hidden"].includes(rules[f.key]));
    const sample = (field) =>
      (field.options?.length && !field.required && rules[field.key] !== "required") ? undefined : sampleValue(field);
    const inputs = inputsFor(`${prefix}-${task.id}`, editable, sample);
    if (inputs.length) {
      const details = el("details");
      details.append(el("summary", {}, "Task data"), ...inputs.map((i) => i.row));
      card.append(details);
    }
    // An approval or review whose form has no comment field takes the comment sent with it:
    // a rejection needs one, on the server as on the task page (a sample prefilled).
    let comment = null;
    if (["approval", "review"].includes(step?.type) && !editable.some((f) => f.key.endsWith("comment"))) {
      const id = `${prefix}-${task.id}-comment`;
      comment = el("input", { id, type: "text", value: "A sample reason" });
      const row = el("div", { class: "sim-field" });
      row.append(el("label", { for: id }, "Comment (a rejection needs one)"), comment);
      card.append(row);
    }
    const buttons = el("div", { class: "sim-outcomes", role: "group", "aria-label": `Outcomes of ${task.title}` });
    for (const outcome of task.outcomes) {
      const words = outcomeName(step, outcome);
      const label = `Complete '${task.label || task.title}': ${words}`;
      const button = el("button", { type: "button" }, label);
      button.addEventListener("click", () => {
        const action = { complete: task.id, outcome, data: valuesOf(inputs) };
        if (comment && comment.value.trim()) action.comment = comment.value.trim();
        replay([...actions, action], `Completed '${task.label || task.title}': ${words}.`);
      });
      buttons.append(button);
    }
    card.append(buttons);
    return card;
  }

  function kindWords(kind) {
    return {
      escalation: "Escalation", sla_warning: "SLA warning", sla_breach: "SLA breach",
      wait: "Wait ends", due: "Due",
    }[kind] || kind;
  }

  start.addEventListener("submit", (event) => {
    event.preventDefault();
    syncStart();
    replay([], "Started.");
  });
  fireButton.addEventListener("click", () => replay([...actions, { fire: "next" }], "Jumped to the next timer."));
  advanceButton.addEventListener("click", () => {
    const duration = advanceInput.value.trim();
    replay([...actions, { advance: duration }], `Moved the clock on by ${duration}.`);
  });
  backButton.addEventListener("click", () => replay(actions.slice(0, -1), "Went back one step."));
  restartButton.addEventListener("click", () => replay([], "Restarted."));
  updateControls();

  return {
    /** Run again with the same actions (after the draft changed). */
    refresh: () => (answer ? replay(actions, "Simulated the changed draft again.") : undefined),
  };
}
