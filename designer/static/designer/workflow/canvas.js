// The canvas: the layout's block tree drawn as cards top to bottom, lanes side by side.
// Keys, clicks and drops become calls on the editor (`on`); nothing here edits a document.

import { el } from "../dom.js";

const TYPE_WORDS = {
  task: "Task", approval: "Approval", review: "Review", parallel: "Parallel", decision: "Decision",
  action: "Action", wait: "Wait", subflow: "Subflow", end: "End",
};

const OP_WORDS = {
  eq: "is", ne: "is not", lt: "is less than", le: "is at most", gt: "is more than", ge: "is at least",
  in: "is one of", not_in: "is none of", contains: "contains", not_contains: "does not contain",
  empty: "is empty", not_empty: "is filled in", before: "is before", after: "is after",
};

/** What the arrow keys walk on the canvas: the cards and the "+" buttons between them. */
const STOPS = ".wf-card-select, .wf-add";
const ARROWS = new Set(["ArrowUp", "ArrowDown", "ArrowLeft", "ArrowRight"]);

/** The id of a step's card button. */
export function cardId(id) {
  return `wf-card-${id}`;
}

/** The id of a "+" button: the routes it adds on, so a redraw gives the same id (none without). */
function slotId(routes) {
  return routes.length ? `wf-slot-${routes.join(",").replace(/\s/g, "_")}` : null;
}

/** What a "+" button says: where it adds a step. */
function slotWords(item, previous, next) {
  const before = next && next.kind === "card" ? next.id : item.target;
  return previous ? `Add a step after ${previous}${before ? `, before ${before}` : ""}` : `Add a step before ${before || "the end of this lane"}`;
}

/** Give a "+" kept as it was the index it has now. */
function renumber(li, index) {
  if (li.dataset.slot === String(index)) return;
  li.dataset.slot = String(index);
  li.firstElementChild.dataset.slot = String(index);
}

/** Call `visit(slot, i)` for each "+" of these layout items, in drawing order, lanes within. */
function eachSlot(items, visit, counter = { i: 0 }) {
  for (const item of items) {
    if (item.kind === "slot") visit(item, counter.i++);
    else if (item.kind === "lanes") {
      for (const lane of item.lanes) {
        eachSlot(lane.seq, visit, counter);
        for (const unreached of lane.unreached || []) eachSlot(unreached, visit, counter);
      }
    }
  }
}

/** A condition in words: "category is 'password' and cost is at least 500". */
export function conditionWords(condition) {
  if (typeof condition === "string") return `when ${condition}`;
  const words = (c) => {
    if (!c || typeof c !== "object") return "?";
    if (Array.isArray(c.all)) return c.all.map(words).join(" and ");
    if (Array.isArray(c.any)) return c.any.map(words).join(" or ");
    if (c.not) return `not (${words(c.not)})`;
    const value = c.value === undefined ? "" : ` ${JSON.stringify(c.value).replace(/"/g, "'")}`;
    return `${c.field} ${OP_WORDS[c.op] || c.op}${value}`;
  };
  return `when ${words(condition)}`;
}

/**
 * A person as an assignment names them, in words: a name as it is, a template by what it
 * reads ("{{ instance.requester }}": the requester; "{{ approver }}": the person in approver).
 */
function personWords(value, prefix) {
  const found = /^\{\{\s*([A-Za-z_][\w.]*)\s*\}\}$/.exec(String(value).trim());
  if (!found) return `${prefix}${value}`;
  if (found[1] === "instance.requester") return "the requester";
  return `the person in ${found[1]}`;
}

