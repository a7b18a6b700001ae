"""Escalation policies: who is paged for an incident, in which order, and when.

A policy is a list of levels. Level 1's targets (on-call schedules, groups, users) are
notified when the incident opens; when nobody acknowledges within the level's `after`,
the next level is notified, and so on. After the last level the policy starts again
from level 1, `repeat` more times, then stops. An acknowledged incident that is not
resolved within `acknowledge_within` (if set) comes back unacknowledged and the policy
runs again from level 1, as PagerDuty's acknowledgement timeout does.

Pure: times are parameters; who is on call for a schedule target is the caller's
question (`engine.core.oncall`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from engine.core.durations import parse_duration
from engine.core.errors import DurationError, Problem

FORMAT = 1
TARGET_KINDS = ("schedule", "group", "user")
MAX_LEVELS = 20
MAX_TARGETS = 20
MAX_REPEAT = 9
#: The shortest wait between levels: paging someone again every few seconds helps nobody.
MIN_AFTER = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class Target:
    """Whom a level notifies: a schedule's person on call, a group, or a user."""

    kind: str
    key: str


@dataclass(frozen=True, slots=True)
class Level:
    targets: tuple[Target, ...]
    #: How long the level waits for an acknowledgement before the next one; None on a last
    #: level of a policy that does not repeat.
    after: timedelta | None


@dataclass(frozen=True, slots=True)
class Policy:
    key: str
    levels: tuple[Level, ...]
    repeat: int = 0
    acknowledge_within: timedelta | None = None


@dataclass(frozen=True, slots=True)
class Page:
    """Level `level` (0 is the first) is notified at `at`, on round `round` (0 is the first)."""

    at: datetime
    level: int
    round: int


def notify_targets(policy: Policy, level: int) -> tuple[Target, ...]:
    """Return whom level `level` (0 is the first) notifies."""
    return policy.levels[level].targets


def pages(policy: Policy, start: datetime) -> list[Page]:
    """Return when each level is notified, from an incident opened at `start` with nobody
    acknowledging: every level of every round, in order."""
    found: list[Page] = []
    at = start
    for round_ in range(policy.repeat + 1):
        for index, level in enumerate(policy.levels):
            found.append(Page(at, index, round_))
            if level.after is None:
                return found
            at += level.after
    return found


def page_at(policy: Policy, start: datetime, at: datetime) -> Page | None:
    """Return the latest page at or before `at`; None before `start`."""
    latest = None
    for page in pages(policy, start):
        if page.at > at:
            break
        latest = page
    return latest


def unacknowledged_at(policy: Policy, acknowledged: datetime) -> datetime | None:
    """Return when an acknowledgement made at `acknowledged` runs out; None if never."""
    if policy.acknowledge_within is None:
        return None
    return acknowledged + policy.acknowledge_within


# --- Documents ----------------------------------------------------------------------------


def policy_problems(doc: Any) -> list[Problem]:
    """Say what is wrong with a policy document: levels, repeat, acknowledge_within."""
    if not isinstance(doc, Mapping):
        return [Problem("", "a policy must be an object")]
    problems: list[Problem] = []
    unknown = sorted(set(doc) - {"levels", "repeat", "acknowledge_within"})
    if unknown:
        problems.append(Problem("", f"unknown {', '.join(map(repr, unknown))} in a policy"))
    repeat = doc.get("repeat", 0)
    if not isinstance(repeat, int) or isinstance(repeat, bool) or not 0 <= repeat <= MAX_REPEAT:
        problems.append(Problem("/repeat", f"repeat is a whole number from 0 to {MAX_REPEAT}"))
        repeat = 0
    if "acknowledge_within" in doc:
        problems += _duration_problems("/acknowledge_within", doc["acknowledge_within"])
    levels = doc.get("levels")
    if not isinstance(levels, list) or not levels:
        return [*problems, Problem("/levels", "a policy needs at least one level")]
    if len(levels) > MAX_LEVELS:
        return [*problems, Problem("/levels", f"a policy has at most {MAX_LEVELS} levels")]
    for index, level in enumerate(levels):
        last = index == len(levels) - 1
        problems += _level_problems(f"/levels/{index}", level, needs_after=not last or repeat > 0)
    return problems


def _level_problems(at: str, doc: Any, *, needs_after: bool) -> list[Problem]:
    if not isinstance(doc, Mapping) or not set(doc) <= {"notify", "after"}:
        return [Problem(at, 'a level has "notify" (a list of targets) and "after" (PT15M)')]
    problems: list[Problem] = []
    targets = doc.get("notify")
    if not isinstance(targets, list) or not targets or len(targets) > MAX_TARGETS:
        problems.append(Problem(f"{at}/notify", f"a level notifies 1 to {MAX_TARGETS} targets"))
    else:
        for number, target in enumerate(targets):
            if (
                not isinstance(target, Mapping)
                or len(target) != 1
                or next(iter(target)) not in TARGET_KINDS
                or not isinstance(next(iter(target.values())), str)
                or not next(iter(target.values())).strip()
            ):
                problems.append(
                    Problem(
                        f"{at}/notify/{number}",
                        'a target is {"schedule": key}, {"group": key} or {"user": name}',
                    )
                )
    if "after" in doc:
        problems += _duration_problems(f"{at}/after", doc["after"])
    elif needs_after:
        problems.append(
            Problem(f"{at}/after", "say how long to wait for an acknowledgement, like PT15M")
        )
    return problems


def _duration_problems(at: str, text: Any) -> list[Problem]:
    try:
        value = parse_duration(text)
    except DurationError as error:
        return [Problem(at, str(error))]
    if value < MIN_AFTER:
        return [Problem(at, "wait at least a minute (PT1M)")]
    return []


def targets_in(doc: Mapping[str, Any]) -> list[tuple[str, Target]]:
    """Return every target of a valid policy document, with its JSON Pointer."""
    return [
        (f"/levels/{index}/notify/{number}", Target(*next(iter(target.items()))))
        for index, level in enumerate(doc["levels"])
        for number, target in enumerate(level["notify"])
    ]


def policy_from_document(key: str, doc: Mapping[str, Any]) -> Policy:
    """Build a policy from its (valid) document."""
    levels = tuple(
        Level(
            tuple(Target(*next(iter(target.items()))) for target in level["notify"]),
            parse_duration(level["after"]) if "after" in level else None,
        )
        for level in doc["levels"]
    )
    within = doc.get("acknowledge_within")
    return Policy(
        key, levels, int(doc.get("repeat", 0)), parse_duration(within) if within else None
    )
