"""What a requester sees and where messages go: dotted paths and webhook addresses.

The tracking page's cut of the data, and the webhook addresses the pure core fills in
and the checker refuses, seen from `start` and `check_workflow` as a process owner
meets them. The pages, mails and posts themselves are in tests/integration.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from engine.core.checker import check_workflow
from engine.core.definition import Workflow
from engine.core.effects import Notify
from engine.core.runtime import start
from engine.service import seen
from tests.unit.flows import build, workflow

CALLER = {"email": "caller@example.org", "phone": "+31 20 555 0199"}


def hook(url: str, **extra: Any) -> dict[str, Any]:
    """Return a workflow whose first step posts to `url`, then ends."""
    steps = {
        "tell": {"type": "action", "notify": {"webhook": url}, "next": "done"},
        "done": {"type": "end"},
    }
    return workflow("tell", steps, **extra)


def posted(doc: dict[str, Any], data: dict[str, Any], at: datetime) -> list[str | None]:
    """Start an instance and return the webhook addresses it asks the relay to post to."""
    begun = start(build(doc), data, at, number="INC-000042")
    return [effect.webhook for effect in begun.effects if isinstance(effect, Notify)]


# requester_sees: a dotted path is that value and nothing more ------------------------------


def test_a_dotted_path_shows_that_value_and_not_the_rest_of_its_object() -> None:
    data = {"summary": "Jammed", "caller": CALLER, "cause": "toner"}

    shown = seen.shown_data(data, {"summary", "caller.email"})

    assert shown == {"summary": "Jammed", "caller": {"email": "caller@example.org"}}
    assert shown.get("caller.email") == "caller@example.org"  # as a form field's key reads it
    assert shown.get("caller.phone") is None


def test_a_path_inside_a_value_listed_whole_shows_the_whole_value() -> None:
    data = {"caller": CALLER, "missing": None}

    shown = seen.shown_data(data, {"caller", "caller.email", "nowhere.deep"})

    assert shown == {"caller": CALLER}


def test_the_fields_a_workflow_lists_are_its_paths_not_their_first_parts() -> None:
    doc = workflow("done", {"done": {"type": "end"}}, requester_sees=["caller.email"])

    visible = seen.visible_fields(Workflow.from_document(doc), None, [])

    assert visible == {"caller.email"}


# Webhook addresses: filled in, each value percent-encoded, the host as written -------------


def test_a_webhook_address_is_filled_in_with_each_value_percent_encoded(
    monday_morning: datetime,
) -> None:
    url = (
        "https://hooks.example.com/incidents/{{ instance.number }}/notes"
        "?team={{ team }}&by={{ who }}"
    )
    data = {"team": "a/b & c?#d", "who": "Zoë"}

    assert posted(hook(url), data, monday_morning) == [
        "https://hooks.example.com/incidents/INC-000042/notes"
        "?team=a%2Fb%20%26%20c%3F%23d&by=Zo%C3%AB"
    ]


def test_a_webhook_address_without_braces_is_posted_to_as_written(
    monday_morning: datetime,
) -> None:
    url = "https://hooks.example.com/intake?source=flowdesk"

    assert posted(hook(url), {}, monday_morning) == [url]


def test_a_value_that_would_climb_the_path_stops_the_step_on_an_incident(
    monday_morning: datetime,
) -> None:
    doc = hook("https://hooks.example.com/tenants/{{ tenant }}/alerts")

    begun = start(build(doc), {"tenant": ".."}, monday_morning)

    assert not [effect for effect in begun.effects if isinstance(effect, Notify)]
    [incident] = [event for event in begun.audit if event.kind == "incident"]
    assert "path segment '..'" in incident.why


@pytest.mark.parametrize(
    "url",
    [
        "https://{{ tenant }}.hooks.example.com/alerts",
        "https://hooks.example.com{{ path }}",
        "https://hooks.example.com:{{ port }}/alerts",
        "https://user:{{ secret }}@hooks.example.com/alerts",
    ],
)
def test_a_webhook_address_that_fills_in_its_host_is_refused_where_it_is(url: str) -> None:
    problems = check_workflow(hook(url))

    assert [(p.pointer, p.message) for p in problems] == [
        (
            "/steps/tell/notify/webhook",
            "the scheme and host of a webhook address are written out, never filled in: put "
            "{{ … }} after the host, in the path or the query, like "
            "https://hooks.example.com/incidents/{{ instance.number }}",
        )
    ]


def test_a_webhook_address_with_statements_is_refused_where_it_is() -> None:
    url = "https://hooks.example.com/alerts{% if urgent %}/urgent{% endif %}"

    problems = check_workflow(hook(url))

    assert [p.pointer for p in problems] == ["/steps/tell/notify/webhook"]
    assert "not {% … %}" in problems[0].message


def test_a_webhook_address_published_before_the_rule_is_not_posted_to(
    monday_morning: datetime,
) -> None:
    doc = Workflow.from_document(hook("https://{{ tenant }}.hooks.example.com/alerts"))

    begun = start(doc, {"tenant": "evil.example.net/"}, monday_morning)

    assert not [effect for effect in begun.effects if isinstance(effect, Notify)]
    [incident] = [event for event in begun.audit if event.kind == "incident"]
    assert "scheme and host of a webhook address are written out" in incident.why
