"""The service catalogue and its integrations, as the admin page, the API and the CLI keep them.

A service names what incidents are about: its owner group, its on-call schedule and
escalation policy (by key: the on-call part keeps them; a service names only ones that
exist), its business calendar, the workflow its incidents run (`it-incident` unless
told) with the start form values an alert's incident starts with, the rules that turn
a sender's severity into one of that workflow's priorities, and what an alert firing
again after its incident ended does (`new`: a new incident; `reopen`: the ended one is
reopened, when its workflow can).

An integration is one sender's token into one service for one payload kind. The token
is shown once, when it is made; only its SHA-256 is kept, as for API tokens. Only
admins change either; the command line passes no actor (the operator's tool, see
`engine.service.people`).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from engine.core.errors import ExpressionError, Problem
from engine.core.expressions.templates import compile_template
from engine.core.values import is_row_id, value_problems
from engine.service import signals
from engine.service.errors import Conflict, InvalidInput, NotFound
from engine.service.names import KEY_PATTERN, name_problems
from engine.service.permissions import require_admin
from engine.service.person import secret_hash
from engine.service.submissions import InvalidData
from engine.store.definitions import Definition
from engine.store.insight import IncidentFigures
from engine.store.mailboxes import Mailbox
from engine.store.oncall import EscalationPolicy, OnCallSchedule
from engine.store.people import Group
from engine.store.services import INTEGRATION_KINDS, REFIRE_POLICIES, Integration, Service
from forms.errors import FieldError

if TYPE_CHECKING:
    from engine.service.commands import Commands
    from engine.store.repository import Repository
    from engine.store.uow import UnitOfWork

T = TypeVar("T")

#: The workflow a service's incidents run unless it names another.
DEFAULT_WORKFLOW = "it-incident"
#: The rules a new service starts with, to the shipped incident workflow's levels:
#: PagerDuty's severities, then the words of other tools (Zabbix's disaster, high, average;
#: Azure Monitor's Sev0 to Sev4; low and medium).
DEFAULT_SEVERITY_RULES = {
    "critical": "P1", "error": "P2", "warning": "P3", "info": "P4",
    "disaster": "P1", "high": "P2", "average": "P3", "information": "P4",
    "medium": "P3", "low": "P4",
    "sev0": "P1", "sev1": "P2", "sev2": "P3", "sev3": "P4", "sev4": "P4",
}  # fmt: skip
#: The fields of the generic kind's mapping template.
MAPPING_FIELDS = ("title", "dedup_key", "severity", "status", "description")
#: Longest summary and description an alert puts in its incident (the incident report's).
MAX_TITLE = 200
MAX_TEXT = 10_000


def alert_data(start_data: Mapping[str, Any], summary: str, description: str) -> dict[str, Any]:
    """Return the start data of an alert's incident: the service's, with the alert's words
    (made fit to keep by `engine.service.signals.read`) cut to the start form's lengths."""
    title = summary[:MAX_TITLE].strip() or "Alert"
    text = description[:MAX_TEXT].strip() or title
    return {**start_data, "summary": title, "description": text}


@dataclass(frozen=True, slots=True)
class ServiceRow:
    """A service as the catalogue shows it."""

    key: str
    name: str
    description: str
    owner_group: str | None
    schedule_key: str | None
    policy_key: str | None
    calendar: str | None
    workflow_key: str
    severity_rules: dict[str, str]
    start_data: dict[str, Any]
    refire: str


@dataclass(frozen=True, slots=True)
class IntegrationRow:
    """An integration as its service's page lists it (never its token)."""

    id: int
    service_key: str
    kind: str
    name: str
    signed: bool
    mapping: dict[str, Any] | None
    created_at: datetime
    revoked_at: datetime | None


