"""The NATS connection of one process, kept alive in the background, and its streams."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import BadRequestError

from shared.events.envelope import DEAD_LETTER_PREFIX, stream_name, stream_subjects
from shared.events.trust import DEAD_LETTER_STREAM as DEAD_LETTER_STREAM
from shared.events.trust import inbox_prefix
from shared.settings import Environment, Settings

logger = logging.getLogger(__name__)

# Longer than any relay back-off, so a row re-published after a crash is still recognised.
DUPLICATE_WINDOW = timedelta(minutes=30)
DRAIN_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class BusCredentials:
    """Who a process is on the bus, and how it knows the server is the real one."""

    user: str | None = None
    password: str | None = None
    tls: ssl.SSLContext | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> BusCredentials:
        if settings.nats_user is not None and settings.nats_password is None:
            raise ValueError("MERITLOOP_NATS_USER is set without MERITLOOP_NATS_PASSWORD(_FILE)")
        return cls(settings.nats_user, settings.nats_password, tls_context(settings))

    def connect_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {"inbox_prefix": inbox_prefix(self.user)}
        if self.user is not None:
            options |= {"user": self.user, "password": self.password}
        if self.tls is not None:
            options["tls"] = self.tls
        return options


def tls_context(settings: Settings) -> ssl.SSLContext | None:
    """The client TLS context the settings ask for; None for plain TCP."""
    wanted = settings.nats_tls or settings.nats_tls_ca_file is not None or settings.nats_url.startswith("tls://")
    if not wanted:
        return None
    ca = str(settings.nats_tls_ca_file) if settings.nats_tls_ca_file is not None else None
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca)
    if settings.nats_tls_cert_file is not None:
        key = str(settings.nats_tls_key_file) if settings.nats_tls_key_file is not None else None
        context.load_cert_chain(str(settings.nats_tls_cert_file), key)
    return context


class EventBus:
    """Connects with retries, so a service starts (and reports not-ready) while NATS is down."""

    def __init__(self, url: str, *, name: str, credentials: BusCredentials | None = None) -> None:
        self.url = url
        self.name = name
        self.credentials = credentials or BusCredentials()
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._streams: list[StreamConfig] = []

    @classmethod
    def from_settings(cls, settings: Settings, *, name: str) -> EventBus:
        credentials = BusCredentials.from_settings(settings)
        if credentials.user is None and settings.environment is Environment.production:
            logger.warning("connecting to NATS without credentials in production: set MERITLOOP_NATS_USER")
        return cls(settings.nats_url, name=name, credentials=credentials)

    def declare_stream(self, config: StreamConfig) -> None:
        self._streams.append(config)

    def start(self) -> None:
        self._task = asyncio.create_task(self._connect_forever(), name=f"nats-connect-{self.name}")

    async def _connect_forever(self) -> None:
        delay = 0.2
        while True:
            try:
                nc = await nats.connect(
                    self.url,
                    name=self.name,
                    connect_timeout=2,
                    reconnect_time_wait=0.5,
                    max_reconnect_attempts=-1,
                    allow_reconnect=True,
                    error_cb=self._on_error,
                    disconnected_cb=self._on_disconnected,
                    reconnected_cb=self._on_reconnected,
                    **self.credentials.connect_options(),
                )
                self._nc = nc
                self._js = nc.jetstream(timeout=5.0)
                await self.ensure_streams()
                self._connected.set()
                logger.info("connected to NATS at %s", self.url)
                return
            except Exception as exc:  # noqa: BLE001 - any failure means: try again later
                logger.warning("NATS not reachable at %s (%s); retrying in %.1fs", self.url, exc, delay)
                if self._nc is not None:
                    await self._nc.close()
                    self._nc, self._js = None, None
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def ensure_streams(self) -> None:
        await ensure_streams(self.jetstream(), self._streams)

    async def _on_error(self, exc: Exception) -> None:
        # A permissions violation means this process tried what its user may not: say so loudly.
        if "permission" in str(exc).lower() or "authoriz" in str(exc).lower():
            logger.error("NATS refused %s: %s", self.credentials.user or "the anonymous connection", exc)
            return
        logger.debug("NATS client error: %s", exc)

    async def _on_disconnected(self) -> None:
        logger.warning("disconnected from NATS")

    async def _on_reconnected(self) -> None:
        logger.info("reconnected to NATS")

    async def wait_connected(self, timeout: float | None = None) -> None:
        await asyncio.wait_for(self._connected.wait(), timeout)

    @property
    def is_connected(self) -> bool:
        return self._nc is not None and self._nc.is_connected

    @property
    def client(self) -> Client:
        if self._nc is None:
            raise ConnectionError(f"not connected to NATS at {self.url}")
        return self._nc

    def jetstream(self) -> JetStreamContext:
        # One context per connection: each context owns a reply subscription for async acks.
        if self._js is None:
            raise ConnectionError(f"not connected to NATS at {self.url}")
        return self._js

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
        nc = self._nc
        self._nc, self._js = None, None
        if nc is None or nc.is_closed:
            return
        if nc.is_connected:
            # Drain lets in-flight acks finish; bounded, because a server that vanishes
            # mid-drain would otherwise hold shutdown forever.
            try:
                await asyncio.wait_for(nc.drain(), DRAIN_TIMEOUT_SECONDS)
                return
            except Exception as exc:  # noqa: BLE001 - fall back to a hard close
                logger.warning("NATS drain did not finish (%s); closing", exc)
        try:
            await nc.close()
        except OSError as exc:  # the server is already gone: nothing left to flush
            logger.debug("NATS close after connection loss: %s", exc)


async def ensure_streams(js: JetStreamContext, configs: Iterable[StreamConfig], *, provisioner: bool = False) -> None:
    """Create each stream, or bring an existing one to its configuration.

    Only the ``provisioner`` updates the dead-letter stream or lowers a stream's replica count.
    """
    for config in configs:
        try:
            await js.add_stream(config)
        except BadRequestError:
            if config.name == DEAD_LETTER_STREAM and not provisioner:
                # Shared by every component, so none may update it (shared/events/trust.py): an
                # operator changes its settings; until then it keeps what it has.
                logger.warning("the dead-letter stream's settings differ from this version's; left as they are")
                continue
            if not provisioner:
                config = await _keeping_replicas(js, config)
            await js.update_stream(config)


async def _keeping_replicas(js: JetStreamContext, config: StreamConfig) -> StreamConfig:
    # A component started with a lower MERITLOOP_STREAM_REPLICAS than the provisioner's (a
    # ConfigMap out of step) must not drop copies a node's loss would then cost.
    found = (await js.stream_info(config.name or "")).config.num_replicas or 1
    if found <= (config.num_replicas or 1):
        return config
    logger.warning(
        "stream %s is kept on %d servers, more than MERITLOOP_STREAM_REPLICAS=%d asks; left at %d",
        config.name,
        found,
        config.num_replicas or 1,
        found,
    )
    return replace(config, num_replicas=found)


def service_stream(service: str, replicas: int = 1) -> StreamConfig:
    return StreamConfig(
        name=stream_name(service),
        subjects=stream_subjects(service),
        storage=StorageType.FILE,
        duplicate_window=DUPLICATE_WINDOW.total_seconds(),
        num_replicas=replicas,
    )


def dead_letter_stream(replicas: int = 1) -> StreamConfig:
    return StreamConfig(
        name=DEAD_LETTER_STREAM,
        subjects=[f"{DEAD_LETTER_PREFIX}.>"],
        storage=StorageType.FILE,
        max_age=timedelta(days=30).total_seconds(),
        num_replicas=replicas,
    )
