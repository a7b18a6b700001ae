"""The API keeps to its OpenAPI document: every route is in it, and Schemathesis finds no break.

Schemathesis calls the app in-process (WSGI, no server), as an admin with a real API
token, on every backend under test: it is a few seconds each, and PostgreSQL refuses
values SQLite takes (a 64-bit number in a 32-bit column), which is what it is for.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from engine.service.commands import Commands
from engine.service.people import ensure_user
from engine.service.tokens import issue_token
from engine.store.database import Database
from tests.infrastructure import INCIDENT
from web.api.openapi import document

#: Every operation, but bounded: the suite stays fast and the same on every run.
EXAMPLES = 20

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def _documented(app: Flask) -> set[tuple[str, str]]:
    return {(path, method.upper()) for path, item in document()["paths"].items() for method in item}


def _routed(app: Flask) -> set[tuple[str, str]]:
    found = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/") or rule.rule == "/api/openapi.json":
            continue
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
        path = path.replace("{task_id}", "{id}")
        for method in rule.methods or ():
            if method not in ("HEAD", "OPTIONS"):
                found.add((path, method))
    return found


def test_every_api_route_is_documented_and_every_documented_operation_is_routed(
    app: Flask,
) -> None:
    assert _routed(app) == _documented(app)


def test_the_document_is_openapi_3_1_and_says_how_to_authenticate(client: Any) -> None:
    served = client.get("/api/openapi.json").json
    assert served["openapi"] == "3.1.0"
    assert served["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    public = [
        (path, method)
        for path, item in served["paths"].items()
        for method, operation in item.items()
        if operation.get("security") == []
    ]
    assert sorted(public) == [
        ("/api/v1/forms/{key}/schema", "get"),
        ("/api/v1/forms/{key}/validate", "post"),
        ("/api/v1/self-help", "post"),
    ]


@pytest.fixture
def admin_token(database: Database, commands: Commands) -> str:
    """A real API token of an admin who also works in the desktop-support queue."""
    now = datetime.now(UTC)
    with database.writer_session() as session, session.begin():
        ensure_user(session, "ada", now, roles=["admin"], groups=["desktop-support"])
        return issue_token(session, "ada", "schemathesis", now)[1]


@pytest.fixture
def api_schema(app: Flask, admin_token: str) -> Any:
    """The served document, loaded by Schemathesis, with something to act on already there."""
    client = app.test_client()
    headers = {"Authorization": f"Bearer {admin_token}"}
    for _ in range(2):  # INC-000001 for the tasks, INC-000002 to be cancelled
        started = client.post(
            "/api/v1/instances", json={"workflow": "it-incident", "data": INCIDENT}, headers=headers
        )
        assert started.status_code == 201
    made = client.put("/api/v1/services/payments", json={"name": "Payments"}, headers=headers)
    assert made.status_code == 201
    return schemathesis.openapi.from_wsgi("/api/openapi.json", app)


#: Real objects for the path parameters, so generated bodies reach the service, not a 404.
REAL = {"number": "INC-000001", "id": 1, "version": 1}
REAL_KEYS = {
    "forms": "incident-report",
    "workflows": "it-incident",
    "schedules": "network-on-call",
    "services": "payments",
}


def _cases(operation: Any) -> list[tuple[str, Any]]:
    """The strategies an operation is tried with: any input, wrong input, and real objects."""
    found = [
        ("positive", operation.as_strategy(GenerationMode.POSITIVE)),
        ("negative", operation.as_strategy(GenerationMode.NEGATIVE)),
    ]
    names = {parameter.name for parameter in operation.path_parameters}
    if names:
        real = {name: value for name, value in REAL.items() if name in names}
        if operation.path.endswith("/cancel"):
            real["number"] = "INC-000002"
        if "key" in names:
            real["key"] = REAL_KEYS[operation.path.split("/")[3]]
        found.append(("real", operation.as_strategy(path_parameters=real)))
    return found


#: The operations are tried in this many tests, each on a database of its own, so that the
#: suite's processes share them out (one test of them all took 35-100 s).
SHARDS = 6


@pytest.mark.long
@pytest.mark.parametrize("shard", range(SHARDS))
def test_the_api_keeps_to_its_document(
    api_schema: Any, admin_token: str, subtests: Any, shard: int
) -> None:
    headers = {"Authorization": f"Bearer {admin_token}"}
    operations = [result.ok() for result in api_schema.get_all_operations()]
    chosen = operations[shard::SHARDS]
    assert chosen, "this shard has no operation to try"
    for operation in chosen:
        for mode, strategy in _cases(operation):

            @settings(
                max_examples=EXAMPLES,
                derandomize=True,
                deadline=None,
                database=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(case=strategy)
            def call(case: Any) -> None:
                case.call_and_validate(headers=headers, checks=CHECKS)

            with subtests.test(msg=f"{operation.label} ({mode})"):
                call()
