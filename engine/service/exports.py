"""Definitions and instances out to JSON Lines, and back in: one record per line.

The first line is a header naming the format and its version; then one line per
published definition version (every kind and version: an instance needs the versions it
is pinned to and the forms and calendars they name), then one line per instance with its
history (`engine.service.archive` writes the record). Only what means the same in another
installation travels: the instance and its events, step runs, tasks, timers, comments,
attachments (what they are; the bytes are files, copied apart), tracking links and an
incident's postmortem with its revisions (format version 2; version 1 files still read). What
was already carried out or belongs to one installation stays: the outbox and the mail it
sent, pages, notifications, idempotency keys, alerts of its integrations, links.

Import checks every line before it writes anything: a bad line is refused with its
number and why, and nothing changes. It is idempotent: a definition version is known by
its content hash, an instance by its number, and what is there already is left as it is.
Instances get new ids; their versions are found by content hash; numbers are kept, and
each prefix's counter moves past them so new numbers never collide.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, cast

import orjson
from sqlalchemy import Connection, Table, func, insert, select, update
from sqlalchemy.exc import DBAPIError

from engine.core.errors import FlowdeskError, Problem
from engine.core.state import InstanceState
from engine.service import archive
from engine.service.backup import new_file, private_file
from engine.service.definitions import content_hash, publish_document
from engine.service.errors import InvalidInput, NotFound
from engine.service.shell import Shell
from engine.store.base import UtcDateTime
from engine.store.definitions import Definition, DefinitionVersion
from engine.store.instances import Counter, Instance
from engine.store.models import Base
from engine.store.retention import ArchivedInstance
from engine.store.search import SearchIndex
from engine.store.uow import UnitOfWork

#: The header's `format`, and the version of the layout this code writes; it reads these.
FORMAT = "flowdesk-export"
VERSION = 2
READS = (1, 2)  # 2 added an incident's postmortem and its revisions
#: The tables of an instance that travel, in the order they are written back: all but the
#: last refer to the instance; a postmortem's revisions refer to the postmortem.
PORTABLE = (
    "events",
    "step_runs",
    "tasks",
    "timers",
    "comments",
    "attachments",
    "tracking_links",
    "postmortems",
    "postmortem_revisions",
)
#: The tables whose rows refer to a row of another portable table rather than to the
#: instance: the table, its column, and the table it refers to.
NESTED = {"postmortem_revisions": ("postmortem_id", "postmortems")}
PARENTS = frozenset(parent for _, parent in NESTED.values())
KINDS = ("workflow", "form", "calendar")
#: Instances read per query while exporting.
PAGE = 200
#: Problems reported at most; past that the file is surely not what was meant.
MAX_PROBLEMS = 50
NUMBER = re.compile(r"^[A-Z][A-Z0-9]{0,9}-[0-9]{1,12}$")


@dataclass(frozen=True, slots=True)
class Imported:
    """What an import did: new definition versions and instances, and what was there already."""

    definitions: int
    instances: int
    unchanged: int
    #: Versions of definitions that exist here with other versions, that no instance needs.
    skipped: int = 0


# Export --------------------------------------------------------------------------------------


def export_lines(
    shell: Shell, *, workflow: str | None = None, since: datetime | None = None
) -> Iterator[bytes]:
    """The export's lines (each ending in a newline): header, definitions, instances.

    `workflow` keeps the instances of one workflow (NotFound, before any line, for one that
    is not published: it exported nothing and said "0 records"), `since` those changed at
    or after it.
    """
    if workflow is not None:
        known = shell.read(
            lambda session: session.scalar(
                select(Definition.id).where(
                    Definition.kind == "workflow", Definition.key == workflow
                )
            )
        )
        if known is None:
            raise NotFound(f"there is no workflow '{workflow}' to export")
    return _lines(shell, workflow, since)


def export_file(
    shell: Shell, path: Path, *, workflow: str | None = None, since: datetime | None = None
) -> int:
    """Write the export to `path`, a new file as a backup is; say how many records it holds.

    The lines go to a temporary name beside it, renamed when whole: a file at `path` is
    always a whole export.
    """
    path = Path(path)
    new_file(path, "an export")
    lines = export_lines(shell, workflow=workflow, since=since)
    partial = private_file(path.with_name(f".{path.name}.partial"))
    count = 0
    try:
        with open(partial, "wb") as out:
            for line in lines:
                out.write(line)
                count += 1
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return count - 1  # the header is no record


def _lines(shell: Shell, workflow: str | None, since: datetime | None) -> Iterator[bytes]:
    at = shell.clock()
    header = {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": at.isoformat(),
        "workflow": workflow,
        "since": since.isoformat() if since else None,
    }
    yield _line(header)
    with shell.database.engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            # One snapshot for the whole file, as SQLite's one read transaction gives.
            connection.execution_options(isolation_level="REPEATABLE READ")
        version = DefinitionVersion
        for row in connection.execute(
            select(
                Definition.kind,
                Definition.key,
                version.version,
                version.content_hash,
                version.published_at,
                version.published_by,
                version.content,
            )
            .join(Definition, Definition.id == DefinitionVersion.definition_id)
            .order_by(Definition.kind, Definition.key, DefinitionVersion.version)
        ).mappings():
            yield _line(
                {
                    "type": "definition",
                    "kind": row["kind"],
                    "key": row["key"],
                    "version": row["version"],
                    "content_hash": row["content_hash"],
                    "published_at": row["published_at"].isoformat(),
                    "published_by": row["published_by"],
                    "content": row["content"],
                }
            )
        hashes = _version_hashes(connection)
        last = 0
        while True:
            query = select(Instance.id).where(Instance.id > last).order_by(Instance.id).limit(PAGE)
            if workflow is not None:
                query = query.where(Instance.workflow_key == workflow)
            if since is not None:
                query = query.where(Instance.updated_at >= since)
            ids = list(connection.execute(query).scalars())
            if not ids:
                break
            for record in archive.records(connection, ids):
                yield _line(_portable(record, hashes))
            last = ids[-1]


def _portable(record: dict[str, Any], hashes: Mapping[int, list[str]]) -> dict[str, Any]:
    rows = {name: record["rows"][name] for name in PORTABLE if name in record["rows"]}
    used = {record["instance"]["workflow_version_id"]}
    used |= {t["form_version_id"] for t in rows.get("tasks", ()) if t.get("form_version_id")}
    return {
        "type": "instance",
        "number": record["number"],
        "instance": record["instance"],
        "rows": rows,
        "versions": {str(i): hashes[i] for i in sorted(used) if i in hashes},
    }


def _version_hashes(connection: Connection) -> dict[int, list[str]]:
    """Each version id's [kind, key, content hash]: how another database finds it."""
    query = select(
        DefinitionVersion.id, Definition.kind, Definition.key, DefinitionVersion.content_hash
    ).join(Definition, Definition.id == DefinitionVersion.definition_id)
    return {row[0]: [row[1], row[2], row[3]] for row in connection.execute(query)}


