"""What a monitoring payload says, read from each sender's published format.

Each reader turns one request body (already parsed JSON) into one `Signal`: the key
that de-duplicates it, what it asks (trigger, acknowledge, resolve), a summary, a
severity and a description. A body that is not the format gets `BadPayload`, listing
every problem found, so the sender is told at once (a 4xx) and does not retry.

- Alertmanager webhook, version 4 (prometheus.io/docs/alerting/latest/configuration/
  #webhook_config): one signal per group, keyed by `groupKey`; the group's `status`
  decides trigger or resolve. `truncatedAlerts` counts alerts left out of the body;
  they are never taken as resolved.
- Grafana alerting webhook: the same group shape (its `version` is "1"), keyed by
  `groupKey`, with Grafana's `title` and `message`.
- PagerDuty Events API v2 (`/v2/enqueue`): `event_action` trigger, acknowledge or
  resolve, keyed by `dedup_key`; a trigger without one is keyed by its body, as
  PagerDuty would make one up and answer it.
- Generic JSON: the integration's mapping template says where each field is (see
  `generic`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from engine.core.errors import ExpressionError
from engine.core.expressions.templates import compile_template
from engine.core.values import keepable, map_texts
from forms.hygiene import keepable_text

#: PagerDuty's severities, the only ones its Events API v2 accepts.
PAGERDUTY_SEVERITIES = ("critical", "error", "warning", "info")
PAGERDUTY_ACTIONS = ("trigger", "acknowledge", "resolve")
#: What a generic payload's status may say, and what it means: the words of the tools in
#: docs/intake.md (Datadog, Zabbix, Nagios and Icinga, New Relic, Azure Monitor, Sentry,
#: Opsgenie, CloudWatch, Google Cloud, Grafana's legacy alerts), read without regard to
#: case, spaces, hyphens or underscores ("Re-Triggered", "INSUFFICIENT_DATA"). `ignore`:
#: a notice that asks nothing of an incident (a downtime, a note), answered and dropped.
#: A tool whose words mean something else here (Uptime Kuma's 0 and 1) says so in the
#: mapping's `statuses`.
GENERIC_STATUSES = {
    **dict.fromkeys(
        (
            "trigger", "triggered", "retriggered", "firing", "fired", "alerting", "alarm",
            "problem", "open", "opened", "create", "created", "activated", "critical",
            "warning", "warn", "renotify", "nodata", "insufficientdata",
        ),
        "trigger",
    ),
    **dict.fromkeys(
        ("acknowledge", "acknowledged", "acknowledgement", "ack"), "acknowledge"
    ),
    **dict.fromkeys(
        ("resolve", "resolved", "ok", "recovered", "recovery", "close", "closed", "cleared"),
        "resolve",
    ),
    **dict.fromkeys(
        (
            "ignore", "custom", "addnote", "pending", "paused", "unacknowledge",
            "flappingstart", "flappingstop", "flappingend", "flappingdisabled",
            "downtimestart", "downtimeend", "downtimecancelled", "downtimeremoved",
        ),
        "ignore",
    ),
}  # fmt: skip
#: What a mapping's `statuses` may map a sender's word to.
ACTIONS = ("trigger", "acknowledge", "resolve", "ignore")
#: The longest word a mapping's `statuses` names, and how many it names.
MAX_STATUS_WORD = 80
MAX_STATUS_WORDS = 100


def status_word(value: str) -> str:
    """A status as it is looked up: lower case, without spaces, hyphens or underscores."""
    return "".join(c for c in value.lower() if c not in " -_")


#: Longest summary kept (PagerDuty's own limit), and longest de-duplication key.
MAX_SUMMARY = 1024
MAX_KEY = 255


class BadPayload(ValueError):
    """A body that is not what its sender's format says; `problems` lists each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class Signal:
    """What one payload asks of the incident its key names."""

    key: str
    action: str
    summary: str
    severity: str | None
    description: str
    #: Counts of the alerts in a group: firing, resolved, and left out by the sender.
    firing: int = 0
    resolved: int = 0
    truncated: int = 0
    #: A group's firing alerts' own severities, when the group has none in common: the
    #: intake takes the one its service ranks most urgent.
    severities: tuple[str, ...] = ()


