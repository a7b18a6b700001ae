"""Webhooks: a signed JSON POST, with the outbox id as its idempotency key.

The POST goes to an address `engine.jobs.targets` checked (public, or in a network an
admin allowed), over a connection made to that very address; the Host header and, for
https, the certificate check use the host name of the URL. Redirects are not followed:
a redirected POST would lose its body, and could lead anywhere.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import socket
import ssl
from typing import Any

import orjson

from engine.jobs import targets
from engine.jobs.errors import PermanentFailure, TemporaryFailure
from engine.settings import RelaySettings

#: Header carrying `sha256=<hex HMAC-SHA256 of the body>` under `FLOWDESK_WEBHOOK_SECRET`.
SIGNATURE_HEADER = "X-Flowdesk-Signature"
#: Headers carrying the outbox id, the same on every attempt, so receivers can drop repeats.
IDEMPOTENCY_HEADER = "Idempotency-Key"
DELIVERY_HEADER = "X-Flowdesk-Delivery"
USER_AGENT = "Flowdesk-Webhook/1"
#: Answers worth trying again: the receiver is overloaded, down or asks us to slow down.
RETRY_STATUSES = frozenset({408, 425, 429})
#: Longest part of an error answer kept in the outbox row.
MAX_ERROR_BODY = 200


def signature(body: bytes, secret: str) -> str:
    """Return the signature header's value for `body`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class PinnedConnection(http.client.HTTPConnection):
    """An HTTP(S) connection for a URL's host, made to an address chosen beforehand."""

    def __init__(
        self,
        target: targets.Target,
        address: str,
        timeout: float,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self.address = address
        self.tls = tls
        # The Host header leaves out the port when it is the scheme's own.
        self.default_port = targets.SCHEMES[target.scheme]

    def connect(self) -> None:
        raw = socket.create_connection((self.address, self.port), self.timeout)
        try:
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.sock = (
                raw if self.tls is None else self.tls.wrap_socket(raw, server_hostname=self.host)
            )
        except BaseException:
            raw.close()
            raise


def post(
    url: str,
    document: dict[str, Any],
    delivery: int,
    settings: RelaySettings,
    resolve: targets.Resolver | None = None,
) -> int:
    """POST `document` as JSON to `url`; return the status, or raise a `DeliveryError`.

    The URL's host is looked up once (with `resolve`, `socket.getaddrinfo` by default).
    """
    target = targets.parse(url)
    permitted = targets.addresses(target, settings.webhook_allowed_networks, resolve)
    body = orjson.dumps(document)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        IDEMPOTENCY_HEADER: str(delivery),
        DELIVERY_HEADER: str(delivery),
    }
    if settings.webhook_secret:
        headers[SIGNATURE_HEADER] = signature(body, settings.webhook_secret)
    if target.credentials is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(target.credentials.encode()).decode()
    connection = _connect(target, permitted, settings)
    try:
        connection.request("POST", target.path, body=body, headers=headers)
        response = connection.getresponse()
        status = response.status
        detail = "" if 200 <= status < 300 else _text(response.read(MAX_ERROR_BODY))
        retry_after = _retry_after(response.getheader("Retry-After"))
    except (OSError, http.client.HTTPException) as error:
        raise TemporaryFailure(f"cannot reach {target.origin}: {_reason(error)}") from None
    finally:
        connection.close()
    if 200 <= status < 300:
        return status
    text = f"{target.origin} answered {status} {response.reason}" + (
        f": {detail}" if detail else ""
    )
    if status >= 500 or status in RETRY_STATUSES:
        raise TemporaryFailure(text, retry_after=retry_after)
    if 300 <= status < 400:
        raise PermanentFailure(f"{text} (a redirect, which webhooks do not follow)")
    raise PermanentFailure(text)


def _connect(
    target: targets.Target, permitted: list[str], settings: RelaySettings
) -> PinnedConnection:
    """Connect to the first permitted address that answers, as `socket.create_connection` does."""
    tls = None
    if target.scheme == "https":
        tls = ssl.create_default_context()
        tls.set_alpn_protocols(["http/1.1"])
    failure: BaseException | None = None
    for address in permitted:
        connection = PinnedConnection(target, address, settings.webhook_timeout_s, tls)
        try:
            connection.connect()
        except OSError as error:  # refused, unreachable, timed out, a certificate refused
            connection.close()
            failure = error
            continue
        return connection
    raise TemporaryFailure(f"cannot reach {target.origin}: {_reason(failure)}")


def _reason(error: BaseException | None) -> str:
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"its certificate is refused: {error.verify_message}"
    if isinstance(error, TimeoutError):
        return "no answer in time"
    return (getattr(error, "strerror", None) or str(error) or type(error).__name__).strip()


def _text(raw: bytes) -> str:
    return raw.decode(errors="replace").strip()


def _retry_after(raw: str | None) -> float | None:
    try:
        return max(0.0, float(raw)) if raw is not None else None
    except ValueError:
        return None  # an HTTP date: rare enough to let the usual backoff decide
