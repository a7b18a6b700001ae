// Where things are in a workflow document, for the properties panel: the steps a step may
// route to, the outcomes of a step, the steps that use a table, and order-keeping edits of
// the maps the language uses (`on`, `set`, `branches`). Pure: documents in, values or new
// documents out. Steps and their pointers come from routes.js, as the canvas sees them.

import { getAt, pointer, setAt } from "./pointer.js";
import { allSteps, findStep } from "./routes.js";

const HUMAN = new Set(["task", "approval", "review"]);

/** Whether people work on a step of this type (it has tasks, a form, a ladder). */
export function isHuman(step) {
  return HUMAN.has(step?.type);
}

/** The pointer of a step by id, or null. */
export function stepPointer(doc, id) {
  return findStep(doc, id)?.pointer ?? null;
}

/** The ids of the steps a step may route to: those of its own flow (its parallel branch). */
export function siblingIds(doc, id) {
  const home = findStep(doc, id);
  if (!home) return [];
  const holder = home.scope === "" ? doc : getAt(doc, home.scope);
  return Object.keys(holder?.steps || {});
}

/** The outcomes a step ends with: the keys of `on`, `done` for `next`, or the verdicts. */
export function outcomesOf(step) {
  if (step?.type === "approval" || step?.type === "review") return ["approved", "rejected"];
  if (step?.on && typeof step.on === "object") return Object.keys(step.on);
  return step?.next ? ["done"] : [];
}

/** The ids of the steps whose `set` looks up the table `name`. */
export function tableUsers(doc, name) {
  return allSteps(doc)
    .filter(({ step }) => Object.values(step?.set || {}).some((how) => how?.lookup === name))
    .map(({ id }) => id);
}

/** A copy of an object with one key renamed, in the same place of the key order. */
export function renameKey(object, from, to) {
  return Object.fromEntries(Object.entries(object).map(([key, value]) => [key === from ? to : key, value]));
}

/** A copy of an object with `key` moved `delta` places in the key order (order is meaning here). */
export function moveKey(object, key, delta) {
  const entries = Object.entries(object);
  const from = entries.findIndex(([k]) => k === key);
  const to = from + delta;
  if (from < 0 || to < 0 || to >= entries.length) return object;
  const [moved] = entries.splice(from, 1);
  entries.splice(to, 0, moved);
  return Object.fromEntries(entries);
}

/** A copy of a list with item `index` moved `delta` places; the same list when it cannot. */
export function moveItem(list, index, delta) {
  const to = index + delta;
  if (to < 0 || to >= list.length) return list;
  const copy = [...list];
  const [moved] = copy.splice(index, 1);
  copy.splice(to, 0, moved);
  return copy;
}

/** The document with the table `from` renamed `to`, and every lookup of it with it. */
export function renameTable(doc, from, to) {
  if (from === to || !doc.tables?.[from] || doc.tables[to]) return doc;
  let next = setAt(doc, "/tables", renameKey(doc.tables, from, to));
  for (const { pointer: at, step } of allSteps(doc)) {
    for (const [field, how] of Object.entries(step?.set || {})) {
      if (how?.lookup === from) next = setAt(next, `${at}${pointer("set", field, "lookup")}`, to);
    }
  }
  return next;
}
