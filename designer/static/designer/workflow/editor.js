// The workflow designer page: loads the draft, applies every edit as one undoable command,
// autosaves, checks on every edit (on the server: one checker), shows the problems on the
// cards and in a list, publishes, imports and exports, and shows versions and diffs.
//
// Fast on big flows (issue 16: open < 300 ms, an edit shown with its check < 50 ms): the
// page comes with the draft, its check and the pickers' context in it, so it draws once; an
// edit sends its check before it is drawn, and redraws change only what changed (the
// canvas is patched, the properties panel is drawn again only when what it shows changed,
// and after a canvas edit only once, with its check); a check sends the fields each step
// may read only when they changed.
// `#workflow-designer[data-edit]` counts the edits, `[data-checked-edit]` names the edit
// whose check is shown.

import { Api } from "../api.js";
import { History } from "../commands.js";
import { wireToolbar } from "../toolbar.js";
import { wireVersions } from "../versions.js";
import { cardId, openAddMenu, renderCanvas, renderOutline, wireCanvas } from "./canvas.js";
import { buildLayout } from "./layout.js";
import * as model from "./model.js";

/**
 * The properties panel and the simulation, loaded once the flow is drawn: the page opens
 * with no step selected, so its first drawing needs neither: a dozen modules fewer to run
 * before it shows the flow (`designer/workflow_pages.py` names them last, to preload).
 */
const later = { properties: null, simulate: null };

/** Milliseconds of quiet before a draft is saved, and before what is typed is checked. */
const SAVE_DELAY_MS = 800;
const CHECK_DELAY_MS = 150;
/** Milliseconds the properties panel waits for an edit's check before it is drawn without. */
const PANEL_WAIT_MS = 100;
const ZOOMS = { min: 0.3, max: 2, step: 0.1 };

const $ = (id) => document.getElementById(id);
const root = $("workflow-designer");
const config = JSON.parse($("workflow-config").textContent);
const api = new Api(`${config.api}/${config.key}`);
const studio = new Api(config.api);

const state = {
  history: null,
  revision: 0,
  latestVersion: 0,
  selected: null, // {step} | {workflow: true} | {table} | null
  problems: [],
  problemsByStep: new Map(),
  warnings: [],
  fieldsAt: {},
  fieldsList: [], // every field once, as the checks sent them (`fields`)
  // What the page holds of the fields, as the server named it: a check sends only the rest.
  fieldsSeen: null,
  context: {},
  running: {},
  highlight: new Set(),
  clipboard: null,
  layout: null,
  layoutOf: null, // the document `layout` was built from
  panelDrawn: null, // what the properties panel was last drawn from (see renderPanel)
  slots: [],
  zoom: 1,
  dirty: false,
  dragging: false,
  redrawAfterDrag: false,
  saving: null,
  saveTimer: 0,
  checkTimer: 0,
  panelTimer: 0,
  settleTimer: 0,
  pointerDown: false,
  leaving: false, // a box's text is being stored as it is left (see wirePointer)
  openedSelect: null, // the drop-down the last pointer went down on
  afterPointer: null, // what waits for the pointer to come up (see drawPanelOnceSettled)
  edit: 0, // edits made since the page opened; each one is checked
};

const doc = () => state.history.doc;
const selectedStep = () => state.selected?.step ?? null;

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

function problemsOf(id) {
  return state.problemsByStep.get(id) || [];
}

function setProblems(problems, warnings = state.warnings) {
  state.problems = problems;
  state.warnings = warnings;
  state.problemsByStep = new Map();
  for (const problem of problems) {
    const id = model.stepOfPointer(problem.pointer);
    if (id === null) continue;
    if (!state.problemsByStep.has(id)) state.problemsByStep.set(id, []);
    state.problemsByStep.get(id).push(problem);
  }
}

// Drawing ------------------------------------------------------------------------------------

/**
 * Scroll the card `id` into view if it is out of it, once the next frame is drawn: the page
 * is laid out then, so where the card is costs nothing to read, where asking before the
 * frame (or scrolling a card already in view) would lay the page out once more.
 */
function reveal(id) {
  window.requestAnimationFrame(() => window.setTimeout(() => {
    const card = document.getElementById(id);
    if (!card) return;
    const box = card.getBoundingClientRect();
    const port = $("viewport").getBoundingClientRect();
    const top = Math.max(port.top, 0);
    const bottom = Math.min(port.bottom, window.innerHeight);
    const left = Math.max(port.left, 0);
    const right = Math.min(port.right, window.innerWidth);
    if (box.top < top || box.bottom > bottom || box.left < left || box.right > right) card.scrollIntoView({ block: "nearest", inline: "nearest" });
  }));
}