class Catalogue:
    """Services and their integrations: one read or one unit of work per call."""

    def __init__(self, shell: Commands) -> None:
        self.shell = shell

    def _as_admin(self, kind: str, actor: str | None, body: Callable[[Session, datetime], T]) -> T:
        def run(uow: UnitOfWork, at: datetime) -> T:
            if actor is not None:
                require_admin(uow.repository, actor, "change services and their integrations")
            return body(uow.session, at)

        return self.shell.execute(kind, None, run)

    def services(self) -> list[ServiceRow]:
        """Return every service, by key."""
        return self.shell.read(
            lambda session: [
                _row(s) for s in session.scalars(select(Service).order_by(Service.key))
            ]
        )

    def choices(self) -> list[tuple[str, str]]:
        """Return each service as a `service` field offers it: (key, name), by name."""
        return self.shell.read(
            lambda session: [
                (str(key), str(name))
                for key, name in session.execute(
                    select(Service.key, Service.name).order_by(Service.name, Service.key)
                )
            ]
        )

    def service(self, key: str) -> ServiceRow:
        """Return one service; NotFound when there is none."""
        return self.shell.read(lambda session: _row(_service(session, key)))

    def save_service(
        self, key: str, fields: Mapping[str, Any], *, actor: str | None, create: bool
    ) -> ServiceRow:
        """Add a service (`create`) or change one; bad fields change nothing."""
        return self._save(key, fields, actor, create)[0]

    def put_service(
        self, key: str, fields: Mapping[str, Any], *, actor: str | None
    ) -> tuple[ServiceRow, bool]:
        """Add a service or change the one with this key (the API's PUT); say if it is new.

        Fields left out keep their values (or the defaults, for a new service).
        """
        return self._save(key, fields, actor, None)

    def _save(
        self, key: str, fields: Mapping[str, Any], actor: str | None, create: bool | None
    ) -> tuple[ServiceRow, bool]:
        key = str(key).strip()

        def run(uow: UnitOfWork, at: datetime) -> tuple[ServiceRow, bool]:
            if actor is not None:
                require_admin(uow.repository, actor, "change services and their integrations")
            session = uow.session
            found = _find(session, key)
            if create and found is not None:
                raise Conflict(f"there is already a service '{key}'")
            if create is False and found is None:
                raise NotFound(f"there is no service '{key}'")
            values = _checked(session, key, fields, found)
            if found is None and "severity_rules" not in fields:  # the defaults it can take
                values["severity_rules"] = self._levels_of(uow.repository, values)
            sending = found is not None and _has_integrations(session, found.id)
            self._check_incidents(uow.repository, key, values, whole=sending)
            owner = found.owner_group if found is not None else None
            row = found or Service(key=key, created_at=at)
            for name, value in values.items():
                setattr(row, name, value)
            row.updated_at = at
            if found is None:
                session.add(row)
            elif row.owner_group != owner:
                _read_figures_again(session, key)
            session.flush()
            return _row(row), found is None

        return self.shell.execute("service", None, run)

    def _levels_of(self, repo: Repository, values: dict[str, Any]) -> dict[str, str]:
        """The default severity rules less the levels the service's workflow does not have."""
        _version, workflow = self.shell.registry.latest_workflow(repo, values["workflow_key"])
        rules: dict[str, str] = values["severity_rules"]
        return {k: v for k, v in rules.items() if v in workflow.priorities}

    def _check_incidents(
        self, repo: Repository, key: str, values: dict[str, Any], *, whole: bool
    ) -> None:
        """Refuse a service whose alerts could not open an incident of its workflow.

        Each severity rule must name one of the workflow's priorities, and each value of
        its start data must be one the start form takes; once alerts can come (`whole`:
        the service has an integration, or is getting one), the start data with an
        alert's summary and description must fill in the whole form. The intake would
        otherwise answer every alert with a fault. The start form's service field
        (`start.service`) is the intake's to answer, with this service.
        """
        _version, workflow = self.shell.registry.latest_workflow(repo, values["workflow_key"])
        rules, levels = values["severity_rules"], workflow.priorities
        choices = ", ".join(levels) or "none: the workflow declares no priorities"
        problems = [
            Problem(f"/severity_rules/{severity}", f"'{level}' is not a priority of "
                    f"{workflow.key}; choose one of: {choices}")
            for severity, level in rules.items()
            if level not in levels
        ]  # fmt: skip
        data = values["start_data"]
        unfit = [Problem(f"/start_data{p.pointer}", p.message) for p in value_problems(data)]
        problems += unfit
        field = workflow.start.get("service")
        if field in data:
            problems.append(
                Problem(
                    f"/start_data/{field}",
                    f"start_data/{field}: an alert's incident is this service's; leave it out",
                )
            )
        if not unfit:
            sample = alert_data(data, "An alert", "What the alert says")
            try:
                self.shell.check_start_data(
                    repo, workflow, {**sample, **({field: key} if field else {})}
                )
            except InvalidData as error:
                given = [
                    e
                    for e in error.fields
                    if e.field != field and (whole or e.field.split(".")[0] in sample)
                ]
                problems += [_start_problem(workflow.key, error) for error in given]
        if problems:
            raise InvalidInput("; ".join(p.message for p in problems), problems)

    def delete_service(self, key: str, *, actor: str | None) -> None:
        """Remove a service and its integrations; its incidents keep its key.

        Refused (Conflict) while a mailbox files its mail under it, or another service's
        start data or a mailbox's defaults answer a service field with it: each alert or
        mail that brings it would be refused."""

        def run(uow: UnitOfWork, at: datetime) -> None:
            if actor is not None:
                require_admin(uow.repository, actor, "change services and their integrations")
            session = uow.session
            row = _service(session, key)
            users = self._named_by(uow.repository, key)
            if users:
                raise Conflict(
                    f"the service '{key}' is named by {', '.join(users)}: change it first"
                )
            session.execute(delete(Integration).where(Integration.service_id == row.id))
            session.delete(row)
            _read_figures_again(session, key)

        self.shell.execute("service", None, run)

    def _named_by(self, repo: Repository, key: str) -> list[str]:
        """What names the service: mailboxes filing under it, and the service fields of other
        services' start data and of mailboxes' defaults."""
        connection = repo.connection
        found = [
            f"the mailbox {address}"
            for address in connection.scalars(
                select(Mailbox.address).where(Mailbox.service_key == key).order_by(Mailbox.address)
            )
        ]
        starts = [
            (f"the start data of the service '{other}'", workflow, data)
            for other, workflow, data in connection.execute(
                select(Service.key, Service.workflow_key, Service.start_data)
                .where(Service.key != key)
                .order_by(Service.key)
            )
        ]
        starts += [
            (f"the defaults of the mailbox {address}", workflow, data)
            for address, workflow, data in connection.execute(
                select(Mailbox.address, Mailbox.workflow_key, Mailbox.defaults).order_by(
                    Mailbox.address
                )
            )
        ]
        return found + [
            owner
            for owner, workflow, data in starts
            if key in self._services_answered(repo, workflow, data or {})
        ]

    def _services_answered(
        self, repo: Repository, workflow_key: str, data: Mapping[str, Any]
    ) -> set[Any]:
        """The answers `data` gives the service fields of a workflow's start form."""
        try:
            _version, workflow = self.shell.registry.latest_workflow(repo, workflow_key)
            form_key = workflow.start.get("form")
            form = self.shell.forms.latest(repo, form_key)[1] if form_key else None
        except NotFound:
            return set()
        if form is None:
            return set()
        return {data.get(f["key"]) for f in form.fields if f["type"] == "service"}

    def integrations(self, service_key: str | None = None) -> list[IntegrationRow]:
        """Return the integrations of one service (or all), newest first."""

        def body(session: Session) -> list[IntegrationRow]:
            query = (
                select(Integration, Service.key)
                .join(Service, Service.id == Integration.service_id)
                .order_by(Integration.id.desc())
            )
            if service_key is not None:
                query = query.where(Service.key == _service(session, service_key).key)
            return [
                IntegrationRow(
                    i.id, key, i.kind, i.name, bool(i.secret), i.mapping, i.created_at, i.revoked_at
                )
                for i, key in session.execute(query)
            ]

        return self.shell.read(body)

    def add_integration(
        self,
        service_key: str,
        kind: str,
        name: str,
        *,
        actor: str | None,
        secret: str | None = None,
        mapping: Mapping[str, Any] | None = None,
    ) -> tuple[int, str]:
        """Make an integration's token; return its id and the token, shown this once."""
        problems = _integration_problems(kind, name, secret, mapping)
        if problems:
            raise InvalidInput(problems[0].message, problems)
        token = secrets.token_hex(16)  # 32 characters, as a PagerDuty routing key is

        def run(uow: UnitOfWork, at: datetime) -> tuple[int, str]:
            if actor is not None:
                require_admin(uow.repository, actor, "change services and their integrations")
            session = uow.session
            service = _service(session, service_key)
            # Alerts can come from now on: the service must be able to open their incidents.
            values = {
                "workflow_key": service.workflow_key,
                "severity_rules": dict(service.severity_rules),
                "start_data": dict(service.start_data),
            }
            try:
                self._check_incidents(uow.repository, service.key, values, whole=True)
            except InvalidInput as refused:
                raise InvalidInput(
                    f"the service '{service.key}' cannot open an incident for an alert yet; "
                    f"set its start data and rules first: {refused.message}",
                    refused.problems,
                ) from None
            row = Integration(
                service_id=service.id,
                kind=kind,
                name=name.strip(),
                token_hash=secret_hash(token),
                secret=secret or None,
                mapping=dict(mapping) if mapping is not None else None,
                created_by=actor,
                created_at=at,
            )
            session.add(row)
            session.flush()
            return row.id, token

        return self.shell.execute("integration", None, run)

    def revoke_integration(self, integration_id: int, *, actor: str | None) -> None:
        """Revoke an integration's token: its sender is refused from now on."""

        def body(session: Session, at: datetime) -> None:
            row = session.get(Integration, integration_id) if is_row_id(integration_id) else None
            if row is None:
                raise NotFound(f"there is no integration {integration_id}")
            row.revoked_at = row.revoked_at or at

        self._as_admin("integration", actor, body)


