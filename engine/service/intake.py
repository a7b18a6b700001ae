"""Monitoring intake: alerts from Alertmanager, Grafana, PagerDuty-style and generic senders.

Every `/intake/<kind>` door calls `Intake.receive` with the token, the raw body and its
parsed JSON. The token names an integration, and so a service; the body is read by its
kind's published format (`engine.service.signals`); then one transaction does what the
signal asks of the incident its de-duplication key names:

- **trigger**: no incident yet for the key: one starts (the service's workflow, start
  data, severity -> priority rule, `service_key`); an open one: the alert is appended
  and the timeline says so (a group resolved before and firing again says "fired
  again"); an ended one: a new incident, or the ended one reopened when the service's
  `refire` policy says `reopen` and its workflow can be reopened. Never silently onto a
  closed one.
- **acknowledge**: the incident is acknowledged: its response clock stops.
- **resolve**: the timeline records the alert resolved, the key's state says so; the
  workflow's own steps decide when the incident itself is resolved.

Every accepted payload is kept raw on its incident (`alerts`). A payload equal to the
last one kept for its key is a sender's retry: it changes nothing. A body that is not
its format is `InvalidInput` (a 4xx) with nothing stored; a service whose start data
does not fill its workflow's start form is our fault (`IntakeFault`, a 5xx, so the
sender keeps the alert and tries again once it is fixed).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update

from engine.core.errors import Problem
from engine.core.events import Acknowledged, PriorityChanged, Reopened
from engine.core.values import keepable, map_texts
from engine.service import paging, signals, sns
from engine.service.apply import record_events
from engine.service.catalogue import alert_data
from engine.service.commands import Commands
from engine.service.errors import Conflict, InvalidInput, NotAllowed, NotFound, ServiceError
from engine.service.person import secret_hash
from engine.service.signals import BadPayload, Signal
from engine.settings import INTAKE_REPLAY_WINDOW_S
from engine.store.directory import Directory
from engine.store.instances import Event, Instance
from engine.store.repository import InstanceRow, Repository
from engine.store.services import Alert, AlertKey, Integration, Service
from engine.store.uow import UnitOfWork

log = logging.getLogger(__name__)


class UnknownIntegration(ServiceError):
    """No integration holds this token, or it was revoked."""

    code = "unauthorized"


class IntakeFault(ServiceError):
    """Our side cannot take the alert (a service set up wrong): the sender should retry."""

    code = "intake_fault"


@dataclass(frozen=True, slots=True)
class Door:
    """An integration and its service, as the intake needs them."""

    id: int
    kind: str
    name: str
    secret: str | None
    mapping: dict[str, Any] | None
    service_key: str
    workflow_key: str
    severity_rules: dict[str, str]
    start_data: dict[str, Any]
    refire: str
    #: The escalation policy the service names, run on each incident it opens.
    policy_key: str | None = None

    @property
    def actor(self) -> str:
        """Who the timeline says acted: the integration."""
        return f"{self.kind}:{self.name}"[:80]


@dataclass(frozen=True, slots=True)
class Received:
    """What one payload did (`outcome`: created, appended, reopened, ...)."""

    outcome: str
    key: str
    number: str | None = None


@dataclass(frozen=True, slots=True)
class AlertView:
    """One kept payload, as the instance page's "Alerts" section lists it."""

    id: int
    received_at: datetime
    integration: str
    kind: str
    action: str
    severity: str | None
    summary: str
    key: str
    body: str


