"""The chaos tests' system: every part a process the test owns, so each can be killed.

NATS (users per component, JetStream on disk), the Temporal dev server (state in a SQLite
file), the four services and the notifications component (uvicorn, each its own NATS user)
and the workflow worker. Nothing
here uses the session's shared NATS or Temporal servers: restarting those would disturb
other tests.
"""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from meritloop.bus import PROVISIONER
from notifications.database import upgrade_async as upgrade_notifications
from shared.auth import Role, mint_token
from shared.migrations import upgrade_async
from shared.settings import SERVICES, Environment, ServiceName, Settings
from tests.conftest import TokenFactory
from tests.support.bus import provision
from tests.support.processes import TemporalServer, free_port
from tests.support.stack import SecuredNats, ServiceProcess, WorkflowWorkerProcess

JWT_SECRET = "chaos-test-secret-0123456789-abcdefghij"


@dataclass
class Stack:
    settings: Settings  # the test's view: admin on NATS, every database
    nats: SecuredNats
    temporal: TemporalServer
    services: dict[ServiceName, ServiceProcess]
    notifications: ServiceProcess  # a component with consumers of its own on the reviews stream
    notifications_url: str
    worker: WorkflowWorkerProcess
    temporal_restarts: int = 0

    def restart_temporal(self) -> None:
        """SIGKILL the dev server and start it again on the same port and database file."""
        process = self.temporal.process
        assert process is not None
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        self.temporal.process = None
        self.temporal.start()
        self.temporal_restarts += 1


@pytest.fixture
async def stack(tmp_path: Path, database_urls: dict[ServiceName, str]) -> AsyncIterator[Stack]:
    nats = SecuredNats(tmp_path / "nats")
    temporal = TemporalServer(workdir=tmp_path / "temporal", db_file=tmp_path / "temporal" / "temporal.db")
    nats.start()
    await provision(nats.url, nats.password_files[PROVISIONER].read_text().strip())
    started: list[ServiceProcess] = []
    worker: WorkflowWorkerProcess | None = None
    try:
        temporal.start()
        suffix = uuid.uuid4().hex[:8]
        settings = Settings(
            environment=Environment.test,
            data_dir=tmp_path / "data",
            jwt_secret=JWT_SECRET,
            nats_url=nats.admin_url,
            goals_database_url=database_urls["goals"],
            feedback_database_url=database_urls["feedback"],
            reviews_database_url=database_urls["reviews"],
            rewards_database_url=database_urls["rewards"],
            temporal_address=temporal.address,
            temporal_task_queue=f"cycles-{suffix}",
            temporal_reviews_task_queue=f"reviews-{suffix}",
            temporal_rewards_task_queue=f"rewards-{suffix}",
            temporal_activity_worker=True,
            outbox_poll_interval=0.2,
            # Production's redelivery steps reach 120 s; the same policy, shortened to the test.
            consumer_backoff=[0.2, 0.5, 1.0, 2.0],
            consumer_ack_wait=10.0,
            cycle_update_timeout=10.0,
        )
        (tmp_path / "data").mkdir(exist_ok=True)
        for name in SERVICES:
            await upgrade_async(name, settings.database_url(name))
        notifications_url = f"sqlite+aiosqlite:///{tmp_path / 'notifications.db'}"
        await upgrade_notifications(notifications_url)
        services = {name: ServiceProcess(name, settings, nats, tmp_path / "logs") for name in SERVICES}
        # reviews first: it creates the stream the others' durable consumers read.
        order: list[ServiceName] = ["reviews", *[n for n in SERVICES if n != "reviews"]]
        for name in order:
            services[name].start()
            started.append(services[name])
            await services[name].wait_ready()
        notifications = ServiceProcess(
            "notifications",
            settings,
            nats,
            tmp_path / "logs",
            factory="notifications.app:create",
            # No SMTP server listens there: mails wait and are retried, which is not under test.
            extra_env={
                "MERITLOOP_NOTIFICATIONS_DATABASE_URL": notifications_url,
                "MERITLOOP_SMTP_PORT": str(free_port()),
            },
        )
        notifications.start()
        started.append(notifications)
        await notifications.wait_ready()
        worker = WorkflowWorkerProcess(settings, tmp_path / "worker", JWT_SECRET)
        await worker.start()
        yield Stack(settings, nats, temporal, services, notifications, notifications_url, worker)
    finally:
        if worker is not None:
            worker.stop()
        for service in reversed(started):
            # Killed, not stopped: a graceful shutdown is not under test here and costs seconds each.
            service.kill()
        temporal.stop()
        nats.stop()


@pytest.fixture
def auth(stack: Stack) -> TokenFactory:
    def headers(*roles: Role, person_id: uuid.UUID | None = None) -> dict[str, str]:
        token = mint_token(stack.settings, person_id or uuid.uuid4(), roles or (Role.employee,))
        return {"Authorization": f"Bearer {token}"}

    return headers
