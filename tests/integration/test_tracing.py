"""One trace from an HTTP request through the outbox and NATS into another service's consumer."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AsyncExitStack

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared.auth import Role
from tests.conftest import ServiceClientFactory, TokenFactory
from tests.support.tracing import recorded_spans
from tests.support.waiting import wait_until

pytestmark = pytest.mark.database


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    with recorded_spans() as exporter:
        yield exporter


async def test_consumer_span_continues_the_request_trace(
    service_client: ServiceClientFactory, auth: TokenFactory, spans: InMemorySpanExporter
) -> None:
    async with AsyncExitStack() as stack:
        reviews = await stack.enter_async_context(service_client("reviews"))
        await stack.enter_async_context(service_client("goals"))
        response = await reviews.post(
            "/people", json={"email": "t@example.com", "display_name": "T"}, headers=auth(Role.hr)
        )
        assert response.status_code == 201

        def consumer_span() -> ReadableSpan | None:
            for span in spans.get_finished_spans():
                if span.name == "consume meritloop.reviews.person.upserted":
                    return span
            return None

        consumed = await wait_until(consumer_span, message="consumer span")
    request_spans = [
        span
        for span in spans.get_finished_spans()
        if span.kind == trace.SpanKind.SERVER and span.attributes and span.attributes.get("http.route") == "/people"
    ]
    assert request_spans, [span.name for span in spans.get_finished_spans()]
    assert consumed.context is not None
    assert request_spans[0].context is not None
    assert consumed.context.trace_id == request_spans[0].context.trace_id
    assert consumed.attributes is not None
    assert consumed.attributes["messaging.consumer.group.name"] == "goals-people"