/** Who a step's work goes to, or what an automatic step does, in a few words. */
export function assignmentWords(step) {
  if (!step || typeof step !== "object") return "";
  const who = (assign) => {
    if (!assign || typeof assign !== "object") return "someone";
    if (assign.requester) return "the requester";
    if (assign.user) return `${personWords(assign.user, "user ")}`;
    if (assign.group) return `group ${assign.group}${assign.strategy && assign.strategy !== "claim" ? ` (${assign.strategy.replace(/_/g, " ")})` : ""}`;
    if (assign.on_call) return `whoever is on call for ${assign.on_call}`;
    if (assign.manager_of) return `the manager of ${personWords(assign.manager_of, "")}`;
    return "someone";
  };
  switch (step.type) {
    case "task":
      return `For ${step.assign ? who(step.assign) : "the requester"}`;
    case "approval":
      return `Approved by ${who(step.assign)}${step.auto_approve ? ", or by itself" : ""}`;
    case "review": {
      const count = Array.isArray(step.reviewers) ? `${step.reviewers.length} ${step.reviewers.length === 1 ? "reviewer" : "reviewers"}` : `reviewers from ${step.reviewers?.from}`;
      return `${count}, quorum ${step.quorum}`;
    }
    case "action": {
      const parts = [];
      if (step.set && typeof step.set === "object") parts.push(`sets ${Object.keys(step.set).join(", ")}`);
      if (step.notify) parts.push("sends a notification");
      return parts.join("; ");
    }
    case "wait":
      return step.until ? `Waits until ${step.until}` : `Waits ${step.for}${step.calendar ? ` of ${step.calendar} hours` : ""}`;
    case "subflow":
      return `Starts ${step.workflow}${step.wait === false ? "" : " and waits for it"}`;
    case "end":
      return `Ends as ${step.status || "completed"}`;
    case "parallel":
      return `Branches join when ${step.join === undefined || step.join === "all" ? "all" : step.join} finish`;
    default:
      return "";
  }
}

