"""The workflow worker: runs every workflow of Meritloop and no service activity.

It needs Temporal and nothing else: no database URL. The activities run in the services that
own their data (reviews, rewards), each on its own task queue (workflows/client.py).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Sequence
from typing import Any

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from shared.health import serve_probes
from shared.metrics import temporal_runtime
from shared.settings import Settings
from shared.telemetry import configure_logging, configure_tracing
from workflows.client import connect
from workflows.employee_review import EmployeeReviewWorkflow
from workflows.pay_approval import PayApprovalChainWorkflow
from workflows.ping import PingWorkflow, echo
from workflows.review_cycle import ReviewCycleWorkflow

logger = logging.getLogger(__name__)

WORKFLOWS: Sequence[type] = (PingWorkflow, ReviewCycleWorkflow, EmployeeReviewWorkflow, PayApprovalChainWorkflow)
# Activities that need nothing but their input (the ping's); the review-cycle activities run
# in the reviews and rewards services.
ACTIVITIES: Sequence[Callable[..., Any]] = (echo,)

# Model modules are deterministic and safe to share with the sandbox; reloading them for
# every workflow run would only cost time.
SANDBOX_PASSTHROUGH = ("pydantic", "shared", "workflows.models")


def _runner() -> SandboxedWorkflowRunner:
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*SANDBOX_PASSTHROUGH)
    )


def build_worker(client: Client, task_queue: str) -> Worker:
    """The workflow worker of ``task_queue``: every workflow, and the ping's echo activity."""
    return Worker(
        client,
        task_queue=task_queue,
        workflows=list(WORKFLOWS),
        activities=list(ACTIVITIES),
        workflow_runner=_runner(),
    )


def build_replayer() -> Replayer:
    """Replays histories exactly as the worker would run them (same sandbox, same converter)."""
    return Replayer(workflows=list(WORKFLOWS), workflow_runner=_runner(), data_converter=pydantic_data_converter)


async def run_worker(settings: Settings) -> None:
    configure_logging(settings.log_level)
    configure_tracing("meritloop-worker", settings)
    client = await connect(settings, temporal_runtime(settings))
    worker = build_worker(client, settings.temporal_task_queue)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    logger.info("worker polling %s on %s", settings.temporal_task_queue, settings.temporal_address)
    async with worker:
        probes = await _probes(settings, client, worker)
        try:
            await stop.wait()
        finally:
            if probes is not None:
                probes.close()
    logger.info("worker stopped")


async def _probes(settings: Settings, client: Client, worker: Worker) -> asyncio.Server | None:
    """Kubernetes' probes of the worker: alive while its loop answers, ready while it polls Temporal."""
    if settings.worker_health_port is None:
        return None

    async def ready() -> str | None:
        if not worker.is_running or worker.is_shutdown:
            return "the worker is not polling"
        try:
            await asyncio.wait_for(client.service_client.check_health(), 2.0)
        except Exception as exc:  # noqa: BLE001 - reported to the probe, not raised
            return f"Temporal unreachable at {settings.temporal_address}: {type(exc).__name__}"
        return None

    host = settings.worker_metrics_host or settings.host
    return await serve_probes(host, settings.worker_health_port, ready)
