// The workflow designer's editor model: pure commands over a workflow document.
//
// Every structural edit of the canvas (add, remove, move, copy, rename, branches) is one of
// these commands, whether it came from a click, a key or a drag. Each takes a document and
// returns `{doc, ...}` with a new document (the input is never changed), so undo and redo
// only keep documents. A command that cannot apply throws an `EditError` that says why in
// words, for the page to announce. No DOM here.

import { buildLayout, locateCard } from "./layout.js";
import { getAt, pointer, removeAt, setAt, tokens } from "./pointer.js";
import { allSteps, findStep, forwardRoutes, gotoRoutes, stepOfPointer, targets } from "./routes.js";

export { getAt, pointer, removeAt, setAt, tokens };
export { allSteps, findStep, forwardRoutes, gotoRoutes, stepOfPointer, targets };

/** Every step type of the language, in the palette's order. */
export const STEP_TYPES = [
  "task", "approval", "review", "parallel", "decision", "action", "wait", "subflow", "end",
];

const STEP_ID = /^[a-z][a-z0-9_]{0,62}$/;

/** A command that cannot apply, with the reason in words. */
export class EditError extends Error {}

const clone = (value) => structuredClone(value);

function mustFind(doc, id) {
  const found = findStep(doc, id);
  if (!found) throw new EditError(`There is no step '${id}'.`);
  return found;
}

/** A step id made from `base`, unused in the document (nor in `taken`): task, task_2... */
export function uniqueId(doc, base, taken = new Set()) {
  const used = new Set([...allSteps(doc).map((s) => s.id), ...taken]);
  let root = String(base || "step").toLowerCase().replace(/[^a-z0-9_]+/g, "_").replace(/^_+|_+$/g, "");
  if (!/^[a-z]/.test(root)) root = `step_${root}`.replace(/_+$/, "");
  root = root.slice(0, 56);
  let id = root;
  for (let n = 2; used.has(id); n += 1) id = `${root}_${n}`;
  return id;
}

/** Every reference to a step id inside one scope: routes, gotos and the scope's `first`. */
function referencesIn(doc, scope) {
  const holder = scope === "" ? doc : getAt(doc, scope);
  const found = [];
  if (holder && typeof holder.first === "string") found.push({ to: holder.first, pointer: `${scope}/first` });
  for (const s of allSteps(doc).filter((x) => x.scope === scope)) {
    found.push(...forwardRoutes(s.step, s.pointer), ...gotoRoutes(s.step, s.pointer));
  }
  return found;
}

function redirect(doc, refs, to) {
  let next = doc;
  for (const ref of refs) next = setAt(next, ref.pointer, to);
  return next;
}

// Adding -------------------------------------------------------------------------------------

/** The assignment a new human step gets: the first group, else the requester. */
function defaultAssign(context) {
  const group = context?.groups?.[0]?.key;
  return group ? { group } : { requester: true };
}

/** A new step of a type, leading to `to`, that passes the checker as far as it can alone. */
export function newStep(doc, type, to, context = {}, id = uniqueId(doc, type)) {
  const way = to || undefined;
  switch (type) {
    case "task":
      return { type, assign: defaultAssign(context), next: way };
    case "approval":
      return { type, assign: defaultAssign(context), on: { approved: way, rejected: way } };
    case "review":
      return {
        type,
        reviewers: [{ role: "reviewer", assign: defaultAssign(context) }],
        quorum: "all",
        on: { approved: way, rejected: way },
      };
    case "parallel": {
      const taken = new Set([id]);
      const branch = (name) => {
        const end = uniqueId(doc, `${id}_${name}_done`, taken);
        taken.add(end);
        return { first: end, steps: { [end]: { type: "end" } } };
      };
      return { type, branches: { one: branch("one"), two: branch("two") }, join: "all", next: way };
    }
    case "decision":
      return { type, branches: [{ label: "Condition 1", when: "false", next: way }], otherwise: way };
    case "action":
      return { type, set: { [`${id}_done`]: { value: true } }, next: way };
    case "wait":
      return { type, for: "PT1H", next: way };
    case "subflow": {
      // A key of the right form, so the checker says "unknown workflow" and checks the rest.
      const workflow = context?.workflows?.find?.((w) => w.key !== doc.key)?.key;
      return { type, workflow: workflow || "another-workflow", wait: true, next: way };
    }
    case "end":
      return { type };
    default:
      throw new EditError(`'${type}' is not a step type; use one of: ${STEP_TYPES.join(", ")}.`);
  }
}

