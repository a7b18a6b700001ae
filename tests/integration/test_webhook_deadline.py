"""A webhook attempt is over within FLOWDESK_WEBHOOK_TIMEOUT, however slowly the other end answers.

A socket's timeout counts per operation: a receiver sending one header line a second never
lets a single read wait long, yet held the worker (and with it every timer) for as long as
it liked. The receivers here are real sockets on 127.0.0.1 that drip their answers; the
look-up is a resolver passed in that does not answer.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from ipaddress import ip_network
from pathlib import Path
from typing import Any

import pytest

from engine.jobs import webhooks
from engine.jobs.errors import TemporaryFailure
from engine.jobs.outbox import relay_outbox
from engine.service.commands import Commands
from engine.settings import RelaySettings
from engine.store.database import Database
from tests.infrastructure import Clock
from tests.integration.test_jobs_webhook_targets import DNS, certificates
from tests.integration.test_outbox_relay import (
    add_message,
    clear_outbox,
    only_row,
    password_incident,
)

__all__ = ["certificates"]  # a fixture, shared with the https tests of the targets

TIMEOUT = 1.0
#: What the machine may add to the limit (a loaded test run, thread switches).
MARGIN = 0.6
SETTINGS = RelaySettings(
    webhook_timeout_s=TIMEOUT, webhook_allowed_networks=(ip_network("127.0.0.1/32"),)
)


class Dripper:
    """An endpoint on 127.0.0.1 that reads a request, then sends its answer piece by piece."""

    def __init__(self, pieces: list[bytes], every: float, tls: ssl.SSLContext | None = None):
        self.pieces, self.every, self.tls = pieces, every, tls
        self.sent = 0
        self.stop = threading.Event()
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        try:
            raw, _ = self.server.accept()
        except OSError:  # closed before anyone came
            return
        connection = raw
        try:
            if self.tls is not None:
                connection = self.tls.wrap_socket(raw, server_side=True)
            connection.recv(65536)
            for piece in self.pieces:
                connection.sendall(piece)
                self.sent += 1
                if self.stop.wait(self.every):
                    return
        except OSError:  # the client gave up and closed: what the tests want
            return
        finally:
            connection.close()
            raw.close()

    def close(self) -> None:
        self.stop.set()
        self.server.close()
        self.thread.join(5)


@pytest.fixture
def dripping() -> Iterator[list[Dripper]]:
    started: list[Dripper] = []
    yield started
    for dripper in started:
        dripper.close()


def header_lines(count: int) -> list[bytes]:
    """An answer that would be a fine 200 if it ever ended: one header line per piece."""
    return [b"HTTP/1.1 200 OK\r\n", *[b"X-Slow: yes\r\n"] * count, b"Content-Length: 0\r\n\r\n"]


def timed_post(url: str, settings: RelaySettings = SETTINGS, **kwargs: Any) -> tuple[Any, float]:
    """POST, returning what was raised (or the status) and how long it took."""
    began = time.monotonic()
    try:
        outcome: Any = webhooks.post(url, {"a": 1}, 7, settings, **kwargs)
    except TemporaryFailure as failure:
        outcome = failure
    return outcome, time.monotonic() - began


def test_an_answer_dripped_line_by_line_is_cut_off_at_the_timeout(
    dripping: list[Dripper],
) -> None:
    # Each line comes well within the timeout; the whole answer would take 6 s.
    dripper = Dripper(header_lines(20), every=0.3)
    dripping.append(dripper)

    outcome, took = timed_post(f"http://127.0.0.1:{dripper.port}/hook")

    assert isinstance(outcome, TemporaryFailure)
    assert str(outcome) == (
        f"cannot reach http://127.0.0.1:{dripper.port}: no complete answer within 1 s"
    )
    assert TIMEOUT <= took < TIMEOUT + MARGIN
    assert dripper.sent < 10  # it was still dripping when the relay hung up


def test_an_answer_that_ends_in_time_is_not_cut_off(dripping: list[Dripper]) -> None:
    dripper = Dripper(header_lines(3), every=0.1)
    dripping.append(dripper)

    outcome, took = timed_post(f"http://127.0.0.1:{dripper.port}/hook")

    assert outcome == 200
    assert took < TIMEOUT


def test_an_answer_dripped_over_https_is_cut_off_at_the_timeout(
    certificates: Path, dripping: list[Dripper], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(certificates / "ca.pem"))
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(certificates / "hooks.example.pem", certificates / "hooks.example.key")
    dripper = Dripper(header_lines(20), every=0.3, tls=tls)
    dripping.append(dripper)
    dns = DNS({"hooks.example": [["127.0.0.1"]]})

    outcome, took = timed_post(f"https://hooks.example:{dripper.port}/hook", resolve=dns)

    assert isinstance(outcome, TemporaryFailure)
    assert "no complete answer within 1 s" in str(outcome)
    assert TIMEOUT <= took < TIMEOUT + MARGIN


def test_only_the_start_of_an_error_answer_is_read(dripping: list[Dripper]) -> None:
    # Four megabytes of error page, then a wait: reading it all would hit the timeout.
    body = b"x" * (4 * 1024 * 1024)
    head = b"HTTP/1.1 500 Oops\r\nContent-Length: %d\r\n\r\n" % (len(body) + 1)
    dripper = Dripper([head + body, b"!"], every=5)
    dripping.append(dripper)

    outcome, took = timed_post(f"http://127.0.0.1:{dripper.port}/hook")

    assert isinstance(outcome, TemporaryFailure)
    origin = f"http://127.0.0.1:{dripper.port}"
    assert str(outcome) == f"{origin} answered 500 Oops: {'x' * webhooks.MAX_ERROR_BODY}"
    assert took < TIMEOUT


def test_a_success_s_body_is_not_read(dripping: list[Dripper]) -> None:
    # A body that never ends: the status is all the relay needs.
    dripper = Dripper([b"HTTP/1.1 200 OK\r\nContent-Length: 999999\r\n\r\n", b"x"], every=5)
    dripping.append(dripper)

    outcome, took = timed_post(f"http://127.0.0.1:{dripper.port}/hook")

    assert outcome == 200
    assert took < TIMEOUT


def test_a_look_up_that_does_not_answer_is_given_up_at_the_timeout() -> None:
    released = threading.Event()

    def silent(host: str, port: int, **_: Any) -> list[tuple[Any, ...]]:
        released.wait(10)  # a resolver retrying server after server
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    try:
        outcome, took = timed_post("http://hooks.example/hook", resolve=silent)
    finally:
        released.set()

    assert isinstance(outcome, TemporaryFailure)
    assert str(outcome) == "cannot look up the webhook host hooks.example: no answer within 1 s"
    assert TIMEOUT <= took < TIMEOUT + MARGIN


def test_the_look_up_and_the_answer_share_one_deadline(dripping: list[Dripper]) -> None:
    # 0.6 s to look up, then an answer that needs 0.8 s more: each alone would fit.
    dripper = Dripper(header_lines(4), every=0.2)
    dripping.append(dripper)
    dns = DNS({"hooks.example": [["127.0.0.1"]]})

    def slow(host: str, port: int, **kwargs: Any) -> list[tuple[Any, ...]]:
        time.sleep(0.6)
        return dns(host, port, **kwargs)

    outcome, took = timed_post(f"http://hooks.example:{dripper.port}/hook", resolve=slow)

    assert isinstance(outcome, TemporaryFailure)
    assert TIMEOUT <= took < TIMEOUT + MARGIN


def test_a_webhook_cut_off_at_the_timeout_is_tried_again_later(
    commands: Commands, database: Database, clock: Clock, dripping: list[Dripper]
) -> None:
    dripper = Dripper(header_lines(20), every=0.3)
    dripping.append(dripper)
    number = password_incident(commands)
    clear_outbox(database)
    add_message(database, number, clock(), step="work", webhook=f"http://127.0.0.1:{dripper.port}/")

    began = time.monotonic()
    relay_outbox(database, settings=replace(SETTINGS, max_attempts=4), now=clock())

    assert time.monotonic() - began < TIMEOUT + MARGIN + 1  # the relay's own work included
    row = only_row(database)
    assert (row.status, row.attempts) == ("pending", 1)
    assert "no complete answer within 1 s" in (row.error or "")
