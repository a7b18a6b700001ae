// Progressive enhancement of Flowdesk forms (DESIGN.md §3): live show/hide and
// validation answered by the server, "Add a row" for tables. The page works
// without this file; nothing here is trusted by the server.
//
// Contract: a <form data-validate-url="URL"> rendered with forms/macros.html.
// On change (and on input, debounced) it POSTs the form's fields, without file
// inputs, as application/x-www-form-urlencoded with Accept: application/json,
// and expects
//   {"valid": bool,
//    "errors": [{"field": "items.0.qty", "pointer": "/items/0/qty", "message": "..."}],
//    "visible": ["name", ...],      // keys of the fields that show now
//    "required": ["name", ...],     // optional: keys required now
//    "calculated": {"total": "12"}} // optional: texts of calculated fields

const DEBOUNCE_MS = 300;
const ANNOUNCE_MS = 4000;

/** Split an attribute that holds a list of ids. */
function idList(element, name) {
  return (element.getAttribute(name) || "").split(/\s+/).filter(Boolean);
}

function setIdList(element, name, ids) {
  if (ids.length) element.setAttribute(name, ids.join(" "));
  else element.removeAttribute(name);
}

/** The elements of a slot ([data-path]) that belong to it and not to a nested slot. */
function own(slot, selector) {
  return [...slot.querySelectorAll(selector)].filter(
    (element) => element.closest("[data-path]") === slot,
  );
}

class EnhancedForm {
  constructor(form) {
    this.form = form;
    this.url = form.dataset.validateUrl;
    this.touched = new Set();
    this.timer = 0;
    this.request = null;
    this.announcer = document.createElement("div");
    this.announcer.className = "visually-hidden";
    this.announcer.setAttribute("aria-live", "polite");
    this.form.append(this.announcer);
    // The server's messages replace the browser's own bubbles.
    this.form.noValidate = true;

    for (const error of form.querySelectorAll(".field-error:not([hidden])")) {
      const slot = error.closest("[data-path]");
      if (slot) this.touched.add(slot.dataset.path);
    }
    for (const button of form.querySelectorAll("[data-add-row]")) {
      button.hidden = this.rowsFull(button);
    }
    form.addEventListener("change", (event) => this.onChange(event));
    form.addEventListener("input", (event) => this.onInput(event));
    form.addEventListener("focusout", (event) => this.touch(event.target));
    form.addEventListener("click", (event) => this.onClick(event));
    this.validate();
  }

  /** Remember that the person has been in a field (and in the table around it). */
  touch(target) {
    let slot = target instanceof Element ? target.closest("[data-path]") : null;
    while (slot && this.form.contains(slot)) {
      this.touched.add(slot.dataset.path);
      slot = slot.parentElement && slot.parentElement.closest("[data-path]");
    }
  }

  onChange(event) {
    this.touch(event.target);
    clearTimeout(this.timer);
    this.validate();
  }