class Intake:
    """The monitoring intake over the commands' transaction shell."""

    def __init__(self, commands: Commands, fetch: sns.Fetch = sns.fetch) -> None:
        self.commands = commands
        #: How the SNS subscription handshake visits its URL (a test gives a fake SNS).
        self.fetch = fetch

    # Receiving ---------------------------------------------------------------------------

    def receive(
        self,
        kind: str,
        token: str,
        raw: bytes,
        body: Any,
        *,
        signature: str | None = None,
        timestamp: str | None = None,
    ) -> Received:
        """Take one payload of `kind` sent with `token`; return what it did."""
        door = self._door(token)
        if door.kind != kind:
            message = (
                f"this token belongs to a {door.kind} integration: send to /intake/{door.kind}"
            )
            raise InvalidInput(message, [Problem("/token", message)])
        if door.secret:
            _check_signature(door.secret, raw, signature, timestamp, self.commands.clock())
        url = sns.subscribe_url(body) if kind == "generic" else None
        if url is not None:
            return self._subscribe(door, url)
        try:
            signal = signals.read(kind, body, door.mapping)
        except BadPayload as bad:
            raise InvalidInput(
                f"this is not a {kind} payload: {bad}", [Problem("", p) for p in bad.problems]
            ) from None
        if signal.action == "ignore":  # a notice that asks nothing: a downtime, a note
            return Received("ignored", signal.key)
        digest = hashlib.sha256(raw).hexdigest()
        body = _without_token(body, token)

        def run(uow: UnitOfWork, at: datetime) -> Received:
            most = self._most_urgent(uow.repository, door, signal)
            return self._apply(uow, at, door, most, body, digest)

        return self.commands.execute("intake", None, run)

    def _subscribe(self, door: Door, url: str) -> Received:
        """Confirm an AWS SNS subscription to this integration (see `engine.service.sns`)."""
        problem = sns.url_problem(url)
        if problem:
            raise InvalidInput(f"this is not an SNS subscription confirmation: {problem}")
        try:
            status = self.fetch(url)
        except OSError as error:
            status, why = 0, str(error)
        else:
            why = f"SNS answered {status}"
        if not 200 <= status < 300:  # a 5xx: SNS sends the confirmation again
            raise IntakeFault(f"the SNS subscription of {door.name} is not confirmed: {why}")
        log.info("the SNS subscription of integration %s is confirmed", door.name)
        return Received("subscribed", "")

    def _most_urgent(self, repo: Repository, door: Door, signal: Signal) -> Signal:
        """A group with no severity in common takes the one of its firing alerts that the
        service's rules rank most urgent (the workflow's priorities come most urgent first)."""
        ruled = [word for word in signal.severities if word in door.severity_rules]
        if signal.severity or not ruled:
            return signal
        try:
            _version, workflow = self.commands.registry.latest_workflow(repo, door.workflow_key)
        except NotFound:  # opening its incident says so, as our fault (`_open`)
            return signal
        ranks = {level: rank for rank, level in enumerate(workflow.priorities)}
        most = min(ruled, key=lambda word: ranks.get(door.severity_rules[word], len(ranks)))
        return replace(signal, severity=most)

    def _door(self, token: str) -> Door:
        if not token or len(token) > 200:
            raise UnknownIntegration(
                "send the integration's token (Authorization: Bearer, or ?token=)"
            )

        def read(session: Any) -> Door | None:
            row = session.execute(
                select(Integration, Service)
                .join(Service, Service.id == Integration.service_id)
                .where(Integration.token_hash == secret_hash(token))
            ).first()
            if row is None or row[0].revoked_at is not None:
                return None
            i, s = row
            return Door(
                i.id,
                i.kind,
                i.name,
                i.secret,
                i.mapping,
                s.key,
                s.workflow_key,
                dict(s.severity_rules),
                dict(s.start_data),
                s.refire,
                s.policy_key,
            )

        door = self.commands.read(read)
        if door is None:
            raise UnknownIntegration("no integration has this token, or it was revoked")
        return door

    def _apply(
        self,
        uow: UnitOfWork,
        at: datetime,
        door: Door,
        signal: Signal,
        body: Any,
        digest: str,
    ) -> Received:
        repo = uow.repository
        found = _key_row(repo, door.id, signal.key)
        instance = repo.lock_instance(found.instance_id) if found is not None else None
        if found is not None:
            found = _key_row(repo, door.id, signal.key)  # as it is now we hold the lock
        # A sender's retry changes nothing; an alert firing again, the same to the byte,
        # after its incident ended (Alertmanager repeats a group unchanged) is not a retry.
        ended = instance is not None and instance.ended_at is not None
        retried = signal.action != "trigger" or not ended
        if found is not None and retried and _last_digest(repo, door.id, signal.key) == digest:
            number = instance.number if instance is not None else None
            return Received("repeated", signal.key, number)
        if signal.action == "trigger":
            return self._trigger(uow, at, door, signal, body, digest, found, instance)
        if found is None or instance is None:
            return Received("ignored", signal.key)  # nothing open under this key: nothing to do
        _keep(repo, door, signal, body, digest, instance, at)
        if instance.ended_at is not None:
            _set_state(
                repo, found.id, "resolved" if signal.action == "resolve" else found.state, at
            )
            return Received("ignored", signal.key, instance.number)
        if signal.action == "acknowledge":
            if found.state != "acknowledged":
                why = f"acknowledged by {door.actor}"
                self.commands.advance(uow, instance, Acknowledged(why, door.actor), at, None)
                _set_state(repo, found.id, "acknowledged", at)
            return Received("acknowledged", signal.key, instance.number)
        why = f"{signal.summary}: resolved at the sender"
        _note(repo, instance, "alerts_resolved", door, why, signal, at)
        _set_state(repo, found.id, "resolved", at)
        return Received("resolved", signal.key, instance.number)

    def _trigger(
        self,
        uow: UnitOfWork,
        at: datetime,
        door: Door,
        signal: Signal,
        body: Any,
        digest: str,
        found: AlertKey | None,
        instance: InstanceRow | None,
    ) -> Received:
        repo = uow.repository
        if found is not None and instance is not None and instance.ended_at is None:
            _keep(repo, door, signal, body, digest, instance, at)
            kind = "alert_refired" if found.state == "resolved" else "alert"
            _note(repo, instance, kind, door, _words(signal), signal, at)
            state = "acknowledged" if found.state == "acknowledged" else "firing"
            _set_state(repo, found.id, state, at)
            return Received("appended", signal.key, instance.number)
        if found is not None and instance is not None and door.refire == "reopen":
            workflow = self.commands.registry.workflow(repo, instance.workflow_version_id)
            rule = workflow.doc.get("reopen")
            if rule and instance.state.get("outcome") not in ("cancelled", "duplicate"):
                why = f"the alert fired again: {signal.summary}"[:2000]
                self.commands.advance(
                    uow, instance, Reopened(rule["to"], why, door.actor), at, None
                )
                again = repo.lock_instance(instance.id)
                assert again is not None  # locked in this transaction already
                _keep(repo, door, signal, body, digest, again, at)
                _set_state(repo, found.id, "firing", at)
                return Received("reopened", signal.key, again.number)
        number, instance_id = self._open(uow, at, door, signal)
        new = repo.lock_instance(instance_id)
        assert new is not None  # started in this transaction
        _keep(repo, door, signal, body, digest, new, at)
        _note(repo, new, "alert", door, _words(signal), signal, at)
        if door.policy_key:
            paging.begin(self.commands.registry, repo, new, door.policy_key, at)
        if found is None:
            repo.connection.execute(
                insert(AlertKey),
                {
                    "integration_id": door.id,
                    "dedup_key": signal.key,
                    "instance_id": instance_id,
                    "state": "firing",
                    "updated_at": at,
                },
            )
        else:
            repo.connection.execute(
                update(AlertKey)
                .where(AlertKey.id == found.id)
                .values(instance_id=instance_id, state="firing", updated_at=at)
            )
        return Received("created", signal.key, number)

    def _open(self, uow: UnitOfWork, at: datetime, door: Door, signal: Signal) -> tuple[str, int]:
        """Start the service's workflow for an alert; return its number and id."""
        repo = uow.repository
        data = alert_data(door.start_data, signal.summary, signal.description)

        try:
            answer = self.commands.begin(
                uow,
                at,
                door.workflow_key,
                data,
                source="monitoring",
                page=False,
                service=door.service_key,
            )
        except (InvalidInput, NotFound) as error:
            raise IntakeFault(
                f"the service '{door.service_key}' cannot open an incident: {error.message}"
            ) from None
        instance_id, number = int(answer["instance_id"]), str(answer["number"])
        level = door.severity_rules.get(signal.severity or "")
        instance = repo.lock_instance(instance_id)
        if (
            level
            and instance is not None
            and instance.ended_at is None
            and instance.priority != level
        ):
            why = f"the alert's severity is {signal.severity}"
            try:
                self.commands.advance(
                    uow, instance, PriorityChanged(level, why, door.actor), at, None
                )
            except InvalidInput as error:
                raise IntakeFault(
                    f"the service '{door.service_key}' maps {signal.severity} to {level}: "
                    f"{error.message}"
                ) from None
        return number, instance_id

    # Acknowledging from the desk ---------------------------------------------------------

    def acknowledge(self, number: str, *, actor: str) -> Received:
        """Acknowledge an open incident as the service desk: its response clock stops."""

        def run(uow: UnitOfWork, at: datetime) -> Received:
            repo = uow.repository
            if not repo.is_agent(actor):
                raise NotAllowed(f"only the service desk acknowledges {number}")
            instance = self.commands.locked_instance(repo, number)
            if instance.ended_at is not None:
                raise Conflict(f"{number} has ended ({instance.status})")
            keys = repo.connection.execute(
                select(AlertKey.id, AlertKey.state).where(AlertKey.instance_id == instance.id)
            ).all()
            if keys and all(state == "acknowledged" for _, state in keys):
                raise Conflict(f"{number} is acknowledged already")
            if not keys and acknowledged(repo, instance.id):
                raise Conflict(f"{number} is acknowledged already")
            self.commands.advance(
                uow, instance, Acknowledged(f"acknowledged by {actor}", actor), at, None
            )
            for key_id, state in keys:
                if state == "firing":
                    _set_state(repo, key_id, "acknowledged", at)
            return Received("acknowledged", "", number)

        return self.commands.execute("acknowledge", None, run, request=(number, actor))

    # Reading -----------------------------------------------------------------------------

    def alerts(self, number: str, *, viewer: str) -> list[AlertView]:
        """Return the payloads kept on an instance, oldest first (the service desk only)."""

        def read(session: Any) -> list[AlertView]:
            rows = session.execute(
                select(Alert, Integration.name)
                .join(Instance, Instance.id == Alert.instance_id)
                .join(Integration, Integration.id == Alert.integration_id)
                .where(Instance.number == number)
                .order_by(Alert.id)
            ).all()
            return [
                AlertView(
                    a.id,
                    a.received_at,
                    name,
                    a.kind,
                    a.action,
                    a.severity,
                    a.summary,
                    a.dedup_key,
                    json.dumps(a.body, indent=2, ensure_ascii=False, sort_keys=True),
                )
                for a, name in rows
            ]

        if not self.commands.read(lambda session: _is_agent(session, viewer)):
            return []
        return self.commands.read(read)


