"""The worker's defaults and the relay's settings (from `FLOWDESK_*` variables), in one place."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

from engine.jobs.errors import SettingsError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# The worker ----------------------------------------------------------------------------------

#: The Redis a worker takes its jobs from when `REDIS_URL` is not set.
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
#: Seconds between two hand-overs of new timers to RQ.
DISPATCH_EVERY_S = 1
#: Seconds between two sweeps for timers that Redis lost.
SWEEP_EVERY_S = 10
#: Seconds between two runs of the outbox relay.
RELAY_EVERY_S = 1
#: How long one run of the relay starts new deliveries; the next run goes on with the rest.
#: A worker asked to stop finishes the job it is in first, so this bounds how long it takes.
RELAY_BUDGET = timedelta(seconds=5)
#: How often the periodic-job thread asks RQ's cron scheduler what is due.
CRON_TICK = timedelta(milliseconds=250)
#: How long the periodic thread waits before trying an unreachable Redis again.
REDIS_RETRY = timedelta(seconds=1)
#: How often a worker moves due timer jobs onto the queue.
PUMP_TICK = timedelta(milliseconds=50)
#: The Redis lock that lets one worker per tick move timers, and how long it lasts.
PUMP_LOCK = "flowdesk:timer-pump"
PUMP_LOCK_MS = 40
#: How long the thread listening for RQ's worker commands (pub/sub) waits per poll; a
#: stopping worker waits for that thread, so this bounds the wait (RQ's own is 60 s).
COMMAND_POLL = timedelta(milliseconds=500)
#: How long a stopping worker waits for its periodic thread to finish a tick.
PERIODIC_STOP_WAIT = timedelta(seconds=5)

# The outbox relay ----------------------------------------------------------------------------

#: Mail server the relay hands messages to.
DEFAULT_SMTP_HOST = "localhost"
DEFAULT_SMTP_PORT = 25
#: Sender of every message (the `From` header and the envelope sender).
DEFAULT_SMTP_FROM = "flowdesk@localhost"
#: Seconds to wait for the mail server before counting the attempt as failed.
DEFAULT_SMTP_TIMEOUT_S = 10.0
#: Seconds to wait for a webhook's answer before counting the attempt as failed.
DEFAULT_WEBHOOK_TIMEOUT_S = 10.0
#: Attempts of one message before it is marked failed for good.
DEFAULT_MAX_ATTEMPTS = 8
#: Wait after the first failed attempt; it doubles with each further one, up to the maximum.
DEFAULT_BACKOFF_BASE_S = 30.0
DEFAULT_BACKOFF_MAX_S = 3600.0
#: How long a claimed message is withheld from other relays while it is being delivered;
#: a relay that dies mid-delivery gives it back when this runs out.
DEFAULT_CLAIM_LEASE_S = 300.0
#: Most messages one run of the relay delivers.
DEFAULT_BATCH = 100
#: Networks that webhooks may reach although they are not public (loopback, private,
#: link-local...): none, unless an admin lists some in `FLOWDESK_WEBHOOK_ALLOWED_NETWORKS`.
DEFAULT_WEBHOOK_ALLOWED_NETWORKS: tuple[Network, ...] = ()

N = TypeVar("N", int, float)

TRUE = frozenset({"1", "true", "yes", "on"})
FALSE = frozenset({"0", "false", "no", "off", ""})


@dataclass(frozen=True, slots=True)
class RelaySettings:
    """Where and how the outbox relay sends mail and webhooks."""

    smtp_host: str = DEFAULT_SMTP_HOST
    smtp_port: int = DEFAULT_SMTP_PORT
    smtp_from: str = DEFAULT_SMTP_FROM
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    smtp_timeout_s: float = DEFAULT_SMTP_TIMEOUT_S
    #: Key of the `X-Flowdesk-Signature` HMAC; without one, webhooks go unsigned.
    webhook_secret: str | None = None
    webhook_timeout_s: float = DEFAULT_WEBHOOK_TIMEOUT_S
    #: Non-public networks an admin allows webhooks to reach (see `engine.jobs.targets`).
    webhook_allowed_networks: tuple[Network, ...] = DEFAULT_WEBHOOK_ALLOWED_NETWORKS
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    backoff_base_s: float = DEFAULT_BACKOFF_BASE_S
    backoff_max_s: float = DEFAULT_BACKOFF_MAX_S
    claim_lease_s: float = DEFAULT_CLAIM_LEASE_S
    #: Address of the web app, for links in mails (`{{ base_url }}`); empty leaves them out.
    base_url: str = ""

    def __repr__(self) -> str:
        # Keep secrets out of logs and tracebacks.
        hidden = {"smtp_password", "webhook_secret"}
        shown = ", ".join(
            f"{name}={'***' if name in hidden and getattr(self, name) else getattr(self, name)!r}"
            for name in self.__dataclass_fields__
        )
        return f"RelaySettings({shown})"


def relay_settings(environ: Mapping[str, str] | None = None) -> RelaySettings:
    """Read the relay settings from `environ` (the process environment by default)."""
    env = os.environ if environ is None else environ
    return RelaySettings(
        smtp_host=env.get("FLOWDESK_SMTP_HOST") or DEFAULT_SMTP_HOST,
        smtp_port=_number(env, "FLOWDESK_SMTP_PORT", DEFAULT_SMTP_PORT, int),
        smtp_from=env.get("FLOWDESK_SMTP_FROM") or DEFAULT_SMTP_FROM,
        smtp_user=env.get("FLOWDESK_SMTP_USER") or None,
        smtp_password=env.get("FLOWDESK_SMTP_PASSWORD") or None,
        smtp_starttls=_flag(env, "FLOWDESK_SMTP_STARTTLS"),
        smtp_timeout_s=_number(env, "FLOWDESK_SMTP_TIMEOUT", DEFAULT_SMTP_TIMEOUT_S, float),
        webhook_secret=env.get("FLOWDESK_WEBHOOK_SECRET") or None,
        webhook_timeout_s=_number(
            env, "FLOWDESK_WEBHOOK_TIMEOUT", DEFAULT_WEBHOOK_TIMEOUT_S, float
        ),
        webhook_allowed_networks=_networks(env, "FLOWDESK_WEBHOOK_ALLOWED_NETWORKS"),
        max_attempts=_number(env, "FLOWDESK_OUTBOX_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS, int),
        backoff_base_s=_number(env, "FLOWDESK_OUTBOX_BACKOFF", DEFAULT_BACKOFF_BASE_S, float),
        backoff_max_s=_number(env, "FLOWDESK_OUTBOX_BACKOFF_MAX", DEFAULT_BACKOFF_MAX_S, float),
        claim_lease_s=_number(env, "FLOWDESK_OUTBOX_LEASE", DEFAULT_CLAIM_LEASE_S, float),
        base_url=(env.get("FLOWDESK_BASE_URL") or "").rstrip("/"),
    )


def _number(env: Mapping[str, str], name: str, default: N, kind: type[N]) -> N:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a {kind.__name__}") from None
    if value <= 0:
        raise SettingsError(f"{name}={raw!r} must be greater than 0")
    return value


def _networks(env: Mapping[str, str], name: str) -> tuple[Network, ...]:
    """Read comma-separated networks (`127.0.0.1/32,10.0.0.0/8`; a lone address is a /32)."""
    found = []
    for entry in (env.get(name) or "").split(","):
        entry = entry.strip()
        if not entry:
            continue
        try:
            found.append(ipaddress.ip_network(entry))
        except ValueError as error:
            raise SettingsError(
                f"{name}: {entry!r} is not a network such as 10.0.0.0/8 or 127.0.0.1/32 ({error})"
            ) from None
    return tuple(found) if found else DEFAULT_WEBHOOK_ALLOWED_NETWORKS


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in TRUE:
        return True
    if raw in FALSE:
        return False
    raise SettingsError(f"{name}={raw!r} is not a yes/no value (use 1/0, true/false)")
