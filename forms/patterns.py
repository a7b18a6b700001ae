"""Patterns on RE2, a linear-time engine: no pattern on any answer can take long.

A field's `pattern`, and every `pattern` of a compiled schema (phone numbers, file types,
`contains` rules), is matched with RE2 the way JSON Schema says: a search anywhere in the
text, so a pattern that must cover the whole answer is anchored with `^` and `$`. RE2
answers in time linear in the text because it has none of the features that make a
backtracking engine take exponential time (back-references, look-arounds); the checker
refuses a pattern that uses them, with `pattern_problem`, before any form is published.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import re2  # type: ignore[import-untyped]

#: The most instructions a pattern's RE2 program may have. Real patterns take a few dozen to
#: a few thousand (`.{1,500}` takes 4,501); the cap keeps the worst pattern on the longest text
#: a field takes (20,000 characters) near a tenth of a second.
MAX_PATTERN_SIZE = 10_000

#: How a construct RE2 does not run begins -> what it is, for a process owner.
_UNSUPPORTED = {
    "(?=": "a look-ahead '(?=...)'",
    "(?!": "a negative look-ahead '(?!...)'",
    "(?<=": "a look-behind '(?<=...)'",
    "(?<!": "a negative look-behind '(?<!...)'",
    "(?>": "an atomic group '(?>...)'",
    "(?#": "a comment '(?#...)'",
    "(?P=": "a back-reference by name '(?P=...)'",
    "(?P>": "a recursive pattern '(?P>...)'",
    "(?R": "a recursive pattern '(?R)'",
    "(?|": "a branch reset '(?|...)'",
}  # fmt: skip

#: RE2's words for a malformed pattern -> what is wrong, for a process owner.
_MALFORMED = {
    "missing )": "an opening '(' without its closing ')'",
    "missing closing )": "an opening '(' without its closing ')'",
    "unexpected )": "a closing ')' without its opening '('",
    "missing ]": "an opening '[' without its closing ']'",
    "trailing \\": "a '\\' at the very end, with nothing after it to escape",
    "invalid named capture group": "a group whose name is not letters, digits and '_'",
    "duplicate capture group name": "two groups with the same name",
}  # fmt: skip


def _options() -> Any:
    options = re2.Options()
    options.log_errors = False  # a refused pattern is reported to its author, not to stderr
    return options


_OPTIONS = _options()


@lru_cache(maxsize=1024)
def compiled(pattern: str) -> Any | None:
    """Return the RE2 program of a pattern, or None when RE2 cannot compile it."""
    try:
        return re2.compile(pattern, _OPTIONS)
    except (re2.error, UnicodeError):
        return None


def matches(pattern: str, text: str) -> bool:
    """Tell whether a pattern is found in a text (JSON Schema's `pattern`); never raise.

    A pattern RE2 cannot compile matches nothing: the form's rule cannot be kept, so no
    answer passes it, rather than every answer. A text holding a lone surrogate (which
    UTF-8, and so RE2, cannot hold) matches nothing either; validation refuses such text
    on its own, in words.
    """
    program = compiled(pattern)
    if program is None:
        return False
    try:
        return program.search(text) is not None
    except UnicodeError:
        return False


def pattern_problem(pattern: str) -> str | None:
    """Say, for a process owner, why a pattern cannot be used; None when it can."""
    surrogate = next((c for c in pattern if 0xD800 <= ord(c) <= 0xDFFF), None)
    if surrogate is not None:
        return f"the pattern holds a broken character (U+{ord(surrogate):04X}); remove it"
    try:
        program = re2.compile(pattern, _OPTIONS)
    except re2.error as error:
        return _in_words(_reason(error), pattern)
    if program.programsize > MAX_PATTERN_SIZE:
        return (
            f"the pattern is too large to check quickly: it takes {program.programsize} steps, "
            f"and at most {MAX_PATTERN_SIZE} are allowed; {_SMALLER}"
        )
    return None


_SMALLER = "use smaller repetition counts"


def _reason(error: Exception) -> str:
    reason = error.args[0] if error.args else ""
    return reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)


def _in_words(reason: str, pattern: str) -> str:
    kind, _, part = reason.partition(": ")
    if kind == "invalid repetition size":
        return (
            f"the pattern repeats too far ('{part}'): it may count to 1000 at most, also when "
            f"repetitions inside repetitions multiply; {_SMALLER}"
        )
    if kind.startswith("pattern too large"):
        return f"the pattern is too large to check quickly; {_SMALLER}"
    feature = _feature(kind, part, pattern)
    if feature is not None:
        return (
            f"the pattern uses {feature}, which Flowdesk's pattern engine (RE2) does not "
            "support; rewrite the pattern without it"
        )
    return f"the pattern is not a valid regular expression: it has {_mistake(kind, part)}"


def _feature(kind: str, part: str, pattern: str) -> str | None:
    """Name the construct RE2 does not run, or None when the pattern is simply malformed."""
    if kind in ("invalid perl operator", "invalid named capture group"):
        # RE2 quotes only the start of the construct ("(?P"): read the rest from the pattern.
        constructs = [pattern[at : at + 4] for at in _places(pattern, part)]
        found = [
            words
            for construct in constructs
            for start, words in _UNSUPPORTED.items()
            if construct.startswith(start)
        ]
        if found:
            return found[0]
        return f"the construct '{part}'" if kind == "invalid perl operator" else None
    if kind == "invalid escape sequence":
        return _escape(part)
    if kind == "bad repetition operator":
        if len(part) > 1 and part.endswith("+"):
            return f"a possessive repetition '{part}'"
        return f"a repetition of a repetition '{part}'"
    return None


def _places(text: str, part: str) -> list[int]:
    places, at = [], text.find(part)
    while part and at >= 0:
        places.append(at)
        at = text.find(part, at + 1)
    return places


def _escape(part: str) -> str:
    letter = part[1:2]
    if letter.isdigit():
        return f"a back-reference '{part}'"
    if letter == "k":
        return "a back-reference by name '\\k<...>'"
    if letter in ("u", "U"):
        return f"a '{part}' escape (write the character itself instead)"
    if letter == "Z":
        return "'\\Z' (use '$' for the end of the text)"
    return f"the escape '{part}'"


def _mistake(kind: str, part: str) -> str:
    if kind in _MALFORMED:
        return _MALFORMED[kind]
    if kind == "invalid character class range":
        if part.startswith(("[:", "\\p", "\\P")):
            return f"a character class RE2 does not know, '{part}'"
        return f"the range '{part}', which goes backwards"
    if kind in ("missing argument to repetition operator", "no argument for repetition operator"):
        return f"a '{part}' with nothing before it to repeat"
    return f"a mistake RE2 describes as: {kind}: {part}" if part else f"a mistake: {kind}"