/**
 * The routes a new step goes on, for `where`:
 * `{after: id}` — the way on of a step with one way on;
 * `{routes: [pointers]}` — routes that lead to the same step (a "+" between cards, the
 * start of a lane: "/first", "/steps/d/otherwise", "/steps/p/branches/b/first").
 */
function slotOf(doc, where) {
  if (where?.after) {
    const found = mustFind(doc, where.after);
    const ways = targets(found.step);
    if (ways.length === 0) throw new EditError(`'${where.after}' ends the flow: add the step before it instead.`);
    if (ways.length > 1) throw new EditError(`'${where.after}' leads several ways: choose the lane to add the step in.`);
    const routes = forwardRoutes(found.step, found.pointer).map((r) => r.pointer);
    return { routes, scope: found.scope, to: ways[0] };
  }
  const routes = where?.routes || (where?.route ? [where.route] : []);
  if (!routes.length) throw new EditError("Say where the step goes: after a step, or on a route.");
  const values = new Set(routes.map((r) => getAt(doc, r)));
  if (values.size !== 1) throw new EditError("These routes lead to different steps; add the step on one of them.");
  return { routes, scope: scopeOfRoute(routes[0]), to: [...values][0] };
}

/** The scope a route pointer belongs to: "/steps/p/branches/b/steps/x/next" -> "/steps/p/branches/b". */
function scopeOfRoute(route) {
  const parts = tokens(route);
  let end = 0;
  // A parallel branch is followed by its "first" or "steps"; a decision's branch by "next".
  for (let i = 0; i < parts.length - 2; i += 1) {
    if (parts[i] === "branches" && (parts[i + 2] === "steps" || parts[i + 2] === "first")) end = i + 2;
  }
  return end ? pointer(...parts.slice(0, end)) : "";
}

function scopeHolder(doc, scope) {
  return scope === "" ? doc : getAt(doc, scope);
}

/** Put a step object into a slot: the slot's routes lead to it, its way on to what they led to. */
function insertAt(doc, id, step, slot) {
  const holder = scopeHolder(doc, slot.scope);
  if (!holder || typeof holder !== "object") throw new EditError("That place is not in the workflow any more.");
  let next = setAt(doc, `${slot.scope}${pointer("steps", id)}`, step);
  next = redirect(next, slot.routes.map((p) => ({ pointer: p })), id);
  return next;
}

/** Point every way on of a step (one that has a single way on) at `to`. */
function continueTo(step, to) {
  const copy = clone(step);
  if (typeof copy.next === "string") copy.next = to;
  if (copy.on && typeof copy.on === "object") for (const outcome of Object.keys(copy.on)) copy.on[outcome] = to;
  if (copy.type === "decision") {
    (copy.branches || []).forEach((b) => { b.next = to; });
    copy.otherwise = to;
  }
  return copy;
}

/** Add a new step of `type` at `where` (see `slotOf`); returns `{doc, step: id}`. */
export function addStep(doc, type, where, context = {}) {
  const slot = slotOf(doc, where);
  const id = uniqueId(doc, type);
  let start = doc;
  if (typeof slot.to !== "string" && type !== "end") {
    // Nothing to go on to (an empty workflow): the new step leads to a new end.
    const end = uniqueId(doc, "done", new Set([id]));
    start = setAt(doc, `${slot.scope}${pointer("steps", end)}`, { type: "end" });
    slot.to = end;
  }
  const step = newStep(start, type, slot.to, context, id);
  return { doc: insertAt(start, id, step, slot), step: id };
}

// Removing and moving ------------------------------------------------------------------------

