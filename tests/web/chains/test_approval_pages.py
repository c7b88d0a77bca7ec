"""Pay approval through the pages: the manager submits (starting the chain), their manager returns
(a comment is required) and approves, HR gives the final approval; the real rewards service, its
workflow on the Temporal dev server, the workflow worker, NATS.

Directory: Dora (director) <- Mia (manager) <- Ada, Bob (Eng); Cy is an unrelated colleague, Hanna HR.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import nats
import pytest

from shared.auth import Role
from shared.settings import Settings
from tests.conftest import TokenFactory
from tests.cycles.conftest import WorkerFactory
from tests.rewards.support import MATRIX, Someone, add_bands, band, import_csv, publish_rating, today
from tests.support.waiting import wait_until
from tests.web.conftest import Stack, StackFactory, csrf_of, sign_in_as

pytestmark = pytest.mark.database


async def waiting_on(stack: Stack, auth: TokenFactory, person: str, *roles: Role) -> list[dict[str, Any]]:
    response = await stack.services["rewards"].get(
        "/me/approval-tasks", headers=auth(*roles, person_id=uuid.UUID(person))
    )
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()
    return found


async def test_a_chain_decided_in_the_pages(
    web_stack: StackFactory, auth: TokenFactory, settings: Settings, cycle_worker: WorkerFactory
) -> None:
    async with web_stack("reviews", "rewards") as stack, cycle_worker():
        rewards = stack.services["rewards"]
        dora = await stack.add_person("Dora Director", "Board")
        mia = await stack.add_person("Mia Manager", "Eng", "Dora Director")
        ada = await stack.add_person("Ada Lovelace", "Eng", "Mia Manager")
        bob = await stack.add_person("Bob Builder", "Eng", "Mia Manager")
        cy = await stack.add_person("Cy Colleague", "Sales", "Dora Director")
        hanna = await stack.add_person("Hanna HR", "People")
        hr = auth(Role.hr, person_id=uuid.UUID(hanna))

        await add_bands(rewards, hr, band("L1", "EUR", "40000", "50000", "60000"))
        past = today() - timedelta(days=30)

        async def imported() -> bool:
            response = await import_csv(
                rewards, hr, (ada, "EUR", "50000.00", "L1", past), (bob, "EUR", "50000.00", "L1", past)
            )
            return response.status_code == 200

        await wait_until(imported, timeout=30, message="rewards knows the people")
        assert (await rewards.put("/merit-matrices/default", json=MATRIX, headers=hr)).status_code == 201
        cycle = uuid.uuid4()
        nc = await nats.connect(settings.nats_url)
        try:
            js = nc.jetstream()
            for person, rating in ((ada, "4"), (bob, "3")):
                await publish_rating(js, cycle, Someone(uuid.UUID(person), "x", "Eng", uuid.UUID(mia)), rating)
        finally:
            await nc.close()

        async def drafts() -> bool:
            response = await rewards.get(f"/cycles/{cycle}/proposals", params={"limit": 50}, headers=hr)
            return response.status_code == 200 and len(response.json()["items"]) == 2

        await wait_until(drafts, timeout=20, message="two draft proposals")
        policy = await rewards.put(f"/cycles/{cycle}/approval-policy", json={"depth": 1, "step_hours": 72}, headers=hr)
        assert policy.status_code == 200, policy.text

        # Mia submits her team's pay on the pay page: that starts her approval chain.
        await sign_in_as(stack.web, mia)
        pay = await stack.web.get(f"/pay/{cycle}")
        assert pay.status_code == 200, pay.text
        submitted = await stack.web.post(f"/pay/{cycle}/submit", data={"csrf_token": csrf_of(pay.text)})
        assert submitted.status_code == 303, submitted.text
        await wait_until(lambda: waiting_on(stack, auth, dora, Role.manager), timeout=20, message="Dora's step opens")

        # Dora's list and the chain page with the team's proposals.
        await sign_in_as(stack.web, dora)
        listed = await stack.web.get("/approvals")
        assert listed.status_code == 200, listed.text
        assert "Proposals of Mia Manager&#39;s team" in listed.text
        chain_path = f"/approvals/{cycle}/{mia}"
        assert f'href="{chain_path}"' in listed.text
        page = await stack.web.get(chain_path)
        assert page.status_code == 200, page.text
        assert "Ada Lovelace" in page.text
        assert "Bob Builder" in page.text
        assert 'value="return"' in page.text
        token = csrf_of(page.text)

        # A return needs a comment: the service's 422 stands beside the comment field.
        bare = await stack.web.post(chain_path, data={"csrf_token": token, "action": "return", "step_index": "1"})
        assert bare.status_code == 422, bare.text
        assert 'id="error-comment"' in bare.text
        assert 'aria-describedby="error-comment"' in bare.text

        # An unrelated colleague sees nothing waiting and cannot open the chain.
        await sign_in_as(stack.web, cy)
        assert "No pay approval waits on you." in (await stack.web.get("/approvals")).text
        assert (await stack.web.get(chain_path)).status_code == 404
        refused = await stack.web.post(
            chain_path, data={"csrf_token": csrf_of((await stack.web.get("/approvals")).text), "action": "approve"}
        )
        assert refused.status_code in (403, 404), refused.text

        await sign_in_as(stack.web, dora)  # a fresh session: a fresh form token
        token = csrf_of((await stack.web.get(chain_path)).text)
        approved = await stack.web.post(chain_path, data={"csrf_token": token, "action": "approve", "step_index": "1"})
        assert approved.status_code == 303, approved.text
        assert approved.headers["location"] == "/approvals?notice=approved"

        # The final step is any HR person's.
        await wait_until(lambda: waiting_on(stack, auth, hanna, Role.hr), timeout=20, message="the final step opens")
        await sign_in_as(stack.web, hanna)
        assert "Proposals of Mia Manager&#39;s team" in (await stack.web.get("/approvals")).text
        final_page = await stack.web.get(chain_path)
        assert "final approval" in final_page.text
        final = await stack.web.post(
            chain_path, data={"csrf_token": csrf_of(final_page.text), "action": "approve", "step_index": "2"}
        )
        assert final.status_code == 303, final.text

        async def approved_chain() -> bool:
            response = await rewards.get(f"/cycles/{cycle}/approval-chains/{mia}", headers=hr)
            return bool(response.json()["status"] == "approved")

        await wait_until(approved_chain, timeout=20, message="the chain is approved")
        done = (await stack.web.get(chain_path)).text
        assert 'value="approve"' not in done
        assert "Dora Director" in done.split("History")[1]
