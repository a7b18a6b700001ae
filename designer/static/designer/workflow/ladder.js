// The escalation ladder of a human step (`escalate`): rungs in order, each after a
// duration counted from the step's start, in business or wall time, maybe repeated, and its
// actions (remind, reassign, raise the priority, notify, complete with an outcome, go to a
// step). The actions editor also serves the SLA's `on_breach` (docs/workflow-language.md §14).

import { el } from "../dom.js";
import { getAt, removeAt, setAt } from "./pointer.js";
import { durationInWords, joinWords } from "./durations.js";
import { Panel, button, calendarField, checkboxField, durationField, group, idFor, numberField, rowButtons, selectField, stepField } from "./controls.js";
import { assignEditor, notifyEditor } from "./people.js";
import { moveItem, outcomesOf, siblingIds } from "./places.js";

export const ACTION_KINDS = [
  ["remind", "Remind"],
  ["reassign", "Reassign"],
  ["raise_priority", "Raise the priority"],
  ["notify", "Notify"],
  ["complete", "Complete the step with an outcome"],
  ["goto", "Go to another step"],
];
const REMIND = [["assignee", "the assignee"], ["candidates", "the group the task waits with"], ["requester", "the requester"]];

/** The priority levels of a workflow: `priorities`, else the order of the SLA targets. */
export function priorityLevels(doc) {
  return doc.priorities || Object.keys(doc.sla?.targets || {});
}

/** The kind of an action: its one property. */
export function actionKind(action) {
  return action && typeof action === "object" ? Object.keys(action)[0] : undefined;
}

/** A first action of a kind, for `step` (its outcomes, the steps it may go to). */
export function starterAction(kind, { step = null, siblings = [], self = null, inStep = true } = {}) {
  // An approval left unanswered is not approved by default: the safe outcome comes first.
  const outcomes = outcomesOf(step);
  const outcome = (outcomes.includes("rejected") ? "rejected" : outcomes[0]) || "done";
  return {
    remind: { remind: inStep ? "assignee" : "requester" },
    reassign: { reassign: "next_tier" },
    raise_priority: { raise_priority: true },
    notify: { notify: { to: inStep ? "assignee" : "requester", template: "reminder" } },
    complete: { complete: outcome },
    goto: { goto: siblings.find((id) => id !== self) || "" },
  }[kind];
}

/** A rung in words: "after 30 minutes of business hours (office), then every hour, 3 more times: remind the assignee". */
export function rungInWords(rung, stepCalendar) {
  const calendar = rung.calendar || stepCalendar;
  const working = Boolean(calendar);
  const after = durationInWords(rung.after, { working }) || rung.after;
  let text = `after ${after}${calendar ? ` (calendar ${calendar})` : ""}`;
  if (rung.repeat) {
    const every = durationInWords(rung.repeat.every, { working }) || rung.repeat.every;
    text += `, then every ${every}, ${rung.repeat.limit} more time${rung.repeat.limit === 1 ? "" : "s"} at most`;
  }
  const did = (rung.do || []).map((action) => {
    const kind = actionKind(action);
    const value = action[kind];
    if (kind === "remind") return `remind ${REMIND.find(([k]) => k === value)?.[1] || value}`;
    if (kind === "reassign") return value === "next_tier" ? "move to the next tier" : value === "manager" ? "give to the assignee's manager" : "reassign";
    if (kind === "raise_priority") return value === true ? "raise the priority one level" : `raise the priority to ${value}`;
    if (kind === "complete") return `complete as ${value}`;
    if (kind === "goto") return `go to ${value}`;
    return kind;
  });
  return `${text}: ${joinWords(did)}`;
}

/** The ladder at `pointer` (a step's `escalate`) of the step `step`. */
export function ladderEditor(view, { pointer: at, step, panel = null }) {
  const own = panel || new Panel(view);
  const stepAt = at.replace(/\/escalate$/, "");
  const stepDoc = getAt(view.doc, stepAt) || {};
  const rungs = getAt(view.doc, at) || [];
  const box = group(own, at, "Escalation ladder", { hint: "Each rung counts from the moment the step starts, not from the rung before." });
  const list = el("ol", { class: "wf-ladder" });
  const putRungs = (label, next) => own.apply(label, (doc) => (next.length ? setAt(doc, at, next) : removeAt(doc, at)));
  rungs.forEach((rung, index) => {
    const rungAt = `${at}/${index}`;
    const item = el("li", { class: "wf-rung" });
    item.append(el("p", { class: "wf-rung-words" }, `Rung ${index + 1}: ${rungInWords(rung, stepDoc.calendar)}.`));
    const working = () => Boolean(rung.calendar || stepDoc.calendar);
    item.append(
      durationField(own, `${rungAt}/after`, "After", "Change when the rung acts", { working, optional: false }),
      calendarField(own, `${rungAt}/calendar`, "Counted in", "Change the rung's calendar", {
        none: stepDoc.calendar ? `The step's calendar (${stepDoc.calendar})` : "Wall time (the step has no calendar)",
      }),
      checkboxField(own, `${rungAt}/repeat`, "Repeat it", "Repeat the rung", { on: rung.repeat || { every: "PT1H", limit: 3 }, checked: Boolean(rung.repeat) }),
    );
    if (rung.repeat) {
      item.append(
        durationField(own, `${rungAt}/repeat/every`, "Every", "Change how often the rung repeats", { working, optional: false }),
        numberField(own, `${rungAt}/repeat/limit`, "More times, at most", "Change how often the rung repeats", { min: "1", max: "100", step: "1" }),
      );
    }
    item.append(actionsEditor(own, `${rungAt}/do`, { step, stepDoc, legend: `What rung ${index + 1} does` }));
    item.append(rowButtons(`rung ${index + 1}`, index, rungs.length, {
      up: () => putRungs("Move an escalation", moveItem(rungs, index, -1)),
      down: () => putRungs("Move an escalation", moveItem(rungs, index, 1)),
      remove: () => putRungs("Remove an escalation", rungs.filter((_, i) => i !== index)),
    }));
    list.append(item);
  });
  box.append(list);
  const last = rungs[rungs.length - 1];
  box.append(button("Add a rung", { id: idFor(at, "add") }, () => putRungs("Add an escalation", [...rungs, { after: last ? last.after : "PT1H", do: [{ remind: "assignee" }] }])));
  if (!panel) own.distribute(at, null);
  return box;
}

