"""The JSON Schemas of the API's bodies, answers and parameters, as `web.api.openapi` declares them.

Plain data: `web.api.openapi` puts them in the document, and the views check input
against them there.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

KEY = {"type": "string", "pattern": "^[a-z][a-z0-9_-]{0,62}$", "example": "it-incident"}
NUMBER = {"type": "string", "pattern": "^[A-Z][A-Z0-9]{0,9}-[0-9]{1,18}$", "example": "INC-000042"}
#: Database ids are 64-bit.
ID = {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}
#: Version numbers are 32-bit.
VERSION = {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}
TIME = {"type": "string", "format": "date-time"}
#: Query filters and free text: short, no control characters that no database stores.
TEXT = {"type": "string", "maxLength": 200, "pattern": "^[^\\x00]*$"}


def _nullable(schema: Schema) -> Schema:
    return {**schema, "type": [schema["type"], "null"]}


def _object(
    properties: Schema, *, required: list[str] | None = None, closed: bool = True
) -> Schema:
    schema: Schema = {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
    }
    if closed:
        schema["additionalProperties"] = False
    return schema


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _page(item: str) -> Schema:
    return _object(
        {
            "items": {"type": "array", "items": ref(item)},
            "total": {"type": "integer", "minimum": 0},
            "limit": {"type": "integer", "minimum": 1},
            "offset": {"type": "integer", "minimum": 0},
        }
    )


SLA_STATE = {"type": "string", "enum": ["breached", "due_soon", "on_track", "none"]}
FIELD_ERROR = _object(
    {"field": {"type": "string"}, "pointer": {"type": "string"}, "message": {"type": "string"}}
)

#: What every description of a task says: the lists, an instance's open tasks, one task.
TASK: Schema = {
    "id": ID,
    "title": {"type": "string"},
    "step": {"type": "string"},
    "form": _nullable({"type": "string"}),
    "outcomes": {"type": "array", "items": {"type": "string"}},
    "assignee": _nullable({"type": "string"}),
    "group": _nullable({"type": "string"}),
    "due_at": _nullable(TIME),
    "created_at": TIME,
}
SCHEMAS: dict[str, Schema] = {
    "Error": _object(
        {
            "code": {"type": "string", "description": "Stable, for programs: `not_found`, ..."},
            "message": {"type": "string", "description": "For people."},
            "errors": {"type": "array", "items": ref("FieldError")},
        }
    ),
    "FieldError": FIELD_ERROR,
    "Me": _object(
        {
            "username": {"type": "string"},
            "name": {"type": "string"},
            "email": _nullable({"type": "string"}),
            "roles": {"type": "array", "items": {"type": "string"}},
            "groups": {"type": "array", "items": {"type": "string"}},
            "time_zone": _nullable(
                {"type": "string", "description": "IANA zone pages use; null: the browser's."}
            ),
            "locale": _nullable(
                {"type": "string", "description": "Date format pages use; null: the browser's."}
            ),
        }
    ),
    "MyReading": _object(
        {
            "time_zone": _nullable({"type": "string", "maxLength": 64}),
            "locale": _nullable({"type": "string", "maxLength": 35}),
        },
        required=[],
    ),
    "FormSchema": {
        "type": "object",
        "description": "A form compiled to JSON Schema 2020-12.",
    },
    "Submission": {
        "type": "object",
        "description": "A form's answers, by field key.",
        "propertyNames": {"maxLength": 200},
    },
    "Validation": _object(
        {
            "valid": {"type": "boolean"},
            "errors": {"type": "array", "items": ref("FieldError")},
            "visible": {"type": "array", "items": {"type": "string"}},
            "required": {"type": "array", "items": {"type": "string"}},
        }
    ),
    "StartInstance": _object(
        {"workflow": KEY, "data": ref("Submission")},
        required=["workflow"],
    ),
    "LogCall": _object(
        {
            "workflow": KEY,
            "data": ref("Submission"),
            "channel": {
                "type": "string",
                "maxLength": 20,
                "description": "phone, email, chat, walk_in or sms",
            },
            "caller": _object(
                {
                    "user": {"type": "string", "minLength": 1, "maxLength": 80},
                    "name": {"type": "string", "maxLength": 200},
                    "email": {"type": "string", "maxLength": 320},
                    "phone": {"type": "string", "maxLength": 40},
                },
                required=[],
            ),
        },
        required=["workflow", "channel", "caller"],
    ),
    "LoggedCall": _object(
        {
            "number": NUMBER,
            "tracking_link": _nullable(
                {"type": "string", "description": "The caller's link, when they have no account."}
            ),
        }
    ),
    "Instance": _object(
        {
            "number": NUMBER,
            "title": {"type": "string"},
            "workflow": {"type": "string"},
            "status": {"type": "string"},
            "ended": {"type": "boolean"},
            "priority": _nullable({"type": "string"}),
            "requester": _nullable({"type": "string"}),
            "service": _nullable(
                {
                    "type": "string",
                    "description": "The key of the catalogue's service it is about, if any.",
                }
            ),
            "started_at": TIME,
            "updated_at": TIME,
            "ended_at": _nullable(TIME),
            "data": {"type": "object"},
            "sla": ref("Sla"),
            "tasks": {"type": "array", "items": ref("OpenTask")},
            "timeline": {"type": "array", "items": ref("Event")},
            "incidents": {
                "type": "array",
                "description": (
                    "What stopped because it could not do its work: a step (`step` is its "
                    "id), or an SLA breach's actions (`step` is 'the <kind> SLA breach')."
                ),
                "items": _object({"step": {"type": "string"}, "why": {"type": "string"}}),
            },
        }
    ),
    "Sla": _object(
        {
            "state": SLA_STATE,
            "due_at": _nullable(TIME),
            "response_due_at": _nullable(TIME),
            "resolution_due_at": _nullable(TIME),
            "response_breached": {"type": "boolean"},
            "resolution_breached": {"type": "boolean"},
        }
    ),
    "OpenTask": _object(TASK),
    "Event": _object(
        {
            "seq": {"type": "integer"},
            "kind": {"type": "string"},
            "step": _nullable({"type": "string"}),
            "at": TIME,
            "actor": _nullable({"type": "string"}),
            "why": _nullable({"type": "string"}),
        }
    ),
    "CancelInstance": _object(
        {"reason": {"type": "string", "minLength": 1, "maxLength": 2000}}, required=["reason"]
    ),
    "RetryInstance": _object(
        {
            "data": {
                "type": "object",
                "description": "Fields to set before the steps are tried again, by name "
                "(dotted for a field inside another): each takes what its form's field "
                "takes; a field no form of the workflow has must be one the instance holds.",
                "maxProperties": 50,
            }
        },
        required=[],
    ),
    "ReasonGiven": _object(
        {"reason": {"type": "string", "minLength": 1, "maxLength": 2000}}, required=["reason"]
    ),
    "NewPriority": _object(
        {
            "priority": {"type": "string", "minLength": 1, "maxLength": 40},
            "reason": {"type": "string", "minLength": 1, "maxLength": 2000},
        },
        required=["priority", "reason"],
    ),
    "NewLink": _object({"number": NUMBER}, required=["number"]),
    "MarkDuplicate": _object(
        {"original": NUMBER, "reason": {"type": "string", "minLength": 1, "maxLength": 2000}},
        required=["original", "reason"],
    ),
    "Links": _object(
        {
            "related": {"type": "array", "items": {"type": "object"}},
            "duplicate_of": _nullable({"type": "object"}),
            "duplicates": {"type": "array", "items": {"type": "object"}},
        }
    ),
    "NewComment": _object(
        {
            "text": {"type": "string", "minLength": 1, "maxLength": 20000},
            "public": {
                "type": "boolean",
                "default": True,
                "description": "False: an internal note, which only agents write and read.",
            },
        },
        required=["text"],
    ),
    "Comment": _object(
        {
            "id": ID,
            "author": _nullable({"type": "string"}),
            "text": {"type": "string"},
            "public": {"type": "boolean"},
            "created_at": TIME,
        }
    ),
    "CommentList": _object({"items": {"type": "array", "items": ref("Comment")}}),
    "TaskItem": _object(
        {
            **TASK,
            "instance": NUMBER,
            "instance_title": {"type": "string"},
            "workflow": {"type": "string"},
            "priority": _nullable({"type": "string"}),
            "status": {"type": "string", "description": "The instance's status."},
            "sla_due_at": _nullable(TIME),
            "sla_state": SLA_STATE,
        }
    ),
    "TaskPage": _page("TaskItem"),
    "Task": _object(
        {
            **TASK,
            "status": {"type": "string", "enum": ["open", "completed", "cancelled"]},
            "delegated_by": _nullable({"type": "string"}),
            "outcome": _nullable({"type": "string"}),
            "completed_at": _nullable(TIME),
            "completed_by": _nullable({"type": "string"}),
            "data": _nullable({"type": "object"}),
            "instance": NUMBER,
            "instance_status": {"type": "string"},
        }
    ),
    "CompleteTask": _object(
        {
            "outcome": {"type": "string", "minLength": 1, "maxLength": 80},
            "data": ref("Submission"),
            "comment": {
                "type": "string",
                "maxLength": 20000,
                "description": "An internal note kept with the decision; a rejection needs a "
                "reason, here or in the form's comment field.",
            },
        },
        required=["outcome"],
    ),
    "WorkflowSummary": _object(
        {
            "key": {"type": "string"},
            "title": {"type": "string"},
            "latest_version": {"type": "integer", "minimum": 1},
            "versions": {"type": "integer", "minimum": 1},
            "updated_at": TIME,
        }
    ),
    "WorkflowList": _object({"items": {"type": "array", "items": ref("WorkflowSummary")}}),
    "WorkflowVersion": _object(
        {
            "key": {"type": "string"},
            "version": {"type": "integer", "minimum": 1},
            "published_at": TIME,
            "published_by": _nullable({"type": "string"}),
            "content": {"type": "object"},
        }
    ),
    "WorkflowDocument": _object(
        {"kind": {"const": "workflow"}, "key": KEY},
        closed=False,
    )
    | {"description": "A workflow document (see docs/workflow-language.md); checked in full."},
    "Published": _object(
        {
            "kind": {"type": "string"},
            "key": {"type": "string"},
            "version": {"type": "integer", "minimum": 1},
            "created": {
                "type": "boolean",
                "description": "false: the content equals this existing version; nothing changed",
            },
            "latest_version": {"type": "integer", "minimum": 1},
            "message": {"type": "string", "description": "What the publish did, in words"},
        }
    ),
}

PARAMETERS: dict[str, Schema] = {
    "Number": {"name": "number", "in": "path", "required": True, "schema": NUMBER},
    "TaskId": {"name": "id", "in": "path", "required": True, "schema": ID},
    "WorkflowKey": {"name": "key", "in": "path", "required": True, "schema": KEY},
    "FormKey": {
        "name": "key",
        "in": "path",
        "required": True,
        "schema": {**KEY, "example": "incident-report"},
    },
    "Limit": {
        "name": "limit",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50},
    },
    "Offset": {
        "name": "offset",
        "in": "query",
        "schema": {"type": "integer", "minimum": 0, "maximum": 10_000_000, "default": 0},
    },
    "IdempotencyKey": {
        "name": "Idempotency-Key",
        "in": "header",
        "description": "Repeat a command with the same key: the first answer comes back and "
        "nothing changes. Keys are the caller's own. The key with a different request "
        "(another operation, target or body) is refused: 422, code `key_reused`.",
        "schema": {"type": "string", "minLength": 1, "maxLength": 100, "pattern": "^[!-~]+$"},
    },
}

FILTERS = [
    {"name": "workflow", "in": "query", "schema": TEXT},
    {"name": "priority", "in": "query", "schema": TEXT},
    {"name": "sla", "in": "query", "schema": SLA_STATE},
    {"name": "status", "in": "query", "schema": TEXT},
    {"name": "text", "in": "query", "schema": TEXT, "description": "In the number or title."},
]
