"""iCalendar feeds of on-call shifts (RFC 5545), behind a secret link.

A calendar program cannot sign in, so a feed is read by a secret token in its URL,
like a tracking link. A feed is one schedule's shifts (made by an admin) or one
person's shifts across every schedule (made by that person, or an admin). Only the
token's SHA-256 is kept; a token is shown once, when it is made, and may be revoked.
A feed shows 4 weeks back and 13 weeks ahead.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.core import oncall as math
from engine.service.errors import InvalidInput, NotAllowed, NotFound
from engine.service.oncall import load
from engine.service.person import secret_hash
from engine.store.oncall import OnCallFeed, OnCallSchedule

if TYPE_CHECKING:
    from engine.service.shell import Shell
    from engine.store.uow import UnitOfWork

BEHIND = timedelta(weeks=4)
AHEAD = timedelta(weeks=13)
PRODID = "-//Flowdesk//On-call//EN"


@dataclass(frozen=True, slots=True)
class Event:
    """One shift as a calendar event."""

    schedule: str
    schedule_name: str
    shift: math.Shift


class Feeds:
    """Make, revoke and read the secret iCalendar feeds."""

    def __init__(self, shell: Shell) -> None:
        self.shell = shell

    def create(
        self, *, schedule: str | None = None, person: str | None = None, actor: str | None
    ) -> str:
        """Make a feed of one schedule or of one person; return its token, shown this once."""
        if (schedule is None) == (person is None):
            raise InvalidInput("a feed is of one schedule or of one person")

        def body(uow: UnitOfWork, at: datetime) -> str:
            repo = uow.repository
            admin = actor is None or "admin" in repo.roles_of(actor)
            if schedule is not None:
                if not admin:
                    raise NotAllowed("only an admin may make a schedule's calendar feed")
                if _schedule_row(uow.session, schedule) is None:
                    raise NotFound(f"there is no on-call schedule '{schedule}'")
            if person is not None:
                if not admin and actor != person:
                    raise NotAllowed("only an admin may make someone else's calendar feed")
                if not repo.active_users([person]):
                    raise NotFound(f"there is no active user '{person}'")
            token = "fdcal_" + secrets.token_urlsafe(24)
            uow.session.add(
                OnCallFeed(
                    token_hash=secret_hash(token),
                    schedule=schedule,
                    username=person,
                    created_by=actor,
                    created_at=at,
                )
            )
            return token

        return self.shell.execute("feed", None, body)

    def revoke(self, token: str, *, actor: str | None) -> None:
        """Revoke a feed: whoever made it, the person it is of, or an admin."""

        def body(uow: UnitOfWork, at: datetime) -> None:
            row = _feed(uow.session, token)
            if row is None:
                raise NotFound("there is no such calendar feed")
            if (
                actor is not None
                and actor not in (row.created_by, row.username)
                and "admin" not in uow.repository.roles_of(actor)
            ):
                raise NotAllowed("only an admin may revoke someone else's calendar feed")
            row.revoked_at = at

        self.shell.execute("feed", None, body)

    def calendar(
        self, token: str, *, schedule: str | None = None, person: str | None = None
    ) -> str:
        """Return the feed's calendar if `token` opens the feed asked for; else NotFound
        (a wrong, revoked or other feed's token says no more than a missing feed)."""
        at = self.shell.clock()
        start, end = at - BEHIND, at + AHEAD

        def read(session: Session) -> str:
            row = _feed(session, token)
            if (
                row is None
                or row.revoked_at is not None
                or row.schedule != schedule
                or row.username != person
            ):
                raise NotFound("there is no such calendar feed")
            keys = [schedule] if schedule is not None else _all_keys(session)
            events = []
            for key in keys:
                loaded = load(session.connection(), key, start, end)
                if loaded is None:
                    raise NotFound("there is no such calendar feed")
                name = _schedule_row(session, key)
                events += [
                    Event(key, name.name if name else key, shift)
                    for shift in math.shifts(loaded, start, end)
                    if person is None or shift.person == person
                ]
            title = f"On call: {schedule}" if schedule else f"On call: {person}"
            return render(title, events, at)

        return self.shell.read(read)


def _feed(session: Session, token: str) -> OnCallFeed | None:
    return session.scalars(
        select(OnCallFeed).where(OnCallFeed.token_hash == secret_hash(token))
    ).one_or_none()


def _schedule_row(session: Session, key: str) -> OnCallSchedule | None:
    return session.scalars(select(OnCallSchedule).where(OnCallSchedule.key == key)).one_or_none()


def _all_keys(session: Session) -> list[str]:
    return list(session.scalars(select(OnCallSchedule.key).order_by(OnCallSchedule.key)))


# --- RFC 5545 -----------------------------------------------------------------------------


def render(title: str, events: Iterable[Event], stamp: datetime) -> str:
    """Return an iCalendar document (CRLF lines, folded at 75 octets) of the shifts."""
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{_text(title)}",
    ]
    for event in sorted(events, key=lambda e: (e.shift.starts, e.schedule)):
        shift = event.shift
        lines += [
            "BEGIN:VEVENT",
            f"UID:{event.schedule}-{shift.person}-{_utc(shift.starts)}@flowdesk",
            f"DTSTAMP:{_utc(stamp)}",
            f"DTSTART:{_utc(shift.starts)}",
            f"DTEND:{_utc(shift.ends)}",
            f"SUMMARY:{_text(f'On call: {event.schedule_name} ({shift.person})')}",
            f"DESCRIPTION:{_text(f'{shift.person} is on call for {event.schedule}.')}",
            "TRANSP:OPAQUE",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return "".join(_fold(line) + "\r\n" for line in lines)


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _text(value: str) -> str:
    """Escape a TEXT value (RFC 5545 3.3.11)."""
    return (
        value.replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
    )


def _fold(line: str) -> str:
    """Fold a content line at 75 octets, never inside a UTF-8 character (RFC 5545 3.1)."""
    data = line.encode()
    if len(data) <= 75:
        return line
    parts, start, limit = [], 0, 75
    while start < len(data):
        end = min(start + limit, len(data))
        while end < len(data) and (data[end] & 0xC0) == 0x80:
            end -= 1
        parts.append(data[start:end].decode())
        start, limit = end, 74  # continuation lines begin with a space
    return "\r\n ".join(parts)
