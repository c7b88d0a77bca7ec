"""Issue 15.10: after a directory import, each service says how far its copy has come."""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest

from shared.auth import Role
from shared.settings import ServiceName
from tests.conftest import ServiceClientFactory, TokenFactory
from tests.support.waiting import wait_until

pytestmark = pytest.mark.database

PROJECTING: tuple[ServiceName, ...] = ("goals", "feedback", "rewards")
PEOPLE = "email,display_name,employee_number,manager_employee_number\n" + "\n".join(
    f"p{n}@example.com,Person {n},{n},{'' if n == 0 else 0}" for n in range(20)
)


async def _sync(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    response = await client.get("/people/sync", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_projections_report_when_they_caught_up_with_an_import(
    service_client: ServiceClientFactory, auth: TokenFactory
) -> None:
    async with AsyncExitStack() as stack:
        reviews = await stack.enter_async_context(service_client("reviews"))
        others = {name: await stack.enter_async_context(service_client(name)) for name in PROJECTING}
        hr, anyone = auth(Role.hr), auth()
        for client in others.values():
            assert (await _sync(client, anyone))["people"] == 0

        imported = await reviews.post(
            "/people/import", content=PEOPLE.encode(), headers={**hr, "Content-Type": "text/csv"}
        )
        assert imported.status_code == 200, imported.text
        changed = await reviews.patch(
            f"/people/{imported.json()['rows'][3]['person_id']}", json={"title": "Lead"}, headers=hr
        )
        assert changed.status_code == 200, changed.text
        directory = await _sync(reviews, anyone)
        assert (directory["people"], directory["versions"]) == (20, 21)  # one person changed twice

        async def caught_up() -> dict[ServiceName, dict[str, Any]] | None:
            found = {name: await _sync(client, anyone) for name, client in others.items()}
            same = all((s["people"], s["versions"]) == (20, 21) for s in found.values())
            return found if same else None

        found = await wait_until(caught_up, timeout=30, message="every projection caught up")
        assert all(s["last_synced_at"] is not None for s in found.values())
        one = (await others["rewards"].get(f"/people/{imported.json()['rows'][3]['person_id']}", headers=anyone)).json()
        assert one["title"] == "Lead"  # equal figures mean the latest version is there
