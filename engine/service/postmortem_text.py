"""A postmortem's words: the first draft from an incident's record, the document, its HTML.

The draft is Markdown in the sections a review walks through (summary, impact, SLA
outcome, timeline, linked alerts and incidents, root cause, what went well, what went
badly), written from `Facts` the service gathers from the incident's timeline. The
action items are not part of the text people edit: each is a task, and the document
(`document`) ends with them as they stand.

`render` turns Markdown into HTML that is safe to show: markdown-it-py in CommonMark
mode with raw HTML off (a tag is shown as the text it is) and its link check on (no
`javascript:`, `vbscript:`, `file:` or `data:` links), tables on. `printable` wraps that
HTML as a page that prints cleanly, the PDF-ready export.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from html import escape
from typing import Any

from markdown_it import MarkdownIt

from engine.core.durations import describe_duration

#: How times read in a postmortem: one zone for everyone who reads or prints it.
TIME_FORMAT = "%Y-%m-%d %H:%M UTC"
#: What each SLA outcome reads as.
SLA_WORDS = {
    "met": "met",
    "breached": "breached",
    "pending": "still counting",
    "none": "no target",
}

#: The stylesheet of the printable page: A4 margins, no navigation, tables kept whole.
PRINT_CSS = """
@page { size: A4; margin: 18mm 16mm; }
body { font: 11pt/1.45 Georgia, "Times New Roman", serif; color: #111; max-width: 46rem;
  margin: 2rem auto; padding: 0 1rem; }
h1 { font-size: 20pt; margin: 0 0 .4rem; }
h2 { font-size: 14pt; margin: 1.4rem 0 .4rem; border-bottom: 1px solid #999;
  break-after: avoid; page-break-after: avoid; }
