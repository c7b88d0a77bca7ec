"""Problem details for unexpected errors, and the request transaction that rolls back."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import APIRouter
from sqlalchemy import func, select

from services.reviews.app import DEFINITION
from services.reviews.directory.schemas import PersonCreate
from services.reviews.directory.service import PeopleService
from services.reviews.models import OutboxEvent, Person
from shared.database import SessionDep
from shared.migrations import upgrade_async
from shared.service import create_app
from shared.settings import Settings
from tests.support.http import assert_problem

pytestmark = pytest.mark.database

failing = APIRouter()


@failing.post("/fail-after-write")
async def fail_after_write(session: SessionDep) -> None:
    await PeopleService(session).create(PersonCreate(email="half@example.com", display_name="Half"))
    raise RuntimeError("secret internals: /etc/passwd at line 42")


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    await upgrade_async("reviews", settings.database_url("reviews"))
    definition = dataclasses.replace(DEFINITION, routers=(*DEFINITION.routers, failing))
    app = create_app(definition, settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://reviews") as client:
            client.app = app  # type: ignore[attr-defined]
            yield client


async def test_unexpected_error_is_a_500_problem_without_internals(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.post("/fail-after-write"), 500)
    assert body["detail"] == "An unexpected error occurred."
    assert "passwd" not in str(body)
    assert "Traceback" not in str(body)


async def test_a_failed_request_stores_nothing_and_publishes_nothing(client: httpx.AsyncClient) -> None:
    await client.post("/fail-after-write")
    async with client.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
        assert await session.scalar(select(func.count()).select_from(Person)) == 0
        assert await session.scalar(select(func.count()).select_from(OutboxEvent)) == 0


async def test_unknown_route_and_method_are_problems(client: httpx.AsyncClient) -> None:
    assert assert_problem(await client.get("/nowhere"), 404)["type"].endswith("/not-found")
    assert assert_problem(await client.delete("/healthz"), 405)["title"] == "Method Not Allowed"


async def test_health_endpoints(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    await client.app.state.bus.wait_connected(10)  # type: ignore[attr-defined]
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "nats": "ok"}


async def test_readyz_names_what_is_missing(client: httpx.AsyncClient) -> None:
    await client.app.state.bus.close()  # type: ignore[attr-defined]
    body = assert_problem(await client.get("/readyz"), 503)
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["nats"].startswith("unreachable at nats://")
    assert "nats" in body["detail"]
