"""How a person reads times: the time zone and the locale pages use to say moments to them.

Each person may choose both on their account (or through the API, or an admin on the command
line); with none chosen, pages follow the browser (see `web.common.moments`). A zone is an
IANA name ("Europe/Amsterdam"), a locale one Babel knows ("nl_NL", "en-US" is taken as
"en_US"); anything else is refused, saying which and why, and nothing changes.
"""

from __future__ import annotations

import enum
import functools
import zoneinfo
from dataclasses import dataclass
from datetime import datetime

from babel import Locale, UnknownLocaleError
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.core.errors import Problem
from engine.service.errors import InvalidInput, NotAllowed, NotFound
from engine.service.person import Person
from engine.service.shell import Shell
from engine.store.people import User


@functools.cache
def time_zones() -> tuple[str, ...]:
    """Every IANA time zone name this machine knows, sorted (the old aliases left out)."""
    named = (
        name
        for name in zoneinfo.available_timezones()
        if "/" in name and not name.startswith(("Etc/", "SystemV/", "US/"))
    )
    return (*sorted(named), "UTC")


def zone_named(name: str) -> zoneinfo.ZoneInfo | None:
    """The zone of an IANA name, or None when there is none by that name."""
    if name not in _known_zones():
        return None
    return zoneinfo.ZoneInfo(name)


@functools.cache
def _known_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def locale_named(name: str) -> Locale | None:
    """The locale of a name ("nl_NL", "nl-NL", "nl"), or None when Babel knows none by it."""
    try:
        return Locale.parse(name.strip().replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        return None


@dataclass(frozen=True, slots=True)
class Reading:
    """How someone reads times: a zone and a locale, each None for "as the browser says"."""

    time_zone: str | None
    locale: str | None


def reading_problems(time_zone: str | None, locale: str | None) -> list[Problem]:
    """Say what is wrong with a chosen zone and locale (none: both fine, or not chosen)."""
    problems = []
    if time_zone is not None and zone_named(time_zone) is None:
        problems.append(
            Problem(
                "/time_zone",
                f"'{time_zone[:80]}' is not a time zone; give an IANA name such as "
                "'Europe/Amsterdam' or 'America/New_York', or none to follow the browser",
            )
        )
    if locale is not None and locale_named(locale) is None:
        problems.append(
            Problem(
                "/locale",
                f"'{locale[:40]}' is not a locale; give one such as 'en_GB', 'en_US' or "
                "'nl_NL', or none to follow the browser",
            )
        )
    return problems


def check_reading(time_zone: str | None, locale: str | None) -> None:
    """Refuse a zone or locale that is not one (None: not chosen), saying which and why."""
    problems = reading_problems(time_zone, locale)
    if problems:
        words = "; ".join(p.message for p in problems)
        raise InvalidInput(f"nothing was changed: {words}", problems)


class Keep(enum.Enum):
    """What is not given is kept as it is."""

    KEEP = "keep"


KEEP = Keep.KEEP


class Readings:
    """Choose how a person's pages say times: their own choice, or an admin's for them."""

    def __init__(self, shell: Shell) -> None:
        self.shell = shell

    def choose(
        self,
        by: Person | None,
        username: str,
        *,
        time_zone: str | Keep | None = KEEP,
        locale: str | Keep | None = KEEP,
    ) -> Reading:
        """Set `username`'s zone and locale (None or "": follow the browser; KEEP: as is).

        `by` is who asks: the person themself or an admin (None: the command line, which
        runs with the database's own rights). Returns what they are now.
        """
        if by is not None and by.username != username and not by.has_role("admin"):
            raise NotAllowed("only an admin may choose how another person reads times")
        zone = time_zone if isinstance(time_zone, Keep) else (time_zone or "").strip() or None
        wanted = locale if isinstance(locale, Keep) else (locale or "").strip() or None
        check_reading(
            zone if isinstance(zone, str) else None, wanted if isinstance(wanted, str) else None
        )
        named = locale_named(wanted) if isinstance(wanted, str) else None
        values: dict[str, str | None] = {}
        if not isinstance(zone, Keep):
            values["time_zone"] = zone
        if not isinstance(wanted, Keep):
            values["locale"] = str(named) if named is not None else None

        def write(session: Session, _at: datetime) -> Reading:
            user = session.scalars(
                select(User).where(User.username == username).with_for_update()
            ).one_or_none()
            if user is None:
                raise NotFound(f"there is no user '{username}'")
            for name, value in values.items():
                setattr(user, name, value)
            return Reading(user.time_zone, user.locale)

        return self.shell.write("choose how times read", write)
