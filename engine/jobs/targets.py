"""Where a webhook may go: an http(s) URL whose host resolves to a public address.

A webhook's URL comes from a workflow, and whoever writes a workflow is not an admin.
Unchecked, the relay would POST wherever it is told: to services on this machine
(loopback), the network behind the firewall (private ranges), a cloud's metadata service
(169.254.169.254, link-local). So the host is resolved once, every address it resolves
to is checked, and the relay connects to a checked address itself: a second look-up,
which a hostile DNS server may answer differently (DNS rebinding), never chooses where
the POST goes. Admins allow ranges with `FLOWDESK_WEBHOOK_ALLOWED_NETWORKS`.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from engine.jobs.errors import PermanentFailure, TemporaryFailure
from engine.settings import Network

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

#: The schemes a webhook may use, with their default ports.
SCHEMES = {"http": 80, "https": 443}
#: Carrier-grade NAT space (RFC 6598): neither private nor public, so `ipaddress` has no
#: property for it.
SHARED = ipaddress.ip_network("100.64.0.0/10")

Resolver = Callable[..., list[tuple[Any, ...]]]


@dataclass(frozen=True, slots=True)
class Target:
    """A webhook URL taken apart: where to connect, and what to ask for there."""

    scheme: str
    #: The host as written (lower case, IPv6 without brackets): the Host header, the name
    #: the certificate must carry, and what is resolved.
    host: str
    port: int
    #: Path and query, as sent in the request line.
    path: str
    #: `user:password` written in the URL, sent as HTTP Basic authentication.
    credentials: str | None = None

    @property
    def origin(self) -> str:
        """Scheme, host and port only: safe to show, since paths and queries may hold tokens."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = "" if self.port == SCHEMES[self.scheme] else f":{self.port}"
        return f"{self.scheme}://{host}{port}"


def parse(url: Any) -> Target:
    """Take a webhook URL apart; raise `PermanentFailure` for one the relay will not post to."""
    if not isinstance(url, str) or not url:
        raise PermanentFailure("the webhook has no address")
    if any(character.isspace() or ord(character) < 32 for character in url):
        raise PermanentFailure("the webhook address holds a space or a line break")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise PermanentFailure(f"the webhook address is not a valid URL: {error}") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        shown = f"'{scheme}:'" if scheme else "none"
        raise PermanentFailure(f"webhooks go over http or https only; this one's scheme is {shown}")
    if not parts.hostname:
        raise PermanentFailure(f"the webhook address {scheme}:// names no host")
    credentials = None
    if parts.username is not None:
        credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(scheme, parts.hostname, port or SCHEMES[scheme], path, credentials)


def refusal(address: Address, allowed: Sequence[Network] = ()) -> str | None:
    """Say what kind of address this is if webhooks may not reach it; None if they may.

    An address in an `allowed` network may always be reached: the admin said so.
    """
    if any(address in network for network in allowed):
        return None
    if isinstance(address, ipaddress.IPv6Address):
        # An IPv6 address that carries an IPv4 one reaches (or routes towards) that one.
        if address.ipv4_mapped is not None:
            return refusal(address.ipv4_mapped, allowed)
        if address.sixtofour is not None:
            why = refusal(address.sixtofour, allowed)
            if why is not None:
                return why
    if address.is_loopback:
        return "a loopback address (this machine)"
    if address.is_unspecified:
        return "the unspecified address (it reaches this machine)"
    if address.is_link_local:
        return "link-local (where cloud metadata services answer)"
    if address.is_multicast:
        return "a multicast address"
    if address.is_reserved:
        return "a reserved address"
    if isinstance(address, ipaddress.IPv4Address) and address in SHARED:
        return "on a shared (carrier-grade NAT) network"
    if address.is_private or getattr(address, "is_site_local", False):
        return "on a private network"
    if not address.is_global:
        return "not a public address"
    return None


def addresses(
    target: Target,
    allowed: Sequence[Network] = (),
    resolve: Resolver | None = None,
    within: float | None = None,
) -> list[str]:
    """Return the addresses of the target's host that webhooks may reach, in DNS order.

    Raise `PermanentFailure` when the host has addresses but none may be reached, and
    `TemporaryFailure` when its name cannot be looked up (DNS may be down for a while) or
    not `within` that many seconds. `resolve` stands in for `socket.getaddrinfo`.
    """
    try:
        infos = _look_up(resolve or socket.getaddrinfo, target, within)
    except UnicodeError:  # a name IDNA cannot encode: no later look-up will do better
        raise PermanentFailure(f"the webhook host {target.host} is not a valid name") from None
    except socket.gaierror as error:
        reason = error.strerror or str(error)
        raise TemporaryFailure(f"cannot look up the webhook host {target.host}: {reason}") from None
    found = list(dict.fromkeys(str(info[4][0]) for info in infos))
    permitted, refused = [], []
    for text in found:
        why = refusal(ipaddress.ip_address(text), allowed)
        if why is None:
            permitted.append(text)
        else:
            refused.append((text, why))
    if permitted:
        return permitted
    if not refused:
        raise TemporaryFailure(f"the webhook host {target.host} has no address")
    text, why = refused[0]
    plain = text.partition("%")[0]  # an IPv6 scope (`fe80::1%eth0`) says nothing to a reader
    shown = plain if plain == target.host else f"{target.host} ({plain})"
    raise PermanentFailure(f"the webhook address {shown} is {why}; an admin must allow it")


def _look_up(resolve: Resolver, target: Target, within: float | None) -> list[tuple[Any, ...]]:
    """Resolve the target's host, giving up after `within` seconds.

    `getaddrinfo` takes no timeout (the C library's resolver retries for up to half a
    minute), so with a limit the look-up runs in a thread of its own and is waited for
    only that long; one that has not answered by then finishes, unheard, in the background.
    """
    if within is None:
        return resolve(target.host, target.port, type=socket.SOCK_STREAM)
    found: list[list[tuple[Any, ...]]] = []
    failed: list[BaseException] = []

    def run() -> None:
        try:
            found.append(resolve(target.host, target.port, type=socket.SOCK_STREAM))
        except BaseException as error:  # handed to the caller below
            failed.append(error)

    thread = threading.Thread(target=run, name=f"look up {target.host}", daemon=True)
    thread.start()
    thread.join(within)
    if failed:
        raise failed[0]
    if not found:
        waited = f"{round(within, 1):g} s"
        raise TemporaryFailure(
            f"cannot look up the webhook host {target.host}: no answer within {waited}"
        )
    return found[0]
