// The editors' toolbars: `role="toolbar"` promises that the arrow keys walk its controls.
// Tab still stops at each button (docs/designer.md, section 8, says why): the arrows come
// on top, so a keyboard user may use either.

const WALKS = new Set(["ArrowLeft", "ArrowRight", "Home", "End"]);

/** The controls of a toolbar a key may reach, in order: shown and enabled buttons. */
export function reachable(toolbar) {
  return [...toolbar.querySelectorAll("button")].filter((node) => !node.disabled && node.getClientRects().length > 0);
}

/** The index the focus moves to from `at` of `count` controls, for a key; -1 for none. */
export function nextIndex(key, at, count) {
  if (!WALKS.has(key) || at < 0 || count === 0) return -1;
  if (key === "Home") return 0;
  if (key === "End") return count - 1;
  return (at + (key === "ArrowRight" ? 1 : -1) + count) % count;
}

/** Make the arrow keys, Home and End walk the toolbar's buttons, round at either end. */
export function wireToolbar(toolbar) {
  if (!toolbar) return;
  toolbar.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const items = reachable(toolbar);
    const next = nextIndex(event.key, items.indexOf(document.activeElement), items.length);
    if (next < 0) return;
    event.preventDefault();
    items[next].focus();
  });
}
