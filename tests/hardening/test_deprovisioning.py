"""Access ends when employment ends: a deprovisioned person's existing token stops working everywhere.

Real NATS and the four real services: SCIM DELETE in reviews, the directory's
``person.deactivated`` event, and goals, feedback and rewards refusing the token their
projection now knows as inactive.
"""

from __future__ import annotations

import time
import uuid
from contextlib import AsyncExitStack

import httpx
import jwt
import pytest

from shared.auth import Role, mint_token
from shared.settings import ServiceName
from tests.conftest import ServiceClientFactory, TokenFactory
from tests.directory.scim_support import user
from tests.support.http import assert_problem
from tests.support.waiting import wait_until

pytestmark = pytest.mark.database

PROJECTING: tuple[ServiceName, ...] = ("goals", "feedback", "rewards")


async def test_scim_delete_ends_the_persons_access_in_every_service(
    service_client: ServiceClientFactory, auth: TokenFactory, scim_headers: dict[str, str]
) -> None:
    async with AsyncExitStack() as stack:
        reviews = await stack.enter_async_context(service_client("reviews"))
        goals, feedback, rewards = [await stack.enter_async_context(service_client(name)) for name in PROJECTING]

        created = await reviews.post("/scim/v2/Users", json=user("ada@example.com"), headers=scim_headers)
        assert created.status_code == 201, created.text
        ada = uuid.UUID(created.json()["id"])
        token = auth(Role.employee, Role.manager, person_id=ada)  # issued while she is employed
        hr = auth(Role.hr)

        async def known_everywhere() -> bool:
            for client in (goals, feedback, rewards):
                if (await client.get(f"/people/{ada}", headers=hr)).status_code != 200:
                    return False
            return True

        await wait_until(known_everywhere, message="Ada in every projection")
        goal = await goals.post("/goals", json={"title": "Private plan", "visibility": "private"}, headers=token)
        assert goal.status_code == 201, goal.text
        # What the token reads while Ada is employed.
        reads: dict[str, tuple[httpx.AsyncClient, str]] = {
            "reviews": (reviews, f"/people/{ada}"),
            "goals": (goals, f"/goals/{goal.json()['id']}"),
            "feedback": (feedback, "/praise"),
            "rewards": (rewards, f"/people/{ada}"),
        }
        for name, (client, path) in reads.items():
            assert (await client.get(path, headers=token)).status_code == 200, name

        deleted = await reviews.delete(f"/scim/v2/Users/{ada}", headers=scim_headers)
        assert deleted.status_code == 204, deleted.text
        started = time.monotonic()

        for name, (client, path) in reads.items():

            async def refused(c: httpx.AsyncClient = client, p: str = path) -> httpx.Response | None:
                response = await c.get(p, headers=token)
                return response if response.status_code != 200 else None

            response = await wait_until(refused, timeout=10, message=f"{name} refusing Ada's token")
            problem = assert_problem(response, 403)
            assert problem["type"].endswith("/person-inactive"), (name, problem)
            assert "no longer active" in problem["detail"]
        took = time.monotonic() - started
        assert took < 8, f"access ended {took:.1f}s after the deletion"

        # Writes are refused too, and everyone else keeps working.
        refused_write = await goals.post("/goals", json={"title": "After leaving"}, headers=token)
        assert_problem(refused_write, 403)
        assert (await feedback.get("/praise", headers=auth(Role.employee))).status_code == 200


async def test_directory_deactivation_ends_access_and_reactivation_restores_it(
    service_client: ServiceClientFactory, auth: TokenFactory
) -> None:
    async with AsyncExitStack() as stack:
        reviews = await stack.enter_async_context(service_client("reviews"))
        feedback = await stack.enter_async_context(service_client("feedback"))
        hr = auth(Role.hr)
        bob = (await reviews.post("/people", json={"email": "bob@x.io", "display_name": "Bob"}, headers=hr)).json()
        token = auth(Role.employee, person_id=uuid.UUID(bob["id"]))

        async def status(expected: int) -> bool:
            return (await feedback.get("/praise", headers=token)).status_code == expected

        await wait_until(lambda: feedback.get(f"/people/{bob['id']}", headers=hr), message="Bob projected")
        assert await status(200)
        patched = await reviews.patch(f"/people/{bob['id']}", json={"active": False}, headers=hr)
        assert patched.status_code == 200, patched.text
        await wait_until(lambda: status(403), timeout=10, message="feedback refusing Bob")
        assert_problem(await reviews.get("/people", headers=token), 403)

        assert (await reviews.patch(f"/people/{bob['id']}", json={"active": True}, headers=hr)).status_code == 200
        await wait_until(lambda: status(200), timeout=10, message="feedback accepting Bob again")


@pytest.mark.parametrize("roles", [[], ["auditor"]])
async def test_a_token_without_roles_is_refused(service_client: ServiceClientFactory, roles: list[str]) -> None:
    async with service_client("goals") as goals:
        settings = goals.app.state.settings  # type: ignore[attr-defined]
        claims = jwt.decode(mint_token(settings, uuid.uuid4(), [Role.employee]), options={"verify_signature": False})
        token = jwt.encode({**claims, "roles": roles}, settings.jwt_secret, algorithm="HS256")
        response = await goals.get("/goals", headers={"Authorization": f"Bearer {token}"})
        problem = assert_problem(response, 403)
        assert "none of the roles" in problem["detail"]
