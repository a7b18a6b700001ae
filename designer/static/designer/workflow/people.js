// Who: the assignment picker (a person, a person named in a field, a group with its
// strategy, the requester, whoever is on call, someone's manager) and the notification
// editor (an email to a recipient, or a webhook). Shared by steps, reviewers, escalation
// `reassign`, actions and SLA breaches (docs/workflow-language.md §13 and §15).

import { el } from "../dom.js";
import { getAt } from "./pointer.js";
import { control, fieldsAt, fieldWords, fillSelect, idFor, option, selectField, switchKind, textField } from "./controls.js";

const KINDS = [
  ["user", "A person"],
  ["field", "The person named in a field"],
  ["group", "A group"],
  ["requester", "The requester"],
  ["on_call", "Whoever is on call"],
  ["manager_of", "The manager of someone"],
];
const STRATEGIES = [["claim", "Waits in the group's queue until a member claims it"], ["round_robin", "Round robin: members in turn"], ["least_loaded", "The member with the fewest open tasks"]];
const FILLED_IN = /^\{\{\s*([A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)*)\s*\}\}$/;
const USERISH = new Set(["user", "text", "hidden", "select", "radio", "calculated", "any", "string", undefined, null]);

/** How a person is named in pickers: "Ivy Jones (ivy)", or "ivy" when that is all there is. */
export function personWords(user) {
  return user.name && user.name !== user.username ? `${user.name} (${user.username})` : user.username;
}

/** How a group is named in pickers: "Desktop support (desktop-support)", or its key alone. */
export function groupWords(group) {
  return group.name && group.name !== group.key ? `${group.name} (${group.key})` : group.key;
}

/** The field a template names alone ("{{ manager }}" -> "manager"), or null. */
export function fieldOfTemplate(text) {
  const match = typeof text === "string" ? FILLED_IN.exec(text) : null;
  return match && !match[1].startsWith("instance.") ? match[1] : null;
}

/** Which kind of assignment an `assign` object is, as the picker shows it. */
export function assignKind(assign) {
  if (!assign || typeof assign !== "object") return null;
  if ("user" in assign) return fieldOfTemplate(assign.user) ? "field" : "user";
  return ["group", "requester", "on_call", "manager_of"].find((kind) => kind in assign) || null;
}

/** A first assignment of a kind, from what the context offers. */
function starterAssign(kind, view, step) {
  const users = view.context?.users || [];
  // The checker says "string" for a user field (it knows kinds of value, not form types).
  const fields = fieldsAt(view, step).filter((f) => (f.type === "user" || f.type === "string") && !f.options);
  return {
    user: { user: users[0]?.username || "" },
    field: { user: `{{ ${fields[0]?.key || "manager"} }}` },
    group: { group: view.context?.groups?.[0]?.key || "" },
    requester: { requester: true },
    on_call: { on_call: view.context?.schedules?.[0] || "" },
    manager_of: { manager_of: "{{ instance.requester }}" },
  }[kind];
}

/**
 * The assignment at `at`. With `none`, a first choice in those words removes it (a task
 * without `assign` goes to the requester).
 */
export function assignEditor(panel, at, { step, words = "Who does it", none = null, label = "Change who does it" }) {
  const { view } = panel;
  const assign = getAt(panel.doc, at);
  const kind = assignKind(assign);
  const box = el("div", { class: "wf-assign" });
  const select = el("select");
  // A task without an assignment is the requester's: "The requester" would be said twice.
  const kinds = none && /requester/i.test(none) && kind !== "requester" ? KINDS.filter(([k]) => k !== "requester") : KINDS;
  fillSelect(select, kinds, kind ?? undefined, none);
  if (assign !== undefined && !kind) select.append(option("json", "Written otherwise (see the JSON view)", true));
  select.addEventListener("change", () => {
    const value = select.value === "" ? undefined : JSON.parse(select.value);
    panel.put(label, at, value === undefined ? undefined : switchKind(at, kind, assign, value, () => starterAssign(value, view, step)));
  });
  box.append(control(panel, at, words, select, { id: idFor(at, "kind") }));
  const users = (view.context?.users || []).map((u) => [u.username, personWords(u)]);
  const fields = fieldsAt(view, step).filter((f) => USERISH.has(f.type));
  // A field of fixed options names a person or a group only when every option is one.
  const naming = (known) => fields.filter((f) => !Array.isArray(f.options) || f.options.every((o) => known.includes(o)));
  const usernames = (view.context?.users || []).map((u) => u.username);
  // A person is named by a user field (or one set to a user name): a free text field such
  // as "Item" is offered for groups, which have no field type of their own, not for people.
  const namingPeople = () => naming(usernames).filter((f) => f.type !== "text" && f.type !== "string");
  const groupKeys = (view.context?.groups || []).map((g) => g.key);
  const asTemplates = (list, words) => list.map((f) => [`{{ ${f.key} }}`, words(f)]);
  if (kind === "user") box.append(templatePicker(panel, `${at}/user`, "Person", label, [{ group: "People", choices: users }]));
  if (kind === "field") {
    const fieldChoices = namingPeople().map((f) => [`{{ ${f.key} }}`, fieldWords(f)]);
    box.append(selectField(panel, `${at}/user`, "Field that names the person", label, fieldChoices, { hint: "A user field of a form, or a field set to a user name." }));
  }
  if (kind === "group") {
    const groups = (view.context?.groups || []).map((g) => [g.key, groupWords(g)]);
    box.append(templatePicker(panel, `${at}/group`, "Group", label, [{ group: "Groups", choices: groups }, { group: "The group named in a field", choices: asTemplates(naming(groupKeys), (f) => `The group in the field ${fieldWords(f)}`) }]));
    box.append(selectField(panel, `${at}/strategy`, "Who in the group gets it", "Change how the group hands out tasks", STRATEGIES.slice(1), { none: STRATEGIES[0][1] }));
  }
  if (kind === "on_call") {
    const schedules = (view.context?.schedules || []).map((s) => [s, s]);
    box.append(templatePicker(panel, `${at}/on_call`, "On-call schedule", label, [{ group: "Schedules", choices: schedules }]));
  }
  if (kind === "manager_of") {
    box.append(templatePicker(panel, `${at}/manager_of`, "Whose manager", label, [
      ["{{ instance.requester }}", "The requester's manager"],
      { group: "The person named in a field", choices: asTemplates(namingPeople(), (f) => `The manager of the person in the field ${fieldWords(f)}`) },
      { group: "People", choices: users },
    ]));
  }
  return box;
}

