"""Webhooks: a signed JSON POST, with the outbox id as its idempotency key."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import urllib.error
import urllib.request
from typing import Any

import orjson

from engine.jobs.errors import PermanentFailure, TemporaryFailure
from engine.jobs.settings import RelaySettings

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


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # A redirected POST would turn into a GET without the body; report the 3xx instead.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def post(url: str, document: dict[str, Any], delivery: int, settings: RelaySettings) -> int:
    """POST `document` as JSON to `url`; return the status, or raise a `DeliveryError`."""
    body = orjson.dumps(document)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        IDEMPOTENCY_HEADER: str(delivery),
        DELIVERY_HEADER: str(delivery),
    }
    if settings.webhook_secret:
        headers[SIGNATURE_HEADER] = signature(body, settings.webhook_secret)
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with _opener.open(request, timeout=settings.webhook_timeout_s) as response:
            status: int = response.status
    except urllib.error.HTTPError as error:
        with error:
            detail = error.read(MAX_ERROR_BODY).decode(errors="replace").strip()
            text = f"{url} answered {error.code} {error.reason}" + (f": {detail}" if detail else "")
            if error.code >= 500 or error.code in RETRY_STATUSES:
                raise TemporaryFailure(text, retry_after=_retry_after(error.headers)) from None
            raise PermanentFailure(text) from None
    except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
        reason = getattr(error, "reason", error)
        raise TemporaryFailure(f"cannot reach {url}: {reason}") from None
    if not 200 <= status < 300:
        raise PermanentFailure(f"{url} answered {status}, which is not a success")
    return status


def _retry_after(headers: Any) -> float | None:
    raw = headers.get("Retry-After") if headers is not None else None
    try:
        return max(0.0, float(raw)) if raw is not None else None
    except ValueError:
        return None  # an HTTP date: rare enough to let the usual backoff decide
