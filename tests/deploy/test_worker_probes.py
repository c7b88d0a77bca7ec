"""The worker's probes (deploy/k8s/worker.yaml): alive while its loop answers, ready while it polls
a real Temporal server; secrets read from a mounted folder."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import httpx
import pytest

from shared.health import serve_probes
from shared.settings import Environment, Settings
from tests.support.processes import TemporalServer, free_port
from tests.support.waiting import wait_until
from workflows.worker import run_worker


async def test_the_worker_answers_its_probes_while_it_polls(temporal_server: TemporalServer, tmp_path: Path) -> None:
    port = free_port()
    settings = Settings(
        environment=Environment.test,
        data_dir=tmp_path,
        temporal_address=temporal_server.address,
        temporal_task_queue=f"probes-{port}",
        worker_health_port=port,
    )
    worker = asyncio.create_task(run_worker(settings))
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", trust_env=False) as client:

            async def ready() -> bool:
                with contextlib.suppress(httpx.TransportError):
                    return (await client.get("/readyz")).status_code == 200
                return False

            await wait_until(ready, timeout=30.0, message="the worker is ready")
            assert (await client.get("/healthz")).json() == {"status": "ok"}
            assert (await client.get("/metrics")).status_code == 404
    finally:
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker


async def test_a_failing_check_makes_the_process_unready() -> None:
    reasons: list[str | None] = ["Temporal unreachable", None]

    async def check() -> str | None:
        return reasons.pop(0)

    port = free_port()
    server = await serve_probes("127.0.0.1", port, check)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", trust_env=False) as client:
            first = await client.get("/readyz")
            assert first.status_code == 503
            assert first.json() == {"status": "Temporal unreachable"}
            assert (await client.get("/readyz")).status_code == 200
            assert (await client.get("/healthz")).status_code == 200
    finally:
        server.close()
        await server.wait_closed()


def test_settings_come_from_a_mounted_secrets_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "secrets"
    folder.mkdir()
    (folder / "MERITLOOP_NATS_PASSWORD").write_text("from-the-mounted-secret\n")
    (folder / "MERITLOOP_GOALS_DATABASE_URL").write_text("postgresql+asyncpg://u:p@db/goals")
    monkeypatch.setenv("MERITLOOP_SECRETS_DIR", str(folder))
    settings = Settings()
    assert settings.nats_password == "from-the-mounted-secret"
    assert settings.goals_database_url == "postgresql+asyncpg://u:p@db/goals"
    assert settings.jwt_jwks_url is None, "a missing file leaves the setting unset"
