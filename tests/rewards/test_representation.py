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
from tests.support.waiting import wait_until

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


async def test_the_pay_cycle_counts_the_ratings_that_arrived(
    rewards: httpx.AsyncClient, js: JetStreamContext, auth: TokenFactory
) -> None:
    """Issue 15.10: after calibration, rewards says how many final ratings it has (compare with reviews)."""
    hr = auth(Role.hr)
    rewards.headers["Authorization"] = hr["Authorization"]
    boss = someone("Boss", "Board")
    ada, bob = someone("Ada", "Eng", boss), someone("Bob", "Eng", boss)
    await publish_people(js, rewards, boss, ada, bob)
    cycle = uuid.uuid4()
    assert (await rewards.get(f"/cycles/{cycle}", headers=hr)).status_code == 404  # nothing arrived yet
    await publish_rating(js, cycle, ada, "4")
    await publish_rating(js, cycle, bob, "2")

    async def both() -> dict[str, object] | None:
        response = await rewards.get(f"/cycles/{cycle}", headers=hr)
        found: dict[str, object] = response.json()
        return found if response.status_code == 200 and found["ratings_received"] == 2 else None

    found = await wait_until(both, message="both ratings counted")
    assert found["proposal_counts"] == {"needs_data": 2}  # no compensation data in this test
    assert found["last_rating_at"] is not None
