"""Webhooks never reach this machine, the private network or link-local addresses unless allowed.

A webhook URL comes from a workflow; without these checks, whoever writes workflows
could make the relay POST to services behind the firewall or to a cloud's metadata
service (server-side request forgery). The endpoints here are real HTTP(S) servers on
127.0.0.1; DNS answers a test needs to choose come from a resolver passed in.
"""

from __future__ import annotations

import http.server
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import replace
from ipaddress import ip_address, ip_network
from pathlib import Path
from typing import Any

import pytest

from engine.jobs import targets, webhooks
from engine.jobs.errors import PermanentFailure, TemporaryFailure
from engine.jobs.outbox import relay_outbox
from engine.service.commands import Commands
from engine.settings import RelaySettings, SettingsError, relay_settings
from engine.store.database import Database
from tests.infrastructure import Clock
from tests.integration import test_outbox_relay as relay_tests
from tests.integration.test_outbox_relay import (
    Receiver,
    add_message,
    clear_outbox,
    dead_letters,
    only_row,
    password_incident,
)

#: The webhook endpoint of the relay's tests: a real HTTP server on 127.0.0.1.
receiver = relay_tests.receiver

NOTHING_ALLOWED = RelaySettings(webhook_timeout_s=5)
LOOPBACK_ALLOWED = replace(NOTHING_ALLOWED, webhook_allowed_networks=(ip_network("127.0.0.0/8"),))


def relayed_webhook(
    commands: Commands, database: Database, clock: Clock, url: str, settings: RelaySettings
) -> tuple[str, Any]:
    """Relay one webhook to `url`; return the instance's number and the outbox row."""
    number = password_incident(commands)
    clear_outbox(database)
    add_message(database, number, clock(), step="work", webhook=url)
    relay_outbox(database, settings=settings, now=clock())
    return number, only_row(database)


# Through the relay ------------------------------------------------------------------------


def test_a_webhook_to_loopback_is_a_dead_letter_unless_an_admin_allows_it(
    commands: Commands, database: Database, clock: Clock, receiver: Receiver
) -> None:
    number, row = relayed_webhook(commands, database, clock, receiver.url, NOTHING_ALLOWED)

    assert row.status == "failed"
    [event] = dead_letters(database, number)
    assert event.why == (
        "the webhook address 127.0.0.1 is a loopback address (this machine); an admin must allow it"
    )
    assert receiver.requests == []  # refused before any connection

    _, row = relayed_webhook(commands, database, clock, receiver.url, LOOPBACK_ALLOWED)
    assert row.status == "sent"
    assert len(receiver.requests) == 1


def test_a_host_name_that_resolves_to_loopback_is_refused(
    commands: Commands, database: Database, clock: Clock, receiver: Receiver
) -> None:
    url = receiver.url.replace("127.0.0.1", "localhost")

    number, row = relayed_webhook(commands, database, clock, url, NOTHING_ALLOWED)

    assert row.status == "failed"
    [event] = dead_letters(database, number)
    assert (event.why or "").startswith("the webhook address localhost (")
    assert "is a loopback address (this machine); an admin must allow it" in (event.why or "")
    assert receiver.requests == []


def test_an_allowed_network_lets_a_name_reach_only_its_allowed_addresses(
    commands: Commands, database: Database, clock: Clock, receiver: Receiver
) -> None:
    # `localhost` may also resolve to ::1, which this allow-list leaves out: the relay
    # connects to 127.0.0.1, where the receiver listens, and sends the name as Host.
    url = receiver.url.replace("127.0.0.1", "localhost")
    allowed = replace(NOTHING_ALLOWED, webhook_allowed_networks=(ip_network("127.0.0.1/32"),))

    _, row = relayed_webhook(commands, database, clock, url, allowed)

    assert row.status == "sent"
    [(headers, _body)] = receiver.requests
    assert headers["Host"] == url.split("/")[2]


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://10.0.0.5/hook",
         "the webhook address 10.0.0.5 is on a private network; an admin must allow it"),
        ("http://169.254.169.254/latest/meta-data/",
         "the webhook address 169.254.169.254 is link-local (where cloud metadata services "
         "answer); an admin must allow it"),
        ("http://[::ffff:10.0.0.5]/hook",
         "the webhook address ::ffff:10.0.0.5 is on a private network; an admin must allow it"),
        ("http://2130706433/hook",  # 127.0.0.1 written as one number
         "the webhook address 2130706433 (127.0.0.1) is a loopback address (this machine); "
         "an admin must allow it"),
        ("ftp://files.example/hook",
         "webhooks go over http or https only; this one's scheme is 'ftp:'"),
        ("file:///etc/passwd",
         "webhooks go over http or https only; this one's scheme is 'file:'"),
        ("http:///no-host", "the webhook address http:// names no host"),
        ("http://example.org:99999/", "the webhook address is not a valid URL"),
        (f"http://{'a' * 70}.example/", f"the webhook host {'a' * 70}.example is not a valid name"),
    ],
)  # fmt: skip
def test_a_refused_webhook_is_a_dead_letter_saying_why(
    commands: Commands, database: Database, clock: Clock, url: str, why: str
) -> None:
    number, row = relayed_webhook(commands, database, clock, url, NOTHING_ALLOWED)

    assert (row.status, row.attempts) == ("failed", 1)
    [event] = dead_letters(database, number)
    assert (event.why or "").startswith(why)


