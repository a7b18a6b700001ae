"""AWS SNS's subscription handshake, for a generic integration an SNS topic feeds.

Before SNS delivers a topic's notifications (a CloudWatch alarm's, say) to an HTTPS
endpoint, it posts a `SubscriptionConfirmation` and holds the subscription pending until
its `SubscribeURL` is visited. The intake visits it, once the integration's token is
checked, as the services that take SNS alerts do; it visits nothing but SNS's own
confirmation (https, a host `sns.<region>.amazonaws.com`, `Action=ConfirmSubscription`),
so a body cannot make it fetch anything else. What follows are `Notification`s, whose
`Message` is the alarm as JSON text: a mapping's JSON pointers read on into it.
"""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

#: SNS's endpoints, in every partition (aws, aws-cn).
SNS_HOST = re.compile(r"^sns\.[a-z0-9-]{1,40}\.amazonaws\.com(\.cn)?$")
#: How long the visit may take; SNS waits 15 s for the whole answer.
TIMEOUT_S = 10

#: Visits a URL and answers its HTTP status (raising OSError when it cannot).
Fetch = Callable[[str], int]


def subscribe_url(body: Any) -> str | None:
    """The `SubscribeURL` of a subscription confirmation, or None for any other body."""
    if isinstance(body, dict) and body.get("Type") == "SubscriptionConfirmation":
        url = body.get("SubscribeURL")
        return url if isinstance(url, str) else ""
    return None


def url_problem(url: str) -> str | None:
    """Why this is not SNS's own confirmation URL, or None."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "'SubscribeURL' is not a URL"
    if parts.scheme != "https" or not SNS_HOST.match(parts.hostname or "") or parts.port:
        return "'SubscribeURL' must be https://sns.<region>.amazonaws.com/"
    if parse_qs(parts.query).get("Action") != ["ConfirmSubscription"]:
        return "'SubscribeURL' must ask Action=ConfirmSubscription"
    return None


def fetch(url: str) -> int:
    """Visit a URL over the network, as SNS expects its confirmation to be."""
    request = urllib.request.Request(url, headers={"User-Agent": "Flowdesk intake"})
    with urllib.request.urlopen(request, timeout=TIMEOUT_S) as answer:
        return int(answer.status)
