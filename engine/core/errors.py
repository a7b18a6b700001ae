"""Every error the pure core raises, and the `Problem` it reports about documents."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, order=True)
class Problem:
    """One mistake in a document: where it is (a JSON Pointer) and what is wrong, in words."""

    pointer: str
    message: str

    def __str__(self) -> str:
        # A key may hold a line break or another control character (that is often the
        # mistake being reported): show it escaped, so the line stays one line.
        return f"{(self.pointer or '/').translate(_VISIBLE)}: {self.message}"


#: Control characters written as escapes, as in JSON: "\n", "\u0000".
_VISIBLE = {code: f"\\u{code:04x}" for code in (*range(0x20), 0x7F)} | {
    ord("\n"): "\\n",
    ord("\r"): "\\r",
    ord("\t"): "\\t",
}


class FlowdeskError(Exception):
    """Base of every error Flowdesk raises on purpose."""


class DefinitionError(FlowdeskError):
    """A workflow or form document is not valid; `problems` says where and why."""

    def __init__(self, problems: list[Problem], what: str = "document") -> None:
        self.problems = problems
        lines = "; ".join(str(p) for p in problems[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        super().__init__(f"the {what} is not valid: {lines}{more}")


class DurationError(FlowdeskError, ValueError):
    """A duration is not an ISO 8601 duration Flowdesk can count."""


class ExpressionError(FlowdeskError, ValueError):
    """An expression does not parse, or reaches for something the sandbox forbids."""


class InvalidEvent(FlowdeskError):
    """An event does not apply to the instance in its current state (e.g. a task already done)."""


class StateFormatError(FlowdeskError):
    """A saved instance state has an unknown format version or is malformed."""


class Unassignable(FlowdeskError):
    """A task cannot go to whom a step gives it: the service said why (`runtime.advance`)."""


class UnknownCalendar(FlowdeskError, LookupError):
    """A step counts business time in a calendar that was not given to the runtime."""