/** Words for a reference: "'route' otherwise", "the start". */
function refWords(ref) {
  const parts = tokens(ref.pointer);
  if (parts[parts.length - 1] === "first") return parts.length === 1 ? "the start" : `the start of branch '${parts[parts.length - 2]}'`;
  const id = stepOfPointer(ref.pointer);
  const route = routeWords(parts.slice(parts.lastIndexOf(id) + 1));
  return route ? `'${id}' (${route})` : `'${id}'`;
}

/**
 * The branch, outcome or escalation of its step a pointer is in, in the panel's words
 * ("branch 2"), or "": a problem at `/steps/route/branches/1/next` is said "Step route,
 * branch 2", not as if the whole step had it.
 */
export function routeOfPointer(pointerText) {
  const id = stepOfPointer(pointerText);
  if (!id) return "";
  const parts = tokens(pointerText);
  const tail = parts.slice(parts.lastIndexOf(id) + 1);
  return ["branches", "on", "escalate"].includes(tail[0]) && tail.length > 1 ? routeWords(tail.slice(0, 2)) : "";
}

/** A route of a step in the panel's words, counted from 1: "branch 2", "outcome approved". */
function routeWords(tail) {
  const [kind, which] = tail;
  if (kind === "branches") return /^\d+$/.test(which) ? `branch ${Number(which) + 1}` : `branch '${which}'`;
  if (kind === "on") return `outcome ${which}`;
  if (kind === "escalate" && /^\d+$/.test(which)) return `escalation ${Number(which) + 1}`;
  if (kind === "next") return "";
  return tail.join(" ");
}

function dropNotBy(doc, id) {
  let next = doc;
  for (const s of allSteps(next)) {
    if (Array.isArray(s.step.not_by) && s.step.not_by.includes(id)) {
      next = setAt(next, `${s.pointer}/not_by`, s.step.not_by.filter((x) => x !== id));
    }
  }
  return next;
}

/**
 * Take a step out of the flow, leaving its object in place: what led to it leads to its one
 * way on. Only for a step with a single way on (else an EditError).
 */
function detach(doc, found) {
  const ways = targets(found.step);
  if (ways.length !== 1 || ways[0] === found.id) {
    throw new EditError(`'${found.id}' leads ${ways.length ? "several ways" : "nowhere further"}, so it cannot be lifted out of the flow.`);
  }
  const refs = referencesIn(doc, found.scope).filter((r) => r.to === found.id && !r.pointer.startsWith(`${found.pointer}/`));
  return redirect(doc, refs, ways[0]);
}

/**
 * Remove a step. What led to it then leads to its one way on; when it had none or several,
 * those routes lead nowhere, and `broken` says which (the checker will list them too).
 */
export function removeStep(doc, id) {
  const found = mustFind(doc, id);
  const ways = targets(found.step);
  let next = doc;
  let broken = [];
  if (ways.length === 1 && ways[0] !== id) {
    next = detach(doc, found);
  } else {
    broken = referencesIn(doc, found.scope).filter((r) => r.to === id && !r.pointer.startsWith(`${found.pointer}/`)).map(refWords);
  }
  next = dropNotBy(removeAt(next, found.pointer), id);
  const note = broken.length ? `${broken.join(", ")} led to '${id}' and now lead nowhere.` : "";
  return { doc: next, broken, note };
}

/** The slot of a layout (a "+" between cards) as `slotOf` takes it. */
function layoutSlot(item) {
  return { routes: item.routes };
}

/**
 * Move a step one place up (-1) or down (+1) in its lane, over the step (or the block of
 * lanes) before or after it. Returns `{doc, step}`.
 */
export function moveStep(doc, id, delta) {
  const found = mustFind(doc, id);
  const place = locateCard(buildLayout(doc), id);
  if (!place) throw new EditError(`'${id}' is not drawn in the flow.`);
  const { items, index } = place;
  if (delta < 0) {
    const before = unitBefore(items, index);
    if (before < 0) throw new EditError(`'${id}' is already the first step of its lane.`);
    const slot = items[before - 1];
    return moveTo(doc, found, { routes: slot.routes });
  }
  const after = unitAfter(items, index);
  if (after < 0) throw new EditError(`'${id}' is already the last step of its lane.`);
  const slot = items[after];
  if (!slot || slot.kind !== "slot") throw new EditError(`Nothing comes after the next step to move '${id}' below.`);
  return moveTo(doc, found, layoutSlot(slot));
}