def acknowledged(repo: Repository, instance_id: int) -> bool:
    """Tell whether the instance's last acknowledgement stands: no `unacknowledged` since
    (an acknowledgement a policy's `acknowledge_within` ran out of)."""
    last = repo.connection.scalar(
        select(Event.kind)
        .where(
            Event.instance_id == instance_id,
            Event.kind.in_(("acknowledged", "unacknowledged")),
        )
        .order_by(Event.seq.desc())
        .limit(1)
    )
    return last == "acknowledged"


def _is_agent(session: Any, username: str) -> bool:
    return Directory(session.connection(), row_locks=False).is_agent(username)


def _key_row(repo: Repository, integration_id: int, key: str) -> AlertKey | None:
    row = repo.connection.execute(
        select(AlertKey.__table__).where(
            AlertKey.integration_id == integration_id, AlertKey.dedup_key == key
        )
    ).first()
    return row  # type: ignore[return-value]  # a Row with AlertKey's columns


def _last_digest(repo: Repository, integration_id: int, key: str) -> str | None:
    return repo.connection.scalar(
        select(Alert.digest)
        .where(Alert.integration_id == integration_id, Alert.dedup_key == key)
        .order_by(Alert.id.desc())
        .limit(1)
    )


def _set_state(repo: Repository, key_id: int, state: str, at: datetime) -> None:
    repo.connection.execute(
        update(AlertKey).where(AlertKey.id == key_id).values(state=state, updated_at=at)
    )


