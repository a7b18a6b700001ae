"""Self-help on the public forms: the workarounds the service desk published for known errors.

While a requester describes their trouble on a public form, before they send it, the
known errors that match what they type are shown with their workaround. What is shown,
and to whom (docs/self-help.md, ADR 58):

- A **published answer** is a known error: an instance of the `problem` workflow in
  status `known_error` whose `publish_workaround` field is true, with a `title` and a
  `workaround`. Nothing else is an answer: an incident's resolution was written to one
  requester, and a problem still under investigation has nothing to offer yet.
- The answer holds the problem's `title` and `workaround` as the desk wrote them, and
  nothing more: no number, no root cause, no names, no incidents.
- It matches on those two texts only, so what it answers says nothing about the rest
  of the problem (its description and root cause stay inside): a word the requester
  typed counts when it begins a word of the title (twice) or of the workaround (once),
  and a known error is shown when `MIN_SHARED` of the words match (all of them, when
  fewer were typed). The best `SHOWN` are given, newest first among equals.

Known errors are few (a desk has tens, not thousands): the newest `MAX_KNOWN_ERRORS`
published ones are read through the index on the status, and matched here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import TextClause, select, text
from sqlalchemy.orm import Session

from engine.core.definition import Workflow
from engine.service.commands import Commands
from engine.service.similar import terms
from engine.store.instances import Instance
from forms.definition import Form

#: The workflow of problems, and the status of one whose root cause and workaround are known.
PROBLEM_WORKFLOW = "problem"
KNOWN_ERROR = "known_error"
#: Answers given at most, and how much of the requester's text is read.
SHOWN = 3
MAX_TEXT = 4_000
#: Words of the requester's text looked for.
MAX_TERMS = 24
#: Words that must match for a known error to be shown (or all, when fewer were typed).
MIN_SHARED = 2
#: The published known errors read at most, newest first.
MAX_KNOWN_ERRORS = 500
#: Field types whose text says what the trouble is.
DESCRIBING_TYPES = frozenset({"text", "textarea"})
_NAMES = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)")
_WORD = re.compile(r"[^\W_]+", re.UNICODE)

_i = Instance.__table__.c
_TITLE = Instance.state[("data", "title")].as_string()
_WORKAROUND = Instance.state[("data", "workaround")].as_string()
#: `publish_workaround` is JSON true, not merely truthy: a "yes" typed somewhere is no consent.
_PUBLISHED = {
    "sqlite": "json_type(instances.state, '$.data.publish_workaround') = 'true'",
    "postgresql": "(instances.state #> '{data,publish_workaround}') = 'true'::jsonb",
}


@dataclass(frozen=True, slots=True)
class Answer:
    """A published workaround: all the public ever learns of a known error."""

    title: str
    workaround: str


class SelfHelp:
    """The published answers that match what a requester types, for anyone."""

    def __init__(self, commands: Commands) -> None:
        self.commands = commands

    def answers(self, typed: str) -> list[Answer]:
        """Return the published answers that best match `typed` (its first `MAX_TEXT`
        characters), at most `SHOWN`; none when it holds no word worth looking for."""
        words = terms(typed[:MAX_TEXT], most=MAX_TERMS)
        if not words:
            return []

        def read(session: Session) -> list[Answer]:
            dialect = session.get_bind().dialect.name
            rows = session.execute(
                select(_i.id, _TITLE, _WORKAROUND)
                .where(
                    _i.status == KNOWN_ERROR,
                    _i.workflow_key == PROBLEM_WORKFLOW,
                    _published(dialect),
                )
                .order_by(_i.id.desc())
                .limit(MAX_KNOWN_ERRORS)
            ).all()
            return [
                Answer(title.strip(), workaround.strip())
                for _, title, workaround in rows
                if _filled(title) and _filled(workaround)
            ]

        published: list[Answer] = self.commands.read(read)
        scored = [(score(words, answer), n, answer) for n, answer in enumerate(published)]
        shown = sorted((s for s in scored if s[0] > 0), key=lambda s: (-s[0], s[1]))
        return [answer for _, _, answer in shown[:SHOWN]]


def score(words: Sequence[str], answer: Answer) -> int:
    """Score a published answer against the words typed: 0 when too few match.

    A word typed matches a word of the text that it begins ("print" matches "printer").
    """
    title = set(_WORD.findall(answer.title.lower()))
    workaround = set(_WORD.findall(answer.workaround.lower()))
    total = shared = 0
    for word in words:
        if any(found.startswith(word) for found in title):
            total, shared = total + 2, shared + 1
        elif any(found.startswith(word) for found in workaround):
            total, shared = total + 1, shared + 1
    return total if shared >= min(MIN_SHARED, len(words)) else 0


def describing_fields(workflow: Workflow, form: Form) -> list[str]:
    """The fields of a start form whose text says what the trouble is, in form order.

    Those the workflow's title is made of (`"title": "{{ summary }}"`) and every long
    text: a name or an address says nothing about the trouble.
    """
    named = set(_NAMES.findall(str(workflow.start.get("title") or "")))
    return [
        field["key"]
        for field in form.fields
        if field.get("type") in DESCRIBING_TYPES
        and (field["key"] in named or field.get("type") == "textarea")
    ]


def _published(dialect: str) -> TextClause:
    return text(_PUBLISHED.get(dialect, _PUBLISHED["sqlite"]))


def _filled(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())
