"""Recurring incidents: groups of recent incidents alike enough to share a cause.

No model and no outside service: a few plain rules over the incidents of the last `days`
(default 7), answered by the database the desk already has, with its full-text index, and
the same answer every time for the same incidents. The incidents looked at are the
instances of the incident workflows (`"incident": true`) started in the window (open or
ended since), not cancelled, not closed as duplicates, and linked to no problem yet (an
incident linked to one is never proposed again). A group is proposed when it holds at
least `at_least` of them (default 3), and each says why:

1. **The same alert**: incidents opened by alerts with one fingerprint (the integration
   and the sender's de-duplication key, `alerts.integration_id` and `dedup_key`): the
   same alert kept coming back. The alert is its own proof of likeness: no words needed.
2. **The same service** (`instances.service_key`), **alike in words**: among the incidents
   of one service, the two words that the most of them share (in their titles and
   descriptions: words of three letters or more, not numbers, not common English words;
   ties go to the alphabet) are looked up in the full-text index
   (`engine.store.search.matching`: each word the start of a word in the title, the text
   the requester gave or a public comment, so "drop" finds "drops"), and the incidents it
   finds holding both make the group. The rest of the service's incidents are looked at
   again, for another pair of words.
3. **The same category** (the data's `category`), alike in words, the same way.

An incident is proposed in one group at most: the first rule, in that order, that groups
it. At most `MAX_INCIDENTS` incidents are looked at, the latest first. Only the service
desk sees the proposals; opening a problem from one is `Problems.open`.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import combinations
from typing import Any

from sqlalchemy import and_, exists, select
from sqlalchemy.orm import Session

from engine.core.errors import Problem
from engine.service.casework import Linked
from engine.service.commands import Commands
from engine.service.definitions import incident_workflows
from engine.service.errors import InvalidInput, NotAllowed
from engine.settings import RECURRING_AT_LEAST, RECURRING_DAYS
from engine.store.casework import InstanceLink
from engine.store.directory import Directory
from engine.store.instances import Instance
from engine.store.search import MAX_WORD, matching
from engine.store.services import Alert, Integration

#: Statuses of incidents that are not looked at: nothing recurred.
LEFT_OUT = ("cancelled", "duplicate")
#: Bounds of the window and of the group size a person may ask for.
MIN_DAYS, MAX_DAYS = 1, 90
MIN_AT_LEAST, MAX_AT_LEAST = 2, 100
#: The most incidents looked at (the latest first), and words read per incident.
MAX_INCIDENTS = 5_000
MAX_WORDS = 200
#: Words shared by a group alike in words; the most frequent words tried in pairs.
SHARED = 2
TRIED = 30
#: Shortest word that counts.
MIN_WORD = 3
#: The data fields read, without the rest of the instance's state.
_DESCRIPTION = Instance.state[("data", "description")].as_string().label("description")
_CATEGORY = Instance.state[("data", "category")].as_string().label("category")
#: What separates words: anything but letters and digits, as in `engine.store.search`.
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
#: Words too common to say two incidents are alike.
_COMMON = """
    about above after again against all also and any are because been before being below
    between both but can cannot could did does doing down during each few for from further
    had has have having her here hers him his how into its itself just more most not now off
    once only other our ours out over own same she should some such than that the their them
    then there these they this those through too under until very was were what when where
    which while who whom why will with would you your yours get got still since every please
    help thanks thank hello again today yesterday work working works does don isn wasn
