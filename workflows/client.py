"""What the services need of Temporal: a connected client, a worker for their activities, and
the refusal behind a failed Update.

Services import this module; it imports no service (and no workflow code), so the workflow
worker and the services share one way to connect.

Refusals: turn a refused Update into the refusal code and HTTP status to answer::

try:
    await handle.execute_update(EmployeeReviewWorkflow.complete_task, CompleteTask(...))
except Exception as error:
    refusal = refusal_of(error)
    if refusal is None:
        raise
    raise Conflict(...)  # problem+json with refusal.status, refusal.code, refusal.message
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Any

from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.runtime import Runtime
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from shared.metrics import SDKMetrics, sdk_metrics, temporal_runtime
from shared.settings import Settings
from workflows.models import REFUSAL_STATUS, ActivityQueues, Refusal

logger = logging.getLogger(__name__)

# Seconds between attempts to reach Temporal from a service's activity worker, growing to the last.
CONNECT_BACKOFF = (0.5, 1.0, 2.0, 5.0)
# Seconds between copies of the SDK's buffered metrics into the service's registry.
SDK_DRAIN_INTERVAL = 5.0


async def connect(settings: Settings, runtime: Runtime | None = None) -> Client:
    """The client every process uses: pydantic payloads and tracing, as the workflows expect.

    ``runtime`` (shared.metrics.temporal_runtime) makes the client and its workers export metrics.
    """
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=pydantic_data_converter,
        interceptors=[TracingInterceptor()],
        runtime=runtime,
    )


def activity_queues(settings: Settings) -> ActivityQueues:
    """The queues a cycle started with these settings names for its activities."""
    return ActivityQueues(
        reviews=settings.temporal_reviews_task_queue,
        rewards=settings.temporal_rewards_task_queue,
        feedback=settings.temporal_feedback_task_queue,
    )


def activity_worker(client: Client, task_queue: str, activities: Sequence[Callable[..., Any]]) -> Worker:
    """A worker that runs activities only: a service's own, next to the data they touch."""
    return Worker(client, task_queue=task_queue, activities=list(activities))


@asynccontextmanager
async def serving_activities(
    settings: Settings, task_queue: str, activities: Sequence[Callable[..., Any]]
) -> AsyncIterator[None]:
    """Run the service's activity worker for ``task_queue`` in the background for the block.

    With ``settings.temporal_legacy_activity_queue`` set, a second worker serves the same
    activities there: runs begun before the activities moved to the services schedule them on
    their own workflow queue (patch ``activities-on-service-queues``). Both services poll it,
    so an activity of the other service that lands here fails its attempt and its retry
    finds the right one.
    """
    async with AsyncExitStack() as stack:
        runtime = temporal_runtime(settings)
        if runtime is None:
            # In a service's process: the SDK's metrics go to the service's own /metrics.
            buffered = sdk_metrics()
            runtime = buffered.runtime
            await stack.enter_async_context(_draining(buffered))
        await stack.enter_async_context(_background_worker(settings, task_queue, activities, runtime))
        legacy = settings.temporal_legacy_activity_queue
        if legacy and legacy != task_queue:
            await stack.enter_async_context(_background_worker(settings, legacy, activities, runtime))
        yield


@asynccontextmanager
async def _draining(metrics: SDKMetrics) -> AsyncIterator[None]:
    """Copies the SDK's buffered metrics into the registry every few seconds, so the buffer never
    fills between scrapes (each scrape drains it too)."""

    async def drain() -> None:
        while True:
            await asyncio.sleep(SDK_DRAIN_INTERVAL)
            metrics.drain()

    task = asyncio.create_task(drain(), name="temporal-sdk-metrics")
    try:
        yield
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
        metrics.drain()


@asynccontextmanager
async def _background_worker(
    settings: Settings, task_queue: str, activities: Sequence[Callable[..., Any]], runtime: Runtime | None = None
) -> AsyncIterator[None]:
    """The service starts without waiting for Temporal: the worker connects (and reconnects
    after a failed start) on its own, so an API that needs no workflow answers meanwhile."""
    stop = asyncio.Event()

    async def run() -> None:
        attempt = 0
        while not stop.is_set():
            try:
                client = await asyncio.wait_for(connect(settings, runtime), timeout=10)
                worker = activity_worker(client, task_queue, activities)
                running = asyncio.create_task(worker.run())
                stopped = asyncio.create_task(stop.wait())
                logger.info("activities polling %s on %s", task_queue, settings.temporal_address)
                await asyncio.wait({running, stopped}, return_when=asyncio.FIRST_COMPLETED)
                if not running.done():
                    await worker.shutdown()
                stopped.cancel()
                await running  # a worker that failed on its own raises here and starts again
                attempt = 0
            except (TimeoutError, RuntimeError, RPCError) as exc:
                delay = CONNECT_BACKOFF[min(attempt, len(CONNECT_BACKOFF) - 1)]
                attempt += 1
                logger.warning("activity worker for %s not running (%s); retrying in %.1fs", task_queue, exc, delay)
                with suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=delay)

    task = asyncio.create_task(run(), name=f"activities-{task_queue}")
    try:
        yield
    finally:
        stop.set()
        await task


@dataclass(frozen=True)
class UpdateRefusal:
    code: Refusal
    message: str

    @property
    def status(self) -> int:
        return REFUSAL_STATUS[self.code]


def refusal_of(error: BaseException) -> UpdateRefusal | None:
    """The refusal behind a failed Update, or None when the error is not a refusal (a 5xx)."""
    if isinstance(error, WorkflowUpdateFailedError) and isinstance(error.cause, ApplicationError):
        try:
            return UpdateRefusal(Refusal(error.cause.type or ""), error.cause.message)
        except ValueError:
            return None
    if isinstance(error, RPCError) and error.status is RPCStatusCode.NOT_FOUND:
        # The workflow has ended: the review is over (its tasks are closed in the inbox).
        return UpdateRefusal(Refusal.review_closed, "the review has ended")
    return None