#: What a kept payload shows in place of the integration's token (PagerDuty's
#: `routing_key`, or a sender that repeats it in its body): the desk sees the alerts,
#: and only an admin may see a token, once, as it is made.
TOKEN_KEPT_AS = "(the integration's token)"


def _without_token(body: Any, token: str) -> Any:
    """The body as it is kept: each text equal to the token replaced."""
    return map_texts(body, lambda text: TOKEN_KEPT_AS if text == token else text)


def _keep(
    repo: Repository,
    door: Door,
    signal: Signal,
    body: Any,
    digest: str,
    instance: InstanceRow,
    at: datetime,
) -> None:
    repo.connection.execute(
        insert(Alert),
        {
            "instance_id": instance.id,
            "integration_id": door.id,
            "kind": door.kind,
            "dedup_key": signal.key,
            "action": signal.action,
            "severity": (signal.severity or None) and signal.severity[:40],
            "summary": signal.summary[:500],
            "digest": digest,
            "body": keepable(body),
            "received_at": at,
        },
    )


def _words(signal: Signal) -> str:
    """Say what a group's payload held: how many firing, resolved, and left out."""
    parts = [signal.summary]
    if signal.firing or signal.resolved:
        parts.append(f"{signal.firing} firing, {signal.resolved} resolved")
    if signal.truncated:
        parts.append(f"{signal.truncated} more left out by the sender (not taken as resolved)")
    return "; ".join(parts)[:2000]


