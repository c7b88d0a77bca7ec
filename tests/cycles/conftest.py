"""Review-cycle tests: the real Temporal dev server, NATS, the services (which run their own
activities) and the workflow worker as a process of its own, given no database setting."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import IO

import pytest

from services.reviews.cycles.temporal import holder
from shared.settings import Settings
from tests.support.processes import TemporalServer

ROOT = Path(__file__).resolve().parents[2]
# Long enough for production's check of the JWT secret; the worker verifies no token.
WORKER_JWT_SECRET = "workflow-worker-test-secret-0123456789"


@pytest.fixture
def settings(settings: Settings, temporal_server: TemporalServer) -> Settings:
    """The test's settings on the dev server, with task queues of the test's own; the reviews
    and rewards services run their activity workers in their lifespan."""
    holder.forget()
    holder.default_settings = None
    suffix = uuid.uuid4().hex[:10]
    return settings.model_copy(
        update={
            "temporal_address": temporal_server.address,
            "temporal_task_queue": f"cycles-{suffix}",
            "temporal_reviews_task_queue": f"reviews-{suffix}",
            "temporal_rewards_task_queue": f"rewards-{suffix}",
            "temporal_feedback_task_queue": f"feedback-{suffix}",
            "temporal_activity_worker": True,
        }
    )


def workflow_worker_environment(settings: Settings, data_dir: Path) -> dict[str, str]:
    """What ``meritloop worker`` gets: Temporal's address and queue, and nothing of a database.

    Production mode makes any use of a database setting fail (an unset URL raises there
    instead of falling back to SQLite), and the data folder is empty and read-only.
    """
    env = {name: value for name, value in os.environ.items() if not name.startswith("MERITLOOP_")}
    env.update(
        MERITLOOP_ENVIRONMENT="production",
        MERITLOOP_JWT_SECRET=WORKER_JWT_SECRET,
        MERITLOOP_DATA_DIR=str(data_dir),
        MERITLOOP_TEMPORAL_ADDRESS=settings.temporal_address,
        MERITLOOP_TEMPORAL_TASK_QUEUE=settings.temporal_task_queue,
    )
    return env


WorkerFactory = Callable[[], AbstractAsyncContextManager[subprocess.Popen[bytes]]]


def start_workflow_worker(settings: Settings, data_dir: Path, log: IO[bytes]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(Path(sys.executable).parent / "meritloop"), "worker"],
        cwd=ROOT,
        env=workflow_worker_environment(settings, data_dir),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


@pytest.fixture
def cycle_worker(settings: Settings, tmp_path: Path) -> WorkerFactory:
    """Start (and stop) ``meritloop worker``: every workflow, no activity of a service, no database."""

    @asynccontextmanager
    async def running() -> AsyncIterator[subprocess.Popen[bytes]]:
        data_dir = tmp_path / f"worker-data-{uuid.uuid4().hex[:6]}"
        data_dir.mkdir()
        data_dir.chmod(0o555)
        log_path = tmp_path / f"{data_dir.name}.log"
        with log_path.open("wb") as log:
            process = start_workflow_worker(settings, data_dir, log)
            try:
                deadline = time.monotonic() + 30
                while "worker polling" not in log_path.read_text(errors="replace"):
                    assert process.poll() is None, log_path.read_text(errors="replace")
                    assert time.monotonic() < deadline, "the workflow worker did not poll within 30 s"
                    await asyncio.sleep(0.05)
                yield process
                assert process.poll() is None, log_path.read_text(errors="replace")
            finally:
                if process.poll() is None:
                    os.kill(process.pid, signal.SIGTERM)
                    try:
                        await asyncio.to_thread(process.wait, 15)
                    except subprocess.TimeoutExpired:
                        os.kill(process.pid, signal.SIGKILL)
                        process.wait()
                assert list(data_dir.iterdir()) == [], "the workflow worker wrote into its data folder"

    return running
