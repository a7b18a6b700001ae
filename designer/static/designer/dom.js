// Building the designer's DOM: one helper for every module that makes elements.

/** An element with these attributes (null, undefined and false ones left out) and text. */
export function el(tag, attrs = {}, text = "") {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value !== null && value !== undefined && value !== false) node.setAttribute(name, value);
  }
  if (text) node.textContent = text;
  return node;
}