def _line(value: Any) -> bytes:
    return orjson.dumps(value) + b"\n"


# Import --------------------------------------------------------------------------------------


def import_lines(shell: Shell, lines: IO[bytes] | Iterable[bytes], *, by: str | None) -> Imported:
    """Import an export's lines in one transaction; a bad line refuses the whole file."""
    definitions: list[tuple[int, dict[str, Any]]] = []
    instances: list[tuple[int, dict[str, Any]]] = []
    problems: list[Problem] = []
    seen_header = False
    for number, raw in enumerate(lines, start=1):
        if len(problems) >= MAX_PROBLEMS:
            break
        if not raw.strip():
            continue
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError as error:
            problems.append(_at(number, "", f"is not JSON: {error}"))
            continue
        if not isinstance(value, dict):
            problems.append(_at(number, "", "is not a JSON object"))
            continue
        if not seen_header:
            seen_header = True
            problems += _header_problems(number, value)
            continue
        kind = value.get("type")
        if kind == "definition":
            found = _definition_problems(number, value)
            (problems.extend(found) if found else definitions.append((number, value)))
        elif kind == "instance":
            found = _instance_problems(number, value)
            (problems.extend(found) if found else instances.append((number, value)))
        else:
            problems.append(_at(number, "/type", "must be 'definition' or 'instance'"))
    if not seen_header:
        problems.append(_at(1, "", f"the file is empty: it needs a {FORMAT} header line"))
    if problems:
        raise InvalidInput(f"nothing was imported: {_counted(problems)}", problems[:MAX_PROBLEMS])

    needed = {
        tuple(named)
        for _, line in instances
        for named in line["versions"].values()
        if isinstance(named, list)
    }

    def body(uow: UnitOfWork, at: datetime) -> Imported:
        connection = uow.connection
        new_definitions, skipped = _publish(uow, definitions, needed, at, by)
        uow.session.flush()
        by_hash = _ids_by_hash(connection)
        made: dict[int, int] = {}  # old instance id -> new id
        new, unchanged = 0, 0
        for number, line in instances:
            if _known(connection, line["number"]):
                unchanged += 1
                continue
            made[line["instance"]["id"]] = _insert_instance(connection, number, line, by_hash)
            new += 1
        _relink_parents(connection, instances, made)
        _move_counters(connection)
        return Imported(new_definitions, new, unchanged, skipped)

    return shell.execute("import", None, body)