/**
 * Keep the focus (and caret) on the same control across a redraw, or move it to `focusId`.
 * The focus moves without scrolling, which would lay the page out at once; a card given the
 * focus is scrolled into view, if need be, once the next frame is drawn (see `reveal`).
 */
function keepingFocus(draw, focusId) {
  const active = document.activeElement;
  const id = focusId || active?.id;
  const where = !id && active && active !== document.body ? whereIs(active) : null;
  const caret = active && "selectionStart" in active ? [active.selectionStart, active.selectionEnd] : null;
  draw();
  const again = id ? document.getElementById(id) : where && findAgain(where);
  if (focusId && again) reveal(focusId);
  if (again && again !== document.activeElement) {
    again.focus({ preventScroll: true });
    if (focusId) return;
    if (caret && "setSelectionRange" in again && again.type !== "number") {
      try {
        again.setSelectionRange(...caret);
      } catch {
        // inputs such as date have no caret
      }
    }
  }
}

/** How to find a control without an id once it is drawn again (a row's "Move … up"
 * button): the nearest holder with an id, its kind, and the words it is known by. */
function whereIs(node) {
  const holder = node.parentElement?.closest("[id]");
  return holder ? { holder: holder.id, tag: node.tagName, name: accessibleName(node) } : null;
}

function accessibleName(node) {
  return node.getAttribute("aria-label") || node.textContent.trim();
}

function findAgain({ holder, tag, name }) {
  const box = document.getElementById(holder);
  return [...(box?.getElementsByTagName(tag) || [])].find((node) => accessibleName(node) === name) || null;
}

/**
 * Draw the page for the document as it is now: the canvas is patched, not made again.
 * `awaitCheck` (an edit made on the canvas, whose check is on its way) leaves the properties
 * panel to the check: what the panel offers (the fields a step may read) comes with it, so
 * the panel is drawn once, with it, not once before and again after (see `changed`). A
 * panel that shows another step than the one now selected is held meanwhile (see
 * `holdPanel`). `shown`: the edit was typed in the panel, which shows it already (see
 * `apply`).
 */
function render(focusId, awaitCheck = false, shown = false, left = false) {
  keepingFocus(() => {
    const current = doc();
    if (state.layoutOf !== current) {
      state.layout = buildLayout(current);
      state.layoutOf = current;
    }
    drawCanvas();
    renderOutline($("outline"), state.layout, selectedStep());
    renderProblems();
    if (!$("json-view").hidden) $("json").textContent = JSON.stringify(current, null, 2);
    if (shown) panelShows();
    else if (left) drawPanelOnceSettled();
    else if (!awaitCheck) renderPanel();
    else if (state.panelDrawn?.selected !== JSON.stringify(state.selected)) holdPanel();
    $("workflow-settings").setAttribute("aria-pressed", String(Boolean(state.selected?.workflow)));
    $("undo").disabled = !state.history.canUndo;
    $("redo").disabled = !state.history.canRedo;
  }, focusId);
}

function drawCanvas() {
  // Redrawing the canvas under a drag would drop the card being dragged: draw once it ends.
  if (state.dragging) {
    state.redrawAfterDrag = true;
    return;
  }
  state.slots = renderCanvas($("canvas"), {
    layout: state.layout,
    selected: selectedStep(),
    problemsOf,
    running: state.running,
    highlight: state.highlight,
  });
  if (state.zoom !== 1) zoomRoom(); // the flow drawn may be wider or taller now
}

/**
 * Draw the properties panel, unless it would show the same as it does: same selection and
 * context, same problems and fields where it looks, and the same of the document where it
 * looks (see `panelReads`): an edit of another step, or a check coming back, mostly changes
 * none of them. `force` draws it whatever.
 */
function renderPanel(force = false) {
  if (!later.properties) return; // drawn once it is loaded (see loadTheRest)
  releasePanel();
  const drawn = { reads: panelReads(doc()), selected: JSON.stringify(state.selected), context: state.context, seen: panelSees() };
  const last = state.panelDrawn;
  if (!force && last && sameList(last.reads, drawn.reads) && last.selected === drawn.selected && last.context === drawn.context && last.seen === drawn.seen) return;
  state.panelDrawn = drawn;
  later.properties.renderProperties($("properties"), {
    get doc() {
      return doc(); // what the panel's controls edit: the document as it is when they do
    },
    selection: state.selected,
    context: state.context,
    fieldsAt: state.fieldsAt,
    problems: state.problems,
    apply,
    select: (selection) => {
      state.selected = selection;
      render();
    },
    openForm,
  });
}

