"""Issue 15.5: one representation per quantity, the same proposal the same way on every route."""

from __future__ import annotations

import uuid

import httpx
import pytest
from nats.js import JetStreamContext

from shared.auth import Role
from tests.conftest import TokenFactory
from tests.rewards.support import publish_people, publish_rating, someone
from tests.rewards.test_proposals import wait_for_proposal

pytestmark = pytest.mark.database


async def test_a_proposal_reads_the_same_in_the_list_and_alone(
    rewards: httpx.AsyncClient, js: JetStreamContext, auth: TokenFactory
) -> None:
    hr = auth(Role.hr)
    rewards.headers["Authorization"] = hr["Authorization"]  # for the people-projection probe
    boss = someone("Boss", "Board")
    ada = someone("Ada", "Eng", boss)
    await publish_people(js, rewards, boss, ada)
    cycle = uuid.uuid4()
    await publish_rating(js, cycle, ada, "3.500")

    listed = await wait_for_proposal(rewards, cycle, hr, ada)
    alone = await rewards.get(f"/proposals/{listed['id']}", headers=hr)
    as_boss = await rewards.get(f"/proposals/{listed['id']}", headers=auth(Role.manager, person_id=boss.id))

    assert alone.status_code == 200, alone.text
    assert alone.json() == listed
    assert as_boss.json()["display_name"] == "Ada"
    # A rating and the scale's bounds are JSON numbers, as scale points are everywhere else.
    assert (listed["rating"], listed["scale_min"], listed["scale_max"]) == (3.5, 1, 5)
    assert all(isinstance(listed[name], float) for name in ("rating", "scale_min", "scale_max"))