/**
 * The pickers set to "written out" before anything is written: a redraw (a check coming
 * back) keeps their text box open. A pointer leaves when one of the choices is picked.
 */
const writingOut = new Set();

/**
 * A picker of a text value that may be a template: one of `choices`, or "written out"
 * (a text box), which is also how a value none of the choices has is shown.
 */
export function templatePicker(panel, at, words, label, choices) {
  const current = getAt(panel.doc, at);
  const flat = choices.flatMap((c) => (Array.isArray(c) ? [c] : c.choices)).map(([v]) => v);
  // With nothing to choose from (no on-call schedule yet), the text box is the way.
  const written = writingOut.has(at) || flat.length === 0 || (current !== undefined && current !== "" && !flat.includes(current));
  const box = el("div", { class: "wf-template-picker" });
  const select = el("select");
  fillSelect(select, choices, written ? undefined : current, "Choose…");
  const other = option("__other__", "Something else, written out", written);
  select.append(other);
  if (written) select.value = JSON.stringify("__other__");
  const text = textField(panel, at, `${words}, written out`, label, { hint: "A name, or a template like {{ field }}." });
  text.hidden = !written;
  select.addEventListener("change", () => {
    const value = select.value === "" ? undefined : JSON.parse(select.value);
    if (value === "__other__") {
      writingOut.add(at);
      text.hidden = false;
      // Typing replaces the value shown, which was the choice left.
      const input = text.querySelector("input");
      input?.focus();
      input?.select();
      return;
    }
    writingOut.delete(at);
    panel.put(label, at, value);
  });
  box.append(control(panel, `${at}--pick`, words, select, { id: idFor(at, "pick") }), text);
  return box;
}

const RECIPIENT_WORDS = [["requester", "The requester"], ["assignee", "The assignee of the step's open tasks"], ["candidates", "The group the step's tasks wait with"]];

/** A recipient kind: a word, "someone" (an assign object) or "email". */
function recipientKind(to) {
  if (typeof to === "string") return to;
  if (to && typeof to === "object" && "email" in to) return "email";
  return to === undefined ? undefined : "someone";
}

/**
 * The notification at `at`: an email from a message template to a recipient, or a webhook.
 * `inAction`: an action has no tasks, so no assignee nor candidates.
 */
export function notifyEditor(panel, at, { step, inAction = false }) {
  const notify = getAt(panel.doc, at) || {};
  const box = el("div", { class: "wf-notify" });
  const byWebhook = "webhook" in notify;
  const how = selectField(panel, `${at}--how`, "Send", "Change how to notify", [["email", "An email"], ["webhook", "A webhook (an HTTP POST)"]], {
    onChange: (value) => panel.put("Change how to notify", at, value === "webhook" ? { webhook: "https://" } : { to: inAction ? "requester" : "assignee", template: "reminder" }),
  });
  how.querySelector("select").value = JSON.stringify(byWebhook ? "webhook" : "email");
  box.append(how);
  if (byWebhook) {
    box.append(textField(panel, `${at}/webhook`, "Address", "Change the webhook address", { hint: "https://… ; values like {{ instance.number }} may fill in the path and query." }));
    return box;
  }
  const kind = recipientKind(notify.to);
  const words = inAction ? RECIPIENT_WORDS.slice(0, 1) : RECIPIENT_WORDS;
  const starters = { someone: { group: panel.view.context?.groups?.[0]?.key || "" }, email: { email: "" } };
  const to = selectField(panel, `${at}/to--kind`, "To", "Change who is notified", [...words, ["someone", "Someone else (a person, a group…)"], ["email", "An email address"]], {
    onChange: (value) => panel.put("Change who is notified", `${at}/to`, starters[value] ?? value),
  });
  to.querySelector("select").value = JSON.stringify(kind ?? "requester");
  box.append(to);
  if (kind === "someone") box.append(assignEditor(panel, `${at}/to`, { step, words: "Who", label: "Change who is notified" }));
  if (kind === "email") box.append(textField(panel, `${at}/to/email`, "Email address", "Change the email address", { hint: "An address, or a template like {{ email }}." }));
  // The workflow's own messages (written in its settings), then the shipped ones.
  const listId = idFor(at, "messages");
  const own = Object.keys(panel.doc.messages || {}).sort();
  const datalist = el("datalist", { id: listId });
  own.forEach((key) => datalist.append(el("option", { value: key }, "this workflow's message")));
  (panel.view.context?.messages || []).filter((key) => !own.includes(key)).forEach((key) => datalist.append(el("option", { value: key }, "ships with Flowdesk")));
  const message = textField(panel, `${at}/template`, "Message template", "Change the message template", { list: listId, hint: "One of this workflow's own messages (written in the workflow settings, under Mail messages), or one that ships with Flowdesk, like reminder." });
  message.append(datalist);
  box.append(message);
  return box;
}