def _publish(
    uow: UnitOfWork,
    definitions: list[tuple[int, dict[str, Any]]],
    needed: set[tuple[Any, ...]],
    at: datetime,
    by: str | None,
) -> tuple[int, int]:
    """Publish the file's definition versions the database lacks; say how many, and skipped.

    A definition new here gets every version, in the file's order. One that exists here
    with other versions keeps its own latest: a version of the file that no imported
    instance needs is skipped, and one that an instance needs refuses the import (it would
    become the version new instances start on: that is for an admin to publish).
    """
    existing = {
        (kind, key) for kind, key in uow.connection.execute(select(Definition.kind, Definition.key))
    }
    known = set(_ids_by_hash(uow.connection))
    published, skipped = 0, 0
    for number, line in definitions:
        kind, key, digest = line["kind"], line["key"], line["content_hash"]
        if (kind, key) in existing and (kind, key, digest) not in known:
            if (kind, key, digest) in needed:
                raise InvalidInput(
                    f"nothing was imported: line {number}: the {kind} {key} exists here with "
                    f"other versions, and this version (v{line['version']} there), which "
                    "instances of the file run on, would become its latest: publish it first "
                    "(flowdesk load) or import into an empty database"
                )
            skipped += 1
            continue
        done = publish_document(uow.session, kind, line["content"], at, by)
        published += int(done.created)
    return published, skipped


def _at(number: int, pointer: str, message: str) -> Problem:
    """A problem at line `number` of the file (`pointer` within the line's record).

    The pointer says where and the message only what is wrong: the command line prints
    them side by side (when both named the line, it was said twice).
    """
    return Problem(f"/line/{number}{pointer}", message)


def _counted(problems: list[Problem]) -> str:
    """How many problems the file has, for the refusal's first line (they are listed below)."""
    if len(problems) >= MAX_PROBLEMS:
        return f"the file has {MAX_PROBLEMS} problems or more (the first {MAX_PROBLEMS} below)"
    return f"the file has {len(problems)} problem{'' if len(problems) == 1 else 's'}"


def _header_problems(number: int, value: Mapping[str, Any]) -> list[Problem]:
    if value.get("format") != FORMAT:
        return [_at(number, "/format", f"the first line must be the header, format '{FORMAT}'")]
    if value.get("version") not in READS:
        return [
            _at(
                number,
                "/version",
                f"format version {value.get('version')!r} is not one this Flowdesk reads "
                f"({', '.join(map(str, READS))})",
            )
        ]
    return []


