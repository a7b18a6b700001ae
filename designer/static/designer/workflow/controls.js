// The workflow properties panel's controls: a labelled input bound to one JSON Pointer of
// the document, the problems the checker found there shown next to it, and the pickers the
// panel offers again and again (a step, a field, a duration, a calendar).
//
// Every edit is `view.apply(label, doc => newDoc)`; `view.doc` is never changed. Text boxes
// apply on `change` (leaving the box, or Enter), so one edit is one undo step; a box that
// must be checked as it is typed (an expression) applies on `input`, with a merge key.

import { el } from "../dom.js";
import { getAt, removeAt, setAt } from "./pointer.js";
import { durationError, durationInWords, readDuration } from "./durations.js";

/** A stable element id for a pointer, so focus survives a redraw: "/steps/a/due" -> "wf-steps-a-due". */
export function idFor(at, suffix = "") {
  const base = `wf${at.replace(/[^A-Za-z0-9_]+/g, "-")}`;
  return suffix ? `${base}--${suffix}` : base;
}

/**
 * One drawing of the panel: knows the view, and collects the places problems can be shown
 * so that, once drawn, each problem goes to the deepest control at or above its pointer.
 */
export class Panel {
  constructor(view) {
    this.view = view;
    this.slots = [];
  }

  get doc() {
    return this.view.doc;
  }

  /**
   * Apply one edit: `fn` maps the document to the new one. `shown`: the panel shows the
   * edit already, as typed, and nothing else in it reads what changed: it is not drawn again.
   */
  apply(label, fn, merge, { shown = false } = {}) {
    const options = {};
    if (merge) options.merge = merge;
    if (shown) options.shown = true;
    this.view.apply(label, fn, options);
  }

  /** Set (or, with undefined / "", remove) the value at a pointer. */
  put(label, at, value, { shown = false } = {}) {
    const drop = value === undefined || value === "";
    this.apply(label, (doc) => (drop ? removeAt(doc, at, { prune: true }) : setAt(doc, at, value)), null, { shown });
  }

  /** A place for the problems at or under `at`; `input` gets `aria-describedby` to it. */
  slot(at, input = null) {
    this.made = (this.made || 0) + 1;
    const box = el("div", { class: "wf-problems", id: `${idFor(at)}--problems-${this.made}`, hidden: "hidden" });
    // A control registered after a group at the same pointer is the more precise place.
    this.slots = this.slots.filter((s) => s.at !== at);
    this.slots.push({ at, box, input });
    return box;
  }

  /** Put each problem of the view under `scope` in the deepest slot that takes it; the rest in `rest`. */
  distribute(scope, rest) {
    const left = [];
    for (const problem of this.view.problems || []) {
      const where = problem.pointer ?? "";
      if (scope && !(where === scope || where.startsWith(`${scope}/`))) continue;
      const best = this.slots
        .filter(({ at }) => where === at || where.startsWith(`${at}/`))
        .sort((a, b) => b.at.length - a.at.length)[0];
      if (!best) {
        left.push(problem);
        continue;
      }
      best.box.hidden = false;
      best.box.append(el("p", { class: "error-message" }, problem.message));
      if (best.input) {
        const described = new Set((best.input.getAttribute("aria-describedby") || "").split(" ").filter(Boolean));
        described.add(best.box.id);
        best.input.setAttribute("aria-describedby", [...described].join(" "));
        best.input.setAttribute("aria-invalid", "true");
      }
    }
    if (rest && left.length) {
      rest.hidden = false;
      const list = el("ul");
      for (const problem of left) list.append(el("li", {}, `${problem.pointer || "/"}: ${problem.message}`));
      rest.append(list);
    }
    return left;
  }
}

/** A labelled control for the value at `at`, with a hint and its problems. */
export function control(panel, at, words, input, { hint = "", id = idFor(at) } = {}) {
  const box = el("div", { class: "field" });
  input.id = id;
  box.append(el("label", { for: id }, words));
  if (hint) {
    box.append(el("p", { class: "hint", id: `${id}--hint` }, hint));
    input.setAttribute("aria-describedby", `${id}--hint`);
  }
  box.append(input, panel.slot(at, input));
  return box;
}

