"""Who may start a workflow, read from its `start`: anyone, anyone signed in, or groups.

`public: true` is the older way to say "anyone"; without `public` or `by`, anyone
with an account may start it, as before `by` existed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: Anyone, people without an account too (the public portal).
ANYONE = "anyone"
#: Anyone with an account.
SIGNED_IN = "signed_in"


def start_rule(start: Mapping[str, Any]) -> str | tuple[str, ...]:
    """Return `ANYONE`, `SIGNED_IN`, or the groups whose members may start the workflow."""
    by = start.get("by")
    if isinstance(by, list):
        return tuple(by)
    if isinstance(by, str):
        return by
    return ANYONE if start.get("public") is True else SIGNED_IN


def is_public(start: Mapping[str, Any]) -> bool:
    """Tell whether people without an account may start the workflow (with its start form)."""
    return start_rule(start) == ANYONE and bool(start.get("form"))
