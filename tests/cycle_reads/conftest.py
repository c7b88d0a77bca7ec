"""Fixtures of the read-side cycle tests: the reviews service alone (no Temporal, no worker)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.conftest import ServiceClientFactory


@pytest.fixture
async def reviews(service_client: ServiceClientFactory) -> AsyncIterator[httpx.AsyncClient]:
    async with service_client("reviews") as client:
        yield client
