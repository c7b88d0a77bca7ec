"""A SCIM change reaches the goals, feedback and rewards projections through the real NATS;
re-delivered events change nothing, and an older version never overwrites a newer one."""

from __future__ import annotations

import uuid
from contextlib import AsyncExitStack
from typing import Any

import httpx
import nats
import pytest
from sqlalchemy import func, select

from shared.events import CloudEvent, stream_name
from shared.settings import ServiceName, Settings
from tests.conftest import ServiceClientFactory, TokenFactory
from tests.directory.scim_support import ENTERPRISE, patch, user
from tests.support.bus import publish_person
from tests.support.waiting import wait_until

pytestmark = pytest.mark.database

PROJECTING: tuple[ServiceName, ...] = ("goals", "feedback", "rewards")


async def projected(client: httpx.AsyncClient, person_id: str, headers: dict[str, str]) -> dict[str, Any] | None:
    response = await client.get(f"/people/{person_id}", headers=headers)
    return response.json() if response.status_code == 200 else None


async def projection_state(client: httpx.AsyncClient) -> tuple[int, list[tuple[Any, ...]]]:
    """Inbox rows and every projected person row, to compare before and after a redelivery."""
    models = __import__(f"services.{client.app.state.service}.models", fromlist=["Person"])  # type: ignore[attr-defined]
    async with client.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
        inbox = await session.scalar(select(func.count()).select_from(models.InboxEvent)) or 0
        rows = (await session.execute(select(models.Person).order_by(models.Person.id))).scalars().all()
        people = [(row.id, row.version, row.display_name, row.title, row.active, row.synced_at) for row in rows]
    return inbox, people


async def test_scim_changes_replicate_idempotently(
    service_client: ServiceClientFactory, auth: TokenFactory, settings: Settings, scim_headers: dict[str, str]
) -> None:
    async with AsyncExitStack() as stack:
        reviews = await stack.enter_async_context(service_client("reviews"))
        others = {name: await stack.enter_async_context(service_client(name)) for name in PROJECTING}
        anyone = auth()

        boss = (await reviews.post("/scim/v2/Users", json=user("boss@x.io"), headers=scim_headers)).json()
        body = user("ada@x.io", title="Engineer", enterprise={"department": "R&D", "manager": {"value": boss["id"]}})
        ada = (await reviews.post("/scim/v2/Users", json=body, headers=scim_headers)).json()
        changed = patch(
            {"op": "replace", "path": "title", "value": "Staff Engineer"},
            {"op": "replace", "path": f"{ENTERPRISE}:division", "value": "Platform"},
        )
        assert (
            await reviews.patch(f"/scim/v2/Users/{ada['id']}", json=changed, headers=scim_headers)
        ).status_code == 200
        expected = {
            "id": ada["id"],
            "display_name": "Ada Tester",
            "email": "ada@x.io",
            "manager_id": boss["id"],
            "department": "R&D",
            "active": True,
            "title": "Staff Engineer",
            "organization": None,
            "division": "Platform",
            "deactivated_at": None,
        }
        for name, client in others.items():

            async def current(c: httpx.AsyncClient = client) -> bool:
                return await projected(c, ada["id"], anyone) == expected

            await wait_until(current, message=f"{name} has the patched person")

        # Re-deliver every directory event (same event ids, new NATS message ids so JetStream
        # does not drop them), then a barrier: the projections and inboxes must not change.
        before = {name: await projection_state(client) for name, client in others.items()}
        nc = await nats.connect(settings.nats_url)
        try:
            js = nc.jetstream()
            info = await js.stream_info(stream_name("reviews"))
            assert info.state.messages == 3
            for sequence in range(info.state.first_seq, info.state.last_seq + 1):
                message = await js.get_msg(stream_name("reviews"), sequence)
                event = CloudEvent.from_bytes(message.data or b"")
                await js.publish(
                    message.subject or event.type,
                    message.data or b"",
                    headers={"Nats-Msg-Id": f"redelivery-{uuid.uuid4()}"},
                )
            barrier = uuid.uuid4()
            await publish_person(js, barrier, 1, "Barrier")
        finally:
            await nc.close()
        for name, client in others.items():

            async def barrier_in(c: httpx.AsyncClient = client) -> dict[str, Any] | None:
                return await projected(c, str(barrier), anyone)

            await wait_until(barrier_in, message=f"{name} barrier")
            inbox, people = await projection_state(client)
            before_inbox, before_people = before[name]
            assert inbox == before_inbox + 1, name  # only the barrier was new
            assert [row for row in people if row[0] != barrier] == before_people, name
            assert await projected(client, ada["id"], anyone) == expected

        # A deactivation through SCIM reaches them too.
        await reviews.delete(f"/scim/v2/Users/{ada['id']}", headers=scim_headers)
        for name, client in others.items():

            async def inactive(c: httpx.AsyncClient = client) -> bool:
                seen = await projected(c, ada["id"], anyone)
                return seen is not None and seen["active"] is False and seen["deactivated_at"] is not None

            await wait_until(inactive, message=f"{name} sees the deactivation")
