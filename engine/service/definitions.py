"""Publishing definitions as immutable versions, reading them back ready to run, and
listing them with their versions and use for admins (who may import one as a file).

Publishing checks first, in a reading session: the schema and every reference
against what is published (`check_documents`). The write transaction that follows
only compares content hashes and inserts (`write_documents`), so a publish never
holds the write lock while a checker runs. That write first makes sure nothing was
published since the check (else the check runs again), and publishes are taken one
at a time on PostgreSQL (on SQLite every write is). Content equal to any existing
version of its definition is that version: nothing is published, the latest stays.

`Definitions` is what the doors (admin pages, API, command line) call.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from engine.catalog import Catalog, Document, parse_document
from engine.core.calendars import Calendar
from engine.core.definition import Workflow
from engine.core.errors import Problem
from engine.service.errors import Conflict, InvalidInput, NotFound
from engine.settings import CALENDAR_REFRESH_S, MAX_IMPORT_BYTES
from engine.store.definitions import Definition, DefinitionVersion
from engine.store.directory import Directory
from engine.store.instances import Instance
from engine.store.people import Group, User

if TYPE_CHECKING:
    from engine.service.shell import Shell

#: Publishing order: what others refer to comes first.
KIND_ORDER = {"calendar": 0, "form": 1, "workflow": 2}
#: Checks run again when something was published between a check and its write; after
#: this many tries the publish gives up (publishing at that rate is a script gone wrong).
CHECK_TRIES = 3
#: The key of PostgreSQL's transaction-level advisory lock that takes publishes in turn.
PUBLISHING_LOCK = 0x466C6F77_5075624C  # "FlowPubL"


def content_hash(content: Mapping[str, Any]) -> str:
    """Return the SHA-256 of a document's canonical JSON (key order and spacing ignored)."""
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Published:
    """The answer of a publish: which version, whether it is new, and the latest one now."""

    kind: str
    key: str
    version: int
    created: bool
    #: The definition's latest version after the publish (0: not known to the caller).
    latest: int = 0
    #: An older version with the same content, which this new one brings back.
    same_as: int | None = None

    def in_words(self) -> str:
        """Say what the publish did, as a person reads it."""
        if self.created:
            back = f" (the same as version {self.same_as})" if self.same_as else ""
            return f"Published {self.kind} {self.key} version {self.version}{back}."
        if self.latest and self.latest != self.version:
            return (
                f"The {self.kind} {self.key} is identical to version {self.version}; "
                f"the latest stays version {self.latest}. Nothing was published."
            )
        return (
            f"The {self.kind} {self.key} is unchanged: version {self.version} "
            "has the same content, so nothing was published."
        )


def publish_document(
    session: Session,
    kind: str,
    content: Mapping[str, Any],
    at: datetime,
    by: str | None,
    *,
    latest_only: bool = False,
) -> Published:
    """Freeze a checked document as the next version, unless a version has the same content.

    Content equal to any version, not only the latest, is that version: loading the shipped
    pack again after an admin published a newer version changes nothing. With
    `latest_only` (a person publishing), only the latest counts: content equal to an older
    version is published again, as the next one, and so brings it back.
    """
    key = content["key"]
    digest = content_hash(content)
    definition = session.scalars(
        select(Definition).where(Definition.kind == kind, Definition.key == key)
    ).one_or_none()
    if definition is None:
        definition = Definition(kind=kind, key=key, title=content.get("title", ""), updated_at=at)
        session.add(definition)
        session.flush()
    same = session.scalar(
        select(func.max(DefinitionVersion.version)).where(
            DefinitionVersion.definition_id == definition.id,
            DefinitionVersion.content_hash == digest,
        )
    )
    if same is not None and (same == definition.latest_version or not latest_only):
        return Published(kind, key, same, created=False, latest=definition.latest_version)
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
    return Published(
        kind,
        key,
        definition.latest_version,
        created=True,
        latest=definition.latest_version,
        same_as=same,
    )


#: What is published: (kind, key) -> latest version number.
Versions = dict[tuple[str, str], int]


@dataclass(frozen=True, slots=True)
class Checked:
    """Documents that passed their checks, in publishing order, and what they were checked with.

    `new_groups` are groups the documents name that the write creates (a pack's loader).
    """

    documents: list[Document]
    against: Versions
    new_groups: frozenset[str] = frozenset()


class CatalogChanged(Exception):
    """Something was published between a check and its write: check again."""


def published_documents(session: Session) -> tuple[list[Document], Versions]:
    """Return the latest published documents and their versions, read together."""
    return _published(session)


def published_versions(session: Session) -> Versions:
    """Return the latest published version of every definition, without their content."""
    rows = session.execute(
        select(Definition.kind, Definition.key, Definition.latest_version).where(
            Definition.latest_version > 0
        )
    ).all()
    return {(kind, key): version for kind, key, version in rows}


