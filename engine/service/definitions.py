"""Publishing definitions as immutable versions, reading them back ready to run, and
listing them with their versions and use for admins (who may import one as a file)."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.catalog import Catalog, Document, FileProblem, parse_document
from engine.core.calendars import Calendar
from engine.core.definition import Workflow
from engine.core.errors import Problem
from engine.service.errors import InvalidInput, NotFound
from engine.store.definitions import Definition, DefinitionVersion
from engine.store.instances import Instance
from engine.store.repository import Repository

#: Seconds a process keeps using the calendar versions it looked up last.
CALENDAR_REFRESH_S = 5.0

#: Publishing order: what others refer to comes first.
KIND_ORDER = {"calendar": 0, "form": 1, "workflow": 2}


def content_hash(content: Mapping[str, Any]) -> str:
    """Return the SHA-256 of a document's canonical JSON (key order and spacing ignored)."""
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Published:
    """The answer of a publish: which version, and whether it is new."""

    kind: str
    key: str
    version: int
    created: bool


def publish_document(
    session: Session, kind: str, content: Mapping[str, Any], at: datetime, by: str | None
) -> Published:
    """Freeze a checked document as the next version, unless the latest has the same content."""
    key = content["key"]
    digest = content_hash(content)
    definition = session.scalars(
        select(Definition).where(Definition.kind == kind, Definition.key == key)
    ).one_or_none()
    if definition is None:
        definition = Definition(kind=kind, key=key, title=content.get("title", ""), updated_at=at)
        session.add(definition)
        session.flush()
    latest = session.scalars(
        select(DefinitionVersion).where(
            DefinitionVersion.definition_id == definition.id,
            DefinitionVersion.version == definition.latest_version,
        )
    ).one_or_none()
    if latest is not None and latest.content_hash == digest:
        return Published(kind, key, latest.version, created=False)
    definition.latest_version += 1
    definition.title = content.get("title", definition.title)
    definition.updated_at = at
    session.add(
        DefinitionVersion(
            definition_id=definition.id,
            version=definition.latest_version,
            content=dict(content),
            content_hash=digest,
            published_at=at,
            published_by=by,
        )
    )
    return Published(kind, key, definition.latest_version, created=True)


def published_catalog(session: Session, extra: Iterable[Document] = ()) -> Catalog:
    """Return the latest published documents (with `extra` ones replacing theirs) as a catalog."""
    rows = session.execute(
        select(Definition.kind, Definition.key, DefinitionVersion.content)
        .join(DefinitionVersion, DefinitionVersion.definition_id == Definition.id)
        .where(DefinitionVersion.version == Definition.latest_version)
    ).all()
    extra = list(extra)
    replaced = {(doc.kind, doc.key) for doc in extra}
    documents = [
        Document(Path(f"<published {kind} {key}>"), content)
        for kind, key, content in rows
        if (kind, key) not in replaced
    ]
    return Catalog(documents + extra)


def check_against_published(session: Session, documents: list[Document]) -> list[FileProblem]:
    """Check new documents together with what is already published."""
    catalog = published_catalog(session, documents)
    return catalog.check(only=[doc.path for doc in documents])


def publish_all(
    session: Session, documents: list[Document], at: datetime, by: str | None
) -> list[Published]:
    """Check documents against the published ones and publish them all, or refuse them all."""
    problems = check_against_published(session, documents)
    if problems:
        lines = "\n".join(str(p) for p in problems)
        raise InvalidInput(
            f"nothing was published; fix these first:\n{lines}", [p.problem for p in problems]
        )
    ordered = sorted(documents, key=lambda doc: (KIND_ORDER[doc.kind or "workflow"], str(doc.path)))
    return [publish_document(session, doc.kind or "", doc.content, at, by) for doc in ordered]


