// The form designer's editor model: pure commands over a form document, and their history.
//
// Every edit the page makes is one of these commands, whether it came from a click, a key
// or a drag: each takes a document and returns a new one (the input is never changed), so
// undo and redo are a matter of keeping the documents. No DOM here.

/** Where a field is: its page (-1 when the form has no pages) and its index there. */
export function at(page, index) {
  return { page, index };
}

const clone = (value) => structuredClone(value);

/** The field list of a page, or of the form when it has no pages. */
export function fieldList(doc, page) {
  if (page >= 0) return doc.pages[page].fields;
  if (!Array.isArray(doc.fields)) doc.fields = [];
  return doc.fields;
}

/** Every field of the form in order, with where it is. */
export function locate(doc) {
  const found = [];
  if (Array.isArray(doc.pages)) {
    doc.pages.forEach((page, p) =>
      (page.fields || []).forEach((field, i) => found.push({ page: p, index: i, field })),
    );
  } else {
    (doc.fields || []).forEach((field, i) => found.push({ page: -1, index: i, field }));
  }
  return found;
}

/** The field at a place, or undefined. */
export function fieldAt(doc, place) {
  if (!place) return undefined;
  const list = place.page >= 0 ? doc.pages?.[place.page]?.fields : doc.fields;
  return list?.[place.index];
}

/** A field key from its label: lower-case ASCII words joined by '_', unique among `taken`. */
export function deriveKey(label, taken) {
  let key = String(label || "")
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "_")
    .replace(/^_+|_+$/g, "")
    .slice(0, 60);
  if (!/^[a-z]/.test(key)) key = `field_${key}`.replace(/_+$/, "");
  if (["data", "instance", "outcome"].includes(key)) key = `${key}_field`;
  let unique = key;
  for (let n = 2; taken.has(unique); n += 1) unique = `${key}_${n}`;
  return unique;
}

/** The keys used in a form, but `except` (a field being renamed). */
export function takenKeys(doc, except) {
  return new Set(locate(doc).filter((f) => f.field !== except).map((f) => f.field.key));
}

/** Add a field from a palette entry at a place (the end of the last page when none). */
export function addField(doc, preset, place) {
  const next = clone(doc);
  const field = clone(preset);
  field.key = deriveKey(field.label, takenKeys(next));
  const page = place ? place.page : Array.isArray(next.pages) ? next.pages.length - 1 : -1;
  const list = fieldList(next, page);
  const index = place ? Math.min(place.index, list.length) : list.length;
  list.splice(index, 0, field);
  return { doc: next, place: at(page, index) };
}

/** Remove the field at a place. */
export function removeField(doc, place) {
  const next = clone(doc);
  fieldList(next, place.page).splice(place.index, 1);
  return next;
}

/** Move a field one step up (-1) or down (+1), across page boundaries; null when it cannot. */
export function moveField(doc, place, delta) {
  const next = clone(doc);
  const list = fieldList(next, place.page);
  const target = place.index + delta;
  if (target >= 0 && target < list.length) {
    const [field] = list.splice(place.index, 1);
    list.splice(target, 0, field);
    return { doc: next, place: at(place.page, target) };
  }
  const page = place.page + delta;
  if (place.page < 0 || page < 0 || page >= next.pages.length) return null;
  const [field] = list.splice(place.index, 1);
  const into = fieldList(next, page);
  const index = delta > 0 ? 0 : into.length;
  into.splice(index, 0, field);
  return { doc: next, place: at(page, index) };
}

/** Move a field to another place (what a drop does). */
export function moveFieldTo(doc, from, to) {
  const next = clone(doc);
  const [field] = fieldList(next, from.page).splice(from.index, 1);
  const into = fieldList(next, to.page);
  let index = to.index;
  if (from.page === to.page && from.index < to.index) index -= 1;
  index = Math.max(0, Math.min(index, into.length));
  into.splice(index, 0, field);
  return { doc: next, place: at(to.page, index) };
}

