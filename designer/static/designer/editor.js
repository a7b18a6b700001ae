// The form designer page: loads the draft, applies every edit as a command with undo and
// redo, autosaves, previews with the server's renderer, publishes, shows versions and diffs.

import { Api } from "./api.js";
import * as commands from "./commands.js";
import { fieldId, renderCanvas, wireCanvas } from "./canvas.js";
import { renderProperties } from "./properties.js";
import { wireToolbar } from "./toolbar.js";
import { wireVersions } from "./versions.js";

/** Milliseconds of quiet before a draft is saved, and before the preview is asked for. */
const SAVE_DELAY_MS = 800;
const PREVIEW_DELAY_MS = 400;

const root = document.getElementById("designer");
const api = new Api(root.dataset.api);
const palette = JSON.parse(document.getElementById("palette-data").textContent);
const $ = (id) => document.getElementById(id);

const state = {
  history: null,
  revision: 0,
  selected: null,
  problems: [], // [{pointer, message}] from the last check, preview or publish
  saving: null,
  dirty: false,
  saveTimer: 0,
  previewTimer: 0,
  previewData: undefined,
};

function announce(text) {
  const region = $("announce");
  region.textContent = "";
  window.requestAnimationFrame(() => {
    region.textContent = text;
  });
}

function status(text) {
  $("save-status").textContent = text;
}

const doc = () => state.history.doc;

function problemsAt(place) {
  return state.problems.filter((p) => {
    const found = commands.pointerPlace(p.pointer);
    return found && found.page === place.page && found.index === place.index;
  });
}

function problemAt(rest) {
  if (!state.selected) return "";
  const found = problemsAt(state.selected).find((p) => commands.pointerPlace(p.pointer).rest === rest);
  return found ? found.message : "";
}

/**
 * Keep focus (and the caret) on the same control across a redraw. While typing
 * (`keepTyped`), the box keeps the text as typed: "image/*," is stored as one type, but the
 * person is about to type the second.
 */
function keepingFocus(draw, focusId, keepTyped = false) {
  const active = document.activeElement;
  const id = focusId || active?.id;
  const caret = active && "selectionStart" in active ? [active.selectionStart, active.selectionEnd] : null;
  const typed = keepTyped && caret ? active.value : null;
  draw();
  const again = id && document.getElementById(id);
  if (again && again !== document.activeElement) {
    if (typed !== null && again.tagName === active.tagName) again.value = typed;
    again.focus();
    if (focusId && again.tagName === "INPUT" && again.type === "text") {
      // Sent to a box (a new field's label, "Text"): typing replaces what it holds.
      again.select();
    } else if (!focusId && caret && "setSelectionRange" in again && again.type !== "number") {
      try {
        again.setSelectionRange(...caret);
      } catch {
        // inputs such as date have no caret
      }
    }
  }
}

function render(focusId, keepTyped = false) {
  keepingFocus(() => {
    const current = doc();
    try {
      renderCanvas($("canvas"), current, state.selected, problemsAt);
      renderProperties($("properties"), current, state.selected, { run, problemAt, move, remove });
    } catch (error) {
      // A draft is stored as sent: one the editor cannot draw is still shown as JSON.
      $("canvas").textContent = `This draft cannot be drawn (${error.message}); fix it in the JSON view or undo.`;
      $("properties").replaceChildren();
    }
    for (const input of document.querySelectorAll("[data-form-prop]")) {
      if (input !== document.activeElement) input.value = current[input.dataset.formProp] ?? "";
    }
    if ($("json") !== document.activeElement) $("json").value = JSON.stringify(current, null, 2);
    $("undo").disabled = !state.history.canUndo;
    $("redo").disabled = !state.history.canRedo;
  }, focusId, keepTyped);
}

/** Apply a command (doc -> doc; null when it cannot apply), then redraw, save and preview. */
function run(command, merge = null, focusId = undefined) {
  const next = command(doc());
  if (!state.history.apply(next, merge)) return false;
  changed(focusId, merge !== null);
  return true;
}

function changed(focusId, typing = false) {
  if (state.selected && !commands.fieldAt(doc(), state.selected)) state.selected = null;
  render(focusId, typing);
  state.dirty = true;
  status("Unsaved changes");
  window.clearTimeout(state.saveTimer);
  state.saveTimer = window.setTimeout(save, SAVE_DELAY_MS);
  schedulePreview();
}

function describe(place) {
  const field = commands.fieldAt(doc(), place);
  return `'${field?.label || field?.key || "field"}'`;
}

function position(place) {
  const all = commands.locate(doc());
  const index = all.findIndex((f) => f.page === place.page && f.index === place.index);
  const page = place.page >= 0 ? ` on page ${place.page + 1}` : "";
  return `position ${index + 1} of ${all.length}${page}`;
}

function select(place, focus = false) {
  state.selected = place;
  render(focus ? fieldId(place) : undefined);
}

