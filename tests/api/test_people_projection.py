"""Directory changes made in reviews reach the people projections of the other three services."""

from __future__ import annotations

import uuid
from contextlib import AsyncExitStack
from typing import Any

import httpx
import nats
import pytest

from shared.auth import Role
from shared.settings import ServiceName, Settings
from tests.conftest import ServiceClientFactory, TokenFactory
from tests.support.bus import publish_person
from tests.support.waiting import wait_until

pytestmark = pytest.mark.database

PROJECTING: tuple[ServiceName, ...] = ("goals", "feedback", "rewards")


async def projected(client: httpx.AsyncClient, person_id: str, headers: dict[str, str]) -> dict[str, Any] | None:
    response = await client.get(f"/people/{person_id}", headers=headers)
    return response.json() if response.status_code == 200 else None


async def test_directory_changes_replicate_and_older_versions_never_win(
    service_client: ServiceClientFactory, auth: TokenFactory, settings: Settings
) -> None:
    async with AsyncExitStack() as stack:
        reviews = await stack.enter_async_context(service_client("reviews"))
        others = {name: await stack.enter_async_context(service_client(name)) for name in PROJECTING}
        hr, anyone = auth(Role.hr), auth()

        boss = (await reviews.post("/people", json={"email": "b@x.io", "display_name": "Boss"}, headers=hr)).json()
        body = {"email": "ada@x.io", "display_name": "Ada", "manager_id": boss["id"], "department": "R&D"}
        ada = (await reviews.post("/people", json=body, headers=hr)).json()
        basics = (
            "id",
            "display_name",
            "email",
            "manager_id",
            "department",
            "active",
            "title",
            "organization",
            "division",
        )
        expected = {**{key: ada[key] for key in basics}, "deactivated_at": None}
        for name, client in others.items():

            async def arrived(c: httpx.AsyncClient = client) -> dict[str, Any] | None:
                return await projected(c, ada["id"], anyone)

            assert await wait_until(arrived, message=f"{name} projection") == expected, name

        await reviews.patch(f"/people/{ada['id']}", json={"active": False, "display_name": "Ada L."}, headers=hr)
        left_at: dict[str, str] = {}
        for name, client in others.items():

            async def deactivated(c: httpx.AsyncClient = client) -> bool:
                seen = await projected(c, ada["id"], anyone)
                return seen is not None and seen["active"] is False

            await wait_until(deactivated, message=f"{name} sees the deactivation")
            seen = await projected(client, ada["id"], anyone)
            assert seen is not None, name
            assert seen["deactivated_at"] is not None, name  # when the copy learned it
            left_at[name] = seen["deactivated_at"]
            listed = (await client.get("/people", params={"active": "true"}, headers=anyone)).json()
            assert [item["id"] for item in listed["items"]] == [boss["id"]], name

        # A stale event (version 1, replayed late) must not undo version 2; a barrier event
        # behind it shows when each consumer has handled it.
        nc = await nats.connect(settings.nats_url)
        try:
            barrier = uuid.uuid4()
            await publish_person(nc.jetstream(), uuid.UUID(ada["id"]), 1, "Stale Ada")
            await publish_person(nc.jetstream(), barrier, 1, "Barrier")
        finally:
            await nc.close()
        for name, client in others.items():

            async def barrier_in(c: httpx.AsyncClient = client) -> dict[str, Any] | None:
                return await projected(c, str(barrier), anyone)

            await wait_until(barrier_in, message=f"{name} barrier")
            after = {**expected, "display_name": "Ada L.", "active": False, "deactivated_at": left_at[name]}
            assert await projected(client, ada["id"], anyone) == after