def _start_problem(workflow: str, error: FieldError) -> Problem:
    """Place a start form's complaint about an alert's sample data: its start data, or the
    workflow itself when the form does not take the summary and description alerts fill."""
    if error.field in ("summary", "description"):
        return Problem(
            "/workflow_key",
            f"{workflow}'s start form must take an alert's summary and description: "
            f"{error.message}",
        )
    return Problem(f"/start_data{error.pointer}", f"start_data{error.pointer}: {error.message}")


def _has_integrations(session: Session, service_id: int) -> bool:
    """Tell whether alerts can come to a service: it has an integration not revoked."""
    return (
        session.scalar(
            select(Integration.id)
            .where(Integration.service_id == service_id, Integration.revoked_at.is_(None))
            .limit(1)
        )
        is not None
    )


def _find(session: Session, key: str) -> Service | None:
    if not KEY_PATTERN.match(key):
        return None
    return session.scalar(select(Service).where(Service.key == key))


def _service(session: Session, key: str) -> Service:
    found = _find(session, key)
    if found is None:
        raise NotFound(f"there is no service '{key}'")
    return found


def _row(s: Service) -> ServiceRow:
    return ServiceRow(
        s.key,
        s.name,
        s.description,
        s.owner_group,
        s.schedule_key,
        s.policy_key,
        s.calendar,
        s.workflow_key,
        dict(s.severity_rules),
        dict(s.start_data),
        s.refire,
    )


