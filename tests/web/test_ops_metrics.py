"""`GET /metrics`: what Prometheus reads, and who may read it.

Latency by route (the URL rule, never the path), instances by status, the outbox backlog,
queue depth and workers, read from the real database and Redis at scrape time.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families
from redis import Redis
from rq import Queue
from sqlalchemy import func, select, update

from engine.jobs import timers
from engine.store.database import Database
from engine.store.instances import Outbox
from tests.web.test_portal import REPORT, submit, tracking_path


def scrape(
    client: FlaskClient, **kwargs: Any
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The samples of one scrape, by name and labels."""
    response = client.get("/metrics", **kwargs)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_latency_is_counted_by_route_and_status_class_never_by_path(client: FlaskClient) -> None:
    before = scrape(client)
    path = tracking_path(submit(client, REPORT))
    client.get(path)
    client.get("/track/not-a-token")
    client.get("/no/such/page")
    client.open("/health", method="BREW-COFFEE")  # any word may be a method: not a label
    after = scrape(client)

    def more(**labels: str) -> float:
        name = "flowdesk_http_request_duration_seconds_count"
        return value(after, name, **labels) - value(before, name, **labels)

    assert more(route="/track/<token>", method="GET", status="2xx") == 1
    assert more(route="/track/<token>", method="GET", status="4xx") == 1
    assert more(route="/new/<workflow_key>", method="POST", status="3xx") == 1
    assert more(route="<unmatched>", method="GET", status="4xx") == 1
    assert more(route="<unmatched>", method="other", status="4xx") == 1
    routes = {dict(labels).get("route", "") for (_name, labels) in after}
    assert not any(path.rsplit("/", 1)[1] in route for route in routes)  # no token as a label


def test_instances_by_status_and_the_outbox_backlog_are_read_at_scrape_time(
    client: FlaskClient, database: Database
) -> None:
    first = scrape(client)
    assert value(first, "flowdesk_instances", status="in_progress") == 0
    # The relay's series stand at 0 before the first message: an alert on their increase
    # fires at the first dead letter.
    for name in ("pending", "dead_letters", "oldest_pending_seconds"):
        assert first[(f"flowdesk_outbox_{name}", (("kind", "notify"),))] == 0
    tracking_path(submit(client, REPORT))
    tracking_path(submit(client, {**REPORT, "summary": "The screen is dark"}))
    samples = scrape(client)
    assert value(samples, "flowdesk_instances", status="in_progress") == 2
    assert value(samples, "flowdesk_outbox_pending", kind="notify") == 2  # two confirmations
    assert value(samples, "flowdesk_outbox_dead_letters", kind="notify") == 0
    assert value(samples, "flowdesk_source_up", source="database") == 1

    with database.writer_session() as session, session.begin():  # the relay gave one up
        first = session.scalar(select(func.min(Outbox.id)))
        session.execute(update(Outbox).where(Outbox.id == first).values(status="failed"))
    samples = scrape(client)
    assert value(samples, "flowdesk_outbox_pending", kind="notify") == 1
    assert value(samples, "flowdesk_outbox_dead_letters", kind="notify") == 1


def test_queue_depth_and_workers_are_read_from_redis(client: FlaskClient, redis: Redis) -> None:
    queue = Queue(timers.QUEUE, connection=redis)
    queue.enqueue(timers.fire, 1, "2026-11-23T08:00:00+00:00")
    queue.enqueue(timers.fire, 2, "2026-11-23T08:00:00+00:00")
    samples = scrape(client)
    assert value(samples, "flowdesk_queue_jobs", queue=timers.QUEUE, state="queued") == 2
    assert value(samples, "flowdesk_queue_jobs", queue=timers.QUEUE, state="scheduled") == 0
    assert value(samples, "flowdesk_workers") == 0
    assert value(samples, "flowdesk_source_up", source="redis") == 1


def test_a_client_on_another_machine_is_refused(client: FlaskClient) -> None:
    response = client.get("/metrics", environ_base={"REMOTE_ADDR": "10.20.30.40"})
    assert response.status_code == 403
    assert "FLOWDESK_METRICS_TOKEN" in response.text


def test_a_request_forwarded_by_a_local_proxy_is_refused(client: FlaskClient) -> None:
    response = client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
    assert response.status_code == 403


@pytest.fixture
def token(settings: dict[str, Any]) -> str:
    """A scrape token in the app's settings (ask for it before `client`)."""
    settings["METRICS_TOKEN"] = "s3cret-scrape"
    return "s3cret-scrape"


def test_with_a_token_set_only_its_bearer_may_scrape_from_anywhere(
    token: str, client: FlaskClient
) -> None:
    away = {"REMOTE_ADDR": "10.20.30.40"}
    assert client.get("/metrics").status_code == 401  # loopback alone no longer does
    wrong = client.get("/metrics", headers={"Authorization": "Bearer guess"}, environ_base=away)
    assert wrong.status_code == 401
    assert wrong.headers["WWW-Authenticate"].startswith("Bearer")
    good = {"Authorization": f"Bearer {token}"}
    assert scrape(client, headers=good, environ_base=away)


@pytest.fixture
def https(settings: dict[str, Any]) -> None:
    """The app served over HTTPS: plain HTTP pages redirect (ask for it before `client`)."""
    settings["HTTPS"] = True


def test_behind_https_probes_and_scrapes_still_reach_the_process_over_http(
    https: None, client: FlaskClient
) -> None:
    assert client.get("/sign-in").status_code == 302  # pages go to HTTPS
    assert client.get("/metrics").status_code == 200
    assert client.get("/health").status_code == 200
    assert client.get("/ready").status_code == 503  # no worker: an answer, not a redirect