  onInput(event) {
    if (event.target.type === "file") return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.validate(), DEBOUNCE_MS);
  }

  onClick(event) {
    const button = event.target instanceof Element && event.target.closest("[data-add-row]");
    if (button && this.form.contains(button)) this.addRow(button);
  }

  body() {
    const params = new URLSearchParams();
    for (const [name, value] of new FormData(this.form)) {
      if (typeof value === "string") params.append(name, value);
    }
    return params;
  }

  async validate() {
    if (!this.url) return;
    if (this.request) this.request.abort();
    const request = new AbortController();
    this.request = request;
    const headers = { Accept: "application/json" };
    const token = document.querySelector('meta[name="csrf-token"]');
    if (token) headers["X-CSRFToken"] = token.content;
    let answer;
    try {
      const response = await fetch(this.url, {
        method: "POST",
        headers,
        body: this.body(),
        credentials: "same-origin",
        signal: request.signal,
      });
      if (!response.ok) return;
      answer = await response.json();
    } catch {
      return; // Offline or superseded: the server checks again on submit.
    }
    if (request !== this.request) return;
    this.request = null;
    if (Array.isArray(answer.visible)) this.showOnly(new Set(answer.visible));
    if (Array.isArray(answer.required)) this.markRequired(new Set(answer.required));
    if (answer.calculated && typeof answer.calculated === "object") {
      this.fillCalculated(answer.calculated);
    }
    this.showErrors(Array.isArray(answer.errors) ? answer.errors : []);
  }

  /** Show the fields the server says are visible; hide and disable the rest. */
  showOnly(visible) {
    const appeared = [];
    for (const wrapper of this.form.querySelectorAll("[data-field]")) {
      const show = visible.has(wrapper.dataset.field);
      if (show === !wrapper.hidden) continue;
      wrapper.hidden = !show;
      for (const control of wrapper.querySelectorAll("input, select, textarea")) {
        if (!show && !control.disabled) {
          control.disabled = true;
          control.setAttribute("data-rule-disabled", "");
        } else if (show && control.hasAttribute("data-rule-disabled")) {
          control.disabled = false;
          control.removeAttribute("data-rule-disabled");
        }
      }
      if (show) appeared.push(wrapper.dataset.label || wrapper.dataset.field);
    }
    for (const section of this.form.querySelectorAll("[data-section]")) {
      const fields = [...section.querySelectorAll("[data-field]")];
      if (fields.length) section.hidden = fields.every((field) => field.hidden);
    }
    if (appeared.length) this.announce(`Now showing: ${appeared.join("; ")}`);
  }

  markRequired(required) {
    for (const wrapper of this.form.querySelectorAll("[data-field][data-path]")) {
      const needed = required.has(wrapper.dataset.field);
      for (const marker of own(wrapper, "[data-optional]")) marker.hidden = needed;
      for (const control of own(wrapper, "[data-control]")) {
        control.required = needed;
        if (control.type === "radio" || control.type === "file") continue;
        if (needed) control.setAttribute("aria-required", "true");
        else control.removeAttribute("aria-required");
      }
    }
  }

  fillCalculated(texts) {
    for (const output of this.form.querySelectorAll("output[data-calculated]")) {
      const text = texts[output.dataset.calculated];
      if (text !== undefined) output.textContent = text === null ? "" : String(text);
    }
  }

  /** The slot an error belongs to: its own path, else the nearest one above it. */
  slotOf(path) {
    const parts = String(path || "").split(".");
    while (parts.length) {
      const slot = this.form.querySelector(`[data-path="${CSS.escape(parts.join("."))}"]`);
      if (slot) return slot;
      parts.pop();
    }
    return null;
  }

  showErrors(errors) {
    const messages = new Map();
    for (const error of errors) {
      const slot = this.slotOf(error.field);
      if (slot && !messages.has(slot)) messages.set(slot, String(error.message));
    }
    for (const slot of this.form.querySelectorAll("[data-path]")) {
      if (!this.touched.has(slot.dataset.path)) continue;
      this.setError(slot, slot.closest("[hidden]") ? null : messages.get(slot) || null);
    }
  }

  /** Write or clear the inline error of one slot, with its ARIA state. */
  setError(slot, message) {
    const errorId = `${slot.dataset.id}-error`;
    const error = document.getElementById(errorId);
    if (!error) return;
    const shown = !error.hidden;
    if (message) {
      const label = document.createElement("span");
      label.className = "visually-hidden";
      label.textContent = "Error:";
      error.replaceChildren(label, ` ${message}`);
      error.hidden = false;
    } else if (shown) {
      error.replaceChildren();
      error.hidden = true;
    } else {
      return;
    }
    slot.classList.toggle(slot.tagName === "TD" ? "cell--error" : "field--error", !!message);
    for (const control of own(slot, "input:not([type=hidden]), select, textarea")) {
      if (message) control.setAttribute("aria-invalid", "true");
      else control.removeAttribute("aria-invalid");
    }
    for (const described of own(slot, "[data-described]")) {
      const ids = idList(described, "aria-describedby").filter((id) => id !== errorId);
      if (message) ids.push(errorId);
      setIdList(described, "aria-describedby", ids);
    }
  }

  announce(text) {
    this.announcer.textContent = text;
    clearTimeout(this.announceTimer);
    this.announceTimer = setTimeout(() => {
      this.announcer.textContent = "";
    }, ANNOUNCE_MS);
  }

  tableOf(button) {
    const key = CSS.escape(button.dataset.addRow);
    return this.form.querySelector(`[data-table="${key}"]`);
  }

  rowsFull(button) {
    const table = this.tableOf(button);
    const most = Number(button.dataset.maxRows || Infinity);
    return !table || table.querySelectorAll("tbody > tr").length >= most;
  }

  /** Copy the last row of a table as a blank row numbered after it. */
  addRow(button) {
    const table = this.tableOf(button);
    const body = table && table.querySelector("tbody");
    const last = body && body.lastElementChild;
    if (!last || this.rowsFull(button)) return;
    const from = Number(last.dataset.row);
    const to = from + 1;
    const row = last.cloneNode(true);
    renumber(row, table.dataset, button.dataset.addRow, from, to);
    blank(row);
    body.append(row);
    button.hidden = this.rowsFull(button);
    const first = row.querySelector("input, select, textarea");
    if (first) first.focus();
    this.announce(`Row ${to + 1} added.`);
  }
}