/**
 * Draw the panel once the focus has moved on. A box's text is stored as it is left: by Tab
 * or a click elsewhere, before the focus reaches the next control. Drawing the panel there
 * and then would replace that control under the browser, and the focus, with whatever is
 * typed next, would fall to the page's body. So it is drawn on the next turn, keeping the
 * focus where it went: after the click, when a pointer is down; and after a drop-down of
 * the panel the pointer opened has been chosen from or left.
 */
function drawPanelOnceSettled() {
  window.clearTimeout(state.settleTimer);
  const draw = () => keepingFocus(() => renderPanel());
  const settled = () => {
    if (state.pointerDown) {
      state.afterPointer = settled;
      return;
    }
    const active = document.activeElement;
    if (active?.tagName === "SELECT" && active === state.openedSelect && $("properties").contains(active)) {
      state.openedSelect = null;
      const once = () => {
        active.removeEventListener("change", once);
        active.removeEventListener("blur", once);
        window.setTimeout(draw);
      };
      active.addEventListener("change", once);
      active.addEventListener("blur", once);
      return;
    }
    draw();
  };
  state.settleTimer = window.setTimeout(settled);
}

/**
 * Know when a pointer is down, and on which drop-down, and when a box's text is stored as
 * it is left (its `change` comes once the focus is gone from it): see drawPanelOnceSettled.
 */
function wirePointer() {
  const textual = (node) => node instanceof HTMLTextAreaElement || (node instanceof HTMLInputElement && !["checkbox", "radio", "button", "submit", "range", "color", "file"].includes(node.type));
  document.addEventListener("change", (event) => {
    state.leaving = textual(event.target) && document.activeElement !== event.target;
  }, true);
  document.addEventListener("change", () => {
    state.leaving = false; // its handlers have run
  });
  document.addEventListener(
    "pointerdown",
    (event) => {
      const select = event.target instanceof Element ? event.target.closest("select") : null;
      state.pointerDown = true;
      state.openedSelect = select;
    },
    true,
  );
  const up = () => {
    state.pointerDown = false;
    const waiting = state.afterPointer;
    state.afterPointer = null;
    if (waiting) window.setTimeout(waiting); // after the click this pointer makes
  };
  document.addEventListener("pointerup", up, true);
  document.addEventListener("pointercancel", up, true);
}

/**
 * Hold the panel while it shows another step than the one selected, until the check of the
 * edit that selected it draws it (within PANEL_WAIT_MS): inert, so what is typed or clicked
 * meanwhile cannot go to the step it shows, and busy for assistive technology.
 */
function holdPanel() {
  const panel = $("properties");
  panel.inert = true;
  panel.setAttribute("aria-busy", "true");
}

function releasePanel() {
  const panel = $("properties");
  if (!panel.inert) return;
  panel.inert = false;
  panel.removeAttribute("aria-busy");
}

/**
 * The panel shows the edit already (text typed in one of its boxes, which nothing else in
 * the panel reads but the step's heading): note what it now shows instead of drawing it again.
 */
function panelShows() {
  if (!state.panelDrawn) return renderPanel();
  state.panelDrawn = { ...state.panelDrawn, reads: panelReads(doc()) };
  later.properties?.retitle($("properties"), doc(), state.selected);
}

function sameList(a, b) {
  return a.length === b.length && a.every((value, i) => value === b[i]);
}

/** A document -> its steps in words (ids, where, types, labels, statuses), made once. */
const outlines = new WeakMap();

/**
 * What the panel of the selection reads of a document: a step's panel reads its step (the
 * same object while it is unchanged: edits share what they do not change), the other
 * steps by id, type, label and status (pickers, statuses) and the workflow's settings;
 * other panels read the whole document.
 */
function panelReads(current) {
  const id = selectedStep();
  const found = id && model.findStep(current, id);
  if (!found) return [current];
  if (!outlines.has(current)) {
    const words = model.allSteps(current).map((s) => [s.id, s.scope, s.step?.type, s.step?.label, s.step?.status]);
    outlines.set(current, JSON.stringify(words));
  }
  const settings = Object.entries(current).filter(([key]) => key !== "steps").flat();
  return [found.step, found.pointer, outlines.get(current), ...settings];
}

/** The problems and fields the panel of the selection shows, as text to compare. */
function panelSees() {
  if (!state.selected) return "";
  const id = selectedStep();
  const at = id && model.findStep(doc(), id)?.pointer;
  if (!at) return JSON.stringify([state.problems, state.fieldsAt]);
  const under = state.problems.filter((p) => p.pointer === at || (p.pointer || "").startsWith(`${at}/`));
  return JSON.stringify([under, state.fieldsAt[id] || null]);
}

