// Rules without code: "show this field only when [field] [operator] [value]", and "require it when".
//
// A rule the builder can say is one comparison; a rule written otherwise (all/any, an
// expression) is shown as it is, to be edited in the JSON view.

import * as commands from "./commands.js";
import { el } from "./dom.js";

/** The operators each kind of field can be compared with, in words. */
const OPERATORS = {
  choice: [["eq", "is"], ["ne", "is not"], ["in", "is one of"], ["not_in", "is none of"], ["empty", "is not answered"], ["not_empty", "is answered"]],
  text: [["eq", "is"], ["ne", "is not"], ["contains", "contains"], ["empty", "is not answered"], ["not_empty", "is answered"]],
  number: [["eq", "is"], ["ne", "is not"], ["lt", "is less than"], ["le", "is at most"], ["gt", "is more than"], ["ge", "is at least"], ["empty", "is not answered"], ["not_empty", "is answered"]],
  moment: [["lt", "is before"], ["le", "is on or before"], ["gt", "is after"], ["ge", "is on or after"], ["empty", "is not answered"], ["not_empty", "is answered"]],
  list: [["contains", "includes"], ["empty", "has nothing chosen"], ["not_empty", "has something chosen"]],
  boolean: [["eq", "is"]],
  presence: [["empty", "is not given"], ["not_empty", "is given"]],
};
const KIND_OF = {
  select: "choice", radio: "choice", text: "text", textarea: "text", user: "text", hidden: "text", service: "text",
  number: "number", date: "moment", datetime: "moment", multiselect: "list", checkbox: "boolean",
  file: "presence", table: "presence", calculated: "text",
};
const RULES = [["visible_if", "Show this field only when"], ["required_if", "Require an answer when"]];

/** The operators a field may be compared with. */
export function operatorsFor(field) {
  return OPERATORS[KIND_OF[field?.type] || "text"];
}

/** The fields a rule of `self` may read: every other field that holds a value. */
function candidates(doc, self) {
  return commands.locate(doc).map((f) => f.field).filter((f) => f !== self && f.type !== "section" && f.key);
}

/** A first rule on `field` that makes sense: the first option of the first other field. */
export function starterRule(doc, self) {
  const other = candidates(doc, self)[0];
  if (!other) return null;
  return ruleFor(other, operatorsFor(other)[0][0]);
}

function ruleFor(field, op, previous) {
  const rule = { field: field.key, op };
  if (op === "empty" || op === "not_empty") return rule;
  const first = commands.options(field)[0]?.value;
  if (op === "in" || op === "not_in") rule.value = first === undefined ? [] : [first];
  else if (field.type === "checkbox") rule.value = true;
  else if (previous !== undefined && !Array.isArray(previous)) rule.value = previous;
  else rule.value = first ?? (field.type === "number" ? 0 : "");
  return rule;
}

function isSimple(rule) {
  return rule && typeof rule === "object" && "field" in rule && "op" in rule;
}

function valueControl(id, words, other, rule, change) {
  const box = el("div", { class: "field" });
  box.append(el("label", { for: id }, words));
  const values = commands.options(other || {});
  let input;
  if (rule.op === "in" || rule.op === "not_in") {
    input = el("select", { multiple: "multiple", size: String(Math.min(5, Math.max(2, values.length))) });
    for (const option of values) {
      const node = el("option", { value: JSON.stringify(option.value) }, option.label || String(option.value));
      node.selected = (rule.value || []).includes(option.value);
      input.append(node);
    }
    input.addEventListener("change", () => change([...input.selectedOptions].map((o) => JSON.parse(o.value))));
  } else if (values.length && other.type !== "multiselect") {
    input = el("select");
    for (const option of values) {
      const node = el("option", { value: JSON.stringify(option.value) }, option.label || String(option.value));
      node.selected = option.value === rule.value;
      input.append(node);
    }
    input.addEventListener("change", () => change(JSON.parse(input.value)));
  } else if (other?.type === "checkbox") {
    input = el("select");
    for (const [value, text] of [[true, "ticked"], [false, "not ticked"]]) {
      const node = el("option", { value: String(value) }, text);
      node.selected = rule.value === value;
      input.append(node);
    }
    input.addEventListener("change", () => change(input.value === "true"));
  } else {
    const type = { number: "number", date: "date" }[other?.type] || "text";
    input = el("input", { type });
    input.value = rule.value ?? "";
    input.addEventListener("input", () => change(type === "number" && input.value !== "" ? Number(input.value) : input.value));
  }
  input.id = id;
  box.append(input);
  return box;
}

/** A rule as the builder sees it: its comparisons and how they combine; null if it cannot. */
export function comparisons(rule) {
  if (isSimple(rule)) return { mode: "all", parts: [rule] };
  for (const mode of ["all", "any"]) {
    const parts = rule && typeof rule === "object" ? rule[mode] : undefined;
    if (Array.isArray(parts) && Object.keys(rule).length === 1 && parts.length && parts.every(isSimple)) {
      return { mode, parts };
    }
  }
  return null;
}

/** The rule of some comparisons: one alone, or several under `all` or `any`. */
export function combine(mode, parts) {
  return parts.length === 1 ? parts[0] : { [mode]: parts };
}