/**
 * A text box bound to `at`; `read` shows the value, `write` stores the text (undefined:
 * remove). `shown`: the text is stored as typed and nothing else in the panel reads it, so
 * storing it does not draw the panel again (see `Panel.apply`).
 */
export function textField(panel, at, words, label, { hint = "", multiline = false, read = (v) => v ?? "", write = (t) => t, list = null, placeholder = null, shown = false } = {}) {
  const input = multiline ? el("textarea", { rows: "3" }) : el("input", { type: "text", list, placeholder });
  input.value = read(getAt(panel.doc, at));
  input.addEventListener("change", () => panel.put(label, at, write(input.value), { shown }));
  return control(panel, at, words, input, { hint });
}

/** A number box bound to `at`; empty removes the setting. */
export function numberField(panel, at, words, label, { hint = "", min = null, max = null, step = null } = {}) {
  const input = el("input", { type: "number", min, max, step });
  const value = getAt(panel.doc, at);
  input.value = typeof value === "number" ? String(value) : "";
  input.addEventListener("change", () => {
    const text = input.value.trim();
    panel.put(label, at, text === "" ? undefined : Number(text));
  });
  return control(panel, at, words, input, { hint });
}

/** An <option> whose value is JSON, so numbers and true stay what they are. */
export function option(value, words, selected) {
  const node = el("option", { value: JSON.stringify(value) }, words);
  node.selected = Boolean(selected);
  return node;
}

/**
 * A select over `choices` ([value, words] pairs, or {group, choices}) bound to `at`. With
 * `none`, a first choice in those words removes the setting. A value that is none of the
 * choices stays, shown as "<value> (as written)", never lost.
 */
export function selectField(panel, at, words, label, choices, { none = null, hint = "", onChange = null } = {}) {
  const select = el("select");
  const current = getAt(panel.doc, at);
  fillSelect(select, choices, current, none);
  select.addEventListener("change", () => {
    const value = select.value === "" ? undefined : JSON.parse(select.value);
    if (onChange) onChange(value);
    else panel.put(label, at, value);
  });
  return control(panel, at, words, select, { hint });
}

/**
 * Option lists made already, by what they list (text): the panel is drawn on every edit, and
 * its pickers list the same steps, fields or groups each time, up to a hundred of them;
 * copying a list made once is much cheaper than making its options again.
 */
const madeOptions = new Map();
const MADE_OPTIONS_KEPT = 64;

/**
 * The options of `choices` (see selectField), made once and copied, with the values they
 * hold: as JSON, or as they are with `raw`.
 */
function optionsOf(choices, none, raw = false) {
  const key = JSON.stringify([none, raw, choices]);
  let made = madeOptions.get(key);
  if (!made) {
    const holder = document.createDocumentFragment();
    const known = new Set();
    if (none !== null) holder.append(el("option", { value: "" }, none));
    const add = (parent, [value, text]) => {
      known.add(raw ? value : JSON.stringify(value));
      parent.append(raw ? el("option", { value }, text) : option(value, text, false));
    };
    for (const choice of choices) {
      if (Array.isArray(choice)) add(holder, choice);
      else if (choice.choices.length) {
        const group = el("optgroup", { label: choice.group });
        choice.choices.forEach((c) => add(group, c));
        holder.append(group);
      }
    }
    if (madeOptions.size >= MADE_OPTIONS_KEPT) madeOptions.delete(madeOptions.keys().next().value);
    made = { holder, known };
    madeOptions.set(key, made);
  }
  return { nodes: made.holder.cloneNode(true), known: made.known };
}

/** Fill a select with choices (see selectField) and select `current`. */
export function fillSelect(select, choices, current, none = null) {
  const { nodes, known } = optionsOf(choices, none);
  select.append(nodes);
  const wanted = current === undefined ? undefined : JSON.stringify(current);
  if (wanted !== undefined && known.has(wanted)) {
    for (const node of select.options) {
      if (node.value === wanted) node.selected = true;
    }
  } else if (current !== undefined) {
    select.append(option(current, `${typeof current === "string" ? current : JSON.stringify(current)} (as written)`, true));
  }
  if (current === undefined && none !== null) select.value = "";
}

