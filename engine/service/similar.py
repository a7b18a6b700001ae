"""Similar incidents: the past incidents most like one, and how each was resolved.

An agent looking at an incident is shown the incidents of the same workflow that stand
resolved (ended, but not cancelled nor closed as a duplicate, or in a resolved status),
ranked by how alike their text is, with how each was resolved and the workaround of the
problem it is linked to. What counts (docs/self-help.md, ADR 58):

- **Text**: the words of the incident's title and description (`terms`: common words
  and words under three letters left out, the title's first, at most `MAX_TERMS`) are
  looked for, any of them, each as the start of a word, in the full-text index of every
  instance (`engine.store.search`): SQLite's FTS5 ranks by bm25 (a word in a title
  counts twice a word elsewhere), PostgreSQL by `ts_rank`.
- **Boosts**: the text's score is multiplied by 1 + `SERVICE_BOOST` when both are about
  the same service (`instances.service_key`), and 1 + `CATEGORY_BOOST` when both have
  the same `category`.
- **Left out**: the incident itself, its duplicates and its original (links of kind
  `duplicate`, either way), incidents still being worked on, cancelled ones, and any the
  viewer may not see (`finder.visible_to`; the service desk sees every instance, ADR 21).
- **How it was resolved**: its final status and outcome; the note its `resolution`
  field holds, else the resolver's last comment; the resolver (the last person other
  than its requester who completed a task on it) and when; the time to resolve as
  Insight counts it (docs/insight.md), or, for an incident Insight has not read yet, the
  wall time from its start to its resolution.
- **Its problem**: a link of kind `problem` from the incident to an instance of the
  `problem` workflow: that problem's number, title, status and workaround.

Cost: the candidates are the newest `CANDIDATES` instances that share a word and pass
the filters, read and ranked in one statement through the index; the boosts sort them
here; the few shown are described by four more statements, however many there are.
Similar incidents are for the service desk (agents and admins), like the dashboards.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    and_,
    bindparam,
    column,
    func,
    literal_column,
    or_,
    select,
    table,
    text,
)
from sqlalchemy.orm import Session

from engine.core.errors import Problem
from engine.core.metrics import DISCARDED, RESOLVED_STATUSES
from engine.service.commands import Commands
from engine.service.errors import InvalidInput, NotAllowed, NotFound
from engine.service.finder import visible_to
from engine.service.person import Person
from engine.service.requests import REQUESTER
from engine.service.worklist import may_see_instance
from engine.store.casework import InstanceLink
from engine.store.insight import IncidentFigures
from engine.store.instances import Comment, Instance, Task
from engine.store.search import MAX_WORD, SEARCH_TABLE

#: Similar incidents the incident page shows, and the most one request may ask for.
SHOWN = 5
MAX_SHOWN = 20
#: Words of an incident's title and description looked for.
MAX_TERMS = 16
#: Words shorter than this are not looked for (they match too much as prefixes).
MIN_TERM = 3
#: The newest instances sharing a word with the incident that are ranked: the rest, older,
#: are not looked at, so a word every incident holds costs no more than a rare one.
CANDIDATES = 2_000
#: How much a shared service, and a shared category, raise a text's score (x 1 + boost).
SERVICE_BOOST = 0.5
CATEGORY_BOOST = 0.25
#: bm25 weights of the index's columns on SQLite: title, body, internal notes.
COLUMN_WEIGHTS = (2.0, 1.0, 0.5)
#: The link from an incident (`instance_id`) to its problem (`other_id`), and duplicates'.
PROBLEM_LINK = "problem"
DUPLICATE_LINK = "duplicate"
#: Words so common in reports that they tell no two incidents apart (and, common, cost the
#: most to look for).
STOP_WORDS = frozenset((
    "about", "after", "afternoon", "again", "all", "also", "always", "and", "any", "anymore",
    "anything", "are", "been", "before", "being", "both", "but", "can", "cannot", "could", "did",
    "does", "doesn", "doing", "don", "each", "evening", "every", "everything", "few", "for",
    "from", "get", "gets", "got", "had", "has", "have", "isn", "many", "much", "other", "wasn",
    "having", "hello", "help", "her", "here", "him", "his", "how", "into", "issue", "its", "just",
    "like", "more", "morning", "most", "never", "not", "now", "off", "once", "only", "our", "out",
    "over", "please", "problem", "same", "she", "should", "since", "some", "something",
    "sometimes", "still", "such", "than", "thank", "thanks", "that", "the", "their", "them",
    "then", "there", "these", "they", "this", "those", "today", "too", "under", "until", "very",
    "was", "were", "what", "when", "where", "which", "while", "who", "why", "will", "with",
    "work", "working", "works", "would", "yesterday", "you", "your",
))  # fmt: skip
_WORD = re.compile(r"[^\W_]+", re.UNICODE)

_i = Instance.__table__.c
_t = Task.__table__.c
_c = Comment.__table__.c
_l = InstanceLink.__table__.c
_f = IncidentFigures.__table__.c
_CATEGORY = Instance.state[("data", "category")].as_string()


# Answers -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LinkedProblem:
    """The problem a similar incident is linked to, and its workaround."""

    number: str
    title: str
    status: str
    workaround: str | None


@dataclass(frozen=True, slots=True)
class SimilarIncident:
    """A past incident like the one asked about, and how it was resolved."""

    number: str
    title: str
    status: str
    #: The final outcome of an ended incident (`resolved`, ...); None while it stands resolved.
    outcome: str | None
    started_at: datetime
    resolved_at: datetime | None
    resolved_by: str | None
    #: Its `resolution` field, else the resolver's last comment.
    resolution: str | None
    time_to_resolve_s: float | None
    same_service: bool
    same_category: bool
    #: The text's score with its boosts: higher is more alike (comparable within one answer).
    score: float
    problem: LinkedProblem | None = None


@dataclass(frozen=True, slots=True)
class SimilarIncidents:
    """The incidents most like `number`, most alike first, and the words looked for."""

    number: str
    terms: tuple[str, ...]
    items: list[SimilarIncident]


@dataclass(frozen=True, slots=True)
class _Subject:
    id: int
    number: str
    title: str
    workflow_key: str
    service_key: str | None
    category: str | None
    description: str | None


@dataclass(frozen=True, slots=True)
class _Candidate:
    id: int
    text_score: float
    service_key: str | None
    category: str | None


# Words --------------------------------------------------------------------------------------


def terms(*texts: str | None, most: int = MAX_TERMS) -> tuple[str, ...]:
    """Return the words of `texts` worth looking for, in order, lower case, once each."""
    found: list[str] = []
    for value in texts:
        for word in _WORD.findall((value or "").lower()):
            word = word[:MAX_WORD]
            if len(word) >= MIN_TERM and word not in STOP_WORDS and word not in found:
                found.append(word)
                if len(found) == most:
                    return tuple(found)
    return tuple(found)


# The service --------------------------------------------------------------------------------


class Similar:
    """Similar past incidents, for the service desk, over the commands' database."""

    def __init__(self, commands: Commands) -> None:
        self.commands = commands

    def of(self, person: Person, number: str, *, limit: int = SHOWN) -> SimilarIncidents:
        """Return the resolved incidents most like `number`, at most `limit` of them.

        NotFound for an instance the person may not see (or none), NotAllowed for anyone
        off the service desk, InvalidInput for a limit out of 1..`MAX_SHOWN`.
        """
        if not 1 <= limit <= MAX_SHOWN:
            message = f"ask for 1 to {MAX_SHOWN} similar incidents, not {limit}"
            raise InvalidInput(message, [Problem("/limit", message)])

        def read(session: Session) -> SimilarIncidents:
            subject = _subject(session, person, number)
            if not person.is_agent:
                raise NotAllowed(
                    f"only the service desk sees similar incidents, and {person.username} does not"
                )
            words = terms(subject.title, subject.description)
            if not words:
                return SimilarIncidents(subject.number, words, [])
            dialect = session.get_bind().dialect.name
            found = _candidates(session, dialect, subject, words, person)
            ranked = sorted(found, key=lambda c: (-_score(subject, c), -c.id))[:limit]
            return SimilarIncidents(subject.number, words, _described(session, subject, ranked))

        found: SimilarIncidents = self.commands.read(read)
        return found


