"""Who a task or a message is for: `assign` blocks and recipients, with templates filled in."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from engine.core.effects import Notify
from engine.core.expressions import compile_template, is_template

if TYPE_CHECKING:
    from engine.core.turn import Turn


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
                context = turn.context()
                if data is not None:
                    context.update({**data, "data": data})
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
    """Build the effect of a `notify` block, its recipient's templates filled in."""
    to = message.get("to")
    if isinstance(to, Mapping):
        to = resolve_assignment(to, turn, data)
    webhook = message.get("webhook")
    return Notify(step, to, message.get("template"), webhook, tasks)