/** A checkbox bound to `at`: ticked writes `on`, unticked writes `off` (undefined: remove). */
export function checkboxField(panel, at, words, label, { on = true, off = undefined, checked = null, hint = "" } = {}) {
  const id = idFor(at);
  const box = el("div", { class: "field field--checkbox" });
  const input = el("input", { type: "checkbox", id });
  input.checked = checked ?? getAt(panel.doc, at) === on;
  input.addEventListener("change", () => panel.put(label, at, input.checked ? on : off));
  box.append(input, el("label", { for: id }, words));
  if (hint) {
    box.append(el("p", { class: "hint", id: `${id}--hint` }, hint));
    input.setAttribute("aria-describedby", `${id}--hint`);
  }
  box.append(panel.slot(at, input));
  return box;
}

/**
 * A duration box bound to `at`: ISO 8601 or plain words ("30 min"), said in words beside it
 * as it is typed, stored as ISO 8601 when the box is left. `working()` tells whether a
 * calendar counts it (then "3 working days").
 */
export function durationField(panel, at, words, label, { working = () => false, optional = true, hint = undefined } = {}) {
  const input = el("input", { type: "text", class: "wf-duration", placeholder: "PT30M, 4 hours, P3D", spellcheck: "false" });
  input.value = getAt(panel.doc, at) ?? "";
  const id = idFor(at);
  const said = el("span", { class: "wf-duration-words", id: `${id}--words`, "aria-live": "polite" });
  // While typing, the box says what it reads or what is wrong; once kept, a wrong value is
  // the check's to report at this setting, so drawn again it is not said a second time.
  const say = (typing) => {
    const iso = readDuration(input.value);
    if (input.value.trim() === "") said.textContent = optional || !typing ? "" : "a duration is needed";
    else if (iso) said.textContent = `${durationInWords(iso, { working: working() })}${iso !== input.value.trim() ? ` (${iso})` : ""}`;
    else said.textContent = typing ? durationError(input.value) : "";
  };
  say(false);
  input.addEventListener("input", () => say(true));
  input.addEventListener("change", () => {
    const text = input.value.trim();
    panel.put(label, at, text === "" ? undefined : readDuration(text) || text);
  });
  const box = control(panel, at, words, input, { hint: hint === undefined ? "ISO 8601 like PT30M or P3D, or words like 30 min, 2 hours, 3 days" : hint || "" });
  input.setAttribute("aria-describedby", `${input.getAttribute("aria-describedby") || ""} ${id}--words`.trim());
  box.insertBefore(said, input.nextSibling);
  return box;
}

/** A calendar picker bound to `at`: wall time (no calendar) or one of the context's calendars. */
export function calendarField(panel, at, words, label, { none = "Wall time (every hour of every day)", hint = "" } = {}) {
  const calendars = panel.view.context?.calendars || [];
  return selectField(panel, at, words, label, calendars.map((key) => [key, `Business hours: ${key}`]), { none, hint });
}

/** A picker of a step to go to, among `ids`. */
export function stepField(panel, at, words, label, ids, { none = "Choose a step", hint = "" } = {}) {
  return selectField(panel, at, words, label, ids.map((id) => [id, stepWords(panel.doc, id)]), { none, hint });
}

/** How a step is named in pickers: its label and id. */
export function stepWords(doc, id) {
  const found = stepsById(doc).get(id);
  return found?.label ? `${found.label} (${id})` : id;
}

/** A document -> its steps by id (the first of an id, nested ones included), found once. */
const stepsOfDocument = new WeakMap();