/** Rename a copied table row from index `from` to `to`: names, ids, labels, paths. */
function renumber(row, table, key, from, to) {
  const names = [`${table.tableName}.${from}.`, `${table.tableName}.${to}.`];
  const ids = [`${table.tableId}-${from}-`, `${table.tableId}-${to}-`];
  const paths = [`${key}.${from}.`, `${key}.${to}.`];
  const swap = (text, [old, now]) => (text.startsWith(old) ? now + text.slice(old.length) : text);
  row.dataset.row = String(to);
  for (const element of [row, ...row.querySelectorAll("*")]) {
    if (element.name) element.name = swap(element.name, names);
    if (element.id) element.id = swap(element.id, ids);
    if (element.tagName === "LABEL" && element.htmlFor) {
      element.htmlFor = swap(element.htmlFor, ids);
    }
    if (element.dataset.path) element.dataset.path = swap(element.dataset.path, paths);
    if (element.dataset.id) element.dataset.id = swap(element.dataset.id, ids);
    if (element.hasAttribute("aria-describedby")) {
      const list = idList(element, "aria-describedby").map((id) => swap(id, ids));
      setIdList(element, "aria-describedby", list);
    }
  }
  for (const number of row.querySelectorAll("[data-row-number]")) {
    number.textContent = String(to + 1);
  }
}

/** Empty a copied row: no values, no errors. */
function blank(row) {
  for (const control of row.querySelectorAll("input, select, textarea")) {
    control.removeAttribute("aria-invalid");
    if (control.type === "checkbox" || control.type === "radio") {
      control.checked = false;
      control.removeAttribute("checked");
    } else if (control.tagName === "SELECT") {
      for (const option of control.options) option.removeAttribute("selected");
      control.selectedIndex = 0;
    } else if (control.type !== "hidden") {
      control.value = "";
      control.removeAttribute("value");
      if (control.tagName === "TEXTAREA") control.textContent = "";
    }
  }
  for (const output of row.querySelectorAll("output")) output.textContent = "";
  for (const error of row.querySelectorAll(".field-error")) {
    const errorId = error.id;
    error.replaceChildren();
    error.hidden = true;
    for (const described of row.querySelectorAll("[aria-describedby]")) {
      const ids = idList(described, "aria-describedby").filter((id) => id !== errorId);
      setIdList(described, "aria-describedby", ids);
    }
  }
  for (const cell of row.querySelectorAll(".cell--error")) cell.classList.remove("cell--error");
}

function enhance() {
  for (const form of document.querySelectorAll("form[data-validate-url]")) {
    if (!form.hasAttribute("data-enhanced")) {
      form.setAttribute("data-enhanced", "");
      new EnhancedForm(form);
    }
  }
  const summary = document.querySelector(".error-summary");
  if (summary) summary.focus();
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", enhance);
} else {
  enhance();
}

export { enhance };
