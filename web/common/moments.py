"""Time in words, the way every page says it: durations, countdowns, deadlines, moments.

A moment is said in the time zone and the date format of the person reading: the ones they
chose on their account (`engine.service.locales`), else their browser's (its zone, which
`static/zone.js` keeps in the `time_zone` cookie, and its languages), else UTC in British
English. The zone is always named ("6 Dec 2026, 19:40 CET"), and `<time datetime>` keeps
the exact moment for machines.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from babel import Locale
from babel.dates import format_date, format_time
from flask import Flask, g, has_request_context, request
from flask_login import current_user

from engine.core.durations import parse_duration, whole_units
from engine.core.errors import DurationError
from engine.service.locales import locale_named, zone_named

#: The cookie `static/zone.js` keeps the browser's time zone in.
ZONE_COOKIE = "time_zone"
DEFAULT_LOCALE = Locale.parse("en_GB")


@dataclass(frozen=True, slots=True)
class Reader:
    """How the person reading a page reads moments: a time zone and a locale.

    `known_zone` names the zone when it was chosen or the browser said it ("" when UTC
    stands in); pages hand both to their scripts (`<html data-time-zone data-locale>`).
    """

    zone: tzinfo
    locale: Locale
    known_zone: str = ""

    @property
    def language_tag(self) -> str:
        """The locale as browsers name it: 'en-GB', 'zh-Hans-CN'."""
        return str(self.locale).replace("_", "-")


def reader() -> Reader:
    """How this request's reader reads moments (UTC in British English outside a request)."""
    if not has_request_context():
        return Reader(UTC, DEFAULT_LOCALE)
    found: Reader | None = g.get("moments_reader")
    if found is None:
        found = g.moments_reader = _reader_of_request()
    return found


def posted_zone() -> str:
    """The time zone of a date and time typed on this request's page (a `datetime-local`
    holds none): the reader's, as the page showed its moments, else UTC."""
    return reader().known_zone or "UTC"


def _reader_of_request() -> Reader:
    person = getattr(current_user, "person", None)
    zone_name = getattr(person, "time_zone", None) or request.cookies.get(ZONE_COOKIE, "")
    zone = zone_named(zone_name[:64]) if zone_name else None
    chosen = getattr(person, "locale", None)
    locale = locale_named(chosen) if chosen else _browser_locale()
    return Reader(zone or UTC, locale or DEFAULT_LOCALE, zone_name if zone else "")


def _browser_locale() -> Locale | None:
    for language, _quality in list(request.accept_languages)[:8]:
        found = locale_named(language) if language != "*" else None
        if found is not None:
            return found
    return None


def _plural(count: int, unit: str) -> str:
    return f"{count} {unit}" if count == 1 else f"{count} {unit}s"


def duration_words(delta: timedelta) -> str:
    """Say a duration in words, to the minute: '2 days 3 hours', '1 hour 20 minutes'."""
    days, hours, minutes = whole_units(delta)
    if days:
        return _plural(days, "day") + (f" {_plural(hours, 'hour')}" if hours else "")
    if hours:
        return _plural(hours, "hour") + (f" {_plural(minutes, 'minute')}" if minutes else "")
    return _plural(minutes, "minute") if minutes else "less than a minute"


def duration_text(iso_duration: object) -> str:
    """Say an ISO 8601 duration ('PT1H30M') in words ('1 hour 30 minutes'); else as given."""
    try:
        return duration_words(parse_duration(str(iso_duration)))
    except DurationError:
        return str(iso_duration)


def countdown(due: datetime | None, at: datetime) -> str:
    """Say the time left before `due`: '1 hour 20 minutes left' or 'overdue by 5 minutes'."""
    if due is None:
        return "no deadline"
    if due > at:
        return f"{duration_words(due - at)} left"
    return f"overdue by {duration_words(at - due)}"


@dataclass(frozen=True, slots=True)
class Deadline:
    """A deadline as the lists say it: where it stands, the moment, and the time left."""

    state: str  # breached, due_soon, on_track or none (worklist.SLA_STATES)
    iso: str  # "" when there is no deadline
    when: str
    left: str


def deadline(due: datetime | None, state: str, at: datetime) -> Deadline:
    """Put a deadline in words once, in Python: a list shows fifty of them."""
    if due is None:
        return Deadline(state, "", "", "")
    return Deadline(state, due.isoformat(), when(due), countdown(due, at))


def when(value: datetime | str | None) -> str:
    """Say a moment as the reader reads it, its zone named: '6 Dec 2026, 19:40 CET'.

    Moments without a zone are UTC, as the database keeps them.
    """
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    how = reader()
    local = value.astimezone(how.zone)
    date = format_date(local, "medium", locale=how.locale)
    time = format_time(local, "short", locale=how.locale)
    return f"{date}, {time} {local.tzname() or ''}".rstrip()


def iso(value: datetime | str | None) -> str:
    if isinstance(value, str):
        return value
    return value.isoformat() if value is not None else ""


def init_app(app: Flask) -> None:
    """Give every template the words for time. Globals, not a context processor: macros
    imported without the page's context (so Jinja caches them) see them too; `moment` is
    `when` for the macros that are themselves called `when`."""
    app.jinja_env.globals.update(
        when=when, moment=when, iso=iso, countdown=countdown, deadline=deadline,
        duration=duration_text, reader=reader,
    )  # fmt: skip
