"""Audit events: the append-only account of what happened to an instance, and why."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One entry of the timeline: `kind` (e.g. `routed`), where, and `why` in words."""

    kind: str
    at: str
    step: str | None = None
    why: str | None = None
    actor: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "at": self.at}
        for name in ("step", "why", "actor"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.detail:
            out["detail"] = self.detail
        return out