/**
 * Take the fields each step may read from a check's compact answer, as the panel reads them
 * (`state.fieldsAt`: `{step: [{key, label, type, form_type?, options?, step, maybe_missing}]}`).
 * The answer lists every field once in `fields` (sent when the list changed), a step's as
 * `[index in fields, the step filling it in, maybe_missing]` in `fields_at` (sent for the steps
 * whose fields changed), and names each step's in `fields_steps`: a step not sent keeps what
 * the page holds, a step no longer named is gone.
 */
function takeFields(checked) {
  if (checked.fields) state.fieldsList = checked.fields;
  const fields = state.fieldsList;
  const sent = checked.fields_at || {};
  const made = new Map(); // an entry, as text -> its field, shared by the steps it reaches
  const found = {};
  for (const step of Object.keys(checked.fields_steps || {})) {
    const entries = sent[step];
    found[step] = entries
      ? entries.map((entry) => {
          const key = `${entry[0]}|${entry[1]}|${entry[2]}`; // index, step (an id or null), boolean
          if (!made.has(key)) made.set(key, { ...fields[entry[0]], step: entry[1], maybe_missing: entry[2] });
          return made.get(key);
        })
      : state.fieldsAt[step] || [];
  }
  state.fieldsAt = found;
  state.fieldsSeen = { fields: checked.fields_digest, steps: checked.fields_steps || {} };
}

function problemButton(problem, prefix = "") {
  const id = model.stepOfPointer(problem.pointer);
  const table = /^\/tables\/([^/]+)/.exec(problem.pointer || "");
  const route = model.routeOfPointer(problem.pointer);
  const where = id ? `Step ${id}${route ? `, ${route}` : ""}` : table ? `Table ${table[1]}` : `Workflow ${problem.pointer || ""}`.trim();
  const button = document.createElement("button");
  button.type = "button";
  button.className = "link-button";
  button.textContent = `${prefix}${where}: ${problem.message}`;
  button.addEventListener("click", () => {
    const onCanvas = id && model.findStep(doc(), id);
    if (onCanvas) select(id, true);
    else {
      state.selected = table ? { table: table[1] } : { workflow: true };
      render();
    }
    const control = controlOf(problem);
    if (control) {
      control.focus();
      control.scrollIntoView({ block: "nearest" });
    } else if (!onCanvas) $("properties").scrollIntoView({ block: "nearest" });
  });
  return button;
}

/** The visible control of the properties panel that shows a problem, if one does. */
function controlOf(problem) {
  const visible = (node) => node.getClientRects().length > 0 && !node.disabled;
  for (const box of $("properties").querySelectorAll(".wf-problems:not([hidden])")) {
    if (!box.textContent.includes(problem.message)) continue;
    const described = $("properties").querySelector(`[aria-describedby~="${CSS.escape(box.id)}"]`);
    if (described && visible(described)) return described;
    const near = [...(box.parentElement?.querySelectorAll("input, select, textarea, button") || [])].find(visible);
    if (near) return near;
  }
  return null;
}

function renderProblems() {
  const items = [
    ...state.problems.map((p) => problemButton(p)),
    ...state.warnings.map((p) => problemButton(p, "Warning: ")),
  ];
  $("problems").replaceChildren(
    ...items.map((button) => {
      const li = document.createElement("li");
      li.append(button);
      return li;
    }),
  );
}

function showProblemsSummary() {
  const count = state.problems.length;
  const warnings = state.warnings.length ? ` and ${state.warnings.length} warning(s)` : "";
  $("problems-summary").textContent = count ? `${count} problem(s)${warnings}: publishing waits until they are fixed.` : `No problems${warnings}.`;
}

// Editing ------------------------------------------------------------------------------------

/**
 * Apply `fn` (doc -> new doc) as one undoable edit; typing in one box merges into one.
 * `options.merge` says the edit is made as it is typed (every keystroke, one undo step per
 * box): its check waits for a pause in the typing, where any other edit is checked at once.
 * `options.shown` says the panel shows the edit already (see `panelShows`). An edit stored
 * as its box is left draws the panel once the focus has moved on (see `drawPanelOnceSettled`).
 */
function apply(label, fn, options = {}) {
  const active = document.activeElement;
  const typing = active && (active.tagName === "TEXTAREA" || (active.tagName === "INPUT" && !["checkbox", "radio", "button"].includes(active.type)));
  const next = fn(doc());
  if (next === null || next === undefined || next === doc()) return false;
  const asTyped = options.merge !== undefined && options.merge !== null;
  state.history.apply(next, asTyped ? `${label}|${options.merge}` : typing ? `${label}|${active.id}` : null);
  changed(undefined, asTyped, true, Boolean(options.shown), Boolean(state.leaving) && !asTyped);
  if (!typing) announce(`${label}.`);
  return true;
}

