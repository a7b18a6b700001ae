"""Who a task or a message is for: `assign` blocks and recipients, with templates filled in.

A webhook address is filled in too, but as a URL: each value is percent-encoded, so it
stays inside the path segment or query value it stands in (it can add no `/`, `?`, `&`
or `#`), and the scheme and host are always the ones written in the workflow: a value
from the data, which a requester may have typed, never sends the message anywhere else.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from engine.core.effects import Notify
from engine.core.errors import ExpressionError
from engine.core.expressions import compile_template, environment, is_template
from engine.core.expressions.evaluation import quoted

if TYPE_CHECKING:
    from engine.core.turn import Turn

#: The written-out start of a webhook address that fills in values: scheme and host, ended
#: by the `/`, `?` or `#` after which values may be filled in.
WEBHOOK_ORIGIN = re.compile(r"https?://[^/?#{}\s]+[/?#]", re.IGNORECASE)
#: Path segments that would move up or stay put rather than name something (RFC 3986 5.2.4).
DOT_SEGMENTS = frozenset({".", ".."})


def resolve_assignment(
    assign: Mapping[str, Any], turn: Turn, data: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Fill in the templates of an `assign` block; `requester` becomes that user.

    `data` stands for the instance's data when a step reads values it has not saved yet.
    """
    resolved: dict[str, Any] = {}
    context: dict[str, Any] | None = None
    for key, value in assign.items():
        if isinstance(value, str) and is_template(value):
            if context is None:
                context = _context(turn, data)
            value = compile_template(value)(context).strip()
        resolved[key] = value
    if resolved.get("requester") and turn.state.requester:
        resolved["user"] = turn.state.requester
    return resolved


def notification(
    turn: Turn,
    step: str,
    message: Mapping[str, Any],
    tasks: tuple[str, ...] = (),
    *,
    data: dict[str, Any] | None = None,
) -> Notify:
    """Build the effect of a `notify` block, its recipient's or webhook's templates filled in."""
    to = message.get("to")
    if isinstance(to, Mapping):
        to = resolve_assignment(to, turn, data)
    webhook = message.get("webhook")
    if isinstance(webhook, str) and is_template(webhook):
        webhook = webhook_address(webhook, _context(turn, data))
    return Notify(step, to, message.get("template"), webhook, tasks)


def webhook_problem(url: str) -> str | None:
    """Say why a webhook address cannot be filled in safely; None if it can (or is plain)."""
    if not is_template(url):
        return None
    if "{%" in url:
        return (
            "a webhook address fills in values with {{ … }} only, not {% … %}; work the "
            "value out in an action's 'set' first"
        )
    if WEBHOOK_ORIGIN.match(url) is None:
        return (
            "the scheme and host of a webhook address are written out, never filled in: "
            "put {{ … }} after the host, in the path or the query, like "
            "https://hooks.example.com/incidents/{{ instance.number }}"
        )
    return None


def webhook_address(url: str, context: Mapping[str, Any]) -> str:
    """Fill in a webhook address, each value percent-encoded; its scheme and host as written."""
    problem = webhook_problem(url)
    if problem is not None:
        raise ExpressionError(f"the webhook address {quoted(url)}: {problem}")
    compile_template(url)  # the whole text parses and asks for nothing the sandbox forbids
    pieces: list[tuple[str, bool]] = []  # (text, whether a value filled it in)
    expression: list[str] = []
    for _line, token, text in environment().lex(url):
        if token == "variable_begin" or expression:
            expression.append(text)
            if token == "variable_end":
                value = compile_template("".join(expression))(context)
                pieces.append((quote(value, safe=""), True))
                expression = []
        elif token == "data":
            pieces.append((text, False))
        # Comments ({# … #}) print nothing.
    climbs = _dot_segment(pieces)
    if climbs is not None:
        raise ExpressionError(
            f"the webhook address {quoted(url)} would hold the path segment '{climbs}', which "
            "moves along the path rather than naming something"
        )
    return "".join(text for text, _value in pieces)


def _dot_segment(pieces: list[tuple[str, bool]]) -> str | None:
    """Return a path segment, `.` or `..`, that values filled in helped make; None if none."""
    segment, filled = "", False  # the segment so far: its first 3 characters tell enough
    for text, value in pieces:
        if value:  # percent-encoded: no `/`, `?` or `#` in it
            segment, filled = (segment + text[:3])[:3], True
            continue
        for character in text:
            if character not in "/?#":
                segment = (segment + character)[:3]
                continue
            if filled and segment in DOT_SEGMENTS:
                return segment
            if character != "/":
                return None  # the query or fragment: dots there are just text
            segment, filled = "", False
    return segment if filled and segment in DOT_SEGMENTS else None


def _context(turn: Turn, data: dict[str, Any] | None) -> dict[str, Any]:
    context = turn.context()
    if data is not None:
        context.update({**data, "data": data})
    return context