def _definition_problems(number: int, value: Mapping[str, Any]) -> list[Problem]:
    content = value.get("content")
    if value.get("kind") not in KINDS:
        return [_at(number, "/kind", f"must be one of {', '.join(KINDS)}")]
    if not isinstance(content, dict) or not isinstance(content.get("key"), str):
        return [_at(number, "/content", "must be a document with a key")]
    if content["key"] != value.get("key"):
        return [_at(number, "/key", "is not the key of the content")]
    if content_hash(content) != value.get("content_hash"):
        return [_at(number, "/content_hash", "does not match the content: it was changed")]
    return []


def _instance_problems(number: int, value: Mapping[str, Any]) -> list[Problem]:
    instance, rows, versions = value.get("instance"), value.get("rows"), value.get("versions")
    if not isinstance(value.get("number"), str) or not NUMBER.match(value["number"]):
        return [_at(number, "/number", "must be an instance number like INC-000042")]
    if not isinstance(instance, dict) or instance.get("number") != value["number"]:
        return [_at(number, "/instance", "must be the instance's row, of the same number")]
    if not isinstance(rows, dict) or not isinstance(versions, dict):
        return [_at(number, "/rows", "rows and versions must be objects")]
    problems = _row_problems(number, "/instance", cast(Table, Instance.__table__), instance)
    problems += _state_problems(number, instance)
    if str(instance.get("workflow_version_id")) not in versions:
        problems.append(_at(number, "/versions", "does not name the workflow version"))
    for name, table_rows in rows.items():
        if name not in PORTABLE or not isinstance(table_rows, list):
            problems.append(_at(number, f"/rows/{name}", "is no list of rows of an instance"))
            continue
        table = Base.metadata.tables[name]
        for index, row in enumerate(table_rows):
            problems += _row_problems(number, f"/rows/{name}/{index}", table, row)
    return problems


def _state_problems(number: int, instance: Mapping[str, Any]) -> list[Problem]:
    """An instance's state must be one the runtime reads, and its status the state's: a
    line that passed with a state it could not read failed every later command on it (its
    timers every sweep, for ever)."""
    try:
        state = InstanceState.from_dict(instance.get("state"))  # type: ignore[arg-type]
    except (FlowdeskError, KeyError, TypeError, ValueError, AttributeError) as error:
        said = str(error) or type(error).__name__
        return [_at(number, "/instance/state", f"is no instance state Flowdesk can read: {said}")]
    if instance.get("status") != state.status:
        return [
            _at(
                number,
                "/instance/status",
                f"is '{instance.get('status')}', but its state says '{state.status}'",
            )
        ]
    return []


def _row_problems(number: int, pointer: str, table: Table, row: Any) -> list[Problem]:
    if not isinstance(row, dict):
        return [_at(number, pointer, "must be an object")]
    problems = []
    for name, value in row.items():
        if name not in table.c:
            problems.append(_at(number, f"{pointer}/{name}", f"is no column of {table.name}"))
        elif value is not None and isinstance(table.c[name].type, UtcDateTime):
            try:
                moment = datetime.fromisoformat(value) if isinstance(value, str) else None
            except ValueError:
                moment = None
            if moment is None or moment.tzinfo is None:
                problems.append(_at(number, f"{pointer}/{name}", "is no date and time with zone"))
    nested = NESTED.get(table.name, ("instance_id", ""))[0]
    for column in table.c:
        required = not column.nullable and column.default is None and not column.primary_key
        if required and row.get(column.name) is None and column.name not in ("instance_id", nested):
            problems.append(_at(number, f"{pointer}/{column.name}", "is missing"))
    return problems


def _ids_by_hash(connection: Connection) -> dict[tuple[str, str, str], int]:
    return {tuple(v): k for k, v in _version_hashes(connection).items()}  # type: ignore[misc]


def _known(connection: Connection, number: str) -> bool:
    if connection.execute(select(Instance.id).where(Instance.number == number)).first():
        return True
    archived = select(ArchivedInstance.number).where(ArchivedInstance.number == number)
    return connection.execute(archived).first() is not None