"""
COMMON = frozenset(_COMMON.split())


@dataclass(frozen=True, slots=True)
class Proposal:
    """A group of incidents proposed for a problem, and why.

    `rule`: alert, service or category; `key`: the alert's fingerprint, the service's key
    or the category; `words`: the words they share (none for an alert).
    """

    rule: str
    key: str
    words: tuple[str, ...]
    reason: str
    incidents: list[Linked]
    #: What a problem opened from it is called: the latest incident's title.
    title: str

    @property
    def numbers(self) -> list[str]:
        return [incident.number for incident in self.incidents]


@dataclass(frozen=True, slots=True)
class _Incident:
    id: int
    number: str
    title: str
    status: str
    ended: bool
    service: str | None
    category: str | None
    words: frozenset[str]


class Recurring:
    """The desk's proposals of problems, read from the incidents of the last days."""

    def __init__(self, commands: Commands) -> None:
        self.commands = commands

    def proposals(
        self,
        viewer: str,
        *,
        days: int = RECURRING_DAYS,
        at_least: int = RECURRING_AT_LEAST,
        at: datetime | None = None,
    ) -> list[Proposal]:
        """Return the groups of recurring incidents, as of `at` (now), for the service desk."""
        check_bounds(days, at_least)
        since = (at or self.commands.clock()) - timedelta(days=days)

        def read(session: Session) -> list[Proposal]:
            if not Directory(session.connection(), row_locks=False).is_agent(viewer):
                raise NotAllowed(f"only the service desk sees recurring incidents, not {viewer}")
            return _proposals(session, since, days, at_least)

        return self.commands.read(read)


def check_bounds(days: int, at_least: int) -> None:
    """Refuse a window or a group size out of bounds, saying which."""
    problems = []
    if not MIN_DAYS <= days <= MAX_DAYS:
        problems.append(Problem("/days", f"the window is {MIN_DAYS} to {MAX_DAYS} days"))
    if not MIN_AT_LEAST <= at_least <= MAX_AT_LEAST:
        message = f"a group holds {MIN_AT_LEAST} to {MAX_AT_LEAST} incidents"
        problems.append(Problem("/at_least", message))
    if problems:
        raise InvalidInput(f"recurring incidents cannot be looked for: {problems[0]}", problems)


def _proposals(session: Session, since: datetime, days: int, at_least: int) -> list[Proposal]:
    incidents = _incidents(session, since)
    left = dict(incidents)
    found: list[Proposal] = []
    for fingerprint, ids in _alerts(session, since, left):
        group = [left.pop(i) for i in ids if i in left]
        if len(group) >= at_least:
            reason = (
                f"{len(group)} incidents in {days} days were opened by the same alert "
                f"({fingerprint})"
            )
            found.append(_proposal("alert", fingerprint, (), reason, group))
        else:
            left.update((incident.id, incident) for incident in group)
    for rule in ("service", "category"):
        found += _alike(session, rule, left, days, at_least)
    return found


def _incidents(session: Session, since: datetime) -> dict[int, _Incident]:
    """The incidents looked at, by id: started since, not left out, with no problem."""
    has_problem = exists().where(
        and_(InstanceLink.instance_id == Instance.id, InstanceLink.kind == "problem")
    )
    rows = session.execute(
        select(
            Instance.id,
            Instance.number,
            Instance.title,
            Instance.status,
            Instance.ended_at,
            Instance.service_key,
            _DESCRIPTION,
            _CATEGORY,
        )
        .where(
            # Implied by the start, and indexed: only what changed since is read at all.
            Instance.updated_at >= since,
            Instance.started_at >= since,
            Instance.workflow_key.in_(incident_workflows(session)),
            Instance.status.not_in(LEFT_OUT),
            ~has_problem,
        )
        .order_by(Instance.id.desc())
        .limit(MAX_INCIDENTS)
    ).all()
    found = {}
    for row in reversed(rows):  # oldest first: groups list their incidents in that order
        text = f"{row.title}\n{row.description or ''}"
        found[row.id] = _Incident(
            row.id,
            row.number,
            row.title,
            row.status,
            row.ended_at is not None,
            row.service_key,
            _str(row.category),
            frozenset(_significant(text)),
        )
    return found


def _significant(text: str) -> list[str]:
    """The words of a text that can say two incidents are alike, at most `MAX_WORDS`."""
    found = [
        word
        for word in words_of(text)
        if len(word) >= MIN_WORD and not word.isdigit() and word not in COMMON
    ]
    return found[:MAX_WORDS]


