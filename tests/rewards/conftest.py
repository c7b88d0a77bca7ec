"""Fixtures of the rewards tests: the service on the test's database and NATS, the reviews stream."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import nats
import pytest
from nats.js import JetStreamContext

from shared.events import service_stream
from shared.settings import Settings
from tests.conftest import ServiceClientFactory


@pytest.fixture
async def js(settings: Settings) -> AsyncIterator[JetStreamContext]:
    """JetStream with the reviews stream in place (the reviews service itself does not run)."""
    nc = await nats.connect(settings.nats_url)
    try:
        context = nc.jetstream()
        await context.add_stream(service_stream("reviews"))
        yield context
    finally:
        await nc.close()


@pytest.fixture
async def rewards(service_client: ServiceClientFactory, js: JetStreamContext) -> AsyncIterator[httpx.AsyncClient]:
    async with service_client("rewards") as client:
        yield client