def _note(
    repo: Repository,
    instance: InstanceRow,
    kind: str,
    door: Door,
    why: str,
    signal: Signal,
    at: datetime,
) -> None:
    event = {
        "kind": kind,
        "at": at,
        "actor": door.actor,
        "why": why,
        "detail": {"key": signal.key, "severity": signal.severity, "integration": door.name},
    }
    record_events(repo, instance, [event], None, at)


def _check_signature(
    secret: str, raw: bytes, signature: str | None, timestamp: str | None, now: datetime
) -> None:
    """Check Grafana's HMAC-SHA256 signature, over `timestamp:body` when it sends a timestamp."""
    if not signature:
        raise UnknownIntegration(
            "this integration signs its payloads: the signature header is missing"
        )
    message = raw
    if timestamp is not None:
        try:
            sent = float(timestamp)
        except ValueError:
            sent = math.nan
        if not math.isfinite(sent):
            raise UnknownIntegration("the timestamp header is not a Unix time")
        if sent > 1e12:
            sent /= 1000  # milliseconds
        if abs(now.timestamp() - sent) > INTAKE_REPLAY_WINDOW_S:
            raise UnknownIntegration(
                f"the timestamp is more than {INTAKE_REPLAY_WINDOW_S} s away from now: "
                "a replay, or a clock to set right"
            )
        message = timestamp.encode() + b":" + raw
    expected = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    given = signature.strip().lower().removeprefix("sha256=")
    # As bytes: a header may hold any character, and only ASCII text compares as text.
    if not hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace")):
        raise UnknownIntegration("the signature does not match the body")
