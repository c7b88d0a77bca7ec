from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from shared.settings import Settings
from tests.conftest import ServiceClientFactory, TokenFactory
from tests.feedback.support import Org, ensure_directory_stream, make_org


@pytest.fixture
async def client(service_client: ServiceClientFactory, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    await ensure_directory_stream(settings.nats_url)
    async with service_client("feedback") as client:
        yield client


@pytest.fixture
async def org(client: httpx.AsyncClient, settings: Settings, auth: TokenFactory) -> Org:
    return await make_org(settings.nats_url, client, auth)