def incident_workflows(session: Session) -> tuple[str, ...]:
    """Return the keys of the workflows whose latest published version says its instances
    are incidents (`"incident": true`): those Insight counts and recurring incidents are
    looked for among, in the order of their keys."""
    flag = DefinitionVersion.content["incident"].as_boolean()
    return tuple(
        session.scalars(
            select(Definition.key)
            .join(DefinitionVersion, DefinitionVersion.definition_id == Definition.id)
            .where(
                Definition.kind == "workflow",
                DefinitionVersion.version == Definition.latest_version,
                flag.is_(True),
            )
            .order_by(Definition.key)
        )
    )


def _published(session: Session) -> tuple[list[Document], Versions]:
    # One statement, so the versions said are those of the documents read (on PostgreSQL
    # reads run in autocommit: two statements could see two different moments).
    rows = session.execute(
        select(
            Definition.kind, Definition.key, Definition.latest_version, DefinitionVersion.content
        )
        .join(DefinitionVersion, DefinitionVersion.definition_id == Definition.id)
        .where(DefinitionVersion.version == Definition.latest_version)
    ).all()
    documents = [
        Document(Path(f"<published {kind} {key}>"), content) for kind, key, _, content in rows
    ]
    return documents, {(kind, key): version for kind, key, version, _ in rows}


def _with(
    published: list[Document],
    extra: Iterable[Document],
    people: tuple[Iterable[str], Iterable[str]] | None = None,
) -> Catalog:
    extra = list(extra)
    replaced = {(doc.kind, doc.key) for doc in extra}
    documents = [doc for doc in published if (doc.kind, doc.key) not in replaced] + extra
    if people is None:
        return Catalog(documents)
    return Catalog(documents, groups=people[0], users=people[1])


def directory_names(session: Session) -> tuple[set[str], set[str]]:
    """Return the groups and the active users workflows may name where they are published."""
    groups = set(session.scalars(select(Group.key)))
    users = set(session.scalars(select(User.username).where(User.active.is_(True))))
    return groups, users


def published_catalog(session: Session, extra: Iterable[Document] = ()) -> Catalog:
    """Return the latest published documents (with `extra` ones replacing theirs) as a catalog."""
    return _with(_published(session)[0], extra)


def check_documents(
    session: Session, documents: list[Document], *, create_groups: bool = False
) -> Checked:
    """Check documents against what is published and the people who exist; refuse them all
    if any has a problem. With `create_groups` (a pack's loader), the groups the documents
    name that do not exist yet are created by the write, so they count as existing."""
    published, versions = _published(session)
    groups, users = directory_names(session)
    new_groups: set[str] = set()
    if create_groups:
        new_groups = _with(published, documents).named_groups() - groups
    catalog = _with(published, documents, (groups | new_groups, users))
    problems = catalog.check(only=[doc.path for doc in documents])
    if problems:
        lines = "\n".join(str(p) for p in problems)
        raise InvalidInput(
            f"nothing was published; fix these first:\n{lines}", [p.problem for p in problems]
        )
    ordered = sorted(documents, key=lambda doc: (KIND_ORDER[doc.kind or "workflow"], str(doc.path)))
    return Checked(ordered, versions, frozenset(new_groups))


def write_documents(
    session: Session, checked: Checked, at: datetime, by: str | None, *, latest_only: bool = False
) -> list[Published]:
    """Publish checked documents, if what they were checked with is still what is published
    (`latest_only`: see `publish_document`)."""
    take_publishing_turn(session)
    if _latest_versions(session) != checked.against:
        raise CatalogChanged
    made = []
    for key in sorted(checked.new_groups):
        if session.scalar(select(Group.id).where(Group.key == key)) is None:
            session.add(Group(key=key, name=key))
            made.append(Published("group", key, 1, True))  # said, so a typo is seen
    session.flush()
    published = [
        publish_document(session, d.kind or "", d.content, at, by, latest_only=latest_only)
        for d in checked.documents
    ]
    return made + published


def take_publishing_turn(session: Session) -> None:
    """Wait for any other publish to finish first (PostgreSQL; on SQLite every write waits)."""
    if session.get_bind().dialect.name == "postgresql":
        # Held until the transaction ends. Row locks would not do: the other publish may
        # be adding a definition, a row that does not exist yet to lock.
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PUBLISHING_LOCK})


def _latest_versions(session: Session) -> Versions:
    rows = session.execute(
        select(Definition.kind, Definition.key, Definition.latest_version).where(
            Definition.latest_version > 0
        )
    )
    return {(kind, key): version for kind, key, version in rows}


def publish_all(
    session: Session, documents: list[Document], at: datetime, by: str | None
) -> list[Published]:
    """Check documents against the published ones and publish them all, or refuse them all."""
    return write_documents(session, check_documents(session, documents), at, by)