def _text(fields: Mapping[str, Any], name: str, default: Any) -> Any:
    value = fields.get(name, default)
    return value.strip() if isinstance(value, str) else value


def _checked(
    session: Session, key: str, fields: Mapping[str, Any], found: Service | None
) -> dict[str, Any]:
    """Return a service's new column values, or refuse them all saying where and why."""
    known = {
        "name",
        "description",
        "owner_group",
        "schedule_key",
        "policy_key",
        "calendar",
        "workflow_key",
        "severity_rules",
        "start_data",
        "refire",
    }
    problems = [
        Problem(f"/{name}", f"'{name}' is not a field of a service")
        for name in fields
        if name not in known
    ]
    if found is None and not KEY_PATTERN.match(key):
        problems.append(
            Problem(
                "/key", "a key is 1 to 80 lower-case letters, digits, dots, dashes or underscores"
            )
        )
    old = _row(found) if found is not None else None
    values: dict[str, Any] = {}
    values["name"] = _text(fields, "name", old.name if old else "") or ""
    if not values["name"]:
        problems.append(Problem("/name", "give the service a name, e.g. Payments"))
    problems += name_problems(values["name"])
    values["description"] = _text(fields, "description", old.description if old else "") or ""
    if not isinstance(values["description"], str) or len(values["description"]) > 2000:
        problems.append(Problem("/description", "a description is text of at most 2000 characters"))
    elif any(c < " " and c not in "\n\t" for c in values["description"]):
        problems.append(Problem("/description", "a description holds no control characters"))
    for name in ("owner_group", "schedule_key", "policy_key", "calendar"):
        value = _text(fields, name, getattr(old, name) if old else None) or None
        if value is not None and (not isinstance(value, str) or not KEY_PATTERN.match(value)):
            problems.append(Problem(f"/{name}", f"'{value}' is not a key"))
        values[name] = value
    group = values["owner_group"]
    if (
        group
        and KEY_PATTERN.match(group)
        and session.scalar(select(Group.id).where(Group.key == group)) is None
    ):
        problems.append(Problem("/owner_group", f"there is no group '{group}'"))
    for name, model, what in (
        ("schedule_key", OnCallSchedule, "on-call schedule"),
        ("policy_key", EscalationPolicy, "escalation policy"),
    ):
        wanted = values[name]
        if (
            wanted
            and isinstance(wanted, str)
            and KEY_PATTERN.match(wanted)
            and session.scalar(select(model.id).where(model.key == wanted)) is None
        ):
            problems.append(Problem(f"/{name}", f"there is no {what} '{wanted}'"))
    workflow = _text(fields, "workflow_key", old.workflow_key if old else DEFAULT_WORKFLOW) or ""
    if (
        not isinstance(workflow, str)
        or not KEY_PATTERN.match(workflow)
        or session.scalar(
            select(Definition.id).where(Definition.kind == "workflow", Definition.key == workflow)
        )
        is None
    ):
        problems.append(Problem("/workflow_key", f"there is no workflow '{workflow}'"))
    values["workflow_key"] = workflow
    rules = fields.get("severity_rules", old.severity_rules if old else DEFAULT_SEVERITY_RULES)
    if (
        not isinstance(rules, dict)
        or len(rules) > MAX_SEVERITY_RULES
        or not all(_severity_word(k) and _severity_word(v) for k, v in rules.items())
    ):
        problems.append(
            Problem(
                "/severity_rules",
                'severity rules map a severity to a priority: {"critical": "P1"}; at most '
                f"{MAX_SEVERITY_RULES}, each a word of one line of at most "
                f"{MAX_SEVERITY_WORD} characters",
            )
        )
    else:
        rules = {k.strip().lower(): v.strip() for k, v in rules.items()}
    values["severity_rules"] = rules
    data = fields.get("start_data", old.start_data if old else {})
    if not isinstance(data, dict):
        problems.append(
            Problem("/start_data", "the start data is a JSON object of start form values")
        )
    values["start_data"] = data
    refire = _text(fields, "refire", old.refire if old else "new")
    if refire not in REFIRE_POLICIES:
        problems.append(Problem("/refire", "choose new (a new incident) or reopen"))
    values["refire"] = refire
    if problems:
        raise InvalidInput("; ".join(p.message for p in problems), problems)
    return values