# The address check ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "a loopback address"),
        ("127.8.9.10", "a loopback address"),
        ("::1", "a loopback address"),
        ("0.0.0.0", "the unspecified address"),
        ("::", "the unspecified address"),
        ("10.1.2.3", "on a private network"),
        ("172.16.0.1", "on a private network"),
        ("192.168.1.1", "on a private network"),
        ("fd12:3456::1", "on a private network"),
        ("fc00::1", "on a private network"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("100.64.0.1", "on a shared (carrier-grade NAT) network"),
        ("224.0.0.251", "a multicast address"),
        ("ff02::1", "a multicast address"),
        ("240.0.0.1", "a reserved address"),
        ("255.255.255.255", "a reserved address"),
        ("192.0.2.7", "on a private network"),  # documentation range
        ("::ffff:127.0.0.1", "a loopback address"),  # IPv4-mapped IPv6
        ("::ffff:169.254.169.254", "link-local"),
        ("2002:7f00:1::1", "a loopback address"),  # 6to4 around 127.0.0.1
        ("2002:a00:5::1", "on a private network"),  # 6to4 around 10.0.0.5
        ("fec0::1", "on a private network"),  # the old IPv6 site-local range
    ],
)
def test_addresses_that_are_not_public_are_refused(address: str, kind: str) -> None:
    assert (targets.refusal(ip_address(address)) or "").startswith(kind)


@pytest.mark.parametrize(
    "address", ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"]
)
def test_public_addresses_are_reached(address: str) -> None:
    assert targets.refusal(ip_address(address)) is None


def test_an_allowed_network_opens_exactly_its_addresses() -> None:
    allowed = (ip_network("10.0.0.0/8"), ip_network("::1/128"))
    assert targets.refusal(ip_address("10.9.8.7"), allowed) is None
    assert targets.refusal(ip_address("::ffff:10.9.8.7"), allowed) is None
    assert targets.refusal(ip_address("::1"), allowed) is None
    assert targets.refusal(ip_address("127.0.0.1"), allowed) == "a loopback address (this machine)"
    assert targets.refusal(ip_address("192.168.0.1"), allowed) == "on a private network"


def test_allowed_networks_come_from_the_environment() -> None:
    settings = relay_settings(
        {"FLOWDESK_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.1/32, 10.0.0.0/8,,::1"}
    )
    assert settings.webhook_allowed_networks == (
        ip_network("127.0.0.1/32"), ip_network("10.0.0.0/8"), ip_network("::1/128"),
    )  # fmt: skip
    assert relay_settings({}).webhook_allowed_networks == ()


@pytest.mark.parametrize("value", ["10.0.0.5/8", "10.0.0.0/33", "intranet"])
def test_an_allowed_network_that_is_not_one_is_refused_by_name(value: str) -> None:
    with pytest.raises(SettingsError, match="FLOWDESK_WEBHOOK_ALLOWED_NETWORKS"):
        relay_settings({"FLOWDESK_WEBHOOK_ALLOWED_NETWORKS": value})


# Connecting where the check said ----------------------------------------------------------


class DNS:
    """A name server answering from a table: each look-up of a host gets its next answer."""

    def __init__(self, table: dict[str, list[list[str]]]) -> None:
        self.table = table
        self.asked: list[str] = []

    def __call__(self, host: str, port: int, **_: Any) -> list[tuple[Any, ...]]:
        self.asked.append(host)
        answers = self.table.get(host)
        if not answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in answer
        ]


