"""A nats-server run with the configuration ``meritloop up`` writes: one user per component."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx
import nats
import pytest
from nats.aio.client import Client

from meritloop.bus import PROVISIONER
from meritloop.launcher import binary
from shared.events.trust import BUS_USERS, server_config
from shared.migrations import upgrade_async
from shared.settings import ServiceName, Settings
from tests.conftest import _service_factory
from tests.support.bus import provision
from tests.support.processes import free_port, stop_process, wait_for_port

ADMIN_PASSWORD = "admin-password-of-the-bus-tests"


@dataclass
class SecuredNats:
    folder: Path
    port: int = field(default_factory=free_port)
    passwords: dict[str, str] = field(default_factory=lambda: {c.name: f"{c.name}-secret-pw" for c in BUS_USERS})
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        config = self.folder / "nats.conf"
        config.write_text(
            server_config(
                host="127.0.0.1",
                port=self.port,
                store_dir=self.folder / "store",
                passwords=self.passwords,
                admin_password=ADMIN_PASSWORD,
            )
        )
        log = (self.folder / "nats.log").open("ab")
        self.process = subprocess.Popen(
            [binary("nats-server"), "-c", str(config)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        wait_for_port(self.port, process=self.process)

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None

    async def connect(self, user: str, **options: Any) -> Client:
        password = ADMIN_PASSWORD if user == "admin" else self.passwords[user]
        inbox = "_INBOX" if user == "admin" else f"_INBOX_{user}"
        return await nats.connect(
            self.url, user=user, password=password, inbox_prefix=inbox, allow_reconnect=False, **options
        )


@pytest.fixture(scope="session")
def secured_nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecuredNats]:
    server = SecuredNats(folder=tmp_path_factory.mktemp("secured-nats"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def nats_url(secured_nats: SecuredNats) -> str:
    """The secured server, emptied of streams (as the admin) and provisioned, so each test starts from nothing."""
    nc = await secured_nats.connect("admin")
    js = nc.jetstream()
    for info in await js.streams_info():
        if info.config.name:
            await js.delete_stream(info.config.name)
    await nc.close()
    await provision(secured_nats.url, secured_nats.passwords[PROVISIONER])
    return secured_nats.url


class ComponentOpener(Protocol):
    def __call__(
        self, service: ServiceName, *, user: str | None = None
    ) -> AbstractAsyncContextManager[httpx.AsyncClient]: ...


@pytest.fixture
def component_client(settings: Settings, secured_nats: SecuredNats) -> ComponentOpener:
    """Open a service connected to NATS as its own user (or as ``user``, to see what it may not do)."""

    @asynccontextmanager
    async def open_service(service: ServiceName, *, user: str | None = None) -> AsyncIterator[httpx.AsyncClient]:
        who = user or service
        own = settings.model_copy(update={"nats_user": who, "nats_password": secured_nats.passwords[who]})
        await upgrade_async(service, own.database_url(service))
        app = _service_factory(service)(own)
        async with app.router.lifespan_context(app):
            await app.state.bus.wait_connected(10)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url=f"http://{service}") as client:
                client.app = app  # type: ignore[attr-defined]
                yield client

    return open_service