/** The index of the card that starts the unit before the card at `index`, or -1. */
function unitBefore(items, index) {
  for (let i = index - 2; i >= 0; i -= 1) {
    if (items[i].kind === "card") return i;
    if (items[i].kind === "slot") return -1;
  }
  return -1;
}

/** The index of the slot that ends the unit after the card at `index`, or -1. */
function unitAfter(items, index) {
  let i = index + 1;
  while (i < items.length && items[i].kind === "lanes") i += 1;
  if (items[i]?.kind !== "slot" || items[i + 1]?.kind !== "card") return -1;
  i += 2;
  while (i < items.length && items[i].kind === "lanes") i += 1;
  return i < items.length ? i : -1;
}

function moveTo(doc, found, where) {
  const slot = slotOf(doc, where);
  if (slot.to === found.id || slot.routes.some((r) => r.startsWith(`${found.pointer}/`))) {
    throw new EditError(`'${found.id}' is already there.`);
  }
  let next = detach(doc, found);
  next = removeAt(next, found.pointer);
  const to = getAt(next, slot.routes[0]);
  next = insertAt(next, found.id, continueTo(found.step, to), slot);
  return { doc: next, step: found.id };
}

/** Move a step to a slot (a drop on a "+" between cards): `where` as `addStep` takes it. */
export function moveStepTo(doc, id, where) {
  return moveTo(doc, mustFind(doc, id), where);
}

// Copying and renaming -----------------------------------------------------------------------

/** A copy of a step with new ids for itself and the steps nested in it. */
function freshCopy(doc, id, step) {
  const newId = uniqueId(doc, `${id}_copy`);
  const taken = new Set([newId]);
  let wrapper = { first: newId, steps: { [newId]: clone(step) } };
  for (const inner of allSteps(wrapper).filter((s) => s.id !== newId)) {
    const renamed = uniqueId(doc, `${inner.id}_copy`, new Set([...taken, ...allSteps(wrapper).map((s) => s.id)]));
    taken.add(renamed);
    wrapper = renameStep(wrapper, inner.id, renamed).doc;
  }
  return { id: newId, step: wrapper.steps[newId] };
}

/** Paste a copy of a step object at `where`, with a new id; returns `{doc, step}`. */
export function pasteStep(doc, sourceId, step, where) {
  const slot = slotOf(doc, where);
  const copy = freshCopy(doc, sourceId, step);
  // A copy goes on to what follows the slot: a decision's copy has its lanes empty.
  const placed = copy.step.type === "end" ? copy.step : continueTo(copy.step, slot.to);
  return { doc: insertAt(doc, copy.id, placed, slot), step: copy.id };
}

/** Copy a step just after itself (after its lanes, for a step that leads several ways). */
export function copyStep(doc, id) {
  const found = mustFind(doc, id);
  return pasteStep(doc, id, found.step, pasteWhere(doc, id));
}

/** Where a paste after a step goes: its way on, or the slot after its block of lanes. */
export function pasteWhere(doc, id) {
  const found = mustFind(doc, id);
  if (targets(found.step).length === 1) return { after: id };
  const place = locateCard(buildLayout(doc), id);
  if (place) {
    let i = place.index + 1;
    while (place.items[i]?.kind === "lanes") i += 1;
    if (place.items[i]?.kind === "slot") return { routes: place.items[i].routes };
  }
  throw new EditError(`Nothing follows '${id}' in one place: paste into one of its lanes instead.`);
}

