// The properties panel of the selected field. Every control's change is an editor command.

import * as commands from "./commands.js";
import { renderRules } from "./rules.js";
import { typeWords } from "./canvas.js";
import { el } from "./dom.js";

/** Limits each type takes: [property, words, input type]. */
const LIMITS = {
  text: [["min_length", "Shortest answer (characters)", "number"], ["max_length", "Longest answer (characters)", "number"], ["pattern", "Pattern (regular expression)", "text"]],
  textarea: [["min_length", "Shortest answer (characters)", "number"], ["max_length", "Longest answer (characters)", "number"], ["pattern", "Pattern (regular expression)", "text"]],
  number: [["min", "Lowest value", "number"], ["max", "Highest value", "number"]],
  date: [["min", "Earliest date", "date"], ["max", "Latest date", "date"]],
  datetime: [["min", "Earliest moment (2026-03-01T09:00:00+00:00)", "text"], ["max", "Latest moment", "text"]],
  multiselect: [["min_items", "Fewest choices", "number"], ["max_items", "Most choices", "number"]],
  file: [["max_files", "Most files (1 to 5)", "number"], ["max_size", "Largest file in bytes (at most 10485760: 10 MB)", "number"]],
  table: [["min_rows", "Fewest rows", "number"], ["max_rows", "Most rows", "number"]],
};
const HAS_OPTIONS = new Set(["select", "radio", "multiselect"]);
const NO_ANSWER = new Set(["section", "hidden", "calculated"]);
const NO_DEFAULT = new Set(["section", "file", "table", "calculated"]);
const COLUMN_TYPES = ["text", "textarea", "number", "date", "datetime", "select", "checkbox", "user", "service", "calculated"];

/** A labelled control; `problem` is shown under it and tied to it for screen readers. */
function control(id, words, input, { hint = "", problem = "" } = {}) {
  const box = el("div", { class: `field${problem ? " field--error" : ""}` });
  box.append(el("label", { for: id }, words));
  const described = [];
  if (hint) {
    box.append(el("p", { class: "hint", id: `${id}-hint` }, hint));
    described.push(`${id}-hint`);
  }
  if (problem) {
    box.append(el("p", { class: "error-message", id: `${id}-error` }, problem));
    described.push(`${id}-error`);
  }
  input.id = id;
  if (described.length) input.setAttribute("aria-describedby", described.join(" "));
  box.append(input);
  return box;
}

function textInput(value, type = "text") {
  const input = el("input", { type });
  input.value = value ?? "";
  return input;
}

function checkbox(id, words, checked) {
  const box = el("div", { class: "field field--checkbox" });
  const input = el("input", { type: "checkbox", id });
  input.checked = Boolean(checked);
  box.append(input, el("label", { for: id }, words));
  return { box, input };
}

function asNumber(text) {
  if (text === "") return undefined;
  const number = Number(text);
  return Number.isFinite(number) ? number : text;
}

function smallButton(text, attrs) {
  return el("button", { type: "button", class: "small", ...attrs }, text);
}

/**
 * Draw the panel of the field at `place` into `root`. `run(fn, merge)` applies a command
 * (fn: doc -> doc) and `problemAt(rest)` gives the message of a problem at a property.
 */
export function renderProperties(root, doc, place, { run, problemAt, move, remove }) {
  const field = commands.fieldAt(doc, place);
  if (!field) {
    root.replaceChildren(el("p", {}, "Select a field to edit it."));
    return;
  }
  const edit = {
    field,
    place,
    run,
    problemAt,
    merge: (name) => `${place.page}/${place.index}/${name}`,
    set: (name, value) => (d) => commands.setProperty(d, place, name, value),
  };
  const parts = [el("p", { class: "hint" }, `A ${typeWords(field)} field.`), ...basics(edit), ...limits(edit)];
  if (!NO_DEFAULT.has(field.type)) parts.push(defaultControl(field, place, run, problemAt, edit.merge));
  if (HAS_OPTIONS.has(field.type)) parts.push(optionsEditor(field, place, run, problemAt));
  if (field.type === "table") parts.push(columnsEditor(field, place, run, problemAt));
  if (field.type !== "section") {
    const shown = checkbox("prop-public", "Show the answer to the requester on the tracking page", field.public);
    shown.input.addEventListener("change", () => run(edit.set("public", shown.input.checked)));
    parts.push(shown.box);
  }
  parts.push(renderRules(doc, place, { run, problemAt }));
  const actions = el("div", { class: "property-actions" });
  const up = smallButton("Move up", { id: "prop-move-up" });
  const down = smallButton("Move down", { id: "prop-move-down" });
  const gone = smallButton("Remove this field", { id: "prop-remove", class: "small danger" });
  up.addEventListener("click", () => move(place, -1));
  down.addEventListener("click", () => move(place, 1));
  gone.addEventListener("click", () => remove(place));
  actions.append(up, down, gone);
  parts.push(actions);
  root.replaceChildren(...parts);
}

