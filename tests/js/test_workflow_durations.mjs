// The designer's durations: what the language takes, said in words, and typed in plain words.
import { test } from "node:test";
import assert from "node:assert/strict";

import {
  durationError,
  durationInWords,
  formatDuration,
  parseDuration,
  readDuration,
} from "../../designer/static/designer/workflow/durations.js";

test("the durations of the language's table are said in words", () => {
  assert.equal(durationInWords("PT30M"), "30 minutes");
  assert.equal(durationInWords("PT4H"), "4 hours");
  assert.equal(durationInWords("PT1H30M"), "1 hour and 30 minutes");
  assert.equal(durationInWords("PT45S"), "45 seconds");
  assert.equal(durationInWords("P3D"), "3 days");
  assert.equal(durationInWords("P1DT12H"), "1 day and 12 hours");
  assert.equal(durationInWords("P1W"), "1 week");
  assert.equal(durationInWords("PT0.5H"), "30 minutes");
});

test("a fraction of a day is hours, as the engine counts it", () => {
  assert.equal(durationInWords("P1.5D"), "1 day and 12 hours");
  assert.equal(durationInWords("P1.5D", { working: true }), "1 working day and 12 working hours");
});

test("in a business calendar the words say working time", () => {
  assert.equal(durationInWords("P3D", { working: true }), "3 working days");
  assert.equal(durationInWords("PT8H", { working: true }), "8 working hours");
});

test("in a calendar the words count as the engine does: whole days of 24 hours first", () => {
  // docs/workflow-language.md, §18: a week is seven working days, 24 hours one working day.
  assert.equal(durationInWords("PT48H", { working: true }), "2 working days");
  assert.equal(durationInWords("PT30H", { working: true }), "1 working day and 6 working hours");
  assert.equal(durationInWords("P1W", { working: true }), "7 working days");
  assert.equal(durationInWords("PT90M", { working: true }), "1 working hour and 30 working minutes");
  assert.equal(durationInWords("PT48H"), "48 hours"); // wall time: as written
});

test("plain words may say working or business days", () => {
  assert.equal(readDuration("2 working days"), "P2D");
  assert.equal(readDuration("3 business hours"), "PT3H");
});

test("what the language refuses is refused with the reason", () => {
  const error = (text) => parseDuration(text).error;
  assert.match(error("P1M"), /months or years/);
  assert.match(error("P1Y"), /months or years/);
  assert.match(error("pt30m"), /upper case; write PT30M/);
  assert.match(error("PT0M"), /longer than zero/);
  assert.match(error("P1DT"), /nothing follows the T/);
  assert.match(error("30 minutes"), /is not a duration/);
  assert.match(error("PT"), /is not a duration/);
  assert.match(error(""), /a duration is needed/);
});

test("a duration box's error offers plain words too, and takes what it can read", () => {
  assert.equal(durationError("30 minutes"), "");
  assert.equal(durationError("pt30m"), "");
  assert.match(durationError("soon"), /'soon' is not a duration; write it like 30 min, 4 hours/);
  assert.match(durationError("soon"), /or in ISO 8601 like PT30M/);
  assert.match(durationError("3 months"), /months or years, which have no fixed length/);
  assert.match(durationError("P1M"), /months or years/);
  assert.match(durationError("PT0M"), /longer than zero/);
  assert.match(durationError("P1DT"), /nothing follows the T/);
  assert.match(durationError("  "), /a duration is needed; write it like 30 min/);
  assert.equal(durationInWords("P1M"), null);
});

test("a valid duration reads into its parts and total seconds", () => {
  const read = parseDuration("P1DT2H30M");
  assert.deepEqual(read.parts, { weeks: 0, days: 1, hours: 2, minutes: 30, seconds: 0 });
  assert.equal(read.seconds, 86400 + 2 * 3600 + 30 * 60);
  assert.equal(durationError("PT30M"), "");
});

test("parts are written back as ISO 8601", () => {
  assert.equal(formatDuration({ hours: 1, minutes: 30 }), "PT1H30M");
  assert.equal(formatDuration({ days: 3 }), "P3D");
  assert.equal(formatDuration({ weeks: 1, days: 2, hours: 4 }), "P1W2DT4H");
});

test("plain words typed into a duration box become ISO 8601", () => {
  assert.equal(readDuration("PT30M"), "PT30M");
  assert.equal(readDuration("pt30m"), "PT30M");
  assert.equal(readDuration("30 min"), "PT30M");
  assert.equal(readDuration("2h 30m"), "PT2H30M");
  assert.equal(readDuration("3 days"), "P3D");
  assert.equal(readDuration("1 week"), "P1W");
  assert.equal(readDuration("1 day and 12 hours"), "P1DT12H");
  assert.equal(readDuration("soon"), null);
  assert.equal(readDuration("0 minutes"), null);
});
