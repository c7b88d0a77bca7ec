"""The demo organisation's pay data (meritloop/demo.py) through rewards' own APIs: a rating then
yields a proposal with a matrix guideline, so a demo cycle can reach pay approval in the pages."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import nats
import pytest

from meritloop.demo import DEMO_PAY, load_demo, load_demo_pay
from shared.auth import Role
from shared.settings import Settings
from tests.conftest import TokenFactory
from tests.rewards.support import Someone, publish_rating
from tests.support.waiting import wait_until
from tests.web.conftest import StackFactory

pytestmark = pytest.mark.database


async def test_demo_people_get_pay_and_a_matrix(
    web_stack: StackFactory, auth: TokenFactory, settings: Settings
) -> None:
    async with web_stack("reviews", "rewards") as stack:
        reviews, rewards = stack.services["reviews"], stack.services["rewards"]
        result = await load_demo(reviews, settings)
        assert result.created
        assert len(result.ids) == 12
        imported = await load_demo_pay(rewards, settings, result.ids, timeout=30)
        assert imported == len(DEMO_PAY) == 12
        hr = auth(Role.hr)
        listed = await rewards.get("/compensation", params={"limit": 50}, headers=hr)
        assert listed.status_code == 200, listed.text
        assert listed.json()["total"] == 12
        mei = await rewards.get(f"/compensation/{result.ids['engineer-2']}", headers=hr)
        assert Decimal(str(mei.json()["base_salary"])) == Decimal(52_000)
        # Loading twice changes nothing (bands exist, the same records are "unchanged").
        assert await load_demo_pay(rewards, settings, result.ids, timeout=5) == 12
        assert (await rewards.get("/compensation", params={"limit": 50}, headers=hr)).json()["total"] == 12

        # A final rating of Mei's (IC2 at 52,000: compa-ratio 0.897, below the midpoint) on the demo
        # scale: a draft proposal with the matrix's "Above" row, below-midpoint cell (4-6-8 %).
        cycle = uuid.uuid4()
        nc = await nats.connect(settings.nats_url)
        try:
            person = Someone(result.ids["engineer-2"], "Mei Chen", "Engineering", result.ids["em-platform"])
            await publish_rating(nc.jetstream(), cycle, person, "4")
        finally:
            await nc.close()

        async def proposal() -> dict[str, Any] | None:
            response = await rewards.get(f"/cycles/{cycle}/proposals", headers=hr)
            items = response.json()["items"] if response.status_code == 200 else []
            first: dict[str, Any] | None = items[0] if items else None
            return first

        found = await wait_until(proposal, timeout=20, message="Mei's proposal")
        assert found["status"] == "draft", found
        assert found["guideline"] is not None
        assert Decimal(str(found["guideline"]["target"])) == Decimal(6)