/**
 * The actions at `at` (a rung's `do`, or the SLA's `on_breach`). `step`/`stepDoc`: the step
 * acted on, or null for the SLA, whose actions cannot complete nor go anywhere.
 */
export function actionsEditor(panel, at, { step = null, stepDoc = null, legend = "Actions", allowEmpty = false }) {
  const actions = getAt(panel.doc, at) || [];
  const inStep = Boolean(stepDoc);
  const kinds = inStep ? ACTION_KINDS : ACTION_KINDS.filter(([k]) => k !== "complete" && k !== "goto");
  const siblings = step ? siblingIds(panel.doc, step) : [];
  const box = group(panel, at, legend);
  const list = el("ol", { class: "wf-actions" });
  const putAll = (label, next) => panel.apply(label, (doc) => (next.length || !allowEmpty ? setAt(doc, at, next) : removeAt(doc, at, { prune: true })));
  actions.forEach((action, index) => {
    const actionAt = `${at}/${index}`;
    const kind = actionKind(action);
    const item = el("li", { class: "wf-action" });
    item.append(selectField(panel, `${actionAt}--kind`, `Action ${index + 1}`, "Change an escalation action", kinds, {
      onChange: (value) => panel.put("Change an escalation action", actionAt, starterAction(value, { step: stepDoc, siblings, self: step, inStep })),
    }));
    item.querySelector("select").value = JSON.stringify(kind);
    item.append(actionDetails(panel, actionAt, action, kind, { step, stepDoc, siblings, inStep }));
    item.append(rowButtons(`action ${index + 1}`, index, actions.length, {
      up: () => putAll("Move an action", moveItem(actions, index, -1)),
      down: () => putAll("Move an action", moveItem(actions, index, 1)),
      remove: actions.length > 1 || allowEmpty ? () => putAll("Remove an action", actions.filter((_, i) => i !== index)) : null,
    }));
    list.append(item);
  });
  box.append(list);
  box.append(button("Add an action", { id: idFor(at, "add") }, () => putAll("Add an action", [...actions, starterAction(inStep ? "remind" : "notify", { inStep })])));
  return box;
}

function actionDetails(panel, at, action, kind, { step, stepDoc, siblings, inStep }) {
  const box = el("div", { class: "wf-action-details" });
  const value = action[kind];
  if (kind === "remind") {
    box.append(selectField(panel, `${at}/remind`, "Whom", "Change whom to remind", REMIND));
  } else if (kind === "reassign") {
    const mode = typeof value === "string" ? value : "someone";
    const pick = selectField(panel, `${at}/reassign--mode`, "To", "Change where to reassign", [
      ["next_tier", "The next tier of the task's group"],
      ["manager", "The current assignee's manager"],
      ["someone", "Someone chosen here"],
    ], { onChange: (v) => panel.put("Change where to reassign", `${at}/reassign`, v === "someone" ? { group: panel.view.context?.groups?.[0]?.key || "" } : v) });
    pick.querySelector("select").value = JSON.stringify(mode);
    box.append(pick);
    if (mode === "someone") box.append(assignEditor(panel, `${at}/reassign`, { step, words: "Who gets the tasks", label: "Change where to reassign" }));
  } else if (kind === "raise_priority") {
    const levels = priorityLevels(panel.doc);
    box.append(selectField(panel, `${at}/raise_priority`, "Raise it to", "Change how the priority is raised", [[true, "One level more urgent"], ...levels.map((l) => [l, `To ${l}, if that is more urgent`])]));
  } else if (kind === "notify") {
    box.append(notifyEditor(panel, `${at}/notify`, { step }));
  } else if (kind === "complete") {
    box.append(selectField(panel, `${at}/complete`, "Outcome", "Change the outcome", outcomesOf(stepDoc).map((o) => [o, o])));
  } else if (kind === "goto") {
    box.append(stepField(panel, `${at}/goto`, "Step", "Change where to go", siblings.filter((id) => id !== step)));
  } else {
    box.append(el("p", { class: "hint" }, "This action is written in a way the panel cannot show; see the JSON view."));
  }
  return box;
}
