// Where the steps of a workflow document are, and the routes between them. Pure: no DOM.

import { pointer, tokens } from "./pointer.js";

/**
 * Every step of the document, nested ones included, in document order:
 * `{id, step, pointer, scope}` where `scope` is the pointer of the object holding `first`
 * and `steps` ("" for the top level, "/steps/p/branches/b" for a parallel branch).
 */
export function allSteps(doc) {
  const found = [];
  const walk = (scope, holder) => {
    const steps = holder && typeof holder.steps === "object" && holder.steps ? holder.steps : {};
    for (const [id, step] of Object.entries(steps)) {
      const at = `${scope}${pointer("steps", id)}`;
      found.push({ id, step, pointer: at, scope });
      if (step && step.type === "parallel" && step.branches && typeof step.branches === "object") {
        for (const [name, branch] of Object.entries(step.branches)) {
          walk(`${at}${pointer("branches", name)}`, branch);
        }
      }
    }
  };
  walk("", doc);
  return found;
}

/** The step with this id, as `allSteps` gives it, or undefined. */
export function findStep(doc, id) {
  return allSteps(doc).find((s) => s.id === id);
}

/** The id of the step a JSON Pointer is about (the innermost step), or null. */
export function stepOfPointer(pointerText) {
  let parts;
  try {
    parts = tokens(pointerText || "");
  } catch {
    return null;
  }
  let id = null;
  for (let i = 0; i < parts.length - 1; i += 1) {
    // /steps/<id> at the top, and /steps/<p>/branches/<b>/steps/<id> inside parallels.
    const atTop = i === 0 || parts[i - 2] === "branches";
    if (parts[i] === "steps" && atTop) id = parts[i + 1];
  }
  return id;
}

/**
 * The ways on of a step, not counting escalations: `[{to, pointer, label}]` for `next`,
 * each outcome of `on`, each decision branch and `otherwise`.
 */
export function forwardRoutes(step, at) {
  const found = [];
  if (!step || typeof step !== "object") return found;
  if (step.type === "decision") {
    (Array.isArray(step.branches) ? step.branches : []).forEach((branch, index) => {
      if (branch && typeof branch.next === "string") {
        found.push({ to: branch.next, pointer: `${at}/branches/${index}/next`, label: branch.label || `Condition ${index + 1}`, when: branch.when });
      }
    });
    if (typeof step.otherwise === "string") found.push({ to: step.otherwise, pointer: `${at}/otherwise`, label: "Otherwise" });
    return found;
  }
  if (step.on && typeof step.on === "object") {
    for (const [outcome, to] of Object.entries(step.on)) {
      if (typeof to === "string") found.push({ to, pointer: `${at}${pointer("on", outcome)}`, label: outcome });
    }
  }
  if (typeof step.next === "string") {
    found.push({ to: step.next, pointer: `${at}/next`, label: step.on ? "any other outcome" : "next" });
  }
  return found;
}

/** The escalation `goto` routes of a step: `[{to, pointer}]`. */
export function gotoRoutes(step, at) {
  const found = [];
  (Array.isArray(step?.escalate) ? step.escalate : []).forEach((rung, r) => {
    (Array.isArray(rung?.do) ? rung.do : []).forEach((action, a) => {
      if (action && typeof action.goto === "string") found.push({ to: action.goto, pointer: `${at}/escalate/${r}/do/${a}/goto` });
    });
  });
  return found;
}

/** The distinct steps a step's ways on lead to, in order. */
export function targets(step) {
  return [...new Set(forwardRoutes(step, "").map((r) => r.to))];
}

