"""The shipped mails a requester gets link where they can go: a page they sign in to when
they have an account, their private tracking page (whose link only the first mail carries)
when they have none. The New request page's `/instances/NUMBER` asked an anonymous
requester to sign in, with no account to sign in with."""

from __future__ import annotations

from typing import Any

import pytest

from engine.jobs.mail import render

BASE = "https://desk.example.org"


def context(requester: str | None) -> dict[str, Any]:
    instance = {"number": "VC-000002", "title": "Late delivery", "requester": requester}
    return {
        "instance": {**instance, "team": "Purchasing"},
        "base_url": BASE,
        "summary": "Late delivery",
        "name": "Hanna",
    }


@pytest.mark.parametrize("template", ["request-declined", "password-reset"])
def test_a_requester_with_an_account_is_sent_to_the_instance_page(template: str) -> None:
    _subject, body = render(template, context("alice"))
    assert f"{BASE}/instances/VC-000002" in body


@pytest.mark.parametrize("template", ["request-declined", "password-reset"])
def test_a_requester_without_an_account_is_sent_to_their_tracking_page(template: str) -> None:
    _subject, body = render(template, context(None))
    words = " ".join(body.split())
    assert "/instances/" not in words
    assert "private tracking page" in words
    assert "is in the mail we sent when you" in words


@pytest.mark.parametrize(
    ("template", "note", "said"),
    [
        ("desk-replied", {"comment": "Which floor is it on?"}, "Which floor is it on?"),
        (
            "original-ended",
            {"original": "VC-000001", "status": "resolved"},
            "VC-000001 is now resolved",
        ),
    ],
)
def test_the_mails_flowdesk_sends_a_requester_without_an_account_say_what_happened(
    template: str, note: dict[str, str], said: str
) -> None:
    subject, body = render(template, {**context(None), "note": note})
    words = " ".join(body.split())
    assert said in words
    assert "VC-000002" in subject
    assert "/instances/" not in words  # no page they could sign in to
    assert "private tracking page" in words
