"""Webhooks: a signed JSON POST, with the outbox id as its idempotency key.

The POST goes to an address `engine.jobs.targets` checked (public, or in a network an
admin allowed), over a connection made to that very address; the Host header and, for
https, the certificate check use the host name of the URL. Redirects are not followed:
a redirected POST would lose its body, and could lead anywhere.

`FLOWDESK_WEBHOOK_TIMEOUT` bounds the whole attempt, not each socket operation: the
look-up, the connection, the TLS handshake, sending, and reading the answer share one
deadline, and each read or write waits only for the time left. A receiver that drips
its answer a byte at a time cannot hold the worker (and every timer behind it) longer.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import socket
import ssl
import time
from typing import TYPE_CHECKING, Any

import orjson

from engine.jobs import targets
from engine.jobs.errors import PermanentFailure, TemporaryFailure
from engine.settings import RelaySettings

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer, WriteableBuffer

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


class Deadline:
    """The moment an attempt must be over by; each socket operation gets the time left."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds

    def left(self) -> float:
        """Return the seconds left; raise `TimeoutError` once there are none."""
        left = self.at - time.monotonic()
        if left <= 0:
            raise TimeoutError("the attempt's time ran out")
        return left

    @property
    def passed(self) -> bool:
        """Tell whether the deadline has come."""
        return time.monotonic() >= self.at


class TimedSocket(socket.socket):
    """A TCP socket whose every read and write may take only the time its deadline leaves.

    A socket's own timeout counts per operation, and reading one answer takes many.
    """

    deadline: Deadline

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        self.settimeout(self.deadline.left())
        return super().recv(bufsize, flags)

    def recv_into(self, buffer: WriteableBuffer, nbytes: int = 0, flags: int = 0) -> int:
        self.settimeout(self.deadline.left())
        return super().recv_into(buffer, nbytes, flags)

    def send(self, data: ReadableBuffer, flags: int = 0) -> int:
        self.settimeout(self.deadline.left())
        return super().send(data, flags)

    def sendall(self, data: ReadableBuffer, flags: int = 0) -> None:
        self.settimeout(self.deadline.left())  # sendall's timeout covers all of it
        super().sendall(data, flags)


class TimedTLSSocket(ssl.SSLSocket):
    """The same for TLS: the handshake, and every record read or written, share a deadline."""

    deadline: Deadline

    def do_handshake(self, block: bool = False) -> None:
        self.settimeout(self.deadline.left())  # the handshake's timeout covers all of it
        super().do_handshake(block)

    def recv(self, buflen: int = 1024, flags: int = 0) -> bytes:
        self.settimeout(self.deadline.left())
        return super().recv(buflen, flags)

    def recv_into(self, buffer: WriteableBuffer, nbytes: int | None = None, flags: int = 0) -> int:
        self.settimeout(self.deadline.left())
        return super().recv_into(buffer, nbytes, flags)

    def send(self, data: ReadableBuffer, flags: int = 0) -> int:
        self.settimeout(self.deadline.left())  # `sendall` sends through here
        return super().send(data, flags)


class PinnedConnection(http.client.HTTPConnection):
    """An HTTP(S) connection for a URL's host, made to an address chosen beforehand."""

    def __init__(
        self,
        target: targets.Target,
        address: str,
        deadline: Deadline,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(target.host, target.port, timeout=deadline.seconds)
        self.address = address
        self.deadline = deadline
        self.tls = tls
        # The Host header leaves out the port when it is the scheme's own.
        self.default_port = targets.SCHEMES[target.scheme]

    def connect(self) -> None:
        # A numeric host: this turns the checked address into a socket address, no look-up.
        family, kind, proto, _, where = socket.getaddrinfo(
            self.address, self.port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST
        )[0]
        raw = TimedSocket(family, kind, proto)
        raw.deadline = self.deadline
        try:
            raw.settimeout(self.deadline.left())
            raw.connect(where)
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.tls is None:
                self.sock = raw
                return
            self.tls.sslsocket_class = TimedTLSSocket  # what `wrap_socket` makes
            wrapped = self.tls.wrap_socket(
                raw, server_hostname=self.host, do_handshake_on_connect=False
            )
        except BaseException:
            raw.close()
            raise
        assert isinstance(wrapped, TimedTLSSocket)
        wrapped.deadline = self.deadline
        try:
            wrapped.do_handshake()
        except BaseException:
            wrapped.close()
            raise
        self.sock = wrapped


def post(
    url: str,
    document: dict[str, Any],
    delivery: int,
    settings: RelaySettings,
    resolve: targets.Resolver | None = None,
) -> int:
    """POST `document` as JSON to `url`; return the status, or raise a `DeliveryError`.

    The URL's host is looked up once (with `resolve`, `socket.getaddrinfo` by default).
    All of it, look-up included, must be over within `settings.webhook_timeout_s`; an
    attempt that takes longer is a `TemporaryFailure`.
    """
    deadline = Deadline(settings.webhook_timeout_s)
    target = targets.parse(url)
    permitted = targets.addresses(
        target, settings.webhook_allowed_networks, resolve, within=deadline.left()
    )
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
    connection = _connect(target, permitted, deadline)
    try:
        connection.request("POST", target.path, body=body, headers=headers)
        response = connection.getresponse()
        status = response.status
        # A success's body is never read; an error's only up to MAX_ERROR_BODY bytes.
        detail = "" if 200 <= status < 300 else _text(response.read(MAX_ERROR_BODY))
        retry_after = _retry_after(response.getheader("Retry-After"))
    except (OSError, http.client.HTTPException) as error:
        raise TemporaryFailure(
            f"cannot reach {target.origin}: {_reason(error, deadline)}"
        ) from None
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


def _connect(target: targets.Target, permitted: list[str], deadline: Deadline) -> PinnedConnection:
    """Connect to the first permitted address that answers, as `socket.create_connection` does."""
    tls = None
    if target.scheme == "https":
        tls = ssl.create_default_context()
        tls.set_alpn_protocols(["http/1.1"])
    failure: BaseException | None = None
    for address in permitted:
        connection = PinnedConnection(target, address, deadline, tls)
        try:
            connection.connect()
        except OSError as error:  # refused, unreachable, timed out, a certificate refused
            connection.close()
            failure = error
            if deadline.passed:
                break
        else:
            return connection
    raise TemporaryFailure(f"cannot reach {target.origin}: {_reason(failure, deadline)}")


def _reason(error: BaseException | None, deadline: Deadline) -> str:
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"its certificate is refused: {error.verify_message}"
    if isinstance(error, TimeoutError):  # every wait is bounded by the time left, so it ran out
        return f"no complete answer within {deadline.seconds:g} s"
    return (getattr(error, "strerror", None) or str(error) or type(error).__name__).strip()


def _text(raw: bytes) -> str:
    return raw.decode(errors="replace").strip()


def _retry_after(raw: str | None) -> float | None:
    try:
        return max(0.0, float(raw)) if raw is not None else None
    except ValueError:
        return None  # an HTTP date: rare enough to let the usual backoff decide