def read(kind: str, body: Any, mapping: Mapping[str, Any] | None = None) -> Signal:
    """Read a payload of `kind`; BadPayload says what is wrong with it.

    Its texts come out fit to keep: no control character (PostgreSQL stores no NUL), and
    one line for the summary and severity (`forms.hygiene.keepable_text`).
    """
    if not isinstance(body, dict):
        raise BadPayload(["the body must be a JSON object"])
    if kind == "alertmanager":
        signal = alertmanager(body)
    elif kind == "grafana":
        signal = grafana(body)
    elif kind == "pagerduty":
        signal = pagerduty(body)
    else:
        signal = generic(body, mapping or {})
    severity = keepable_text(signal.severity or "", line_breaks=False)
    # The key as it came, but for what no database keeps (`_key` made it short already).
    key = keepable(signal.key) or "sha256:" + hashlib.sha256(repr(signal.key).encode()).hexdigest()
    return Signal(
        **{
            **_fields(signal),
            "key": key,
            "summary": keepable_text(signal.summary, line_breaks=False) or "Alert",
            "severity": severity or None,
            "description": keepable_text(signal.description, line_breaks=True),
            "severities": tuple(keepable_text(w, line_breaks=False) for w in signal.severities),
        }
    )


def _key(value: str) -> str:
    """A de-duplication key that fits its column: a long one is kept as its hash."""
    if len(value) <= MAX_KEY:
        return value
    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()


def _group(body: dict[str, Any], kind: str) -> tuple[list[str], list[dict[str, Any]]]:
    """Check the group shape Alertmanager and Grafana share; return problems and alerts."""
    problems = []
    if not isinstance(body.get("groupKey"), str) or not body["groupKey"]:
        problems.append("'groupKey' is missing: each group is de-duplicated by it")
    if body.get("status") not in ("firing", "resolved"):
        problems.append('\'status\' must be "firing" or "resolved"')
    alerts = body.get("alerts")
    if not isinstance(alerts, list):
        problems.append("'alerts' must be a list of alerts")
        alerts = []
    for index, alert in enumerate(alerts):
        if not isinstance(alert, dict):
            problems.append(f"alerts/{index} must be an object")
        elif alert.get("status") not in ("firing", "resolved"):
            problems.append(f'alerts/{index}/status must be "firing" or "resolved"')
        elif not isinstance(alert.get("labels", {}), dict):
            problems.append(f"alerts/{index}/labels must be an object")
    truncated = body.get("truncatedAlerts", 0)
    if not isinstance(truncated, int) or isinstance(truncated, bool) or truncated < 0:
        problems.append("'truncatedAlerts' must be a whole number, 0 or more")
    for name in ("groupLabels", "commonLabels", "commonAnnotations"):
        if not isinstance(body.get(name, {}), dict):
            problems.append(f"'{name}' must be an object")
    return problems, [a for a in alerts if isinstance(a, dict)]


def _labels(body: dict[str, Any], name: str) -> dict[str, Any]:
    found = body.get(name)
    return found if isinstance(found, dict) else {}


def _group_signal(body: dict[str, Any], alerts: list[dict[str, Any]], title: str) -> Signal:
    common, notes = _labels(body, "commonLabels"), _labels(body, "commonAnnotations")
    firing = sum(1 for alert in alerts if alert.get("status") == "firing")
    lines = []
    for alert in alerts:
        words = _labels(alert, "annotations").get("summary") or _labels(alert, "labels").get(
            "alertname", "an alert"
        )
        lines.append(f"[{alert.get('status')}] {words}")
    description = str(notes.get("description") or "\n".join(lines))
    severity = common.get("severity")
    own = (
        str(_labels(alert, "labels").get("severity") or "").lower()
        for alert in alerts
        if alert.get("status") == "firing"
    )
    return Signal(
        key=_key(body["groupKey"]),
        action="resolve" if body["status"] == "resolved" else "trigger",
        summary=title[:MAX_SUMMARY],
        severity=str(severity).lower() if severity else None,
        description=description,
        firing=firing,
        resolved=len(alerts) - firing,
        truncated=body.get("truncatedAlerts", 0),
        severities=() if severity else tuple(sorted({word for word in own if word})),
    )


