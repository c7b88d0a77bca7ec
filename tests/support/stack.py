"""The whole system as processes a test owns and can kill: NATS with users, services, the worker.

``tests/conftest.py`` runs the services inside the test's own event loop (fast, but they die
only with the test). The chaos tests need what production has instead: each service a
uvicorn process of its own with its own NATS user, the workflow worker a process, and a
NATS server whose JetStream store is on disk, so that each can be killed and started again
on the same port, data and credentials.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from meritloop.launcher import binary
from shared.events.trust import BUS_USERS, ensure_passwords, new_password, server_config
from shared.settings import Settings
from tests.support.processes import free_port, stop_process, wait_for_port

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class SecuredNats:
    """nats-server with one user per component (``shared/events/trust.py``) and an ``admin``.

    The configuration, the passwords and the JetStream store live in ``folder``, so
    ``stop()``/``start()`` (or ``kill()``/``start()``) gives the same server back: same port,
    users and streams.
    """

    folder: Path
    port: int = field(default_factory=free_port)
    admin_password: str = field(default_factory=new_password)
    process: subprocess.Popen[bytes] | None = None
    password_files: dict[str, Path] = field(default_factory=dict)
    restarts: int = 0

    @property
    def url(self) -> str:
        """What a component is given: no credentials in the URL, its user comes from the settings."""
        return f"nats://127.0.0.1:{self.port}"

    @property
    def admin_url(self) -> str:
        """The test's own connection (reads every stream, deletes nothing)."""
        return f"nats://admin:{self.admin_password}@127.0.0.1:{self.port}"

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        if not self.password_files:
            self.password_files = ensure_passwords(self.folder / "users", [user.name for user in BUS_USERS])
        passwords = {name: path.read_text().strip() for name, path in self.password_files.items()}
        config = self.folder / "nats.conf"
        config.write_text(
            server_config(
                host="127.0.0.1",
                port=self.port,
                store_dir=self.folder / "store",
                passwords=passwords,
                admin_password=self.admin_password,
            )
        )
        config.chmod(0o600)
        log = (self.folder / "nats.log").open("ab")
        self.process = subprocess.Popen(
            [binary("nats-server"), "-c", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for_port(self.port, process=self.process)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None

    def kill(self) -> None:
        """SIGKILL: no flush, no goodbye to the clients (what a crashed pod looks like)."""
        if self.process is not None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
            self.process = None

    def restart(self, *, hard: bool = False, down_for: float = 0.0) -> None:
        self.kill() if hard else self.stop()
        time.sleep(down_for)
        self.start()
        self.restarts += 1


def _clean_environment() -> dict[str, str]:
    """The test runner's environment without any ``MERITLOOP_*`` setting of its own."""
    return {name: value for name, value in os.environ.items() if not name.startswith("MERITLOOP_")}


def settings_environment(settings: Settings) -> dict[str, str]:
    """The settings the test gave ``settings`` explicitly, as the ``MERITLOOP_*`` variables a child reads."""
    env: dict[str, str] = {}
    for name, value in settings.model_dump(mode="json", include=settings.model_fields_set).items():
        if value is None:
            continue
        env[f"MERITLOOP_{name.upper()}"] = json.dumps(value) if isinstance(value, list | dict) else str(value)
    return env


@dataclass
class ServiceProcess:
    """One service (or component) under ``uvicorn --factory``, connected as its own NATS user."""

    name: str
    settings: Settings
    nats: SecuredNats
    folder: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    # The uvicorn factory; None: ``services.<name>.app:create``.
    factory: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environment(self) -> dict[str, str]:
        env = {**_clean_environment(), **settings_environment(self.settings)}
        env.pop("MERITLOOP_NATS_PASSWORD", None)
        env.update(
            MERITLOOP_NATS_URL=self.nats.url,
            MERITLOOP_NATS_USER=self.name,
            MERITLOOP_NATS_PASSWORD_FILE=str(self.nats.password_files[self.name]),
        )
        env.update(self.extra_env)
        return env

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        log = (self.folder / f"{self.name}.log").open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                self.factory or f"services.{self.name}.app:create",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
                "--timeout-graceful-shutdown",
                "5",
            ],
            cwd=ROOT,
            env=self.environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    async def wait_ready(self, timeout: float = 60.0) -> None:
        """Until ``/readyz`` answers 200: its database and NATS answer."""
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(base_url=self.url, timeout=2.0) as client:
            while True:
                assert self.process is not None
                assert self.process.poll() is None, self.log_tail()
                try:
                    if (await client.get("/readyz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, f"{self.name} not ready in {timeout}s\n{self.log_tail()}"
                await asyncio.sleep(0.1)

    def kill(self) -> None:
        if self.process is not None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None

    async def restart(self, *, hard: bool = True) -> None:
        self.kill() if hard else self.stop()
        self.start()
        self.restarts += 1
        await self.wait_ready()

    def log_tail(self, lines: int = 40) -> str:
        path = self.folder / f"{self.name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


@dataclass
class WorkflowWorkerProcess:
    """``meritloop worker``: every workflow, no database and no NATS user (as in production)."""

    settings: Settings
    folder: Path
    jwt_secret: str
    process: subprocess.Popen[bytes] | None = None
    kills: int = 0
    _log: Path | None = None

    def environment(self) -> dict[str, str]:
        data = self.folder / "worker-data"
        data.mkdir(parents=True, exist_ok=True)
        data.chmod(0o555)
        env = _clean_environment()
        env.update(
            MERITLOOP_ENVIRONMENT="production",
            MERITLOOP_JWT_SECRET=self.jwt_secret,
            MERITLOOP_DATA_DIR=str(data),
            MERITLOOP_TEMPORAL_ADDRESS=self.settings.temporal_address,
            MERITLOOP_TEMPORAL_TASK_QUEUE=self.settings.temporal_task_queue,
        )
        return env

    def _spawn(self) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        log_path = self.folder / f"worker-{self.kills}.log"
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [str(Path(sys.executable).parent / "meritloop"), "worker"],
                cwd=ROOT,
                env=self.environment(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return log_path

    async def start(self, timeout: float = 60.0) -> None:
        """Start it and wait until it polls its task queue."""
        self._log = self._spawn()
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while "worker polling" not in self._log.read_text(errors="replace"):
            assert self.process.poll() is None, self._log.read_text(errors="replace")
            assert time.monotonic() < deadline, f"the workflow worker did not poll within {timeout}s"
            await asyncio.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: the workflow tasks it held time out and run again on the next worker."""
        if self.process is not None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
            self.process = None
            self.kills += 1

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, grace=15.0)
            self.process = None

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None
