// ISO 8601 durations as the workflow language takes them (`PT30M`, `P3D`, `P1W`, `PT0.5H`),
// read, said in words and written back. Pure: no DOM, so node tests run it as it is.
//
// The rules are the engine's (engine/core/durations.py): upper-case letters, longer than
// zero, no months or years. The server's check stays the judge; this only lets the panel
// say "30 minutes" next to the box, and say what is wrong before the round trip.

const ISO = /^P(?:(\d+(?:[.,]\d+)?)W)?(?:(\d+(?:[.,]\d+)?)D)?(?:T(?:(\d+(?:[.,]\d+)?)H)?(?:(\d+(?:[.,]\d+)?)M)?(?:(\d+(?:[.,]\d+)?)S)?)?$/;
const UNITS = ["weeks", "days", "hours", "minutes", "seconds"];
const SECONDS = { weeks: 604800, days: 86400, hours: 3600, minutes: 60, seconds: 1 };
const EXAMPLE = "write it in ISO 8601, like PT30M (30 minutes), PT4H (4 hours) or P3D (3 days)";

/**
 * Read a duration: `{parts: {weeks, days, hours, minutes, seconds}, seconds}` when the
 * language takes it, else `{error}` saying why in words.
 */
export function parseDuration(text) {
  if (typeof text !== "string" || text === "") return { error: `a duration is needed; ${EXAMPLE}` };
  if (text !== text.trim()) return { error: `'${text}' has spaces around it; write it without` };
  if (/^p/i.test(text) && text !== text.toUpperCase()) {
    return { error: `'${text}': the letters are upper case; write ${text.toUpperCase()}` };
  }
  if (/^P(?:\d+[YM])|^P[^T]*\d[YM]/.test(text)) {
    return { error: `'${text}' counts months or years, which have no fixed length; use days or weeks` };
  }
  if (text.endsWith("T") && /\d/.test(text)) {
    const days = text.slice(0, -1);
    return { error: `'${text}': nothing follows the T, which starts the hours, minutes and seconds; write ${days}, or add the time, like ${days}T4H` };
  }
  const match = ISO.exec(text);
  if (!match || text === "P" || text === "PT" || !match.slice(1).some((part) => part !== undefined)) {
    return { error: `'${text}' is not a duration; ${EXAMPLE}` };
  }
  const parts = {};
  UNITS.forEach((unit, i) => {
    parts[unit] = match[i + 1] === undefined ? 0 : Number(match[i + 1].replace(",", "."));
  });
  const seconds = UNITS.reduce((sum, unit) => sum + parts[unit] * SECONDS[unit], 0);
  if (!(seconds > 0)) return { error: `'${text}' must be longer than zero` };
  return { parts, seconds };
}

/** The ISO text of some parts: {hours: 1, minutes: 30} -> "PT1H30M". */
export function formatDuration(parts) {
  const number = (value) => String(Math.round(value * 1e6) / 1e6);
  const put = (unit, letter) => (parts[unit] ? `${number(parts[unit])}${letter}` : "");
  const date = put("weeks", "W") + put("days", "D");
  const time = put("hours", "H") + put("minutes", "M") + put("seconds", "S");
  return `P${date}${time ? `T${time}` : ""}`;
}

/** Whole units from a duration's parts, a fraction moving down a unit: P1.5D -> 1 day 12 hours. */
function wholeParts(parts) {
  const whole = { weeks: 0, days: 0, hours: 0, minutes: 0, seconds: 0 };
  let carry = 0;
  UNITS.forEach((unit, i) => {
    const value = (parts[unit] || 0) + carry;
    const next = UNITS[i + 1];
    whole[unit] = next ? Math.floor(value + 1e-9) : Math.round(value * 1000) / 1000;
    carry = next ? ((value - whole[unit]) * SECONDS[unit]) / SECONDS[next] : 0;
    if (Math.abs(carry) < 1e-9) carry = 0;
  });
  return whole;
}