/** A text box bound to one property: every keystroke is a command, merged into one step. */
function bound(edit, name, words, { type = "text", hint = "", read = (v) => v ?? "", write = (v) => v } = {}) {
  const input = name === "help" ? el("textarea", { rows: "2" }) : textInput("", type);
  input.value = read(edit.field[name]);
  input.addEventListener("input", () => edit.run(edit.set(name, write(input.value)), edit.merge(name)));
  return control(`prop-${name}`, words, input, { hint, problem: edit.problemAt(`/${name}`) });
}

function basics(edit) {
  const { field, place, run } = edit;
  const label = textInput(field.label);
  label.addEventListener("input", () => run((d) => commands.setLabel(d, place, label.value), edit.merge("label")));
  const parts = [
    control("prop-label", "Label", label, { problem: edit.problemAt("/label") }),
    bound(edit, "key", "Key", { hint: "The name of the answer in the data. It follows the label until you change it." }),
    bound(edit, "help", "Help text"),
  ];
  if (!NO_ANSWER.has(field.type)) {
    const required = checkbox("prop-required", "An answer is required", field.required);
    required.input.addEventListener("change", () => run(edit.set("required", required.input.checked)));
    parts.push(required.box);
  }
  return parts;
}

function limits(edit) {
  const { field, place, run } = edit;
  const parts = [];
  if (field.type === "text") parts.push(formatControl(field, place, run));
  for (const [name, words, type] of LIMITS[field.type] || []) {
    parts.push(bound(edit, name, words, { type, write: type === "number" ? asNumber : (v) => v }));
  }
  if (field.type === "number") {
    const whole = checkbox("prop-integer", "Whole numbers only", field.integer);
    whole.input.addEventListener("change", () => run(edit.set("integer", whole.input.checked)));
    parts.push(whole.box);
  }
  if (field.type === "file") {
    const split = (text) => {
      const types = text.split(",").map((t) => t.trim()).filter(Boolean);
      return types.length ? types : undefined;
    };
    const hint = "Media types separated by commas, e.g. image/*, application/pdf";
    parts.push(bound(edit, "accept", "Accepted types", { hint, read: (v) => (v || []).join(", "), write: split }));
  }
  if (field.type === "calculated") {
    parts.push(bound(edit, "expr", "Calculation", { hint: "An expression over the other answers, e.g. seats * 12" }));
  }
  return parts;
}

function formatControl(field, place, run) {
  const select = el("select");
  for (const [value, words] of [["", "Any text"], ["email", "An email address"], ["phone", "A phone number"], ["url", "A web address"]]) {
    const option = el("option", { value }, words);
    option.selected = (field.format || "") === value;
    select.append(option);
  }
  select.addEventListener("change", () => run((d) => commands.setProperty(d, place, "format", select.value)));
  return control("prop-format", "Kind of text", select);
}

function defaultControl(field, place, run, problemAt, mergeKey) {
  if (field.type === "checkbox") {
    const ticked = checkbox("prop-default", "Ticked at first", field.default === true);
    ticked.input.addEventListener("change", () => run((d) => commands.setProperty(d, place, "default", ticked.input.checked)));
    return ticked.box;
  }
  const type = { number: "number", date: "date" }[field.type] || "text";
  const shown = Array.isArray(field.default) ? field.default.join(", ") : field.default;
  const input = textInput(shown, type);
  input.addEventListener("input", () => {
    let value = input.value;
    if (field.type === "number") value = asNumber(value);
    // An answer among the options is stored as that option's value: 2, not "2", among numbers.
    if (field.type === "select" || field.type === "radio") value = value && commands.optionFor(field, value);
    if (field.type === "multiselect") value = value ? value.split(",").map((v) => commands.optionFor(field, v.trim())).filter((v) => v !== "") : undefined;
    run((d) => commands.setProperty(d, place, "default", value), mergeKey("default"));
  });
  const hint = field.type === "multiselect" ? "Options separated by commas" : "";
  return control("prop-default", "Default answer", input, { hint, problem: problemAt("/default") });
}

