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

/**
 * A formatter of moments as the reader reads them: in the zone and locale the page names
 * (`<html data-time-zone data-locale>`, see web/common/moments.py), else the browser's.
 */
export function momentFormat(options) {
  const { timeZone, locale } = document.documentElement.dataset;
  try {
    return new Intl.DateTimeFormat(locale || undefined, { ...options, timeZone: timeZone || undefined });
  } catch {
    return new Intl.DateTimeFormat(undefined, options);
  }
}
