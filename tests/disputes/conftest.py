"""Fixtures of the dispute sweep tests: the reviews service alone (no Temporal, no worker)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from shared.settings import Settings
from tests.conftest import ServiceClientFactory


@pytest.fixture
async def reviews(service_client: ServiceClientFactory, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    # The tests run the sweep themselves with their own ``now``; the app's own would race them.
    settings.reviews_dispute_sweep_interval = 0
    async with service_client("reviews") as client:
        yield client
