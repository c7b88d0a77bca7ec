"""Fixtures of the writing-help tests: a scripted model server and services configured to use it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from services.goals.endpoints import today
from shared.settings import Settings
from tests.conftest import ServiceClientFactory
from tests.goals.conftest import TODAY
from tests.llm.server import ModelServer, model_server

API_KEY = "sk-test-only-not-a-real-key"


@pytest.fixture
async def model() -> AsyncIterator[ModelServer]:
    async with model_server() as server:
        yield server


@pytest.fixture
def settings(settings: Settings, model: ModelServer, tmp_path: Path) -> Settings:
    """The usual test settings, with the model server configured."""
    return settings.model_copy(
        update={
            "llm_base_url": model.url,
            "llm_model": "test-model",
            "llm_api_key": SecretStr(API_KEY),
            # Generous: a loaded CI machine once took over 2 s for a local answer; tests that want
            # a timeout set their own (configure(..., llm_timeout=0.5)).
            "llm_timeout": 10.0,
            "llm_concurrency": 2,
            "llm_daily_quota": 5,
        }
    )


def configure(client: httpx.AsyncClient, **changes: Any) -> None:
    """Change the running service's settings; the model is built again on the next request."""
    state = client.app.state  # type: ignore[attr-defined]
    state.settings = state.settings.model_copy(update=changes)
    if hasattr(state, "llm"):
        del state.llm


@pytest.fixture
async def goals(service_client: ServiceClientFactory) -> AsyncIterator[httpx.AsyncClient]:
    async with service_client("goals") as client:
        client.app.dependency_overrides[today] = lambda: TODAY  # type: ignore[attr-defined]
        yield client


@pytest.fixture
async def reviews(service_client: ServiceClientFactory) -> AsyncIterator[httpx.AsyncClient]:
    async with service_client("reviews") as client:
        yield client
