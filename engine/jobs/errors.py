"""Why a delivery from the outbox did not happen, and whether trying again can help."""

from __future__ import annotations


class DeliveryError(Exception):
    """A message could not be delivered; `retry` tells whether a later attempt may succeed."""

    retry: bool = True

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        #: Seconds the other side asked us to wait (a `Retry-After` header), if it said.
        self.retry_after = retry_after


class TemporaryFailure(DeliveryError):
    """The other side is down, busy or slow: try again later."""

    retry = True


class PermanentFailure(DeliveryError):
    """Trying again cannot help (no address, unknown template, a 4xx answer): give up."""

    retry = False
