"""The Temporal worker: one process that runs every workflow and activity of Meritloop."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Sequence
from typing import Any

from temporalio.client import Client
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import Runtime
from temporalio.worker import Replayer, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from shared.metrics import temporal_runtime
from shared.settings import Settings
from shared.telemetry import configure_logging, configure_tracing
from workflows.employee_review import EmployeeReviewWorkflow
from workflows.ping import PingWorkflow, echo
from workflows.review_cycle import ReviewCycleWorkflow

logger = logging.getLogger(__name__)

WORKFLOWS: Sequence[type] = (PingWorkflow, ReviewCycleWorkflow, EmployeeReviewWorkflow)
# Activities that need nothing but their input. The review-cycle activities are bound to the
# reviews and rewards databases: run_worker builds them from the settings.
ACTIVITIES: Sequence[Callable[..., Any]] = (echo,)

# Model modules are deterministic and safe to share with the sandbox; reloading them for
# every workflow run would only cost time.
SANDBOX_PASSTHROUGH = ("pydantic", "shared", "workflows.models")


async def connect(settings: Settings, runtime: Runtime | None = None) -> Client:
    """``runtime`` (shared.metrics.temporal_runtime) makes the client and its workers export metrics."""
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=pydantic_data_converter,
        interceptors=[TracingInterceptor()],
        runtime=runtime,
    )


def _runner() -> SandboxedWorkflowRunner:
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*SANDBOX_PASSTHROUGH)
    )


def build_worker(client: Client, task_queue: str, activities: Sequence[Callable[..., Any]] = ()) -> Worker:
    """The worker; ``activities`` adds implementations (tests register fakes by activity name)."""
    return Worker(
        client,
        task_queue=task_queue,
        workflows=list(WORKFLOWS),
        activities=[*ACTIVITIES, *activities],
        workflow_runner=_runner(),
    )


def build_replayer() -> Replayer:
    """Replays histories exactly as the worker would run them (same sandbox, same converter)."""
    return Replayer(workflows=list(WORKFLOWS), workflow_runner=_runner(), data_converter=pydantic_data_converter)


async def run_worker(settings: Settings) -> None:
    configure_logging(settings.log_level)
    configure_tracing("meritloop-worker", settings)
    client = await connect(settings, temporal_runtime(settings))
    # The worker hosts the services' activities; imported here so workflow modules (and the
    # replayer) never pull service code into the sandbox.
    from services.reviews.cycles.activities import ReviewsActivities
    from services.rewards.activities import RewardsActivities

    activities = [*ReviewsActivities.from_settings(settings).all(), *RewardsActivities.from_settings(settings).all()]
    worker = build_worker(client, settings.temporal_task_queue, activities)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    logger.info("worker polling %s on %s", settings.temporal_task_queue, settings.temporal_address)
    async with worker:
        await stop.wait()
    logger.info("worker stopped")