def _subject(session: Session, person: Person, number: str) -> _Subject:
    """Read the incident asked about; NotFound when there is none the person may see."""
    if len(number) > 40 or "\x00" in number or not may_see_instance(session, person, number):
        raise NotFound(f"there is no instance {number}")
    row = session.execute(
        select(
            _i.id,
            _i.number,
            _i.title,
            _i.workflow_key,
            _i.service_key,
            _CATEGORY,
            Instance.state[("data", "description")].as_string(),
        ).where(_i.number == number)
    ).first()
    if row is None:
        raise NotFound(f"there is no instance {number}")
    return _Subject(*row)


def _score(subject: _Subject, candidate: _Candidate) -> float:
    boost = 1.0
    if subject.service_key is not None and candidate.service_key == subject.service_key:
        boost += SERVICE_BOOST
    if subject.category is not None and candidate.category == subject.category:
        boost += CATEGORY_BOOST
    return candidate.text_score * boost


def _conditions(subject: _Subject, person: Person) -> list[ColumnElement[bool]]:
    """What a candidate must be: another resolved incident of the workflow, no duplicate."""
    duplicates = select(_l.instance_id).where(_l.other_id == subject.id, _l.kind == DUPLICATE_LINK)
    original = select(_l.other_id).where(_l.instance_id == subject.id, _l.kind == DUPLICATE_LINK)
    found = [
        _i.workflow_key == subject.workflow_key,
        _i.id != subject.id,
        or_(_i.ended_at.is_not(None), _i.status.in_(sorted(RESOLVED_STATUSES))),
        _i.status.not_in(sorted(DISCARDED)),
        _i.id.not_in(duplicates),
        _i.id.not_in(original),
    ]
    seen = visible_to(person)
    if seen is not None:
        found.append(seen)
    return found


