"""What the designer's checks keep between calls belongs to one database: ids and version
numbers mean nothing in another one the same process opens (the test suite opens many; a
restore opens a new one)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from engine.service.definitions import publish_document
from engine.service.workflow_context import _published_references
from engine.service.workflow_drafts import _latest_step_ids
from engine.store.database import Database
from tests.infrastructure import PACK
from tests.integration.conftest import Clock


def renamed(document: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    return dict(json.loads(json.dumps(document).replace(f'"{old}"', f'"{new}"')))


def test_two_databases_with_the_same_ids_each_get_their_own_published_steps(
    sqlite_seeded: Path, tmp_path: Path, clock: Clock
) -> None:
    shipped = json.loads((PACK / "service-request.json").read_text())
    steps, references = {}, {}
    for name in ("a", "b"):  # copies of one database: the same ids, then other documents
        path = tmp_path / f"{name}.sqlite3"
        shutil.copy(sqlite_seeded, path)
        database = Database(f"sqlite:///{path}")
        with database.writer_session() as session, session.begin():
            document = renamed(shipped, "fulfil", f"fulfil_{name}")
            publish_document(session, "workflow", document, clock(), "dana")
        with database.reading() as session:
            found = _latest_step_ids(session, "service-request")
            steps[name] = sorted(step for step in found if step.startswith("fulfil_"))
            references[name] = _published_references(session)
        database.dispose()
    assert steps == {"a": ["fulfil_a"], "b": ["fulfil_b"]}
    assert references["a"] is not references["b"]
