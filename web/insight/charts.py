"""Charts of the dashboard's tables, as geometry the template draws in SVG (no script).

Each chart reads without colour: segments differ by pattern (solid, hatched, dotted,
crossed, open) named in a legend, every bar carries its numbers as text, and the table
the chart was drawn from follows it on the page.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from engine.service.insight import Table

#: Width of the plotting area, of the labels column and of the numbers after the bars,
#: height of one bar (SVG units; the chart scales to the page's width).
WIDTH, LABEL_WIDTH, TEXT_WIDTH, BAR_HEIGHT, GAP = 300, 170, 250, 18, 8
#: The patterns segments are filled with, in order (defined once in the template).
PATTERNS = ("solid", "hatch", "dots", "cross", "open")
#: The most bars a chart draws (its table lists every row).
MAX_BARS = 25


@dataclass(frozen=True, slots=True)
class Segment:
    x: float
    width: float
    pattern: str
    label: str


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    y: float
    segments: tuple[Segment, ...]
    #: The numbers, written after the bar.
    text: str
    text_x: float


@dataclass(frozen=True, slots=True)
class Chart:
    """A horizontal bar chart: bars of one or more segments, a legend, a size."""

    key: str
    title: str
    bars: tuple[Bar, ...]
    legend: tuple[tuple[str, str], ...]
    height: float
    width: float = LABEL_WIDTH + WIDTH + TEXT_WIDTH


def duration(seconds: float | None) -> str:
    """Say a duration as people read one: '27 s', '45 min', '3 h 20 min', '2 d 4 h'."""
    if seconds is None:
        return "none"
    if seconds < 59.5:  # "0 min" said an acknowledgement in 7 s took no time at all
        return f"{max(0, round(seconds))} s"
    minutes = round(seconds / 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min"


def stacked(
    key: str,
    title: str,
    rows: Sequence[tuple[str, Sequence[float]]],
    names: Sequence[str],
    say: Callable[[float], str] = lambda value: f"{value:g}",
) -> Chart:
    """Draw rows of stacked segments (one per name), each labelled with its numbers."""
    rows = list(rows)[:MAX_BARS]
    top = max((sum(v for v in values if v) for _, values in rows), default=0) or 1
    bars = []
    for index, (label, values) in enumerate(rows):
        y = index * (BAR_HEIGHT + GAP)
        x, segments, words = float(LABEL_WIDTH), [], []
        for name, pattern, value in zip(names, PATTERNS, values, strict=False):
            if value is None:
                continue
            words.append(f"{name} {say(value)}" if len(names) > 1 else say(value))
            if value > 0:
                width = WIDTH * value / top
                segments.append(Segment(x, width, pattern, f"{name}: {say(value)}"))
                x += width
        bars.append(Bar(label, y, tuple(segments), ", ".join(words) or "none", x + 6))
    legend = tuple(zip(names, PATTERNS, strict=False)) if len(names) > 1 else ()
    height = max(len(bars), 1) * (BAR_HEIGHT + GAP)
    return Chart(key, title, tuple(bars), legend, height)


def charts_of(panels: dict[str, Table]) -> dict[str, list[Chart]]:
    """Return the charts of each panel that has some (breaches are a list, not a chart)."""
    found: dict[str, list[Chart]] = {}
    for key, table in panels.items():
        records = table.records()
        if key.startswith("by_"):
            found[key] = [
                _one(f"{key}-mtta", "Mean time to acknowledge", records, "mtta_s", duration),
                _one(f"{key}-mttr", "Mean time to resolve", records, "mttr_s", duration),
            ]
            if key == "by_service":
                found[key].append(
                    _one(f"{key}-mtbf", "Mean time between failures", records, "mtbf_s", duration)
                )
        elif key == "sla":
            rows: list[tuple[str, Sequence[float]]]
            rows = [(r["clock"], (r["met"], r["breached"], r["pending"])) for r in records]
            found[key] = [stacked(key, "SLA outcomes", rows, ("Met", "Breached", "Counting"))]
        elif key == "backlog":
            ages = [c.heading for c in table.columns[1:-1]]
            rows = [(r["priority"], [r[c.key] for c in table.columns[1:-1]]) for r in records]
            found[key] = [stacked(key, "Open incidents by age", rows, ages)]
        elif key == "volume":
            rows = [(r["start"], (r["opened"],)) for r in records]
            found[key] = [stacked(key, table.title, rows, ("Opened",))]
        elif key in ("categories", "services"):
            rows = [(r["key"], (r["incidents"],)) for r in records]
            found[key] = [stacked(key, table.title, rows, ("Incidents",))]
    return found


def _one(
    key: str, title: str, records: list[dict[str, Any]], column: str, say: Callable[[float], str]
) -> Chart:
    rows = [(str(r["key"]), (r[column],)) for r in records if r[column] is not None]
    return stacked(key, title, rows, (title,), say)