/** Rename a step, and every reference to it: routes, starts, escalations, separation of duties. */
export function renameStep(doc, from, to) {
  if (from === to) return { doc, step: to };
  if (!STEP_ID.test(to)) {
    throw new EditError(`'${to}' cannot be a step id: use lower-case letters, digits and '_', starting with a letter (at most 63).`);
  }
  if (findStep(doc, to)) throw new EditError(`There is already a step '${to}'.`);
  const found = mustFind(doc, from);
  let next = redirect(doc, referencesIn(doc, found.scope).filter((r) => r.to === from), to);
  const holderAt = `${found.scope}/steps`;
  const entries = Object.entries(getAt(next, holderAt)).map(([k, v]) => [k === from ? to : k, v]);
  next = setAt(next, holderAt, Object.fromEntries(entries));
  for (const s of allSteps(next)) {
    if (Array.isArray(s.step.not_by) && s.step.not_by.includes(from)) {
      next = setAt(next, `${s.pointer}/not_by`, s.step.not_by.map((x) => (x === from ? to : x)));
    }
  }
  return { doc: next, step: to };
}

// Branches -----------------------------------------------------------------------------------

/** Add a condition to a decision (leading where `otherwise` does) or a branch to a parallel. */
export function addBranch(doc, id) {
  const found = mustFind(doc, id);
  const { step } = found;
  if (step.type === "decision") {
    const count = (step.branches || []).length + 1;
    const branch = { label: `Condition ${count}`, when: "false", next: step.otherwise };
    return { doc: setAt(doc, `${found.pointer}/branches/-`, branch), step: id, branch: count - 1 };
  }
  if (step.type === "parallel") {
    const names = new Set(Object.keys(step.branches || {}));
    let n = names.size + 1;
    while (names.has(`branch_${n}`)) n += 1;
    const name = `branch_${n}`;
    const end = uniqueId(doc, `${id}_${name}_done`);
    const branch = { first: end, steps: { [end]: { type: "end" } } };
    return { doc: setAt(doc, `${found.pointer}${pointer("branches", name)}`, branch), step: id, branch: name };
  }
  throw new EditError(`'${id}' is a ${step.type}: only decisions and parallel steps have branches.`);
}

/** Remove a decision's condition (by index) or a parallel's branch (by name). */
export function removeBranch(doc, id, which) {
  const found = mustFind(doc, id);
  const { step } = found;
  if (step.type === "decision") {
    if ((step.branches || []).length <= 1) throw new EditError(`A decision needs at least one condition besides 'otherwise'.`);
    return { doc: removeAt(doc, `${found.pointer}/branches/${Number(which)}`), step: id };
  }
  if (step.type === "parallel") {
    const names = Object.keys(step.branches || {});
    if (!names.includes(which)) throw new EditError(`'${id}' has no branch '${which}'.`);
    if (names.length <= 2) throw new EditError("A parallel step needs at least two branches.");
    let next = removeAt(doc, `${found.pointer}${pointer("branches", which)}`);
    if (typeof step.join === "number" && step.join > names.length - 1) next = setAt(next, `${found.pointer}/join`, names.length - 1);
    return { doc: next, step: id };
  }
  throw new EditError(`'${id}' is a ${step.type}: only decisions and parallel steps have branches.`);
}

/** Make a step the first of its flow (the workflow's, or its parallel branch's). */
export function setFirst(doc, id) {
  const found = mustFind(doc, id);
  return { doc: setAt(doc, `${found.scope}/first`, id), step: id };
}

// Between two documents ----------------------------------------------------------------------

/**
 * The steps an edit (or an undo) from `before` to `after` touched: those it added or brought
 * back, then those it changed, in document order. Told by identity, as an edit shares every
 * step it does not change (pointer.js); a parallel changed within a branch is named by the
 * step changed there.
 */
export function touchedSteps(before, after) {
  const was = new Map(allSteps(before).map((s) => [s.id, s.step]));
  const now = allSteps(after);
  const added = now.filter((s) => !was.has(s.id));
  const changed = now.filter((s) => was.has(s.id) && was.get(s.id) !== s.step);
  const innermost = changed.filter((s) => !changed.some((other) => other.scope.startsWith(`${s.pointer}/`)));
  return [...added, ...innermost].map((s) => s.id);
}