/** Run a structural command from model.js; an EditError is announced, not thrown. */
function command(run, words, focus = true) {
  let result;
  try {
    result = run(doc());
  } catch (error) {
    if (!(error instanceof model.EditError)) throw error;
    announce(error.message);
    status(error.message);
    return null;
  }
  state.history.apply(result.doc);
  if (result.step && model.findStep(result.doc, result.step)) state.selected = { step: result.step };
  changed(focus && result.step ? cardId(result.step) : undefined);
  announce(typeof words === "function" ? words(result) : words);
  return result;
}

/**
 * After an edit: check it (sent before the edit is drawn, so the server works while the page
 * draws; while typing, once the typing pauses), draw it, and save it a little later.
 * `inPanel`: the edit was made in the properties panel (see `render`'s `awaitCheck`);
 * `shown`: the panel shows it already.
 */
function changed(focusId, typing = false, inPanel = false, shown = false, left = false) {
  if (state.selected?.step && !model.findStep(doc(), state.selected.step)) state.selected = null;
  state.edit += 1; // an answer to an earlier document is stale from now on
  root.dataset.edit = String(state.edit);
  window.clearTimeout(state.checkTimer);
  window.clearTimeout(state.panelTimer);
  // An edit made in the panel shows there at once (the next control may depend on it);
  // one made on the canvas leaves the panel to its check, within PANEL_WAIT_MS.
  const awaitCheck = !typing && !inPanel;
  if (typing) {
    checking(true);
    state.checkTimer = window.setTimeout(check, CHECK_DELAY_MS);
  } else check();
  if (awaitCheck) state.panelTimer = window.setTimeout(() => keepingFocus(() => renderPanel()), PANEL_WAIT_MS);
  render(focusId, awaitCheck, shown, left);
  state.dirty = true;
  status("Unsaved changes");
  window.clearTimeout(state.saveTimer);
  state.saveTimer = window.setTimeout(save, SAVE_DELAY_MS);
}

/** Mark the problems list busy from an edit until the check of the latest document is back. */
function checking(busy) {
  const section = $("problems").closest("section");
  if (busy === section.hasAttribute("aria-busy")) return;
  if (busy) section.setAttribute("aria-busy", "true");
  else section.removeAttribute("aria-busy");
}

function position(id) {
  const order = state.layout.order;
  return `step ${order.indexOf(id) + 1} of ${order.length}`;
}

function select(id, focus = false) {
  state.selected = { step: id };
  render(focus ? cardId(id) : undefined);
}

/**
 * F2 on a card: to its properties, the panel's first control (a Tab from the card passes
 * the cards and the lanes' "+" first: twenty presses in a flow of eight steps). Escape in
 * the panel comes back to the card.
 */
function properties(id) {
  if (selectedStep() !== id) select(id);
  else renderPanel();
  const first = $("properties").querySelector("input:not([type=hidden]):not([disabled]), select:not([disabled]), textarea:not([disabled]), button:not([disabled])");
  first?.focus();
}

/** Where a new step goes with nothing said: after the selection, else before the first end. */
function defaultPlace() {
  const id = selectedStep();
  if (id) return model.pasteWhere(doc(), id);
  const seq = buildLayout(doc()).seq;
  const slots = seq.filter((item) => item.kind === "slot");
  const beforeEnd = slots.find((slot) => model.findStep(doc(), slot.target)?.step?.type === "end");
  const slot = beforeEnd || slots[slots.length - 1];
  return slot ? { routes: slot.routes } : { routes: ["/first"] };
}

function add(type, where) {
  const name = config.palette.find((entry) => entry.type === type)?.name || type;
  command((d) => model.addStep(d, type, where || defaultPlace(), state.context), (r) => `${name} '${r.step}' added, ${position(r.step)}.`);
}

function addFromPalette(type) {
  let where;
  try {
    where = defaultPlace();
  } catch (error) {
    if (!(error instanceof model.EditError)) throw error;
    return announce(error.message);
  }
  add(type, where);
}

function move(id, delta) {
  command((d) => model.moveStep(d, id, delta), () => `'${id}' moved ${delta < 0 ? "up" : "down"}, now ${position(id)}.`);
}

function moveTo(id, where) {
  command((d) => model.moveStepTo(d, id, where), () => `'${id}' moved, now ${position(id)}.`);
}

function remove(id) {
  const index = state.layout.order.indexOf(id);
  const result = command((d) => model.removeStep(d, id), (r) => [`'${id}' removed.`, r.note, "Undo brings it back."].filter(Boolean).join(" "), false);
  if (!result) return;
  const order = state.layout.order;
  const next = order[Math.min(index, order.length - 1)];
  if (next) select(next, true);
}