def _integration_problems(
    kind: str, name: str, secret: str | None, mapping: Mapping[str, Any] | None
) -> list[Problem]:
    problems = []
    if kind not in INTEGRATION_KINDS:
        problems.append(Problem("/kind", f"choose one of: {', '.join(INTEGRATION_KINDS)}"))
    if not name.strip() or len(name) > 120 or any(ord(c) < 32 for c in name):
        problems.append(Problem("/name", "give the integration a name of at most 120 characters"))
    if secret is not None and (kind != "grafana" or len(secret) > 200):
        problems.append(
            Problem(
                "/secret",
                "only a Grafana integration has a signing secret (at most 200 characters)",
            )
        )
    if kind == "generic":
        if not isinstance(mapping, Mapping) or not mapping.get("title"):
            problems.append(
                Problem("/mapping", "a generic integration needs a mapping with at least a title")
            )
        else:
            problems += _mapping_problems(mapping)
    elif mapping is not None:
        problems.append(Problem("/mapping", "only a generic integration has a mapping"))
    return problems


#: Plain text in a mapping that is surely a path written without its leading slash.
LIKE_A_PATH = re.compile(r"^[A-Za-z_]\w*(?:[./]\w+)+$")


#: The most severity rules a service keeps, and the longest word of one (a kept alert's
#: severity is 40 characters).
MAX_SEVERITY_RULES = 100
MAX_SEVERITY_WORD = 40


