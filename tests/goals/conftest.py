"""Fixtures of the goals tests: the service on the test's databases, its projection and its clock."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import date

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.goals.endpoints import today
from services.goals.models import Person
from tests.conftest import ServiceClientFactory

TODAY = date(2026, 5, 16)  # halfway through 2026-Q2


@dataclass(frozen=True)
class Member:
    id: uuid.UUID
    manager_id: uuid.UUID | None = None
    department: str | None = None
    active: bool = True


def sessionmaker_of(client: httpx.AsyncClient) -> async_sessionmaker[AsyncSession]:
    maker: async_sessionmaker[AsyncSession] = client.app.state.sessionmaker  # type: ignore[attr-defined]
    return maker


async def add_people(client: httpx.AsyncClient, members: Sequence[Member]) -> None:
    """Fill the people projection directly, as the directory's events would."""
    async with sessionmaker_of(client)() as session, session.begin():
        session.add_all(
            Person(
                id=m.id,
                version=1,
                display_name=f"P {m.id.hex[:6]}",
                email=f"{m.id.hex[:12]}@example.com",
                manager_id=m.manager_id,
                department=m.department,
                active=m.active,
            )
            for m in members
        )


@pytest.fixture
async def goals(service_client: ServiceClientFactory) -> AsyncIterator[httpx.AsyncClient]:
    """The goals service with its clock pinned to TODAY."""
    async with service_client("goals") as client:
        client.app.dependency_overrides[today] = lambda: TODAY  # type: ignore[attr-defined]
        yield client


Ids = Callable[[], uuid.UUID]