class Registry:
    """Published workflows and calendars, built once per version (versions never change)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._workflows: dict[int, Workflow] = {}
        self._calendars: dict[int, Calendar] = {}
        self._latest_calendars: dict[tuple[str, ...], tuple[float, dict[str, int]]] = {}
        self._clock = clock

    def latest_workflow(self, repo: Repository, key: str) -> tuple[int, Workflow]:
        """Return the id and the runnable form of a workflow's latest version."""
        version_id = repo.latest_workflow_version(key)
        if version_id is None:
            raise NotFound(f"there is no published workflow '{key}'")
        return version_id, self.workflow(repo, version_id)

    def workflow(self, repo: Repository, version_id: int) -> Workflow:
        """Return the runnable form of one published workflow version."""
        workflow = self._workflows.get(version_id)
        if workflow is None:
            content = repo.content(version_id)
            if content is None:
                raise NotFound(f"there is no workflow version {version_id}")
            workflow = self._workflows[version_id] = Workflow.from_document(content)
        return workflow

    def calendars(self, repo: Repository, workflow: Workflow) -> dict[str, Calendar]:
        """Return the latest version of each calendar the workflow counts business time in."""
        if not workflow.calendars:
            return {}
        found = {}
        for key, version_id in self._latest_calendar_versions(repo, workflow).items():
            calendar = self._calendars.get(version_id)
            if calendar is None:
                content = repo.content(version_id) or {}
                calendar = self._calendars[version_id] = Calendar.from_document(content)
            found[key] = calendar
        return found

    def _latest_calendar_versions(self, repo: Repository, workflow: Workflow) -> dict[str, int]:
        # Calendars change rarely and a change may take a few seconds to apply, so the
        # lookup of their latest versions is kept briefly instead of run by every command.
        names = tuple(sorted(workflow.calendars))
        now = self._clock()
        cached = self._latest_calendars.get(names)
        if cached is None or now - cached[0] > CALENDAR_REFRESH_S:
            cached = (now, repo.latest_calendar_versions(names))
            self._latest_calendars[names] = cached
        return cached[1]


def load_folder(session: Session, folder: Path, at: datetime, by: str | None) -> list[Published]:
    """Publish every document under a folder (`flowdesk load`); unchanged ones stay as they are."""
    catalog = Catalog.read([folder])
    return publish_all(session, catalog.documents, at, by)


# What admins see and import ----------------------------------------------------------------

#: The largest workflow, form or calendar file an admin may import, in bytes.
MAX_IMPORT_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class VersionRow:
    """One published version and how many instances run (or ran) on it."""

    version: int
    published_at: datetime
    published_by: str | None
    content_hash: str
    instances: int


@dataclass(frozen=True, slots=True)
class DefinitionRow:
    """A published workflow, form or calendar with its versions, newest first."""

    kind: str
    key: str
    title: str
    latest_version: int
    versions: tuple[VersionRow, ...]

    @property
    def instances(self) -> int:
        return sum(v.instances for v in self.versions)


def published_definitions(
    session: Session, kind: str | None = None, key: str | None = None
) -> list[DefinitionRow]:
    """Return published definitions (of one kind, or one key) with their versions and use."""
    query = select(Definition).where(Definition.latest_version > 0)
    if kind is not None:
        query = query.where(Definition.kind == kind)
    if key is not None:
        query = query.where(Definition.key == key)
    definitions = list(session.scalars(query.order_by(Definition.kind, Definition.key)))
    ids = [d.id for d in definitions]
    counts = dict(
        session.execute(
            select(Instance.workflow_version_id, func.count(Instance.id))
            .join(DefinitionVersion, DefinitionVersion.id == Instance.workflow_version_id)
            .where(DefinitionVersion.definition_id.in_(ids))
            .group_by(Instance.workflow_version_id)
        ).all()
    )
    versions: dict[int, list[VersionRow]] = {}
    for row in session.execute(
        select(
            DefinitionVersion.id,
            DefinitionVersion.definition_id,
            DefinitionVersion.version,
            DefinitionVersion.published_at,
            DefinitionVersion.published_by,
            DefinitionVersion.content_hash,
        )
        .where(DefinitionVersion.definition_id.in_(ids))
        .order_by(DefinitionVersion.version.desc())
    ):
        versions.setdefault(row.definition_id, []).append(
            VersionRow(
                row.version,
                row.published_at,
                row.published_by,
                row.content_hash,
                counts.get(row.id, 0),
            )
        )
    return [
        DefinitionRow(
            d.kind, d.key, d.title or d.key, d.latest_version, tuple(versions.get(d.id, ()))
        )
        for d in definitions
    ]


def published_workflow(session: Session, key: str) -> DefinitionRow:
    """Return one published workflow with its versions."""
    found = published_definitions(session, "workflow", key)
    if not found:
        raise NotFound(f"there is no published workflow '{key}'")
    return found[0]


def read_upload(filename: str, data: bytes) -> Document:
    """Read an uploaded JSON document as `Catalog.read` reads a file; bad JSON is a problem."""
    path = Path(f"<upload {Path(filename).name or 'file'}>")
    if len(data) > MAX_IMPORT_BYTES:
        limit = MAX_IMPORT_BYTES // 1024
        return Document(path, None, [Problem("", f"the file is larger than {limit} KB")])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return Document(path, None, [Problem("", "the file is not text in UTF-8")])
    return parse_document(path, text)


def import_document(
    session: Session, filename: str, data: bytes, at: datetime, by: str | None
) -> Published:
    """Check an uploaded document against what is published and publish it, or refuse it whole."""
    (done,) = publish_all(session, [read_upload(filename, data)], at, by)
    return done