function copy(id) {
  state.clipboard = { id, step: structuredClone(model.findStep(doc(), id).step) };
  announce(`'${id}' copied. Ctrl+V pastes it after the selected step.`);
}

function paste(id) {
  if (!state.clipboard) return announce("Nothing copied yet: Ctrl+C on a step copies it.");
  const { clipboard } = state;
  command((d) => model.pasteStep(d, clipboard.id, clipboard.step, model.pasteWhere(d, id)), (r) => `A copy of '${clipboard.id}' added as '${r.step}', ${position(r.step)}.`);
}

function openSlot(anchor, slot) {
  openAddMenu(anchor, config.palette, (type) => add(type, { routes: slot.routes }));
}

function addAfter(id, anchor) {
  let where;
  try {
    where = model.pasteWhere(doc(), id);
  } catch (error) {
    if (!(error instanceof model.EditError)) throw error;
    return announce(error.message);
  }
  openAddMenu(anchor, config.palette, (type) => add(type, where));
}

/**
 * Undo or redo, keeping the same step selected when it is still there, and the focus on the
 * control it was on when that is still there (see `keepingFocus`); else on the card of a
 * step the undo touched (see `model.touchedSteps`), the selected card, or Undo or Redo,
 * never on the page's body, from where a keyboard user would start over at the top.
 */
function travel(step, words, button) {
  const before = doc();
  if (!step()) return;
  changed(undefined, false, $("properties").contains(document.activeElement));
  const now = document.activeElement;
  if (now?.classList.contains("wf-card-select")) reveal(now.id); // an undone move takes it back
  else if (!now || now === document.body || now.disabled) {
    const id = [...model.touchedSteps(before, doc()), selectedStep()].find((s) => s && document.getElementById(cardId(s)));
    if (id) {
      $(cardId(id)).focus({ preventScroll: true });
      reveal(cardId(id));
    } else $($(button).disabled ? (button === "undo" ? "redo" : "undo") : button).focus();
  }
  announce(words);
}

const undo = () => travel(() => state.history.undo(), "Undone.", "undo");
const redo = () => travel(() => state.history.redo(), "Redone.", "redo");

// The server: saving, checking, publishing --------------------------------------------------

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
  status(
    answer.status === 409
      ? "Not saved: this draft was changed elsewhere (another tab or person). Reload the page to see that version; your edits here are not saved."
      : `Not saved: ${answer.body.message}`,
  );
  return false;
}

/** Check the document as it is now; an answer to an older document is dropped. */
async function check() {
  window.clearTimeout(state.checkTimer);
  const edit = state.edit;
  checking(true);
  const answer = await api.check(doc(), { fields_seen: state.fieldsSeen });
  if (edit !== state.edit) return;
  showCheck(answer, edit);
}

/** Show the check of edit number `edit`: the problems on the cards, in the list and panel. */
function showCheck(answer, edit) {
  window.clearTimeout(state.panelTimer);
  checking(false);
  if (!answer.ok) {
    $("problems-summary").textContent = `The check did not run: ${answer.body.message}`;
    keepingFocus(() => renderPanel());
  } else {
    const problems = answer.body.problems || [];
    const warnings = answer.body.warnings || [];
    // Most edits leave the problems as they were: the cards and the list are drawn already.
    const same = JSON.stringify([problems, warnings]) === JSON.stringify([state.problems, state.warnings]);
    if (!same) setProblems(problems, warnings);
    // Only the fields that changed come (see `takeFields`).
    takeFields(answer.body);
    showProblemsSummary();
    keepingFocus(() => {
      if (!same) {
        drawCanvas();
        renderProblems();
      }
      renderPanel();
    });
  }
  root.dataset.checkedEdit = String(edit);
  performance.mark("designer:checked");
}

/** Say what came of publishing or importing; `done`: it was done (not a refusal). */
function showOutcome(title, problems, done = false) {
  const box = $("outcome");
  box.dataset.kind = done ? "done" : "refused";
  const heading = document.createElement("h2");
  heading.textContent = title;
  const list = document.createElement("ul");
  for (const problem of problems) {
    const li = document.createElement("li");
    li.append(problemButton(problem));
    list.append(li);
  }
  box.replaceChildren(heading, ...(problems.length ? [list] : []));
  box.hidden = false;
  box.focus();
}

async function publish() {
  if (!(await save())) return showOutcome("Nothing was published: the draft could not be saved.", []);
  const answer = await api.call("POST", "/publish", { revision: state.revision });
  if (answer.ok) {
    const words = answer.body.message || `Version ${answer.body.version} is published.`;
    showOutcome(words, [], true);
    announce(words);
    document.dispatchEvent(new CustomEvent("designer:published"));
    loadRunning();
  } else if (answer.status === 422) {
    setProblems(answer.body.problems || []);
    showProblemsSummary();
    render();
    showOutcome("Nothing was published: fix these problems first", state.problems);
  } else {
    showOutcome(`Nothing was published: ${answer.body.message}`, []);
  }
}

