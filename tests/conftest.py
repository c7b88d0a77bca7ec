"""Fixtures: real NATS and Temporal servers (session scope), an isolated database per test.

Set ``MERITLOOP_TEST_DATABASE_URL`` to a PostgreSQL URL (``postgresql+asyncpg://...``) to run
the database tests against PostgreSQL: each test then gets a database of its own there.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import httpx
import nats
import pytest
from fastapi import FastAPI
from sqlalchemy.engine import make_url

from shared.auth import Role, mint_token
from shared.migrations import upgrade_async
from shared.settings import SERVICES, Environment, ServiceName, Settings
from tests.support.processes import NatsServer, TemporalServer

TEST_DATABASE_URL = os.environ.get("MERITLOOP_TEST_DATABASE_URL")


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    server = NatsServer(store=tmp_path_factory.mktemp("nats"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def nats_url(nats_server: NatsServer) -> str:
    """The session's NATS server, emptied of streams so each test starts from nothing."""
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    for info in await js.streams_info():
        if info.config.name:
            await js.delete_stream(info.config.name)
    await nc.close()
    return nats_server.url


@pytest.fixture(scope="session")
def temporal_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TemporalServer]:
    server = TemporalServer(workdir=tmp_path_factory.mktemp("temporal"))
    server.start()
    yield server
    server.stop()


@asynccontextmanager
async def _postgres_database(base_url: str) -> AsyncIterator[str]:
    import asyncpg  # type: ignore[import-untyped]

    url = make_url(base_url)
    name = f"meritloop_test_{uuid.uuid4().hex[:12]}"
    admin_dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(admin_dsn)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        connection = await asyncpg.connect(admin_dsn)
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await connection.close()


@pytest.fixture
async def database_urls(tmp_path: Path) -> AsyncIterator[dict[ServiceName, str]]:
    """A fresh, empty database per service for this test (SQLite files, or PostgreSQL)."""
    if TEST_DATABASE_URL is None:
        yield {service: f"sqlite+aiosqlite:///{tmp_path / service}.db" for service in SERVICES}
        return
    urls: dict[ServiceName, str] = {}
    contexts = []
    for service in SERVICES:
        context = _postgres_database(TEST_DATABASE_URL)
        contexts.append(context)
        urls[service] = await context.__aenter__()
    try:
        yield urls
    finally:
        for context in reversed(contexts):
            await context.__aexit__(None, None, None)


@pytest.fixture
def settings(tmp_path: Path, nats_url: str, database_urls: dict[ServiceName, str]) -> Settings:
    return Settings(
        environment=Environment.test,
        data_dir=tmp_path,
        nats_url=nats_url,
        goals_database_url=database_urls["goals"],
        feedback_database_url=database_urls["feedback"],
        reviews_database_url=database_urls["reviews"],
        rewards_database_url=database_urls["rewards"],
        outbox_poll_interval=0.05,
        consumer_backoff=[0.1, 0.2, 0.3],
        consumer_max_deliver=3,
        consumer_ack_wait=5.0,
        # Only the review-cycle tests run a Temporal server: they switch the services' activity
        # workers on (tests/cycles/conftest.py).
        temporal_activity_worker=False,
    )


ServiceClientFactory = Callable[[ServiceName], AbstractAsyncContextManager[httpx.AsyncClient]]


def _service_factory(service: ServiceName) -> Callable[[Settings], FastAPI]:
    import importlib

    module = importlib.import_module(f"services.{service}.app")
    create: Callable[[Settings], FastAPI] = module.create
    return create


@pytest.fixture
def service_client(settings: Settings) -> ServiceClientFactory:
    """Open a service on the test's databases and NATS: migrated, lifespan running."""

    @asynccontextmanager
    async def open_service(service: ServiceName) -> AsyncIterator[httpx.AsyncClient]:
        await upgrade_async(service, settings.database_url(service))
        app = _service_factory(service)(settings)
        async with app.router.lifespan_context(app):
            await app.state.bus.wait_connected(10)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url=f"http://{service}") as client:
                client.app = app  # type: ignore[attr-defined]
                yield client

    return open_service


TokenFactory = Callable[..., dict[str, str]]


@pytest.fixture
def auth(settings: Settings) -> TokenFactory:
    """``auth(Role.hr, person_id=...)`` gives the Authorization header of a fresh token."""

    def headers(*roles: Role, person_id: uuid.UUID | None = None) -> dict[str, str]:
        token = mint_token(settings, person_id or uuid.uuid4(), roles or (Role.employee,))
        return {"Authorization": f"Bearer {token}"}

    return headers