function stepsById(doc) {
  if (!doc || typeof doc !== "object") return new Map();
  let found = stepsOfDocument.get(doc);
  if (found) return found;
  found = new Map();
  const walk = (steps) => {
    for (const [key, step] of Object.entries(steps || {})) {
      if (!found.has(key)) found.set(key, step);
      if (step?.type === "parallel") Object.values(step.branches || {}).forEach((branch) => walk(branch?.steps));
    }
  };
  walk(doc.steps);
  stepsOfDocument.set(doc, found);
  return found;
}

/**
 * An "Insert a field…" picker: `insert(key)` is called with the field picked. A mouse (or
 * the opened list) inserts at once; the arrow keys only walk the list, and Enter inserts,
 * so a keyboard passing over the fields does not insert each one of them.
 */
export function insertPicker(id, words, fields, insert) {
  const select = el("select", { id, "aria-label": words, "aria-describedby": `${id}--hint` });
  select.append(optionsOf(fields.map((field) => [field.key, fieldWords(field)]), "Insert a field…", true).nodes);
  let byKey = false;
  select.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && select.value !== "") {
      event.preventDefault();
      insert(select.value);
      return;
    }
    byKey = true;
    window.setTimeout(() => { byKey = false; });
  });
  select.addEventListener("change", () => {
    if (!byKey && select.value !== "") insert(select.value);
  });
  const box = el("div", { class: "wf-insert" });
  box.append(select, el("p", { class: "hint", id: `${id}--hint` }, "With the keys: the arrows choose a field, Enter inserts it."));
  return box;
}

/** Text with `{{ key }}` added at its end, a space between. */
export function withField(text, key) {
  const current = text || "";
  return `${current}${current && !current.endsWith(" ") ? " " : ""}{{ ${key} }}`;
}

/** What a setting was, per pointer and kind, before its kind was changed: see `switchKind`. */
const before = new Map();

/**
 * The value of `at` when its kind changes from `from` (now `value`) to `to`: what it was
 * when it last was of kind `to`, else `starter()`. The arrow keys walk a select's choices,
 * each one a change: walking back to where one started gives back what was there.
 */
export function switchKind(at, from, value, to, starter) {
  if (from !== undefined && from !== null && value !== undefined) before.set(`${at}|${from}`, structuredClone(value));
  const kept = before.get(`${at}|${to}`);
  return kept === undefined ? starter() : structuredClone(kept);
}

/** A small button. */
export function button(text, attrs = {}, onClick = null) {
  const node = el("button", { type: "button", class: "small", ...attrs }, text);
  if (onClick) node.addEventListener("click", onClick);
  return node;
}

/** Up, down and remove buttons for item `index` of `count`, in words for screen readers. */
export function rowButtons(what, index, count, { up, down, remove }) {
  const box = el("span", { class: "wf-row-buttons" });
  if (up) box.append(button("Up", { "aria-label": `Move ${what} up`, disabled: index === 0 ? "disabled" : null }, up));
  if (down) box.append(button("Down", { "aria-label": `Move ${what} down`, disabled: index === count - 1 ? "disabled" : null }, down));
  if (remove) box.append(button("Remove", { class: "small danger", "aria-label": `Remove ${what}` }, remove));
  return box;
}

/** A fieldset with a legend and its problems. */
export function group(panel, at, legend, { hint = "" } = {}) {
  const box = el("fieldset", { class: "wf-group", id: idFor(at, "group") });
  box.append(el("legend", {}, legend));
  if (hint) box.append(el("p", { class: "hint" }, hint));
  box.append(panel.slot(at));
  return box;
}

/** The fields a condition or template at `step` may read, as the checker knows them. */
export function fieldsAt(view, step) {
  return view.fieldsAt?.[step] || [];
}

/** How a field is named in pickers. */
export function fieldWords(field) {
  const label = field.label && field.label !== field.key ? `${field.label} (${field.key})` : field.key;
  return field.maybe_missing ? `${label}, may be empty here` : label;
}

// ---------------------------------------------------------------- drawing again

const watched = new WeakSet();
/** A panel -> how far it is scrolled, as its last scroll event read it (see keptFocus). */
const scrolled = new WeakMap();
/** A kept control -> its twin of the latest drawing, whose listeners know the latest document. */
const twins = new WeakMap();

