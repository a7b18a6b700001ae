// The properties of a review step: who reviews (listed, or named in a field), how many
// approvals approve it, when it is rejected, and all that said in words, ties included
// (docs/workflow-language.md §12, review).

import { el } from "../dom.js";
import { button, control, fieldsAt, fieldWords, group, idFor, rowButtons, selectField, textField } from "./controls.js";
import { assignEditor } from "./people.js";
import { moveItem } from "./places.js";

const LISTISH = new Set(["multiselect", "list", "array", "user", "string", "calculated", "any", undefined, null]);

export function reviewersEditor({ panel, view, at, id, step }) {
  const box = el("div", { class: "wf-reviewers" });
  const reviewers = step.reviewers;
  const fromField = reviewers && !Array.isArray(reviewers) && "from" in reviewers;
  const pick = selectField(panel, `${at}/reviewers--mode`, "Reviewers", "Change where the reviewers come from", [["listed", "Listed here, one task each"], ["from", "The people named in a field"]], {
    onChange: (value) => panel.put("Change where the reviewers come from", `${at}/reviewers`, value === "from" ? { from: fieldsAt(view, id).find((f) => LISTISH.has(f.type))?.key || "" } : [{ assign: { requester: true } }]),
  });
  pick.querySelector("select").value = JSON.stringify(fromField ? "from" : "listed");
  box.append(pick);
  if (fromField) {
    const choices = fieldsAt(view, id).filter((f) => LISTISH.has(f.type)).map((f) => [f.key, fieldWords(f)]);
    box.append(selectField(panel, `${at}/reviewers/from`, "Field holding the user names", "Change the reviewers' field", choices, { hint: "A list of user names, like a multiple choice of people; one task per name." }));
    return box;
  }
  const list = el("ol", { class: "wf-reviewer-list" });
  const entries = Array.isArray(reviewers) ? reviewers : [];
  const putAll = (label, next) => panel.put(label, `${at}/reviewers`, next);
  entries.forEach((entry, index) => {
    const entryAt = `${at}/reviewers/${index}`;
    const item = el("li", { class: "wf-reviewer" });
    item.append(
      textField(panel, `${entryAt}/role`, `Reviewer ${index + 1}: role`, "Change a reviewer's role", { hint: "Optional, like service owner." }),
      assignEditor(panel, `${entryAt}/assign`, { step: id, words: `Reviewer ${index + 1}`, label: "Change a reviewer" }),
      rowButtons(`reviewer ${index + 1}`, index, entries.length, {
        up: () => putAll("Move a reviewer", moveItem(entries, index, -1)),
        down: () => putAll("Move a reviewer", moveItem(entries, index, 1)),
        remove: entries.length > 1 ? () => putAll("Remove a reviewer", entries.filter((_, i) => i !== index)) : null,
      }),
    );
    list.append(item);
  });
  box.append(list, button("Add a reviewer", { id: idFor(at, "add-reviewer") }, () => putAll("Add a reviewer", [...entries, { assign: { group: view.context?.groups?.[0]?.key || "" } }])));
  return box;
}

/** How a review is decided, in words: quorum, early rejection and ties. */
export function reviewInWords(step) {
  const listed = Array.isArray(step.reviewers) ? step.reviewers.length : null;
  const of = listed ? ` of ${listed}` : "";
  const quorum = step.quorum;
  let needed = null;
  let text;
  if (quorum === "all") {
    needed = listed;
    text = `Approved when every reviewer${listed ? ` (${listed})` : ""} approves.`;
  } else if (quorum === "any") {
    needed = 1;
    text = "Approved as soon as one reviewer approves.";
  } else if (quorum === "majority") {
    needed = listed ? Math.floor(listed / 2) + 1 : null;
    text = `Approved by a majority${needed ? `: ${needed}${of}` : " (more than half)"}.`;
    if (!listed) text += " A tie is not a majority, so it is rejected.";
    else if (listed % 2 === 0) text += ` A tie (${listed / 2}${of}) is not a majority, so it is rejected.`;
  } else if (typeof quorum === "number") {
    needed = quorum;
    if (listed && quorum > listed) {
      // The checker says so at the quorum; the summary must not count -1 rejections.
      return `Never approved: ${quorum} approvals are needed, and there ${listed === 1 ? "is 1 reviewer" : `are ${listed} reviewers`}.`;
    }
    text = `Approved when ${quorum}${of} approve.`;
  } else {
    return "Choose how many approvals approve the review.";
  }
  const reject = step.reject ?? "unreachable";
  const against = listed && needed ? listed - needed + 1 : 0;
  const unreachable = against ? ` (${against} ${against === 1 ? "rejection" : "rejections"})` : "";
  if (reject === "first") text += " Rejected at the first rejection.";
  else if (typeof reject === "object" && reject) text += ` Rejected as soon as ${reject.count} reject, or when approval can no longer be reached${unreachable}.`;
  else text += ` Rejected when approval can no longer be reached${unreachable}.`;
  return text;
}

export function quorumEditor({ panel, at, step }) {
  const box = group(panel, `${at}/quorum`, "How the review is decided");
  const quorum = step.quorum;
  const count = Array.isArray(step.reviewers) ? step.reviewers.length : null;
  const kind = typeof quorum === "number" ? "number" : quorum;
  const pick = selectField(panel, `${at}/quorum--kind`, "Approved by", "Change the quorum", [["all", "All reviewers"], ["any", "Any one reviewer"], ["majority", "A majority (more than half)"], ["number", "A number of them (N of M)"]], {
    onChange: (value) => panel.put("Change the quorum", `${at}/quorum`, value === "number" ? Math.min(2, count || 2) : value),
  });
  pick.querySelector("select").value = JSON.stringify(kind ?? "majority");
  box.append(pick);
  if (kind === "number") {
    const input = el("input", { type: "number", min: "1", max: count ? String(count) : null, step: "1" });
    input.value = String(quorum);
    input.addEventListener("change", () => panel.put("Change the quorum", `${at}/quorum`, input.value === "" ? undefined : Number(input.value)));
    box.append(control(panel, `${at}/quorum`, count ? `Approvals needed, of ${count}` : "Approvals needed", input));
  }
  const reject = step.reject;
  const rejectKind = typeof reject === "object" && reject ? "count" : reject ?? "unreachable";
  const rejectPick = selectField(panel, `${at}/reject--kind`, "Rejected", "Change when the review is rejected", [["unreachable", "Only when approval can no longer be reached"], ["first", "At the first rejection"], ["count", "After a number of rejections"]], {
    onChange: (value) => panel.put("Change when the review is rejected", `${at}/reject`, value === "unreachable" ? undefined : value === "count" ? { count: 2 } : value),
  });
  rejectPick.querySelector("select").value = JSON.stringify(rejectKind);
  box.append(rejectPick);
  if (rejectKind === "count") {
    const input = el("input", { type: "number", min: "1", max: count ? String(count) : null, step: "1" });
    input.value = String(reject.count);
    input.addEventListener("change", () => panel.put("Change when the review is rejected", `${at}/reject/count`, input.value === "" ? undefined : Number(input.value)));
    box.append(control(panel, `${at}/reject/count`, "Rejections that reject", input));
  }
  box.append(el("p", { class: "wf-review-words", "aria-live": "polite" }, reviewInWords(step)));
  return box;
}