/** A length as a calendar counts it: whole days (24 hours each), then hours, minutes, seconds. */
function workingParts(seconds) {
  const whole = { weeks: 0, days: 0, hours: 0, minutes: 0, seconds: 0 };
  let rest = seconds;
  for (const unit of ["days", "hours", "minutes"]) {
    whole[unit] = Math.floor(rest / SECONDS[unit] + 1e-9);
    rest -= whole[unit] * SECONDS[unit];
  }
  whole.seconds = Math.round(rest * 1000) / 1000;
  return whole;
}

/** Join words as a person would: "a", "a and b", "a, b and c". */
export function joinWords(items, last = "and") {
  if (items.length <= 1) return items.join("");
  return `${items.slice(0, -1).join(", ")} ${last} ${items[items.length - 1]}`;
}

/**
 * A duration in words: "PT1H30M" -> "1 hour and 30 minutes". With `working`, counted in a
 * business calendar: "P3D" -> "3 working days". Null when it is not a duration.
 */
export function durationInWords(text, { working = false } = {}) {
  const read = parseDuration(text);
  if (read.error) return null;
  // In a calendar the engine first takes the whole days of the length (weeks as seven,
  // 24 hours as one), each a working day, then the rest as working time: said the same.
  const whole = working ? workingParts(read.seconds) : wholeParts(read.parts);
  const adjective = working ? "working " : "";
  const words = UNITS.filter((unit) => whole[unit]).map((unit) => {
    const singular = unit.slice(0, -1);
    return `${whole[unit]} ${adjective}${whole[unit] === 1 ? singular : unit}`;
  });
  return joinWords(words);
}

/**
 * What is wrong with a duration typed in a box that takes ISO 8601 or plain words ("" when
 * `readDuration` reads it): ISO's own advice for ISO-looking text, else words' advice.
 */
export function durationError(text) {
  const typed = (text || "").trim();
  if (typed === "") return `a duration is needed; ${TYPED_EXAMPLE}`;
  if (readDuration(typed)) return "";
  if (/^p/i.test(typed)) return parseDuration(typed.toUpperCase()).error;
  if (/\d\s*(months?|mo|years?|yrs?|y)\b/i.test(typed)) {
    return `'${typed}' counts months or years, which have no fixed length; use days or weeks`;
  }
  return `'${typed}' is not a duration; ${TYPED_EXAMPLE}`;
}

/** How a duration box's advice reads: it takes plain words as well as ISO 8601. */
const TYPED_EXAMPLE = "write it like 30 min, 4 hours, 2 days or 1 week, or in ISO 8601 like PT30M";

const FRIENDLY = /(\d+(?:[.,]\d+)?)\s*(?:(?:working|business)\s+)?(weeks?|w|days?|d|hours?|hrs?|h|minutes?|mins?|m|seconds?|secs?|s)\b/gi;
const FRIENDLY_UNIT = { w: "weeks", d: "days", h: "hours", m: "minutes", s: "seconds" };

/**
 * The ISO text for what a person typed: ISO as it is ("PT30M"), or a few plain words
 * ("30 min", "2h 30m", "3 days", "1 week"). Null when neither reads.
 */
export function readDuration(text) {
  const typed = (text || "").trim();
  if (!parseDuration(typed).error) return typed;
  if (/^p/i.test(typed) && !parseDuration(typed.toUpperCase()).error) return typed.toUpperCase();
  const parts = {};
  let rest = typed;
  for (const match of typed.matchAll(FRIENDLY)) {
    const letter = match[2].toLowerCase().startsWith("mi") ? "m" : match[2][0].toLowerCase();
    const unit = FRIENDLY_UNIT[letter];
    parts[unit] = (parts[unit] || 0) + Number(match[1].replace(",", "."));
    rest = rest.replace(match[0], "");
  }
  if (!Object.keys(parts).length || rest.replace(/[\s,]|and/g, "") !== "") return null;
  const iso = formatDuration(parts);
  return parseDuration(iso).error ? null : iso;
}