def _insert_instance(
    connection: Connection,
    number: int,
    line: Mapping[str, Any],
    by_hash: Mapping[tuple[str, str, str], int],
) -> int:
    def version(old: Any) -> int:
        named = line["versions"].get(str(old))
        found = by_hash.get(tuple(named)) if isinstance(named, list) else None
        if found is None:
            raise InvalidInput(
                f"nothing was imported: line {number}: version {old} is in neither the "
                "file nor the database"
            )
        return found

    table = cast(Table, Instance.__table__)
    values = archive.from_plain(table, {k: v for k, v in line["instance"].items() if k != "id"})
    values.update(
        workflow_version_id=version(values["workflow_version_id"]), parent_id=None, parent_run=None
    )
    try:
        new_id = int(connection.execute(insert(table).returning(table.c.id), values).scalar_one())
        # A parent table: the ids of its rows in the file -> their ids here.
        made: dict[str, dict[Any, int]] = {name: {} for name in PARENTS}
        for name in PORTABLE:
            child = Base.metadata.tables[name]
            column, parent = NESTED.get(name, ("instance_id", ""))
            rows = []
            for row in line["rows"].get(name, ()):
                values = archive.from_plain(child, {k: v for k, v in row.items() if k != "id"})
                values[column] = made[parent].get(values.get(column)) if parent else new_id
                if values.get("form_version_id") is not None:
                    values["form_version_id"] = version(values["form_version_id"])
                if name == "timers" and values.get("status") == "pending":
                    values["dispatched_at"] = None  # this installation's worker hands it over
                if name in PARENTS:  # one at a time, for the id its nested rows refer to
                    inserted = connection.execute(insert(child).returning(child.c.id), values)
                    made[name][row.get("id")] = int(inserted.scalar_one())
                else:
                    rows.append(values)
            if rows:
                connection.execute(insert(child), rows)
    except DBAPIError as error:
        raise InvalidInput(
            f"nothing was imported: line {number} ({line['number']}) cannot be stored: "
            f"{str(error.orig).splitlines()[0]}"
        ) from None
    _index(connection, new_id, line)
    return new_id


def _index(connection: Connection, new_id: int, line: Mapping[str, Any]) -> None:
    """Make the instance findable, as starting and commenting it did where it came from."""
    index = SearchIndex(connection, connection.dialect.name)
    instance = line["instance"]
    data = (instance.get("state") or {}).get("data", {})
    index.add(new_id, instance["number"], instance.get("title", ""), data)
    for comment in line["rows"].get("comments", ()):
        index.comment(new_id, comment["body"], public=bool(comment.get("public", True)))


def _relink_parents(
    connection: Connection, instances: list[tuple[int, dict[str, Any]]], made: Mapping[int, int]
) -> None:
    """Point imported children at their imported parents (a parent left out: no link)."""
    table = cast(Table, Instance.__table__)
    for _, line in instances:
        old_parent = line["instance"].get("parent_id")
        child = made.get(line["instance"]["id"])
        if child is not None and old_parent in made:
            connection.execute(
                update(table)
                .where(table.c.id == child)
                .values(parent_id=made[old_parent], parent_run=line["instance"].get("parent_run"))
            )


def _move_counters(connection: Connection) -> None:
    """Move each prefix's counter past the numbers there are, so new ones never collide."""
    highest = connection.execute(
        select(Instance.prefix, func.max(Instance.seq)).group_by(Instance.prefix)
    ).all()
    for prefix, seq in highest:
        current = connection.execute(select(Counter.last).where(Counter.prefix == prefix)).first()
        if current is None:
            connection.execute(
                insert(cast(Table, Counter.__table__)).values(prefix=prefix, last=seq)
            )
        elif current[0] < seq:
            connection.execute(
                update(cast(Table, Counter.__table__))
                .where(Counter.prefix == prefix)
                .values(last=seq)
            )


def parse_since(text: str) -> datetime:
    """Read `--since`: a date (midnight UTC) or a date and time with its zone."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(f"'{text}' is no date: write it as 2026-11-23") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