async function loadRunning() {
  const answer = await api.versions();
  if (!answer.ok) return;
  showRunning(answer.body.running || {});
  render();
}

function showRunning(running) {
  state.running = running.steps || {};
  const entries = Object.entries(state.running).filter(([, n]) => n > 0);
  const total = entries.reduce((sum, [, n]) => sum + n, 0);
  $("running").textContent = running.version
    ? total
      ? `Version ${running.version} has ${total} instance(s) running now: ${entries.map(([id, n]) => `${n} at '${id}'`).join(", ")}. The counts are on the cards.`
      : `No instance of version ${running.version} is running now.`
    : "";
}

// Import, export, zoom -----------------------------------------------------------------------

function exportJson() {
  const blob = new Blob([`${JSON.stringify(doc(), null, 2)}\n`], { type: "application/json" });
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = `${config.key}.json`;
  document.body.append(link);
  link.click();
  link.remove();
  window.setTimeout(() => URL.revokeObjectURL(link.href), 1000);
  announce(`The workflow is downloaded as ${config.key}.json.`);
}

async function importJson(file) {
  let next;
  try {
    next = JSON.parse(await file.text());
  } catch (error) {
    return showOutcome(`${file.name} is not JSON: ${error.message}`, []);
  }
  if (typeof next !== "object" || next === null || Array.isArray(next)) {
    return showOutcome(`${file.name} is not a workflow: a workflow is a JSON object, { "kind": "workflow", ... }.`, []);
  }
  const renamed = next.key !== undefined && next.key !== config.key;
  const document_ = { ...next, key: config.key };
  state.selected = null;
  state.history.apply(structuredClone(document_));
  changed();
  const words = `${file.name} imported${renamed ? `; its key '${next.key}' became '${config.key}', the key of this workflow` : ""}. Undo brings the previous draft back.`;
  showOutcome(words, [], true);
  announce(words);
}

function setZoom(zoom) {
  state.zoom = Math.min(ZOOMS.max, Math.max(ZOOMS.min, Math.round(zoom * 100) / 100));
  $("canvas").style.transform = `scale(${state.zoom})`;
  zoomRoom();
  $("zoom-level").textContent = `${Math.round(state.zoom * 100)}%`;
}

/**
 * A scaled canvas keeps the room it takes unscaled (a transform changes no layout): the
 * viewport went on scrolling over it, and Fit left the flow cut off at its left. Margins
 * give back what the scale takes away (or add what it adds).
 */
function zoomRoom() {
  const canvas = $("canvas");
  const scaled = state.zoom !== 1;
  canvas.style.marginRight = scaled ? `${(state.zoom - 1) * canvas.offsetWidth}px` : "";
  canvas.style.marginBottom = scaled ? `${(state.zoom - 1) * canvas.offsetHeight}px` : "";
}

function fit() {
  const viewport = $("viewport");
  const style = getComputedStyle(viewport);
  const room = viewport.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  // Rounded down to the percent the zoom is kept in: rounded up, it would overflow again.
  setZoom(Math.min(1, Math.floor((room / ($("canvas").offsetWidth || 1)) * 100) / 100));
  viewport.scrollLeft = 0;
}

function toggleJson() {
  const view = $("json-view");
  view.hidden = !view.hidden;
  $("json-toggle").setAttribute("aria-pressed", String(!view.hidden));
  $("json-toggle").textContent = view.hidden ? "Show the JSON" : "Hide the JSON";
  if (!view.hidden) $("json").textContent = JSON.stringify(doc(), null, 2);
}

// The pickers' context, and the simulation ---------------------------------------------------

/** Open a form in the form designer (a new tab); the pickers refresh when the page is back. */
async function openForm(formKey) {
  await save();
  window.open(config.formDesigner.replace("__key__", encodeURIComponent(formKey)), "_blank", "noopener");
  window.addEventListener("focus", loadContext, { once: true });
}

async function loadContext() {
  const [context, workflows] = await Promise.all([studio.call("GET", "/context"), studio.call("GET", "")]);
  state.context = context.ok ? context.body : {};
  if (workflows.ok) state.context = { ...state.context, workflows: workflows.body.workflows };
  if (state.history) render();
}

function startSimulation() {
  later.simulate.renderSimulation($("simulation"), {
    api,
    getDocument: doc,
    context: state.context,
    onHighlight: (ids) => {
      state.highlight = new Set(Array.isArray(ids) ? ids : ids ? [ids] : []);
      render();
    },
  });
}

