// The canvas: the form's pages and fields in order. Keys and drops become editor commands.

import { fieldAt } from "./commands.js";
import { el } from "./dom.js";

const TYPE_WORDS = {
  text: "text", textarea: "paragraph", number: "number", date: "date", datetime: "date and time",
  select: "drop-down", radio: "buttons", multiselect: "several choices", checkbox: "tick box",
  file: "file", user: "person", service: "service", table: "table", section: "section", hidden: "hidden value",
  calculated: "calculated",
};

export function typeWords(field) {
  if (field.type === "text" && field.format) return field.format;
  return TYPE_WORDS[field.type] || String(field.type);
}

export function fieldId(place) {
  return `canvas-field-${place.page}-${place.index}`;
}

function fieldItem(field, place, selected, problems) {
  const item = el("li", {
    class: `canvas-field${field.type === "section" ? " canvas-section" : ""}`,
    "data-page": place.page,
    "data-index": place.index,
  });
  const name = field.label || "(no label)";
  const button = el("button", {
    type: "button",
    id: fieldId(place),
    class: "canvas-select",
    draggable: "true",
    "aria-pressed": selected ? "true" : "false",
    "aria-keyshortcuts": "Alt+ArrowUp Alt+ArrowDown Delete",
    "aria-describedby": problems.length ? `${fieldId(place)}-problems` : null,
  });
  button.append(
    el("span", { class: "canvas-label" }, name),
    el("span", { class: "canvas-meta" }, ` ${typeWords(field)} · ${field.key || "no key"}`),
  );
  if (field.required) button.append(el("span", { class: "canvas-meta" }, " · required"));
  if (field.visible_if) button.append(el("span", { class: "canvas-meta" }, " · shown by a rule"));
  item.append(button);
  if (problems.length) {
    const list = el("ul", { class: "error-message canvas-problems", id: `${fieldId(place)}-problems` });
    for (const problem of problems) list.append(el("li", {}, problem.message));
    item.append(list);
  }
  return item;
}

function fieldsList(doc, page, fields, selected, problemsAt) {
  const list = el("ol", { class: "canvas-list", "data-page": page });
  fields.forEach((field, index) => {
    const place = { page, index };
    const isSelected = selected && selected.page === page && selected.index === index;
    list.append(fieldItem(field, place, isSelected, problemsAt(place)));
  });
  if (!fields.length) list.append(el("li", { class: "canvas-empty" }, "No fields yet: add one from the palette."));
  return list;
}

/** Draw the form's fields into `root`; `problemsAt(place)` gives the problems of a field. */
export function renderCanvas(root, doc, selected, problemsAt) {
  const parts = [];
  if (Array.isArray(doc.pages)) {
    doc.pages.forEach((page, p) => {
      const box = el("section", { class: "canvas-page", "aria-labelledby": `page-${p}-heading` });
      box.append(el("h3", { id: `page-${p}-heading` }, `Page ${p + 1}`));
      const row = el("div", { class: "field" });
      row.append(el("label", { for: `page-${p}-title` }, `Title of page ${p + 1}`));
      const input = el("input", { id: `page-${p}-title`, "data-page-title": p });
      input.value = page.title || "";
      row.append(input);
      box.append(row, el("button", { type: "button", "data-remove-page": p }, `Remove page ${p + 1}`));
      box.append(fieldsList(doc, p, page.fields || [], selected, problemsAt));
      parts.push(box);
    });
  } else {
    parts.push(fieldsList(doc, -1, Array.isArray(doc.fields) ? doc.fields : [], selected, problemsAt));
  }
  root.replaceChildren(...parts);
}

function placeOf(node) {
  const item = node.closest("[data-index]");
  return item ? { page: Number(item.dataset.page), index: Number(item.dataset.index) } : null;
}

/**
 * Wire the canvas's keys, clicks and drops to the editor: `on.select(place)`,
 * `on.move(place, delta)`, `on.moveTo(from, to)`, `on.add(paletteIndex, place)`,
 * `on.remove(place)`, `on.pageTitle(page, text)`, `on.removePage(page)`.
 */
export function wireCanvas(root, on, getDoc) {
  root.addEventListener("click", (event) => {
    const removePage = event.target.closest("[data-remove-page]");
    if (removePage) return on.removePage(Number(removePage.dataset.removePage));
    const button = event.target.closest(".canvas-select");
    if (button) on.select(placeOf(button));
  });
  root.addEventListener("input", (event) => {
    const title = event.target.closest("[data-page-title]");
    if (title) on.pageTitle(Number(title.dataset.pageTitle), title.value);
  });
  root.addEventListener("keydown", (event) => {
    const button = event.target.closest(".canvas-select");
    if (!button) return;
    const place = placeOf(button);
    if (event.altKey && (event.key === "ArrowUp" || event.key === "ArrowDown")) {
      event.preventDefault();
      on.move(place, event.key === "ArrowUp" ? -1 : 1);
    } else if (event.key === "Delete" && fieldAt(getDoc(), place)) {
      event.preventDefault();
      on.remove(place);
    } else if (!event.altKey && (event.key === "ArrowUp" || event.key === "ArrowDown")) {
      const all = [...root.querySelectorAll(".canvas-select")];
      const next = all[all.indexOf(button) + (event.key === "ArrowUp" ? -1 : 1)];
      if (next) {
        event.preventDefault();
        next.focus();
      }
    }
  });
  root.addEventListener("dragstart", (event) => {
    const place = placeOf(event.target);
    if (!place) return;
    event.dataTransfer.setData("application/x-flowdesk-move", JSON.stringify(place));
    event.dataTransfer.effectAllowed = "move";
  });
  root.addEventListener("dragover", (event) => {
    if (event.target.closest(".canvas-list")) event.preventDefault();
  });
  root.addEventListener("drop", (event) => {
    const list = event.target.closest(".canvas-list");
    if (!list) return;
    event.preventDefault();
    const page = Number(list.dataset.page);
    let to = placeOf(event.target);
    if (to) {
      const box = event.target.closest("[data-index]").getBoundingClientRect();
      if (event.clientY > box.top + box.height / 2) to = { page: to.page, index: to.index + 1 };
    } else {
      to = { page, index: list.querySelectorAll(".canvas-field").length };
    }
    const moved = event.dataTransfer.getData("application/x-flowdesk-move");
    const added = event.dataTransfer.getData("application/x-flowdesk-add");
    if (moved) on.moveTo(JSON.parse(moved), to);
    else if (added !== "") on.add(Number(added), to);
  });
}