function titleOf(id, step) {
  if (step && typeof step === "object" && step.label) return step.label;
  const words = id.replace(/_/g, " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

function wrap(tag, attrs, child) {
  const node = el(tag, attrs);
  node.append(child);
  return node;
}

function linkButton(item, prefix = "") {
  const words = item.missing
    ? `leads to '${item.to}', which is not a step`
    : `${item.back ? "goes back to" : "goes to"} ${item.to}`;
  const attrs = { type: "button", class: "link-button wf-goto", "data-goto": item.missing ? null : item.to };
  if (item.missing) attrs.disabled = "disabled";
  return el("button", attrs, `${prefix}${prefix ? ": " : ""}${words}`);
}

/**
 * What each item on the page was drawn from (its `<li>` -> a list of values), to tell it is
 * unchanged. A card's list holds its step object itself, compared by identity: documents
 * are never changed in place and an edit shares the steps it does not change (pointer.js),
 * so an unchanged step is the same object and its card is kept without reading its content.
 */
const drawnFrom = new WeakMap();

function sameFrom(a, b) {
  return a !== undefined && a.length === b.length && a.every((value, i) => value === b[i]);
}

/**
 * Everything a draw needs, and the slots it made (a "+" button's index -> its routes).
 * `drawn` maps the key of each item on the page (a card, a "+", a link) to its `<li>`; an
 * item drawn from the same as it was is not made again: a stand-in takes its place in the
 * new drawing (`kept`: stand-in -> the item on the page), see `morphChildren`.
 */
class Drawing {
  constructor(view, drawn) {
    this.view = view;
    this.drawn = drawn;
    this.kept = new Map();
    this.slots = [];
  }

  /** The `<li>` of an item with this key, drawn from `from` (a list) by `make()`, or its stand-in. */
  item(key, from, make, keep = null) {
    const old = this.drawn.get(key);
    if (old && sameFrom(drawnFrom.get(old), from)) {
      this.drawn.delete(key); // one place on the page each
      const standIn = el("li", { "data-key": key });
      this.kept.set(standIn, old);
      keep?.(old);
      return standIn;
    }
    const li = make();
    li.setAttribute("data-key", key);
    drawnFrom.set(li, from);
    return li;
  }

  sequence(items, label) {
    const list = el("ol", { class: "wf-seq", "aria-label": label || null });
    let previous = null;
    items.forEach((item, i) => {
      if (item.kind === "slot") list.append(this.slot(item, previous, items[i + 1]));
      else if (item.kind === "card") list.append(this.card(item));
      else if (item.kind === "lanes") list.append(this.lanes(item));
      else if (item.kind === "link") list.append(this.item(`link ${item.routes.join(",")}`, [JSON.stringify(item)], () => wrap("li", { class: "wf-link" }, linkButton(item))));
      if (item.kind === "card") previous = item.id;
    });
    return list;
  }

  slot(item, previous, next) {
    const index = this.slots.push({ routes: item.routes, target: item.target }) - 1;
    const words = slotWords(item, previous, next);
    return this.item(`slot ${item.routes.join(",")} ${item.target}`, [words], () => {
      const li = el("li", { class: "wf-slot", "data-slot": index });
      li.append(el("button", { type: "button", id: slotId(item.routes), class: "wf-add", "data-slot": index, "aria-label": words, "aria-haspopup": "true" }, "+"));
      return li;
    }, (li) => renumber(li, index)); // a "+" kept as it was gets its new index
  }

  /** What a card is drawn from (see `item`). */
  cardFrom(item) {
    const { view } = this;
    const { id, step } = item;
    const problems = view.problemsOf(id);
    const ways = item.links.length || item.gotos.length ? JSON.stringify([item.links, item.gotos]) : "";
    const path = view.highlight?.has(id) ? " wf-card--path" : "";
    return [step, item.pointer, ways, problems.length ? JSON.stringify(problems) : "", view.running?.[id] || 0, view.selected === id, path];
  }

  card(item) {
    return this.item(`card ${item.id}`, this.cardFrom(item), () => this.newCard(item));
  }

  newCard(item) {
    const { view } = this;
    const { id, step } = item;
    const problems = view.problemsOf(id);
    const running = view.running?.[id] || 0;
    const path = view.highlight?.has(id) ? " wf-card--path" : "";
    const li = el("li", { class: "wf-card-item" });
    const type = step && typeof step === "object" ? String(step.type) : "?";
    const card = el("div", {
      class: `wf-card wf-card--${TYPE_WORDS[type] ? type : "unknown"}${problems.length ? " wf-card--problem" : ""}${path}`,
      "data-step": id,
    });
    const button = el("button", {
      type: "button",
      id: cardId(id),
      class: "wf-card-select",
      draggable: "true",
      "data-step": id,
      "aria-pressed": view.selected === id ? "true" : "false",
      "aria-keyshortcuts": "F2 Alt+ArrowUp Alt+ArrowDown Delete Insert Control+C Control+V",
      "aria-describedby": problems.length ? `${cardId(id)}-problems` : null,
    });
    button.append(
      el("span", { class: `wf-icon wf-icon--${type}`, "aria-hidden": "true" }),
      el("span", { class: "wf-type" }, TYPE_WORDS[type] || `Unknown type ${type}`),
      el("span", { class: "wf-title" }, titleOf(id, step)),
      el("code", { class: "wf-id" }, id),
    );
    const words = assignmentWords(step);
    if (words) button.append(el("span", { class: "wf-meta" }, words));
    if (problems.length) button.append(el("span", { class: "wf-badge wf-badge--problem" }, `${problems.length} problem${problems.length > 1 ? "s" : ""}`));
    if (running) button.append(el("span", { class: "wf-badge wf-badge--running" }, `${running} running now`));
    card.append(button);
    const links = [...item.links.map((l) => [l, l.label]), ...item.gotos.map((l) => [l, "on escalation"])];
    if (links.length) {
      const list = el("ul", { class: "wf-card-links" });
      for (const [link, prefix] of links) list.append(wrap("li", {}, linkButton(link, prefix)));
      card.append(list);
    }
    if (problems.length) {
      const list = el("ul", { class: "wf-card-problems error-message", id: `${cardId(id)}-problems` });
      for (const problem of problems) list.append(el("li", {}, problem.message));
      card.append(list);
    }
    li.append(card);
    return li;
  }

  /**
   * A decision's or a parallel's lanes. A block drawn from the same as it is on the page
   * (every lane, card, "+" and link in it: `blockFrom`) is kept whole, as a card is: only
   * its "+" buttons are numbered again, an edit above having moved their places.
   */
  lanes(item) {
    const key = `lanes ${item.from}`;
    const from = this.blockFrom(item);
    const old = this.drawn.get(key);
    if (old && sameFrom(drawnFrom.get(old), from)) {
      this.drawn.delete(key);
      const slots = old.querySelectorAll("li.wf-slot");
      eachSlot([item], (slot, i) => renumber(slots[i], this.slots.push({ routes: slot.routes, target: slot.target }) - 1));
      const standIn = el("li", { "data-key": key });
      this.kept.set(standIn, old);
      return standIn;
    }
    const li = el("li", { class: `wf-lanes${item.parallel ? " wf-lanes--parallel" : ""}`, "data-key": key });
    drawnFrom.set(li, from);
    const row = el("div", { class: "wf-lanes-row" });
    for (const lane of item.lanes) {
      const name = item.parallel ? `Branch ${lane.label}` : lane.label;
      const section = el("section", { class: "wf-lane", "aria-label": `${name}, from ${item.from}` });
      const label = el("p", { class: "wf-lane-label" }, name);
      if (lane.when !== undefined) label.append(el("span", { class: "wf-meta" }, ` ${conditionWords(lane.when)}`));
      section.append(label, this.sequence(lane.seq));
      if (lane.unreached?.length) section.append(this.unreached(lane.unreached, "Not reached from the start of this branch"));
      row.append(section);
    }
    li.append(row);
    const join = item.joinsOuter ? ""
      : item.join ? `${item.parallel ? "The branches join" : "The lanes join again"}, then ${item.join}`
      : item.parallel ? "" : "The lanes do not join again";
    if (join) li.append(el("p", { class: "wf-join" }, join));
    return li;
  }

  /** Everything a lanes block is drawn from, in drawing order, as a flat list of values. */
  blockFrom(item) {
    const from = [item.parallel, item.join, Boolean(item.joinsOuter)];
    const add = (items) => {
      let previous = null;
      items.forEach((part, i) => {
        from.push(part.kind);
        if (part.kind === "slot") from.push(part.routes.join(","), slotWords(part, previous, items[i + 1]));
        else if (part.kind === "card") from.push(...this.cardFrom(part));
        else if (part.kind === "link") from.push(JSON.stringify(part));
        else if (part.kind === "lanes") from.push(part.from, ...this.blockFrom(part));
        if (part.kind === "card") previous = part.id;
      });
    };
    for (const lane of item.lanes) {
      from.push("lane", lane.label, lane.when === undefined ? "" : JSON.stringify(lane.when));
      add(lane.seq);
      for (const items of lane.unreached || []) {
        from.push("unreached");
        add(items);
      }
    }
    return from;
  }

  unreached(sequences, title) {
    const box = el("section", { class: "wf-unreached", "aria-label": title });
    box.append(el("h3", {}, title));
    for (const items of sequences) box.append(this.sequence(items));
    return box;
  }
}

/**
 * Draw the flow into `root`. `view` = {layout, selected (a step id or null),
 * problemsOf(id) -> [{pointer, message}], running: {id: count}, highlight: Set of ids}.
 * What is drawn already is patched (see `morph`), so an edit or a check coming back changes
 * only the cards it concerns. Returns the slots drawn.
 */
export function renderCanvas(root, view) {
  const drawn = new Map();
  for (const li of root.querySelectorAll("li[data-key]")) if (!drawn.has(li.dataset.key)) drawn.set(li.dataset.key, li);
  const drawing = new Drawing(view, drawn);
  const next = el("div");
  next.append(drawing.sequence(view.layout.seq, "The flow from its start"));
  if (!view.layout.order.length) next.append(el("p", { class: "wf-empty" }, "No steps yet: add one from the palette."));
  if (view.layout.unreached.length) next.append(drawing.unreached(view.layout.unreached, "Not reached from the start"));
  const menu = root.querySelector(".wf-menu");
  const buttons = menu ? [...menu.querySelectorAll("button")] : [];
  const focused = buttons.indexOf(document.activeElement);
  menu?.remove();
  morphChildren(root, next, drawing.kept);
  if (menu) keepMenu(root, menu, buttons[focused]);
  return drawing.slots;
}

/** A child's key among its siblings (`data-key`), or null: unkeyed ones match by place. */
function keyOf(node) {
  return node.nodeType === Node.ELEMENT_NODE ? node.getAttribute("data-key") : null;
}

/**
 * Make `old` (in the page) what `next` (just drawn, not in the page) is, keeping the nodes
 * that stay: a node taken out and put back loses its focus, styles and layout, which the
 * browser then works out again for every card of a big flow.
 */
function morph(old, next, kept) {
  if (drawnFrom.has(next)) drawnFrom.set(old, drawnFrom.get(next));
  if (old.nodeType !== Node.ELEMENT_NODE) {
    if (old.nodeValue !== next.nodeValue) old.nodeValue = next.nodeValue;
    return;
  }
  for (const { name } of [...old.attributes]) {
    if (!next.hasAttribute(name)) old.removeAttribute(name);
  }
  for (const { name, value } of next.attributes) {
    if (old.getAttribute(name) !== value) old.setAttribute(name, value);
  }
  morphChildren(old, next, kept);
}

function sameKind(a, b) {
  return a.nodeType === b.nodeType && a.nodeName === b.nodeName;
}

/**
 * Patch `old`'s children into `next`'s: keyed ones by key (moved if need be), others by
 * place; a stand-in of `kept` is replaced by the node it stands for, as it is.
 */
function morphChildren(old, next, kept = new Map()) {
  const wanted = [...next.childNodes];
  const keys = new Set(wanted.map(keyOf).filter((key) => key !== null));
  const byKey = new Map();
  for (const child of old.childNodes) {
    const key = keyOf(child);
    if (key !== null && !byKey.has(key)) byKey.set(key, child);
  }
  let cursor = old.firstChild;
  const drop = () => {
    const gone = cursor;
    cursor = cursor.nextSibling;
    gone.remove();
  };
  /**
   * Put `node`, a child of `old` or of another list, at the cursor. The focused card stays
   * where it is (moved, it would lose the focus, given back at a cost): the nodes between
   * the cursor and it go after it instead, when it is further down this list.
   */
  const place = (node) => {
    if (node === cursor) {
      cursor = cursor.nextSibling;
      return;
    }
    const focused = document.activeElement;
    if (cursor && node.parentNode === old && focused && node.contains(focused) && cursor.compareDocumentPosition(node) & Node.DOCUMENT_POSITION_FOLLOWING) {
      const between = [];
      for (let n = cursor; n !== node; n = n.nextSibling) between.push(n);
      node.after(...between);
      cursor = node.nextSibling;
      return;
    }
    old.insertBefore(node, cursor);
  };
  for (const child of wanted) {
    // Nodes no longer drawn go, so the cursor stays on one that may be kept.
    while (cursor && keyOf(cursor) !== null && !keys.has(keyOf(cursor))) drop();
    const key = keyOf(child);
    if (kept.has(child)) {
      // Drawn unchanged: put back in place (from another lane, if it moved), not patched.
      byKey.delete(key);
      place(kept.get(child));
      continue;
    }
    let match = null;
    if (key !== null) {
      match = byKey.get(key) || null;
      byKey.delete(key);
    } else if (cursor && keyOf(cursor) === null && sameKind(cursor, child)) match = cursor;
    if (match && !sameKind(match, child)) match = null;
    if (!match) old.insertBefore(child, cursor);
    else {
      place(match);
      morph(match, child, kept);
    }
  }
  while (cursor) drop();
}

/** Put an open add menu back beside its anchor after a redraw (a check coming back). */
function keepMenu(root, menu, focused) {
  const anchor = menu.dataset.anchor && document.getElementById(menu.dataset.anchor);
  if (!anchor || !root.contains(anchor)) return;
  anchor.insertAdjacentElement("afterend", menu);
  focused?.focus();
}

/**
 * The outline: every step in drawing order, each a button that selects its card. The items
 * drawn already stay, moved if need be: an edit moves or adds a step or two of a hundred.
 */
export function renderOutline(root, layout, selected) {
  const drawn = new Map();
  for (const li of root.children) drawn.set(li.dataset.key, li);
  const wanted = new Set(layout.order);
  let cursor = root.firstElementChild;
  for (const id of layout.order) {
    // Items no longer drawn are passed over, and removed at the end.
    while (cursor && !wanted.has(cursor.dataset.key)) cursor = cursor.nextElementSibling;
    let li = drawn.get(id);
    drawn.delete(id);
    if (!li) {
      li = el("li", { "data-key": id });
      li.append(el("button", { type: "button", class: "link-button", "data-outline": id }, id));
    }
    const current = id === selected ? "true" : null;
    const button = li.firstElementChild;
    if (button.getAttribute("aria-current") !== current) {
      if (current) button.setAttribute("aria-current", current);
      else button.removeAttribute("aria-current");
    }
    if (li === cursor) cursor = cursor.nextElementSibling;
    else root.insertBefore(li, cursor);
  }
  for (const li of drawn.values()) li.remove();
}

/**
 * The nearest stop of the canvas (a card, or a "+" between two) from `from` in a direction,
 * by where they are on screen: the arrow keys walk both alike, the first "+" too.
 */
function nearestStop(root, from, key) {
  const here = from.getBoundingClientRect();
  const hx = here.left + here.width / 2;
  const hy = here.top + here.height / 2;
  let best = null;
  let bestScore = Infinity;
  for (const other of root.querySelectorAll(STOPS)) {
    if (other === from) continue;
    const box = other.getBoundingClientRect();
    const dx = box.left + box.width / 2 - hx;
    const dy = box.top + box.height / 2 - hy;
    const ahead = { ArrowDown: dy, ArrowUp: -dy, ArrowRight: dx, ArrowLeft: -dx }[key];
    const aside = key === "ArrowDown" || key === "ArrowUp" ? Math.abs(dx) : Math.abs(dy);
    if (ahead <= 1) continue;
    const score = ahead + 2 * aside;
    if (score < bestScore) {
      best = other;
      bestScore = score;
    }
  }
  return best;
}

/** A small menu of step types at a slot; the choice calls `pick(type)`. */
export function openAddMenu(anchor, palette, pick) {
  document.querySelector(".wf-menu")?.remove();
  // The anchor is found again by its id: a redraw while the menu is open makes a new one.
  const menu = el("div", { class: "wf-menu", role: "group", "aria-label": "Add a step here", "data-anchor": anchor.id || null });
  menu.append(el("p", { class: "wf-menu-title" }, "Add a step here"));
  for (const entry of palette) {
    const option = el("button", { type: "button", "data-menu-type": entry.type }, entry.name);
    option.append(el("span", { class: "visually-hidden" }, `: ${entry.help}`));
    menu.append(option);
  }
  const close = (focus = true) => {
    menu.remove();
    const again = menu.dataset.anchor ? document.getElementById(menu.dataset.anchor) : anchor;
    if (focus && again?.isConnected) again.focus();
  };
  menu.append(el("button", { type: "button", "data-menu-close": "true" }, "Cancel"));
  menu.addEventListener("click", (event) => {
    const option = event.target.closest("[data-menu-type]");
    if (option) {
      close(false);
      pick(option.dataset.menuType);
    } else if (event.target.closest("[data-menu-close]")) close();
  });
  menu.addEventListener("keydown", (event) => {
    const buttons = [...menu.querySelectorAll("button")];
    const at = buttons.indexOf(document.activeElement);
    if (event.key === "Escape") {
      event.preventDefault();
      close();
    } else if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      buttons[(at + (event.key === "ArrowDown" ? 1 : buttons.length - 1)) % buttons.length].focus();
    }
  });
  anchor.insertAdjacentElement("afterend", menu);
  menu.querySelector("button").focus();
  return menu;
}

/**
 * Whether text of the page is selected, for Ctrl+C to copy rather than the card. A text box
 * left with Tab keeps its selection, which `toString()` still gives, but its place in the
 * page is one point, and the browser's Ctrl+C copies none of it from a card.
 */
function textSelected() {
  const selection = window.getSelection();
  return Boolean(selection?.rangeCount && !selection.getRangeAt(0).collapsed && selection.toString());
}

/**
 * Wire the canvas's keys, clicks and drops to the editor:
 * `on.select(id, focus)`, `on.move(id, delta)`, `on.moveTo(id, slot)`, `on.add(type, slot)`,
 * `on.addAfter(id)`, `on.remove(id)`, `on.copy(id)`, `on.paste(id)`, where `slot` is what
 * `slotAt(index)` gives for a "+" button's index.
 */
export function wireCanvas(root, on, slotAt) {
  root.addEventListener("click", (event) => {
    const add = event.target.closest(".wf-add");
    if (add) return on.openSlot(add, slotAt(Number(add.dataset.slot)));
    const goto = event.target.closest("[data-goto]");
    if (goto) return on.select(goto.dataset.goto, true);
    const card = event.target.closest(".wf-card-select");
    if (card) on.select(card.dataset.step, false);
  });
  root.addEventListener("keydown", (event) => {
    const stop = event.target.closest(STOPS);
    if (!stop) return;
    const key = event.key;
    const ctrl = event.ctrlKey || event.metaKey;
    if (!event.altKey && !ctrl && ARROWS.has(key)) {
      event.preventDefault();
      nearestStop(root, stop, key)?.focus();
      return;
    }
    const card = event.target.closest(".wf-card-select");
    if (!card) return;
    const id = card.dataset.step;
    let handled = true;
    if (event.altKey && (key === "ArrowUp" || key === "ArrowDown")) on.move(id, key === "ArrowUp" ? -1 : 1);
    else if (key === "Delete") on.remove(id);
    else if (key === "Insert" || key === "+") on.addAfter(id, card);
    else if (ctrl && key.toLowerCase() === "c" && !textSelected()) on.copy(id);
    else if (ctrl && key.toLowerCase() === "v") on.paste(id);
    else if (key === "F2") on.properties(id);
    else handled = false;
    if (handled) event.preventDefault();
  });
  root.addEventListener("dragstart", (event) => {
    const card = event.target.closest?.(".wf-card-select");
    if (!card) return;
    event.dataTransfer.setData("application/x-flowdesk-step", card.dataset.step);
    event.dataTransfer.effectAllowed = "move";
  });
  root.addEventListener("dragover", (event) => {
    const slot = event.target.closest?.(".wf-slot");
    if (!slot) return;
    event.preventDefault();
    slot.classList.add("wf-slot--over");
  });
  root.addEventListener("dragleave", (event) => {
    event.target.closest?.(".wf-slot")?.classList.remove("wf-slot--over");
  });
  root.addEventListener("drop", (event) => {
    const slot = event.target.closest?.(".wf-slot");
    if (!slot) return;
    event.preventDefault();
    const where = slotAt(Number(slot.dataset.slot));
    const moved = event.dataTransfer.getData("application/x-flowdesk-step");
    const added = event.dataTransfer.getData("application/x-flowdesk-add-type");
    if (moved) on.moveTo(moved, where);
    else if (added) on.add(added, where);
  });
}