// Wiring -------------------------------------------------------------------------------------

function isTyping(target) {
  return target.closest("input, textarea, select, [contenteditable]") !== null;
}

/**
 * Know when a drag is on, so a redraw waits for it (see render). A drop ends it before the
 * canvas handles the drop on the slots as drawn; the redraw waited for comes after that.
 */
function wireDragging() {
  const done = () => {
    if (!state.dragging) return;
    state.dragging = false;
    if (state.redrawAfterDrag) {
      state.redrawAfterDrag = false;
      window.setTimeout(() => render());
    }
  };
  document.addEventListener("dragstart", () => {
    state.dragging = true;
  });
  document.addEventListener("drop", done, true);
  document.addEventListener("dragend", done);
}

function wire() {
  wireCanvas($("canvas"), { select, move, moveTo, add, addAfter, remove, copy, paste, openSlot, properties }, (i) => state.slots[i]);
  $("properties").addEventListener("keydown", (event) => {
    if (event.key !== "Escape" || event.defaultPrevented || !selectedStep()) return;
    if (event.target.tagName === "SELECT" || event.target.closest("[role=listbox], [role=dialog]")) return;
    $(cardId(selectedStep()))?.focus();
  });
  for (const button of document.querySelectorAll("[data-add-type]")) {
    button.addEventListener("click", () => addFromPalette(button.dataset.addType));
    button.addEventListener("dragstart", (event) => event.dataTransfer.setData("application/x-flowdesk-add-type", button.dataset.addType));
  }
  wireDragging();
  wirePointer();
  // Back from another tab (Admin, where a group or a person was just added): the pickers
  // offer what there is now, not what there was when the page opened.
  let hidden = false;
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "hidden") hidden = true;
    else if (hidden) {
      hidden = false;
      loadContext();
    }
  });
  // Skip to the canvas: onto its selected card, or its first, where the arrow keys work at once.
  $("skip-to-canvas").addEventListener("click", (event) => {
    const stop = $("canvas").querySelector(".wf-card-select[aria-pressed=true]") || $("canvas").querySelector(".wf-card-select") || $("canvas").querySelector(".wf-add");
    if (!stop) return; // to the link's own target, the canvas's heading
    event.preventDefault();
    stop.focus({ preventScroll: true });
    reveal(stop.id);
  });
  $("outline").addEventListener("click", (event) => {
    const item = event.target.closest("[data-outline]");
    if (item) select(item.dataset.outline, true);
  });
  $("workflow-settings").addEventListener("click", () => {
    state.selected = { workflow: true };
    render();
  });
  $("undo").addEventListener("click", undo);
  $("redo").addEventListener("click", redo);
  $("publish").addEventListener("click", publish);
  $("export").addEventListener("click", exportJson);
  $("import").addEventListener("click", () => $("import-file").click());
  $("import-file").addEventListener("change", (event) => {
    const [file] = event.target.files;
    if (file) importJson(file);
    event.target.value = "";
  });
  $("zoom-in").addEventListener("click", () => setZoom(state.zoom + ZOOMS.step));
  $("zoom-out").addEventListener("click", () => setZoom(state.zoom - ZOOMS.step));
  $("zoom-fit").addEventListener("click", fit);
  $("json-toggle").addEventListener("click", toggleJson);
  document.addEventListener("keydown", (event) => {
    if (!(event.ctrlKey || event.metaKey) || isTyping(event.target)) return;
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

/**
 * Draw the draft the page came with, checked, in one go: the page holds the draft, its
 * check, the pickers' context and the running instances (`config.opening`).
 */
function start() {
  const { draft, check: checked, context, running } = config.opening;
  state.history = new History(draft.document);
  state.revision = draft.revision;
  state.latestVersion = draft.latest_version;
  state.context = context;
  setProblems(checked.problems || [], checked.warnings || []);
  takeFields(checked);
  showRunning(running);
  wire();
  wireVersions(api);
  wireToolbar(document.querySelector(".designer-toolbar"));
  render();
  showProblemsSummary();
  status(state.revision ? `Draft loaded (revision ${state.revision})` : "Nothing saved yet");
  root.dataset.edit = "0";
  root.dataset.checkedEdit = "0";
  root.dataset.ready = "true";
  performance.mark("designer:ready"); // what a benchmark reads as the time to open
  performance.mark("designer:checked");
  loadTheRest();
}

/** Load the properties panel and the simulation, and draw them (see `later`). */
async function loadTheRest() {
  const [properties, simulate] = await Promise.all([import("./properties.js"), import("./simulate.js")]);
  later.properties = properties;
  later.simulate = simulate;
  keepingFocus(() => renderPanel(true));
  startSimulation();
}

start();