function move(place, delta) {
  const moved = commands.moveField(doc(), place, delta);
  if (!moved) return announce(`${describe(place)} cannot move further ${delta < 0 ? "up" : "down"}.`);
  state.selected = moved.place;
  const onCanvas = document.activeElement?.classList.contains("canvas-select");
  run(() => moved.doc, null, onCanvas ? fieldId(moved.place) : undefined);
  announce(`${describe(moved.place)} moved to ${position(moved.place)}.`);
}

function moveTo(from, to) {
  const moved = commands.moveFieldTo(doc(), from, to);
  state.selected = moved.place;
  run(() => moved.doc, null, fieldId(moved.place));
  announce(`${describe(moved.place)} moved to ${position(moved.place)}.`);
}

function remove(place) {
  const name = describe(place);
  state.selected = null;
  run((d) => commands.removeField(d, place));
  const left = commands.locate(doc()).filter((f) => f.page === place.page);
  const next = left[Math.min(place.index, left.length - 1)];
  if (next) select({ page: next.page, index: next.index }, true);
  announce(`${name} removed. Undo brings it back.`);
}

function add(paletteIndex, place) {
  let target = place;
  if (!target && state.selected) target = { page: state.selected.page, index: state.selected.index + 1 };
  const added = commands.addField(doc(), palette[paletteIndex].field, target);
  state.selected = added.place;
  run(() => added.doc, null, "prop-label");
  announce(`${palette[paletteIndex].name} field added at ${position(added.place)}. Its properties are next.`);
}

/** Undo or redo, keeping the same field selected wherever the step puts it. */
function travel(step, words) {
  const key = commands.fieldAt(doc(), state.selected)?.key;
  if (!step()) return;
  const found = key && commands.locate(doc()).find((f) => f.field.key === key);
  if (found) state.selected = { page: found.page, index: found.index };
  const onCanvas = document.activeElement?.classList.contains("canvas-select");
  changed(found && onCanvas ? fieldId(state.selected) : undefined);
  announce(words);
}

const undo = () => travel(() => state.history.undo(), "Undone.");
const redo = () => travel(() => state.history.redo(), "Redone.");

async function save() {
  window.clearTimeout(state.saveTimer);
  if (state.saving) await state.saving;
  if (!state.dirty) return true;
  state.dirty = false;
  status("Saving…");
  state.saving = api.save(doc(), state.revision);
  const answer = await state.saving;
  state.saving = null;
  if (answer.ok) {
    state.revision = answer.body.revision;
    if (!state.dirty) status(`Draft saved (revision ${state.revision})`);
    return true;
  }
  state.dirty = true;
  status(answer.status === 409 ? "Not saved: the draft was changed elsewhere. Reload the page to see it." : `Not saved: ${answer.body.message}`);
  return false;
}

function schedulePreview() {
  window.clearTimeout(state.previewTimer);
  state.previewTimer = window.setTimeout(preview, PREVIEW_DELAY_MS);
}

async function preview() {
  const answer = await api.preview(doc(), state.previewData);
  if (answer.ok && !answer.body.ok) {
    state.problems = answer.body.problems || [];
    render();
    const loose = state.problems.filter((p) => !commands.pointerPlace(p.pointer));
    const words = loose.map((p) => `${p.pointer === "/title" ? "Title" : p.pointer || "The form"}: ${p.message}.`);
    $("preview-result").textContent = `Fix ${state.problems.length} problem(s) to see the preview; those of a field are shown at the field. ${words.join(" ")}`;
    return;
  }
  if (!answer.ok) return;
  const hadProblems = state.problems.length > 0;
  state.problems = [];
  if (hadProblems) render();
  keepingFocus(() => {
    $("preview").innerHTML = answer.body.html; // rendered and escaped by the server's templates
  });
  const errors = answer.body.errors.length;
  $("preview-result").textContent = state.previewData === undefined ? "" : errors ? `${errors} answer(s) would be refused.` : "These answers would be accepted.";
}

function previewAnswers() {
  const post = {};
  for (const [name, value] of new FormData($("preview"))) {
    const key = name.replace(/^preview\./, "");
    if (typeof value === "string") (post[key] = post[key] || []).push(value);
  }
  return post;
}

/** Say what came of publishing; `done`: it was done (not a refusal). */
function showOutcome(title, items, extra, done = false) {
  const box = $("outcome");
  box.dataset.kind = done ? "done" : "refused";
  const heading = document.createElement("h2");
  heading.textContent = title;
  const list = document.createElement("ul");
  for (const item of items) {
    const li = document.createElement("li");
    const place = item.pointer ? commands.pointerPlace(item.pointer) : null;
    if (place) {
      const link = document.createElement("button");
      link.type = "button";
      link.className = "link-button";
      link.textContent = `${describe(place)}: ${item.message}`;
      link.addEventListener("click", () => select({ page: place.page, index: place.index }, true));
      li.append(link);
    } else {
      li.textContent = item.workflow ? `Workflow '${item.workflow}' (${item.pointer}): ${item.message}` : `${item.pointer || "The form"}: ${item.message}`;
    }
    list.append(li);
  }
  box.replaceChildren(heading, list, ...(extra ? [extra] : []));
  box.hidden = false;
  box.focus();
}