def words_of(text: str) -> list[str]:
    """Split a text into its words, lower case, as the search splits them (each word once)."""
    return list(dict.fromkeys(word[:MAX_WORD] for word in _WORD.findall(text.lower())))


def _alerts(
    session: Session, since: datetime, incidents: dict[int, _Incident]
) -> list[tuple[str, list[int]]]:
    """Group the incidents by the fingerprints of the alerts that fed them, largest first."""
    rows = session.execute(
        select(Alert.instance_id, Alert.integration_id, Alert.dedup_key, Integration.name)
        .join(Instance, Instance.id == Alert.instance_id)
        .join(Integration, Integration.id == Alert.integration_id)
        .where(Instance.started_at >= since)
        .distinct()
    ).all()
    groups: dict[str, set[int]] = defaultdict(set)
    for row in rows:
        if row.instance_id in incidents:
            groups[f"{row.name}, key {row.dedup_key}"].add(row.instance_id)
    ordered = sorted(groups.items(), key=lambda item: (-len(item[1]), item[0]))
    return [(key, sorted(ids)) for key, ids in ordered]


def _alike(
    session: Session, rule: str, left: dict[int, _Incident], days: int, at_least: int
) -> list[Proposal]:
    """Group what is left by service (or category), then by the words they share."""
    by_key: dict[str, list[_Incident]] = defaultdict(list)
    for incident in left.values():
        key = incident.service if rule == "service" else incident.category
        if key:
            by_key[key].append(incident)
    found = []
    for key, members in sorted(by_key.items(), key=lambda item: (-len(item[1]), item[0])):
        pool = {incident.id: incident for incident in members}
        while len(pool) >= at_least:
            pair = _best_pair(pool.values(), at_least)
            if pair is None:
                break
            ids = _holding(session, pair, sorted(pool))
            if len(ids) < at_least:
                break
            group = [pool.pop(i) for i in sorted(ids)]
            for incident in group:
                left.pop(incident.id, None)
            what = f"of the service '{key}'" if rule == "service" else f"in the category '{key}'"
            reason = (
                f"{len(group)} incidents {what} in {days} days, all about "
                f"'{pair[0]}' and '{pair[1]}'"
            )
            found.append(_proposal(rule, key, pair, reason, group))
    return found


def _best_pair(incidents: Iterable[_Incident], at_least: int) -> tuple[str, str] | None:
    """The two words that the most incidents share (ties: the alphabet), if enough do."""
    sets = [incident.words for incident in incidents]
    counts = Counter(word for found in sets for word in found)
    frequent = sorted(
        (word for word, count in counts.items() if count >= at_least),
        key=lambda word: (-counts[word], word),
    )[:TRIED]
    best: tuple[int, tuple[str, str]] | None = None
    for pair in combinations(sorted(frequent), SHARED):
        count = sum(1 for found in sets if pair[0] in found and pair[1] in found)
        if count >= at_least and (best is None or count > best[0]):
            best = (count, (pair[0], pair[1]))
    return best[1] if best is not None else None


def _holding(session: Session, pair: tuple[str, str], ids: Sequence[int]) -> list[int]:
    """Ask the full-text index which of these incidents hold both words."""
    dialect = session.get_bind().dialect.name
    condition = matching(dialect, " ".join(pair), internal=False, within=(ids[0], ids[-1]))
    assert condition is not None  # two words of three letters or more
    found = session.scalars(select(Instance.id).where(Instance.id.in_(ids), condition))
    return sorted(int(i) for i in found)


def _proposal(
    rule: str, key: str, shared: tuple[str, ...], reason: str, group: list[_Incident]
) -> Proposal:
    group = sorted(group, key=lambda incident: incident.id)
    linked = [Linked(i.number, i.title, i.status, i.ended) for i in group]
    return Proposal(rule, key, shared, reason, linked, group[-1].title)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None
