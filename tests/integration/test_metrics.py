"""GET /metrics of a running service: requests by route, the outbox backlog, the relay's count."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta

import httpx
import pytest
from prometheus_client import REGISTRY

from services.feedback.models import OutboxEvent as FeedbackOutbox
from services.reviews.models import OutboxEvent
from shared.auth import Role
from shared.database import utcnow
from shared.events import CloudEvent
from shared.metrics import OutboxGauges
from tests.conftest import ServiceClientFactory, TokenFactory
from tests.support.metrics import Scrape
from tests.support.tracing import recorded_spans
from tests.support.waiting import wait_until

pytestmark = pytest.mark.database

PERSON_ROUTE = "/people/{person_id}"


async def scrape(client: httpx.AsyncClient) -> Scrape:
    response = await client.get("/metrics")  # no token: Prometheus has none
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return Scrape(response.text)


async def test_requests_are_counted_by_route_template_method_and_status(
    service_client: ServiceClientFactory, auth: TokenFactory
) -> None:
    async with service_client("reviews") as reviews:
        hr = auth(Role.hr)
        created = await reviews.post("/people", json={"email": "m@example.com", "display_name": "M"}, headers=hr)
        assert created.status_code == 201
        person_id = created.json()["id"]
        missing = uuid.uuid4()
        before = await scrape(reviews)

        assert (await reviews.get(f"/people/{person_id}", headers=hr)).status_code == 200
        assert (await reviews.get(f"/people/{person_id}", headers=hr)).status_code == 200
        assert (await reviews.get(f"/people/{missing}", headers=hr)).status_code == 404
        assert (await reviews.get(f"/people/{person_id}")).status_code == 401
        assert (await reviews.get(f"/no-such-page/{missing}")).status_code == 404
        after = await scrape(reviews)

    def added(name: str, **labels: str) -> float:
        return after.value(name, **labels) - before.value(name, **labels)

    route = {"service": "reviews", "method": "GET", "route": PERSON_ROUTE}
    assert added("meritloop_http_requests_total", **route, status="200") == 2
    assert added("meritloop_http_requests_total", **route, status="404") == 1
    assert added("meritloop_http_requests_total", **route, status="401") == 1
    assert added("meritloop_http_requests_total", service="reviews", route="unmatched", status="404") == 1
    assert added("meritloop_http_request_duration_seconds_count", **route) == 4
    assert added("meritloop_http_request_duration_seconds_sum", **route) > 0
    assert added("meritloop_http_request_duration_seconds_bucket", **route, le="+Inf") == 4
    # Ids stay out of the labels: one series per route, whatever the path held.
    assert person_id not in after.text
    assert str(missing) not in after.text
    assert not after.has("meritloop_http_requests_total", route="/metrics"), "scrapes are not traffic"


async def test_pending_outbox_row_shows_in_the_gauges_until_published(service_client: ServiceClientFactory) -> None:
    async with service_client("reviews") as reviews:
        app = reviews.app  # type: ignore[attr-defined]
        await app.state.relay.stop()  # the row must wait for the relay
        event = CloudEvent(source="/meritloop/reviews", type="meritloop.reviews.metrics.tested", data={})
        async with app.state.sessionmaker() as session, session.begin():
            session.add(
                OutboxEvent(
                    id=event.id,
                    subject=event.nats_subject,
                    payload=event.model_dump_json(),
                    headers="{}",
                    created_at=utcnow() - timedelta(minutes=5),
                )
            )
        pending = await scrape(reviews)
        assert pending.value("meritloop_outbox_pending_events", service="reviews") == 1
        assert 300 <= pending.value("meritloop_outbox_oldest_pending_age_seconds", service="reviews") < 360
        published = pending.value("meritloop_outbox_published_events_total", subject=event.nats_subject)

        app.state.relay.start()

        async def drained() -> Scrape | None:
            await asyncio.sleep(0.2)  # scrapes within a second share one query
            current = await scrape(reviews)
            return current if current.value("meritloop_outbox_pending_events", service="reviews") == 0 else None

        after = await wait_until(drained, message="outbox drained in the gauge")
    assert after.value("meritloop_outbox_oldest_pending_age_seconds", service="reviews") == 0
    assert after.value("meritloop_outbox_published_events_total", subject=event.nats_subject) == published + 1


class HangingGauges(OutboxGauges):
    """A database that does not answer: the query never returns."""

    async def _query(self) -> tuple[int, float]:
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")


async def test_a_scrape_does_not_wait_for_a_hanging_database(service_client: ServiceClientFactory) -> None:
    async with service_client("feedback") as feedback:
        app = feedback.app  # type: ignore[attr-defined]
        assert (await scrape(feedback)).has("meritloop_outbox_pending_events", service="feedback")
        gauges = HangingGauges("feedback", app.state.sessionmaker, FeedbackOutbox, timeout=0.2, min_interval=0)
        started = time.monotonic()
        await gauges.refresh()
        assert time.monotonic() - started < 1.0
    # Left out rather than stale: the old numbers would read as a healthy outbox.
    for name in ("meritloop_outbox_pending_events", "meritloop_outbox_oldest_pending_age_seconds"):
        assert REGISTRY.get_sample_value(name, {"service": "feedback"}) is None


async def test_metrics_page_is_not_in_the_api_schema(service_client: ServiceClientFactory) -> None:
    async with service_client("goals") as goals:
        schema = (await goals.get("/openapi.json")).json()
    assert "/metrics" not in schema["paths"]


async def test_consumer_series_start_at_zero(service_client: ServiceClientFactory) -> None:
    """A dead-letter alert on increase() only sees the first dead letter of a series that already existed."""
    async with service_client("rewards") as rewards:
        consumers = rewards.app.state.consumers  # type: ignore[attr-defined]
        metrics = await scrape(rewards)
    assert consumers
    for consumer in consumers:
        for subject in consumer.subscription.subjects:
            labels = {"consumer": consumer.subscription.durable, "subject": subject}
            for name in ("meritloop_consumer_dead_letters_total", "meritloop_consumer_redeliveries_total"):
                assert metrics.has(name, **labels), (name, labels)


async def test_a_scrape_leaves_no_trace(service_client: ServiceClientFactory) -> None:
    """Prometheus scrapes every pod twice a minute: spans of that would bury the requests' traces."""
    with recorded_spans() as spans:
        async with service_client("goals") as goals:
            assert (await scrape(goals)).has("meritloop_outbox_pending_events", service="goals")
            assert (await goals.get("/healthz")).status_code == 200  # flushes the spans of the scrape, if any
    scrape_spans = [
        span.name
        for span in spans.get_finished_spans()
        if "/metrics" in span.name or "count(*)" in str((span.attributes or {}).get("db.statement", ""))
    ]
    assert not scrape_spans