/** Set (or, with undefined or "", remove) a property of a field. */
export function setProperty(doc, place, name, value) {
  const next = clone(doc);
  const field = fieldAt(next, place);
  if (value === undefined || value === "" || value === false) delete field[name];
  else field[name] = value;
  return next;
}

/** Set a field's label, and its key too while the key still follows the label. */
export function setLabel(doc, place, label) {
  const next = clone(doc);
  const field = fieldAt(next, place);
  const follows = field.key === deriveKey(field.label, takenKeys(next, field));
  field.label = label;
  if (follows) field.key = deriveKey(label, takenKeys(next, field));
  return next;
}

/** Set (or remove) a property of the form itself: title, description. */
export function setFormProperty(doc, name, value) {
  const next = clone(doc);
  if (value === undefined || value === "") delete next[name];
  else next[name] = value;
  return next;
}

/**
 * Options as {value, label} pairs, written back bare (a text or a number) where the label
 * says no more than the value.
 */
function optionText(option) {
  return typeof option === "object" && option !== null ? option : { value: option, label: "" };
}

function packOption({ value, label }) {
  return label && label !== String(value) ? { value, label } : value;
}

export function options(field) {
  return (field.options || []).map(optionText);
}

/** A number written the way JSON writes it ("2", "2.5"; not "02" or "2.0"), or null. */
export function asWrittenNumber(text) {
  const number = Number(text);
  return text !== "" && Number.isFinite(number) && String(number) === text.trim() ? number : null;
}

/**
 * Read a typed option value: a number stays a number, and among numbers a number is typed;
 * otherwise it is a text (so "01" or "1" among texts is never turned into a number).
 */
function typedValue(text, was, others) {
  const number = asWrittenNumber(text);
  if (number === null) return text;
  const numbers = typeof was === "number" || (others.length > 0 && others.every((v) => typeof v === "number"));
  return numbers ? number : text;
}

/** Read a line of option values typed anew: numbers if the options held only numbers. */
export function typedOptions(texts, before) {
  const values = (before || []).map((o) => optionText(o).value);
  return texts.map((text) => typedValue(text, undefined, values));
}

/** The value of one of the field's options that a typed answer names, or the text itself. */
export function optionFor(field, text) {
  const number = text.trim() === "" ? NaN : Number(text);
  const found = options(field).find((o) => String(o.value) === text || o.value === number);
  return found ? found.value : text;
}

export function addOption(doc, place) {
  const next = clone(doc);
  const field = fieldAt(next, place);
  field.options = field.options || [];
  const existing = options(field).map((o) => o.value);
  if (existing.length > 0 && existing.every((v) => typeof v === "number")) {
    field.options.push(Math.floor(Math.max(...existing)) + 1); // a score of 1 to 5 goes on to 6
    return next;
  }
  const values = new Set(existing.map(String));
  let n = field.options.length + 1;
  while (values.has(`Option ${n}`)) n += 1;
  field.options.push(`Option ${n}`);
  return next;
}

/** A field's own list (its options or its table's columns): take one item out. */
function removeItem(doc, place, list, index) {
  const next = clone(doc);
  fieldAt(next, place)[list].splice(index, 1);
  return next;
}

/** Move one item of a field's own list by `delta`; null when it would leave the list. */
function moveItem(doc, place, list, index, delta) {
  const next = clone(doc);
  const items = fieldAt(next, place)[list];
  const target = index + delta;
  if (target < 0 || target >= items.length) return null;
  const [item] = items.splice(index, 1);
  items.splice(target, 0, item);
  return next;
}

export function removeOption(doc, place, index) {
  return removeItem(doc, place, "options", index);
}

export function moveOption(doc, place, index, delta) {
  return moveItem(doc, place, "options", index, delta);
}