def _group_title(body: dict[str, Any], alerts: list[dict[str, Any]]) -> str:
    """The group's summary or alert name in common; else its first firing alert's, with how
    many more and the labels the group is keyed by ("ProbeFailure and 2 more
    (cluster=prod-eu)")."""
    common, notes = _labels(body, "commonLabels"), _labels(body, "commonAnnotations")
    named = notes.get("summary") or common.get("alertname")
    if named:
        return str(named)
    labels = _labels(body, "groupLabels")
    keyed = ", ".join(f"{k}={v}" for k, v in sorted(labels.items()))
    firing = [alert for alert in alerts if alert.get("status") == "firing"] or alerts
    first = next(
        (
            _labels(alert, "annotations").get("summary")
            or _labels(alert, "labels").get("alertname")
            for alert in firing
        ),
        None,
    )
    if not first:
        return keyed or "Alert"
    more = f" and {len(firing) - 1} more" if len(firing) > 1 else ""
    return f"{first}{more}" + (f" ({keyed})" if keyed else "")


def alertmanager(body: dict[str, Any]) -> Signal:
    """Read an Alertmanager webhook (version 4) body."""
    problems, alerts = _group(body, "alertmanager")
    if body.get("version") != "4":
        problems.insert(0, "'version' must be \"4\" (the Alertmanager webhook format read here)")
    if problems:
        raise BadPayload(problems)
    return _group_signal(body, alerts, _group_title(body, alerts))


def grafana(body: dict[str, Any]) -> Signal:
    """Read a Grafana alerting webhook body."""
    problems, alerts = _group(body, "grafana")
    if problems and ("ruleName" in body or "evalMatches" in body):
        problems.insert(
            0,
            "this is the body of Grafana's legacy alerting (ruleName, state): send it to a "
            "generic integration, mapped as docs/intake.md shows",
        )
    if problems:
        raise BadPayload(problems)
    title = body.get("title") if isinstance(body.get("title"), str) else None
    signal = _group_signal(body, alerts, title or _group_title(body, alerts))
    message = body.get("message")
    if isinstance(message, str) and message.strip():
        return Signal(**{**_fields(signal), "description": message})
    return signal


def _fields(signal: Signal) -> dict[str, Any]:
    return {name: getattr(signal, name) for name in Signal.__slots__}


def pagerduty(body: dict[str, Any]) -> Signal:
    """Read a PagerDuty Events API v2 event, with its documented checks."""
    problems = []
    action = body.get("event_action")
    if action not in PAGERDUTY_ACTIONS:
        problems.append("'event_action' is missing or invalid (trigger, acknowledge or resolve)")
    dedup = body.get("dedup_key")
    if dedup is not None and (not isinstance(dedup, str) or not dedup or len(dedup) > MAX_KEY):
        problems.append(f"'dedup_key' must be text of 1 to {MAX_KEY} characters")
        dedup = None
    if action in ("acknowledge", "resolve") and not dedup:
        problems.append(f"'dedup_key' is required to {action} an alert")
    payload = body.get("payload")
    summary: Any = ""
    source: Any = ""
    severity: Any = None
    if action == "trigger":
        if not isinstance(payload, dict):
            problems.append("'payload' is missing: a trigger needs summary, source and severity")
        else:
            summary, source = payload.get("summary"), payload.get("source")
            severity = payload.get("severity")
            if not isinstance(summary, str) or not summary.strip():
                problems.append("'payload.summary' is missing")
            elif len(summary) > MAX_SUMMARY:
                problems.append(f"'payload.summary' is longer than {MAX_SUMMARY} characters")
            if not isinstance(source, str) or not source.strip():
                problems.append("'payload.source' is missing")
            if severity not in PAGERDUTY_SEVERITIES:
                problems.append(
                    "'payload.severity' must be one of: " + ", ".join(PAGERDUTY_SEVERITIES)
                )
    if problems:
        raise BadPayload(problems)
    if not dedup:
        dedup = hashlib.sha256(repr(sorted(body.items())).encode()).hexdigest()[:32]
    description = ""
    if isinstance(payload, dict):
        details = payload.get("custom_details")
        parts = [f"source: {source}"] if source else []
        if isinstance(payload.get("component"), str):
            parts.append(f"component: {payload['component']}")
        if details is not None:
            shown = details if isinstance(details, str) else _json(details)
            parts.append(f"details: {shown}")
        for link in payload.get("links") or body.get("links") or ():
            if isinstance(link, dict) and isinstance(link.get("href"), str):
                parts.append(f"link: {link.get('text') or link['href']} <{link['href']}>")
        if isinstance(body.get("client_url"), str):
            parts.append(f"{body.get('client') or 'sender'}: {body['client_url']}")
        description = "\n".join(parts)
    return Signal(
        key=str(dedup),
        action=str(action),
        summary=str(summary or f"{action} {dedup}"),
        severity=severity,
        description=description,
    )