/**
 * Put `nodes` in `root` in place of what it shows, keeping the focus, the caret and text
 * typed but not yet applied. The focused select is kept itself when the new drawing has
 * the same one (same id, choices and value): a new node would start its type-ahead over,
 * so typing "service-desk-" would stop at "service-desk". Its events then go to its twin.
 */
export function redraw(root, nodes) {
  watch(root);
  const kept = keptFocus(root);
  const holder = root.ownerDocument.createDocumentFragment();
  holder.append(...nodes);
  const active = root.ownerDocument.activeElement;
  const fresh = kept && active?.tagName === "SELECT" ? holder.getElementById(kept.id) : null;
  if (fresh && sameSelect(active, fresh)) {
    const before = [...root.childNodes];
    copyAttributes(fresh, active);
    root.append(holder);
    // moveBefore keeps the focus and the type-ahead; a plain move loses both.
    if (fresh.parentNode.moveBefore) fresh.parentNode.moveBefore(active, fresh);
    else fresh.parentNode.insertBefore(active, fresh);
    fresh.remove();
    before.forEach((node) => node.remove());
    twins.set(active, fresh);
  } else {
    root.replaceChildren(holder);
  }
  restoreFocus(root, kept);
}

/** Whether two selects offer the same choices, in the same groups, with the same chosen. */
function sameSelect(a, b) {
  if (b.tagName !== "SELECT" || a.multiple !== b.multiple) return false;
  const said = (select) => JSON.stringify([...select.options].map((o) => [o.value, o.text, o.disabled, o.selected, o.parentElement.tagName === "OPTGROUP" ? o.parentElement.label : null]));
  return said(a) === said(b);
}

function copyAttributes(from, to) {
  for (const { name } of [...to.attributes]) if (!from.hasAttribute(name)) to.removeAttribute(name);
  for (const { name, value } of from.attributes) if (to.getAttribute(name) !== value) to.setAttribute(name, value);
}

/** Mark text typed but not yet applied, so a redraw keeps it; hand a kept control's events to its twin. */
function watch(root) {
  if (watched.has(root)) return;
  watched.add(root);
  root.addEventListener("scroll", () => { scrolled.set(root, root.scrollTop); }, { passive: true });
  root.addEventListener("input", (event) => { event.target.dataset.dirty = "1"; });
  root.addEventListener("change", (event) => { delete event.target.dataset.dirty; }, true);
  for (const type of ["input", "change"]) root.addEventListener(type, forward, true);
}

/** A kept select's own listeners are of an older drawing: its twin's act instead. */
function forward(event) {
  const twin = twins.get(event.target);
  if (!twin) return;
  event.stopPropagation();
  [...event.target.options].forEach((o, i) => { twin.options[i].selected = o.selected; });
  twin.dispatchEvent(new Event(event.type, { bubbles: true }));
}

function keptFocus(root) {
  const active = root.ownerDocument.activeElement;
  if (!active || !root.contains(active) || !active.id) return null;
  const text = typeof active.value === "string" && active.dataset.dirty === "1";
  let start = null;
  let end = null;
  try {
    start = active.selectionStart;
    end = active.selectionEnd;
  } catch {
    // Selects and checkboxes have no caret.
  }
  // The scroll as last seen: reading `scrollTop` now would lay the page out, just redrawn.
  return { id: active.id, value: text ? active.value : null, start, end, scroll: scrolled.get(root) || 0 };
}

function restoreFocus(root, kept) {
  if (!kept) return;
  const found = root.ownerDocument.getElementById(kept.id);
  if (!found || !root.contains(found)) return;
  if (kept.value !== null && found.value !== kept.value) {
    found.value = kept.value;
    found.dataset.dirty = "1";
  }
  if (found !== root.ownerDocument.activeElement) found.focus({ preventScroll: true });
  if (kept.start !== null) {
    try {
      found.setSelectionRange(kept.start, kept.end);
    } catch {
      // Not a text box any more.
    }
  }
  if (kept.scroll) root.scrollTop = kept.scroll; // unscrolled, it stays so: no layout asked for
}