class Definitions:
    """Publishing, importing and listing definitions: one read or one unit of work per step."""

    def __init__(self, shell: Shell) -> None:
        self.shell = shell

    def publish(self, documents: list[Document], by: str | None) -> list[Published]:
        """Check documents (outside the write), then publish them all, or refuse them all."""
        for _ in range(CHECK_TRIES):
            try:
                return self._check_and_write(documents, by)
            except CatalogChanged:
                continue
        raise Conflict(
            "what is published kept changing while these documents were checked; "
            "nothing was published, try again"
        )

    def _check_and_write(
        self, documents: list[Document], by: str | None, create_groups: bool = False
    ) -> list[Published]:
        checked = self.shell.read(
            lambda session: check_documents(session, documents, create_groups=create_groups)
        )
        # A person publishing brings back an older version; a pack loaded again does not.
        again = not create_groups
        return self.shell.write(
            "publish",
            lambda session, at: write_documents(session, checked, at, by, latest_only=again),
        )

    def load_folder(self, folder: Path, by: str | None) -> list[Published]:
        """Publish every document under a folder (`flowdesk load`, `flowdesk up`).

        A pack names the groups its work goes to; those that do not exist yet are created,
        empty, with the pack (an admin then puts people in them), and come first in the
        answer, as `Published` entries of kind `group`.
        """
        documents = Catalog.read([folder]).documents
        for _ in range(CHECK_TRIES):
            try:
                return self._check_and_write(documents, by, create_groups=True)
            except CatalogChanged:
                continue
        raise Conflict("what is published kept changing while the folder was checked; try again")

    def import_document(self, filename: str, data: bytes, by: str | None) -> Published:
        """Check an uploaded document and publish it, or refuse it whole."""
        (done,) = self.publish([read_upload(filename, data)], by)
        return done

    def listing(self) -> list[DefinitionRow]:
        """Return every published definition with its versions and how many instances use each."""
        return self.shell.read(published_definitions)

    def workflow(self, key: str) -> DefinitionRow:
        """Return one published workflow with its versions; NotFound when there is none."""
        return self.shell.read(lambda session: published_workflow(session, key))

    def workflows(self) -> list[WorkflowSummary]:
        """Return the published workflows by key, with their latest version."""
        return self.shell.read(workflow_summaries)

    def version(self, kind: str, key: str, version: int) -> FrozenVersion | None:
        """Return one published version as it was frozen, or None."""
        return self.shell.read(lambda session: frozen_version(session, kind, key, version))


class Registry:
    """Published workflows and calendars, built once per version (versions never change)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._workflows: dict[int, Workflow] = {}
        self._calendars: dict[int, Calendar] = {}
        self._latest_calendars: dict[tuple[str, ...], tuple[float, dict[str, int]]] = {}
        self._clock = clock

    def latest_workflow(self, repo: Directory, key: str) -> tuple[int, Workflow]:
        """Return the id and the runnable form of a workflow's latest version."""
        version_id = repo.latest_workflow_version(key)
        if version_id is None:
            raise NotFound(f"there is no published workflow '{key}'")
        return version_id, self.workflow(repo, version_id)

    def workflow(self, repo: Directory, version_id: int) -> Workflow:
        """Return the runnable form of one published workflow version."""
        workflow = self._workflows.get(version_id)
        if workflow is None:
            content = repo.content(version_id)
            if content is None:
                raise NotFound(f"there is no workflow version {version_id}")
            workflow = self._workflows[version_id] = Workflow.from_document(content)
        return workflow

    def calendars(self, repo: Directory, workflow: Workflow) -> dict[str, Calendar]:
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

    def _latest_calendar_versions(self, repo: Directory, workflow: Workflow) -> dict[str, int]:
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
    """Publish every document under a folder, creating the groups it names (see `Definitions`)."""
    documents = Catalog.read([folder]).documents
    checked = check_documents(session, documents, create_groups=True)
    return write_documents(session, checked, at, by)


# What admins see and import ----------------------------------------------------------------


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


@dataclass(frozen=True, slots=True)
class WorkflowSummary:
    """A published workflow in a list: its key, title and latest version."""

    key: str
    title: str
    latest_version: int
    updated_at: datetime


def workflow_summaries(session: Session) -> list[WorkflowSummary]:
    """Return the published workflows by key."""
    rows = session.execute(
        select(Definition.key, Definition.title, Definition.latest_version, Definition.updated_at)
        .where(Definition.kind == "workflow", Definition.latest_version > 0)
        .order_by(Definition.key)
    )
    return [WorkflowSummary(*row) for row in rows]


@dataclass(frozen=True, slots=True)
class FrozenVersion:
    """One published version as it was frozen."""

    key: str
    version: int
    published_at: datetime
    published_by: str | None
    content: dict[str, Any]


def frozen_version(session: Session, kind: str, key: str, version: int) -> FrozenVersion | None:
    """Return one published version of a definition, or None."""
    row = session.execute(
        select(
            DefinitionVersion.version,
            DefinitionVersion.published_at,
            DefinitionVersion.published_by,
            DefinitionVersion.content,
        )
        .join(Definition, Definition.id == DefinitionVersion.definition_id)
        .where(Definition.kind == kind, Definition.key == key, DefinitionVersion.version == version)
    ).first()
    return None if row is None else FrozenVersion(key, *row)


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