async function publish(confirm = false) {
  if (!(await save())) return;
  const answer = await api.publish(state.revision, confirm);
  if (answer.ok) {
    state.problems = [];
    render();
    // The server says what happened in words, e.g. that the draft is identical to an older version.
    const words = answer.body.message || `Version ${answer.body.version} is published.`;
    showOutcome(words, [], null, true);
    announce(words);
    document.dispatchEvent(new CustomEvent("designer:published"));
  } else if (answer.status === 422) {
    state.problems = answer.body.problems || [];
    render();
    showOutcome("Nothing was published: fix these problems first", state.problems);
  } else if (answer.status === 409 && answer.body.code === "confirm") {
    const again = document.createElement("button");
    again.type = "button";
    again.textContent = "Publish anyway";
    again.addEventListener("click", () => publish(true));
    showOutcome("Published workflows use fields this version renames or removes", answer.body.warnings, again);
  } else {
    showOutcome(`Nothing was published: ${answer.body.message}`, []);
  }
}

async function applyJson() {
  const box = $("json-errors");
  let next;
  try {
    next = JSON.parse($("json").value);
  } catch (error) {
    box.textContent = `This is not JSON: ${error.message}`;
    return;
  }
  if (typeof next !== "object" || next === null || Array.isArray(next)) {
    box.textContent = "A form is a JSON object: { \"kind\": \"form\", ... }.";
    return;
  }
  run((d) => commands.replaceDocument(d, next));
  const answer = await api.check(next);
  const problems = answer.body.problems || [];
  box.replaceChildren(...problems.map(jsonProblem));
  if (!problems.length) box.textContent = "Applied; the form has no problems.";
  state.problems = problems;
  render();
}

/** One problem of the JSON view: its pointer and words; a field's is a button that selects it. */
function jsonProblem(problem) {
  const line = document.createElement("p");
  line.className = "error-message";
  const words = `${problem.pointer || "/"}: ${problem.message}`;
  const place = commands.pointerPlace(problem.pointer);
  if (!place) {
    line.textContent = words;
    return line;
  }
  const button = document.createElement("button");
  button.type = "button";
  button.className = "link-button";
  button.textContent = words;
  button.addEventListener("click", () => select({ page: place.page, index: place.index }, true));
  line.append(button);
  return line;
}

function wire() {
  wireCanvas($("canvas"), {
    select: (place) => select(place),
    move,
    moveTo,
    add,
    remove,
    pageTitle: (page, text) => run((d) => commands.setPageTitle(d, page, text), `page${page}`),
    removePage: (page) => run((d) => commands.removePage(d, page)),
  }, doc);
  for (const button of document.querySelectorAll("[data-add]")) {
    button.addEventListener("click", () => add(Number(button.dataset.add)));
    button.addEventListener("dragstart", (event) => event.dataTransfer.setData("application/x-flowdesk-add", button.dataset.add));
  }
  for (const input of document.querySelectorAll("[data-form-prop]")) {
    const name = input.dataset.formProp;
    input.addEventListener("input", () => run((d) => commands.setFormProperty(d, name, input.value), `form/${name}`));
  }
  $("add-page").addEventListener("click", () => {
    run(commands.addPage);
    announce(`Page ${doc().pages.length} added.`);
  });
  $("undo").addEventListener("click", undo);
  $("redo").addEventListener("click", redo);
  $("publish").addEventListener("click", () => publish(false));
  $("json-apply").addEventListener("click", applyJson);
  $("preview").addEventListener("input", () => {
    state.previewData = previewAnswers();
    schedulePreview();
  });
  $("preview").addEventListener("submit", (event) => event.preventDefault());
  document.addEventListener("keydown", (event) => {
    if (!(event.ctrlKey || event.metaKey) || event.target.closest("#json, #preview")) return;
    const key = event.key.toLowerCase();
    if (key === "z" || key === "y") {
      event.preventDefault();
      if (key === "y" || event.shiftKey) redo();
      else undo();
    }
  });
  window.addEventListener("beforeunload", (event) => {
    if (state.dirty) event.preventDefault();
  });
}

async function start() {
  const answer = await api.draft();
  if (!answer.ok) return status(`The draft could not be loaded: ${answer.body.message}`);
  state.history = new commands.History(answer.body.document);
  state.revision = answer.body.revision;
  wire();
  wireVersions(api);
  wireToolbar(document.querySelector(".designer-toolbar"));
  render();
  status(state.revision ? `Draft loaded (revision ${state.revision})` : "Nothing saved yet");
  root.dataset.ready = "true";
  performance.mark("designer:ready"); // what bench/designer.py reads as the time to open
  schedulePreview();
}

start();