/** One comparison's controls: field, operator, value. `change(part, merge)` applies one. */
function comparisonRow(doc, self, part, id, words, change) {
  const row = el("div", { class: "rule-comparison" });
  const fields = candidates(doc, self);
  const other = fields.find((f) => f.key === part.field);
  const pick = el("select", { id: `${id}-field` });
  if (!other) pick.append(el("option", { value: part.field }, `${part.field} (not a field of this form)`));
  for (const field of fields) {
    const node = el("option", { value: field.key }, field.label || field.key);
    node.selected = field.key === part.field;
    pick.append(node);
  }
  pick.addEventListener("change", () => {
    const chosen = fields.find((f) => f.key === pick.value);
    const ops = operatorsFor(chosen).map(([op]) => op);
    change(ruleFor(chosen, ops.includes(part.op) ? part.op : ops[0]));
  });
  const fieldBox = el("div", { class: "field" });
  fieldBox.append(el("label", { for: pick.id }, words.field), pick);
  const op = el("select", { id: `${id}-op` });
  for (const [value, text] of operatorsFor(other)) {
    const node = el("option", { value }, text);
    node.selected = value === part.op;
    op.append(node);
  }
  op.addEventListener("change", () => change(ruleFor(other || { key: part.field }, op.value, part.value)));
  const opBox = el("div", { class: "field" });
  opBox.append(el("label", { for: op.id }, words.op), op);
  row.append(fieldBox, opBox);
  if (part.op !== "empty" && part.op !== "not_empty") {
    row.append(valueControl(`${id}-value`, words.value, other, part, (value) => change({ ...part, value }, id)));
  }
  return row;
}

function ruleEditor(doc, place, self, name, words, { run, problemAt }) {
  const box = el("fieldset", { class: "rule-editor" });
  box.append(el("legend", {}, words));
  const rule = self[name];
  const problem = problemAt(`/${name}`) || problemAt(`/${name}/field`);
  if (problem) box.append(el("p", { class: "error-message", id: `rule-${name}-error` }, problem));
  const set = (next, merge) => run((d) => commands.setProperty(d, place, name, next), merge);
  if (rule === undefined) {
    const add = el("button", { type: "button", class: "small", id: `rule-${name}-add` }, "Add a rule");
    if (!starterRule(doc, self)) add.disabled = true;
    add.addEventListener("click", () => run((d) => commands.setProperty(d, place, name, starterRule(d, self)), null, `rule-${name}-field`));
    box.append(add);
    return box;
  }
  const found = comparisons(rule);
  if (!found) {
    box.append(el("p", {}, "This rule is written as JSON:"), el("pre", { class: "rule-json" }, JSON.stringify(rule, null, 1)));
    box.append(el("p", { class: "hint" }, "Edit it in the JSON view below, or remove it."));
  } else {
    const { mode, parts } = found;
    const several = parts.length > 1;
    if (several) {
      const match = el("select", { id: `rule-${name}-mode` });
      for (const [value, text] of [["all", "all of these hold"], ["any", "any of these holds"]]) {
        const node = el("option", { value }, text);
        node.selected = value === mode;
        match.append(node);
      }
      match.addEventListener("change", () => set(combine(match.value, parts)));
      const matchBox = el("div", { class: "field" });
      matchBox.append(el("label", { for: match.id }, "When"), match);
      box.append(matchBox);
    }
    parts.forEach((part, i) => {
      const id = i === 0 ? `rule-${name}` : `rule-${name}-${i}`;
      const n = several ? ` ${i + 1}` : "";
      const change = (next, merge) => set(combine(mode, parts.map((p, j) => (j === i ? next : p))), merge && `${place.page}/${place.index}/${merge}`);
      box.append(comparisonRow(doc, self, part, id, { field: `Field${n}`, op: `Comparison${n}`, value: `Value${n}` }, change));
      if (several) {
        const drop = el("button", { type: "button", class: "small", id: `${id}-remove` }, `Remove comparison${n}`);
        drop.addEventListener("click", () => run((d) => commands.setProperty(d, place, name, combine(mode, parts.filter((_, j) => j !== i))), null, `rule-${name}-field`));
        box.append(drop);
      }
    });
    const more = el("button", { type: "button", class: "small", id: `rule-${name}-more` }, "Add a comparison");
    more.addEventListener("click", () => run((d) => commands.setProperty(d, place, name, combine(mode, [...parts, starterRule(d, self)])), null, `rule-${name}-${parts.length}-field`));
    box.append(more);
  }
  const remove = el("button", { type: "button", class: "small", id: `rule-${name}-remove` }, "Remove the rule");
  remove.addEventListener("click", () => run((d) => commands.setProperty(d, place, name, undefined), null, `rule-${name}-add`));
  box.append(remove);
  return box;
}

/** The rule builders of the field at `place`. */
export function renderRules(doc, place, helpers) {
  const self = commands.fieldAt(doc, place);
  const box = el("div", { class: "rules" });
  box.append(el("h3", {}, "Rules"));
  for (const [name, words] of RULES) {
    if (self.type === "section" && name === "required_if") continue; // shown or not, never required
    box.append(ruleEditor(doc, place, self, name, words, helpers));
  }
  return box;
}