def generic(body: dict[str, Any], mapping: Mapping[str, Any]) -> Signal:
    """Read any JSON body by a mapping: each field a JSON pointer (`/a/b`) or a template.

    A template reads the body as `body` (`{{ body.message.text }}`). `status` maps to an
    action by the mapping's own `statuses`, then `GENERIC_STATUSES` (no status mapped:
    trigger; one mapped that gives nothing: refused); no `dedup_key`: the title.
    """
    found: dict[str, str | None] = {}
    problems: list[str] = []
    unread: set[str] = set()
    for field in ("title", "dedup_key", "severity", "status", "description"):
        rule, found[field] = mapping.get(field), None
        if rule is None:
            continue
        try:
            found[field] = _extract(body, str(rule))
        except (LookupError, ExpressionError) as error:
            problems.append(f"{field} ({rule}): {error}")
            unread.add(field)
    title = (found["title"] or "").strip()
    if not problems and not title:
        problems.append(f"title ({mapping.get('title')}): it is empty in this body")
    action = "trigger"
    if "status" in mapping and "status" not in unread:
        action, problem = _action(found["status"], mapping)
        if problem:
            problems.append(problem)
    if problems:
        raise BadPayload(problems)
    severity = (found["severity"] or "").strip().lower() or None
    return Signal(
        key=_key((found["dedup_key"] or "").strip() or title),
        action=action,
        summary=title[:MAX_SUMMARY],
        severity=severity,
        description=found["description"] or "",
    )


def _action(status: str | None, mapping: Mapping[str, Any]) -> tuple[str, str | None]:
    """What a generic body's status asks, by the mapping's `statuses` and then the words
    every generic integration knows; or the problem that says why it asks nothing."""
    rule = mapping.get("status")
    word = status_word(status or "")
    if not word:
        return "trigger", (
            f"status ({rule}): it is empty in this body; map it to trigger, acknowledge, "
            "resolve or ignore (the mapping's statuses)"
        )
    own = {status_word(str(k)): str(v) for k, v in (mapping.get("statuses") or {}).items()}
    action = own.get(word) or GENERIC_STATUSES.get(word)
    if action is None:
        known = ", ".join(dict.fromkeys([*own, *GENERIC_STATUSES]))
        return "trigger", (
            f"status ({rule}): '{(status or '').strip()[:80]}' is none of: {known}; "
            "the mapping's statuses may name it"
        )
    return action, None


def _extract(body: dict[str, Any], rule: str) -> str | None:
    """Read one field: a JSON pointer (RFC 6901) or a sandboxed template over `body`."""
    if rule.startswith("/"):
        value: Any = body
        for token in rule[1:].split("/"):
            token = token.replace("~1", "/").replace("~0", "~")
            if isinstance(value, str) and value.lstrip().startswith(("{", "[")):
                value = _json_text(value, rule)  # JSON sent as text (AWS SNS's Message)
            if isinstance(value, list) and token.isdigit() and int(token) < len(value):
                value = value[int(token)]
            elif isinstance(value, dict) and token in value:
                value = value[token]
            else:
                raise LookupError(f"the body has nothing at '{rule}'")
        if value is None:
            return None
        if isinstance(value, dict | list):
            raise LookupError(f"'{rule}' holds an object or a list, not a value")
        return str(value)
    return compile_template(rule)({"body": map_texts(body, lambda text: text[:TEMPLATE_TEXT])})


#: The longest text a template reads of a body: more than any field of an incident keeps
#: (a description keeps 10,000 characters), so a sender's long text is cut, as a pointer's
#: is, and never makes the template refuse the alert for the text it would build.
TEMPLATE_TEXT = 20_000


def _json_text(value: str, rule: str) -> Any:
    """The JSON a text holds, for a pointer that reads on into it."""
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        message = f"the body has nothing at '{rule}': it reaches text that is not JSON"
        raise LookupError(message) from None


def _json(value: Any) -> str:
    """A value as JSON text, as a person reads it in a description."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS, default=str).decode()