def test_the_post_goes_to_the_checked_address_with_the_url_host_as_host(
    receiver: Receiver,
) -> None:
    port = int(receiver.url.split(":")[2].split("/")[0])
    # A rebinding name server answers loopback (allowed here) first, and 10.0.0.5 to
    # whoever asks again: the relay asks once and connects to the address it checked.
    dns = DNS({"hooks.example": [["127.0.0.1"], ["10.0.0.5"]]})

    status = webhooks.post(
        f"http://hooks.example:{port}/hooks/flowdesk?x=1", {"a": 1}, 7, LOOPBACK_ALLOWED, dns
    )

    assert status == 200
    assert dns.asked == ["hooks.example"]
    [(headers, _)] = receiver.requests
    assert headers["Host"] == f"hooks.example:{port}"


def test_a_name_that_cannot_be_looked_up_is_tried_again_later() -> None:
    with pytest.raises(TemporaryFailure, match=r"cannot look up the webhook host nowhere\.example"):
        webhooks.post("http://nowhere.example/", {}, 1, NOTHING_ALLOWED, DNS({}))


def test_a_name_with_refused_and_allowed_addresses_is_reached_at_the_allowed_ones() -> None:
    dns = DNS({"mixed.example": [["192.168.7.7", "127.0.0.1"]]})
    target = targets.parse("http://mixed.example:9/")

    assert targets.addresses(target, (ip_network("127.0.0.1/32"),), dns) == ["127.0.0.1"]
    with pytest.raises(PermanentFailure, match=r"mixed.example \(192.168.7.7\) is on a private"):
        targets.addresses(target, (), dns)


# https: the certificate is checked for the URL's host ---------------------------------------


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A test CA, and certificates it signed for hooks.example and for other.example."""
    if shutil.which("openssl") is None:
        pytest.skip("NO OPENSSL: the https tests make their certificates with the openssl tool")
    folder = tmp_path_factory.mktemp("tls")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    curve = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *curve, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=Flowdesk test CA")  # fmt: skip
    for name in ("hooks.example", "other.example"):
        openssl("req", *curve, "-keyout", f"{name}.key", "-out", f"{name}.csr",
                "-subj", f"/CN={name}")  # fmt: skip
        (folder / f"{name}.ext").write_text(f"subjectAltName=DNS:{name}\n")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", f"{name}.pem", "-days", "2",
                "-extfile", f"{name}.ext")  # fmt: skip
    return folder


@pytest.fixture
def tls_receiver(
    certificates: Path, request: pytest.FixtureRequest
) -> Iterator[tuple[int, Receiver]]:
    """An https endpoint on 127.0.0.1 showing the certificate of the test's parameter."""
    name = getattr(request, "param", "hooks.example")
    receiver = Receiver()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificates / f"{name}.pem", certificates / f"{name}.key")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            receiver.requests.append((dict(self.headers.items()), body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], receiver
    server.shutdown()
    server.server_close()
    thread.join()


def test_https_checks_the_certificate_for_the_url_host_on_the_checked_address(
    certificates: Path, tls_receiver: tuple[int, Receiver], monkeypatch: pytest.MonkeyPatch
) -> None:
    port, receiver = tls_receiver
    monkeypatch.setenv("SSL_CERT_FILE", str(certificates / "ca.pem"))
    dns = DNS({"hooks.example": [["127.0.0.1"]]})

    assert webhooks.post(f"https://hooks.example:{port}/in", {}, 3, LOOPBACK_ALLOWED, dns) == 204

    [(headers, _)] = receiver.requests
    assert headers["Host"] == f"hooks.example:{port}"


@pytest.mark.parametrize("tls_receiver", ["other.example"], indirect=True)
def test_https_refuses_a_certificate_made_out_to_another_host(
    certificates: Path, tls_receiver: tuple[int, Receiver], monkeypatch: pytest.MonkeyPatch
) -> None:
    port, receiver = tls_receiver
    monkeypatch.setenv("SSL_CERT_FILE", str(certificates / "ca.pem"))
    dns = DNS({"hooks.example": [["127.0.0.1"]]})

    with pytest.raises(TemporaryFailure, match="its certificate is refused"):
        webhooks.post(f"https://hooks.example:{port}/in", {}, 3, LOOPBACK_ALLOWED, dns)
    assert receiver.requests == []
