"""Every default an operator can change, and how the `FLOWDESK_*` variables are read.

One module, so that "what does Flowdesk do unless told otherwise?" has one answer. Each
section names the part that uses its values; variables are listed in the README under
Configuration. The limits of the languages themselves (the expression budget in
`engine.core.expressions.limits`, the field limits in `forms.definition`) are not settings:
a workflow or form must mean the same on every installation, so they stay with their
checkers. See docs/adr/0037-defaults-in-one-settings-module.md.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class SettingsError(ValueError):
    """A `FLOWDESK_*` variable holds a value that cannot be used."""


# The web app (Flask config keys; each can be set as FLOWDESK_<KEY> or in instance/config.py) --

#: Recurring incidents (docs/problems.md): how many days back the desk's proposals look, and
#: how many alike incidents make a group worth a problem. The web app reads them as
#: `FLOWDESK_RECURRING_DAYS` and `FLOWDESK_RECURRING_AT_LEAST`; the command line as options.
RECURRING_DAYS = 7
RECURRING_AT_LEAST = 3

WEB_DEFAULTS: dict[str, Any] = {
    "DATABASE_URL": None,  # None: FLOWDESK_DATABASE_URL, else a SQLite file in the instance folder
    "REDIS_URL": None,
    "SECRET_KEY": None,  # None: a random key kept in the instance folder's `secret_key`
    "UPLOAD_FOLDER": None,  # None: `files/` in the instance folder
    #: The address people reach the app at, for links in mails (`https://desk.example.org`).
    #: Unset, links take the host of the request that made them.
    "BASE_URL": None,
    #: The largest request body, uploads included; bigger ones are refused with 413 unread.
    #: The one upload limit (`forms.definition`: 5 files of 10 MiB each) and 1 MiB for the
    #: rest of the form.
    "MAX_CONTENT_LENGTH": 51 * 1024 * 1024,
    #: Posts of public forms (submit, comment, upload) per client address.
    "PORTAL_RATE_LIMIT": "20 per minute; 300 per day",
    #: Sign-in attempts per client address.
    "SIGN_IN_RATE_LIMIT": "10 per minute; 100 per hour",
    #: Sign-in attempts (and password changes) per account, from any address: slows down
    #: guessing spread over many addresses. Someone guessing can lock a real user out for
    #: up to an hour; that is the price of not letting the guesses through.
    "SIGN_IN_ACCOUNT_RATE_LIMIT": "10 per minute; 50 per hour",
    #: Live validation of a form through the API runs on every change a person makes.
    "VALIDATE_RATE_LIMIT": "240 per minute",
    #: Self-help on public forms (known errors matching what a requester types) per address.
    "SELF_HELP_RATE_LIMIT": "60 per minute; 1000 per day",
    #: Served over HTTPS: redirect to it, send HSTS, mark cookies Secure.
    "HTTPS": False,
    #: How many reverse proxies stand in front (their X-Forwarded-For is believed).
    "TRUSTED_PROXIES": 0,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "WTF_CSRF_TIME_LIMIT": None,  # a form left open over lunch still submits
    #: How often an open page asks for the unread count of its bell (and refreshes the
    #: inbox when something new arrived), in seconds.
    "NOTIFICATIONS_POLL_S": 20,
    #: Recurring incidents: see `RECURRING_DAYS` above.
    "RECURRING_DAYS": RECURRING_DAYS,
    "RECURRING_AT_LEAST": RECURRING_AT_LEAST,
}

#: The web app's settings that are whole numbers, the least each may be, and what it counts
#: (for the refusal). Flask takes any value a variable holds: FLOWDESK_MAX_CONTENT_LENGTH=-5
#: or 0 refused every form with 413, a word that is no number failed every post with 500.
WEB_WHOLE_NUMBERS: dict[str, tuple[int, str]] = {
    "MAX_CONTENT_LENGTH": (1, "the largest request, in bytes"),
    "NOTIFICATIONS_POLL_S": (1, "how often a page asks for its bell's count, in seconds"),
    "RECURRING_DAYS": (1, "how many days back recurring incidents are looked for"),
    "RECURRING_AT_LEAST": (1, "how many alike incidents make a group"),
    "TRUSTED_PROXIES": (0, "how many reverse proxies stand in front; 0 for none"),
}

#: The web app's yes-or-no settings, and what each says. Flask reads a variable's value as
#: JSON: `true`, `false`, `1` and `0` are what it means; any other word is text, and text
#: counts as yes: FLOWDESK_HTTPS=no turned HTTPS on (Secure cookies: no sign-in over http).
WEB_YES_NO: dict[str, str] = {"HTTPS": "whether people reach it over HTTPS"}
_YES_NO = frozenset({True, False, "true", "false"})  # 1 and 0 are True and False here

#: Rows on one page of a list in the desk.
PAGE_SIZE = 25

# The embedded web server (`flowdesk run`) -----------------------------------------------------
# waitress serves every connection from one event loop and hands requests to a few threads,
# so an idle connection costs a little memory and a descriptor, not a thread. But by default
# it stops accepting at 100 connections and closes idle ones only after 120 s: a hundred idle
# keep-alive connections (browsers keep several each, and a proxy or a scanner many) left it
# answering no one (docs/adr/0036-the-embedded-server-keeps-answering-idle-connections.md).

#: Connections held open at once before waitress stops accepting new ones (its default: 100).
CONNECTION_LIMIT = 2000
#: Seconds a connection may sit idle, no request in progress, before it is closed
#: (default 120). A browser that kept one open simply opens another.
CHANNEL_TIMEOUT_S = 30
#: How often, in seconds, idle connections are looked for (default 30).
CLEANUP_INTERVAL_S = 5
#: Seconds given to the children to stop after Ctrl-C before they are killed: a stopping
#: worker may first finish a delivery (up to 1 s of relay budget and a 10 s timeout).
STOP_GRACE_S = 20
#: How a part of the stack exits when what it needs does not answer yet (its database, at
#: start): EX_TEMPFAIL of sysexits.h. `flowdesk up` starts it again and waits as long as it
#: takes, where a part that keeps failing otherwise is broken and stops everything.
EXIT_TEMPFAIL = 75

# The database -------------------------------------------------------------------------------

#: How long a SQLite writer waits for another to finish before giving up, in milliseconds.
SQLITE_BUSY_TIMEOUT_MS = 30_000
#: How often the background thread copies SQLite's write-ahead log into the database.
CHECKPOINT_INTERVAL_S = 1.0

# The service layer ----------------------------------------------------------------------------

#: Passwords shorter than this are refused.
MIN_PASSWORD_LENGTH = 10
#: How stale a token's `last_used_at` may get before a use writes it again.
TOKEN_TOUCH_S = 60
#: The same for a sign-in session's `last_seen_at`: a write a minute, not one a request.
SESSION_TOUCH_S = 60
#: A sign-in session not used for this long is over: a forgotten browser signs no one in.
SESSION_IDLE = timedelta(days=14)
#: However much it is used, a sign-in session lasts no longer than this; then sign in again.
SESSION_LIFETIME = timedelta(days=30)
#: How long a sign-in session that is over stays on record before the worker deletes it.
SESSION_RECORD_KEPT = timedelta(days=90)
#: Notifications read this long ago are deleted, and any this old, read or not.
NOTIFICATION_READ_KEPT = timedelta(days=90)
NOTIFICATION_KEPT = timedelta(days=365)
#: Seconds a "latest version" answer is reused before the database is asked again.
LATEST_REFRESH_S = 5.0
#: Seconds a process keeps using the calendar versions it looked up last.
CALENDAR_REFRESH_S = 5.0
#: The largest workflow, form or calendar file an admin may import, in bytes.
MAX_IMPORT_BYTES = 1024 * 1024
#: The largest draft document, as compact JSON; a 200-field form takes about 60 KiB.
DRAFT_MAX_BYTES = 1024 * 1024

# The worker ----------------------------------------------------------------------------------

#: The Redis a worker takes its jobs from when `REDIS_URL` is not set.
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
#: Seconds between two runs of the duties of every second: handing new timers to RQ,
#: relaying the outbox, carrying out subflows, paging (`engine.jobs.worker.every_second`).
EVERY_SECOND_S = 1
#: Seconds between two sweeps for timers that Redis lost.
SWEEP_EVERY_S = 10
#: How long one run of the relay starts new deliveries; the next run goes on with the rest.
#: A worker asked to stop finishes the job it is in first, so this bounds how long it takes;
#: and the duties of every second (handing new timers to RQ among them) queued meanwhile
#: wait for the run a worker is in. A run costs an RQ job and an SMTP connection: a few
#: milliseconds a second.
RELAY_BUDGET = timedelta(seconds=1)
#: Set while a relay run queued by another waits for a worker: one waits at a time, and the
#: relay of the duties of every second leaves the outbox to it meanwhile, so that a backlog
#: of mail does not pile relay runs up in front of the other duties. Unset by that run when
#: it starts, or after the time given if it never does (its worker died in between).
RELAY_WAITING = "flowdesk:relay-waiting"
RELAY_WAITING_S = 10
#: How often the periodic-job thread asks RQ's cron scheduler what is due.
CRON_TICK = timedelta(milliseconds=250)
#: How long the periodic thread waits before trying an unreachable Redis again.
REDIS_RETRY = timedelta(seconds=1)
#: How often a worker moves due timer jobs onto the queue.
PUMP_TICK = timedelta(milliseconds=50)
#: The Redis lock that lets one worker per tick move timers, and how long it lasts.
PUMP_LOCK = "flowdesk:timer-pump"
PUMP_LOCK_MS = 40
#: The Redis lease that lets one worker of many queue the periodic jobs, and how long it
#: lasts unrenewed: when its holder dies, another worker takes over within this time.
PERIODIC_LEASE = "flowdesk:periodic-leader"
PERIODIC_LEASE_MS = 3000
#: How long the thread listening for RQ's worker commands (pub/sub) waits per poll; a
#: stopping worker waits for that thread, so this bounds the wait (RQ's own is 60 s).
COMMAND_POLL = timedelta(milliseconds=500)
#: Seconds between two prunes of sign-in sessions that are long over.
PRUNE_EVERY_S = 3600
#: Seconds between two reads of the figures of incidents whose timelines grew (Insight), so
#: a dashboard view finds them read; and how many one run reads before it queues the next.
FIGURES_EVERY_S = 60
FIGURES_PER_RUN = 5_000
#: How long a stopping worker waits for its periodic thread to finish a tick.
PERIODIC_STOP_WAIT = timedelta(seconds=5)
#: How many timers one dispatch or sweep hands over at most.
TIMER_BATCH = 1000
#: A due timer whose job is missing after this long is treated as lost by Redis.
SWEEP_GRACE = timedelta(seconds=5)
#: How many due timers one job fires.
FIRE_BATCH = 25
#: Longest a job waits in-process for its timer's due time before re-queueing itself;
#: more would hold up the worker's other jobs.
MAX_EARLY_WAIT_S = 0.05

# Mail intake ---------------------------------------------------------------------------------

#: The largest mail the intake takes (the SMTP listener refuses bigger ones at DATA).
MAIL_IN_MAX_BYTES = 25 * 1024 * 1024
#: The largest attachment kept from a mail; a bigger one is left out, and the timeline says so.
MAIL_IN_MAX_FILE_BYTES = 10 * 1024 * 1024
#: A mail's subject and text are cut to these lengths (the incident report's limits).
MAIL_IN_MAX_SUBJECT_CHARS = 200
#: The most of a sender's name a mail fills in (a display name may be any length; the shipped
#: incident form takes 120 characters).
MAIL_IN_MAX_NAME_CHARS = 120
MAIL_IN_MAX_BODY_CHARS = 10_000
#: A sender whose mails reach this many within `MAIL_IN_FLOOD_WINDOW` has the rest dropped:
#: two auto-responders answering each other would otherwise open incidents forever.
MAIL_IN_FLOOD_LIMIT = 10
MAIL_IN_FLOOD_WINDOW = timedelta(minutes=1)
#: And this many within an hour: another helpdesk's auto-responder answering ours every few
#: seconds stays under the minute's limit (23 incidents in 150 s were opened so).
MAIL_IN_FLOOD_HOURLY_LIMIT = 40
#: The inbound SMTP listener `flowdesk up` starts when `FLOWDESK_MAIL_IN_PORT` is set.
MAIL_IN_HOST = "127.0.0.1"
#: How often the worker polls the IMAP mailbox of `FLOWDESK_IMAP_HOST`, and at most how many
#: mails one poll takes.
IMAP_EVERY_S = 30
IMAP_BATCH = 50

# Monitoring intake (`/intake/<kind>`) -------------------------------------------------------

#: The largest monitoring payload taken; a bigger one is refused with 413, unread.
INTAKE_MAX_BODY_BYTES = 1024 * 1024
#: How far a signed Grafana payload's timestamp may be from now, either way, before it is
#: refused as a replay (or a clock too far off to trust).
INTAKE_REPLAY_WINDOW_S = 300

# The outbox relay ----------------------------------------------------------------------------

#: Mail server the relay hands messages to, unless `FLOWDESK_SMTP_HOST` says otherwise.
#: `flowdesk up` without `FLOWDESK_SMTP_HOST` points its worker at the mail catcher below.
DEFAULT_SMTP_HOST = "localhost"
DEFAULT_SMTP_PORT = 25
#: The mail catcher `flowdesk up` starts when no mail server is configured: an SMTP server
#: on this loopback address (and a free port), keeping every mail it receives in a Maildir
#: of this name in the instance folder instead of delivering it.
CATCHER_HOST = "127.0.0.1"
CATCHER_MAILDIR = "mail"
#: The largest mail the catcher accepts, in bytes.
CATCHER_MAX_BYTES = 10 * 1024 * 1024
#: Sender of every message (the `From` header and the envelope sender).
DEFAULT_SMTP_FROM = "flowdesk@localhost"
#: Seconds to wait for the mail server before counting the attempt as failed.
DEFAULT_SMTP_TIMEOUT_S = 10.0
#: Seconds a webhook attempt may take in all (look-up, connection, TLS, sending, reading the
#: answer) before it counts as failed and is tried again later; not per socket operation, so
#: a slow receiver cannot hold the worker, and every timer behind it, for longer.
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
        what = "a whole number" if kind is int else "a number"
        raise SettingsError(f"{name}={raw!r} is not {what}") from None
    if value <= 0:
        raise SettingsError(f"{name}={raw!r} must be greater than 0")
    return value


def check_web(config: Mapping[str, Any]) -> None:
    """Refuse the web app's whole-number settings in `config` that are not, naming each
    variable and what it counts; a key `config` lacks is left to its default.

    `config` is the app's (values as Flask read them) or the environment without the
    FLOWDESK_ prefix (strings), for `flowdesk up` to check before it starts anything.
    """
    problems = []
    for key, (least, counts) in WEB_WHOLE_NUMBERS.items():
        if key not in config:
            continue
        value, name = config[key], f"FLOWDESK_{key}={str(config[key])!r}"
        try:
            number = int(value) if isinstance(value, str) else value
        except ValueError:
            number = None
        if not isinstance(number, int) or isinstance(number, bool):
            problems.append(f"{name} is not a whole number ({counts})")
        elif number < least:
            above = "0 or more" if least == 0 else f"greater than {least - 1}"
            problems.append(f"{name} must be {above} ({counts})")
    for key, says in WEB_YES_NO.items():
        value = config.get(key)
        if key in config and (isinstance(value, float) or not _is_yes_no(value)):
            problems.append(f"FLOWDESK_{key}={str(value)!r} is not true or false ({says})")
    if problems:
        raise SettingsError("; ".join(problems))


def _is_yes_no(value: Any) -> bool:
    """Tell whether a setting's value says yes or no as Flask reads it (or as it is written,
    for `flowdesk up`'s look at the environment): true, false, 1 or 0."""
    if isinstance(value, str):
        value = value.strip().lower()
        value = {"1": 1, "0": 0}.get(value, value)
    try:
        return value in _YES_NO
    except TypeError:  # a list or an object, unhashable
        return False


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