function optionsEditor(field, place, run, problemAt) {
  const box = el("fieldset", { class: "options-editor" });
  box.append(el("legend", {}, "Options"));
  const problem = problemAt("/options");
  if (problem) box.append(el("p", { class: "error-message" }, problem));
  const list = el("ol");
  commands.options(field).forEach((option, index) => {
    const row = el("li", { class: "option-row" });
    const value = textInput(option.value);
    value.addEventListener("input", () => run((d) => commands.setOption(d, place, index, "value", value.value), `${place.page}/${place.index}/opt${index}v`));
    const words = textInput(option.label);
    words.addEventListener("input", () => run((d) => commands.setOption(d, place, index, "label", words.value), `${place.page}/${place.index}/opt${index}l`));
    row.append(
      control(`opt-${index}-value`, `Option ${index + 1}: value`, value, { problem: problemAt(`/options/${index}`) }),
      control(`opt-${index}-label`, `Option ${index + 1}: words shown (optional)`, words),
    );
    const up = smallButton("Up", { id: `opt-${index}-up`, "aria-label": `Move option ${index + 1} up` });
    const down = smallButton("Down", { id: `opt-${index}-down`, "aria-label": `Move option ${index + 1} down` });
    const gone = smallButton("Remove", { id: `opt-${index}-remove`, "aria-label": `Remove option ${index + 1}` });
    up.addEventListener("click", () => run((d) => commands.moveOption(d, place, index, -1), null, `opt-${index - 1}-up`));
    down.addEventListener("click", () => run((d) => commands.moveOption(d, place, index, 1), null, `opt-${index + 1}-down`));
    gone.addEventListener("click", () => run((d) => commands.removeOption(d, place, index), null, "opt-add"));
    row.append(up, down, gone);
    list.append(row);
  });
  const add = smallButton("Add an option", { id: "opt-add" });
  add.addEventListener("click", () => run((d) => commands.addOption(d, place), null, `opt-${(field.options || []).length}-value`));
  box.append(list, add);
  return box;
}

function columnsEditor(field, place, run, problemAt) {
  const box = el("fieldset", { class: "columns-editor" });
  box.append(el("legend", {}, "Columns"));
  const list = el("ol");
  (field.columns || []).forEach((column, index) => {
    const row = el("li", { class: "column-row" });
    const merge = (name) => `${place.page}/${place.index}/col${index}${name}`;
    const label = textInput(column.label);
    label.addEventListener("input", () => run((d) => commands.setColumnProperty(d, place, index, "label", label.value), merge("label")));
    const key = textInput(column.key);
    key.addEventListener("input", () => run((d) => commands.setColumnProperty(d, place, index, "key", key.value), merge("key")));
    const type = el("select");
    for (const name of COLUMN_TYPES) {
      const option = el("option", { value: name }, typeWords({ type: name }));
      option.selected = column.type === name;
      type.append(option);
    }
    type.addEventListener("change", () => run((d) => {
      let next = commands.setColumnProperty(d, place, index, "type", type.value);
      if (type.value === "select" && !column.options) next = commands.setColumnProperty(next, place, index, "options", ["Option 1", "Option 2"]);
      return next;
    }));
    const required = checkbox(`col-${index}-required`, `Column ${index + 1} must be answered`, column.required);
    required.input.addEventListener("change", () => run((d) => commands.setColumnProperty(d, place, index, "required", required.input.checked)));
    const at = `/columns/${index}`;
    row.append(
      control(`col-${index}-label`, `Column ${index + 1}: label`, label, { problem: problemAt(`${at}/label`) }),
      control(`col-${index}-key`, `Column ${index + 1}: key`, key, { problem: problemAt(`${at}/key`) }),
      control(`col-${index}-type`, `Column ${index + 1}: type`, type),
      required.box,
    );
    if (column.type === "select") row.append(columnOptions(column, index, place, run, problemAt));
    const up = smallButton("Up", { id: `col-${index}-up`, "aria-label": `Move column ${index + 1} up` });
    const gone = smallButton("Remove", { id: `col-${index}-remove`, "aria-label": `Remove column ${index + 1}` });
    up.addEventListener("click", () => run((d) => commands.moveColumn(d, place, index, -1), null, `col-${index - 1}-up`));
    gone.addEventListener("click", () => run((d) => commands.removeColumn(d, place, index), null, "col-add"));
    row.append(up, gone);
    list.append(row);
  });
  const add = smallButton("Add a column", { id: "col-add" });
  add.addEventListener("click", () => run((d) => commands.addColumn(d, place), null, `col-${(field.columns || []).length}-label`));
  box.append(list, add);
  return box;
}

/** A drop-down column's options, as one line of texts or numbers; pairs stay in JSON. */
function columnOptions(column, index, place, run, problemAt) {
  const id = `col-${index}-options`;
  const options = column.options || [];
  if (options.some((o) => typeof o === "object" && o !== null)) {
    return el("p", { class: "hint", id }, `Column ${index + 1} has options with their own words: edit them in the JSON view.`);
  }
  const input = textInput(options.join(", "));
  input.addEventListener("input", () => {
    const list = commands.typedOptions(input.value.split(",").map((t) => t.trim()).filter(Boolean), options);
    run((d) => commands.setColumnProperty(d, place, index, "options", list.length ? list : undefined), `${place.page}/${place.index}/col${index}options`);
  });
  const problem = problemAt(`/columns/${index}/options`);
  return control(id, `Column ${index + 1}: options`, input, { hint: "Separated by commas", problem });
}
