"""The REST API's contract: an OpenAPI 3.1 document, served at `/api/openapi.json`.

The document is the contract in both directions: the views check request bodies,
query parameters and headers against the very schemas it declares (`body_errors`,
`parameter_errors`), and the suite checks that every `/api` route is documented
and that the server's answers conform (Schemathesis).
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from flask import Blueprint, Flask, Response, jsonify
from jsonschema import Draft202012Validator

from web.api import (
    insight_schemas,
    notification_schemas,
    oncall_schemas,
    postmortem_schemas,
    problem_schemas,
    retention_schemas,
    service_schemas,
    similar_schemas,
    view_schemas,
)
from web.api.schemas import FILTERS, PARAMETERS, SCHEMAS, TEXT, VERSION, Schema, ref

blueprint = Blueprint("openapi", __name__, url_prefix="/api")


#: Error statuses and what each means on this API.
ERRORS = {
    400: "The request could not be read: not JSON, or a query parameter or header is wrong.",
    401: "No valid API token was sent.",
    403: "The token's user may not do this.",
    404: "Nothing here, or nothing the caller may see.",
    409: "It changed meanwhile (already completed, already claimed, ended).",
    410: "Retention archived it (`code`: `archived`); the message says when. Said to the "
    "service desk; anyone else is answered 404.",
    413: "The request or its data is over the stated size limit.",
    422: "The body does not match its schema, or the input has problems: see `errors`; or "
    "(`key_reused`) the Idempotency-Key was already used for a different request.",
    429: "Too many requests from this address.",
    503: "The database stayed busy; nothing was changed. Try again (with the same key).",
}


def _param(name: str) -> Schema:
    return {"$ref": f"#/components/parameters/{name}"}


def _json(schema: Schema) -> Schema:
    return {"application/json": {"schema": schema}}


def _operation(
    operation_id: str,
    summary: str,
    *,
    tag: str,
    ok: dict[int, tuple[str, str]],
    errors: tuple[int, ...],
    parameters: list[Schema] | None = None,
    body: str | None = None,
    body_required: bool = True,
    public: bool = False,
    location: bool = False,
    media: str = "application/json",
) -> Schema:
    """Describe one operation; `ok` maps a status to (description, response schema name)."""
    responses: Schema = {}
    for status, (description, schema) in ok.items():
        response: Schema = {
            "description": description,
            "content": {media: {"schema": ref(schema)}},
        }
        if location and status == 201:
            response["headers"] = {
                "Location": {"description": "Where it is.", "schema": {"type": "string"}}
            }
        responses[str(status)] = response
    for status in sorted({*errors, 400, *(() if public else (401,))}):
        responses[str(status)] = {"$ref": f"#/components/responses/E{status}"}
    operation: Schema = {
        "operationId": operation_id,
        "summary": summary,
        "tags": [tag],
        "parameters": parameters or [],
        "responses": responses,
    }
    if body is not None:
        operation["requestBody"] = {"required": body_required, "content": _json(ref(body))}
    if public:
        operation["security"] = []
    return operation


def _instance_paths() -> Schema:
    """Describe who am I, and the instances with their comments."""
    key = [_param("IdempotencyKey")]
    number = [_param("Number")]
    return {
        "/api/v1/me": {
            "get": _operation(
                "me", "Who the token belongs to", tag="people", ok={200: ("You", "Me")}, errors=()
            ),
            "patch": _operation(
                "chooseMyReading",
                "Choose the time zone and locale pages say times in (left out: kept; null: the "
                "browser's). An unknown zone or locale is a 422 naming it.",
                tag="people",
                ok={200: ("You, as you now read times", "Me")},
                errors=(422,),
                body="MyReading",
            ),
        },
        "/api/v1/instances": {
            "get": _operation(
                "listInstances",
                "Instances by filter and full-text search, sorted, a page at a time (agents: "
                "all; others: those they requested or hold a task on). A bad filter is a 400 "
                "naming it.",
                tag="instances",
                ok={200: ("A page", "InstancePage")},
                errors=(404,),
                parameters=view_schemas.LIST_PARAMETERS,
            ),
            "post": _operation(
                "startInstance",
                "Start an instance of a workflow's latest version; you are its requester",
                tag="instances",
                ok={201: ("Started", "Instance")},
                errors=(404, 409, 413, 422, 503),
                parameters=key,
                body="StartInstance",
                location=True,
            ),
        },
        "/api/v1/calls": {
            "post": _operation(
                "logCall",
                "Log an incident or request for a caller (agents): the channel it came by, and "
                "the caller, a user (who becomes the requester) or a name with an email or "
                "phone (who gets a tracking link, mailed when an email is given)",
                tag="instances",
                ok={201: ("Logged", "LoggedCall")},
                errors=(403, 404, 409, 413, 422, 503),
                parameters=key,
                body="LogCall",
                location=True,
            ),
        },
        "/api/v1/instances/{number}": {
            "get": _operation(
                "getInstance",
                "An instance: status, priority, data, open tasks, SLA, timeline",
                tag="instances",
                ok={200: ("The instance", "Instance")},
                errors=(404, 410),
                parameters=number,
            )
        },
        "/api/v1/instances/{number}/cancel": {
            "post": _operation(
                "cancelInstance",
                "Stop an instance: its open tasks and timers are withdrawn (agents)",
                tag="instances",
                ok={200: ("Cancelled", "Instance")},
                errors=(403, 404, 409, 413, 422, 503),
                parameters=number + key,
                body="CancelInstance",
            )
        },
        "/api/v1/instances/{number}/reopen": {
            "post": _operation(
                "reopenInstance",
                "Send an instance that ended back to work where its workflow says "
                "(agents, or its requester)",
                tag="instances",
                ok={200: ("Reopened", "Instance")},
                errors=(403, 404, 409, 422, 503),
                parameters=number + key,
                body="ReasonGiven",
            )
        },
        "/api/v1/instances/{number}/priority": {
            "post": _operation(
                "setPriority",
                "Change the priority with a reason; the SLA clocks follow (agents)",
                tag="instances",
                ok={200: ("Changed", "Instance")},
                errors=(403, 404, 409, 422, 503),
                parameters=number + key,
                body="NewPriority",
            )
        },
        "/api/v1/instances/{number}/links": {
            "get": _operation(
                "listLinks",
                "The related instances, the original and the duplicates (agents)",
                tag="instances",
                ok={200: ("Links", "Links")},
                errors=(403, 404),
                parameters=number,
            ),
            "post": _operation(
                "linkInstance",
                "Link a related instance; the link shows on both (agents)",
                tag="instances",
                ok={201: ("Linked", "Instance")},
                errors=(403, 404, 409, 422, 503),
                parameters=number + key,
                body="NewLink",
            ),
        },
        "/api/v1/instances/{number}/duplicate": {
            "post": _operation(
                "markDuplicate",
                "Close the instance as a duplicate of another; its requester is told (agents)",
                tag="instances",
                ok={200: ("Closed as a duplicate", "Instance")},
                errors=(403, 404, 409, 422, 503),
                parameters=number + key,
                body="MarkDuplicate",
            )
        },
        "/api/v1/instances/{number}/retry": {
            "post": _operation(
                "retryInstance",
                "Run again the steps that stopped on an incident, once its cause is fixed, "
                "having corrected some of its data first (admins)",
                tag="instances",
                ok={200: ("Retried", "Instance")},
                errors=(403, 404, 409, 413, 422, 503),
                parameters=number + key,
                body="RetryInstance",
                body_required=False,
            )
        },
        "/api/v1/instances/{number}/comments": {
            "get": _operation(
                "listComments",
                "The instance's conversation (internal notes: agents only)",
                tag="instances",
                ok={200: ("Comments, oldest first", "CommentList")},
                errors=(404,),
                parameters=number,
            ),
            "post": _operation(
                "addComment",
                "Add a comment",
                tag="instances",
                ok={201: ("Added", "Comment")},
                errors=(403, 404, 409, 413, 422, 503),
                parameters=number + key,
                body="NewComment",
                location=True,
            ),
        },
    }


def _task_paths() -> Schema:
    """Describe the tasks."""
    paging = [_param("Limit"), _param("Offset")]
    key = [_param("IdempotencyKey")]
    task = [_param("TaskId")]
    return {
        "/api/v1/tasks": {
            "get": _operation(
                "listTasks",
                "Your tasks (`mine`) or your groups' queue (`queue`), nearest breach first",
                tag="tasks",
                ok={200: ("A page", "TaskPage")},
                errors=(),
                parameters=[
                    {
                        "name": "view",
                        "in": "query",
                        "schema": {"type": "string", "enum": ["mine", "queue"], "default": "mine"},
                    },
                    {"name": "group", "in": "query", "schema": TEXT},
                    *FILTERS,
                    *paging,
                ],
            )
        },
        "/api/v1/tasks/{id}": {
            "get": _operation(
                "getTask",
                "A task",
                tag="tasks",
                ok={200: ("The task", "Task")},
                errors=(404,),
                parameters=task,
            )
        },
        "/api/v1/tasks/{id}/claim": {
            "post": _operation(
                "claimTask",
                "Take a task from your group's queue",
                tag="tasks",
                ok={200: ("Yours now", "Task")},
                errors=(403, 404, 409, 422, 503),
                parameters=task + key,
            )
        },
        "/api/v1/tasks/{id}/complete": {
            "post": _operation(
                "completeTask",
                "Complete a task with one of its outcomes; `data` is checked with its form",
                tag="tasks",
                ok={200: ("Completed", "Task")},
                errors=(403, 404, 409, 413, 422, 503),
                parameters=task + key,
                body="CompleteTask",
            )
        },
    }


def _workflow_paths() -> Schema:
    """Describe the workflows and the public forms."""
    key = [_param("IdempotencyKey")]
    return {
        "/api/v1/workflows": {
            "get": _operation(
                "listWorkflows",
                "The published workflows",
                tag="workflows",
                ok={200: ("Workflows by key", "WorkflowList")},
                errors=(),
            ),
            "post": _operation(
                "publishWorkflow",
                "Check a workflow document and publish it as a new version (designers); "
                "the same content as the latest version changes nothing (200)",
                tag="workflows",
                ok={201: ("A new version", "Published"), 200: ("Unchanged", "Published")},
                errors=(403, 413, 422),
                parameters=key,
                body="WorkflowDocument",
                location=True,
            ),
        },
        "/api/v1/workflows/{key}/versions/{version}": {
            "get": _operation(
                "getWorkflowVersion",
                "One published version, frozen",
                tag="workflows",
                ok={200: ("The version", "WorkflowVersion")},
                errors=(404,),
                parameters=[
                    _param("WorkflowKey"),
                    {"name": "version", "in": "path", "required": True, "schema": VERSION},
                ],
            )
        },
        "/api/v1/forms/{key}/schema": {
            "get": _operation(
                "formSchema",
                "A public form compiled to JSON Schema 2020-12",
                tag="forms",
                ok={200: ("The schema", "FormSchema")},
                errors=(404,),
                parameters=[_param("FormKey")],
                public=True,
                media="application/schema+json",
            )
        },
        "/api/v1/forms/{key}/validate": {
            "post": _operation(
                "validateForm",
                "Validate a submission of a public form without saving it",
                tag="forms",
                ok={200: ("Errors per field, what is shown and required", "Validation")},
                errors=(404, 413, 429),
                parameters=[_param("FormKey")],
                body="Submission",
                public=True,
            )
        },
    }


def _paths() -> Schema:
    """Describe every operation, by path."""
    return {
        **_instance_paths(),
        **_task_paths(),
        **_workflow_paths(),
        **notification_schemas.paths(_operation),
        **view_schemas.paths(_operation),
        **oncall_schemas.paths(_operation),
        **service_schemas.paths(_operation),
        **retention_schemas.paths(_operation),
        **insight_schemas.paths(_operation),
        **similar_schemas.paths(_operation),
        **postmortem_schemas.paths(_operation),
        **problem_schemas.paths(_operation),
    }


@functools.cache
def _document() -> Schema:
    responses = {
        f"E{status}": {"description": description, "content": _json(ref("Error"))}
        for status, description in ERRORS.items()
    }
    responses["E429"]["headers"] = {
        "Retry-After": {
            "description": "Seconds to wait before trying again.",
            "schema": {"type": "integer", "minimum": 1},
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Flowdesk",
            "version": "1",
            "description": "Instances, tasks, comments, workflows and forms. Send an API token "
            "as `Authorization: Bearer fd_...`. Every error is JSON: `code`, `message`, and "
            "`errors` with a JSON Pointer per field.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearerAuth": []}],
        "paths": _paths(),
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                **SCHEMAS,
                **notification_schemas.SCHEMAS,
                **view_schemas.SCHEMAS,
                **oncall_schemas.SCHEMAS,
                **service_schemas.SCHEMAS,
                **retention_schemas.SCHEMAS,
                **insight_schemas.SCHEMAS,
                **similar_schemas.SCHEMAS,
                **postmortem_schemas.SCHEMAS,
                **problem_schemas.SCHEMAS,
            },
            "parameters": PARAMETERS,
            "responses": responses,
        },
    }


def document() -> Schema:
    """Return the OpenAPI document (a copy: callers may change it)."""
    return copy.deepcopy(_document())


@functools.cache
def _validator(schema: str) -> Draft202012Validator:
    """A validator of one component schema, resolving `$ref`s within the document."""
    root = {"$defs": {}, **_document()}
    resolvable = {**root, "$ref": f"#/components/schemas/{schema}"}
    return Draft202012Validator(resolvable)


def body_errors(schema: str, value: Any) -> list[dict[str, str]]:
    """Check a request body against a component schema; return field errors (none: fine)."""
    return [_field_error(error) for error in _validator(schema).iter_errors(value)]


def parameters(operation_id: str) -> list[Schema]:
    """Return the query and header parameters of an operation, `$ref`s resolved."""
    for item in _document()["paths"].values():
        for operation in item.values():
            if operation["operationId"] == operation_id:
                found = []
                for parameter in operation["parameters"]:
                    if "$ref" in parameter:
                        parameter = PARAMETERS[parameter["$ref"].rsplit("/", 1)[1]]
                    if parameter["in"] in ("query", "header"):
                        found.append(parameter)
                return found
    raise KeyError(operation_id)


@functools.cache
def _parameter_validator(name: str, where: str, operation_id: str) -> Draft202012Validator:
    for parameter in parameters(operation_id):
        if parameter["name"] == name and parameter["in"] == where:
            return Draft202012Validator(parameter["schema"])
    raise KeyError(name)


def parameter_errors(operation_id: str, name: str, where: str, value: Any) -> list[str]:
    """Check one parameter's value against its schema; return the messages (none: fine)."""
    validator = _parameter_validator(name, where, operation_id)
    return [_short(error.message) for error in validator.iter_errors(value)]


def _field_error(error: Any) -> dict[str, str]:
    path = [str(part) for part in error.absolute_path]
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [name for name in error.validator_value if name not in error.instance]
        path += missing[:1]
    pointer = "".join("/" + part.replace("~", "~0").replace("/", "~1") for part in path)
    return {"field": ".".join(path), "pointer": pointer, "message": _short(error.message)}


def _short(message: str, limit: int = 300) -> str:
    """Keep a message readable: jsonschema quotes the whole offending value."""
    return message if len(message) <= limit else message[: limit - 3] + "..."


@blueprint.get("/openapi.json")
def serve() -> Response:
    """Serve the document."""
    return jsonify(_document())


def init_app(app: Flask) -> None:
    app.register_blueprint(blueprint)