def _severity_word(word: Any) -> bool:
    return (
        isinstance(word, str) and 0 < len(word.strip()) <= MAX_SEVERITY_WORD and word.isprintable()
    )


def _mapping_problems(mapping: Mapping[str, Any]) -> list[Problem]:
    """Check a generic mapping as it is saved, not on the first alert: each field a JSON
    pointer or a template that compiles (its filters exist), and `statuses` a table of
    a sender's words to what they ask."""
    problems = []
    for field, rule in mapping.items():
        where = f"/mapping/{field}"
        if field == "statuses":
            problems += _statuses_problems(rule)
        elif field not in MAPPING_FIELDS:
            words = ", ".join((*MAPPING_FIELDS, "statuses"))
            problems.append(Problem(where, f"choose among: {words}"))
        elif not isinstance(rule, str) or not rule.strip() or len(rule) > 500:
            problems.append(
                Problem(where, "a JSON pointer or a template, as text of at most 500 characters")
            )
        elif not rule.startswith("/"):
            if LIKE_A_PATH.match(rule):  # taken as text, every alert would say it
                meant = "/" + rule.replace(".", "/")
                message = f"'{rule}' reads as text; a JSON pointer starts with /: '{meant}'"
                problems.append(Problem(where, message))
                continue
            try:
                compile_template(rule)
            except ExpressionError as error:
                problems.append(Problem(where, str(error)))
    return problems


def _statuses_problems(statuses: Any) -> list[Problem]:
    where, actions = "/mapping/statuses", ", ".join(signals.ACTIONS)
    if not isinstance(statuses, Mapping) or len(statuses) > signals.MAX_STATUS_WORDS:
        message = (
            f"an object of at most {signals.MAX_STATUS_WORDS} words, each to one of: {actions}"
        )
        return [Problem(where, message)]
    problems = []
    for word, action in statuses.items():
        if not signals.status_word(word) or len(word) > signals.MAX_STATUS_WORD:
            message = f"'{word[:80]}': a word of 1 to {signals.MAX_STATUS_WORD} characters"
            problems.append(Problem(where, message))
        elif action not in signals.ACTIONS:
            problems.append(Problem(f"{where}/{word}", f"choose one of: {actions}"))
    return problems


def _read_figures_again(session: Session, key: str) -> None:
    """Drop the figures of the service's incidents, whose team (when they name none) is the
    service's owner group as it was when they were read: Insight reads them again, with the
    owner group as it is now (`engine.service.figures`: incidents without figures are
    looked for first)."""
    session.execute(delete(IncidentFigures).where(IncidentFigures.service_key == key))
