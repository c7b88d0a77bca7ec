"""Review-cycle tests: the real Temporal dev server, NATS, the services and a worker with real activities."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from services.reviews.cycles.activities import ReviewsActivities
from services.reviews.cycles.temporal import holder
from services.rewards.activities import RewardsActivities
from shared.settings import Settings
from tests.support.processes import TemporalServer
from workflows.worker import build_worker, connect


@pytest.fixture
def settings(settings: Settings, temporal_server: TemporalServer) -> Settings:
    """The test's settings on the dev server, with a task queue of the test's own."""
    holder.forget()
    holder.default_settings = None
    return settings.model_copy(
        update={"temporal_address": temporal_server.address, "temporal_task_queue": f"cycles-{uuid.uuid4().hex[:10]}"}
    )


WorkerFactory = Callable[[], AbstractAsyncContextManager[Worker]]


@pytest.fixture
def cycle_worker(settings: Settings) -> WorkerFactory:
    """Start (and stop) a worker with every workflow and the real reviews and rewards activities."""

    @asynccontextmanager
    async def running() -> AsyncIterator[Worker]:
        client: Client = await connect(settings)
        reviews = ReviewsActivities.from_settings(settings)
        rewards = RewardsActivities.from_settings(settings)
        worker = build_worker(client, settings.temporal_task_queue, [*reviews.all(), *rewards.all()])
        async with worker:
            yield worker
        await reviews.sessionmaker.kw["bind"].dispose()
        await rewards.sessionmaker.kw["bind"].dispose()

    return running