h3 { font-size: 12pt; break-after: avoid; page-break-after: avoid; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0; font-size: 10pt; }
th, td { border: 1px solid #777; padding: .25rem .4rem; text-align: left; vertical-align: top; }
tr, li, blockquote, pre { break-inside: avoid; page-break-inside: avoid; }
pre, code { font-family: "DejaVu Sans Mono", monospace; font-size: 9.5pt; }
pre { white-space: pre-wrap; border: 1px solid #ccc; padding: .5rem; }
a { color: inherit; }
.postmortem-meta { color: #333; font-size: 10pt; }
@media print {
  body { margin: 0; max-width: none; padding: 0; }
  a[href^="http"]::after { content: " (" attr(href) ")"; font-size: 9pt; }
}
"""

_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable("table")


@dataclass(frozen=True, slots=True)
class Moment:
    """One line of the timeline: when, who acted (None: the engine), and what happened."""

    at: datetime
    who: str | None
    what: str


@dataclass(frozen=True, slots=True)
class AlertSeen:
    """An alert that reached the incident, or one linked to it, from monitoring."""

    at: datetime
    number: str
    source: str
    action: str
    severity: str | None
    summary: str


@dataclass(frozen=True, slots=True)
class LinkedIncident:
    """An incident linked to this one (related, or merged into it as a duplicate)."""

    number: str
    title: str
    status: str
    how: str


@dataclass(frozen=True, slots=True)
class Facts:
    """What the draft is written from: the incident, its timeline, its SLA and its links."""

    number: str
    title: str
    workflow_title: str
    priority: str | None
    status: str
    started_at: datetime
    ended_at: datetime | None
    data: Mapping[str, Any]
    moments: Sequence[Moment]
    sla: Mapping[str, str]
    targets: Mapping[str, timedelta]
    time_to_acknowledge: timedelta | None
    time_to_resolve: timedelta | None
    alerts: Sequence[AlertSeen]
    linked: Sequence[LinkedIncident]


@dataclass(frozen=True, slots=True)
class ActionLine:
    """An action item as the document lists it."""

    number: str
    title: str
    owner: str
    due: date | None
    state: str


def when(moment: datetime) -> str:
    """Say a time as the postmortem does (UTC, to the minute)."""
    return (moment.astimezone(UTC) if moment.tzinfo else moment).strftime(TIME_FORMAT)


def draft_text(facts: Facts, *, drafted_by: str, at: datetime) -> str:
    """Write the first draft of a postmortem, in Markdown, from an incident's facts."""
    parts = [
        f"# Postmortem: {facts.number} {_line(facts.title)}",
        f"*Drafted by {drafted_by} on {when(at)} from the timeline of {facts.number}. "
        "Change anything: the facts below are a start, the analysis is yours.*",
        "## Summary",
        _summary(facts),
        "## Impact",
        _impact(facts),
        "## SLA outcome",
        _sla(facts),
        "## Timeline",
        _timeline(facts.moments),
        "## Linked alerts and incidents",
        _links(facts),
        "## Root cause",
        _root_cause(facts),
        "## What went well",
        "- ",
        "## What went badly",
        "- ",
    ]
    return "\n\n".join(parts) + "\n"


def document(body: str, actions: Sequence[ActionLine]) -> str:
    """The whole postmortem in Markdown: the text as edited, then its action items."""
    lines = [body.rstrip(), "", "## Action items", ""]
    if not actions:
        lines.append("None yet.")
    else:
        lines += ["| Action item | What | Who | Due | State |", "|---|---|---|---|---|"]
        for item in actions:
            due = item.due.isoformat() if item.due else ""
            cells = (item.number, item.title, item.owner, due, item.state)
            lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    return "\n".join(lines) + "\n"


def render(markdown: str, *, under: int = 0) -> str:
    """Turn Markdown into HTML safe to show: no raw HTML, no script links.

    `under` moves every heading down that many levels, for a document shown inside a page
    that has headings of its own (the editor's preview: its `#` is the page's `<h3>`).
    """
    tokens = _MARKDOWN.parse(markdown)
    if under:
        for token in tokens:
            if token.type in ("heading_open", "heading_close"):
                token.tag = f"h{min(6, int(token.tag[1:]) + under)}"
    return str(_MARKDOWN.renderer.render(tokens, _MARKDOWN.options, {}))


def printable(title: str, html: str, *, stylesheet: str | None = None) -> str:
    """A whole page that prints cleanly: the stylesheet linked when given, else inline."""
    style = (
        f'<link rel="stylesheet" href="{escape(stylesheet)}">'
        if stylesheet
        else f"<style>{PRINT_CSS}</style>"
    )
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<link rel="icon" href="data:,">\n'
        f"<title>{escape(title)}</title>\n{style}\n</head>\n"
        f"<body>\n<main>\n{html}</main>\n</body>\n</html>\n"
    )


# The sections -----------------------------------------------------------------------------


def _summary(facts: Facts) -> str:
    data = facts.data
    what = _line(str(data.get("summary") or facts.title))
    services = _services(data)
    ended = f", resolved {when(facts.ended_at)}" if facts.ended_at else ""
    lasted = (
        f" ({describe_duration(facts.ended_at - facts.started_at)} after it was declared)"
        if facts.ended_at
        else ""
    )
    level = f"{facts.priority} " if facts.priority else ""
    on = f" on {services}" if services else ""
    return (
        f"{what}: a {level}{facts.workflow_title.lower()}{on}, declared "
        f"{when(facts.started_at)}{ended}{lasted}. It stands {_words(facts.status)}.\n\n"
        "*In two or three sentences: what happened, who it hurt, and how it ended.*"
    )


def _impact(facts: Facts) -> str:
    data = facts.data
    lines = []
    if data.get("customer_impact"):
        lines.append(f"- Customers: {_line(str(data['customer_impact']))}")
    services = _services(data)
    if services:
        lines.append(f"- Services: {services}")
    if data.get("started_at"):
        lines.append(f"- Started (as declared): {_moment_text(data['started_at'])}")
    if data.get("restored_at"):
        lines.append(f"- Restored: {_moment_text(data['restored_at'])}")
    if facts.ended_at:
        lines.append(
            f"- Declared to resolved: {describe_duration(facts.ended_at - facts.started_at)}"
        )
    return "\n".join(lines) or "- *Who and what was affected, for how long.*"


def _sla(facts: Facts) -> str:
    lines = []
    reached = {"response": facts.time_to_acknowledge, "resolution": facts.time_to_resolve}
    verbs = {"response": "acknowledged", "resolution": "resolved"}
    for kind in ("response", "resolution"):
        outcome = SLA_WORDS.get(facts.sla.get(kind, "none"), "no target")
        target = facts.targets.get(kind)
        said = f"- {kind.capitalize()}: **{outcome}**"
        if target is not None:
            said += f" (target {describe_duration(target)}"
            took = reached[kind]
            if took is not None:
                said += f"; {verbs[kind]} after {describe_duration(took)} of open time"
            said += ")"
        lines.append(said)
    return "\n".join(lines)


def _timeline(moments: Sequence[Moment]) -> str:
    if not moments:
        return "- *Nothing was recorded.*"
    lines = [f"- {when(m.at)}: {_line(m.what)}" + (f" ({m.who})" if m.who else "") for m in moments]
    people = list(dict.fromkeys(m.who for m in moments if m.who))
    if people:
        lines += ["", f"Who acted: {', '.join(people)}."]
    return "\n".join(lines)


def _links(facts: Facts) -> str:
    lines = [
        f"- Alert from {a.source} ({a.action}"
        + (f", {a.severity}" if a.severity else "")
        + f") on {a.number} at {when(a.at)}: {_line(a.summary)}"
        for a in facts.alerts
    ]
    lines += [
        f"- {item.how.capitalize()}: {item.number} {_line(item.title)} ({_words(item.status)})"
        for item in facts.linked
    ]
    return "\n".join(lines) or "- None: no alert reached it and no incident is linked to it."


def _root_cause(facts: Facts) -> str:
    notes = facts.data.get("recovery_notes")
    said = f"What was done to recover: {_line(str(notes))}\n\n" if notes else ""
    return said + "*What caused it, and why did nothing stop it sooner?*"


# Words ------------------------------------------------------------------------------------


def _line(text: str) -> str:
    """One line of Markdown from a person's text: whitespace folded, no heading or HTML."""
    return " ".join(text.split())


def _cell(text: str) -> str:
    return _line(text).replace("|", "\\|")


def _words(status: str) -> str:
    return status.replace("_", " ")


def _services(data: Mapping[str, Any]) -> str:
    found = data.get("services")
    if isinstance(found, list):
        return ", ".join(str(item) for item in found)
    return str(found) if found else ""


def _moment_text(value: Any) -> str:
    try:
        return when(datetime.fromisoformat(str(value)))
    except ValueError:
        return _line(str(value))