def _candidates(
    session: Session, dialect: str, subject: _Subject, words: Sequence[str], person: Person
) -> list[_Candidate]:
    """Read the newest `CANDIDATES` instances that share a word and pass, with their score.

    The whole text is searched, internal notes too: similar incidents are for the desk.
    """
    where = _conditions(subject, person)
    statement = (
        _postgresql_candidates(words, where)
        if dialect == "postgresql"
        else _sqlite_candidates(words, where)
    )
    return [
        _Candidate(int(r[0]), float(r[1] or 0.0), r[2], r[3]) for r in session.execute(statement)
    ]


def _sqlite_candidates(words: Sequence[str], where: list[ColumnElement[bool]]) -> Select[Any]:
    # bm25 is lower for a better match: negated, higher is better, as ts_rank is.
    weights = ", ".join(str(weight) for weight in COLUMN_WEIGHTS)
    index = table(SEARCH_TABLE, column("rowid"))
    expression = " OR ".join(f'"{word}"*' for word in words)
    return (
        select(
            _i.id,
            literal_column(f"-bm25({SEARCH_TABLE}, {weights})"),
            _i.service_key,
            _CATEGORY,
        )
        .select_from(index.join(Instance.__table__, _i.id == index.c.rowid))
        .where(text(f"{SEARCH_TABLE} MATCH :similar").bindparams(similar=expression), *where)
        .order_by(index.c.rowid.desc())
        .limit(CANDIDATES)
    )


def _postgresql_candidates(words: Sequence[str], where: list[ColumnElement[bool]]) -> Select[Any]:
    vector = "all_tsv"  # the service desk finds internal notes too
    index = table(SEARCH_TABLE, column("instance_id"), column(vector))
    # Written into the statement, not sent apart: the planner then sees how common the words
    # are, and walks the newest instances instead of reading every match (a generic plan
    # for an unknown query took 70 ms against 11 over 100,000 incidents).
    words_of = bindparam(
        "similar", " | ".join(f"{word}:*" for word in words), type_=String, literal_execute=True
    )
    query = func.to_tsquery(literal_column("'simple'"), words_of)
    newest = (
        select(_i.id, _i.service_key, _CATEGORY.label("category"))
        .select_from(index.join(Instance.__table__, _i.id == index.c.instance_id))
        .where(index.c[vector].op("@@")(query), *where)
        .order_by(index.c.instance_id.desc())
        .limit(CANDIDATES)
        .subquery()
    )
    # Ranked only once the newest are chosen: ts_rank reads each row's whole vector.
    ranked = table(SEARCH_TABLE, column("instance_id"), column(vector)).alias("ranked")
    return select(
        newest.c.id,
        func.ts_rank(ranked.c[vector], query),
        newest.c.service_key,
        newest.c.category,
    ).select_from(newest.join(ranked, ranked.c.instance_id == newest.c.id))


# Describing the few shown ---------------------------------------------------------------------