export function setOption(doc, place, index, part, text) {
  const next = clone(doc);
  const list = fieldAt(next, place).options;
  const option = { ...optionText(list[index]) };
  if (part === "value") {
    const others = list.filter((_, i) => i !== index).map((o) => optionText(o).value);
    option.value = typedValue(text, option.value, others);
  } else {
    option.label = text;
  }
  list[index] = packOption(option);
  return next;
}

/** Table columns: fields of their own, keyed within the table. */
export function addColumn(doc, place) {
  const next = clone(doc);
  const field = fieldAt(next, place);
  field.columns = field.columns || [];
  const taken = new Set(field.columns.map((c) => c.key));
  const label = `Column ${field.columns.length + 1}`;
  field.columns.push({ key: deriveKey(label, taken), type: "text", label });
  return next;
}

export function removeColumn(doc, place, index) {
  return removeItem(doc, place, "columns", index);
}

export function moveColumn(doc, place, index, delta) {
  return moveItem(doc, place, "columns", index, delta);
}

export function setColumnProperty(doc, place, index, name, value) {
  const next = clone(doc);
  const column = fieldAt(next, place).columns[index];
  if (name === "label") {
    const taken = new Set(fieldAt(next, place).columns.filter((c) => c !== column).map((c) => c.key));
    if (column.key === deriveKey(column.label, taken)) column.key = deriveKey(value, taken);
  }
  if (value === undefined || value === "" || value === false) delete column[name];
  else column[name] = value;
  return next;
}

/** Split the form into pages (its fields become page 1), or add one more page. */
export function addPage(doc) {
  const next = clone(doc);
  if (!Array.isArray(next.pages)) {
    next.pages = [{ title: next.title || "Page 1", fields: next.fields || [] }];
    delete next.fields;
  }
  next.pages.push({ title: `Page ${next.pages.length + 1}`, fields: [] });
  return next;
}

/** Remove a page, keeping its fields on the page before (or after); one page left: no pages. */
export function removePage(doc, page) {
  const next = clone(doc);
  const [gone] = next.pages.splice(page, 1);
  const keep = next.pages[Math.max(0, page - 1)];
  keep.fields.push(...gone.fields);
  if (next.pages.length === 1) {
    next.fields = next.pages[0].fields;
    delete next.pages;
  }
  return next;
}

export function setPageTitle(doc, page, title) {
  const next = clone(doc);
  next.pages[page].title = title;
  return next;
}

/** Undo and redo over whole documents; edits to one property in a row merge into one step. */
export class History {
  constructor(doc) {
    this.past = [];
    this.future = [];
    this.doc = doc;
    this.lastMerge = null;
  }

  apply(doc, merge = null) {
    if (doc === null || doc === undefined) return false;
    if (!(merge && merge === this.lastMerge)) this.past.push(this.doc);
    this.lastMerge = merge;
    this.future = [];
    this.doc = doc;
    return true;
  }

  undo() {
    if (!this.past.length) return false;
    this.future.push(this.doc);
    this.doc = this.past.pop();
    this.lastMerge = null;
    return true;
  }

  redo() {
    if (!this.future.length) return false;
    this.past.push(this.doc);
    this.doc = this.future.pop();
    this.lastMerge = null;
    return true;
  }

  get canUndo() {
    return this.past.length > 0;
  }

  get canRedo() {
    return this.future.length > 0;
  }
}

/** The field a JSON Pointer is about, and the rest of the pointer: "/fields/2/label". */
export function pointerPlace(pointer) {
  const paged = /^\/pages\/(\d+)\/fields\/(\d+)(\/.*)?$/.exec(pointer);
  if (paged) return { page: Number(paged[1]), index: Number(paged[2]), rest: paged[3] || "" };
  const plain = /^\/fields\/(\d+)(\/.*)?$/.exec(pointer);
  if (plain) return { page: -1, index: Number(plain[1]), rest: plain[2] || "" };
  return null;
}

/** Replace the whole document (the JSON view's "apply"). */
export function replaceDocument(_doc, next) {
  return clone(next);
}
