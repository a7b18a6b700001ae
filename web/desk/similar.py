"""The instance page's "Similar incidents" panel: for the service desk only.

The service finds and describes them (`engine.service.similar`); this module only puts
the durations in words for the panel (`instances/_similar.html`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from engine.service.person import Person
from engine.service.similar import Similar, SimilarIncident
from web.common.moments import duration_words
from web.common.services import services


@dataclass(frozen=True, slots=True)
class SimilarPanel:
    """What the panel lists: each incident with the time it took, in words, and the words
    looked for."""

    terms: tuple[str, ...]
    items: list[tuple[SimilarIncident, str | None]]


def similar_panel(person: Person, number: str) -> SimilarPanel | None:
    """Return the panel of an instance the person may see, or None when it is not for them."""
    if not person.is_agent:
        return None
    found = Similar(services().commands).of(person, number)
    return SimilarPanel(
        found.terms,
        [(item, _took(item.time_to_resolve_s)) for item in found.items],
    )


def _took(seconds: float | None) -> str | None:
    return duration_words(timedelta(seconds=seconds)) if seconds is not None else None
