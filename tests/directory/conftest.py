"""Fixtures of the directory tests: the reviews service with SCIM enabled."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from shared.settings import Settings
from tests.conftest import ServiceClientFactory

SCIM_TOKEN = "scim-provisioning-token-for-tests-0123456789"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The suite's settings, plus the provisioning client's token."""
    return settings.model_copy(update={"scim_token": SCIM_TOKEN})


@pytest.fixture
async def reviews(service_client: ServiceClientFactory) -> AsyncIterator[httpx.AsyncClient]:
    async with service_client("reviews") as client:
        yield client


@pytest.fixture
def scim_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {SCIM_TOKEN}", "Content-Type": "application/scim+json"}