def _described(
    session: Session, subject: _Subject, ranked: Sequence[_Candidate]
) -> list[SimilarIncident]:
    """Describe the incidents shown: four statements for all of them, none per incident."""
    if not ranked:
        return []
    ids = [candidate.id for candidate in ranked]
    rows = {
        row.id: row
        for row in session.execute(
            select(
                _i.id,
                _i.number,
                _i.title,
                _i.status,
                _i.started_at,
                _i.ended_at,
                _i.requester,
                Instance.state["outcome"].as_string().label("outcome"),
                Instance.state[("data", "resolution")].as_string().label("resolution"),
                _f.resolve_s,
            )
            .select_from(
                Instance.__table__.outerjoin(IncidentFigures.__table__, _f.instance_id == _i.id)
            )
            .where(_i.id.in_(ids))
        )
    }
    resolvers = _resolvers(session, {row.id: row.requester for row in rows.values()})
    unnoted = [i for i in ids if not _text(rows[i].resolution) and i in resolvers]
    notes = _last_comments(session, {i: resolvers[i][0] for i in unnoted})
    problems = _problems(session, ids)
    found = []
    for candidate in ranked:
        row = rows[candidate.id]
        by, at = resolvers.get(row.id, (None, row.ended_at))
        resolved_at = at or row.ended_at
        counted = row.resolve_s
        if counted is None and resolved_at is not None:
            counted = (resolved_at - row.started_at).total_seconds()
        found.append(
            SimilarIncident(
                number=row.number,
                title=row.title,
                status=row.status,
                outcome=row.outcome if row.ended_at is not None else None,
                started_at=row.started_at,
                resolved_at=resolved_at,
                resolved_by=by,
                resolution=_text(row.resolution) or notes.get(row.id),
                time_to_resolve_s=counted,
                same_service=subject.service_key is not None
                and candidate.service_key == subject.service_key,
                same_category=subject.category is not None
                and candidate.category == subject.category,
                score=_score(subject, candidate),
                problem=problems.get(row.id),
            )
        )
    return found


def _resolvers(
    session: Session, requesters: dict[int, str | None]
) -> dict[int, tuple[str, datetime | None]]:
    """Who last completed a task on each instance, other than its requester (signed in, or
    through their tracking link), and when."""
    found: dict[int, tuple[str, datetime | None]] = {}
    rows = session.execute(
        select(_t.instance_id, _t.completed_by, _t.completed_at)
        .where(
            _t.instance_id.in_(list(requesters)),
            _t.status == "completed",
            _t.completed_by.is_not(None),
        )
        .order_by(_t.completed_at, _t.id)
    )
    for instance_id, by, at in rows:
        if by not in (requesters[instance_id], REQUESTER):
            found[instance_id] = (by, at)
    return found


def _last_comments(session: Session, authors: dict[int, str]) -> dict[int, str]:
    """Each instance's last comment by the person given for it."""
    if not authors:
        return {}
    latest = (
        select(
            _c.instance_id,
            _c.author,
            _c.body,
            func.row_number()
            .over(partition_by=(_c.instance_id, _c.author), order_by=_c.id.desc())
            .label("nth"),
        )
        .where(
            _c.instance_id.in_(list(authors)),
            or_(*(and_(_c.instance_id == i, _c.author == who) for i, who in authors.items())),
        )
        .subquery()
    )
    rows = session.execute(
        select(latest.c.instance_id, latest.c.body).where(latest.c.nth == 1)
    ).all()
    return {int(instance_id): str(body) for instance_id, body in rows}


def _problems(session: Session, ids: list[int]) -> dict[int, LinkedProblem]:
    """The problem each instance is linked to, with its workaround."""
    problem = Instance.__table__.alias("problem")
    rows = session.execute(
        select(
            _l.instance_id,
            problem.c.number,
            problem.c.title,
            problem.c.status,
            problem.c.state[("data", "title")].as_string(),
            problem.c.state[("data", "workaround")].as_string(),
        )
        .select_from(InstanceLink.__table__.join(problem, problem.c.id == _l.other_id))
        .where(_l.kind == PROBLEM_LINK, _l.instance_id.in_(ids))
        .order_by(_l.id)
    )
    return {
        int(instance_id): LinkedProblem(number, _text(named) or title, status, _text(workaround))
        for instance_id, number, title, status, named, workaround in rows
    }


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None
