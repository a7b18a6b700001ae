"""Checks on the SLA targets of each priority level: resolving never comes before responding."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from engine.core.durations import parse_duration
from engine.core.errors import DurationError, Problem


def check_targets(doc: Mapping[str, Any]) -> Iterator[Problem]:
    """Report a level whose resolution target is shorter than its response target.

    Both are counted from the same start in the same calendar, so such a level asks for
    the instance to be resolved before anyone has to respond: the two were swapped.
    """
    for level, targets in doc.get("sla", {}).get("targets", {}).items():
        if "response" not in targets or "resolution" not in targets:
            continue
        try:
            response = parse_duration(targets["response"])
            resolution = parse_duration(targets["resolution"])
        except DurationError:
            continue  # reported with the durations
        if resolution < response:
            yield Problem(
                f"/sla/targets/{level}",
                f"the resolution target ({targets['resolution']}) is shorter than the response "
                f"target ({targets['response']}), so an instance would have to be resolved "
                "before anyone had to respond; were the two swapped?",
            )
