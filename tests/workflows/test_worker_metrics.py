"""The worker process (run_worker) serves the Temporal SDK's metrics for Prometheus."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from shared.settings import Settings
from tests.support.metrics import Scrape
from tests.support.processes import TemporalServer, free_port, stop_process, wait_for_port
from tests.support.waiting import wait_until
from workflows.ping import PingInput, PingWorkflow

# The worker as `meritloop worker` runs it, without going through the CLI module.
RUN_WORKER = (
    "import asyncio; from shared.settings import Settings; from workflows.worker import run_worker; "
    "asyncio.run(run_worker(Settings()))"
)


@pytest.fixture
def metrics_port() -> int:
    return free_port()


@pytest.fixture
def worker_process(
    temporal_server: TemporalServer, task_queue: str, metrics_port: int, tmp_path: Path
) -> Iterator[subprocess.Popen[bytes]]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("MERITLOOP_")}
    env |= {
        "MERITLOOP_ENVIRONMENT": "test",
        "MERITLOOP_DATA_DIR": str(tmp_path),
        "MERITLOOP_TEMPORAL_ADDRESS": temporal_server.address,
        "MERITLOOP_TEMPORAL_TASK_QUEUE": task_queue,
        "MERITLOOP_WORKER_METRICS_PORT": str(metrics_port),
    }
    log = (tmp_path / "worker.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-c", RUN_WORKER],
        env=env,
        cwd=tmp_path,  # no stray .env file
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield process
    finally:
        stop_process(process)
        log.close()


async def test_worker_serves_temporal_sdk_metrics(
    worker_process: subprocess.Popen[bytes], dev_client: Client, task_queue: str, metrics_port: int, tmp_path: Path
) -> None:
    try:
        await asyncio.to_thread(wait_for_port, metrics_port, timeout=60, process=worker_process)
    except (RuntimeError, TimeoutError) as error:
        raise AssertionError((tmp_path / "worker.log").read_text()) from error
    result = await dev_client.execute_workflow(
        PingWorkflow.run, PingInput(message="count me"), id=f"ping-{uuid.uuid4()}", task_queue=task_queue
    )
    assert result.message == "count me"

    async def scraped() -> Scrape | None:
        async with httpx.AsyncClient() as http:
            response = await http.get(f"http://127.0.0.1:{metrics_port}/metrics")
        assert response.status_code == 200
        scrape = Scrape(response.text)
        # The SDK exports on an interval: the completion shows up a moment later.
        return scrape if scrape.value("temporal_workflow_completed_total", task_queue=task_queue) >= 1 else None

    scrape = await wait_until(scraped, timeout=30, interval=0.5, message="the ping counted")
    assert scrape.value("temporal_activity_execution_failed_total", task_queue=task_queue) == 0
    assert scrape.value("temporal_workflow_task_execution_failed_total", task_queue=task_queue) == 0
    assert scrape.has("temporal_workflow_task_schedule_to_start_latency_seconds_bucket", task_queue=task_queue)
    assert scrape.has("temporal_activity_schedule_to_start_latency_seconds_bucket", task_queue=task_queue)


def test_worker_metrics_are_off_unless_a_port_is_set() -> None:
    from shared.metrics import temporal_runtime

    assert temporal_runtime(Settings(worker_metrics_port=None)) is None


async def test_a_services_activity_worker_reports_sdk_metrics_on_the_services_own_endpoint(
    temporal_server: TemporalServer, dev_client: Client, task_queue: str
) -> None:
    from fastapi import FastAPI

    from shared.metrics import install_metrics
    from workflows.client import serving_activities
    from workflows.ping import echo

    app = FastAPI()
    install_metrics(app, "activities-test", None)
    settings = Settings(temporal_address=temporal_server.address, worker_metrics_port=None)
    workflows_only = Worker(dev_client, task_queue=task_queue, workflows=[PingWorkflow])
    # Two services' workers in one process (as in tests, or `meritloop up`) report the same names.
    other = serving_activities(settings, f"{task_queue}-other", [echo])
    async with serving_activities(settings, task_queue, [echo]), other, workflows_only:
        result = await dev_client.execute_workflow(
            PingWorkflow.run, PingInput(message="count me"), id=f"ping-{uuid.uuid4()}", task_queue=task_queue
        )
    assert result.message == "count me"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://service") as http:
        response = await http.get("/metrics")
    assert response.status_code == 200
    scrape = Scrape(response.text)
    # Counted by the activity worker only: the workflow worker above runs on Temporal's default runtime.
    assert scrape.value("temporal_activity_execution_latency_seconds_count", task_queue=task_queue) == 1
    assert scrape.value("temporal_activity_execution_failed_total", task_queue=task_queue) == 0
    assert scrape.has("temporal_activity_schedule_to_start_latency_seconds_bucket", task_queue=task_queue)
    assert not scrape.has("temporal_workflow_completed_total", task_queue=task_queue)
    assert scrape.value("temporal_worker_start_total", task_queue=f"{task_queue}-other") == 1
